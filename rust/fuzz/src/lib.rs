//! The vpack fuzz harness: one function per cargo-fuzz target (`fuzz_targets/*.rs` are
//! one-line wrappers), plus the fixtures and seed inputs they share.
//!
//! `rust/tests/fuzz_regressions.rs` compiles this same file into the main crate's tests
//! (`#[path]`), and replays the committed seed corpus and every minimized finding through
//! these functions under plain `cargo test`. So this file uses only what both builds
//! have: `vpack`'s public API, `serde_json`, `crc32fast` and `std`.
//!
//! Every target must never panic, abort or hang on any input. Beyond that, each checks
//! properties the library promises (a panic below with "oracle" in its message is such a
//! property failing, not a crash inside vpack):
//! - a pack that opens lazily and also verifies gives the same answers as the same bytes
//!   opened in memory, and both paths agree on which bytes are a valid pack;
//! - a damaged pack gives an error, never a different answer (`damaged_pack`);
//! - a pack the writer finished always reads back, with the same texts, metadata and
//!   manifest entries;
//! - search returns an error exactly when its arguments are invalid, with the documented
//!   code, and otherwise hits that are sorted, unique, in range and pass the filter; on a
//!   flat pack they equal a brute-force ranking (filtered search included); on an HNSW
//!   pack every hit carries its exact score, and a filtered search returns
//!   min(k, matching chunks) hits; `search_batch` equals one `search_with` per row.

use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::OnceLock;
use vpack::error::Error;
use vpack::format::reader::{IndexKind, PackReader};
use vpack::format::writer::{BuilderOptions, ChunkIn, PackWriter};
use vpack::index::filter::Filter;
use vpack::index::hnsw::MAX_EF;
use vpack::index::{distance, normalize, Metric, Scored};
use vpack::pack::Pack;

// Layout of format version 0x02 (documented in rust/src/format/mod.rs), used only to
// repair checksums after mutation so the fuzzer gets past them.
const MAGIC: [u8; 8] = [0x89, b'V', b'P', b'A', b'C', b'K', b'\r', b'\n'];
const HEADER_LEN: usize = 64;
const SECTION_ENTRY_LEN: usize = 32;
const KIND_MANIFEST: u32 = 1;
const KIND_CHECKSUMS: u32 = 5;

const MAX_K: usize = vpack::VPACK_MAX_K;
/// Index in `fixtures()` of the first HNSW pack (the same chunks as fixture 0).
const FIRST_HNSW_FIXTURE: usize = 7;
/// Index in `fixtures()` of the first pack with compressed vectors.
const FIRST_CODES_FIXTURE: usize = 13;

// ---------------------------------------------------------------------------------------
// Targets
// ---------------------------------------------------------------------------------------

/// `from_bytes`: `PackReader::from_bytes` and `Pack::from_bytes` on the input, and on the
/// input with its checksums and length field repaired (so mutations reach the structure
/// behind the checksums). A pack that opens is searched, read chunk by chunk and verified.
pub fn from_bytes(data: &[u8]) {
    for bytes in with_repaired(data) {
        let reader = PackReader::from_bytes(&bytes);
        let pack = Pack::from_bytes(&bytes);
        assert_eq!(
            reader.is_ok(),
            pack.is_ok(),
            "oracle: PackReader::from_bytes and Pack::from_bytes disagree"
        );
        if let Ok(pack) = pack {
            exercise(&pack);
        }
    }
}

/// `open_file`: the input written to a file and opened lazily (`Pack::open(path, false)`),
/// then searched with a few queries and the hits' chunks read. Afterwards the same bytes
/// are loaded in memory (fully verified): both must agree on validity, and when the bytes
/// are valid the lazily opened pack must give identical answers.
pub fn open_file(data: &[u8]) {
    for bytes in with_repaired(data) {
        let path = scratch_path("open");
        std::fs::write(&path, &bytes).expect("write scratch file");
        let opened = Pack::open(&path, false);
        let in_memory = Pack::from_bytes(&bytes);
        match (&opened, &in_memory) {
            (Err(_), Ok(_)) => panic!("oracle: Pack::open rejects bytes that from_bytes accepts"),
            (Ok(lazy), Ok(full)) => {
                lazy.verify()
                    .expect("oracle: verify fails on bytes from_bytes accepts");
                assert_eq!(lazy.len(), full.len());
                assert_eq!(lazy.dimension(), full.dimension());
                for q in queries(full) {
                    for (k, filter) in [(3, None), (5, Some(all_filter()))] {
                        assert_eq!(
                            search_key(lazy.search(&q, k, filter)),
                            search_key(full.search(&q, k, filter)),
                            "oracle: lazily opened pack answers differently"
                        );
                    }
                }
                assert_eq!(
                    lazy.to_bytes_checked()
                        .expect("oracle: to_bytes_checked of a valid pack"),
                    &bytes[..]
                );
                exercise(lazy);
            }
            (Ok(lazy), Err(_)) => {
                // Invalid bytes that still open lazily: anything but a panic is fine here
                // (`damaged_pack` checks the answers against the undamaged pack).
                for q in queries(lazy) {
                    for filter in [None, Some(all_filter()), Some(some_filter())] {
                        if let Ok(hits) = lazy.search(&q, 4, filter) {
                            for hit in hits {
                                let _ = lazy.chunk(hit.id as usize).map(|c| c.text.len());
                            }
                        }
                    }
                }
                for id in 0..lazy.len().min(8) {
                    let _ = lazy.chunk(id);
                }
                assert!(
                    lazy.verify().is_err(),
                    "oracle: verify accepts bytes from_bytes rejects"
                );
                assert!(lazy.to_bytes_checked().is_err());
            }
            (Err(_), Err(_)) => {}
        }
        drop(opened);
        let _ = std::fs::remove_file(&path);
    }
}

/// `filter_json`: the input up to its first NUL byte is filter JSON, the rest (if any) a
/// metadata object. A filter that parses is evaluated against fixed metadata objects and
/// the one from the input, and used in a search of the fixture pack, whose hits must
/// equal the brute-force answer (rank everything, keep what passes, take k).
pub fn filter_json(data: &[u8]) {
    let (filter_part, meta_part) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(value) = serde_json::from_slice::<Value>(filter_part) else {
        return;
    };
    let Ok(filter) = Filter::parse(&value) else {
        return;
    };
    let mut metas = edge_metadata();
    if let Some(Ok(m)) = meta_part.map(serde_json::from_slice::<Map<String, Value>>) {
        metas.push(m);
    }
    let verdict = |f: &Filter, m: &Map<String, Value>| f.matches(m).map_err(|e| e.code());
    for m in &metas {
        if let Err(code) = verdict(&filter, m) {
            assert_eq!(
                code,
                vpack::VPACK_E_INVALID_ARG,
                "oracle: filter error code"
            );
        }
    }
    // Wrapping in $and / $or of one element changes nothing.
    for op in ["$and", "$or"] {
        let wrapped = Filter::parse(&json!({ op: [value.clone()] }))
            .expect("oracle: a valid filter inside $and/$or is rejected");
        for m in &metas {
            assert_eq!(
                verdict(&wrapped, m),
                verdict(&filter, m),
                "oracle: {op} of one filter"
            );
        }
    }
    // A flat and an HNSW fixture with the same chunks.
    for fx in [&fixtures()[0], &fixtures()[FIRST_HNSW_FIXTURE]] {
        let dim = fx.pack.dimension();
        let row = fx.pack.reader().vectors().expect("fixture vectors")[..dim].to_vec();
        for q in [&fx.query, &row] {
            for k in [1, 7] {
                let got = fx.pack.search(q, k, Some(&filter));
                check_answer(&fx.pack, q, k, Some(&filter), Some(&fx.metas), got);
            }
        }
    }
}

