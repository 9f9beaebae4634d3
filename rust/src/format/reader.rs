//! Reads a .vpack image from memory or an mmap'd file. Nothing in the file is trusted:
//! every offset and length is bounds-checked before use, and no byte is used before
//! its checksum has been checked. Opening checks the header, the section table, the
//! manifest and the checksum section (cheap, independent of pack size); the blocks of
//! the other sections are checked on first use (see `blocks`); `verify` checks all.

use super::aligned::AlignedBytes;
use super::blocks::{self, ContentCheck, SectionBlocks};
use super::*;
use crate::error::{Error, Result};
use crate::index::codes::{CodeKind, Codes};
use crate::index::hnsw::HnswSection;
use crate::index::lexical::LexicalSection;
use crate::index::tokenize::Tokenizer;
use crate::index::Metric;
use serde_json::{Map, Value};
use std::fs::File;
use std::ops::Range;
use std::path::Path;

#[cfg(target_endian = "big")]
compile_error!(
    "vpack reads little-endian f32 vectors in place and supports little-endian hosts only"
);

enum Storage {
    Mapped(memmap2::Mmap),
    Owned(AlignedBytes),
}

impl Storage {
    fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(b) => b.as_slice(),
        }
    }
}

struct Section {
    kind: u32,
    range: Range<usize>,
    crc: u32,
}

pub struct PackReader {
    storage: Storage,
    manifest: Map<String, Value>,
    manifest_range: Range<usize>,
    sections: Vec<Section>,
    table: SectionBlocks,
    data: SectionBlocks,
    /// The f32 vectors; None in a codes-only pack.
    vectors: Option<SectionBlocks>,
    graph: Option<SectionBlocks>,
    /// The compressed vectors, their kind and the rescoring factor (None: codes only).
    codes: Option<(SectionBlocks, CodeKind, Option<usize>)>,
    /// The lexical (BM25) index and the hybrid weight the manifest records.
    lexical: Option<(SectionBlocks, f32, Tokenizer)>,
    index: IndexKind,
    dimension: usize,
    count: usize,
    metric: Metric,
}

/// A chunk's text and canonical metadata JSON, borrowed from the pack.
pub struct ChunkRef<'a> {
    pub text: &'a str,
    /// Canonical JSON object; `{}` when the chunk has no metadata.
    pub metadata: &'a [u8],
}

fn corrupt(msg: impl Into<String>) -> Error {
    Error::Corrupt(msg.into())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Every byte outside the header, section table and sections is zero padding, and
/// sections do not overlap, so one pack has exactly one byte image. Costs O(sections).
fn check_gaps(b: &[u8], table_end: usize, sections: &[Section]) -> Result<()> {
    let mut ranges: Vec<Range<usize>> = sections.iter().map(|s| s.range.clone()).collect();
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut pos = table_end;
    for r in ranges.iter().chain(std::iter::once(&(b.len()..b.len()))) {
        if r.start < pos {
            return Err(corrupt("sections overlap"));
        }
        if b[pos..r.start].iter().any(|&x| x != 0) {
            return Err(corrupt(format!(
                "non-zero padding between bytes {pos} and {}",
                r.start
            )));
        }
        pos = r.end;
    }
    Ok(())
}

/// Stored vectors must be finite: a NaN row would silently vanish from every ranking
/// and an infinite one would top it.
fn finite_floats(offset: usize, bytes: &[u8]) -> Result<()> {
    match bytes
        .chunks_exact(4)
        .position(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
    {
        None => Ok(()),
        Some(i) => Err(corrupt(format!(
            "non-finite float at byte {} of the vector section",
            offset + 4 * i
        ))),
    }
}

/// Checks that `bytes` are one JSON object without building it.
fn check_json_object(bytes: &[u8]) -> std::result::Result<(), serde_json::Error> {
    struct ObjectOnly;
    impl<'de> serde::Deserialize<'de> for ObjectOnly {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = ObjectOnly;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> std::result::Result<ObjectOnly, A::Error> {
                    use serde::de::IgnoredAny;
                    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                    Ok(ObjectOnly)
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_slice::<ObjectOnly>(bytes).map(|_| ())
}

/// Opens `path` for reading without blocking (a FIFO would otherwise block `open`
/// until a writer appears) and refuses anything but a regular file.
pub(crate) fn open_regular(path: &Path) -> Result<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("stat {}", path.display()), e))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(Error::io(
            format!("open {}", path.display()),
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{what}; a pack is a regular file"),
            ),
        ));
    }
    Ok((file, meta.len()))
}

