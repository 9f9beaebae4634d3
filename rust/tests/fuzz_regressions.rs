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

// ---------------------------------------------------------------------------------------
// Findings. Each is an input a fuzz target failed on, with what broke. A finding that is
// still open in rust/src is `#[ignore]`d (so CI stays green) and says so; once fixed,
// drop the ignore (and the input may move to tests/data/fuzz/<target>/ for the replay).
// ---------------------------------------------------------------------------------------

/// builder_options: a dot pack with int8 codes whose vectors span more than f32 can
/// hold in one dimension (3e38 and -3e38: max - min overflows to infinity). The writer
/// used to finish a pack that its own reader refused ("codes section: non-finite
/// range"); the ranges are now computed in f64. Fixed.
const INT8_RANGE_OVERFLOW: &[u8] =
    b"{\"dimension\":2,\"metric\":\"dot\",\"index\":{\"codes\":\"int8\"}}\0\
{}\0[{\"text\":\"a\"},{\"text\":\"b\"}]\0\
\x02\x00\xe6\xb1\x61\x7f\x00\x00\x80\x3f\xe6\xb1\x61\xff\x00\x00\x80\x3f";

#[test]
fn int8_codes_of_an_overflowing_range_read_back() {
    harness::builder_options(INT8_RANGE_OVERFLOW);
}

/// The same through the API: refusing the vectors (at `add` or `finish`) or writing a
/// pack that reads back are both fine; an unreadable pack is not.
#[test]
fn int8_codes_of_an_overflowing_range_api() {
    use vpack::format::writer::{BuilderOptions, ChunkIn, PackWriter};
    let options: BuilderOptions = serde_json::from_value(serde_json::json!(
        {"dimension": 2, "metric": "dot", "index": {"codes": "int8"}}
    ))
    .unwrap();
    let mut writer = PackWriter::new(options).unwrap();
    let chunks = ["a", "b"]
        .iter()
        .map(|t| ChunkIn {
            text: t.to_string(),
            metadata: Default::default(),
        })
        .collect();
    if writer.add(chunks, &[3e38, 1.0, -3e38, 1.0]).is_err() {
        return;
    }
    if let Ok(bytes) = writer.finish(Default::default()) {
        let pack = vpack::pack::Pack::from_bytes(&bytes).expect("the finished pack reads back");
        assert_eq!(pack.search(&[0.0, 1.0], 2, None).unwrap().len(), 2);
    }
}

/// from_bytes (found after 5 minutes of the long run): an HNSW pack whose graph head
/// names a max_level above its entry node's level, with every checksum repaired (as a
/// forger would, or a buggy writer). `Pack::from_bytes` (full verification) and `verify`
/// accept it, yet every search then fails with "corrupt pack: hnsw section: node 0 has no
/// level 12". Full verification should refuse what search calls corrupt. Minimized from
/// the fuzzer's input: the seed HNSW pack with head word 2 (max_level) set to 12.
#[test]
fn hnsw_head_max_level_above_the_entry_is_refused_by_verify() {
    let options = serde_json::json!({"dimension": 4, "metric": "l2",
        "index": {"kind": "hnsw", "m": 2, "ef_construction": 8, "ef_search": 4}});
    let mut bytes = harness::build_pack(options, 12, true, None, serde_json::json!({}));
    let graph = harness::section_entries(&bytes)
        .unwrap()
        .into_iter()
        .find(|(kind, _)| *kind == 6)
        .and_then(|(_, range)| range)
        .expect("an HNSW section");
    bytes[graph.start + 8..graph.start + 12].copy_from_slice(&12u32.to_le_bytes());
    harness::repair_checksums(&mut bytes);
    match vpack::pack::Pack::from_bytes(&bytes) {
        Err(e) => assert_eq!(e.code(), 7, "{e}"), // CORRUPT
        Ok(pack) => {
            pack.search(&[1.0; 4], 3, None)
                .expect("a pack that passed full verification answers");
        }
    }
}

