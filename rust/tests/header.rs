//! The committed headers must equal a fresh cbindgen rendering of src/lib.rs.
//! Regenerate them with `VPACK_BLESS=1 cargo test --test header`.

use std::path::{Path, PathBuf};

fn render(config_file: &str) -> String {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join(config_file)).expect("cbindgen config");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("utf-8 header")
}

fn check(config_file: &str, committed: &str) {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join(committed);
    let fresh = render(config_file);
    if std::env::var_os("VPACK_BLESS").is_some() {
        std::fs::write(&path, &fresh).expect("write header");
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == fresh,
        "{} is out of date with rust/src; regenerate it with \
         `VPACK_BLESS=1 cargo test --manifest-path rust/Cargo.toml --test header` and commit it",
        path.display()
    );
}

#[test]
fn public_header_is_current() {
    check("cbindgen.toml", "../include/vpack.h");
}

#[test]
fn cffi_header_is_current() {
    check("cbindgen-cffi.toml", "../vpack/_cdef.h");
}

/// Only the ABI's own names reach the header, and every constant is a plain integer
/// (cffi's cdef parses nothing else): a `pub const` elsewhere in the crate would leak.
#[test]
fn header_defines_only_vpack_integer_constants() {
    let fresh = render("cbindgen-cffi.toml");
    for line in fresh.lines().filter(|l| l.starts_with("#define")) {
        let mut parts = line.split_whitespace().skip(1);
        let (name, value) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        assert!(
            name.starts_with("VPACK_"),
            "foreign constant in the header: {line}"
        );
        assert!(value.parse::<u64>().is_ok(), "not a plain integer: {line}");
    }
}
