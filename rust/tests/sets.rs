//! Pack sets through the crate's Rust API: a set of flat shards answers exactly as one
//! pack built from the same chunks in shard order (every k, every metric, filters, ties,
//! batches, both the serial and the fanned-out search), global chunk ids, and the
//! refusals: mixed shards, missing, damaged or replaced shards, bad set files.

use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use vpack::error::Error;
use vpack::format::writer::{BuilderOptions, ChunkIn, PackWriter};
use vpack::index::filter::Filter;
use vpack::pack::Pack;
use vpack::set::{write_set, AnyPack};

const INVALID_ARG: i32 = 2;
const IO: i32 = 6;
const CORRUPT: i32 = 7;
const UNSUPPORTED_VERSION: i32 = 8;
const NOT_FOUND: i32 = 12;

/// A small deterministic generator (xorshift), so the data is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn float(&mut self) -> f32 {
        (self.next() % 2001) as f32 / 1000.0 - 1.0
    }
}

struct Data {
    dim: usize,
    texts: Vec<String>,
    metadata: Vec<Value>,
    vectors: Vec<f32>,
}

/// `n` chunks of `dim` floats; every 5th chunk repeats an earlier chunk's vector (ties
/// across shards), and the values are coarse so different rows also tie.
fn data(n: usize, dim: usize, seed: u64) -> Data {
    let mut rng = Rng(seed);
    let mut vectors = Vec::with_capacity(n * dim);
    for i in 0..n {
        if i % 5 == 4 {
            let src = (rng.next() as usize) % i;
            let row = vectors[src * dim..(src + 1) * dim].to_vec();
            vectors.extend(row);
        } else {
            for _ in 0..dim {
                vectors.push((rng.float() * 4.0).round() / 4.0 + 0.01);
            }
        }
    }
    Data {
        dim,
        texts: (0..n).map(|i| format!("chunk number {i}")).collect(),
        metadata: (0..n)
            .map(|i| json!({"group": i % 3, "path": format!("dir{}/f{i}.md", i % 4)}))
            .collect(),
        vectors,
    }
}

fn manifest(dim: usize, embedder: &str) -> Map<String, Value> {
    let ngram = if embedder == "same" { 3 } else { 2 };
    let v = json!({"embedder": {"kind": "hash", "dimension": dim, "char_ngram": ngram}});
    v.as_object().unwrap().clone()
}

/// Writes chunks `range` of `d` as a pack at `path`.
fn write_pack(path: &Path, d: &Data, range: std::ops::Range<usize>, metric: &str, index: Value) {
    let options: BuilderOptions =
        serde_json::from_value(json!({"dimension": d.dim, "metric": metric, "index": index}))
            .unwrap();
    let mut w = PackWriter::new(options).unwrap();
    let chunks: Vec<ChunkIn> = range
        .clone()
        .map(|i| {
            serde_json::from_value(json!({"text": d.texts[i], "metadata": d.metadata[i]})).unwrap()
        })
        .collect();
    if !chunks.is_empty() {
        w.add(chunks, &d.vectors[range.start * d.dim..range.end * d.dim])
            .unwrap();
    }
    w.finish_to_file(manifest(d.dim, "same"), path).unwrap();
}

