//! The .vpack format and `Pack` through the crate's public Rust API: determinism, round
//! trips per metric, input validation, manifest rules, corruption detection, files on
//! disk (open / verify / atomic save), empty packs and top-k ordering.

use serde_json::{json, Map, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use vpack::error::Error;
use vpack::format::writer::{BuilderOptions, ChunkIn, PackWriter};
use vpack::pack::Pack;

// Stable status codes (see src/error.rs).
const INVALID_ARG: i32 = 2;
const DIMENSION_MISMATCH: i32 = 5;
const IO: i32 = 6;
const CORRUPT: i32 = 7;
const UNSUPPORTED_VERSION: i32 = 8;
const LIMIT: i32 = 10;
const NOT_FOUND: i32 = 12;

// Layout constants of format version 0x02 (see src/format/mod.rs).
const HEADER_LEN: usize = 64;
const SECTION_ENTRY_LEN: usize = 32;
const VERSION_BYTE: usize = 8;
const KIND_MANIFEST: u32 = 1;
const KIND_CHUNK_TABLE: u32 = 2;
const KIND_CHUNK_DATA: u32 = 3;
const KIND_VECTORS: u32 = 4;
const KIND_CHECKSUMS: u32 = 5;
const BLOCK_SIZE: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A PackWriter plus the manifest it will be finished with, so each test states its
/// options and manifest in one JSON value: `{"dimension", "metric", "manifest"}`.
struct TestWriter {
    inner: PackWriter,
    manifest: Map<String, Value>,
}

impl TestWriter {
    fn add(&mut self, chunks: Vec<ChunkIn>, vectors: &[f32]) -> Result<(), Error> {
        self.inner.add(chunks, vectors)
    }
    fn len(&self) -> u64 {
        self.inner.len()
    }
    fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }
    fn finish(self) -> Result<Vec<u8>, Error> {
        self.inner.finish(self.manifest)
    }
    fn into_pack(self) -> Result<Pack, Error> {
        Pack::from_writer(self.inner, self.manifest)
    }
}

fn try_writer(mut v: Value) -> Result<TestWriter, Error> {
    let manifest = match v.as_object_mut().and_then(|o| o.remove("manifest")) {
        Some(Value::Object(m)) => m,
        Some(other) => panic!("test manifest must be an object, got {other}"),
        None => Map::new(),
    };
    let options: BuilderOptions = serde_json::from_value(v).expect("builder options deserialize");
    Ok(TestWriter {
        inner: PackWriter::new(options)?,
        manifest,
    })
}

fn writer(v: Value) -> TestWriter {
    try_writer(v).expect("PackWriter::new")
}

fn chunk(text: &str, metadata: Value) -> ChunkIn {
    serde_json::from_value(json!({ "text": text, "metadata": metadata })).expect("ChunkIn")
}

/// The error of `r`, panicking (with `what`) when it is `Ok`.
fn expect_err<T>(r: Result<T, Error>, what: &str) -> Error {
    match r {
        Ok(_) => panic!("{what}: expected an error, got Ok"),
        Err(e) => e,
    }
}

fn assert_code<T>(r: Result<T, Error>, code: i32, what: &str) {
    let e = expect_err(r, what);
    assert_eq!(e.code(), code, "{what}: wrong code for error `{e}`");
}

/// `Pack::from_bytes`, turning a panic into `Err(message)`.
fn load(bytes: &[u8]) -> Result<Result<Pack, Error>, String> {
    catch_unwind(AssertUnwindSafe(|| Pack::from_bytes(bytes))).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "non-string panic".into())
    })
}

/// Outcome of loading bytes: "ok", "panic: ...", or "code N (message)".
fn outcome(bytes: &[u8]) -> (Option<i32>, String) {
    match load(bytes) {
        Ok(Ok(_)) => (None, "Ok".into()),
        Ok(Err(e)) => (Some(e.code()), format!("code {} ({e})", e.code())),
        Err(p) => (None, format!("PANIC: {p}")),
    }
}

/// The five chunks of the fixture pack: ASCII, non-ASCII, empty text with no metadata,
/// nested metadata.
fn fixture_chunks() -> Vec<ChunkIn> {
    vec![
        chunk("alpha", json!({"n": 1, "lang": "en"})),
        chunk(
            "héllo wörld — 日本語 🚀",
            json!({
                "zeta": 0,
                "nested": {"b": [1, 2, {"y": true, "x": null}], "a": "ß"},
                "émoji": "🚀"
            }),
        ),
        chunk("", json!({})),
        chunk("delta\nline two\t\"quoted\"", json!({"k": "v"})),
        chunk("epsilon", json!({"deep": {"z": {"b": 2, "a": 1}, "a": []}})),
    ]
}

/// Expected canonical metadata JSON of `fixture_chunks` (keys sorted bytewise).
const FIXTURE_META: [&str; 5] = [
    r#"{"lang":"en","n":1}"#,
    r#"{"nested":{"a":"ß","b":[1,2,{"x":null,"y":true}]},"zeta":0,"émoji":"🚀"}"#,
    "{}",
    r#"{"k":"v"}"#,
    r#"{"deep":{"a":[],"z":{"a":1,"b":2}}}"#,
];

const FIXTURE_TEXT: [&str; 5] = [
    "alpha",
    "héllo wörld — 日本語 🚀",
    "",
    "delta\nline two\t\"quoted\"",
    "epsilon",
];

const DIM: usize = 4;

/// Row-major vectors of the fixture (5 x 4 = 80 bytes, so the vector section is followed
/// by 48 bytes of zero padding).
const FIXTURE_VECTORS: [f32; 20] = [
    1.0, 0.0, 0.0, 0.0, //
    0.0, 2.0, 0.0, 0.0, //
    0.0, 0.0, 3.0, 0.0, //
    1.0, 1.0, 0.0, 0.0, //
    0.0, 0.0, 0.0, -1.0,
];

fn fixture_writer(metric: &str) -> TestWriter {
    let mut w = writer(json!({
        "dimension": DIM,
        "metric": metric,
        "manifest": {"name": "fixture", "source": {"root": "/data", "files": 3}}
    }));
    w.add(fixture_chunks(), &FIXTURE_VECTORS).expect("add");
    w
}

