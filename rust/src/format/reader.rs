//! Reads a .vpack image from memory or an mmap'd file. Nothing in the file is trusted:
//! every offset and length is bounds-checked before use. Opening checks the header,
//! the section table and the manifest (cheap, independent of pack size); `verify`
//! checks every section checksum and every chunk record.

use super::aligned::AlignedBytes;
use super::*;
use crate::error::{Error, Result};
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
    range: Range<usize>,
    crc: u32,
}

pub struct PackReader {
    storage: Storage,
    manifest: Map<String, Value>,
    manifest_range: Range<usize>,
    sections: Vec<Section>,
    table: Range<usize>,
    data: Range<usize>,
    vectors: Range<usize>,
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

impl PackReader {
    /// Maps the file at `path` read-only. The file must not be modified while open.
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            File::open(path).map_err(|e| Error::io(format!("open {}", path.display()), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("stat {}", path.display()), e))?
            .len();
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

    /// Copies `bytes` into an aligned buffer, then parses and fully verifies them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let reader = Self::parse(Storage::Owned(AlignedBytes::copy_from(bytes)))?;
        reader.verify()?;
        Ok(reader)
    }

    fn parse(storage: Storage) -> Result<Self> {
        let b = storage.bytes();
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
        let mut by_kind: [Option<usize>; 4] = [None; 4];
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
            let slot = SECTION_KINDS
                .iter()
                .position(|k| *k == kind)
                .ok_or_else(|| corrupt(format!("unknown section kind {kind}")))?;
            if by_kind[slot].replace(i).is_some() {
                return Err(corrupt(format!("section kind {kind} appears twice")));
            }
            sections.push(Section {
                range: offset as usize..end as usize,
                crc: u32_at(b, at + 24),
            });
        }
        check_gaps(b, table_end, &sections)?;
        let get = |slot: usize, name: &str| -> Result<Range<usize>> {
            by_kind[slot]
                .map(|i| sections[i].range.clone())
                .ok_or_else(|| corrupt(format!("missing {name} section")))
        };
        let manifest_range = get(0, "manifest")?;
        let table = get(1, "chunk table")?;
        let data = get(2, "chunk data")?;
        let vectors = get(3, "vectors")?;

        let manifest_crc = sections[by_kind[0].unwrap_or(0)].crc;
        let manifest_bytes = &b[manifest_range.clone()];
        if crc32fast::hash(manifest_bytes) != manifest_crc {
            return Err(corrupt("manifest checksum mismatch"));
        }
        let manifest: Map<String, Value> = serde_json::from_slice(manifest_bytes)
            .map_err(|e| corrupt(format!("manifest is not a JSON object: {e}")))?;
        let dimension = manifest
            .get("dimension")
            .and_then(Value::as_u64)
            .filter(|d| (1..=crate::VPACK_MAX_DIMENSION as u64).contains(d))
            .ok_or_else(|| corrupt("manifest has no valid dimension"))?
            as usize;
        let count = manifest
            .get("chunk_count")
            .and_then(Value::as_u64)
            .ok_or_else(|| corrupt("manifest has no chunk_count"))?;
        let metric = manifest
            .get("metric")
            .and_then(Value::as_str)
            .ok_or_else(|| corrupt("manifest has no metric"))
            .and_then(|m| Metric::parse(m).map_err(|_| corrupt(format!("unknown metric {m}"))))?;
        let kind = manifest.get("index").and_then(|i| i.get("kind"));
        if kind.and_then(Value::as_str) != Some("flat") {
            return Err(corrupt(format!(
                "unknown index kind {}",
                kind.map_or("(none)".to_string(), Value::to_string)
            )));
        }
        let count = usize::try_from(count).map_err(|_| corrupt("chunk_count too large"))?;
        if count.checked_mul(CHUNK_ENTRY_LEN) != Some(table.len()) {
            return Err(corrupt("chunk table size does not match chunk_count"));
        }
        if count.checked_mul(dimension).and_then(|v| v.checked_mul(4)) != Some(vectors.len()) {
            return Err(corrupt(
                "vector section size does not match chunk_count x dimension",
            ));
        }
        if vectors.start % ALIGN != 0 {
            return Err(corrupt("vector section is not 64-byte aligned"));
        }
        Ok(PackReader {
            storage,
            manifest,
            manifest_range,
            sections,
            table,
            data,
            vectors,
            dimension,
            count,
            metric,
        })
    }

    /// Checks every section checksum and every chunk record. O(file size).
    pub fn verify(&self) -> Result<()> {
        let b = self.storage.bytes();
        for (i, s) in self.sections.iter().enumerate() {
            if crc32fast::hash(&b[s.range.clone()]) != s.crc {
                return Err(corrupt(format!("section {i} checksum mismatch")));
            }
        }
        for id in 0..self.count {
            let chunk = self.chunk(id)?;
            if !chunk.metadata.is_empty() {
                serde_json::from_slice::<Map<String, Value>>(chunk.metadata)
                    .map_err(|e| corrupt(format!("chunk {id} metadata: {e}")))?;
            }
        }
        if let Some(pos) = self.vectors().iter().position(|x| !x.is_finite()) {
            return Err(corrupt(format!(
                "vector {} holds a non-finite value",
                pos / self.dimension
            )));
        }
        Ok(())
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

    /// All vectors, row-major, read in place.
    pub fn vectors(&self) -> &[f32] {
        let bytes = &self.storage.bytes()[self.vectors.clone()];
        // SAFETY: `parse` checked that the section starts on a 64-byte boundary of a
        // 64-byte aligned base (page-aligned mmap or AlignedBytes) and that its length is
        // count * dimension * 4; every bit pattern is a valid f32 and the host is
        // little-endian (compile_error above), matching the file's byte order.
        let (head, floats, tail) = unsafe { bytes.align_to::<f32>() };
        debug_assert!(head.is_empty() && tail.is_empty());
        floats
    }

    pub fn chunk(&self, id: usize) -> Result<ChunkRef<'_>> {
        if id >= self.count {
            return Err(Error::NotFound(format!(
                "chunk id {id} out of range (pack has {} chunks)",
                self.count
            )));
        }
        let b = self.storage.bytes();
        let at = self.table.start + id * CHUNK_ENTRY_LEN;
        let offset = u64_at(b, at);
        let text_len = u32_at(b, at + 8) as u64;
        let meta_len = u32_at(b, at + 12) as u64;
        let data_len = self.data.len() as u64;
        let end = offset
            .checked_add(text_len)
            .and_then(|e| e.checked_add(meta_len))
            .filter(|e| *e <= data_len)
            .ok_or_else(|| corrupt(format!("chunk {id} record runs past the chunk data")))?;
        let start = self.data.start + offset as usize;
        let split = start + text_len as usize;
        let text = std::str::from_utf8(&b[start..split])
            .map_err(|_| corrupt(format!("chunk {id} text is not valid UTF-8")))?;
        let metadata: &[u8] = if meta_len == 0 {
            b"{}"
        } else {
            &b[split..self.data.start + end as usize]
        };
        Ok(ChunkRef { text, metadata })
    }
}
