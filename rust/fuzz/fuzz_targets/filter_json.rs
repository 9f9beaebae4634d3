#![no_main]
//! See `vpack_fuzz::filter_json` (rust/fuzz/src/lib.rs) for what this target checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| vpack_fuzz::filter_json(data));
