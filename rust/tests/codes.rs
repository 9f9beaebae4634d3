//! Compressed vectors (f16, int8) for the flat scan: near-exact recall with exact scores,
//! filters, the manifest, and damage.

use serde_json::{json, Map, Value};
use vpack::format::writer::{BuilderOptions, ChunkIn, PackWriter};
use vpack::index::filter::Filter;
use vpack::pack::Pack;

const DIM: usize = 48;

fn vectors(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centers: Vec<Vec<f32>> = (0..30)
        .map(|_| (0..DIM).map(|_| next()).collect())
        .collect();
    (0..n)
        .flat_map(|i| {
            let c = centers[(i * 11) % centers.len()].clone();
            c.into_iter().map(|x| x + 0.3 * next()).collect::<Vec<_>>()
        })
        .collect()
}

fn pack(metric: &str, index: Value, v: &[f32]) -> Pack {
    let options: BuilderOptions =
        serde_json::from_value(json!({"dimension": DIM, "metric": metric, "index": index}))
            .unwrap();
    let mut w = PackWriter::new(options).unwrap();
    let chunks = (0..v.len() / DIM)
        .map(|i| {
            let mut meta = Map::new();
            meta.insert("odd".into(), Value::from(i % 2 == 1));
            ChunkIn {
                text: format!("c{i}"),
                metadata: meta,
            }
        })
        .collect();
    w.add(chunks, v).unwrap();
    Pack::from_bytes(&w.finish(Map::new()).unwrap()).unwrap()
}

#[test]
fn codes_find_the_exact_neighbours_with_exact_scores() {
    let v = vectors(2000, 7);
    let queries = vectors(30, 77);
    let odd = Filter::parse(&json!({"odd": true})).unwrap();
    for metric in ["cosine", "dot", "l2"] {
        let exact = pack(metric, json!({"kind": "flat"}), &v);
        for codes in ["f16", "int8"] {
            let approx = pack(metric, json!({"codes": codes, "rescore": 4}), &v);
            let index = &approx.reader().manifest()["index"];
            assert_eq!(
                index,
                &json!({"kind": "flat", "codes": codes, "rescore": 4})
            );
            let (mut found, mut total) = (0, 0);
            for filter in [None, Some(&odd)] {
                for q in queries.chunks_exact(DIM) {
                    let truth = exact.search(q, 10, filter).unwrap();
                    let got = approx.search(q, 10, filter).unwrap();
                    assert_eq!(got.len(), 10);
                    let all: std::collections::HashMap<u64, f32> = exact
                        .search(q, 2000, None)
                        .unwrap()
                        .iter()
                        .map(|h| (h.id, h.score))
                        .collect();
                    for h in &got {
                        // Every returned score is the exact one (up to the kernels'
                        // summation order).
                        let want = all[&h.id];
                        assert!(
                            (h.score - want).abs() <= 1e-5 * want.abs().max(1.0),
                            "{metric} {codes}"
                        );
                    }
                    found += got
                        .iter()
                        .filter(|h| truth.iter().any(|t| t.id == h.id))
                        .count();
                    total += 10;
                }
            }
            let recall = found as f64 / total as f64;
            assert!(recall >= 0.99, "{metric} {codes}: recall@10 {recall}");
            approx.verify().unwrap();
        }
    }
}

#[test]
fn bad_codes_options_are_refused() {
    for bad in [
        json!({"codes": "int4"}),
        json!({"codes": "int8", "rescore": 0}),
    ] {
        let options: BuilderOptions =
            serde_json::from_value(json!({"dimension": DIM, "index": bad})).unwrap();
        assert_eq!(PackWriter::new(options).err().unwrap().code(), 2, "{bad}");
    }
}

#[test]
fn damaged_codes_are_an_error() {
    let v = vectors(3000, 9);
    let good = pack("cosine", json!({"codes": "int8"}), &v);
    let bytes = good.reader().bytes().to_vec();
    let n = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let codes = (0..n)
        .map(|i| {
            let e = 64 + 32 * i;
            let kind = u32::from_le_bytes(bytes[e..e + 4].try_into().unwrap());
            let off = u64::from_le_bytes(bytes[e + 8..e + 16].try_into().unwrap()) as usize;
            let len = u64::from_le_bytes(bytes[e + 16..e + 24].try_into().unwrap()) as usize;
            (kind, off..off + len)
        })
        .find(|(k, _)| *k == 7)
        .expect("a codes section")
        .1;
    let dir = std::env::temp_dir().join(format!("vpack-codes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let q = &vectors(1, 5)[..DIM];
    for at in (codes.start..codes.end).step_by(codes.len() / 16) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x08;
        let path = dir.join("bad.vpack");
        std::fs::write(&path, &bad).unwrap();
        let pack = Pack::open(&path, false).unwrap();
        assert_eq!(
            pack.search(q, 10, None).err().map(|e| e.code()),
            Some(7),
            "damage at {at}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