struct Fixture {
    dir: PathBuf,
    one: Pack,
    set: AnyPack,
    set_path: PathBuf,
    shard_paths: Vec<PathBuf>,
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vpack-sets-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One pack of all of `d`, and a set of shards cut at `cuts` (an empty shard included
/// when two cuts are equal).
fn fixture(name: &str, d: &Data, cuts: &[usize], metric: &str, index: Value) -> Fixture {
    let dir = temp_dir(name);
    let n = d.texts.len();
    write_pack(&dir.join("one.vpack"), d, 0..n, metric, index.clone());
    std::fs::create_dir_all(dir.join("shards")).unwrap();
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(n);
    let mut shard_paths = Vec::new();
    for (i, w) in bounds.windows(2).enumerate() {
        let p = dir.join("shards").join(format!("part-{i}.vpack"));
        write_pack(&p, d, w[0]..w[1], metric, index.clone());
        shard_paths.push(p);
    }
    let set_path = dir.join("all.vpackset");
    write_set(&set_path, &shard_paths).unwrap();
    Fixture {
        one: Pack::open(&dir.join("one.vpack"), false).unwrap(),
        set: AnyPack::open(&set_path, false).unwrap(),
        dir,
        set_path,
        shard_paths,
    }
}

fn bits(hits: &[vpack::index::Scored]) -> Vec<(u64, u32)> {
    hits.iter().map(|h| (h.id, h.score.to_bits())).collect()
}

fn queries(dim: usize, n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.float()).collect())
        .collect()
}

fn code<T>(r: Result<T, Error>) -> (i32, String) {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => (e.code(), e.to_string()),
    }
}

fn filters() -> Vec<Option<Filter>> {
    let raw = [
        json!({"group": 1}),
        json!({"path": "dir2/*.md"}),
        json!({"group": {"$in": [0, 2]}}),
        json!({"group": 7}),
    ];
    std::iter::once(None)
        .chain(raw.iter().map(|v| Some(Filter::parse(v).unwrap())))
        .collect()
}

#[test]
fn flat_set_answers_as_one_pack_for_every_k_metric_and_filter() {
    let d = data(240, 12, 7);
    for metric in ["cosine", "dot", "l2"] {
        let f = fixture(
            &format!("exact-{metric}"),
            &d,
            &[17, 60, 60, 61, 130, 200, 239],
            metric,
            json!({"kind": "flat"}),
        );
        assert_eq!(f.set.len(), 240);
        for q in queries(d.dim, 4, 99) {
            for filter in filters() {
                for k in 0..=245 {
                    let want = f.one.search_with(&q, k, filter.as_ref(), None).unwrap();
                    let got = f.set.search_with(&q, k, filter.as_ref(), None).unwrap();
                    assert_eq!(bits(&got), bits(&want), "{metric} k={k} filter={filter:?}");
                }
            }
        }
        // Global ids map to the right chunk.
        for id in 0..240 {
            let a = f.one.chunk(id).unwrap();
            let b = f.set.chunk(id).unwrap();
            assert_eq!((a.text, a.metadata), (b.text, b.metadata), "chunk {id}");
        }
        assert_eq!(code(f.set.chunk(240)).0, NOT_FOUND);
        let _ = std::fs::remove_dir_all(&f.dir);
    }
}

