#![no_main]
//! See `vpack_fuzz::open_file` (rust/fuzz/src/lib.rs) for what this target checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| vpack_fuzz::open_file(data));
