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

/// Recall@10 of `approx` against `exact` over `queries`.
fn recall(exact: &Pack, approx: &Pack, queries: &[f32]) -> f64 {
    let mut found = 0;
    let mut wanted = 0;
    for q in queries.chunks_exact(DIM) {
        let truth: Vec<u64> = exact
            .search(q, 10, None)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        let got = approx.search(q, 10, None).unwrap();
        assert_eq!(got.len(), 10);
        found += got.iter().filter(|h| truth.contains(&h.id)).count();
        wanted += truth.len();
    }
    found as f64 / wanted as f64
}

#[test]
fn codes_only_packs_are_smaller_and_score_from_the_codes() {
    let v = vectors(2000, 7);
    let queries = vectors(30, 77);
    let odd = Filter::parse(&json!({"odd": true})).unwrap();
    for metric in ["cosine", "dot", "l2"] {
        let exact = pack(metric, json!({"kind": "flat"}), &v);
        let f32_bytes = (v.len() * 4) as f64;
        for (codes, min_recall) in [("f16", 0.97), ("int8", 0.85)] {
            let with_f32 = pack(metric, json!({"codes": codes}), &v);
            let only = pack(metric, json!({"codes": codes, "codes_only": true}), &v);
            let index = &only.reader().manifest()["index"];
            assert_eq!(
                index,
                &json!({"kind": "flat", "codes": codes, "codes_only": true})
            );
            // The f32 rows are gone: the pack shrinks by about their size, less the codes.
            let saved = (with_f32.reader().bytes().len() - only.reader().bytes().len()) as f64;
            assert!(
                (saved - f32_bytes).abs() < 0.02 * f32_bytes,
                "{metric} {codes}: saved {saved} of {f32_bytes}"
            );
            assert!(!only.reader().has_vectors());
            let err = only.reader().vectors().err().unwrap();
            assert_eq!(err.code(), vpack::VPACK_E_NOT_FOUND, "{err}");
            only.verify().unwrap();
            let r = recall(&exact, &only, &queries);
            assert!(r >= min_recall, "{metric} {codes}: recall {r}");
            // Scores are the codes' own: close to the exact ones, not equal to them.
            let mut differs = 0;
            for q in queries.chunks_exact(DIM) {
                for hit in only.search(q, 10, None).unwrap() {
                    let row = &v[hit.id as usize * DIM..][..DIM];
                    let mut q = q.to_vec();
                    let mut row = row.to_vec();
                    if metric == "cosine" {
                        vpack::index::normalize(&mut q);
                        vpack::index::normalize(&mut row);
                    }
                    let want = if metric == "l2" {
                        -q.iter()
                            .zip(&row)
                            .map(|(a, b)| (a - b) * (a - b))
                            .sum::<f32>()
                    } else {
                        q.iter().zip(&row).map(|(a, b)| a * b).sum::<f32>()
                    };
                    let scale = want.abs().max(1.0);
                    assert!(
                        (hit.score - want).abs() < 0.05 * scale,
                        "{} vs {want}",
                        hit.score
                    );
                    differs += usize::from(hit.score != want);
                }
                // Filters still hold, and k hits come back when k match.
                let hits = only.search(q, 10, Some(&odd)).unwrap();
                assert_eq!(hits.len(), 10);
                assert!(hits.iter().all(|h| h.id % 2 == 1));
            }
            assert!(differs > 0, "{metric} {codes}: every score exact?");
            // The bytes survive a round trip, and the same input gives the same bytes.
            let again = Pack::from_bytes(only.reader().bytes()).unwrap();
            assert_eq!(again.reader().bytes(), only.reader().bytes());
            let twice = pack(metric, json!({"codes": codes, "codes_only": true}), &v);
            assert_eq!(twice.reader().bytes(), only.reader().bytes());
        }
    }
}

