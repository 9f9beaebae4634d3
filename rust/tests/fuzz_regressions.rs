//! Fuzz regressions, run by plain `cargo test`. The fuzz harness (rust/fuzz/src/lib.rs,
//! one function per cargo-fuzz target) is compiled in here, and every input of the
//! committed seed corpus (rust/fuzz/corpus/<target>/) and every minimized finding
//! (rust/tests/data/fuzz/<target>/) is replayed through it, so a crash the fuzzers
//! found stays fixed. To add a finding: minimize it (`cargo fuzz tmin <target> <file>`
//! in rust/fuzz), copy it to rust/tests/data/fuzz/<target>/, and name it after what it
//! broke; findings that need a closer look also get their own test below.

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .map(|e| e.expect("read dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

/// Runs `target` on every stored input for it; fails naming each input that panics.
fn replay(name: &str, target: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let inputs: Vec<PathBuf> = [
        root.join("fuzz/corpus").join(name),
        root.join("tests/data/fuzz").join(name),
    ]
    .iter()
    .flat_map(|d| files(d))
    .collect();
    assert!(!inputs.is_empty(), "no seed inputs for {name}");
    let failed: Vec<String> = inputs
        .iter()
        .filter(|path| {
            let bytes = std::fs::read(path).expect("read input");
            catch_unwind(AssertUnwindSafe(|| target(&bytes))).is_err()
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{name} panics on: {failed:#?}");
}

#[test]
fn from_bytes_inputs() {
    replay("from_bytes", harness::from_bytes);
}

#[test]
fn open_file_inputs() {
    replay("open_file", harness::open_file);
}

#[test]
fn filter_json_inputs() {
    replay("filter_json", harness::filter_json);
}

#[test]
fn builder_options_inputs() {
    replay("builder_options", harness::builder_options);
}

#[test]
fn search_params_inputs() {
    replay("search_params", harness::search_params);
}

#[test]
fn damaged_pack_inputs() {
    replay("damaged_pack", harness::damaged_pack);
}

/// The seeds as today's writer makes them (the committed corpus may predate a format
/// change; `cargo run --example make_seeds` in rust/fuzz rewrites it).
#[test]
fn freshly_generated_seeds() {
    for (target, name, bytes) in harness::seeds() {
        let run: fn(&[u8]) = match target {
            "from_bytes" => harness::from_bytes,
            "open_file" => harness::open_file,
            "filter_json" => harness::filter_json,
            "builder_options" => harness::builder_options,
            "search_params" => harness::search_params,
            "damaged_pack" => harness::damaged_pack,
            other => panic!("seed for unknown target {other}"),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| run(&bytes)));
        assert!(outcome.is_ok(), "{target}/{name} panics");
    }
}

/// Repairing the checksums of an intact pack changes nothing, and a pack without its
/// CHECKSUMS section still opens (the harness's two format helpers are right).
#[test]
fn harness_format_helpers() {
    for (target, name, bytes) in harness::seeds() {
        if !name.ends_with("pack.bin") || target != "from_bytes" {
            continue;
        }
        let mut repaired = bytes.clone();
        harness::repair_checksums(&mut repaired);
        assert_eq!(repaired, bytes, "{name}");
        if let Some(legacy) = harness::without_block_checksums(&bytes) {
            vpack::pack::Pack::from_bytes(&legacy).expect("legacy pack opens");
        }
    }
}