/// `builder_options`: the input split at NUL bytes into builder options JSON (including
/// `index`: flat, hnsw or auto, m, ef_construction, ef_search, threads), manifest JSON,
/// chunks JSON (`[{"text", "metadata"}]`), and a tail: u16 chunk count (the chunks are
/// repeated up to it) then raw little-endian f32 vector values. Options that
/// `PackWriter::new` accepts get the chunks (default: two) added and are finished in
/// memory or to a file; a finished pack must read back exactly, and an HNSW pack built
/// with another thread count must be byte-identical.
pub fn builder_options(data: &[u8]) {
    let mut parts = data.splitn(4, |&b| b == 0);
    let options_part = parts.next().unwrap_or_default();
    let manifest_part = parts.next();
    let chunks_part = parts.next();
    let mut tail = Cursor(parts.next().unwrap_or_default());
    let Some(options) = sandboxed_options(options_part) else {
        return;
    };
    let metric = options.metric.clone();
    let index = options.index.clone();
    let Ok(mut writer) = PackWriter::new(options) else {
        return;
    };
    let dim = writer.dimension();
    let manifest: Map<String, Value> = manifest_part
        .and_then(|p| serde_json::from_slice(p).ok())
        .unwrap_or_else(|| {
            let mut m = Map::new();
            m.insert("name".into(), json!("fuzz"));
            m
        });
    let given: Vec<ChunkIn> = chunks_part
        .and_then(|p| serde_json::from_slice(p).ok())
        .unwrap_or_else(|| {
            vec![
                chunk("first chunk", json!({"path": "a/b.md", "n": 1})),
                chunk("second chunk ünï", json!({})),
            ]
        });
    let given: Vec<(String, Map<String, Value>)> =
        given.into_iter().map(|c| (c.text, c.metadata)).collect();
    // Bound the work per input: at most 512 chunks (320 with an HNSW graph, whose build
    // goes parallel from 256 nodes on) and 2^16 floats.
    let most = if index.kind.as_deref() == Some("hnsw") {
        320
    } else {
        512
    };
    let count = (tail.u16() as usize)
        .max(given.len())
        .min(most.min((1 << 16) / dim).max(1));
    let expected: Vec<(String, Map<String, Value>)> =
        given.iter().cycle().take(count).cloned().collect();
    let values: Vec<f32> = tail.rest().chunks_exact(4).map(f32_le).collect();
    let vectors: Vec<f32> = (0..expected.len() * dim)
        .map(|i| match values.len() {
            0 => ((i * 31 + i / dim * 17) % 13) as f32 - 6.0,
            n => values[i % n],
        })
        .collect();
    let to_chunks = |list: &[(String, Map<String, Value>)]| -> Vec<ChunkIn> {
        list.iter()
            .map(|(text, metadata)| ChunkIn {
                text: text.clone(),
                metadata: metadata.clone(),
            })
            .collect()
    };
    // A wrong-length add must fail and add nothing.
    assert!(writer.add(vec![chunk("x", json!({}))], &[]).is_err());
    assert_eq!(writer.len(), 0, "oracle: a rejected add appended chunks");
    let n = expected.len();
    if writer.add(to_chunks(&expected), &vectors).is_err() {
        assert!(writer.is_empty(), "oracle: a rejected add appended chunks");
        return;
    }
    assert_eq!(writer.len(), n as u64);
    let pack = if data.len().is_multiple_of(2) {
        let Ok(bytes) = writer.finish(manifest.clone()) else {
            return;
        };
        if index.kind.as_deref() == Some("hnsw") && n >= 256 {
            // The graph build is parallel (from 256 nodes on, in batches of 16 and more);
            // the bytes must not depend on the thread count.
            let mut again = sandboxed_options(options_part).expect("options parsed before");
            again.index.threads = Some(if index.threads == Some(1) { 3 } else { 1 });
            let mut other = PackWriter::new(again).expect("options accepted before");
            other
                .add(to_chunks(&expected), &vectors)
                .expect("add accepted before");
            let other = other
                .finish(manifest.clone())
                .expect("finish accepted before");
            assert!(
                other == bytes,
                "oracle: another build thread count changed the pack bytes"
            );
        }
        Pack::from_bytes(&bytes).expect("oracle: the writer's output does not read back")
    } else {
        let path = scratch_path("built");
        if writer.finish_to_file(manifest.clone(), &path).is_err() {
            assert!(!path.exists(), "oracle: a failed finish left a file behind");
            return;
        }
        let pack = Pack::open(&path, true);
        let _ = std::fs::remove_file(&path);
        pack.expect("oracle: the writer's file does not read back")
    };
    assert_eq!(pack.len(), n);
    assert_eq!(pack.dimension(), dim);
    assert_eq!(pack.reader().metric().name(), metric);
    let hnsw = matches!(pack.reader().index_kind(), IndexKind::Hnsw { .. });
    assert_eq!(
        hnsw,
        index.kind.as_deref() == Some("hnsw"),
        "oracle: index kind {:?} gave a pack with {:?}",
        index.kind,
        pack.reader().index_kind()
    );
    for (id, (text, meta)) in expected.iter().enumerate() {
        let got = pack.chunk(id).expect("read back chunk");
        assert_eq!(got.text, text, "oracle: chunk {id} text changed");
        let got_meta: Map<String, Value> =
            serde_json::from_slice(got.metadata).expect("chunk metadata is JSON");
        assert_eq!(&got_meta, meta, "oracle: chunk {id} metadata changed");
    }
    let stored = pack.reader().manifest();
    for (key, value) in &manifest {
        assert_eq!(
            stored.get(key),
            Some(value),
            "oracle: manifest key {key} changed"
        );
    }
    exercise(&pack);
}

/// Builder options from JSON, with `temp_dir` confined: the fuzzer must not create files
/// in arbitrary directories, so any temp_dir becomes the sandbox or a name under it
/// (which usually does not exist: the error path).
fn sandboxed_options(json: &[u8]) -> Option<BuilderOptions> {
    let mut options = serde_json::from_slice::<BuilderOptions>(json).ok()?;
    if let Some(dir) = &options.temp_dir {
        let name: String = dir
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(32)
            .collect();
        let dir = if name.is_empty() {
            sandbox_dir()
        } else {
            sandbox_dir().join(name)
        };
        options.temp_dir = Some(dir.to_string_lossy().into_owned());
    }
    Some(options)
}