#[test]
fn codes_only_options_that_do_not_fit_are_refused() {
    for bad in [
        json!({"codes_only": true}),
        json!({"codes": "f32", "codes_only": true}),
        json!({"codes": "int8", "codes_only": true, "kind": "hnsw"}),
        json!({"codes": "int8", "codes_only": true, "kind": "auto"}),
        json!({"codes": "int8", "codes_only": true, "rescore": 4}),
    ] {
        let options: BuilderOptions =
            serde_json::from_value(json!({"dimension": DIM, "index": bad})).unwrap();
        let err = PackWriter::new(options).err().unwrap();
        assert_eq!(err.code(), 2, "{bad}: {err}");
    }
    let options = serde_json::from_value::<BuilderOptions>(
        json!({"dimension": DIM, "index": {"codes": "int8", "codes_only": 1}}),
    );
    assert!(
        options.is_err(),
        "a non-boolean codes_only is not read as true"
    );
}

/// A pack whose manifest and sections disagree about codes_only is corrupt, never read
/// as something else. The manifest is rewritten (with its checksums), as an attacker or a
/// buggy writer could; a padding field keeps its length.
#[test]
fn codes_only_manifest_must_match_the_sections() {
    let v = vectors(300, 3);
    let pad = "x".repeat(40);
    let build = |index: Value| {
        let options: BuilderOptions =
            serde_json::from_value(json!({"dimension": DIM, "index": index})).unwrap();
        let mut w = PackWriter::new(options).unwrap();
        let chunks = (0..v.len() / DIM)
            .map(|i| ChunkIn {
                text: format!("c{i}"),
                metadata: Map::new(),
            })
            .collect();
        w.add(chunks, &v).unwrap();
        let mut manifest = Map::new();
        manifest.insert("pad".into(), Value::from(pad.clone()));
        w.finish(manifest).unwrap()
    };
    let with_f32 = build(json!({"codes": "int8"}));
    let only = build(json!({"codes": "int8", "codes_only": true}));
    Pack::from_bytes(&with_f32).unwrap();
    Pack::from_bytes(&only).unwrap();
    let cases: [(&[u8], &str, &str); 3] = [
        // Says codes_only, but holds the f32 vectors.
        (&with_f32, "\"rescore\":4", "\"codes_only\":true"),
        // Holds no f32 vectors, but does not say codes_only.
        (&only, "\"codes_only\":true", "\"rescore\":4"),
        // codes_only must be a boolean.
        (&only, "\"codes_only\":true", "\"codes_only\":1"),
    ];
    for (bytes, from, to) in cases {
        let bytes = rewrite_manifest(bytes, from, to);
        let err = Pack::from_bytes(&bytes).err().expect("refused");
        assert_eq!(err.code(), vpack::VPACK_E_CORRUPT, "{from} -> {to}: {err}");
    }
}

/// `bytes` with `from` replaced by `to` in the manifest, the `pad` field shortened or
/// lengthened so the manifest keeps its length, and the manifest's CRC in the section
/// table, the table's CRC and the header's updated to match.
fn rewrite_manifest(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let n = u32::from_le_bytes(out[12..16].try_into().unwrap()) as usize;
    for i in 0..n {
        let e = 64 + 32 * i;
        if u32::from_le_bytes(out[e..e + 4].try_into().unwrap()) != 1 {
            continue;
        }
        let off = u64::from_le_bytes(out[e + 8..e + 16].try_into().unwrap()) as usize;
        let len = u64::from_le_bytes(out[e + 16..e + 24].try_into().unwrap()) as usize;
        let text = std::str::from_utf8(&out[off..off + len])
            .unwrap()
            .to_string();
        assert!(text.contains(from), "{text}");
        let new = text.replacen(from, to, 1);
        let pad = "x".repeat(40);
        let fitted = "x".repeat(40 + len - new.len());
        let new = new.replacen(&pad, &fitted, 1);
        assert_eq!(new.len(), len);
        out[off..off + len].copy_from_slice(new.as_bytes());
        let crc = crc32fast::hash(new.as_bytes());
        out[e + 24..e + 28].copy_from_slice(&crc.to_le_bytes());
    }
    let table_crc = crc32fast::hash(&out[64..64 + 32 * n]);
    out[24..28].copy_from_slice(&table_crc.to_le_bytes());
    let header_crc = crc32fast::hash(&out[..60]);
    out[60..64].copy_from_slice(&header_crc.to_le_bytes());
    out
}