impl PackReader {
    /// Maps the file at `path` read-only. The file must not be modified in place while
    /// open (replace it by rename, as vpack's writers do).
    pub fn open(path: &Path) -> Result<Self> {
        let (file, len) = open_regular(path)?;
        if len < HEADER_LEN as u64 {
            return Err(corrupt(format!(
                "{} is {len} bytes, shorter than a pack header",
                path.display()
            )));
        }
        // SAFETY: the map is read-only and private to this reader. Packs are written by
        // temp file + rename, so a concurrent writer replaces the directory entry rather
        // than mutating the mapped inode; truncating a mapped pack by hand is documented
        // as unsupported (as for SQLite's mmap mode).
        let map = unsafe { memmap2::Mmap::map(&file) }
            .map_err(|e| Error::io(format!("mmap {}", path.display()), e))?;
        Self::parse(Storage::Mapped(map))
    }

    /// Copies `bytes` into an aligned buffer, then parses and fully verifies them. The
    /// header is checked first, in place, so a wrong length is refused before any copy.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        check_header(bytes)?;
        let reader = Self::parse(Storage::Owned(AlignedBytes::copy_from(bytes)?))?;
        reader.verify()?;
        Ok(reader)
    }

    fn parse(storage: Storage) -> Result<Self> {
        let b = storage.bytes();
        check_header(b)?;
        let n = u32_at(b, 12) as usize;
        let table_end = n
            .checked_mul(SECTION_ENTRY_LEN)
            .and_then(|t| t.checked_add(HEADER_LEN))
            .filter(|end| *end <= b.len())
            .ok_or_else(|| corrupt("section table runs past the end of the file"))?;
        if crc32fast::hash(&b[HEADER_LEN..table_end]) != u32_at(b, 24) {
            return Err(corrupt("section table checksum mismatch"));
        }
        let mut sections = Vec::with_capacity(n);
        let mut by_kind: [Option<usize>; SECTION_KINDS.len()] = [None; SECTION_KINDS.len()];
        for i in 0..n {
            let at = HEADER_LEN + i * SECTION_ENTRY_LEN;
            let kind = u32_at(b, at);
            let offset = u64_at(b, at + 8);
            let length = u64_at(b, at + 16);
            let end = offset
                .checked_add(length)
                .filter(|end| *end <= b.len() as u64)
                .ok_or_else(|| corrupt(format!("section {i} runs past the end of the file")))?;
            if (offset as usize) < table_end {
                return Err(corrupt(format!("section {i} overlaps the header")));
            }
            if u32_at(b, at + 4) != 0 || u32_at(b, at + 28) != 0 {
                return Err(corrupt(format!("section {i} has non-zero reserved fields")));
            }
            // The table's checksum held, so an unknown kind was written on purpose.
            let slot = SECTION_KINDS
                .iter()
                .position(|k| *k == kind)
                .ok_or_else(|| {
                    Error::UnsupportedFeature(format!(
                        "section kind {kind} (written by a newer vpack?)"
                    ))
                })?;
            if by_kind[slot].replace(i).is_some() {
                return Err(corrupt(format!("section kind {kind} appears twice")));
            }
            sections.push(Section {
                kind,
                range: offset as usize..end as usize,
                crc: u32_at(b, at + 24),
            });
        }
        check_gaps(b, table_end, &sections)?;
        let get = |slot: usize, name: &str| -> Result<&Section> {
            by_kind[slot]
                .map(|i| &sections[i])
                .ok_or_else(|| corrupt(format!("missing {name} section")))
        };
        let manifest_section = get(0, "manifest")?;
        let manifest_range = manifest_section.range.clone();
        let manifest_bytes = &b[manifest_range.clone()];
        if crc32fast::hash(manifest_bytes) != manifest_section.crc {
            return Err(corrupt("manifest checksum mismatch"));
        }
        let manifest: Map<String, Value> = serde_json::from_slice(manifest_bytes)
            .map_err(|e| corrupt(format!("manifest is not a JSON object: {e}")))?;
        let (dimension, count, metric, index) = manifest_fields(&manifest)?;
        let table = get(1, "chunk table")?;
        let data = get(2, "chunk data")?;
        if count.checked_mul(CHUNK_ENTRY_LEN) != Some(table.range.len()) {
            return Err(corrupt("chunk table size does not match chunk_count"));
        }
        let code_info = manifest_codes(&manifest)?;
        let codes_only = matches!(code_info, Some((_, None)));
        let vectors = match (codes_only, by_kind[3]) {
            (false, _) => Some(get(3, "vectors")?),
            (true, None) => None,
            (true, Some(_)) => return Err(corrupt("vectors section in a codes-only pack")),
        };
        if let Some(vectors) = vectors {
            if count.checked_mul(dimension).and_then(|v| v.checked_mul(4))
                != Some(vectors.range.len())
            {
                return Err(corrupt(
                    "vector section size does not match chunk_count x dimension",
                ));
            }
            if vectors.range.start % ALIGN != 0 {
                return Err(corrupt("vector section is not 64-byte aligned"));
            }
        }
        let graph = match (index, by_kind[5]) {
            (IndexKind::Hnsw { .. }, Some(i)) => {
                let g = &sections[i];
                if g.range.start % ALIGN != 0 || g.range.len() % 4 != 0 {
                    return Err(corrupt("hnsw section is misaligned"));
                }
                Some(g)
            }
            (IndexKind::Hnsw { .. }, None) => return Err(corrupt("missing hnsw section")),
            (IndexKind::Flat, Some(_)) => return Err(corrupt("hnsw section in a flat pack")),
            (IndexKind::Flat, None) => None,
        };
        if codes_only && graph.is_some() {
            return Err(corrupt("hnsw graph in a codes-only pack"));
        }
        let codes_section = match (code_info, by_kind[6]) {
            (Some(_), Some(i)) => Some(&sections[i]),
            (Some(_), None) => return Err(corrupt("missing codes section")),
            (None, Some(_)) => return Err(corrupt("codes section the manifest does not name")),
            (None, None) => None,
        };
        let lexical_weight = manifest_lexical(&manifest)?;
        let lexical_section = match (&lexical_weight, by_kind[7]) {
            (Some(_), Some(i)) => Some(&sections[i]),
            (Some(_), None) => return Err(corrupt("missing lexical section")),
            (None, Some(_)) => return Err(corrupt("lexical section the manifest does not name")),
            (None, None) => None,
        };
        let mut wanted: Vec<(&Section, &'static str, Option<ContentCheck>)> =
            vec![(table, "chunk table", None), (data, "chunk data", None)];
        if let Some(v) = vectors {
            wanted.push((v, "vectors", Some(finite_floats)));
        }
        if let Some(g) = graph {
            wanted.push((g, "hnsw graph", None));
        }
        if let Some(c) = codes_section {
            wanted.push((c, "codes", None));
        }
        if let Some(l) = lexical_section {
            wanted.push((l, "lexical index", None));
        }
        let mut blocks = section_blocks(b, &sections, by_kind[4], &wanted)?.into_iter();
        let mut next = || blocks.next().ok_or_else(|| corrupt("section state"));
        let (table, data) = (next()?, next()?);
        let vectors = if vectors.is_some() {
            Some(next()?)
        } else {
            None
        };
        let graph = if graph.is_some() { Some(next()?) } else { None };
        let codes = match code_info {
            Some((kind, rescore)) => Some((next()?, kind, rescore)),
            None => None,
        };
        let lexical = match lexical_weight {
            Some((weight, tokenizer)) => Some((next()?, weight, tokenizer)),
            None => None,
        };
        Ok(PackReader {
            storage,
            manifest,
            manifest_range,
            sections,
            table,
            data,
            vectors,
            graph,
            codes,
            lexical,
            index,
            dimension,
            count,
            metric,
        })
    }

    /// Checks every section checksum, every block and every chunk record. O(file size).
    pub fn verify(&self) -> Result<()> {
        let b = self.storage.bytes();
        for (i, s) in self.sections.iter().enumerate() {
            if crc32fast::hash(&b[s.range.clone()]) != s.crc {
                return Err(corrupt(format!(
                    "section {i} (kind {}) checksum mismatch",
                    s.kind
                )));
            }
        }
        for blocks in [&self.table, &self.data]
            .into_iter()
            .chain(self.vectors.as_ref())
            .chain(self.graph.as_ref())
            .chain(self.codes.as_ref().map(|c| &c.0))
            .chain(self.lexical.as_ref().map(|l| &l.0))
        {
            blocks.ensure_all(b)?;
        }
        self.codes()?;
        if let Some((lexical, _)) = self.lexical()? {
            lexical.check_all()?;
        }
        if let Some(graph) = self.hnsw()? {
            graph.check_all()?;
        }
        for id in 0..self.count {
            self.chunk(id)?;
        }
        Ok(())
    }

    /// A cheap identity of the pack's content, "sha256:<hex>" of its header and section
    /// table: they hold the file length and every section's CRC-32, so any change to any
    /// section changes it. Costs O(sections), not O(file size).
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let b = self.storage.bytes();
        let end = HEADER_LEN + self.sections.len() * SECTION_ENTRY_LEN;
        let digest = Sha256::digest(&b[..end]);
        let hex: String = digest.iter().map(|x| format!("{x:02x}")).collect();
        format!("sha256:{hex}")
    }

    pub fn bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    pub fn manifest(&self) -> &Map<String, Value> {
        &self.manifest
    }

    /// The manifest exactly as stored (canonical JSON).
    pub fn manifest_json(&self) -> &[u8] {
        &self.storage.bytes()[self.manifest_range.clone()]
    }

    pub fn dimension(&self) -> usize {
        self.dimension
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Whether the pack stores its f32 vectors (all but codes-only packs do).
    pub fn has_vectors(&self) -> bool {
        self.vectors.is_some()
    }

    fn vector_blocks(&self) -> Result<&SectionBlocks> {
        self.vectors.as_ref().ok_or_else(|| {
            Error::NotFound(
                "this pack stores only compressed vectors (codes_only): it has no f32 rows".into(),
            )
        })
    }

    /// All vectors, row-major, read in place; every block is checked first (once).
    pub fn vectors(&self) -> Result<&[f32]> {
        let b = self.storage.bytes();
        let blocks = self.vector_blocks()?;
        blocks.ensure_all(b)?;
        let bytes = &b[blocks.range()];
        // SAFETY: `parse` checked that the section starts on a 64-byte boundary of a
        // 64-byte aligned base (page-aligned mmap or AlignedBytes) and that its length is
        // count * dimension * 4; every bit pattern is a valid f32 and the host is
        // little-endian (compile_error above), matching the file's byte order.
        let (head, floats, tail) = unsafe { bytes.align_to::<f32>() };
        debug_assert!(head.is_empty() && tail.is_empty());
        Ok(floats)
    }

    /// Row `id` of the vectors, its blocks checked first (once); for random access.
    pub fn vector_row(&self, id: usize) -> Result<&[f32]> {
        let b = self.storage.bytes();
        let blocks = self.vector_blocks()?;
        let range = blocks.range();
        let row = self.dimension * 4;
        let start = id
            .checked_mul(row)
            .filter(|s| s + row <= range.len())
            .ok_or_else(|| corrupt(format!("vector row {id} out of range")))?;
        blocks.ensure(b, start..start + row)?;
        let bytes = &b[range.start + start..][..row];
        // SAFETY: as in `vectors`: a 4-byte aligned run of little-endian f32s (the section
        // is 64-byte aligned and the row offset a multiple of 4).
        let (head, floats, tail) = unsafe { bytes.align_to::<f32>() };
        debug_assert!(head.is_empty() && tail.is_empty());
        Ok(floats)
    }

    /// Row `id` without its block check, only to prefetch it (None when out of range).
    pub fn vector_row_unchecked(&self, id: usize) -> Option<&[f32]> {
        let range = self.vectors.as_ref()?.range();
        let row = self.dimension * 4;
        let start = id.checked_mul(row).filter(|s| s + row <= range.len())?;
        let bytes = &self.storage.bytes()[range.start + start..][..row];
        // SAFETY: as in `vector_row`; the floats are only handed to a prefetch hint.
        let (_, floats, _) = unsafe { bytes.align_to::<f32>() };
        Some(floats)
    }

    /// The pack's compressed vectors and rescoring factor, read in place (None without
    /// codes); the whole section is checked on first use.
    /// The rescoring factor is None in a codes-only pack.
    pub fn codes(&self) -> Result<Option<(Codes<'_>, Option<usize>)>> {
        let Some((blocks, kind, rescore)) = &self.codes else {
            return Ok(None);
        };
        let b = self.storage.bytes();
        blocks.ensure_all(b)?;
        let codes = Codes::parse(&b[blocks.range()], self.dimension, self.count)?;
        if codes.kind != *kind {
            return Err(corrupt("codes section kind differs from the manifest's"));
        }
        Ok(Some((codes, *rescore)))
    }

    /// The pack's lexical index and the hybrid weight the manifest records (None without
    /// one); the whole section is checked on first use.
    pub fn lexical(&self) -> Result<Option<(LexicalSection<'_>, f32)>> {
        let Some((blocks, weight, tokenizer)) = &self.lexical else {
            return Ok(None);
        };
        let b = self.storage.bytes();
        blocks.ensure_all(b)?;
        Ok(Some((
            LexicalSection::parse(&b[blocks.range()], self.count, tokenizer.clone())?,
            *weight,
        )))
    }

    /// The index the pack holds.
    pub fn index_kind(&self) -> IndexKind {
        self.index
    }

    /// The pack's HNSW graph, read in place (None for flat packs). The whole graph
    /// section is checked on first use (it is a small part of the pack: about 1/10th at
    /// 384 dimensions); each link list is checked again for range as it is read.
    pub fn hnsw(&self) -> Result<Option<HnswSection<'_>>> {
        let Some(blocks) = &self.graph else {
            return Ok(None);
        };
        let b = self.storage.bytes();
        blocks.ensure_all(b)?;
        let bytes = &b[blocks.range()];
        // SAFETY: `parse` checked the section is 64-byte aligned in a 64-byte aligned image
        // and a multiple of 4 bytes long; any bytes are valid u32s, little-endian host.
        let (head, words, tail) = unsafe { bytes.align_to::<u32>() };
        debug_assert!(head.is_empty() && tail.is_empty());
        HnswSection::parse(words, self.count).map(Some)
    }

    pub fn chunk(&self, id: usize) -> Result<ChunkRef<'_>> {
        if id >= self.count {
            return Err(Error::NotFound(format!(
                "chunk id {id} out of range (pack has {} chunks)",
                self.count
            )));
        }
        let b = self.storage.bytes();
        let entry = id * CHUNK_ENTRY_LEN;
        self.table.ensure(b, entry..entry + CHUNK_ENTRY_LEN)?;
        let at = self.table.range().start + entry;
        let offset = u64_at(b, at);
        let text_len = u32_at(b, at + 8) as u64;
        let meta_len = u32_at(b, at + 12) as u64;
        let data_len = self.data.range().len() as u64;
        let end = offset
            .checked_add(text_len)
            .and_then(|e| e.checked_add(meta_len))
            .filter(|e| *e <= data_len)
            .ok_or_else(|| corrupt(format!("chunk {id} record runs past the chunk data")))?;
        self.data.ensure(b, offset as usize..end as usize)?;
        let start = self.data.range().start + offset as usize;
        let split = start + text_len as usize;
        let text = std::str::from_utf8(&b[start..split])
            .map_err(|_| corrupt(format!("chunk {id} text is not valid UTF-8")))?;
        let metadata: &[u8] = if meta_len == 0 {
            b"{}"
        } else {
            let raw = &b[split..self.data.range().start + end as usize];
            std::str::from_utf8(raw)
                .map_err(|_| corrupt(format!("chunk {id} metadata is not valid UTF-8")))?;
            check_json_object(raw)
                .map_err(|e| corrupt(format!("chunk {id} metadata is not a JSON object: {e}")))?;
            raw
        };
        Ok(ChunkRef { text, metadata })
    }
}

