//! Collects chunks and vectors and lays out a deterministic .vpack image. Added data is
//! spooled to temporary files as it arrives, so building a pack of any size holds only
//! the current batch in memory; `finish_to_file` streams the spools into the pack.

use super::blocks::{self, BlockHasher};
use super::*;
use crate::error::{Error, Result};
use crate::index::codes::{self, CodeKind};
use crate::index::hnsw::{self, HnswBuilder, HnswParams};
use crate::index::lexical::{self, LexicalBuilder};
use crate::index::tokenize::Tokenizer;
use crate::index::{normalize, Metric};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Keys of the manifest that the writer owns; a caller may repeat them only with the
/// same value.
const RESERVED_KEYS: [&str; 5] = [
    "format_version",
    "dimension",
    "metric",
    "chunk_count",
    "index",
];

/// Largest text or metadata of one chunk (the chunk table stores u32 lengths).
const MAX_FIELD_LEN: usize = u32::MAX as usize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkIn {
    pub text: String,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

/// Builder options, from JSON: `{"dimension": 384, "metric": "cosine", "temp_dir": "/tmp"}`.
/// Added chunks are spooled to unlinked files in `temp_dir` (default: the system's).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuilderOptions {
    pub dimension: usize,
    #[serde(default = "default_metric")]
    pub metric: String,
    #[serde(default)]
    pub temp_dir: Option<String>,
    #[serde(default)]
    pub index: IndexOptions,
}

/// Which index the pack holds: `{"kind": "flat"}` (exact; the default), `{"kind": "hnsw",
/// "m": 16, "ef_construction": 200, "ef_search": 64, "threads": N}`, or `{"kind": "auto"}`
/// (hnsw from `AUTO_HNSW_MIN_CHUNKS` chunks on, else flat; the manifest records the choice).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexOptions {
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub m: Option<usize>,
    #[serde(default)]
    pub ef_construction: Option<usize>,
    #[serde(default)]
    pub ef_search: Option<usize>,
    /// Build threads (default: all cores). Does not change the bytes written.
    #[serde(default)]
    pub threads: Option<usize>,
    /// Compressed vectors for the flat scan: "f32" (none; the default), "f16" or "int8".
    #[serde(default)]
    pub codes: Option<String>,
    /// With codes: candidates rescored exactly per hit wanted (default 4).
    #[serde(default)]
    pub rescore: Option<usize>,
    /// With codes on a flat pack: store only the codes, no f32 vectors (a smaller pack;
    /// scores come from the codes, no exact rescoring).
    #[serde(default)]
    pub codes_only: Option<bool>,
    /// A lexical (BM25) index over the chunk text and some metadata fields, for lexical
    /// and hybrid queries: `{}` for the defaults.
    #[serde(default)]
    pub lexical: Option<LexicalOptions>,
}

/// The lexical index's parameters, recorded in the manifest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LexicalOptions {
    /// BM25 term-frequency saturation (0..=100, default 1.5).
    #[serde(default)]
    pub k1: Option<f32>,
    /// BM25 length normalisation (0..=1, default 0.9).
    #[serde(default)]
    pub b: Option<f32>,
    /// Metadata fields (strings) indexed with the text (default: none; the section
    /// chunker's text already holds its heading, and on the FAQ evaluation adding title
    /// and section lowered BM25 on every set).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// The lexical share of a hybrid score (0..=1, default 0.2).
    #[serde(default)]
    pub hybrid_weight: Option<f32>,
    /// Snowball stemming of words and identifier parts in this language (e.g.
    /// `"english"`; default none).
    #[serde(default)]
    pub stem: Option<String>,
}

const MAX_LEXICAL_FIELDS: usize = 16;

impl LexicalOptions {
    fn k1(&self) -> f32 {
        self.k1.unwrap_or(lexical::DEFAULT_K1)
    }

    fn b(&self) -> f32 {
        self.b.unwrap_or(lexical::DEFAULT_B)
    }

    fn hybrid_weight(&self) -> f32 {
        self.hybrid_weight.unwrap_or(lexical::DEFAULT_HYBRID_WEIGHT)
    }

    fn fields(&self) -> Vec<String> {
        self.fields.clone().unwrap_or_default()
    }