fn fixture_bytes(metric: &str) -> Vec<u8> {
    fixture_writer(metric).finish().expect("finish")
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[derive(Debug, Clone, Copy)]
struct Sec {
    kind: u32,
    offset: usize,
    len: usize,
}

/// The section table of a well-formed image.
fn sections(b: &[u8]) -> Vec<Sec> {
    sections_n(b, u32_at(b, 12) as usize)
}

/// The first `n` section-table entries (the caller checks they are in bounds).
fn sections_n(b: &[u8], n: usize) -> Vec<Sec> {
    (0..n)
        .map(|i| {
            let entry = HEADER_LEN + i * SECTION_ENTRY_LEN;
            Sec {
                kind: u32_at(b, entry),
                offset: u64_at(b, entry + 8) as usize,
                len: u64_at(b, entry + 16) as usize,
            }
        })
        .collect()
}

/// Where the section-table entry of `kind` starts.
fn entry_of(b: &[u8], kind: u32) -> usize {
    let i = sections(b)
        .iter()
        .position(|s| s.kind == kind)
        .unwrap_or_else(|| panic!("no section of kind {kind}"));
    HEADER_LEN + i * SECTION_ENTRY_LEN
}

fn section(b: &[u8], kind: u32) -> Sec {
    sections(b)
        .into_iter()
        .find(|s| s.kind == kind)
        .unwrap_or_else(|| panic!("no section of kind {kind}"))
}

/// Where byte `pos` of a well-formed image lies.
fn region(b: &[u8], pos: usize) -> String {
    if pos < HEADER_LEN {
        return "header".into();
    }
    let table_end = HEADER_LEN + sections(b).len() * SECTION_ENTRY_LEN;
    if pos < table_end {
        return "section table".into();
    }
    for s in sections(b) {
        if (s.offset..s.offset + s.len).contains(&pos) {
            return format!("section kind {}", s.kind);
        }
    }
    "zero padding".into()
}

/// Recomputes every checksum (sections, section table, header) after a deliberate edit,
/// so structural checks behind the checksums can be exercised.
fn reseal(b: &mut [u8]) {
    let declared = u32_at(b, 12) as usize;
    let n = declared.min((b.len() - HEADER_LEN) / SECTION_ENTRY_LEN);
    reseal_blocks(b, n);
    for i in 0..n {
        let entry = HEADER_LEN + i * SECTION_ENTRY_LEN;
        let offset = u64_at(b, entry + 8);
        let len = u64_at(b, entry + 16);
        match offset.checked_add(len) {
            Some(end) if end <= b.len() as u64 => {
                let crc = crc32(&b[offset as usize..end as usize]);
                b[entry + 24..entry + 28].copy_from_slice(&crc.to_le_bytes());
            }
            _ => {} // out of bounds: the reader must reject it before any checksum
        }
    }
    if declared == n {
        let crc = crc32(&b[HEADER_LEN..HEADER_LEN + n * SECTION_ENTRY_LEN]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32(&b[..60]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
}

/// Rewrites the block CRCs in the checksum section (when it and every covered section
/// are in bounds and the counts fit), so edits elsewhere keep valid block checksums.
fn reseal_blocks(b: &mut [u8], n: usize) {
    let secs = sections_n(b, n);
    let Some(sums) = secs.iter().find(|s| s.kind == KIND_CHECKSUMS) else {
        return;
    };
    let mut crcs = Vec::new();
    for s in secs
        .iter()
        .filter(|s| s.kind != KIND_MANIFEST && s.kind != KIND_CHECKSUMS)
    {
        let Some(end) = s.offset.checked_add(s.len).filter(|e| *e <= b.len()) else {
            return;
        };
        crcs.extend(b[s.offset..end].chunks(BLOCK_SIZE).map(crc32));
    }
    let in_bounds = sums
        .offset
        .checked_add(sums.len)
        .is_some_and(|e| e <= b.len());
    if !in_bounds || sums.len != 16 + 4 * crcs.len() {
        return;
    }
    for (i, crc) in crcs.iter().enumerate() {
        let at = sums.offset + 16 + 4 * i;
        b[at..at + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

/// CRC-32 (IEEE, reflected, as crc32fast computes it), bitwise so the test does not
/// depend on the library's own checksum code.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vpack-test-{}-{}", std::process::id(), test));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("read temp dir")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn hits(pack: &Pack, query: &[f32], k: usize) -> Vec<(u64, f32)> {
    pack.search(query, k, None)
        .expect("search")
        .iter()
        .map(|h| (h.id, h.score))
        .collect()
}

fn assert_hits(got: &[(u64, f32)], want: &[(u64, f32)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: hit count in {got:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.0, w.0, "{what}: id of hit {i} in {got:?}");
        assert!(
            (g.1 - w.1).abs() < 1e-5,
            "{what}: score of hit {i} is {}, expected {} ({got:?})",
            g.1,
            w.1
        );
    }
}

// ---------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------

#[test]
fn identical_builds_give_identical_bytes() {
    for metric in ["cosine", "dot", "l2"] {
        let a = fixture_bytes(metric);
        let b = fixture_bytes(metric);
        assert_eq!(a, b, "{metric}: two builds of the same input differ");
        assert_eq!(a.len() % 64, 0, "{metric}: file length is 64-byte aligned");
    }
    // Guard against a vacuous comparison: a one-character change must change the image.
    let mut w = writer(json!({"dimension": DIM, "metric": "cosine",
        "manifest": {"name": "fixture", "source": {"root": "/data", "files": 3}}}));
    let mut chunks = fixture_chunks();
    chunks[0].text = "alphA".into();
    w.add(chunks, &FIXTURE_VECTORS).unwrap();
    assert_ne!(w.finish().unwrap(), fixture_bytes("cosine"));
}

#[test]
fn batching_does_not_change_bytes() {
    for metric in ["cosine", "dot", "l2"] {
        let one = fixture_bytes(metric);
        let manifest = json!({"name": "fixture", "source": {"root": "/data", "files": 3}});
        // Two batches (2 + 3 chunks), and manifest keys given in a different order.
        let mut w = writer(json!({
            "manifest": {"source": {"files": 3, "root": "/data"}, "name": "fixture"},
            "metric": metric,
            "dimension": DIM
        }));
        let mut chunks = fixture_chunks();
        let rest = chunks.split_off(2);
        w.add(chunks, &FIXTURE_VECTORS[..2 * DIM]).unwrap();
        w.add(rest, &FIXTURE_VECTORS[2 * DIM..]).unwrap();
        assert_eq!(w.len(), 5);
        assert_eq!(w.finish().unwrap(), one, "{metric}: 2 batches vs 1");

        // One chunk per batch, with empty batches in between.
        let mut w = writer(json!({"dimension": DIM, "metric": metric, "manifest": manifest}));
        for (i, c) in fixture_chunks().into_iter().enumerate() {
            w.add(Vec::new(), &[]).unwrap();
            w.add(vec![c], &FIXTURE_VECTORS[i * DIM..(i + 1) * DIM])
                .unwrap();
        }
        assert_eq!(w.finish().unwrap(), one, "{metric}: 5 batches vs 1");
    }
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

#[test]
fn round_trip_preserves_bytes_text_and_metadata() {
    for metric in ["cosine", "dot", "l2"] {
        let bytes = fixture_bytes(metric);
        let pack = Pack::from_bytes(&bytes).expect("from_bytes");
        assert_eq!(pack.reader().bytes(), &bytes[..], "{metric}: bytes kept");
        assert_eq!(pack.len(), 5);
        assert!(!pack.is_empty());
        assert_eq!(pack.dimension(), DIM);
        for id in 0..5 {
            let c = pack.chunk(id).expect("chunk");
            assert_eq!(c.text, FIXTURE_TEXT[id], "{metric}: text of chunk {id}");
            assert_eq!(
                std::str::from_utf8(c.metadata).expect("metadata is UTF-8"),
                FIXTURE_META[id],
                "{metric}: metadata of chunk {id}"
            );
        }
        assert_code(pack.chunk(5), NOT_FOUND, "chunk past the end");
        assert_code(pack.chunk(usize::MAX), NOT_FOUND, "chunk usize::MAX");
        // Serializing the loaded pack again gives the same image.
        let again = Pack::from_bytes(pack.reader().bytes()).unwrap();
        assert_eq!(again.reader().bytes(), &bytes[..]);
    }
}

#[test]
fn cosine_search_finds_expected_neighbours() {
    let pack = Pack::from_bytes(&fixture_bytes("cosine")).unwrap();
    // q = (1, 0.9, 0, 0), |q| = sqrt(1.81). Stored rows are unit vectors:
    // v3 = (1,1)/sqrt2 -> 1.9/(sqrt1.81*sqrt2) = 0.998618; v0 -> 1/sqrt1.81 = 0.743294;
    // v1 -> 0.9/sqrt1.81 = 0.668965; v2, v4 -> 0 (tie: lower id first).
    assert_hits(
        &hits(&pack, &[1.0, 0.9, 0.0, 0.0], 5),
        &[
            (3, 0.998_618),
            (0, 0.743_294),
            (1, 0.668_965),
            (2, 0.0),
            (4, 0.0),
        ],
        "cosine q=(1,.9,0,0)",
    );
    // Scale of the query does not matter for cosine.
    assert_hits(
        &hits(&pack, &[0.0, 0.0, 0.0, -7.5], 2),
        &[(4, 1.0), (0, 0.0)],
        "cosine q=(0,0,0,-7.5)",
    );
}

#[test]
fn dot_search_finds_expected_neighbours() {
    let pack = Pack::from_bytes(&fixture_bytes("dot")).unwrap();
    // Raw inner products with (1, 0.9, 0, 0): v3 1.9, v1 1.8, v0 1.0, v2 0, v4 0.
    assert_hits(
        &hits(&pack, &[1.0, 0.9, 0.0, 0.0], 5),
        &[(3, 1.9), (1, 1.8), (0, 1.0), (2, 0.0), (4, 0.0)],
        "dot q=(1,.9,0,0)",
    );
    // Stored vectors are not normalised for dot: (0,0,1,0) scores 3 against v2.
    assert_hits(
        &hits(&pack, &[0.0, 0.0, 1.0, -2.0], 2),
        &[(2, 3.0), (4, 2.0)],
        "dot q=(0,0,1,-2)",
    );
    let v = pack.reader().vectors().unwrap();
    assert_eq!(v, &FIXTURE_VECTORS[..], "dot stores vectors unchanged");
}

#[test]
fn l2_search_finds_expected_neighbours() {
    let pack = Pack::from_bytes(&fixture_bytes("l2")).unwrap();
    // Squared distances from (0, 1.5, 0, 0): v1 0.25, v3 1.25, v0 3.25, v4 3.25, v2 11.25;
    // score = -distance, ties by lower id.
    assert_hits(
        &hits(&pack, &[0.0, 1.5, 0.0, 0.0], 5),
        &[(1, -0.25), (3, -1.25), (0, -3.25), (4, -3.25), (2, -11.25)],
        "l2 q=(0,1.5,0,0)",
    );
    // An exact stored vector is at distance 0.
    assert_hits(
        &hits(&pack, &[1.0, 1.0, 0.0, 0.0], 2),
        &[(3, 0.0), (0, -1.0)],
        "l2 q=v3",
    );
    assert_eq!(pack.reader().vectors().unwrap(), &FIXTURE_VECTORS[..]);
}

// ---------------------------------------------------------------------------------------
// Cosine specifics and input validation
// ---------------------------------------------------------------------------------------

#[test]
fn cosine_normalises_stored_vectors() {
    let pack = Pack::from_bytes(&fixture_bytes("cosine")).unwrap();
    let v = pack.reader().vectors().unwrap();
    assert_eq!(v.len(), 5 * DIM);
    for (i, row) in v.chunks_exact(DIM).enumerate() {
        let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6, "row {i} has norm {norm}");
    }
    // Querying with each original (unnormalised) vector scores ~1.0 against itself.
    for (i, q) in FIXTURE_VECTORS.chunks_exact(DIM).enumerate() {
        let top = hits(&pack, q, 1);
        assert_eq!(top[0].0, i as u64, "self query {i}");
        assert!((top[0].1 - 1.0).abs() < 1e-6, "self score {}", top[0].1);
    }
}

/// Normalisation must not depend on the magnitude of a finite vector: the squared norm
/// of (1e20, 0, 0, 0) overflows f32 and that of (1e-25, 0, 0, 0) underflows to 0.
#[test]
fn cosine_normalises_vectors_of_any_finite_magnitude() {
    let mut w = writer(json!({"dimension": 4, "metric": "cosine"}));
    let vectors = [
        1e20, 0.0, 0.0, 0.0, //
        1e-25, 0.0, 0.0, 0.0, //
        0.0, 3e19, 4e19, 0.0, //
        0.0, 1.0, 0.0, 0.0,
    ];
    let chunks = (0..4).map(|i| chunk(&i.to_string(), json!({}))).collect();
    w.add(chunks, &vectors).unwrap();
    let pack = w.into_pack().unwrap();
    let mut bad = Vec::new();
    for (i, row) in pack.reader().vectors().unwrap().chunks_exact(4).enumerate() {
        let norm = row.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
        if (norm - 1.0).abs() > 1e-6 {
            bad.push(format!("stored row {i} = {row:?} has norm {norm}"));
        }
    }
    match pack.search(&[1.0, 0.0, 0.0, 0.0], 4, None) {
        Ok(h) if h.len() == 4 && (h[0].score - 1.0).abs() < 1e-6 => {}
        other => bad.push(format!("query (1,0,0,0): {other:?}")),
    }
    for q in [[1e-25f32, 0.0, 0.0, 0.0], [1e20, 0.0, 0.0, 0.0]] {
        match pack.search(&q, 1, None) {
            Ok(h) if h.len() == 1 && (h[0].score - 1.0).abs() < 1e-6 => {}
            other => bad.push(format!("query {q:?}: {other:?}")),
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn search_rejects_bad_queries() {
    for metric in ["cosine", "dot", "l2"] {
        let pack = Pack::from_bytes(&fixture_bytes(metric)).unwrap();
        assert_code(
            pack.search(&[0.0; 3], 1, None),
            DIMENSION_MISMATCH,
            "short query",
        );
        assert_code(
            pack.search(&[1.0; 5], 1, None),
            DIMENSION_MISMATCH,
            "long query",
        );
        assert_code(pack.search(&[], 1, None), DIMENSION_MISMATCH, "empty query");
        assert_code(
            pack.search(&[1.0, f32::NAN, 0.0, 0.0], 1, None),
            INVALID_ARG,
            "NaN query",
        );
        assert_code(
            pack.search(&[f32::INFINITY, 0.0, 0.0, 0.0], 1, None),
            INVALID_ARG,
            "infinite query",
        );
        assert_code(
            pack.search(&[1.0; 4], (1 << 20) + 1, None),
            LIMIT,
            "k above the limit",
        );
    }
    let cos = Pack::from_bytes(&fixture_bytes("cosine")).unwrap();
    assert_code(
        cos.search(&[0.0; 4], 3, None),
        INVALID_ARG,
        "zero cosine query",
    );
    // dot and l2 accept a zero query.
    for metric in ["dot", "l2"] {
        let pack = Pack::from_bytes(&fixture_bytes(metric)).unwrap();
        assert_eq!(
            pack.search(&[0.0; 4], 3, None).unwrap().len(),
            3,
            "{metric}"
        );
    }
}

#[test]
fn non_finite_vectors_are_rejected_and_nothing_is_appended() {
    for metric in ["cosine", "dot", "l2"] {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut w = fixture_writer(metric);
            let mut vectors = [0.5f32; 2 * DIM];
            vectors[DIM + 2] = bad;
            let r = w.add(
                vec![
                    chunk("bad one", json!({})),
                    chunk("bad two", json!({"a": 1})),
                ],
                &vectors,
            );
            assert_code(r, INVALID_ARG, &format!("{metric}: {bad} in vectors"));
            assert_eq!(w.len(), 5, "{metric}: nothing appended");
            assert_eq!(
                w.finish().unwrap(),
                fixture_bytes(metric),
                "{metric}: failed add left a trace in the image"
            );
        }
    }
}

#[test]
fn wrong_vector_count_is_rejected_and_nothing_is_appended() {
    let mut w = fixture_writer("cosine");
    let r = w.add(vec![chunk("x", json!({}))], &[1.0; DIM + 1]);
    assert_code(r, DIMENSION_MISMATCH, "one chunk, five floats");
    let r = w.add(
        vec![chunk("x", json!({})), chunk("y", json!({}))],
        &[1.0; DIM],
    );
    assert_code(r, DIMENSION_MISMATCH, "two chunks, one vector");
    let r = w.add(Vec::new(), &[1.0; DIM]);
    assert_code(r, DIMENSION_MISMATCH, "no chunks, one vector");
    assert_eq!(w.len(), 5);
    assert_eq!(w.finish().unwrap(), fixture_bytes("cosine"));
}

#[test]
fn builder_options_are_validated() {
    assert_code(
        try_writer(json!({"dimension": 0})),
        INVALID_ARG,
        "dimension 0",
    );
    assert_code(
        try_writer(json!({"dimension": 65_537})),
        INVALID_ARG,
        "dimension 65537",
    );
    assert_code(
        try_writer(json!({"dimension": 4, "metric": "hamming"})),
        INVALID_ARG,
        "unknown metric",
    );
    let w = try_writer(json!({"dimension": 65_536})).expect("max dimension");
    assert_eq!(w.dimension(), 65_536);
    assert!(w.is_empty());
    // The default metric is cosine.
    let pack = writer(json!({"dimension": 2})).into_pack().unwrap();
    assert_eq!(pack.reader().manifest()["metric"], "cosine");
}

// ---------------------------------------------------------------------------------------
// Manifest
// ---------------------------------------------------------------------------------------

#[test]
fn manifest_holds_format_fields_and_caller_keys() {
    let pack = Pack::from_bytes(&fixture_bytes("dot")).unwrap();
    let raw = std::str::from_utf8(pack.reader().manifest_json()).unwrap();
    assert_eq!(
        raw,
        r#"{"chunk_count":5,"dimension":4,"format_version":2,"index":{"kind":"flat"},"metric":"dot","name":"fixture","source":{"files":3,"root":"/data"}}"#,
        "canonical manifest (sorted keys, no spaces)"
    );
    let m = pack.reader().manifest();
    assert_eq!(m["format_version"], json!(2));
    assert_eq!(m["chunk_count"], json!(5));
    assert_eq!(m["metric"], json!("dot"));
    assert_eq!(m["dimension"], json!(4));
    assert_eq!(m["index"]["kind"], json!("flat"));
    assert_eq!(m["name"], json!("fixture"));
}

#[test]
fn manifest_reserved_keys_are_rejected() {
    let cases = [
        ("format_version", json!(2)),
        ("format_version", json!(1)),
        ("format_version", json!("2")),
        ("chunk_count", json!(0)),
        ("chunk_count", json!(5)),
        ("index", json!({"kind": "flat"})),
        ("index", json!("flat")),
        ("dimension", json!(5)),
        ("dimension", json!("4")),
        ("dimension", json!(4.5)),
        ("dimension", Value::Null),
        ("metric", json!("dot")),
        ("metric", json!(null)),
    ];
    for (key, value) in cases {
        let mut manifest = Map::new();
        manifest.insert(key.into(), value.clone());
        manifest.insert("name".into(), json!("x"));
        let r = try_writer(json!({
            "dimension": 4, "metric": "cosine", "manifest": manifest
        }))
        .and_then(TestWriter::finish);
        assert_code(r, INVALID_ARG, &format!("manifest {key} = {value}"));
    }
}

#[test]
fn manifest_may_repeat_dimension_and_metric_with_the_same_value() {
    let w = try_writer(json!({
        "dimension": 4, "metric": "l2",
        "manifest": {"dimension": 4, "metric": "l2", "name": "same"}
    }))
    .expect("same dimension and metric accepted");
    let pack = w.into_pack().unwrap();
    let m = pack.reader().manifest();
    assert_eq!(m["dimension"], json!(4));
    assert_eq!(m["metric"], json!("l2"));
    assert_eq!(m["chunk_count"], json!(0));
    assert_eq!(m["name"], json!("same"));
}

#[test]
fn manifest_embedder_dimension_must_match() {
    let r = try_writer(json!({
        "dimension": 4,
        "manifest": {"embedder": {"kind": "hash", "dimension": 8}}
    }))
    .and_then(TestWriter::finish);
    assert_code(r, DIMENSION_MISMATCH, "embedder dimension 8 vs 4");
    for bad in [
        json!("hash"),
        json!({"kind": "hash"}),
        json!({"kind": "hash", "dimension": 4.0}),
        json!({"kind": "hash", "dimension": "4"}),
        json!({"kind": "hash", "dimension": -1}),
        json!({"kind": "hash", "dimension": null}),
    ] {
        let r = try_writer(json!({"dimension": 4, "manifest": {"embedder": bad.clone()}}))
            .and_then(TestWriter::finish);
        assert_code(r, INVALID_ARG, &format!("embedder {bad}"));
    }

    let w = try_writer(json!({
        "dimension": 4,
        "manifest": {"embedder": {"kind": "some-model", "dimension": 4, "extra": [1, 2]}}
    }))
    .expect("matching embedder dimension accepted");
    let pack = w.into_pack().unwrap();
    assert_eq!(
        pack.reader().manifest()["embedder"],
        json!({"kind": "some-model", "dimension": 4, "extra": [1, 2]})
    );
}

// ---------------------------------------------------------------------------------------
// Corruption via from_bytes
// ---------------------------------------------------------------------------------------

#[test]
fn empty_and_truncated_images_are_corrupt() {
    assert_code(Pack::from_bytes(&[]), CORRUPT, "empty input");
    let bytes = fixture_bytes("cosine");
    let mut failures = Vec::new();
    let mut tried = 0;
    for len in (0..bytes.len()).step_by(7) {
        tried += 1;
        let (code, text) = outcome(&bytes[..len]);
        if code != Some(CORRUPT) {
            failures.push(format!("len {len}: {text}"));
        }
    }
    // The last byte alone and the header alone.
    for len in [bytes.len() - 1, HEADER_LEN, HEADER_LEN - 1] {
        let (code, text) = outcome(&bytes[..len]);
        if code != Some(CORRUPT) {
            failures.push(format!("len {len}: {text}"));
        }
    }
    assert!(
        tried > 50,
        "only {tried} truncations for {} bytes",
        bytes.len()
    );
    assert!(
        failures.is_empty(),
        "truncations not rejected: {failures:#?}"
    );
}

#[test]
fn version_magic_and_trailing_bytes_are_checked() {
    let bytes = fixture_bytes("cosine");
    assert!(Pack::from_bytes(&bytes).is_ok());
    assert_eq!(bytes[VERSION_BYTE], 0x02);
    for v in [0x00u8, 0x01, 0x03, 0xFF] {
        let mut b = bytes.clone();
        b[VERSION_BYTE] = v;
        assert_code(
            Pack::from_bytes(&b),
            UNSUPPORTED_VERSION,
            &format!("version {v:#04x}"),
        );
        // Even with the header checksum fixed up, the version is refused.
        reseal(&mut b);
        assert_code(
            Pack::from_bytes(&b),
            UNSUPPORTED_VERSION,
            &format!("resealed version {v:#04x}"),
        );
    }
    for i in 0..8 {
        let mut b = bytes.clone();
        b[i] ^= 0x20;
        assert_code(Pack::from_bytes(&b), CORRUPT, &format!("magic byte {i}"));
    }
    let mut b = bytes.clone();
    b[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
    assert_code(Pack::from_bytes(&b), CORRUPT, "PNG magic");
    for extra in [&[0u8][..], &[0u8; 64][..], b"trailing garbage"] {
        let mut b = bytes.clone();
        b.extend_from_slice(extra);
        assert_code(
            Pack::from_bytes(&b),
            CORRUPT,
            &format!("{} trailing bytes", extra.len()),
        );
    }
}

/// Every byte outside the inter-section zero padding is covered by a checksum (header,
/// section table or section), so flipping it must be detected.
#[test]
fn byte_flips_outside_padding_are_rejected() {
    let bytes = fixture_bytes("cosine");
    let mut failures = Vec::new();
    let mut tried = 0;
    for pos in 0..bytes.len() {
        let where_ = region(&bytes, pos);
        if where_ == "zero padding" {
            continue;
        }
        tried += 1;
        let mut b = bytes.clone();
        b[pos] ^= 0xFF;
        let (code, text) = outcome(&b);
        let ok = match pos {
            VERSION_BYTE => code == Some(UNSUPPORTED_VERSION),
            _ => code == Some(CORRUPT),
        };
        if !ok {
            failures.push(format!("byte {pos} ({where_}): {text}"));
        }
    }
    assert!(tried > 300, "only {tried} covered bytes");
    assert!(failures.is_empty(), "flips not rejected: {failures:#?}");
}

/// About 200 single-byte flips spread over the whole file, including the zero padding
/// between sections and after the last one: each must give an error, never Ok or a panic.
#[test]
fn byte_flips_anywhere_are_rejected() {
    let bytes = fixture_bytes("cosine");
    let n = bytes.len();
    let mut positions: Vec<usize> = (0..200).map(|i| i * n / 200).collect();
    positions.extend([VERSION_BYTE, n - 1]);
    positions.sort_unstable();
    positions.dedup();
    assert!(positions.len() >= 190);
    assert!(
        positions
            .iter()
            .any(|&p| region(&bytes, p) == "zero padding"),
        "the sample must include padding bytes"
    );
    let mut failures = Vec::new();
    for &pos in &positions {
        let mut b = bytes.clone();
        b[pos] ^= 0xFF;
        let (code, text) = outcome(&b);
        let ok = match code {
            Some(CORRUPT) => pos != VERSION_BYTE,
            Some(UNSUPPORTED_VERSION) => pos == VERSION_BYTE,
            _ => false,
        };
        if !ok {
            failures.push(format!("byte {pos} ({}): {text}", region(&bytes, pos)));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} flips not rejected (file is {n} bytes): {failures:#?}",
        failures.len(),
        positions.len()
    );
}

/// Structural damage hidden behind recomputed checksums is still rejected (and never
/// panics): the reader does not trust offsets, lengths or counts.
#[test]
fn structural_damage_with_valid_checksums_is_rejected() {
    let bytes = fixture_bytes("cosine");
    let mut sealed = bytes.clone();
    reseal(&mut sealed);
    assert_eq!(sealed, bytes, "test CRC helper agrees with the writer");

    let table = section(&bytes, KIND_CHUNK_TABLE);
    let data = section(&bytes, KIND_CHUNK_DATA);
    let vectors = section(&bytes, KIND_VECTORS);
    let manifest = section(&bytes, KIND_MANIFEST);

    type Edit = Box<dyn Fn(&mut Vec<u8>)>;
    fn edit(f: impl Fn(&mut Vec<u8>) + 'static) -> Edit {
        Box::new(f)
    }
    let manifest_edit = |from: &'static str, to: &'static str| -> Edit {
        edit(move |b| {
            let m = &mut b[manifest.offset..manifest.offset + manifest.len];
            let s = std::str::from_utf8(m).unwrap().replacen(from, to, 1);
            assert_eq!(s.len(), m.len(), "same-length manifest edit");
            m.copy_from_slice(s.as_bytes());
        })
    };
    let cases: Vec<(&str, Edit)> = vec![
        (
            "chunk 0 offset past chunk data",
            edit(move |b| {
                let at = table.offset;
                b[at..at + 8].copy_from_slice(&(data.len as u64).to_le_bytes());
            }),
        ),
        (
            "chunk 4 offset u64::MAX",
            edit(move |b| {
                let at = table.offset + 4 * 16;
                b[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
            }),
        ),
        (
            "chunk 1 text length u32::MAX",
            edit(move |b| {
                let at = table.offset + 16 + 8;
                b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
            }),
        ),
        (
            "chunk 0 text not UTF-8",
            edit(move |b| b[data.offset] = 0xFF),
        ),
        (
            "chunk 0 metadata not JSON",
            edit(move |b| b[data.offset + "alpha".len()] = b'['),
        ),
        (
            "NaN in vectors",
            edit(move |b| {
                b[vectors.offset..vectors.offset + 4].copy_from_slice(&f32::NAN.to_le_bytes())
            }),
        ),
        (
            "vector section past end of file",
            edit(move |b| {
                let at = entry_of(b, KIND_VECTORS) + 16;
                b[at..at + 8].copy_from_slice(&(vectors.len as u64 + 1_000).to_le_bytes());
            }),
        ),
        (
            "vector section offset u64::MAX",
            edit(move |b| {
                let at = entry_of(b, KIND_VECTORS) + 8;
                b[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
            }),
        ),
        (
            "manifest section inside the header",
            edit(move |b| {
                let at = HEADER_LEN + 8;
                b[at..at + 8].copy_from_slice(&0u64.to_le_bytes());
            }),
        ),
        (
            "duplicate section kind",
            edit(move |b| {
                let at = entry_of(b, KIND_CHUNK_DATA);
                b[at..at + 4].copy_from_slice(&KIND_CHUNK_TABLE.to_le_bytes());
            }),
        ),
        (
            "section count 3",
            edit(move |b| b[12..16].copy_from_slice(&3u32.to_le_bytes())),
        ),
        (
            "section count u32::MAX",
            edit(move |b| b[12..16].copy_from_slice(&u32::MAX.to_le_bytes())),
        ),
        (
            "vector section misaligned",
            edit(move |b| {
                let at = entry_of(b, KIND_VECTORS);
                b[at + 8..at + 16].copy_from_slice(&(vectors.offset as u64 + 4).to_le_bytes());
            }),
        ),
        (
            "chunk_count too high",
            manifest_edit("\"chunk_count\":5", "\"chunk_count\":6"),
        ),
        (
            "dimension 5",
            manifest_edit("\"dimension\":4", "\"dimension\":5"),
        ),
        (
            "dimension 0",
            manifest_edit("\"dimension\":4", "\"dimension\":0"),
        ),
        ("unknown metric", manifest_edit("\"cosine\"", "\"cosinx\"")),
        ("unknown index kind", manifest_edit("\"flat\"", "\"hnsw\"")),
        ("manifest not JSON", manifest_edit("{", "[")),
    ];
    let mut failures = Vec::new();
    for (name, edit) in &cases {
        let mut b = bytes.clone();
        edit(&mut b);
        assert_ne!(b, bytes, "{name}: the edit changed nothing");
        reseal(&mut b);
        let (code, text) = outcome(&b);
        if code != Some(CORRUPT) {
            failures.push(format!("{name}: {text}"));
        }
    }
    assert!(failures.is_empty(), "not rejected: {failures:#?}");

    // A section kind this library does not know, with valid checksums, comes from a
    // newer writer: unsupported, not corrupt.
    let mut b = bytes.clone();
    let at = entry_of(&b, KIND_CHUNK_DATA);
    b[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
    reseal(&mut b);
    assert_eq!(outcome(&b).0, Some(8), "unknown section kind");
}

// ---------------------------------------------------------------------------------------
// Files: open, verify, save
// ---------------------------------------------------------------------------------------

#[test]
fn open_reads_a_saved_pack() {
    let dir = TempDir::new("open_reads_a_saved_pack");
    let path = dir.path().join("fixture.vpack");
    let bytes = fixture_bytes("cosine");
    Pack::from_bytes(&bytes).unwrap().save(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    for verify in [false, true] {
        let pack = Pack::open(&path, verify).expect("open");
        pack.verify().expect("verify");
        assert_eq!(pack.len(), 5);
        assert_eq!(pack.reader().bytes(), &bytes[..]);
        for id in 0..5 {
            assert_eq!(pack.chunk(id).unwrap().text, FIXTURE_TEXT[id]);
            assert_eq!(
                pack.chunk(id).unwrap().metadata,
                FIXTURE_META[id].as_bytes()
            );
        }
        assert_eq!(hits(&pack, &[1.0, 0.9, 0.0, 0.0], 1)[0].0, 3);
    }
}

#[test]
fn open_without_verify_defers_vector_checksum() {
    let dir = TempDir::new("open_without_verify_defers_vector_checksum");
    let path = dir.path().join("damaged.vpack");
    let mut bytes = fixture_bytes("dot");
    let vectors = section(&bytes, KIND_VECTORS);
    // Exponent byte of the second float of row 1 (2.0 -> a different finite value).
    bytes[vectors.offset + (DIM + 1) * 4 + 3] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();

    let pack = Pack::open(&path, false).expect("open without verify");
    assert_eq!(pack.len(), 5);
    assert_code(pack.verify(), CORRUPT, "verify after flip in vectors");
    assert_code(Pack::open(&path, true), CORRUPT, "open with verify");
    assert_code(Pack::from_bytes(&bytes), CORRUPT, "from_bytes verifies");

    // A damaged manifest is caught even without verify.
    let mut bytes = fixture_bytes("dot");
    let manifest = section(&bytes, KIND_MANIFEST);
    bytes[manifest.offset + 2] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    assert_code(Pack::open(&path, false), CORRUPT, "manifest flip");
}

#[test]
fn open_reports_missing_and_short_files() {
    let dir = TempDir::new("open_reports_missing_and_short_files");
    assert_code(
        Pack::open(&dir.path().join("missing.vpack"), false),
        IO,
        "missing file",
    );
    // A directory is an error (IO where mmap refuses it; CORRUPT where the filesystem
    // reports a directory size below 64 bytes, e.g. tmpfs), never Ok.
    let e = expect_err(Pack::open(dir.path(), false), "open a directory");
    assert!(matches!(e.code(), IO | CORRUPT), "open a directory: {e}");
    for (name, len) in [("ten.vpack", 10), ("zero.vpack", 0), ("header.vpack", 64)] {
        let path = dir.path().join(name);
        let bytes = fixture_bytes("cosine");
        std::fs::write(&path, &bytes[..len]).unwrap();
        for verify in [false, true] {
            assert_code(
                Pack::open(&path, verify),
                CORRUPT,
                &format!("{len}-byte file"),
            );
        }
    }
}

#[test]
fn save_replaces_an_existing_file_completely() {
    let dir = TempDir::new("save_replaces_an_existing_file_completely");
    let path = dir.path().join("pack.vpack");
    std::fs::write(&path, vec![0xABu8; 10_000]).unwrap();

    let big = Pack::from_bytes(&fixture_bytes("cosine")).unwrap();
    big.save(&path).expect("save over a larger file");
    assert_eq!(std::fs::read(&path).unwrap(), big.reader().bytes());
    assert_eq!(dir.entries(), ["pack.vpack"], "no temp files left");

    let small = writer(json!({"dimension": 2})).into_pack().unwrap();
    assert!(small.reader().bytes().len() < big.reader().bytes().len());
    small.save(&path).expect("save a smaller pack over it");
    assert_eq!(std::fs::read(&path).unwrap(), small.reader().bytes());
    let reopened = Pack::open(&path, true).unwrap();
    assert_eq!(reopened.len(), 0);
    assert_eq!(dir.entries(), ["pack.vpack"], "no temp files left");

    // Saving while the old file is mapped does not disturb the open pack.
    let mapped = Pack::open(&path, true).unwrap();
    big.save(&path).unwrap();
    assert_eq!(mapped.reader().bytes(), small.reader().bytes());
    assert_eq!(Pack::open(&path, true).unwrap().len(), 5);
    assert_eq!(dir.entries(), ["pack.vpack"]);
}

#[test]
fn failed_save_leaves_no_temp_file() {
    let dir = TempDir::new("failed_save_leaves_no_temp_file");
    let pack = Pack::from_bytes(&fixture_bytes("l2")).unwrap();

    // Into a directory that does not exist: creating the temp file fails.
    let path = dir.path().join("no-such-dir").join("pack.vpack");
    assert_code(pack.save(&path), IO, "save into a missing directory");
    assert!(!dir.path().join("no-such-dir").exists());
    assert!(dir.entries().is_empty(), "left behind: {:?}", dir.entries());

    // Over a non-empty directory: the temp file is written, the rename fails, and the
    // temp file must be removed again; the directory is untouched.
    let target = dir.path().join("target");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"keep").unwrap();
    assert_code(pack.save(&target), IO, "save over a directory");
    assert_eq!(dir.entries(), ["target"], "temp file left behind");
    assert_eq!(std::fs::read(target.join("keep")).unwrap(), b"keep");

    // A path without a file name is an argument error.
    assert_code(pack.save(Path::new("/")), INVALID_ARG, "save to /");
}

// ---------------------------------------------------------------------------------------
// Empty packs and result ordering
// ---------------------------------------------------------------------------------------

#[test]
fn empty_pack_builds_round_trips_and_searches() {
    let dir = TempDir::new("empty_pack_builds_round_trips_and_searches");
    for metric in ["cosine", "dot", "l2"] {
        let mut w = writer(json!({"dimension": 3, "metric": metric, "manifest": {"n": 0}}));
        w.add(Vec::new(), &[]).unwrap();
        assert!(w.is_empty());
        let bytes = w.finish().unwrap();
        let pack = Pack::from_bytes(&bytes).expect("empty pack loads");
        assert!(pack.is_empty());
        assert_eq!(pack.len(), 0);
        assert_eq!(pack.dimension(), 3);
        assert_eq!(pack.reader().bytes(), &bytes[..]);
        assert_eq!(pack.reader().manifest()["chunk_count"], json!(0));
        assert!(pack.reader().vectors().unwrap().is_empty());
        assert!(pack.search(&[1.0, 2.0, 3.0], 10, None).unwrap().is_empty());
        assert!(pack.search(&[1.0, 2.0, 3.0], 0, None).unwrap().is_empty());
        assert_code(pack.chunk(0), NOT_FOUND, "chunk 0 of an empty pack");
        assert_code(
            pack.search(&[1.0; 4], 1, None),
            DIMENSION_MISMATCH,
            "empty: dim",
        );

        let path = dir.path().join(format!("empty-{metric}.vpack"));
        pack.save(&path).unwrap();
        let opened = Pack::open(&path, true).expect("open empty pack");
        assert!(opened.search(&[1.0, 2.0, 3.0], 5, None).unwrap().is_empty());
        assert_eq!(std::fs::read(&path).unwrap(), bytes);

        // Corruption checks still apply to the smallest image.
        let mut b = bytes.clone();
        b.pop();
        assert_code(Pack::from_bytes(&b), CORRUPT, "truncated empty pack");
    }
}

#[test]
fn k_is_clamped_to_len() {
    let pack = Pack::from_bytes(&fixture_bytes("cosine")).unwrap();
    for (k, want) in [
        (0, 0),
        (1, 1),
        (4, 4),
        (5, 5),
        (6, 5),
        (1000, 5),
        (1 << 20, 5),
    ] {
        let got = pack.search(&[1.0, 2.0, 3.0, 4.0], k, None).unwrap();
        assert_eq!(got.len(), want, "k = {k}");
        let mut ids: Vec<u64> = got.iter().map(|h| h.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), want, "k = {k}: duplicate ids");
    }
}

#[test]
fn results_sorted_by_score_then_lower_id() {
    // Small integer vectors so every dot product is exact and ties are common.
    let dim = 8;
    let count = 60;
    let mut state = 0x2545_F491u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 5) as i32 - 2
    };
    let rows: Vec<Vec<i32>> = (0..count)
        .map(|_| (0..dim).map(|_| next()).collect())
        .collect();
    let mut w = writer(json!({"dimension": dim, "metric": "dot"}));
    let chunks: Vec<ChunkIn> = (0..count)
        .map(|i| chunk(&format!("c{i}"), json!({})))
        .collect();
    let flat: Vec<f32> = rows.iter().flatten().map(|&x| x as f32).collect();
    w.add(chunks, &flat).unwrap();
    let pack = w.into_pack().unwrap();

    let queries: [[i32; 8]; 3] = [
        [1, 0, 0, 0, 0, 0, 0, 0],
        [1, -1, 2, 0, 1, 0, -2, 1],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ];
    for q in queries {
        let mut want: Vec<(u64, i32)> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (i as u64, r.iter().zip(&q).map(|(a, b)| a * b).sum()))
            .collect();
        want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let ties = want.windows(2).filter(|w| w[0].1 == w[1].1).count();
        assert!(ties > 5, "the data must contain ties ({ties})");
        let qf: Vec<f32> = q.iter().map(|&x| x as f32).collect();
        for k in [1, 3, 7, 20, 59, 60, 61, 500] {
            let got: Vec<(u64, i32)> = pack
                .search(&qf, k, None)
                .unwrap()
                .iter()
                .map(|h| (h.id, h.score as i32))
                .collect();
            assert_eq!(got, want[..k.min(count)], "query {q:?}, k = {k}");
        }
    }
}

/// Two identical stored vectors tie; the lower id comes first whatever the metric.
#[test]
fn identical_vectors_tie_by_lower_id() {
    for metric in ["cosine", "dot", "l2"] {
        let mut w = writer(json!({"dimension": 2, "metric": metric}));
        let chunks = (0..6).map(|i| chunk(&i.to_string(), json!({}))).collect();
        let v = [
            0.0, 1.0, //
            3.0, 4.0, //
            0.0, 1.0, //
            3.0, 4.0, //
            -1.0, 0.0, //
            3.0, 4.0,
        ];
        w.add(chunks, &v).unwrap();
        let pack = w.into_pack().unwrap();
        let ids: Vec<u64> = pack
            .search(&[3.0, 4.0], 6, None)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(ids, [1, 3, 5, 0, 2, 4], "{metric}");
        let ids: Vec<u64> = pack
            .search(&[3.0, 4.0], 2, None)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        assert_eq!(ids, [1, 3], "{metric}, k = 2");
    }
}

// ---------------------------------------------------------------------------------------
// Spooled building and streaming finish
// ---------------------------------------------------------------------------------------

#[test]
fn finish_to_file_matches_in_memory_finish_and_spools_leave_nothing() {
    let spool = TempDir::new("spool-dir");
    let out = TempDir::new("spool-out");
    for metric in ["cosine", "dot", "l2"] {
        let mut w = writer(json!({
            "dimension": DIM, "metric": metric, "temp_dir": spool.path().to_str().unwrap(),
            "manifest": {"name": "fixture", "source": {"root": "/data", "files": 3}}
        }));
        w.add(fixture_chunks(), &FIXTURE_VECTORS).expect("add");
        // Spool files are unlinked as soon as they are created.
        assert!(spool.entries().is_empty(), "{:?}", spool.entries());
        let path = out.path().join(format!("{metric}.vpack"));
        let pack = Pack::from_writer_to_file(w.inner, w.manifest, &path).expect("finish to file");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            fixture_bytes(metric),
            "{metric}"
        );
        assert_eq!(pack.len(), 5);
    }
    assert_eq!(out.entries(), ["cosine.vpack", "dot.vpack", "l2.vpack"]);
}

#[test]
fn finish_to_file_failure_leaves_target_untouched() {
    let out = TempDir::new("spool-fail");
    let path = out.path().join("p.vpack");
    std::fs::write(&path, b"previous").unwrap();
    let mut w = writer(json!({"dimension": DIM, "manifest": {"chunk_count": 1}}));
    w.add(fixture_chunks(), &FIXTURE_VECTORS).unwrap();
    let r = Pack::from_writer_to_file(w.inner, w.manifest, &path);
    assert_code(r, INVALID_ARG, "reserved key");
    assert_eq!(std::fs::read(&path).unwrap(), b"previous");
    assert_eq!(out.entries(), ["p.vpack"]);
}

#[test]
fn missing_temp_dir_is_an_io_error() {
    let r = try_writer(json!({"dimension": 4, "temp_dir": "/nonexistent/vpack/spool"}));
    assert_code(r, IO, "temp_dir missing");
}

// ---------------------------------------------------------------------------------------
// Filtered search
// ---------------------------------------------------------------------------------------

#[test]
fn filtered_search_keeps_only_matching_chunks_in_score_order() {
    use vpack::index::filter::Filter;
    let dim = 2;
    let mut w = writer(json!({"dimension": dim, "metric": "dot"}));
    // Scores against [1, 0] are 0.0, 0.1, ..., 0.9 for ids 0..10.
    let chunks: Vec<ChunkIn> = (0..10)
        .map(|i| {
            let dir = if i % 2 == 0 { "guide" } else { "api" };
            chunk(
                &format!("c{i}"),
                json!({"path": format!("{dir}/f{i}.md"), "n": i}),
            )
        })
        .collect();
    let vectors: Vec<f32> = (0..10).flat_map(|i| [i as f32 / 10.0, 0.0]).collect();
    w.add(chunks, &vectors).unwrap();
    let pack = w.into_pack().unwrap();
    let ids = |filter: Value, k: usize| -> Vec<u64> {
        let f = Filter::parse(&filter).unwrap();
        pack.search(&[1.0, 0.0], k, Some(&f))
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect()
    };
    assert_eq!(ids(json!({"path": "guide/*.md"}), 3), vec![8, 6, 4]);
    assert_eq!(ids(json!({"path": "api/*"}), 10), vec![9, 7, 5, 3, 1]);
    assert_eq!(ids(json!({"n": {"$lt": 3}}), 10), vec![2, 1, 0]);
    assert_eq!(ids(json!({"path": "nowhere/**"}), 5), Vec::<u64>::new());
    assert_eq!(ids(json!({}), 2), vec![9, 8]);
}
