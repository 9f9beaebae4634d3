//! Pack sets: ordinary `.vpack` shards named by a small JSON set file, opened and
//! searched as one pack.
//!
//! A set file (`.vpackset` by convention) is UTF-8 JSON:
//!
//! ```json
//! {
//!   "format": "vpack-set",
//!   "version": 1,
//!   "chunk_count": 30,
//!   "shards": [
//!     {"path": "part-0.vpack", "chunk_count": 10, "fingerprint": "sha256:..."},
//!     {"path": "part-1.vpack", "chunk_count": 20, "fingerprint": "sha256:..."}
//!   ]
//! }
//! ```
//!
//! Paths are relative to the set file's folder, so the folder can be copied or moved as
//! a whole. A shard's `fingerprint` is the sha256 of its header and section table (which
//! hold the file length and every section's CRC-32): checking it costs O(1) per shard at
//! open, like the rest of a pack's open checks, and still catches a shard that was
//! rebuilt, replaced or swapped for another since the set was written. Chunk ids are
//! global: shard `i`'s chunk `j` is `offset_i + j`, where `offset_i` is the number of
//! chunks in the shards before it, so a set answers with the ids that one pack built from
//! the shards' chunks in shard order would.
//!
//! Searching fans out over the shards (on the process's worker pool when the set is big
//! enough to pay for it) and merges each shard's best `k` into the best `k` overall, by
//! score and then by the lower global id: for flat packs of f32 vectors, exactly the hits
//! and scores of that one pack.

use crate::error::{Error, Result};
use crate::format::reader::{open_regular, ChunkRef};
use crate::index::filter::Filter;
use crate::index::lexical::Bm25Stats;
use crate::index::topk::TopK;
use crate::index::Scored;
use crate::pack::{fuse, prepare_query, run_batch, BatchOut, Mode, Pack};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// The `format` value of a set file.
pub(crate) const SET_FORMAT: &str = "vpack-set";
/// The set file version this library writes and reads.
pub(crate) const SET_VERSION: u32 = 1;
/// Largest set file read (a set of 100,000 shards is about 15 MB).
const MAX_SET_FILE: u64 = 64 << 20;
/// Most shards in one set.
pub(crate) const MAX_SHARDS: usize = crate::VPACK_MAX_SHARDS;
/// From this many stored floats in all (16 MiB of f32, the size from which one flat pack
/// scans on every core), a query fans out over the worker pool; below it the shards are
/// searched one after the other on the calling thread. Waking a helper costs little on an
/// idle machine, but on a loaded one the woken thread can take the caller's core, and
/// the caller then waits for a core again: below this size that wait is longer than the
/// scan it would save (measured by benches/bench_sets.py).
const FAN_OUT_MIN_FLOATS: usize = 4 << 20;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFile {
    format: String,
    version: u32,
    chunk_count: u64,
    shards: Vec<ShardEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShardEntry {
    path: String,
    chunk_count: u64,
    fingerprint: String,
}

struct Shard {
    /// The path as the set file records it (used in messages).
    name: String,
    pack: Pack,
    /// Global id of the shard's first chunk.
    offset: u64,
}

/// An open pack set.
pub struct PackSet {
    shards: Arc<[Shard]>,
    len: usize,
    dimension: usize,
    metric: crate::index::Metric,
    /// The set's manifest (canonical JSON), see [`PackSet::manifest_json`].
    manifest: Vec<u8>,
    /// Whether a single query is worth spreading over threads.
    fan_out: bool,
}

fn corrupt_set(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("pack set {}: {msg}", path.display()))
}