/// `search_params`: a search of one of the fixture packs (built once with the real
/// writer; flat and HNSW) with a fuzzed query vector (any f32 bits: NaN, infinities,
/// zeros, huge), `k` (any usize), query length, filter and HNSW `ef`, alone or as a
/// `search_batch` of several rows. Input layout (missing bytes read as 0):
///
/// ```text
/// 0     fixture index (low 7 bits); bit 7: use the mmap'd copy of the fixture
/// 1     k mode: 0 next u8, 1 next u32, 2 next u64, 3 MAX_K, 4 MAX_K + 1, 5 usize::MAX,
///       6 chunk count, 7 chunk count + 1, otherwise the byte itself minus 8
/// 2     length mode: 0 dimension, 1 dimension - 1, 2 dimension + 1, 3 zero,
///       4 next u16 (at most 70000), otherwise dimension
/// 3     filter: 0 none, 1 `{}`, 255 JSON of length next u16, otherwise a canned filter
/// 4     ef: 0 none, 1 next u16, 2 MAX_EF, 3 MAX_EF + 1, 4 zero, 5 usize::MAX, else none
/// 5     batch: 0 a single search; otherwise `search_batch` of (byte % 5) copies of the
///       query on (next u8) threads, when k <= 4096
/// 6     fill: 0 raw f32 values from the rest, cycled; 1 zeros then raw values as
///       (u16 index, f32 value) patches; 2 a stored row (next u16) then patches;
///       otherwise ones then patches
/// ...   the rest
/// ```
pub fn search_params(data: &[u8]) {
    let mut cur = Cursor(data);
    let sel = cur.u8();
    let all = fixtures();
    let fx = &all[(sel & 0x7f) as usize % all.len()];
    let pack = if sel & 0x80 != 0 {
        &fx.mapped
    } else {
        &fx.pack
    };
    let (n, dim) = (pack.len(), pack.dimension());
    let k = match cur.u8() {
        0 => cur.u8() as usize,
        1 => cur.u32() as usize,
        2 => cur.u64() as usize,
        3 => MAX_K,
        4 => MAX_K + 1,
        5 => usize::MAX,
        6 => n,
        7 => n + 1,
        b => b as usize - 8,
    };
    let len = match cur.u8() {
        0 => dim,
        1 => dim - 1,
        2 => dim + 1,
        3 => 0,
        4 => (cur.u16() as usize).min(70_000),
        _ => dim,
    };
    let parsed_filter;
    let filter = match cur.u8() {
        0 => None,
        1 => Some(all_filter()),
        255 => {
            let l = cur.u16() as usize;
            let text = cur.take(l);
            parsed_filter = serde_json::from_slice::<Value>(text)
                .ok()
                .and_then(|v| Filter::parse(&v).ok());
            parsed_filter.as_ref()
        }
        b => Some(&canned_filters()[b as usize % canned_filters().len()]),
    };
    let ef = match cur.u8() {
        1 => Some(cur.u16() as usize),
        2 => Some(MAX_EF),
        3 => Some(MAX_EF + 1),
        4 => Some(0),
        5 => Some(usize::MAX),
        _ => None,
    };
    let batch = match cur.u8() {
        0 => None,
        b => Some((b as usize % 5, cur.u8() as usize)),
    };
    let mut query = vec![0.0f32; len];
    let fill = cur.u8();
    match fill {
        0 => {
            let raw: Vec<f32> = cur.rest().chunks_exact(4).map(f32_le).collect();
            if !raw.is_empty() {
                for (i, x) in query.iter_mut().enumerate() {
                    *x = raw[i % raw.len()];
                }
            }
        }
        _ => {
            if fill == 2 && n > 0 {
                let row = cur.u16() as usize % n;
                let stored =
                    &pack.reader().vectors().expect("fixture vectors")[row * dim..(row + 1) * dim];
                for (x, s) in query.iter_mut().zip(stored) {
                    *x = *s;
                }
            } else if fill > 2 {
                query.fill(1.0);
            }
            while !cur.0.is_empty() && len > 0 {
                let at = cur.u16() as usize % len;
                query[at] = f32_le(cur.take(4));
            }
        }
    }
    let result = pack.search_with(&query, k, filter, ef);
    let finite = query.iter().all(|x| x.is_finite());
    let zero = query.iter().all(|&x| x == 0.0);
    let cosine = pack.reader().metric() == Metric::Cosine;
    let expected_code = if len != dim {
        Some(vpack::VPACK_E_DIMENSION_MISMATCH)
    } else if k > MAX_K {
        Some(vpack::VPACK_E_LIMIT)
    } else if ef.is_some_and(|e| !(1..=MAX_EF).contains(&e)) || !finite || (cosine && zero) {
        Some(vpack::VPACK_E_INVALID_ARG)
    } else {
        None
    };
    let single = key_of(&result);
    match expected_code {
        Some(code) => assert_eq!(
            single.as_ref().err(),
            Some(&code),
            "oracle: expected error code {code}, got {single:?}"
        ),
        None => check_answer(pack, &query, k, filter, Some(&fx.metas), result),
    }
    if let Some((rows, threads)) = batch.filter(|_| k <= 4096) {
        check_batch(pack, &query, rows, k, filter, ef, threads, &single);
    }
}

/// `search_batch` of `rows` copies of `query` must equal one `search_with` per row
/// (`single`), k = 0 included; with no rows it checks only ef.
#[allow(clippy::too_many_arguments)]
fn check_batch(
    pack: &Pack,
    query: &[f32],
    rows: usize,
    k: usize,
    filter: Option<&Filter>,
    ef: Option<usize>,
    threads: usize,
    single: &SearchKey,
) {
    let queries: Vec<f32> = query
        .iter()
        .copied()
        .cycle()
        .take(query.len() * rows)
        .collect();
    let mut ids = vec![u64::MAX; rows * k];
    let mut scores = vec![f32::NAN; rows * k];
    let mut counts = vec![usize::MAX; rows];
    let got = pack.search_batch(
        &queries,
        k,
        filter,
        ef,
        threads,
        &mut ids,
        &mut scores,
        &mut counts,
    );
    if rows == 0 {
        let want = ef
            .is_some_and(|e| !(1..=MAX_EF).contains(&e))
            .then_some(vpack::VPACK_E_INVALID_ARG);
        let code = got.as_ref().err().map(|e| e.code());
        assert_eq!(code, want, "oracle: empty batch: {got:?}");
        return;
    }
    match (got, single) {
        (Ok(()), Ok(want)) => {
            for r in 0..rows {
                let row: Vec<(u64, u32)> = (0..counts[r])
                    .map(|j| (ids[r * k + j], scores[r * k + j].to_bits()))
                    .collect();
                assert_eq!(&row, want, "oracle: batch row {r} differs from search_with");
            }
        }
        (Err(e), Err(code)) => assert_eq!(e.code(), *code, "oracle: batch error code: {e}"),
        (got, want) => panic!(
            "oracle: batch gave {:?}, search_with {want:?}",
            got.map_err(|e| e.to_string())
        ),
    }
}

