//! Link settings only (no code generation): the cdylib gets a SONAME equal to its plain
//! file name, `libvpack.so`. The wheel ships exactly that one file (a wheel cannot carry the
//! `libvpack.so -> libvpack.so.N` symlinks of a system install), so a C program linked
//! against it records `DT_NEEDED libvpack.so` whether it was linked with `-lvpack` or by
//! full path (CMake's imported target), and finds it again through its rpath. Compatibility
//! is checked at run time with `vpack_abi_version()`.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "macos" && os != "ios" && os != "windows" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libvpack.so");
    }
}