    fn tokenizer(&self) -> Result<Tokenizer> {
        match &self.stem {
            None => Ok(Tokenizer::plain()),
            Some(language) => Tokenizer::stemming(language),
        }
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidArg(format!("lexical: {m}")));
        if !(0.0..=100.0).contains(&self.k1()) {
            return bad(format!("k1 must be in 0..=100, got {}", self.k1()));
        }
        if !(0.0..=1.0).contains(&self.b()) {
            return bad(format!("b must be in 0..=1, got {}", self.b()));
        }
        self.tokenizer()?;
        if !(0.0..=1.0).contains(&self.hybrid_weight()) {
            return bad(format!(
                "hybrid_weight must be in 0..=1, got {}",
                self.hybrid_weight()
            ));
        }
        let fields = self.fields();
        if fields.len() > MAX_LEXICAL_FIELDS || fields.iter().any(|f| f.is_empty() || f.len() > 256)
        {
            return bad(format!(
                "fields must be at most {MAX_LEXICAL_FIELDS} non-empty names"
            ));
        }
        Ok(())
    }
}

pub(crate) const DEFAULT_RESCORE: usize = 4;
const MAX_RESCORE: usize = 1024;

/// `auto` builds an HNSW graph from this many chunks on: below it an exact scan takes a
/// few milliseconds at most and needs no build time.
pub(crate) const AUTO_HNSW_MIN_CHUNKS: u64 = 50_000;

/// The resolved index of a pack being finished.
#[derive(Debug, Clone, Copy)]
enum IndexPlan {
    Flat,
    Hnsw {
        params: HnswParams,
        ef_search: usize,
    },
}

impl IndexOptions {
    fn check(&self) -> Result<()> {
        match self.kind.as_deref().unwrap_or("flat") {
            "flat" | "hnsw" | "auto" => {}
            other => {
                return Err(Error::InvalidArg(format!(
                    "index kind must be flat, hnsw or auto, got '{other}'"
                )))
            }
        }
        self.hnsw_params()?.check()?;
        let codes = CodeKind::parse(self.codes.as_deref().unwrap_or("f32"))?;
        if self.codes_only() {
            if codes.is_none() {
                return Err(Error::InvalidArg(
                    "codes_only needs codes f16 or int8 (the f32 vectors would be dropped)".into(),
                ));
            }
            if self.rescore.is_some() {
                return Err(Error::InvalidArg(
                    "rescore has no effect with codes_only (no f32 vectors to rescore)".into(),
                ));
            }
            if self.kind.as_deref().unwrap_or("flat") != "flat" {
                return Err(Error::InvalidArg(
                    "codes_only needs index kind flat (an HNSW walk reads the f32 vectors)".into(),
                ));
            }
        }
        let rescore = self.rescore.unwrap_or(DEFAULT_RESCORE);
        if !(1..=MAX_RESCORE).contains(&rescore) {
            return Err(Error::InvalidArg(format!(
                "rescore must be in 1..={MAX_RESCORE}, got {rescore}"
            )));
        }
        if let Some(lexical) = &self.lexical {
            lexical.check()?;
        }
        let ef = self.ef_search.unwrap_or(hnsw::DEFAULT_EF_SEARCH);
        if !(1..=hnsw::MAX_EF).contains(&ef) {
            return Err(Error::InvalidArg(format!(
                "ef_search must be in 1..={}, got {ef}",
                hnsw::MAX_EF
            )));
        }
        Ok(())
    }

    fn codes_only(&self) -> bool {
        self.codes_only.unwrap_or(false)
    }

    fn hnsw_params(&self) -> Result<HnswParams> {
        Ok(HnswParams {
            m: self.m.unwrap_or(hnsw::DEFAULT_M),
            ef_construction: self
                .ef_construction
                .unwrap_or(hnsw::DEFAULT_EF_CONSTRUCTION),
        })
    }

    fn plan(&self, count: u64) -> Result<IndexPlan> {
        let hnsw = match self.kind.as_deref().unwrap_or("flat") {
            "hnsw" => true,
            "auto" => count >= AUTO_HNSW_MIN_CHUNKS,
            _ => false,
        };
        Ok(if hnsw {
            IndexPlan::Hnsw {
                params: self.hnsw_params()?,
                ef_search: self.ef_search.unwrap_or(hnsw::DEFAULT_EF_SEARCH),
            }
        } else {
            IndexPlan::Flat
        })
    }
}

fn default_metric() -> String {
    "cosine".to_string()
}

/// One section being written to an unlinked temporary file; its length and CRC-32 grow
/// with it, so memory stays flat however large the pack gets.
struct Spool {
    file: BufWriter<File>,
    len: u64,
    crc: crc32fast::Hasher,
    blocks: BlockHasher,
}