/// Magic, version, header checksum and the file length the header records.
fn check_header(b: &[u8]) -> Result<()> {
    if b.len() < HEADER_LEN || b[..8] != MAGIC {
        return Err(corrupt("not a vpack file (bad magic bytes)"));
    }
    if b[8] != VERSION {
        return Err(Error::UnsupportedVersion {
            found: b[8],
            supported: VERSION,
        });
    }
    if crc32fast::hash(&b[..60]) != u32_at(b, 60) {
        return Err(corrupt("header checksum mismatch"));
    }
    let file_len = u64_at(b, 16);
    if file_len != b.len() as u64 {
        return Err(corrupt(format!(
            "header says {file_len} bytes, file has {} (truncated or extended)",
            b.len()
        )));
    }
    Ok(())
}

/// Dimension, chunk count, metric and index from the manifest, each checked.
fn manifest_fields(manifest: &Map<String, Value>) -> Result<(usize, usize, Metric, IndexKind)> {
    let dimension = manifest
        .get("dimension")
        .and_then(Value::as_u64)
        .filter(|d| (1..=crate::VPACK_MAX_DIMENSION as u64).contains(d))
        .ok_or_else(|| corrupt("manifest has no valid dimension"))? as usize;
    let count = manifest
        .get("chunk_count")
        .and_then(Value::as_u64)
        .ok_or_else(|| corrupt("manifest has no chunk_count"))?;
    let metric = manifest
        .get("metric")
        .and_then(Value::as_str)
        .ok_or_else(|| corrupt("manifest has no metric"))
        .and_then(|m| Metric::parse(m).map_err(|_| corrupt(format!("unknown metric {m}"))))?;
    let index = manifest.get("index");
    let kind = index.and_then(|i| i.get("kind"));
    let index = match kind.and_then(Value::as_str) {
        Some("flat") => IndexKind::Flat,
        Some("hnsw") => {
            let ef_search = index
                .and_then(|i| i.get("ef_search"))
                .and_then(Value::as_u64)
                .filter(|e| (1..=crate::index::hnsw::MAX_EF as u64).contains(e))
                .ok_or_else(|| corrupt("hnsw index has no valid ef_search"))?;
            IndexKind::Hnsw {
                ef_search: ef_search as usize,
            }
        }
        _ => {
            return Err(corrupt(format!(
                "unknown index kind {}",
                kind.map_or("(none)".to_string(), Value::to_string)
            )))
        }
    };
    let count = usize::try_from(count).map_err(|_| corrupt("chunk_count too large"))?;
    Ok((dimension, count, metric, index))
}

