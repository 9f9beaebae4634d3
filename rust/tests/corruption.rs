//! Damaged packs never answer differently. A real pack, large enough that its sections
//! span many 64 KiB checksum blocks, is damaged in many ways at positions spread over
//! every region of the file; each damaged copy is opened from disk (mmap, default
//! verification) and queried. Every outcome must be the undamaged answer or a
//! corrupt-pack error (unsupported version when the version byte itself changed): never
//! a panic, never a different answer.

use serde_json::{json, Map, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use vpack::format::writer::{BuilderOptions, ChunkIn, PackWriter};
use vpack::index::filter::Filter;
use vpack::pack::Pack;

const CORRUPT: i32 = 7;
const UNSUPPORTED_VERSION: i32 = 8;
const HEADER_LEN: usize = 64;
const SECTION_ENTRY_LEN: usize = 32;
const DIM: usize = 24;
const CHUNKS: usize = 9000;

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p =
            std::env::temp_dir().join(format!("vpack-corruption-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// xorshift64*: a small deterministic generator, so every run damages the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn float(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

fn pack_bytes() -> Vec<u8> {
    let options: BuilderOptions =
        serde_json::from_value(json!({"dimension": DIM, "metric": "cosine"})).unwrap();
    let mut w = PackWriter::new(options).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let words = [
        "ßtraße",
        "vector",
        "日本語",
        "pack",
        "🚀",
        "block",
        "crc",
        "data",
    ];
    let mut chunks = Vec::new();
    let mut vectors = Vec::new();
    for i in 0..CHUNKS {
        let n = 3 + rng.below(20);
        let text: Vec<&str> = (0..n).map(|_| words[rng.below(words.len())]).collect();
        let mut meta = Map::new();
        meta.insert("i".into(), Value::from(i));
        meta.insert("path".into(), Value::from(format!("dir{}/f{i}.md", i % 7)));
        chunks.push(ChunkIn {
            text: text.join(" "),
            metadata: meta,
        });
        vectors.extend((0..DIM).map(|_| rng.float()));
    }
    w.add(chunks, &vectors).unwrap();
    let mut manifest = Map::new();
    manifest.insert("title".into(), Value::from("corruption fixture"));
    w.finish(manifest).unwrap()
}

fn queries() -> Vec<(Vec<f32>, Option<Filter>)> {
    let mut rng = Rng(42);
    (0..12)
        .map(|i| {
            let q: Vec<f32> = (0..DIM).map(|_| rng.float()).collect();
            let filter = match i % 3 {
                0 => None,
                1 => Some(json!({"path": "dir3/*"})),
                _ => Some(json!({"i": {"$gte": 1000, "$lt": 2000}})),
            };
            (q, filter.map(|f| Filter::parse(&f).unwrap()))
        })
        .collect()
}

/// Everything a user sees for the queries: ids, score bits, texts and metadata.
type Answer = Vec<(u64, u32, String, Vec<u8>)>;

fn answers(path: &Path) -> Result<Vec<Answer>, i32> {
    let pack = Pack::open(path, false).map_err(|e| e.code())?;
    let mut all = Vec::new();
    for (q, filter) in queries() {
        let hits = pack.search(&q, 10, filter.as_ref()).map_err(|e| e.code())?;
        let mut answer = Vec::new();
        for h in hits {
            let c = pack.chunk(h.id as usize).map_err(|e| e.code())?;
            answer.push((
                h.id,
                h.score.to_bits(),
                c.text.to_string(),
                c.metadata.to_vec(),
            ));
        }
        all.push(answer);
    }
    // Reading any chunk must not bring up anything but the stored text either.
    for id in [0, CHUNKS / 2, CHUNKS - 1] {
        let c = pack.chunk(id).map_err(|e| e.code())?;
        all.push(vec![(
            id as u64,
            0,
            c.text.to_string(),
            c.metadata.to_vec(),
        )]);
    }
    Ok(all)
}

fn section_ranges(b: &[u8]) -> Vec<(u32, std::ops::Range<usize>)> {
    let n = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    (0..n)
        .map(|i| {
            let e = HEADER_LEN + i * SECTION_ENTRY_LEN;
            let kind = u32::from_le_bytes(b[e..e + 4].try_into().unwrap());
            let off = u64::from_le_bytes(b[e + 8..e + 16].try_into().unwrap()) as usize;
            let len = u64::from_le_bytes(b[e + 16..e + 24].try_into().unwrap()) as usize;
            (kind, off..off + len)
        })
        .collect()
}

enum Damage {
    Flip(usize, u8),
    Zero(usize, usize),
    Truncate(usize),
    Extend(usize),
    Swap(usize, usize, usize),
}

fn apply(b: &[u8], d: &Damage) -> Vec<u8> {
    let mut v = b.to_vec();
    match *d {
        Damage::Flip(at, mask) => v[at] ^= mask,
        Damage::Zero(at, len) => {
            let end = (at + len).min(v.len());
            v[at..end].iter_mut().for_each(|x| *x = 0);
        }
        Damage::Truncate(len) => v.truncate(len),
        Damage::Extend(n) => v.extend((0..n).map(|i| (i * 31 + 7) as u8)),
        Damage::Swap(a, c, len) => {
            let (x, y) = (v[a..a + len].to_vec(), v[c..c + len].to_vec());
            v[a..a + len].copy_from_slice(&y);
            v[c..c + len].copy_from_slice(&x);
        }
    }
    v
}

#[test]
fn damaged_packs_answer_the_same_or_fail_as_corrupt() {
    let dir = TempDir::new("damage");
    let bytes = pack_bytes();
    let good = dir.0.join("good.vpack");
    std::fs::write(&good, &bytes).unwrap();
    let baseline = answers(&good).expect("the undamaged pack answers");

    let sections = section_ranges(&bytes);
    for (kind, r) in &sections {
        if *kind != 1 && *kind != 5 {
            assert!(
                r.len() > 2 * 64 * 1024,
                "section {kind} spans several blocks"
            );
        }
    }
    // Regions: header, section table, each section, and the padding after each.
    let mut regions = vec![
        0..HEADER_LEN,
        HEADER_LEN..HEADER_LEN + sections.len() * SECTION_ENTRY_LEN,
    ];
    for (_, r) in &sections {
        regions.push(r.clone());
        let pad_end = r.end.div_ceil(64) * 64;
        if pad_end > r.end {
            regions.push(r.end..pad_end);
        }
    }
    let mut rng = Rng(7);
    let mut damages = Vec::new();
    for region in &regions {
        for _ in 0..12 {
            let at = region.start + rng.below(region.len());
            damages.push(Damage::Flip(at, 1 << rng.below(8)));
        }
        for len in [1usize, 16, 4096] {
            damages.push(Damage::Zero(region.start + rng.below(region.len()), len));
        }
        damages.push(Damage::Truncate(region.start + rng.below(region.len())));
    }
    for n in [1, 63, 64, 4096] {
        damages.push(Damage::Extend(n));
    }
    for _ in 0..24 {
        let a = rng.below(bytes.len() / 4096) * 4096;
        let c = rng.below(bytes.len() / 4096) * 4096;
        if a != c && (a + 4096).max(c + 4096) <= bytes.len() {
            damages.push(Damage::Swap(a, c, 4096));
        }
    }

    let (mut same, mut corrupt, mut unchanged) = (0, 0, 0);
    let mut failures = Vec::new();
    let path = dir.0.join("damaged.vpack");
    for d in &damages {
        let damaged = apply(&bytes, d);
        if damaged == bytes {
            unchanged += 1;
            continue;
        }
        std::fs::write(&path, &damaged).unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| answers(&path)));
        let version_changed = damaged.len() > 8 && damaged[8] != bytes[8];
        match outcome {
            Ok(Ok(got)) if got == baseline => same += 1,
            Ok(Err(CORRUPT)) => corrupt += 1,
            Ok(Err(UNSUPPORTED_VERSION)) if version_changed => corrupt += 1,
            Ok(Ok(_)) => failures.push(format!("{}: DIFFERENT ANSWER", describe(d))),
            Ok(Err(code)) => failures.push(format!("{}: code {code}", describe(d))),
            Err(_) => failures.push(format!("{}: PANIC", describe(d))),
        }
        // Full verification catches every change, whatever the queries touched.
        let verified = Pack::open(&path, true).map(|_| ()).map_err(|e| e.code());
        if !matches!(verified, Err(CORRUPT) | Err(UNSUPPORTED_VERSION)) {
            failures.push(format!("{}: verify gave {verified:?}", describe(d)));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(
        corrupt > damages.len() / 2,
        "most damage is seen by the queries ({corrupt})"
    );
    eprintln!(
        "{} damaged copies: {corrupt} corrupt, {same} same answers, {unchanged} unchanged",
        damages.len()
    );
}

fn describe(d: &Damage) -> String {
    match *d {
        Damage::Flip(at, m) => format!("flip {m:#04x} at {at}"),
        Damage::Zero(at, n) => format!("zero {n} at {at}"),
        Damage::Truncate(n) => format!("truncate to {n}"),
        Damage::Extend(n) => format!("extend by {n}"),
        Damage::Swap(a, c, n) => format!("swap {n} at {a} and {c}"),
    }
}

/// The same pack without its checksum section, laid out as packs were before it existed
/// (manifest, chunk table, chunk data, vectors), with valid section CRCs.
fn legacy_layout(bytes: &[u8]) -> Vec<u8> {
    let sections: Vec<(u32, Vec<u8>)> = section_ranges(bytes)
        .into_iter()
        .filter(|(k, _)| *k != 5)
        .map(|(k, r)| (k, bytes[r].to_vec()))
        .collect();
    let table_len = sections.len() * SECTION_ENTRY_LEN;
    let mut offset = (HEADER_LEN + table_len).div_ceil(64) * 64;
    let mut table = Vec::new();
    let mut body = vec![0u8; offset];
    for (kind, data) in &sections {
        table.extend_from_slice(&kind.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        table.extend_from_slice(&(offset as u64).to_le_bytes());
        table.extend_from_slice(&(data.len() as u64).to_le_bytes());
        table.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(data);
        offset = (offset + data.len()).div_ceil(64) * 64;
        body.resize(offset, 0);
    }
    let mut head = bytes[..64].to_vec();
    head[12..16].copy_from_slice(&(sections.len() as u32).to_le_bytes());
    head[16..24].copy_from_slice(&(body.len() as u64).to_le_bytes());
    head[24..28].copy_from_slice(&crc32fast::hash(&table).to_le_bytes());
    let crc = crc32fast::hash(&head[..60]);
    head[60..64].copy_from_slice(&crc.to_le_bytes());
    body[..64].copy_from_slice(&head);
    body[64..64 + table_len].copy_from_slice(&table);
    body
}

#[test]
fn packs_without_block_checksums_open_and_check_whole_sections_on_first_use() {
    let dir = TempDir::new("legacy");
    let bytes = pack_bytes();
    let good = dir.0.join("good.vpack");
    std::fs::write(&good, &bytes).unwrap();
    let baseline = answers(&good).unwrap();

    let legacy = legacy_layout(&bytes);
    let old = dir.0.join("old.vpack");
    std::fs::write(&old, &legacy).unwrap();
    assert_eq!(
        answers(&old).unwrap(),
        baseline,
        "a legacy pack answers the same"
    );
    Pack::open(&old, true).expect("a legacy pack verifies");

    let vectors = section_ranges(&legacy)
        .into_iter()
        .find(|(k, _)| *k == 4)
        .unwrap()
        .1;
    let data = section_ranges(&legacy)
        .into_iter()
        .find(|(k, _)| *k == 3)
        .unwrap()
        .1;
    for at in [
        vectors.start + 5,
        vectors.end - 1,
        data.start + 3,
        data.end - 2,
    ] {
        let mut damaged = legacy.clone();
        damaged[at] ^= 0x40;
        std::fs::write(&old, &damaged).unwrap();
        let pack = Pack::open(&old, false).expect("open stays O(1): no section read");
        assert_eq!(answers(&old), Err(CORRUPT), "damage at {at}");
        drop(pack);
    }
}

#[test]
fn hostile_but_checksummed_non_finite_vectors_are_refused() {
    // A writer that stores NaN and gives it a valid checksum is not a vpack writer; the
    // reader still refuses to rank such rows.
    let bytes = pack_bytes();
    let legacy = legacy_layout(&bytes);
    let vectors = section_ranges(&legacy)
        .into_iter()
        .find(|(k, _)| *k == 4)
        .unwrap()
        .1;
    let mut hostile = legacy.clone();
    hostile[vectors.start..vectors.start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let rebuilt = legacy_layout(&hostile); // re-checksums what it copies
    let dir = TempDir::new("nan");
    let path = dir.0.join("nan.vpack");
    std::fs::write(&path, &rebuilt).unwrap();
    assert_eq!(answers(&path), Err(CORRUPT));
}