static SPOOL_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Spool {
    fn new(dir: &Path) -> Result<Self> {
        let path = dir.join(format!(
            ".vpack-spool-{}-{}",
            std::process::id(),
            SPOOL_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(format!("create temporary file in {}", dir.display()), e))?;
        // Unlinked at once: the data lives as long as the handle, and a crash leaves nothing.
        std::fs::remove_file(&path)
            .map_err(|e| Error::io(format!("unlink temporary file {}", path.display()), e))?;
        Ok(Spool {
            file: BufWriter::with_capacity(1 << 16, file),
            len: 0,
            crc: crc32fast::Hasher::new(),
            blocks: BlockHasher::new(blocks::BLOCK_SIZE),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io("write temporary file", e))?;
        self.crc.update(bytes);
        self.blocks.update(bytes);
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// The written bytes, from the start, with their length, CRC-32 and block CRCs.
    fn into_reader(self) -> Result<(File, u64, u32, Vec<u32>)> {
        let mut file = self
            .file
            .into_inner()
            .map_err(|e| Error::io("flush temporary file", e.into_error()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io("rewind temporary file", e))?;
        Ok((file, self.len, self.crc.finalize(), self.blocks.finish()))
    }
}

pub struct PackWriter {
    dimension: usize,
    index: IndexOptions,
    metric: Metric,
    table: Spool,
    data: Spool,
    vectors: Spool,
    /// The lexical index being collected, with the metadata fields it reads.
    lexical: Option<(LexicalBuilder, Vec<String>)>,
    count: u64,
    /// Set when a write to a spool failed midway: the spools no longer match `count`.
    broken: bool,
}

impl PackWriter {
    pub fn new(options: BuilderOptions) -> Result<Self> {
        if options.dimension == 0 || options.dimension > crate::VPACK_MAX_DIMENSION {
            return Err(Error::InvalidArg(format!(
                "dimension must be in 1..=65536, got {}",
                options.dimension
            )));
        }
        let metric = Metric::parse(&options.metric)?;
        options.index.check()?;
        let index = options.index.clone();
        let dir = options
            .temp_dir
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        Ok(PackWriter {
            dimension: options.dimension,
            index,
            metric,
            table: Spool::new(&dir)?,
            data: Spool::new(&dir)?,
            vectors: Spool::new(&dir)?,
            lexical: options
                .index
                .lexical
                .as_ref()
                .map(|l| Ok::<_, Error>((LexicalBuilder::new(l.tokenizer()?), l.fields())))
                .transpose()?,
            count: 0,
            broken: false,
        })
    }

    pub fn dimension(&self) -> usize {
        self.dimension
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn check_usable(&self) -> Result<()> {
        if self.broken {
            return Err(Error::InvalidArg(
                "this builder failed to write its temporary files and cannot be used".into(),
            ));
        }
        Ok(())
    }

    /// Appends `chunks` with their vectors (`chunks.len() * dimension` floats). Nothing is
    /// appended when any input is invalid.
    pub fn add(&mut self, chunks: Vec<ChunkIn>, vectors: &[f32]) -> Result<()> {
        self.check_usable()?;
        let want = chunks.len() * self.dimension;
        if vectors.len() != want {
            return Err(Error::DimensionMismatch {
                expected: want,
                got: vectors.len(),
            });
        }
        if let Some(pos) = vectors.iter().position(|x| !x.is_finite()) {
            return Err(Error::InvalidArg(format!(
                "vector {} has a non-finite value at position {}",
                pos / self.dimension,
                pos % self.dimension
            )));
        }
        let mut encoded = Vec::with_capacity(chunks.len());
        // Each chunk's lexical fields: the text, then the named metadata strings.
        let mut lexical_fields: Vec<Vec<String>> = Vec::new();
        for (i, chunk) in chunks.into_iter().enumerate() {
            if let Some((_, fields)) = &self.lexical {
                let mut texts = vec![chunk.text.clone()];
                texts.extend(
                    fields
                        .iter()
                        .filter_map(|f| chunk.metadata.get(f).and_then(Value::as_str))
                        .map(str::to_string),
                );
                lexical_fields.push(texts);
            }
            let meta = if chunk.metadata.is_empty() {
                Vec::new()
            } else {
                serde_json::to_vec(&chunk.metadata).map_err(|e| Error::json("metadata", e))?
            };
            if chunk.text.len() > MAX_FIELD_LEN || meta.len() > MAX_FIELD_LEN {
                return Err(Error::Limit(format!("chunk {i} is larger than 4 GiB")));
            }
            encoded.push((chunk.text, meta));
        }
        let mut rows = vectors.to_vec();
        if self.metric == Metric::Cosine {
            for (i, row) in rows.chunks_exact_mut(self.dimension).enumerate() {
                if !normalize(row) {
                    return Err(Error::InvalidArg(format!(
                        "vector {i} has zero norm: a cosine pack cannot rank it"
                    )));
                }
            }
        }
        let mut result = self.append(&encoded, &rows);
        if result.is_ok() {
            if let Some((builder, _)) = &mut self.lexical {
                for texts in &lexical_fields {
                    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                    result = builder.add(&refs);
                    if result.is_err() {
                        break;
                    }
                }
            }
        }
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    fn append(&mut self, encoded: &[(String, Vec<u8>)], rows: &[f32]) -> Result<()> {
        let mut entry = [0u8; CHUNK_ENTRY_LEN];
        for (text, meta) in encoded {
            entry[..8].copy_from_slice(&self.data.len.to_le_bytes());
            entry[8..12].copy_from_slice(&(text.len() as u32).to_le_bytes());
            entry[12..].copy_from_slice(&(meta.len() as u32).to_le_bytes());
            self.table.write(&entry)?;
            self.data.write(text.as_bytes())?;
            self.data.write(meta)?;
        }
        let mut bytes = Vec::with_capacity(rows.len() * 4);
        for x in rows {
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        self.vectors.write(&bytes)?;
        self.count += encoded.len() as u64;
        Ok(())
    }

    /// The finished pack image, in memory. `manifest` is stored with the keys vpack owns
    /// added; an `embedder` entry must describe vectors of this pack's dimension.
    pub fn finish(self, manifest: Map<String, Value>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(manifest, &mut out)?;
        Ok(out)
    }

    /// Writes the finished pack to `path` atomically, streaming from the temporary files.
    pub fn finish_to_file(self, manifest: Map<String, Value>, path: &Path) -> Result<()> {
        let manifest = self.final_manifest(manifest)?;
        crate::atomic::write_atomic(path, |out| self.write_sections(&manifest, out))
    }

    fn write_to(self, manifest: Map<String, Value>, out: &mut impl Write) -> Result<()> {
        let manifest = self.final_manifest(manifest)?;
        self.write_sections(&manifest, out)
    }

    fn final_manifest(&self, mut manifest: Map<String, Value>) -> Result<Vec<u8>> {
        self.check_usable()?;
        check_reserved(&manifest, self.dimension, self.metric)?;
        if let Some(embedder) = manifest.get("embedder") {
            check_embedder(embedder, self.dimension)?;
        }
        manifest.insert("format_version".into(), Value::from(VERSION));
        manifest.insert("dimension".into(), Value::from(self.dimension));
        manifest.insert("metric".into(), Value::from(self.metric.name()));
        manifest.insert("chunk_count".into(), Value::from(self.count));
        let index = match self.index.plan(self.count)? {
            IndexPlan::Flat => serde_json::json!({"kind": "flat"}),
            IndexPlan::Hnsw { params, ef_search } => serde_json::json!({
                "kind": "hnsw",
                "m": params.m,
                "ef_construction": params.ef_construction,
                "ef_search": ef_search,
            }),
        };
        let mut index = index;
        if let Some(kind) = CodeKind::parse(self.index.codes.as_deref().unwrap_or("f32"))? {
            index["codes"] = Value::from(kind.name());
            if self.index.codes_only() {
                index["codes_only"] = Value::from(true);
            } else {
                index["rescore"] = Value::from(self.index.rescore.unwrap_or(DEFAULT_RESCORE));
            }
        }
        if let Some(lexical) = &self.index.lexical {
            // An f32 as the decimal it was written as (0.9, not 0.8999999761581421).
            let decimal = |x: f32| x.to_string().parse::<f64>().unwrap_or(f64::from(x));
            index["lexical"] = serde_json::json!({
                "tokenizer": lexical.tokenizer()?.name(),
                "k1": decimal(lexical.k1()),
                "b": decimal(lexical.b()),
                "fields": lexical.fields(),
                "hybrid_weight": decimal(lexical.hybrid_weight()),
            });
        }
        if self.index.kind.as_deref() == Some("auto") {
            index["chosen_by"] = Value::from(format!(
                "auto ({AUTO_HNSW_MIN_CHUNKS} chunks or more: hnsw)"
            ));
        }
        manifest.insert("index".into(), index);
        serde_json::to_vec(&Value::Object(manifest)).map_err(|e| Error::json("manifest", e))
    }

    fn write_sections(self, manifest: &[u8], out: &mut dyn Write) -> Result<()> {
        let plan = self.index.plan(self.count)?;
        let threads = self.index.threads;
        let (dimension, metric) = (self.dimension, self.metric);
        let (mut table, table_len, table_crc, table_blocks) = self.table.into_reader()?;
        let (mut data, data_len, data_crc, data_blocks) = self.data.into_reader()?;
        let (mut vectors, vectors_len, vectors_crc, vector_blocks) = self.vectors.into_reader()?;
        let code_kind = CodeKind::parse(self.index.codes.as_deref().unwrap_or("f32"))?;
        let (graph, codes) = if matches!(plan, IndexPlan::Flat) && code_kind.is_none() {
            (None, None)
        } else {
            let rows = read_floats(&mut vectors, vectors_len)?;
            vectors
                .seek(SeekFrom::Start(0))
                .map_err(|e| Error::io("rewind temporary file", e))?;
            let graph = match plan {
                IndexPlan::Flat => None,
                IndexPlan::Hnsw { params, .. } => {
                    let threads = threads.unwrap_or_else(crate::parallel::cores);
                    let graph =
                        HnswBuilder::new(&rows, dimension, metric, params)?.build(threads)?;
                    Some(graph.encode())
                }
            };
            (graph, code_kind.map(|k| codes::encode(k, &rows, dimension)))
        };
        let lexical = match (self.lexical, &self.index.lexical) {
            (Some((builder, _)), Some(options)) => Some(builder.encode(options.k1(), options.b())?),
            _ => None,
        };
        let keep_vectors = !self.index.codes_only();
        // Block CRCs of the covered sections, in their section-table order.
        let mut lists = vec![table_blocks, data_blocks];
        if keep_vectors {
            lists.push(vector_blocks);
        }
        for extra in [&graph, &codes, &lexical].into_iter().flatten() {
            let mut h = BlockHasher::new(blocks::BLOCK_SIZE);
            h.update(extra);
            lists.push(h.finish());
        }
        let checksums = blocks::encode(blocks::BLOCK_SIZE, &lists);
        let mut sections = vec![
            (
                SECTION_MANIFEST,
                manifest.len() as u64,
                crc32fast::hash(manifest),
            ),
            (
                SECTION_CHECKSUMS,
                checksums.len() as u64,
                crc32fast::hash(&checksums),
            ),
            (SECTION_CHUNK_TABLE, table_len, table_crc),
            (SECTION_CHUNK_DATA, data_len, data_crc),
        ];
        if keep_vectors {
            sections.push((SECTION_VECTORS, vectors_len, vectors_crc));
        }
        if let Some(g) = &graph {
            sections.push((SECTION_HNSW, g.len() as u64, crc32fast::hash(g)));
        }
        if let Some(c) = &codes {
            sections.push((SECTION_CODES, c.len() as u64, crc32fast::hash(c)));
        }
        if let Some(l) = &lexical {
            sections.push((SECTION_LEXICAL, l.len() as u64, crc32fast::hash(l)));
        }
        let (head, offsets, file_len) = layout_head(&sections);
        let write_err = |e| Error::io("write pack", e);
        out.write_all(&head).map_err(write_err)?;
        let mut pos = head.len() as u64;
        let mut manifest_reader: &[u8] = manifest;
        let mut checksum_reader: &[u8] = &checksums;
        let mut graph_reader: &[u8] = graph.as_deref().unwrap_or_default();
        let mut codes_reader: &[u8] = codes.as_deref().unwrap_or_default();
        let mut lexical_reader: &[u8] = lexical.as_deref().unwrap_or_default();
        // In the order of `sections`.
        let mut sources: Vec<&mut dyn Read> = vec![
            &mut manifest_reader,
            &mut checksum_reader,
            &mut table,
            &mut data,
        ];
        if keep_vectors {
            sources.push(&mut vectors);
        }
        if graph.is_some() {
            sources.push(&mut graph_reader);
        }
        if codes.is_some() {
            sources.push(&mut codes_reader);
        }
        if lexical.is_some() {
            sources.push(&mut lexical_reader);
        }
        for ((_, len, _), (offset, source)) in sections.iter().zip(offsets.iter().zip(sources)) {
            write_zeros(out, offset - pos).map_err(write_err)?;
            let copied = std::io::copy(&mut source.take(*len), out).map_err(write_err)?;
            if copied != *len {
                return Err(Error::io(
                    "copy temporary file",
                    std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                ));
            }
            pos = offset + len;
        }
        write_zeros(out, file_len - pos).map_err(write_err)?;
        Ok(())
    }
}

/// Reads a spooled vector section back as floats (to build a graph over them), straight
/// into the float buffer so the vectors are held once.
fn read_floats(file: &mut File, len: u64) -> Result<Vec<f32>> {
    let n =
        usize::try_from(len / 4).map_err(|_| Error::Limit("vector section too large".into()))?;
    let mut floats: Vec<f32> = Vec::new();
    floats
        .try_reserve_exact(n)
        .map_err(|_| Error::Limit(format!("cannot allocate {len} bytes to build the graph")))?;
    floats.resize(n, 0.0);
    // SAFETY: the buffer holds `n` initialised f32s, i.e. `4 * n` bytes, and any bytes
    // form a valid f32; the host is little-endian like the file (reader.rs refuses others).
    let bytes = unsafe { std::slice::from_raw_parts_mut(floats.as_mut_ptr().cast::<u8>(), 4 * n) };
    file.read_exact(bytes)
        .map_err(|e| Error::io("read temporary file", e))?;
    Ok(floats)
}

fn write_zeros(out: &mut dyn Write, n: u64) -> std::io::Result<()> {
    std::io::copy(&mut std::io::repeat(0).take(n), out).map(|_| ())
}

fn check_reserved(manifest: &Map<String, Value>, dimension: usize, metric: Metric) -> Result<()> {
    for key in RESERVED_KEYS {
        let Some(given) = manifest.get(key) else {
            continue;
        };
        let ok = match key {
            "dimension" => given.as_u64() == Some(dimension as u64),
            "metric" => given.as_str() == Some(metric.name()),
            _ => false,
        };
        if !ok {
            return Err(Error::InvalidArg(format!(
                "manifest key '{key}' is set by vpack and cannot be given ({given})"
            )));
        }
    }
    Ok(())
}

/// A recorded embedder is what queries re-create, so it must say which vectors it makes.
fn check_embedder(embedder: &Value, dimension: usize) -> Result<()> {
    let dim = embedder
        .as_object()
        .ok_or_else(|| Error::InvalidArg("manifest 'embedder' must be a JSON object".into()))?
        .get("dimension")
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            Error::InvalidArg("manifest 'embedder' must hold its integer 'dimension'".into())
        })?;
    if dim != dimension as u64 {
        return Err(Error::DimensionMismatch {
            expected: dimension,
            got: usize::try_from(dim).unwrap_or(usize::MAX),
        });
    }
    Ok(())
}

/// Header and section table for sections of the given kinds, lengths and CRCs, laid
/// out on 64-byte boundaries. Returns the bytes, each section's offset, and the file length.
fn layout_head(sections: &[(u32, u64, u32)]) -> (Vec<u8>, Vec<u64>, u64) {
    let table_len = sections.len() * SECTION_ENTRY_LEN;
    let mut offset = align_up(HEADER_LEN + table_len) as u64;
    let mut offsets = Vec::with_capacity(sections.len());
    let mut table = Vec::with_capacity(table_len);
    for (kind, len, crc) in sections {
        offsets.push(offset);
        table.extend_from_slice(&kind.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        table.extend_from_slice(&offset.to_le_bytes());
        table.extend_from_slice(&len.to_le_bytes());
        table.extend_from_slice(&crc.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        offset = align_up64(offset + len);
    }
    let file_len = if sections.is_empty() {
        (HEADER_LEN + table_len) as u64
    } else {
        offset
    };
    let mut head = Vec::with_capacity(HEADER_LEN + table_len);
    head.extend_from_slice(&MAGIC);
    head.push(VERSION);
    head.extend_from_slice(&[0; 3]);
    head.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    head.extend_from_slice(&file_len.to_le_bytes());
    head.extend_from_slice(&crc32fast::hash(&table).to_le_bytes());
    head.resize(60, 0);
    let header_crc = crc32fast::hash(&head);
    head.extend_from_slice(&header_crc.to_le_bytes());
    head.extend_from_slice(&table);
    (head, offsets, file_len)
}

fn align_up64(n: u64) -> u64 {
    n.div_ceil(ALIGN as u64) * ALIGN as u64
}