/// `damaged_pack`: the rule "a damaged pack gives an error, never a different answer".
/// A real pack (sections spanning several 64 KiB checksum blocks, or a small one; each
/// also without its CHECKSUMS section, as packs written before it) gets bytes changed,
/// is written to a file and opened lazily, then probed. Every probe (a search, with or
/// without a filter; a chunk read) must give the undamaged pack's answer or a
/// corrupt-pack error. Changes that happen to leave a valid pack (the fuzzer repairing
/// every checksum) are compared with the same bytes loaded in memory instead.
/// Input layout (missing bytes read as 0):
///
/// ```text
/// 0       base pack (modulo 8): 0 multi-block, 2 small, 4 HNSW, 6 int8 codes; odd: the
///         one before without its CHECKSUMS section
/// 1       number of edits (modulo 17)
/// 5 each  edit: u32 position (modulo the length), u8 value to xor in (0: set to zero)
/// 3 each  probe (at most 32; none given: a default set): kind, a, b
///         kind 0 search row a, k = b % 12; 1 the same with canned filter b;
///         2 chunk a * 256 + b (modulo the count, plus one out of range); 3 verify
/// ```
pub fn damaged_pack(data: &[u8]) {
    let mut cur = Cursor(data);
    let bases = damage_bases();
    let (original_bytes, original) = &bases[cur.u8() as usize % bases.len()];
    let mut bytes = original_bytes.clone();
    let edits = cur.u8() % 17;
    for _ in 0..edits {
        let at = cur.u32() as usize % bytes.len();
        match cur.u8() {
            0 => bytes[at] = 0,
            x => bytes[at] ^= x,
        }
    }
    let mut probes: Vec<[u8; 3]> = Vec::new();
    while !cur.0.is_empty() && probes.len() < 32 {
        probes.push(cur.bytes());
    }
    if probes.is_empty() {
        probes = vec![[0, 0, 5], [1, 1, 3], [2, 0, 0], [2, 255, 255], [3, 0, 0]];
    }
    let path = scratch_path("damaged");
    std::fs::write(&path, &bytes).expect("write scratch file");
    let opened = Pack::open(&path, false);
    let _ = std::fs::remove_file(&path);
    let damaged = match opened {
        Ok(p) => p,
        Err(e) => {
            let code = e.code();
            assert!(
                code == vpack::VPACK_E_CORRUPT || code == vpack::VPACK_E_UNSUPPORTED_VERSION,
                "oracle: opening a damaged pack fails with code {code}: {e}"
            );
            return;
        }
    };
    // The same bytes, fully verified: the reference when they are a valid pack.
    let valid_reference = std::cell::OnceCell::new();
    let reference = || -> Option<&Pack> {
        valid_reference
            .get_or_init(|| Pack::from_bytes(&bytes).ok())
            .as_ref()
    };
    if damaged.reader().manifest_json() != original.reader().manifest_json()
        || damaged.len() != original.len()
        || damaged.dimension() != original.dimension()
    {
        assert!(
            reference().is_some(),
            "oracle: a damaged pack opened with a different manifest"
        );
        return;
    }
    let (n, dim) = (original.len(), original.dimension());
    let vectors = original.reader().vectors().expect("base vectors");
    for [kind, a, b] in probes {
        match kind % 4 {
            0 | 1 => {
                let query: Vec<f32> = if n == 0 {
                    vec![1.0; dim]
                } else {
                    let row = a as usize % n;
                    vectors[row * dim..(row + 1) * dim].to_vec()
                };
                let k = b as usize % 12;
                let filter = (kind % 4 == 1).then(|| &canned_filters()[b as usize % 11]);
                let got = search_key(damaged.search(&query, k, filter));
                let want = search_key(original.search(&query, k, filter));
                if got != want && got != Err(vpack::VPACK_E_CORRUPT) {
                    let valid = reference().expect(
                        "oracle: a damaged pack answered a search differently, not with an error",
                    );
                    assert_eq!(got, search_key(valid.search(&query, k, filter)));
                }
            }
            2 => {
                let id = (a as usize * 256 + b as usize) % (n + 1);
                let got = damaged
                    .chunk(id)
                    .map(|c| (c.text.to_string(), c.metadata.to_vec()))
                    .map_err(|e| e.code());
                let want = original
                    .chunk(id)
                    .map(|c| (c.text.to_string(), c.metadata.to_vec()))
                    .map_err(|e| e.code());
                if got != want && got != Err(vpack::VPACK_E_CORRUPT) {
                    let valid = reference()
                        .expect("oracle: a damaged pack returned a different chunk, not an error");
                    let again = valid
                        .chunk(id)
                        .map(|c| (c.text.to_string(), c.metadata.to_vec()))
                        .map_err(|e| e.code());
                    assert_eq!(got, again);
                }
            }
            _ => {
                if let Err(e) = damaged.verify() {
                    assert_eq!(e.code(), vpack::VPACK_E_CORRUPT, "oracle: verify: {e}");
                    assert!(
                        reference().is_none(),
                        "oracle: verify disagrees with from_bytes"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Shared checks
// ---------------------------------------------------------------------------------------

/// For a pack that verifies: reads every chunk, searches with several queries, k, filters
/// and (HNSW) ef, checks each answer (`check_answer`) and a batch of them, and checks the
/// documented errors of bad arguments.
fn exercise(pack: &Pack) {
    let n = pack.len();
    let dim = pack.dimension();
    pack.verify().expect("oracle: exercise wants a valid pack");
    let manifest: Map<String, Value> = serde_json::from_slice(pack.reader().manifest_json())
        .expect("oracle: stored manifest is not a JSON object");
    assert_eq!(&manifest, pack.reader().manifest());
    for id in 0..n {
        let c = pack
            .chunk(id)
            .expect("oracle: a chunk of a verified pack fails");
        serde_json::from_slice::<Map<String, Value>>(c.metadata)
            .expect("oracle: verified chunk metadata is not an object");
    }
    let err = pack.chunk(n).err().expect("oracle: chunk(len) succeeded");
    assert_eq!(err.code(), vpack::VPACK_E_NOT_FOUND);
    let metas: Vec<Map<String, Value>> = (0..n)
        .map(|id| with_meta(pack, id, None, Map::clone))
        .collect();
    let mut qs = queries(pack);
    if let Ok(embedder) = pack.embedder() {
        let mut q = vec![0.0; embedder.dimension()];
        if vpack::embed::embed(embedder.as_ref(), &["how do I read a file"], &mut q).is_ok() {
            qs.push(q);
        }
    }
    let hnsw = matches!(pack.reader().index_kind(), IndexKind::Hnsw { .. });
    let efs: &[Option<usize>] = if hnsw {
        &[None, Some(1), Some(5), Some(MAX_EF)]
    } else {
        &[None]
    };
    // Bound the work on big packs (their filtered scans parse metadata chunk by chunk).
    let big = n > 64;
    let few = if big { 2.min(qs.len()) } else { qs.len() };
    let ks: &[usize] = if big { &[1, n + 1] } else { &[0, 1, 3, n + 1] };
    let filters: &[Option<&Filter>] = if big {
        &[None, Some(some_filter())]
    } else {
        &[None, Some(all_filter()), Some(some_filter())]
    };
    for q in &qs[..few] {
        for &k in ks {
            for &filter in filters {
                for &ef in efs {
                    let got = pack.search_with(q, k, filter, ef);
                    check_answer(pack, q, k, filter, Some(&metas), got);
                }
            }
        }
    }
    if qs.len() >= 2 {
        let single = key_of(&pack.search(&qs[1], 2, Some(some_filter())));
        check_batch(pack, &qs[1], 3, 2, Some(some_filter()), None, 2, &single);
    }
    let q = vec![1.0; dim];
    let code = |r: Result<Vec<Scored>, Error>| r.err().map(|e| e.code());
    assert_eq!(
        code(pack.search(&q, MAX_K + 1, None)),
        Some(vpack::VPACK_E_LIMIT)
    );
    assert_eq!(
        code(pack.search(&q[1..], 1, None)),
        Some(vpack::VPACK_E_DIMENSION_MISMATCH)
    );
    let mut nan = q.clone();
    nan[dim - 1] = f32::NAN;
    assert_eq!(
        code(pack.search(&nan, 1, None)),
        Some(vpack::VPACK_E_INVALID_ARG)
    );
    for bad_ef in [0, MAX_EF + 1] {
        assert_eq!(
            code(pack.search_with(&q, 1, None, Some(bad_ef))),
            Some(vpack::VPACK_E_INVALID_ARG)
        );
    }
}

/// Checks `got`, the answer to a search of a valid pack with valid arguments (query
/// length, k, ef and finiteness; a zero cosine query may still be refused). Hits are
/// checked by `check_hits`. A plain flat pack must give exactly the brute-force answer.
/// Packs with an approximate part (an HNSW graph, or compressed vectors whose scan picks
/// `rescore * k` candidates) are checked for what they promise: every hit carries its
/// exact score (the same kernel on the stored f32 row); a search returns min(k, matching
/// chunks) hits (HNSW falls back to an exact scan when its walk finds fewer); a codes scan
/// whose candidates are every row is exact; the search may fail only where brute force
/// fails (a chunk the filter cannot judge). Rows whose score is NaN (dot products of huge
/// values overflowing, inf - inf) never come back from any index, and counts are only
/// checked when no matching row's exact score is beyond 1e30 (approximate scores of such
/// rows may overflow where the exact ones do not).
fn check_answer(
    pack: &Pack,
    q: &[f32],
    k: usize,
    filter: Option<&Filter>,
    metas: Option<&[Map<String, Value>]>,
    got: Result<Vec<Scored>, Error>,
) {
    if let Ok(hits) = &got {
        check_hits_with(pack, hits, k, filter, metas);
    }
    let hnsw = pack.reader().index_kind() != IndexKind::Flat;
    let codes = pack
        .reader()
        .codes()
        .expect("codes of a valid pack")
        .map(|(_, r)| r);
    if let Some(None) = codes {
        // Codes only: no f32 rows to score exactly against; the hits were checked for
        // range, order, uniqueness and the filter above.
        return;
    }
    let rescore = codes.flatten();
    if !hnsw && rescore.is_none() {
        assert_eq!(
            search_key(got),
            brute_force_with(pack, q, k, filter, metas),
            "oracle: search differs from brute force (k {k}, filter {filter:?})"
        );
        return;
    }
    let Some(prepared) = prepare(pack, q) else {
        assert_eq!(
            got.err().map(|e| e.code()),
            Some(vpack::VPACK_E_INVALID_ARG),
            "oracle: zero cosine query accepted"
        );
        return;
    };
    let n = pack.len();
    let verdicts: Vec<Result<bool, i32>> = (0..n)
        .map(|id| match filter {
            None => Ok(true),
            Some(f) => with_meta(pack, id, metas, |m| f.matches(m).map_err(|e| e.code())),
        })
        .collect();
    let scores: Vec<f32> = (0..n).map(|id| exact_score(pack, &prepared, id)).collect();
    let hits = match got {
        Err(e) => {
            assert!(
                k > 0
                    && e.code() == vpack::VPACK_E_INVALID_ARG
                    && verdicts.iter().any(|v| v.is_err()),
                "oracle: approximate search of valid arguments failed: {e}"
            );
            return;
        }
        Ok(hits) => hits,
    };
    for h in &hits {
        let want = scores[h.id as usize];
        assert_eq!(
            h.score.to_bits(),
            want.to_bits(),
            "oracle: hit {} scored {}, its exact score is {want}",
            h.id,
            h.score
        );
    }
    let matching: Vec<usize> = (0..n)
        .filter(|&id| verdicts[id] == Ok(true) && !scores[id].is_nan())
        .collect();
    let tame = matching.iter().all(|&id| scores[id].abs() <= 1e30);
    if tame {
        assert_eq!(
            hits.len(),
            k.min(matching.len()),
            "oracle: search (k {k}, filter {filter:?}) found {} of {} matching chunks",
            hits.len(),
            matching.len()
        );
    }
    if let (false, Some(rescore)) = (hnsw, rescore) {
        if tame && k.saturating_mul(rescore) >= n && verdicts.iter().all(|v| v.is_ok()) {
            // Every row is a candidate: the exact answer.
            let mut exact = matching.clone();
            exact.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
            exact.truncate(k);
            let got: Vec<u64> = hits.iter().map(|h| h.id).collect();
            let want: Vec<u64> = exact.iter().map(|&id| id as u64).collect();
            assert_eq!(got, want, "oracle: a codes scan of every row is not exact");
        }
    }
}

/// The query as search prepares it (normalised for cosine); None for a zero cosine query.
fn prepare(pack: &Pack, q: &[f32]) -> Option<Vec<f32>> {
    let mut v = q.to_vec();
    if pack.reader().metric() == Metric::Cosine && !normalize(&mut v) {
        return None;
    }
    Some(v)
}

/// The score of row `id` for a prepared query, with the kernels search uses.
fn exact_score(pack: &Pack, prepared: &[f32], id: usize) -> f32 {
    let row = pack.reader().vector_row(id).expect("a row of a valid pack");
    match pack.reader().metric() {
        Metric::L2 => -distance::l2sq(prepared, row),
        Metric::Cosine | Metric::Dot => distance::dot(prepared, row),
    }
}

/// Runs `f` on chunk `id`'s parsed metadata (from `metas` when given).
fn with_meta<T>(
    pack: &Pack,
    id: usize,
    metas: Option<&[Map<String, Value>]>,
    f: impl FnOnce(&Map<String, Value>) -> T,
) -> T {
    match metas {
        Some(metas) => f(&metas[id]),
        None => {
            let raw = pack.chunk(id).expect("a chunk of a valid pack").metadata;
            f(&serde_json::from_slice(raw).expect("chunk metadata is an object"))
        }
    }
}

/// Hits must be at most k and the pack size, unique, in range, best first (higher score,
/// then lower id; scores ordered like `f32::total_cmp`), never NaN, and pass the filter.
fn check_hits_with(
    pack: &Pack,
    hits: &[Scored],
    k: usize,
    filter: Option<&Filter>,
    metas: Option<&[Map<String, Value>]>,
) {
    assert!(hits.len() <= k.min(pack.len()), "oracle: too many hits");
    let mut seen = std::collections::HashSet::new();
    for h in hits {
        assert!((h.id as usize) < pack.len(), "oracle: hit id out of range");
        assert!(seen.insert(h.id), "oracle: duplicate hit {}", h.id);
        assert!(!h.score.is_nan(), "oracle: NaN score");
        if let Some(f) = filter {
            let pass = with_meta(pack, h.id as usize, metas, |m| f.matches(m));
            assert!(
                pass.expect("oracle: a hit's filter verdict is an error"),
                "oracle: hit {} fails the filter",
                h.id
            );
        }
    }
    for w in hits.windows(2) {
        let order = w[0].score.total_cmp(&w[1].score);
        assert!(
            order == Ordering::Greater || (order == Ordering::Equal && w[0].id < w[1].id),
            "oracle: hits out of order: {:?}",
            w
        );
    }
}

/// The answer by definition, for a flat pack: every chunk ranked by an unfiltered search
/// with k = all, then, best first, the ones that pass the filter until k have. The
/// filter's verdict on a chunk can be an error (INVALID_ARG): the search fails when it
/// meets one before k chunks passed. Chunk metadata comes from `metas` when given (the
/// fixtures keep it parsed, which makes `search_params` several times faster).
fn brute_force_with(
    pack: &Pack,
    q: &[f32],
    k: usize,
    filter: Option<&Filter>,
    metas: Option<&[Map<String, Value>]>,
) -> SearchKey {
    let everything = pack.search(q, pack.len(), None).map_err(|e| e.code())?;
    let mut out = Vec::new();
    for h in everything {
        if out.len() == k {
            break;
        }
        let pass = match filter {
            None => true,
            Some(f) => {
                with_meta(pack, h.id as usize, metas, |m| f.matches(m)).map_err(|e| e.code())?
            }
        };
        if pass {
            out.push((h.id, h.score.to_bits()));
        }
    }
    Ok(out)
}

type SearchKey = Result<Vec<(u64, u32)>, i32>;

/// Results compared bit for bit (ids and score bits), errors by code.
fn key_of(r: &Result<Vec<Scored>, Error>) -> SearchKey {
    match r {
        Ok(hits) => Ok(hits.iter().map(|h| (h.id, h.score.to_bits())).collect()),
        Err(e) => Err(e.code()),
    }
}

/// `key_of`, by value.
fn search_key(r: Result<Vec<Scored>, Error>) -> SearchKey {
    r.map(|hits| hits.iter().map(|h| (h.id, h.score.to_bits())).collect())
        .map_err(|e| e.code())
}

/// Query vectors for a pack: ones, alternating signs, a basis vector, tiny and huge
/// values, and the first stored row.
fn queries(pack: &Pack) -> Vec<Vec<f32>> {
    let dim = pack.dimension();
    let mut qs = vec![
        vec![1.0; dim],
        (0..dim)
            .map(|i| if i % 2 == 0 { 0.5 } else { -1.5 })
            .collect(),
        (0..dim)
            .map(|i| if i == dim - 1 { 1.0 } else { 0.0 })
            .collect(),
        vec![1e-30; dim],
        vec![3e38; dim],
    ];
    if let Ok(v) = pack.reader().vectors() {
        if v.len() >= dim {
            qs.push(v[..dim].to_vec());
        }
    }
    qs
}

fn all_filter() -> &'static Filter {
    static F: OnceLock<Filter> = OnceLock::new();
    F.get_or_init(|| Filter::parse(&json!({})).expect("empty filter"))
}

fn some_filter() -> &'static Filter {
    &canned_filters()[0]
}

fn canned_filters() -> &'static [Filter] {
    static F: OnceLock<Vec<Filter>> = OnceLock::new();
    F.get_or_init(|| {
        [
            json!({"n": {"$gte": 2}}),
            json!({"path": "guide/*.md"}),
            json!({"path": "**/doc1*.md"}),
            json!({"tags": "x"}),
            json!({"tags": {"$nin": ["x", "y"]}}),
            json!({"sec.lvl": {"$lt": 2}, "flag": true}),
            json!({"$or": [{"n": 0}, {"n": {"$gt": 250}}]}),
            json!({"missing": {"$exists": true}}),
            json!({"score": {"$in": [0.5, 1.5, 2.5]}}),
            json!({"lang": {"$ne": "en"}}),
            json!({"none": null}),
        ]
        .iter()
        .map(|v| Filter::parse(v).expect("canned filter"))
        .collect()
    })
}

/// Metadata objects with edge cases for filters: nesting, arrays of mixed types,
/// numbers at the ends of their ranges, Unicode and slash-heavy strings.
fn edge_metadata() -> Vec<Map<String, Value>> {
    let mut out: Vec<Map<String, Value>> = (0..12).map(chunk_metadata).collect();
    for v in [
        json!({}),
        json!({"path": "", "n": -0.0, "tags": []}),
        json!({"path": "/", "n": u64::MAX, "tags": [null, 1, "x", [1], {"a": 1}]}),
        json!({"path": "a//b/**/c?", "n": i64::MIN, "sec": {"lvl": {"lvl": 2}}}),
        json!({"path": "ünï/çødé/✓.md", "n": 1e308, "score": 1.5, "flag": false}),
        json!({"a": {"b": {"c": {"d": "e"}}}, "a.b": 1, "": "empty key"}),
        json!({"path": "x".repeat(300), "lang": "en", "none": null}),
    ] {
        if let Value::Object(m) = v {
            out.push(m);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Fixtures: packs built once with the real writer
// ---------------------------------------------------------------------------------------

pub struct Fixture {
    /// Loaded from bytes (fully verified).
    pub pack: Pack,
    /// The same pack written to a file and mapped lazily (the file is unlinked at once).
    pub mapped: Pack,
    /// A query that has hits.
    pub query: Vec<f32>,
    /// Every chunk's metadata, parsed.
    pub metas: Vec<Map<String, Value>>,
}

/// A chunk's metadata in the fixture packs; every 7th chunk has none.
fn chunk_metadata(i: usize) -> Map<String, Value> {
    if i % 7 == 6 {
        return Map::new();
    }
    let dirs = ["guide", "api", "faq"];
    let tags: Vec<&str> = ["x", "y", "z"].into_iter().take(i % 4).collect();
    let v = json!({
        "path": format!("{}/doc{i}.md", dirs[i % 3]),
        "n": i,
        "tags": tags,
        "sec": {"lvl": i % 4},
        "score": i as f64 * 0.5,
        "flag": i.is_multiple_of(2),
        "lang": if i.is_multiple_of(5) { "de" } else { "en" },
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn chunk(text: &str, metadata: Value) -> ChunkIn {
    ChunkIn {
        text: text.to_string(),
        metadata: match metadata {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    }
}

/// Deterministic pseudo-random values in [-1, 1) (a 64-bit LCG).
fn lcg_values(seed: u64, n: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// A pack image built with the real writer from builder `options` (JSON): `n` chunks,
/// vectors from `values` (or pseudo-random), metadata from `chunk_metadata` when
/// `with_meta`.
pub fn build_pack(
    options: Value,
    n: usize,
    with_meta: bool,
    values: Option<Vec<f32>>,
    manifest: Value,
) -> Vec<u8> {
    let options: BuilderOptions = serde_json::from_value(options).expect("options");
    let dim = options.dimension;
    let mut writer = PackWriter::new(options).expect("writer");
    let chunks: Vec<ChunkIn> = (0..n)
        .map(|i| ChunkIn {
            text: format!(
                "chunk {i}: ünïcode text about files and section {}{}",
                i % 4,
                // Long texts in big packs, so the chunk data spans several blocks.
                if n >= 200 {
                    " lorem ipsum".repeat(20)
                } else {
                    String::new()
                }
            ),
            metadata: if with_meta {
                chunk_metadata(i)
            } else {
                Map::new()
            },
        })
        .collect();
    let vectors = values.unwrap_or_else(|| lcg_values((dim * 1000 + n) as u64, n * dim));
    writer.add(chunks, &vectors).expect("add");
    let manifest = match manifest {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    writer.finish(manifest).expect("finish")
}

/// The packs `search_params` and `filter_json` search: every metric, dimensions around
/// the 8-float kernel width, more rows than one 256-row scoring block, an empty pack, a
/// pack whose dot products overflow to infinity and NaN, duplicate rows (ties); flat,
/// HNSW, compressed vectors (f16, int8) and both.
pub fn fixtures() -> &'static [Fixture] {
    static FIXTURES: OnceLock<Vec<Fixture>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let extreme: Vec<f32> = (0..20 * 3)
            .map(|i| match i % 5 {
                0 => 3e38,
                1 => -3e38,
                2 => 1e-38,
                3 => 0.0,
                _ => i as f32,
            })
            .collect();
        let ties: Vec<f32> = (0..30 * 4).map(|i| ((i / 4) % 3) as f32).collect();
        let hnsw = |m: usize, ef_search: usize| {
            json!({"kind": "hnsw", "m": m, "ef_construction": 24, "ef_search": ef_search})
        };
        let codes = |kind: &str, rescore: usize| json!({"codes": kind, "rescore": rescore});
        let flat = json!({"kind": "flat"});
        // The first HNSW one (FIRST_HNSW_FIXTURE) has the same chunks as the first.
        // (metric, dimension, chunks, vectors (None: pseudo-random), index options)
        type Spec = (&'static str, usize, usize, Option<Vec<f32>>, Value);
        let specs: Vec<Spec> = vec![
            ("cosine", 8, 300, None, flat.clone()),
            ("dot", 3, 20, Some(extreme.clone()), flat.clone()),
            ("l2", 17, 40, None, flat.clone()),
            ("cosine", 5, 0, None, flat.clone()),
            ("cosine", 1, 5, Some(vec![1.0, -1.0, 1e-30, 2.0, -0.5]), flat.clone()),
            ("dot", 4, 30, Some(ties.clone()), flat),
            ("l2", 33, 3, None, json!({"kind": "auto"})),
            ("cosine", 8, 300, None, hnsw(4, 8)),
            ("l2", 5, 120, None, hnsw(2, 1)),
            ("dot", 3, 20, Some(extreme.clone()), hnsw(3, 2)),
            ("dot", 4, 30, Some(ties.clone()), hnsw(2, 4)),
            ("cosine", 5, 0, None, hnsw(16, 64)),
            ("cosine", 2, 1, None, hnsw(2, 1)),
            ("cosine", 8, 300, None, codes("f16", 2)),
            ("l2", 17, 40, None, codes("int8", 1)),
            ("dot", 4, 30, Some(ties), codes("int8", 3)),
            ("dot", 3, 20, Some(extreme), codes("f16", 1)),
            ("cosine", 8, 300, None, {
                let mut both = hnsw(4, 8);
                both["codes"] = json!("int8");
                both
            }),
        ];
        specs
            .into_iter()
            .enumerate()
            .map(|(i, (metric, dim, n, values, index))| {
                let options = json!({"dimension": dim, "metric": metric, "index": index});
                let bytes = build_pack(options, n, true, values, json!({"fixture": i}));
                let pack = Pack::from_bytes(&bytes).expect("fixture pack");
                let path = scratch_path("fixture");
                std::fs::write(&path, &bytes).expect("write fixture");
                let mapped = Pack::open(&path, false).expect("open fixture");
                let _ = std::fs::remove_file(&path);
                let query = (0..dim).map(|j| 1.0 + j as f32 * 0.25).collect();
                let metas = (0..n).map(chunk_metadata).collect();
                Fixture {
                    pack,
                    mapped,
                    query,
                    metas,
                }
            })
            .collect()
    })
}

/// Packs for `damaged_pack`, with their bytes: one whose chunk data and vectors span
/// two 64 KiB blocks each, a small one, an HNSW one, one with int8 codes, and each of
/// them without block checksums.
fn damage_bases() -> &'static [(Vec<u8>, Pack)] {
    static BASES: OnceLock<Vec<(Vec<u8>, Pack)>> = OnceLock::new();
    BASES.get_or_init(|| {
        let options = |metric: &str, dim: usize, index: Value| {
            json!({"dimension": dim, "metric": metric, "index": index})
        };
        let flat = json!({"kind": "flat"});
        let hnsw = json!({"kind": "hnsw", "m": 6, "ef_construction": 32, "ef_search": 8});
        let big = options("cosine", 64, flat.clone());
        let big = build_pack(big, 300, true, None, json!({"fixture": "big"}));
        let small = build_pack(options("dot", 8, flat), 12, true, None, json!({}));
        let graph = build_pack(options("l2", 6, hnsw), 200, true, None, json!({}));
        let int8 = json!({"codes": "int8", "rescore": 2});
        let codes = build_pack(options("dot", 8, int8), 100, true, None, json!({}));
        let mut out = Vec::new();
        for bytes in [big, small, graph, codes] {
            let legacy = without_block_checksums(&bytes).expect("a CHECKSUMS section");
            out.push(bytes);
            out.push(legacy);
        }
        out.into_iter()
            .map(|b| {
                let pack = Pack::from_bytes(&b).expect("base pack");
                (b, pack)
            })
            .collect()
    })
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// The input, plus (when it differs) a copy whose header length field, section CRCs,
/// section table CRC and header CRC are recomputed.
fn with_repaired(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![data.to_vec()];
    let mut fixed = data.to_vec();
    repair_checksums(&mut fixed);
    if fixed != data {
        out.push(fixed);
    }
    out
}

/// The section table: per entry, its kind and byte range (None when out of bounds).
pub fn section_entries(b: &[u8]) -> Option<Vec<(u32, Option<std::ops::Range<usize>>)>> {
    if b.len() < HEADER_LEN || b[..8] != MAGIC {
        return None;
    }
    let n = u32_le(&b[12..16]) as usize;
    let table_end = n
        .checked_mul(SECTION_ENTRY_LEN)
        .and_then(|t| t.checked_add(HEADER_LEN))
        .filter(|&e| e <= b.len())?;
    Some(
        (HEADER_LEN..table_end)
            .step_by(SECTION_ENTRY_LEN)
            .map(|at| {
                let offset = u64_le(&b[at + 8..at + 16]);
                let length = u64_le(&b[at + 16..at + 24]);
                let range = offset
                    .checked_add(length)
                    .filter(|&e| e <= b.len() as u64)
                    .map(|end| offset as usize..end as usize);
                (u32_le(&b[at..at + 4]), range)
            })
            .collect(),
    )
}

/// Recomputes everything a pack's checksums cover, so a mutated pack passes the
/// checksum tests and the reader's structural checks see the mutation: the block CRCs
/// in the CHECKSUMS section (kind 5: block size u32, zero u32, count u64, CRCs of every
/// section but the manifest and itself, in table order), each section's CRC in the
/// table, the table's CRC, the file length and the header's CRC. Anything out of bounds
/// or inconsistent is left as it is.
pub fn repair_checksums(b: &mut [u8]) {
    if b.len() < HEADER_LEN || b[..8] != MAGIC {
        return;
    }
    let len = b.len();
    b[16..24].copy_from_slice(&(len as u64).to_le_bytes());
    if let Some(entries) = section_entries(b) {
        let sums = entries
            .iter()
            .find(|(kind, _)| *kind == KIND_CHECKSUMS)
            .and_then(|(_, r)| r.clone());
        let covered: Option<Vec<std::ops::Range<usize>>> = entries
            .iter()
            .filter(|(kind, _)| *kind != KIND_MANIFEST && *kind != KIND_CHECKSUMS)
            .map(|(_, r)| r.clone())
            .collect();
        if let (Some(sums), Some(covered)) = (sums, covered) {
            let block = if sums.len() >= 16 {
                u32_le(&b[sums.start..sums.start + 4]) as usize
            } else {
                0
            };
            if block.is_power_of_two() && block >= 16 {
                let crcs: Vec<u32> = covered
                    .iter()
                    .flat_map(|r| b[r.clone()].chunks(block).map(crc32fast::hash))
                    .collect();
                if sums.len() == 16 + 4 * crcs.len() {
                    let count = (crcs.len() as u64).to_le_bytes();
                    b[sums.start + 8..sums.start + 16].copy_from_slice(&count);
                    for (i, crc) in crcs.iter().enumerate() {
                        let at = sums.start + 16 + 4 * i;
                        b[at..at + 4].copy_from_slice(&crc.to_le_bytes());
                    }
                }
            }
        }
        for (i, (_, range)) in entries.iter().enumerate() {
            if let Some(r) = range {
                let crc = crc32fast::hash(&b[r.clone()]);
                let at = HEADER_LEN + i * SECTION_ENTRY_LEN + 24;
                b[at..at + 4].copy_from_slice(&crc.to_le_bytes());
            }
        }
        let table_end = HEADER_LEN + entries.len() * SECTION_ENTRY_LEN;
        let crc = crc32fast::hash(&b[HEADER_LEN..table_end]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32fast::hash(&b[..60]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
}

/// The same pack as written before the CHECKSUMS section existed: its table entry
/// removed and its bytes zeroed (they become padding), so every other section keeps its
/// offset and is checked whole against its table CRC. None if `b` has no such section.
pub fn without_block_checksums(b: &[u8]) -> Option<Vec<u8>> {
    let entries = section_entries(b)?;
    let i = entries
        .iter()
        .position(|(kind, _)| *kind == KIND_CHECKSUMS)?;
    let range = entries[i].1.clone()?;
    let mut out = b.to_vec();
    out[range].fill(0);
    let at = HEADER_LEN + i * SECTION_ENTRY_LEN;
    let table_end = HEADER_LEN + entries.len() * SECTION_ENTRY_LEN;
    out.copy_within(at + SECTION_ENTRY_LEN..table_end, at);
    out[table_end - SECTION_ENTRY_LEN..table_end].fill(0);
    out[12..16].copy_from_slice(&(entries.len() as u32 - 1).to_le_bytes());
    let crc = crc32fast::hash(&out[HEADER_LEN..table_end - SECTION_ENTRY_LEN]);
    out[24..28].copy_from_slice(&crc.to_le_bytes());
    let crc = crc32fast::hash(&out[..60]);
    out[60..64].copy_from_slice(&crc.to_le_bytes());
    Some(out)
}

fn u32_le(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn u64_le(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// The directory under the system temp dir for scratch files (shared by processes; each
/// file is removed after use, and builder spool files are unlinked at once).
fn sandbox_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join("vpack-fuzz");
        std::fs::create_dir_all(&dir).expect("create fuzz sandbox dir");
        dir
    })
    .clone()
}

/// A fresh file path in the sandbox, unique per process and call (fuzzing jobs and
/// parallel tests never share one).
fn scratch_path(what: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    sandbox_dir().join(format!(
        "{what}-{}-{}.vpack",
        std::process::id(),
        N.fetch_add(1, AtomicOrdering::Relaxed)
    ))
}

fn f32_le(b: &[u8]) -> f32 {
    let mut a = [0u8; 4];
    a[..b.len().min(4)].copy_from_slice(&b[..b.len().min(4)]);
    f32::from_le_bytes(a)
}

/// Reads little-endian integers from the front of the input; missing bytes read as zero.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        let head = self.take(N);
        a[..head.len()].copy_from_slice(head);
        a
    }
    fn u8(&mut self) -> u8 {
        self.bytes::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.bytes())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.bytes())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.bytes())
    }
    fn rest(&mut self) -> &'a [u8] {
        self.take(self.0.len())
    }
}

// ---------------------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------------------

/// The seed corpus: (target, file name, bytes). `examples/make_seeds.rs` writes it to
/// `corpus/<target>/`; small real packs from the writer and well-formed inputs for the
/// other targets.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let opts = |metric: &str, dim: usize| json!({"dimension": dim, "metric": metric});
    let hnsw = json!({"dimension": 4, "metric": "l2",
        "index": {"kind": "hnsw", "m": 2, "ef_construction": 8, "ef_search": 4}});
    let embedder = json!({"embedder": {"kind": "hash", "dimension": 16, "char_ngram": 3}});
    let codes = json!({"dimension": 5, "metric": "dot",
        "index": {"codes": "int8", "rescore": 1}});
    let packs: Vec<(&str, Vec<u8>)> = vec![
        (
            "empty",
            build_pack(opts("cosine", 4), 0, false, None, json!({})),
        ),
        (
            "one",
            build_pack(opts("dot", 3), 1, false, None, json!({"n": 1})),
        ),
        (
            "few_meta",
            build_pack(opts("l2", 8), 4, true, None, json!({})),
        ),
        (
            "embedder",
            build_pack(opts("cosine", 16), 3, true, None, embedder),
        ),
        ("hnsw", build_pack(hnsw, 12, true, None, json!({}))),
        ("codes", build_pack(codes, 6, true, None, json!({}))),
    ];
    for (name, bytes) in &packs {
        for target in ["from_bytes", "open_file"] {
            out.push((target, format!("{name}-pack.bin"), bytes.clone()));
        }
    }
    // The same as packs written before block checksums existed.
    for (name, bytes) in packs
        .iter()
        .filter(|(n, _)| ["one", "few_meta", "hnsw", "codes"].contains(n))
    {
        let legacy = without_block_checksums(bytes).expect("a CHECKSUMS section");
        for target in ["from_bytes", "open_file"] {
            out.push((target, format!("{name}-legacy-pack.bin"), legacy.clone()));
        }
    }
    let mut old = packs[1].1.clone();
    old[8] = 0x01;
    out.push(("from_bytes", "version1.bin".into(), old));
    out.push((
        "from_bytes",
        "short.bin".into(),
        b"\x89VPACK\r\n\x02".to_vec(),
    ));

    let filters: [(&str, &[u8]); 6] = [
        ("glob", br#"{"path": "guide/**/*.md"}"#),
        (
            "ops",
            br#"{"n": {"$gte": 2, "$lt": 9}, "tags": {"$in": ["x", 1]}}"#,
        ),
        (
            "or_and",
            br#"{"$or": [{"sec.lvl": 1}, {"$and": [{"flag": true}, {"lang": {"$ne": "de"}}]}]}"#,
        ),
        (
            "exists",
            br#"{"missing": {"$exists": false}, "none": null}"#,
        ),
        (
            "with_meta",
            b"{\"path\": {\"$glob\": \"a/*/c\"}}\0{\"path\": \"a/b/c\", \"n\": 1}",
        ),
        ("bad_op", br#"{"n": {"$regex": "x"}}"#),
    ];
    for (name, bytes) in filters {
        out.push(("filter_json", format!("{name}.json"), bytes.to_vec()));
    }

    // Parts separated by NUL: options, manifest, chunks, raw f32 values.
    let nul = |parts: &[&[u8]]| parts.join(&0u8);
    let builders: [(&str, Vec<u8>); 9] = [
        ("plain", br#"{"dimension": 4}"#.to_vec()),
        (
            "dot_manifest",
            nul(&[
                br#"{"dimension": 3, "metric": "dot"}"#,
                br#"{"name": "x", "embedder": {"kind": "hash", "dimension": 3}}"#,
            ]),
        ),
        (
            "chunks",
            nul(&[
                br#"{"dimension": 2, "metric": "l2"}"#,
                b"{}",
                br#"[{"text": "a", "metadata": {"k": [1, 2.5, "s"]}}, {"text": ""}]"#,
            ]),
        ),
        (
            "floats",
            nul(&[
                br#"{"dimension": 1, "temp_dir": ""}"#,
                b"{}",
                br#"[{"text": "a"}]"#,
                &[1, 0, 0, 0, 0x80, 0x3f], // count 1, then 1.0f32
            ]),
        ),
        (
            "hnsw_many",
            nul(&[
                br#"{"dimension": 3, "index": {"kind": "hnsw", "m": 3, "ef_construction": 16}}"#,
                b"{}",
                br#"[{"text": "a", "metadata": {"n": 1}}, {"text": "b"}]"#,
                &[0x40, 0x01], // 320 chunks: enough for parallel batches
            ]),
        ),
        (
            "codes_f16",
            nul(&[
                br#"{"dimension": 4, "metric": "l2", "index": {"codes": "f16", "rescore": 2}}"#,
                b"{}",
                br#"[{"text": "a", "metadata": {"n": 1}}, {"text": "b"}]"#,
                &[20, 0],
            ]),
        ),
        (
            "codes_int8_hnsw",
            nul(&[br#"{"dimension": 3, "index": {"kind": "hnsw", "codes": "int8"}}"#]),
        ),
        (
            "auto_threads",
            nul(&[
                br#"{"dimension": 2, "metric": "dot", "index": {"kind": "auto", "threads": 4}}"#,
            ]),
        ),
        (
            "reserved",
            nul(&[br#"{"dimension": 4}"#, br#"{"chunk_count": 1}"#]),
        ),
    ];
    for (name, bytes) in builders {
        out.push(("builder_options", format!("{name}.bin"), bytes));
    }

    // Layouts: see `search_params` (sel, k mode.., length mode, filter.., ef.., batch..,
    // fill, rest).
    let mut raw_query = vec![0, 13, 0, 0, 0, 0, 0];
    for x in [0.5f32, -1.0, 2.0, 0.25] {
        raw_query.extend_from_slice(&x.to_le_bytes());
    }
    let mut filtered_json = vec![0, 10, 0, 255];
    let f = br#"{"n": {"$lt": 40}, "tags": "y"}"#;
    filtered_json.extend_from_slice(&(f.len() as u16).to_le_bytes());
    filtered_json.extend_from_slice(f);
    filtered_json.extend_from_slice(&[0, 0, 3]);
    let mut nan_patch = vec![2, 10, 0, 0, 0, 0, 3, 1, 0];
    nan_patch.extend_from_slice(&f32::NAN.to_le_bytes());
    let hnsw = FIRST_HNSW_FIXTURE as u8;
    let params: [(&str, Vec<u8>); 11] = [
        ("raw_query", raw_query),
        ("canned_filter_mapped", vec![0x80, 12, 0, 3, 0, 0, 3]),
        ("stored_row_ties", vec![5, 6, 0, 1, 0, 0, 2, 7, 0]),
        ("filter_json", filtered_json),
        ("nan_patch", nan_patch),
        ("k_limit_overflow", vec![1, 4, 0, 1, 0, 0, 2, 0, 0]),
        ("hnsw_ef", vec![hnsw, 13, 0, 0, 1, 3, 0, 0, 2, 9, 0]),
        ("hnsw_filter_batch", vec![hnsw | 0x80, 10, 0, 6, 0, 3, 2, 3]),
        ("hnsw_bad_ef", vec![hnsw + 1, 9, 0, 0, 3, 0, 3]),
        (
            "codes_f16_filter",
            vec![FIRST_CODES_FIXTURE as u8, 12, 0, 4, 0, 0, 3],
        ),
        (
            "codes_int8_all",
            vec![FIRST_CODES_FIXTURE as u8 + 1, 6, 0, 0, 0, 2, 2, 3],
        ),
    ];
    for (name, bytes) in params {
        out.push(("search_params", format!("{name}.bin"), bytes));
    }

    // damaged_pack: edits at known places of the base packs (layout: see the target).
    let section = |base: usize, kind: u32| -> std::ops::Range<usize> {
        let entries = section_entries(&damage_bases()[base].0).expect("base sections");
        let found = entries.into_iter().find(|(k, _)| *k == kind);
        found.and_then(|(_, r)| r).expect("section present")
    };
    let damage = |base: u8, edits: &[(usize, u8)], probes: &[[u8; 3]]| -> Vec<u8> {
        let mut v = vec![base, edits.len() as u8];
        for (at, x) in edits {
            v.extend_from_slice(&(*at as u32).to_le_bytes());
            v.push(*x);
        }
        v.extend(probes.iter().flatten());
        v
    };
    let (data, vectors) = (section(0, 3), section(0, 4));
    let graph = section(4, 6);
    let damaged: [(&str, Vec<u8>); 9] = [
        ("intact_defaults", vec![0, 0]),
        (
            "vectors_block2",
            damage(
                0,
                &[(vectors.start + 70_000, 0x40)],
                &[[2, 0, 1], [0, 3, 5], [2, 1, 20]],
            ),
        ),
        (
            "data_last_block",
            damage(
                0,
                &[(data.end - 10, 0x01)],
                &[[2, 1, 43], [2, 0, 0], [1, 0, 3], [3, 0, 0]],
            ),
        ),
        (
            "legacy_data",
            damage(
                3,
                &[(section(3, 3).start + 5, 0x20)],
                &[[2, 0, 0], [2, 0, 7], [0, 1, 4]],
            ),
        ),
        ("version_byte", damage(2, &[(8, 0x03)], &[[0, 0, 1]])),
        (
            "table_entry",
            damage(
                2,
                &[(section(2, 2).start + 16 + 8, 0x01)],
                &[[2, 0, 1], [2, 0, 0], [1, 2, 7]],
            ),
        ),
        (
            "hnsw_links",
            damage(
                4,
                &[(graph.start + 64 + 4, 0x07)],
                &[[0, 5, 3], [1, 9, 4], [2, 0, 3]],
            ),
        ),
        (
            "codes_section",
            damage(
                6,
                &[(section(6, 7).start + 200, 0x01)],
                &[[0, 2, 6], [1, 0, 5]],
            ),
        ),
        (
            "hnsw_legacy_vectors",
            damage(
                5,
                &[(section(5, 4).start + 40, 0x10)],
                &[[0, 1, 10], [2, 0, 1]],
            ),
        ),
    ];
    for (name, bytes) in damaged {
        out.push(("damaged_pack", format!("{name}.bin"), bytes));
    }
    out
}