/// The manifest's `index.codes` and `index.rescore`, if the pack has codes.
/// The manifest's lexical index: its hybrid weight and tokenizer (None without one). The
/// tokenizer must be one this library has; the BM25 parameters are read from the section
/// itself.
fn manifest_lexical(manifest: &Map<String, Value>) -> Result<Option<(f32, Tokenizer)>> {
    let Some(lexical) = manifest.get("index").and_then(|i| i.get("lexical")) else {
        return Ok(None);
    };
    let tokenizer = match lexical.get("tokenizer") {
        Some(Value::String(name)) => Tokenizer::from_name(name)?,
        other => {
            return Err(corrupt(format!(
                "lexical index without a tokenizer name ({})",
                other.unwrap_or(&Value::Null)
            )))
        }
    };
    let weight = lexical
        .get("hybrid_weight")
        .and_then(Value::as_f64)
        .filter(|w| (0.0..=1.0).contains(w))
        .ok_or_else(|| corrupt("lexical index without a valid hybrid_weight"))?;
    Ok(Some((weight as f32, tokenizer)))
}

/// The manifest's codes: their kind and rescoring factor (None: `codes_only`).
fn manifest_codes(manifest: &Map<String, Value>) -> Result<Option<(CodeKind, Option<usize>)>> {
    let index = manifest.get("index");
    let Some(name) = index.and_then(|i| i.get("codes")) else {
        return Ok(None);
    };
    let kind = name
        .as_str()
        .and_then(|n| CodeKind::parse(n).ok().flatten())
        .ok_or_else(|| corrupt(format!("unknown codes {name}")))?;
    let codes_only = match index.and_then(|i| i.get("codes_only")) {
        None => false,
        Some(Value::Bool(flag)) => *flag,
        Some(other) => return Err(corrupt(format!("codes_only is {other}, not a boolean"))),
    };
    let rescore = index.and_then(|i| i.get("rescore"));
    if codes_only {
        if rescore.is_some() {
            return Err(corrupt("a codes-only pack with a rescore factor"));
        }
        return Ok(Some((kind, None)));
    }
    let rescore = rescore
        .and_then(Value::as_u64)
        .filter(|r| (1..=1024).contains(r))
        .ok_or_else(|| corrupt("codes without a valid rescore"))?;
    Ok(Some((kind, Some(rescore as usize))))
}