#[test]
fn ties_go_to_the_lower_global_id() {
    // Every chunk has the same vector: the top k must be ids 0..k in order.
    let mut d = data(40, 4, 3);
    d.vectors = (0..40).flat_map(|_| [0.5f32, 0.5, 0.5, 0.5]).collect();
    let f = fixture("ties", &d, &[5, 9, 30], "cosine", json!({"kind": "flat"}));
    for k in 0..=41 {
        let got = f
            .set
            .search_with(&[1.0, 1.0, 1.0, 1.0], k, None, None)
            .unwrap();
        let ids: Vec<u64> = got.iter().map(|h| h.id).collect();
        assert_eq!(ids, (0..k.min(40) as u64).collect::<Vec<_>>(), "k={k}");
        let want = f
            .one
            .search_with(&[1.0, 1.0, 1.0, 1.0], k, None, None)
            .unwrap();
        assert_eq!(bits(&got), bits(&want));
    }
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[test]
fn a_large_set_fans_out_and_still_equals_one_pack() {
    // 8 shards, 16,400 x 256 floats in all: above the fan-out threshold (16 MiB).
    let d = data(16_400, 256, 11);
    let cuts: Vec<usize> = (1..8).map(|i| i * 2050 - (i % 3) * 40).collect();
    let f = fixture("fan", &d, &cuts, "cosine", json!({"kind": "flat"}));
    let qs = queries(d.dim, 3, 5);
    for q in &qs {
        for filter in filters().into_iter().take(3) {
            for k in [1, 10, 100, 16_400] {
                let want = f.one.search_with(q, k, filter.as_ref(), None).unwrap();
                let got = f.set.search_with(q, k, filter.as_ref(), None).unwrap();
                assert_eq!(bits(&got), bits(&want), "k={k} filter={filter:?}");
            }
        }
    }
    // Batches: the same rows as single searches, on any number of threads.
    let flat: Vec<f32> = qs.concat();
    let k = 25;
    for threads in [1, 2, 3] {
        let mut ids = vec![0u64; qs.len() * k];
        let mut scores = vec![0f32; qs.len() * k];
        let mut counts = vec![0usize; qs.len()];
        let flt = Filter::parse(&json!({"group": 2})).unwrap();
        f.set
            .search_batch(
                &flat,
                k,
                Some(&flt),
                None,
                threads,
                &mut ids,
                &mut scores,
                &mut counts,
            )
            .unwrap();
        for (i, q) in qs.iter().enumerate() {
            let want = f.one.search_with(q, k, Some(&flt), None).unwrap();
            assert_eq!(counts[i], want.len());
            for (j, h) in want.iter().enumerate() {
                assert_eq!(
                    (ids[i * k + j], scores[i * k + j].to_bits()),
                    (h.id, h.score.to_bits())
                );
            }
        }
    }
    // Many threads searching the set at once agree with the serial answers.
    std::thread::scope(|s| {
        for t in 0..4 {
            let (f, qs) = (&f, &qs);
            s.spawn(move || {
                for q in qs.iter().cycle().skip(t).take(4) {
                    let want = f.one.search_with(q, 10, None, None).unwrap();
                    let got = f.set.search_with(q, 10, None, None).unwrap();
                    assert_eq!(bits(&got), bits(&want));
                }
            });
        }
    });
    let _ = std::fs::remove_dir_all(&f.dir);
}

#[test]
fn hnsw_shards_search_with_ef() {
    let d = data(600, 16, 21);
    let f = fixture(
        "hnsw",
        &d,
        &[200, 400],
        "cosine",
        json!({"kind": "hnsw", "m": 8, "ef_construction": 64, "ef_search": 32}),
    );
    let manifest: Value = serde_json::from_slice(f.set.manifest_json()).unwrap();
    assert_eq!(manifest["index"]["kind"], "hnsw");
    // With ef at least the shard size, each shard's walk is exhaustive in practice, so
    // the set finds the exact top k of the flat scan.
    let exact_dir = temp_dir("hnsw-exact");
    write_pack(
        &exact_dir.join("flat.vpack"),
        &d,
        0..600,
        "cosine",
        json!({"kind": "flat"}),
    );
    let flat = Pack::open(&exact_dir.join("flat.vpack"), false).unwrap();
    for q in queries(d.dim, 5, 8) {
        let want = flat.search_with(&q, 10, None, None).unwrap();
        let got = f.set.search_with(&q, 10, None, Some(400)).unwrap();
        let scores = |h: &[vpack::index::Scored]| h.iter().map(|x| x.score).collect::<Vec<_>>();
        assert_eq!(scores(&got), scores(&want));
    }
    assert_eq!(
        code(f.set.search_with(&[0.1; 16], 3, None, Some(70_000))).0,
        INVALID_ARG
    );
    let _ = std::fs::remove_dir_all(&f.dir);
    let _ = std::fs::remove_dir_all(&exact_dir);
}

#[test]
fn manifest_len_and_what_a_set_cannot_do() {
    let d = data(50, 8, 1);
    let f = fixture("manifest", &d, &[20], "cosine", json!({"kind": "flat"}));
    let m: Value = serde_json::from_slice(f.set.manifest_json()).unwrap();
    assert_eq!(m["chunk_count"], 50);
    assert_eq!(m["dimension"], 8);
    assert_eq!(
        m["set"]["shards"][0],
        json!({"path": "shards/part-0.vpack", "chunk_count": 20})
    );
    assert_eq!(m["set"]["shards"][1]["chunk_count"], 30);
    assert_eq!(code(f.set.vectors()).0, NOT_FOUND);
    assert_eq!(code(f.set.to_bytes_checked()).0, INVALID_ARG);
    assert_eq!(code(f.set.save(&f.dir.join("copy.vpack"))).0, INVALID_ARG);
    f.set.verify().unwrap();
    assert!(f.set.embedder().is_ok());
    // A set of one shard has contiguous rows.
    let single = f.dir.join("single.vpackset");
    write_set(&single, &f.shard_paths[..1]).unwrap();
    let one = AnyPack::open(&single, true).unwrap();
    assert_eq!(one.vectors().unwrap().len(), 20 * 8);
    // The set file records relative paths: the folder can move.
    let moved = temp_dir("manifest-moved");
    std::fs::create_dir_all(moved.join("shards")).unwrap();
    for p in &f.shard_paths {
        std::fs::copy(p, moved.join("shards").join(p.file_name().unwrap())).unwrap();
    }
    std::fs::copy(&f.set_path, moved.join("all.vpackset")).unwrap();
    let again = AnyPack::open(&moved.join("all.vpackset"), false).unwrap();
    assert_eq!(again.len(), 50);
    let text = std::fs::read_to_string(&f.set_path).unwrap();
    assert!(text.contains("\"format\": \"vpack-set\""), "{text}");
    assert!(
        !text.contains(f.dir.to_str().unwrap()),
        "no absolute path: {text}"
    );
    let _ = std::fs::remove_dir_all(&f.dir);
    let _ = std::fs::remove_dir_all(&moved);
}

#[test]
fn mixed_missing_damaged_and_replaced_shards_are_named() {
    let d = data(30, 8, 2);
    let f = fixture("refusals", &d, &[10, 20], "cosine", json!({"kind": "flat"}));
    let dir = &f.dir;
    // Mixed: another dimension, another metric, another embedder.
    let d4 = data(5, 4, 2);
    write_pack(&dir.join("dim4.vpack"), &d4, 0..5, "cosine", json!({}));
    write_pack(&dir.join("dot.vpack"), &d, 0..5, "dot", json!({}));
    {
        let options: BuilderOptions =
            serde_json::from_value(json!({"dimension": 8, "metric": "cosine"})).unwrap();
        let mut w = PackWriter::new(options).unwrap();
        let chunk: ChunkIn = serde_json::from_value(json!({"text": "x"})).unwrap();
        w.add(vec![chunk], &d.vectors[..8]).unwrap();
        w.finish_to_file(manifest(8, "other"), &dir.join("other.vpack"))
            .unwrap();
    }
    for (bad, what) in [
        ("dim4.vpack", "dimension"),
        ("dot.vpack", "metric"),
        ("other.vpack", "embedder"),
    ] {
        let shards = vec![f.shard_paths[0].clone(), dir.join(bad)];
        let (c, msg) = code(write_set(&dir.join("mixed.vpackset"), &shards));
        assert_eq!(c, INVALID_ARG, "{msg}");
        assert!(msg.contains(bad) && msg.contains(what), "{msg}");
    }
    assert!(!dir.join("mixed.vpackset").exists());
    // Writing: no shards, a shard twice, a shard outside the folder, a missing shard.
    assert_eq!(code(write_set(&dir.join("x.vpackset"), &[])).0, INVALID_ARG);
    let twice = vec![f.shard_paths[0].clone(), f.shard_paths[0].clone()];
    assert_eq!(
        code(write_set(&dir.join("x.vpackset"), &twice)).0,
        INVALID_ARG
    );
    let (c, msg) = code(write_set(
        &dir.join("shards/inner.vpackset"),
        &[dir.join("one.vpack")],
    ));
    assert_eq!(c, INVALID_ARG, "{msg}");
    assert!(msg.contains("not inside"), "{msg}");
    let (c, msg) = code(write_set(
        &dir.join("x.vpackset"),
        &[dir.join("nope.vpack")],
    ));
    assert_eq!(c, IO, "{msg}");
    assert!(msg.contains("nope.vpack"), "{msg}");

    // Opening: a missing shard.
    let part1 = f.shard_paths[1].clone();
    let saved = std::fs::read(&part1).unwrap();
    std::fs::remove_file(&part1).unwrap();
    let (c, msg) = code(AnyPack::open(&f.set_path, false));
    assert_eq!(c, IO, "{msg}");
    assert!(msg.contains("shard 1 (shards/part-1.vpack)"), "{msg}");
    // A damaged header (caught by the O(1) open checks).
    let mut bad = saved.clone();
    bad[40] ^= 0xff;
    std::fs::write(&part1, &bad).unwrap();
    let (c, msg) = code(AnyPack::open(&f.set_path, false));
    assert_eq!(c, CORRUPT, "{msg}");
    assert!(msg.contains("part-1.vpack"), "{msg}");
    // A shard replaced by another valid pack.
    write_pack(&part1, &d, 0..10, "cosine", json!({}));
    let (c, msg) = code(AnyPack::open(&f.set_path, false));
    assert_eq!(c, CORRUPT, "{msg}");
    assert!(
        msg.contains("part-1.vpack") && msg.contains("fingerprint"),
        "{msg}"
    );
    // Damage in the vectors: found by the first search, which names the shard.
    let mut bad = saved.clone();
    let n = bad.len();
    bad[n - 8] ^= 0x55;
    std::fs::write(&part1, &bad).unwrap();
    let set = AnyPack::open(&f.set_path, false).unwrap();
    let (c, msg) = code(set.search_with(&[0.3; 8], 5, None, None));
    assert_eq!(c, CORRUPT, "{msg}");
    assert!(msg.contains("part-1.vpack"), "{msg}");
    let (c, msg) = code(AnyPack::open(&f.set_path, true));
    assert_eq!(c, CORRUPT, "{msg}");
    assert!(msg.contains("part-1.vpack"), "{msg}");
    std::fs::write(&part1, &saved).unwrap();
    AnyPack::open(&f.set_path, true).unwrap();

    // Bad set files.
    let cases: [(&str, i32); 7] = [
        ("{", CORRUPT),
        ("{}", CORRUPT),
        (
            r#"{"format": "vpack-set", "version": 2, "chunk_count": 0, "shards": []}"#,
            UNSUPPORTED_VERSION,
        ),
        (
            r#"{"format": "vpack-set", "version": 1, "chunk_count": 0, "shards": []}"#,
            CORRUPT,
        ),
        (
            r#"{"format": "vpack-set", "version": 1, "chunk_count": 0, "shards": [], "x": 1}"#,
            CORRUPT,
        ),
        (
            r#"{"format": "vpack-set", "version": 1, "chunk_count": 1, "shards": [{"path": "/etc/passwd", "chunk_count": 1, "fingerprint": ""}]}"#,
            CORRUPT,
        ),
        (
            r#"{"format": "vpack-set", "version": 1, "chunk_count": 1, "shards": [{"path": "all.vpackset", "chunk_count": 1, "fingerprint": ""}]}"#,
            CORRUPT,
        ),
    ];
    for (text, want) in cases {
        std::fs::write(dir.join("bad.vpackset"), text).unwrap();
        let (c, msg) = code(AnyPack::open(&dir.join("bad.vpackset"), false));
        assert_eq!(c, want, "{text}: {msg}");
    }
    // A chunk count that disagrees with the shards.
    let text = std::fs::read_to_string(&f.set_path).unwrap();
    std::fs::write(
        dir.join("bad.vpackset"),
        text.replacen("\"chunk_count\": 30", "\"chunk_count\": 31", 1),
    )
    .unwrap();
    let (c, msg) = code(AnyPack::open(&dir.join("bad.vpackset"), false));
    assert_eq!(c, CORRUPT, "{msg}");
    let _ = std::fs::remove_dir_all(&f.dir);
}

/// `d` with texts of words drawn from a small vocabulary (some of them identifiers), so
/// BM25 has frequent and rare terms, repeats and ties to get right.
fn with_words(mut d: Data, seed: u64) -> Data {
    const WORDS: [&str; 12] = [
        "alpha",
        "beta",
        "gamma",
        "os.scandir",
        "pg_dump",
        "socket",
        "delta",
        "epsilon",
        "query",
        "shard",
        "merge",
        "kappa",
    ];
    let mut rng = Rng(seed);
    for text in d.texts.iter_mut() {
        let len = 1 + (rng.next() % 9) as usize;
        // Skewed draws: early words are common, late ones rare.
        let words: Vec<&str> = (0..len)
            .map(|_| WORDS[((rng.float() * rng.float()).abs() * WORDS.len() as f32) as usize])
            .collect();
        *text = words.join(" ");
    }
    d
}

#[test]
fn lexical_and_hybrid_sets_answer_as_one_pack() {
    use vpack::pack::Mode;
    let d = with_words(data(300, 8, 11), 5);
    let index = json!({"kind": "flat", "lexical": {}});
    let f = fixture("lexical", &d, &[40, 40, 41, 170, 299], "cosine", index);
    let texts = [
        "alpha",
        "kappa merge",
        "os.scandir pg_dump",
        "scandir",
        "shard shard query",
        "nothing matches",
    ];
    for (qi, q) in queries(d.dim, texts.len(), 21).iter().enumerate() {
        let text = texts[qi];
        for filter in filters() {
            for k in [0, 1, 3, 10, 57, 150, 301] {
                for mode in [Mode::Lexical, Mode::Hybrid] {
                    let run = |p: &AnyPack| {
                        p.search_mode(mode, Some(q), Some(text), k, filter.as_ref(), None)
                            .unwrap()
                    };
                    let want = f
                        .one
                        .search_mode(mode, Some(q), Some(text), k, filter.as_ref(), None)
                        .unwrap();
                    assert_eq!(
                        bits(&run(&f.set)),
                        bits(&want),
                        "{mode:?} {text:?} k={k} filter={filter:?}"
                    );
                }
            }
        }
    }
    let lexical = f
        .set
        .search_mode(Mode::Lexical, None, Some("kappa"), 300, None, None)
        .unwrap();
    assert!(
        !lexical.is_empty() && lexical.len() < 300,
        "only chunks holding the word"
    );

    // Every shard needs a lexical index with the same settings; the error names the shard.
    let other = f.dir.join("shards").join("other.vpack");
    write_pack(
        &other,
        &d,
        0..10,
        "cosine",
        json!({"kind": "flat", "lexical": {"k1": 1.2}}),
    );
    let plain = f.dir.join("shards").join("plain.vpack");
    write_pack(&plain, &d, 10..20, "cosine", json!({"kind": "flat"}));
    for (shard, want) in [(&other, INVALID_ARG), (&plain, NOT_FOUND)] {
        let path = f.dir.join("mixed.vpackset");
        write_set(&path, &[f.shard_paths[0].clone(), shard.clone()]).unwrap();
        let set = AnyPack::open(&path, false).unwrap();
        let name = shard.file_name().unwrap().to_str().unwrap();
        for mode in [Mode::Lexical, Mode::Hybrid] {
            let (c, msg) =
                code(set.search_mode(mode, Some(&[1.0; 8]), Some("alpha"), 5, None, None));
            assert_eq!(c, want, "{msg}");
            assert!(msg.contains(name), "{msg}");
        }
        // Dense queries still work.
        assert_eq!(set.search_with(&[1.0; 8], 5, None, None).unwrap().len(), 5);
    }
    let _ = std::fs::remove_dir_all(&f.dir);
}