/// Whether the first bytes of a file look like a set file (JSON object) rather than a
/// pack (magic bytes) or anything else.
fn looks_like_set(head: &[u8]) -> bool {
    head.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{')
}

/// A pack or a pack set: what a `vpack_index` handle holds.
// The handle itself is boxed once and then searched many times: no second box for the
// larger variant.
#[allow(clippy::large_enum_variant)]
pub enum AnyPack {
    One(Pack),
    Set(PackSet),
}

impl AnyPack {
    /// Opens the pack or the pack set at `path`, told apart by their first bytes (a
    /// pack's magic bytes, a set's `{`). `verify` checks every byte of every pack.
    pub fn open(path: &Path, verify: bool) -> Result<Self> {
        let (mut file, len) = open_regular(path)?;
        let mut head = [0u8; 16];
        let mut got = 0;
        while got < head.len() {
            match file.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(format!("read {}", path.display()), e)),
            }
        }
        if looks_like_set(&head[..got]) {
            if len > MAX_SET_FILE {
                return Err(Error::Limit(format!(
                    "pack set {} is {len} bytes (at most {MAX_SET_FILE})",
                    path.display()
                )));
            }
            let mut text = head[..got].to_vec();
            file.read_to_end(&mut text)
                .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
            return PackSet::from_file_text(path, &text, verify).map(AnyPack::Set);
        }
        drop(file);
        Pack::open(path, verify).map(AnyPack::One)
    }

    pub fn len(&self) -> usize {
        match self {
            AnyPack::One(p) => p.len(),
            AnyPack::Set(s) => s.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dimension(&self) -> usize {
        match self {
            AnyPack::One(p) => p.dimension(),
            AnyPack::Set(s) => s.dimension,
        }
    }

    /// The manifest as canonical JSON (for a set, see [`PackSet::manifest_json`]).
    pub fn manifest_json(&self) -> &[u8] {
        match self {
            AnyPack::One(p) => p.reader().manifest_json(),
            AnyPack::Set(s) => &s.manifest,
        }
    }

    pub fn chunk(&self, id: usize) -> Result<ChunkRef<'_>> {
        match self {
            AnyPack::One(p) => p.chunk(id),
            AnyPack::Set(s) => s.chunk(id),
        }
    }

    pub fn verify(&self) -> Result<()> {
        match self {
            AnyPack::One(p) => p.verify(),
            AnyPack::Set(s) => s.verify(),
        }
    }

    pub fn search_with(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&Filter>,
        ef: Option<usize>,
    ) -> Result<Vec<Scored>> {
        match self {
            AnyPack::One(p) => p.search_with(query, k, filter, ef),
            AnyPack::Set(s) => s.search_with(query, k, filter, ef),
        }
    }

    /// As `Pack::search_mode`. On a set, lexical scores use BM25 statistics summed over
    /// every shard, and hybrid fuses the set's merged dense and lexical candidates, so a
    /// set answers every mode as the one pack holding its shards' chunks would.
    pub fn search_mode(
        &self,
        mode: Mode,
        query: Option<&[f32]>,
        text: Option<&str>,
        k: usize,
        filter: Option<&Filter>,
        ef: Option<usize>,
    ) -> Result<Vec<Scored>> {
        match self {
            AnyPack::One(p) => p.search_mode(mode, query, text, k, filter, ef),
            AnyPack::Set(s) => s.search_mode(mode, query, text, k, filter, ef),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: Option<&Filter>,
        ef: Option<usize>,
        threads: usize,
        ids: &mut [u64],
        scores: &mut [f32],
        counts: &mut [usize],
    ) -> Result<()> {
        match self {
            AnyPack::One(p) => p.search_batch(queries, k, filter, ef, threads, ids, scores, counts),
            AnyPack::Set(s) => s.search_batch(queries, k, filter, ef, threads, ids, scores, counts),
        }
    }

    /// The stored vectors, row-major, read in place. A set of one shard has its shard's;
    /// a set of several has no contiguous rows (`NotFound`).
    pub fn vectors(&self) -> Result<&[f32]> {
        match self {
            AnyPack::One(p) => p.reader().vectors(),
            AnyPack::Set(s) => match &s.shards[..] {
                [only] => only
                    .pack
                    .reader()
                    .vectors()
                    .map_err(|e| e.context(format!("shard {}", only.name))),
                shards => Err(Error::NotFound(format!(
                    "a pack set of {} shards has no contiguous vectors; read each shard's",
                    shards.len()
                ))),
            },
        }
    }

    /// Copies the stored rows of the chunks `ids` (global ids) into `out`, row after row
    /// (`ids.len() * dimension` floats): what a second stage such as MMR needs, for a pack
    /// or a set of any number of shards. `NotFound` for an id out of range or a
    /// codes-only pack (shard), which stores no f32 rows.
    pub fn rows(&self, ids: &[u64], out: &mut [f32]) -> Result<()> {
        let dim = self.dimension();
        if Some(out.len()) != ids.len().checked_mul(dim) {
            return Err(Error::InvalidArg(format!(
                "{} rows of {dim} floats need room for {} floats, not {}",
                ids.len(),
                ids.len().saturating_mul(dim),
                out.len()
            )));
        }
        for (&id, row) in ids.iter().zip(out.chunks_exact_mut(dim.max(1))) {
            let id = usize::try_from(id).unwrap_or(usize::MAX);
            let (rows, local) = match self {
                AnyPack::One(p) => {
                    if id >= p.len() {
                        return Err(Error::NotFound(format!(
                            "chunk id {id} out of range (the pack has {} chunks)",
                            p.len()
                        )));
                    }
                    (p.reader().vectors()?, id)
                }
                AnyPack::Set(s) => {
                    let (shard, local) = s.locate(id)?;
                    let rows = shard
                        .pack
                        .reader()
                        .vectors()
                        .map_err(|e| e.context(format!("shard {}", shard.name)))?;
                    (rows, local)
                }
            };
            row.copy_from_slice(&rows[local * dim..(local + 1) * dim]);
        }
        Ok(())
    }

    pub fn embedder(&self) -> Result<Arc<dyn crate::embed::Embedder>> {
        match self {
            AnyPack::One(p) => p.embedder(),
            AnyPack::Set(s) => s.shards[0].pack.embedder(),
        }
    }

    /// The pack's bytes, checked. A set is several files: `InvalidArg`.
    pub fn to_bytes_checked(&self) -> Result<&[u8]> {
        match self {
            AnyPack::One(p) => p.to_bytes_checked(),
            AnyPack::Set(_) => Err(not_one_file()),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        match self {
            AnyPack::One(p) => p.save(path),
            AnyPack::Set(_) => Err(not_one_file()),
        }
    }
}

fn not_one_file() -> Error {
    Error::InvalidArg(
        "a pack set is several files, not one pack: copy its folder (the set file and its \
         shards) instead"
            .into(),
    )
}

/// Refuses `other` in a set whose first shard is `first`, naming both, unless they agree
/// on format version, dimension, metric and embedder.
fn check_compatible(first: (&str, &Pack), other: (&str, &Pack)) -> Result<()> {
    let (first_name, a) = first;
    let (name, b) = other;
    let (ma, mb) = (a.reader().manifest(), b.reader().manifest());
    let mismatch = |what: &str, x: String, y: String| {
        Error::InvalidArg(format!(
            "shard {name} does not fit the set: its {what} is {y}, shard {first_name}'s is {x}; \
             the shards of a set must agree on format version, dimension, metric and embedder"
        ))
    };
    let field = |m: &Map<String, Value>, key: &str| {
        m.get(key)
            .map_or_else(|| "none".to_string(), |v| v.to_string())
    };
    for key in ["format_version", "dimension", "metric", "embedder"] {
        if ma.get(key) != mb.get(key) {
            return Err(mismatch(key, field(ma, key), field(mb, key)));
        }
    }
    Ok(())
}

/// A shard path of a set file: relative, without empty, `.` or `..`-only trickery that
/// would leave the meaning unclear. `..` is allowed (a hand-written set may point next
/// door), absolute paths are not (the folder could not be copied).
fn shard_path(set_path: &Path, raw: &str) -> Result<PathBuf> {
    let rel = Path::new(raw);
    if raw.is_empty()
        || rel.is_absolute()
        || rel.components().any(|c| matches!(c, Component::Prefix(_)))
    {
        return Err(corrupt_set(
            set_path,
            format!("shard path {raw:?} must be relative to the set file's folder"),
        ));
    }
    let dir = match set_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Ok(dir.join(rel))
}

impl PackSet {
    fn from_file_text(path: &Path, text: &[u8], verify: bool) -> Result<Self> {
        let text = std::str::from_utf8(text).map_err(|_| corrupt_set(path, "not UTF-8"))?;
        let value: Value = serde_json::from_str(text)
            .map_err(|e| corrupt_set(path, format!("not valid JSON ({e})")))?;
        match (value.get("format"), value.get("version")) {
            (Some(Value::String(f)), Some(v)) if f == SET_FORMAT => {
                if v.as_u64() != Some(SET_VERSION as u64) {
                    return Err(Error::UnsupportedFeature(format!(
                        "pack set {} has version {v} (this library reads version {SET_VERSION})",
                        path.display()
                    )));
                }
            }
            _ => {
                return Err(corrupt_set(
                    path,
                    format!("not a pack set (no \"format\": \"{SET_FORMAT}\" and \"version\")"),
                ))
            }
        }
        let file: SetFile = serde_json::from_value(value)
            .map_err(|e| corrupt_set(path, format!("invalid set file ({e})")))?;
        if file.shards.is_empty() {
            return Err(corrupt_set(path, "it lists no shards"));
        }
        if file.shards.len() > MAX_SHARDS {
            return Err(Error::Limit(format!(
                "pack set {} lists {} shards (at most {MAX_SHARDS})",
                path.display(),
                file.shards.len()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        let mut shards = Vec::with_capacity(file.shards.len());
        let mut offset = 0u64;
        for (i, entry) in file.shards.iter().enumerate() {
            let name = entry.path.clone();
            if !seen.insert(name.clone()) {
                return Err(corrupt_set(path, format!("shard {name} is listed twice")));
            }
            let at = shard_path(path, &entry.path)?;
            let in_shard =
                |e: Error| e.context(format!("shard {i} ({name}) of pack set {}", path.display()));
            let pack = Pack::open(&at, verify).map_err(in_shard)?;
            if pack.reader().fingerprint() != entry.fingerprint
                || pack.len() as u64 != entry.chunk_count
            {
                return Err(in_shard(Error::Corrupt(
                    "the shard is not the pack the set file was written for (its fingerprint or \
                     chunk count differs: rebuilt or replaced since); write the set again"
                        .into(),
                )));
            }
            if let Some(first) = shards.first() {
                let first: &Shard = first;
                check_compatible((&first.name, &first.pack), (&name, &pack))?;
            }
            shards.push(Shard { name, pack, offset });
            offset += entry.chunk_count;
        }
        if offset != file.chunk_count {
            return Err(corrupt_set(
                path,
                format!(
                    "its chunk_count {} is not the sum of its shards' ({offset})",
                    file.chunk_count
                ),
            ));
        }
        let len = usize::try_from(offset).map_err(|_| corrupt_set(path, "too many chunks"))?;
        Self::from_shards(shards, len)
    }

    fn from_shards(shards: Vec<Shard>, len: usize) -> Result<Self> {
        let first = &shards[0].pack;
        let dimension = first.dimension();
        let metric = first.metric();
        let manifest = set_manifest(&shards, len)?;
        let floats = len.saturating_mul(dimension);
        let fan_out = shards.len() > 1 && floats >= FAN_OUT_MIN_FLOATS;
        Ok(PackSet {
            shards: shards.into(),
            len,
            dimension,
            metric,
            manifest,
            fan_out,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The shard holding global id `id`, and the id within it.
    fn locate(&self, id: usize) -> Result<(&Shard, usize)> {
        if id >= self.len {
            return Err(Error::NotFound(format!(
                "chunk id {id} out of range (the set has {} chunks)",
                self.len
            )));
        }
        let at = self.shards.partition_point(|s| s.offset <= id as u64) - 1;
        let shard = &self.shards[at];
        Ok((shard, id - shard.offset as usize))
    }

    pub fn chunk(&self, id: usize) -> Result<ChunkRef<'_>> {
        let (shard, local) = self.locate(id)?;
        shard
            .pack
            .chunk(local)
            .map_err(|e| e.context(format!("shard {}", shard.name)))
    }

    pub fn verify(&self) -> Result<()> {
        for shard in self.shards.iter() {
            shard
                .pack
                .verify()
                .map_err(|e| e.context(format!("shard {}", shard.name)))?;
        }
        Ok(())
    }

    /// As `Pack::search_with`, over every shard, with global ids. For flat f32 shards the
    /// hits and scores equal those of one pack holding the shards' chunks in order.
    pub fn search_with(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&Filter>,
        ef: Option<usize>,
    ) -> Result<Vec<Scored>> {
        let q = prepare_query(query, self.dimension, self.metric, k, ef)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        if self.fan_out && crate::parallel::scan_threads() > 1 {
            return self.search_fanned(q, k, filter, ef);
        }
        let mut top = TopK::new(k);
        for shard in self.shards.iter() {
            merge(&mut top, shard, search_shard(shard, &q, k, filter, ef)?);
        }
        Ok(top.into_sorted())
    }

    /// The shards searched by this thread and the pool's, each claiming the next shard
    /// not yet taken; the first error in shard order wins, as in a serial search.
    ///
    /// This thread never sleeps waiting for a helper: on a loaded machine a helper may be
    /// descheduled in the middle of its shard, and a sleeping caller waits for a free
    /// core again when it wakes (milliseconds at a load above the core count). So once
    /// every shard is claimed, it takes the results the helpers have sent and searches
    /// any shard still missing itself (the answer is the same; the helper's late copy is
    /// dropped): a query costs at most about one shard more than its share.
    fn search_fanned(
        &self,
        q: Vec<f32>,
        k: usize,
        filter: Option<&Filter>,
        ef: Option<usize>,
    ) -> Result<Vec<Scored>> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        type Reply = (usize, Result<Vec<Scored>>);
        let n = self.shards.len();
        let q: Arc<[f32]> = q.into();
        let filter = filter.cloned().map(Arc::new);
        let next = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = std::sync::mpsc::channel::<Reply>();
        let run = {
            let shards = self.shards.clone();
            move |i: usize| -> Result<Vec<Scored>> {
                let shard = &shards[i];
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    search_shard(shard, &q, k, filter.as_deref(), ef)
                }))
                .unwrap_or_else(|_| Err(Error::Panic(format!("searching shard {}", shard.name))))
            }
        };
        let run = Arc::new(run);
        let helper = {
            let (next, run) = (next.clone(), run.clone());
            let tx = std::sync::Mutex::new(tx);
            move || {
                let Ok(tx) = tx.lock().map(|t| t.clone()) else {
                    return;
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || tx.send((i, run(i))).is_err() {
                        return;
                    }
                }
            }
        };
        crate::parallel::spawn_helpers(crate::parallel::cores().min(n) - 1, helper);
        let mut results: Vec<Option<Result<Vec<Scored>>>> = (0..n).map(|_| None).collect();
        let store = |results: &mut Vec<Option<Result<Vec<Scored>>>>, (i, r): Reply| {
            if results[i].is_none() {
                results[i] = Some(r);
            }
        };
        crate::parallel::as_fan_out_part(|| loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            let r = run(i);
            store(&mut results, (i, r));
        });
        // Every shard is claimed. Take what the helpers sent; a shard still missing is
        // searched here rather than waited for.
        while let Some(i) = results.iter().position(Option::is_none) {
            while let Ok(reply) = rx.try_recv() {
                store(&mut results, reply);
            }
            if results[i].is_none() {
                let r = crate::parallel::as_fan_out_part(|| run(i));
                store(&mut results, (i, r));
            }
        }
        let mut top = TopK::new(k);
        for (shard, result) in self.shards.iter().zip(results) {
            let hits = result.ok_or_else(|| Error::Panic("a shard went unsearched".into()))??;
            merge(&mut top, shard, hits);
        }
        Ok(top.into_sorted())
    }

    /// As `Pack::search_mode`, over every shard (see `AnyPack::search_mode`).
    pub fn search_mode(
        &self,
        mode: Mode,
        query: Option<&[f32]>,
        text: Option<&str>,
        k: usize,
        filter: Option<&Filter>,
        ef: Option<usize>,
    ) -> Result<Vec<Scored>> {
        let (need_query, need_text) = crate::pack::mode_inputs(mode, query, text, k)?;
        match mode {
            Mode::Dense => self.search_with(need_query()?, k, filter, ef),
            Mode::Lexical => {
                self.check_lexical()?;
                self.search_lexical(need_text()?, k, filter)
            }
            Mode::Hybrid => {
                let (query, text) = (need_query()?, need_text()?);
                let weight = self.check_lexical()?;
                let depth = k.max(crate::pack::HYBRID_DEPTH);
                let dense = self.search_with(query, depth, filter, ef)?;
                let lexical = self.search_lexical(text, depth, filter)?;
                Ok(fuse(&dense, &lexical, weight, k))
            }
        }
    }

    /// The set's hybrid weight, once every shard is known to hold a lexical index built
    /// with the same settings (tokenizer, fields, k1, b, weight); otherwise the error names
    /// the shard that differs.
    fn check_lexical(&self) -> Result<f32> {
        let settings = |s: &Shard| {
            s.pack
                .reader()
                .manifest()
                .get("index")
                .and_then(|i| i.get("lexical"))
                .cloned()
        };
        let first = &self.shards[0];
        let want = settings(first);
        for shard in self.shards.iter() {
            shard
                .pack
                .hybrid_weight()
                .map_err(|e| e.context(format!("shard {}", shard.name)))?;
            let got = settings(shard);
            if got != want {
                return Err(Error::InvalidArg(format!(
                    "shard {} was built with other lexical settings ({}) than shard {} ({}); \
                     lexical and hybrid queries on a set need the same settings in every shard",
                    shard.name,
                    got.unwrap_or_default(),
                    first.name,
                    want.unwrap_or_default()
                )));
            }
        }
        first.pack.hybrid_weight()
    }

    /// BM25 over every shard with the set's summed statistics, merged by score and then
    /// the lower global id.
    fn search_lexical(&self, text: &str, k: usize, filter: Option<&Filter>) -> Result<Vec<Scored>> {
        // Every shard has the same tokenizer (`check_lexical`).
        let first = &self.shards[0];
        let terms = first
            .pack
            .query_terms(text)
            .map_err(|e| e.context(format!("shard {}", first.name)))?;
        let mut stats: Option<Bm25Stats> = None;
        for shard in self.shards.iter() {
            let here = shard
                .pack
                .lexical_stats(&terms)
                .map_err(|e| e.context(format!("shard {}", shard.name)))?;
            match &mut stats {
                None => stats = Some(here),
                Some(total) => total.add(&here),
            }
        }
        let Some(stats) = stats else {
            return Ok(Vec::new());
        };
        let mut top = TopK::new(k);
        for shard in self.shards.iter() {
            let hits = shard
                .pack
                .search_lexical(&terms, &stats, k, filter)
                .map_err(|e| e.context(format!("shard {}", shard.name)))?;
            merge(&mut top, shard, hits);
        }
        Ok(top.into_sorted())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: Option<&Filter>,
        ef: Option<usize>,
        threads: usize,
        ids: &mut [u64],
        scores: &mut [f32],
        counts: &mut [usize],
    ) -> Result<()> {
        let out = BatchOut {
            ids,
            scores,
            counts,
        };
        let prepare = || {
            self.shards.iter().try_for_each(|s| {
                s.pack
                    .prepare_batch()
                    .map_err(|e| e.context(format!("shard {}", s.name)))
            })
        };
        run_batch(self.dimension, queries, k, ef, threads, out, prepare, |q| {
            self.search_with(q, k, filter, ef)
        })
    }
}

fn search_shard(
    shard: &Shard,
    q: &[f32],
    k: usize,
    filter: Option<&Filter>,
    ef: Option<usize>,
) -> Result<Vec<Scored>> {
    shard
        .pack
        .search_prepared(q, k, filter, ef)
        .map_err(|e| e.context(format!("shard {}", shard.name)))
}

fn merge(top: &mut TopK, shard: &Shard, hits: Vec<Scored>) {
    for hit in hits {
        top.push(shard.offset + hit.id, hit.score);
    }
}

/// The set's manifest: the first shard's, with `chunk_count` (and `documents`, when
/// every shard records it) summed, `index` replaced by `{"kind": "mixed"}` when the
/// shards' differ, and a `set` entry listing the shards (`path`, `chunk_count`).
fn set_manifest(shards: &[Shard], len: usize) -> Result<Vec<u8>> {
    let mut manifest = shards[0].pack.reader().manifest().clone();
    manifest.insert("chunk_count".into(), Value::from(len as u64));
    let documents: Option<u64> = shards
        .iter()
        .map(|s| {
            s.pack
                .reader()
                .manifest()
                .get("documents")
                .and_then(Value::as_u64)
        })
        .sum();
    match documents {
        Some(d) => manifest.insert("documents".into(), Value::from(d)),
        None => manifest.remove("documents"),
    };
    let index = manifest.get("index").cloned();
    if shards
        .iter()
        .any(|s| s.pack.reader().manifest().get("index") != index.as_ref())
    {
        manifest.insert("index".into(), serde_json::json!({"kind": "mixed"}));
    }
    let listed: Vec<Value> = shards
        .iter()
        .map(|s| serde_json::json!({"path": s.name, "chunk_count": s.pack.len()}))
        .collect();
    manifest.insert(
        "set".into(),
        serde_json::json!({"format": SET_FORMAT, "version": SET_VERSION, "shards": listed}),
    );
    serde_json::to_vec(&manifest).map_err(|e| Error::json("set manifest", e))
}

/// Writes a set file at `path` naming `shards` (pack files) in this order, atomically.
/// Every shard is opened (O(1) checks), must lie inside the set file's folder (its path
/// is recorded relative to it), and must agree with the first on format version,
/// dimension, metric and embedder.
pub fn write_set(path: &Path, shards: &[PathBuf]) -> Result<()> {
    if shards.is_empty() {
        return Err(Error::InvalidArg(
            "a pack set needs at least one shard".into(),
        ));
    }
    if shards.len() > MAX_SHARDS {
        return Err(Error::Limit(format!(
            "{} shards (at most {MAX_SHARDS})",
            shards.len()
        )));
    }
    if path.file_name().is_none() {
        return Err(Error::InvalidArg(format!(
            "{} is not a file path",
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = dir.canonicalize().map_err(|e| {
        Error::io(
            format!(
                "cannot write {}: its folder {}",
                path.display(),
                dir.display()
            ),
            e,
        )
    })?;
    let mut entries = Vec::with_capacity(shards.len());
    let mut opened: Vec<(String, Pack)> = Vec::with_capacity(shards.len());
    let mut total = 0u64;
    for shard in shards {
        let pack = Pack::open(shard, false)
            .map_err(|e| e.context(format!("shard {}", shard.display())))?;
        let real = shard
            .canonicalize()
            .map_err(|e| Error::io(format!("shard {}", shard.display()), e))?;
        let rel = real.strip_prefix(&dir).map_err(|_| {
            Error::InvalidArg(format!(
                "shard {} is not inside the set file's folder {}: a set records its shards' \
                 paths relative to that folder, so the folder can be copied whole",
                shard.display(),
                dir.display()
            ))
        })?;
        let rel = rel
            .to_str()
            .ok_or_else(|| Error::InvalidUtf8(format!("shard path {}", rel.display())))?
            .to_string();
        if opened.iter().any(|(name, _)| *name == rel) {
            return Err(Error::InvalidArg(format!("shard {rel} is listed twice")));
        }
        if let Some((first_name, first)) = opened.first() {
            check_compatible((first_name, first), (&rel, &pack))?;
        }
        entries.push(ShardEntry {
            path: rel.clone(),
            chunk_count: pack.len() as u64,
            fingerprint: pack.reader().fingerprint(),
        });
        total += pack.len() as u64;
        opened.push((rel, pack));
    }
    let file = SetFile {
        format: SET_FORMAT.into(),
        version: SET_VERSION,
        chunk_count: total,
        shards: entries,
    };
    let mut text = serde_json::to_vec_pretty(&file).map_err(|e| Error::json("set file", e))?;
    text.push(b'\n');
    crate::atomic::write_atomic(path, |out| {
        out.write_all(&text)
            .map_err(|e| Error::io(format!("write {}", path.display()), e))
    })
}