/// Block state for each wanted section: from the CHECKSUMS section (entry `checksums`
/// of `sections`, checked whole here) when there is one, else each section whole against
/// the section table (packs written before block checksums).
fn section_blocks(
    b: &[u8],
    sections: &[Section],
    checksums: Option<usize>,
    wanted: &[(&Section, &'static str, Option<ContentCheck>)],
) -> Result<Vec<SectionBlocks>> {
    let Some(checksums) = checksums else {
        return Ok(wanted
            .iter()
            .map(|(s, name, check)| SectionBlocks::whole(name, s.range.clone(), s.crc, *check))
            .collect());
    };
    let sums = &sections[checksums];
    let bytes = &b[sums.range.clone()];
    if crc32fast::hash(bytes) != sums.crc {
        return Err(corrupt("checksum section checksum mismatch"));
    }
    // Covered: every section but the manifest and the checksums, in table order.
    let covered: Vec<&Section> = sections
        .iter()
        .filter(|s| s.kind != SECTION_MANIFEST && s.kind != SECTION_CHECKSUMS)
        .collect();
    let lens: Vec<usize> = covered.iter().map(|s| s.range.len()).collect();
    let (block_size, lists) = blocks::parse(bytes, &lens)?;
    Ok(wanted
        .iter()
        .map(|(want, name, check)| {
            let crcs = covered
                .iter()
                .position(|s| s.kind == want.kind)
                .map(|i| lists[i].clone())
                .unwrap_or_default();
            SectionBlocks::new(name, want.range.clone(), block_size, crcs, *check)
        })
        .collect())
}

/// The index a pack holds, from its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    Flat,
    Hnsw { ef_search: usize },
}
