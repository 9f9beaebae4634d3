//! Packs with an HNSW index: recall against exact search, byte-identical builds on any
//! number of threads, filters, the recorded parameters, and damage to the graph.

use serde_json::{json, Map, Value};
use std::path::PathBuf;
use vpack::format::writer::{BuilderOptions, ChunkIn, PackWriter};
use vpack::index::filter::Filter;
use vpack::pack::Pack;

const DIM: usize = 32;
const N: usize = 6000;

fn vectors(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let centers: Vec<Vec<f32>> = (0..40)
        .map(|_| (0..DIM).map(|_| next()).collect())
        .collect();
    (0..n)
        .flat_map(|i| {
            let c = centers[(i * 7) % centers.len()].clone();
            c.into_iter().map(|x| x + 0.25 * next()).collect::<Vec<_>>()
        })
        .collect()
}

fn pack_bytes(index: Value, v: &[f32]) -> Vec<u8> {
    let options: BuilderOptions =
        serde_json::from_value(json!({"dimension": DIM, "metric": "cosine", "index": index}))
            .unwrap();
    let mut w = PackWriter::new(options).unwrap();
    let chunks = (0..v.len() / DIM)
        .map(|i| {
            let mut meta = Map::new();
            meta.insert("i".into(), Value::from(i));
            meta.insert("rare".into(), Value::from(i % 97 == 0));
            ChunkIn {
                text: format!("chunk {i}"),
                metadata: meta,
            }
        })
        .collect();
    w.add(chunks, v).unwrap();
    w.finish(Map::new()).unwrap()
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("vpack-hnsw-{}-{name}.vpack", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

fn recall(
    approx: &Pack,
    exact: &Pack,
    queries: &[f32],
    ef: Option<usize>,
    filter: Option<&Filter>,
) -> f64 {
    let (mut found, mut total) = (0usize, 0usize);
    for q in queries.chunks_exact(DIM) {
        let truth: Vec<u64> = exact
            .search(q, 10, filter)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        let got = approx.search_with(q, 10, filter, ef).unwrap();
        assert_eq!(got.len(), truth.len());
        found += got.iter().filter(|h| truth.contains(&h.id)).count();
        total += truth.len();
    }
    found as f64 / total as f64
}

#[test]
fn hnsw_packs_find_the_true_neighbours_and_build_identically_on_any_threads() {
    let v = vectors(N, 11);
    let one = pack_bytes(json!({"kind": "hnsw", "threads": 1}), &v);
    let two = pack_bytes(json!({"kind": "hnsw", "threads": 2}), &v);
    assert!(one == two, "the graph depends on the thread count");
    let flat = pack_bytes(json!({"kind": "flat"}), &v);

    let approx_path = temp_file("approx", &one);
    let approx = Pack::open(&approx_path, false).unwrap();
    let exact = Pack::from_bytes(&flat).unwrap();
    let index = &approx.reader().manifest()["index"];
    assert_eq!(
        index,
        &json!({"kind": "hnsw", "m": 16, "ef_construction": 200, "ef_search": 64})
    );

    let queries = vectors(200, 99);
    let r = recall(&approx, &exact, &queries, None, None);
    assert!(r >= 0.95, "recall@10 at the default ef_search: {r}");
    let low = recall(&approx, &exact, &queries, Some(10), None);
    let high = recall(&approx, &exact, &queries, Some(400), None);
    assert!(
        high >= r && r >= low,
        "recall grows with ef: {low} {r} {high}"
    );
    assert!(high > 0.99, "ef 400: {high}");

    // A selective filter (1 chunk in 97) still returns k hits: the exact ones.
    let rare = Filter::parse(&json!({"rare": true})).unwrap();
    assert_eq!(
        recall(&approx, &exact, &queries[..20 * DIM], None, Some(&rare)),
        1.0
    );
    let broad = Filter::parse(&json!({"i": {"$gte": 100}})).unwrap();
    assert!(recall(&approx, &exact, &queries, None, Some(&broad)) >= 0.95);

    approx.verify().unwrap();
    assert!(approx
        .search_with(&queries[..DIM], 10, None, Some(0))
        .is_err());
    drop(approx);
    let _ = std::fs::remove_file(approx_path);
}

#[test]
fn auto_picks_flat_for_small_packs_and_records_why() {
    let v = vectors(50, 1);
    let pack = Pack::from_bytes(&pack_bytes(json!({"kind": "auto"}), &v)).unwrap();
    let index = &pack.reader().manifest()["index"];
    assert_eq!(index["kind"], "flat");
    assert!(index["chosen_by"].as_str().unwrap().starts_with("auto"));
}

#[test]
fn bad_index_options_are_refused() {
    for bad in [
        json!({"kind": "ivf"}),
        json!({"kind": "hnsw", "m": 1}),
        json!({"kind": "hnsw", "ef_construction": 0}),
        json!({"kind": "hnsw", "ef_search": 100000}),
    ] {
        let options: BuilderOptions =
            serde_json::from_value(json!({"dimension": DIM, "index": bad})).unwrap();
        assert_eq!(PackWriter::new(options).err().unwrap().code(), 2, "{bad}");
    }
    let r: Result<BuilderOptions, _> =
        serde_json::from_value(json!({"dimension": DIM, "index": {"kind": "hnsw", "M": 4}}));
    assert!(r.is_err(), "unknown index option");
}

#[test]
fn a_damaged_graph_is_an_error_never_a_different_answer() {
    let v = vectors(2000, 5);
    let bytes = pack_bytes(json!({"kind": "hnsw"}), &v);
    let n = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let graph = (0..n)
        .map(|i| {
            let e = 64 + 32 * i;
            let kind = u32::from_le_bytes(bytes[e..e + 4].try_into().unwrap());
            let off = u64::from_le_bytes(bytes[e + 8..e + 16].try_into().unwrap()) as usize;
            let len = u64::from_le_bytes(bytes[e + 16..e + 24].try_into().unwrap()) as usize;
            (kind, off..off + len)
        })
        .find(|(k, _)| *k == 6)
        .expect("an hnsw section")
        .1;
    let good_path = temp_file("good", &bytes);
    let good = Pack::open(&good_path, false).unwrap();
    let q = &vectors(1, 3)[..DIM];
    let want = good.search(q, 10, None).unwrap();
    for at in (graph.start..graph.end).step_by(graph.len() / 40) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        let path = temp_file("bad", &bad);
        let pack = Pack::open(&path, false).unwrap();
        match pack.search(q, 10, None) {
            Ok(got) => panic!("damage at {at} answered {got:?} (undamaged: {want:?})"),
            Err(e) => assert_eq!(e.code(), 7, "{e}"),
        }
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_file(good_path);
}

#[test]
fn batch_search_equals_one_query_at_a_time() {
    let v = vectors(3000, 21);
    let queries = vectors(37, 4);
    let filter = Filter::parse(&json!({"i": {"$lt": 1500}})).unwrap();
    for index in [json!({"kind": "flat"}), json!({"kind": "hnsw", "m": 8})] {
        let pack = Pack::from_bytes(&pack_bytes(index.clone(), &v)).unwrap();
        for (k, f, threads) in [
            (10, None, 1),
            (10, Some(&filter), 2),
            (3, None, 8),
            (0, None, 2),
        ] {
            let n = queries.len() / DIM;
            let (mut ids, mut scores, mut counts) = (vec![0; n * k], vec![0.0; n * k], vec![9; n]);
            pack.search_batch(
                &queries,
                k,
                f,
                None,
                threads,
                &mut ids,
                &mut scores,
                &mut counts,
            )
            .unwrap();
            for (i, q) in queries.chunks_exact(DIM).enumerate() {
                let one = pack.search(q, k, f).unwrap();
                assert_eq!(counts[i], one.len(), "{index} k={k}");
                for (j, h) in one.iter().enumerate() {
                    assert_eq!((ids[i * k + j], scores[i * k + j]), (h.id, h.score));
                }
            }
        }
    }
}

#[test]
fn duplicated_vectors_still_give_k_hits() {
    // Boilerplate chunks: many identical rows, and many copies of a few rows.
    let one = vectors(1, 2);
    let same: Vec<f32> = (0..1000).flat_map(|_| one.clone()).collect();
    let few = vectors(10, 3);
    let copies: Vec<f32> = (0..600)
        .flat_map(|i| few[(i % 10) * DIM..][..DIM].to_vec())
        .collect();
    for v in [same, copies] {
        let pack = Pack::from_bytes(&pack_bytes(json!({"kind": "hnsw", "m": 4}), &v)).unwrap();
        for q in vectors(20, 8).chunks_exact(DIM) {
            assert_eq!(pack.search(q, 10, None).unwrap().len(), 10);
        }
    }
}