/// builder_options' oracle "a finished pack reads back with the same metadata" (found by
/// checking that oracle directly; the fuzzer rarely writes 17-digit numbers): a float in
/// chunk metadata is written as its shortest text and parsed back by serde_json, whose
/// default float parser is not correctly rounded (the `float_roundtrip` feature is off),
/// so about 1 value in 11 with full precision comes back one ULP off (11.290774160688077
/// returns as 11.290774160688075). The same goes for manifests, and for a filter
/// comparing such a value with `$eq`. Enabling serde_json's `float_roundtrip` feature in
/// rust/Cargo.toml would fix it.
#[test]
fn metadata_floats_read_back_bit_for_bit() {
    use vpack::format::writer::{BuilderOptions, ChunkIn, PackWriter};
    let x = f64::from_bits(0x4026_94e0_59cd_5ab2); // 11.290774160688077
    let options: BuilderOptions =
        serde_json::from_value(serde_json::json!({"dimension": 1, "metric": "dot"})).unwrap();
    let mut writer = PackWriter::new(options).unwrap();
    let mut metadata = serde_json::Map::new();
    metadata.insert("x".into(), serde_json::Value::from(x));
    let chunk = ChunkIn {
        text: "a".into(),
        metadata,
    };
    writer.add(vec![chunk], &[1.0]).unwrap();
    let pack = vpack::pack::Pack::from_bytes(&writer.finish(Default::default()).unwrap()).unwrap();
    let meta: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(pack.chunk(0).unwrap().metadata).unwrap();
    let back = meta["x"].as_f64().unwrap();
    assert_eq!(back.to_bits(), x.to_bits(), "{x:e} came back as {back:e}");
}

/// from_bytes (found in the second long run, after the entry-level fix): a link on an
/// upper level that points to a node without that level. `verify` checks each node's own
/// link lists but not that their targets reach the level, so it accepts the graph; a
/// search whose greedy descent moves to that node fails with "corrupt pack: hnsw
/// section: node 7 has no level 3". Minimized: the seed HNSW pack with the entry node's
/// top-level list replaced by one link to a level-0 node, queried with that node's row.
#[test]
fn hnsw_upper_links_to_lower_nodes_are_refused_by_verify() {
    let options = serde_json::json!({"dimension": 4, "metric": "l2",
        "index": {"kind": "hnsw", "m": 2, "ef_construction": 8, "ef_search": 4}});
    let mut bytes = harness::build_pack(options, 12, true, None, serde_json::json!({}));
    let graph = harness::section_entries(&bytes)
        .unwrap()
        .into_iter()
        .find(|(kind, _)| *kind == 6)
        .and_then(|(_, range)| range)
        .expect("an HNSW section");
    let word = |b: &[u8], i: usize| {
        let at = graph.start + 4 * i;
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
    };
    let (m, m0, top, entry, n) = (
        word(&bytes, 0),
        word(&bytes, 1),
        word(&bytes, 2),
        word(&bytes, 3),
        word(&bytes, 4),
    );
    assert!(top >= 1, "the seed graph has an upper level");
    let nodes_at = 16 + n * (1 + m0);
    let pool_at = nodes_at + 2 * n;
    let lower = (0..n)
        .find(|&x| x != entry && word(&bytes, nodes_at + 2 * x) == 0)
        .expect("a level-0 node");
    let list = pool_at + word(&bytes, nodes_at + 2 * entry + 1) + (top - 1) * (1 + m);
    for (i, value) in [(list, 1u32), (list + 1, lower as u32)] {
        let at = graph.start + 4 * i;
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }
    harness::repair_checksums(&mut bytes);
    match vpack::pack::Pack::from_bytes(&bytes) {
        Err(e) => assert_eq!(e.code(), 7, "{e}"), // CORRUPT
        Ok(pack) => {
            let row = pack.reader().vector_row(lower).unwrap().to_vec();
            pack.search(&row, 3, None)
                .expect("a pack that passed full verification answers");
        }
    }
}
