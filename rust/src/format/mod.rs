//! The .vpack file format, version 0x02. All integers little-endian.
//!
//! ```text
//! offset  size  field
//! 0       8     magic  89 56 50 41 43 4B 0D 0A  ("\x89VPACK\r\n")
//! 8       1     format version (0x02)
//! 9       3     zero
//! 12      4     section count (u32)
//! 16      8     file length in bytes (u64)
//! 24      4     CRC-32 of the section table
//! 28      32    zero
//! 60      4     CRC-32 of bytes 0..60
//! 64      32*n  section table: kind u32, flags u32 (0), offset u64, length u64,
//!               CRC-32 of the section u32, zero u32
//! ...           sections, each starting on a 64-byte boundary, zero padding between
//! ```
//!
//! Sections (each kind at most once; the writer lays them out in this order):
//! - `MANIFEST` (1): canonical JSON object (sorted keys, no spaces).
//! - `CHUNK_TABLE` (2): one 16-byte entry per chunk: offset u64 into `CHUNK_DATA`,
//!   text length u32, metadata length u32.
//! - `CHUNK_DATA` (3): per chunk, UTF-8 text followed by canonical JSON metadata
//!   (length 0 means `{}`).
//! - `VECTORS` (4): `count * dimension` f32, row-major.
//! - `CHECKSUMS` (5): the CRC-32 of every 64 KiB block of every other section except the
//!   manifest (see `blocks`). Optional: packs written before it existed lack it.
//! - `HNSW` (6): the approximate-search graph of a pack whose manifest `index.kind` is
//!   `hnsw` (layout in `index::hnsw`); absent from flat packs.
//! - `CODES` (7): compressed vectors (f16 or int8) for the flat scan, when the manifest's
//!   `index.codes` names them (layout in `index::codes`).
//!
//! The writer orders them manifest, checksums, chunk table, chunk data, vectors, so that
//! everything an open reads sits together at the front of the file.
//!
//! Verification (the promise "no answer from unverified bytes"): opening checks the
//! header, the section table, the manifest and the checksum section, each against its
//! CRC (O(1) in the pack's size: the checksum section is 1/16384 of it). Every other byte
//! is checked before its first use, one block at a time, and each block once per open
//! reader; blocks of vectors are also checked to hold only finite floats. `verify` checks
//! everything: every section CRC, every block, every chunk record.
//!
//! A section kind this library does not know is refused as unsupported (a newer writer).

pub mod aligned;
pub(crate) mod blocks;
pub mod reader;
pub mod writer;

pub(crate) const MAGIC: [u8; 8] = [0x89, b'V', b'P', b'A', b'C', b'K', b'\r', b'\n'];
pub(crate) const VERSION: u8 = 0x02;
pub(crate) const HEADER_LEN: usize = 64;
pub(crate) const SECTION_ENTRY_LEN: usize = 32;
pub(crate) const CHUNK_ENTRY_LEN: usize = 16;
pub(crate) const ALIGN: usize = 64;

pub(crate) const SECTION_MANIFEST: u32 = 1;
pub(crate) const SECTION_CHUNK_TABLE: u32 = 2;
pub(crate) const SECTION_CHUNK_DATA: u32 = 3;
pub(crate) const SECTION_VECTORS: u32 = 4;
pub(crate) const SECTION_CHECKSUMS: u32 = 5;
pub(crate) const SECTION_HNSW: u32 = 6;
pub(crate) const SECTION_CODES: u32 = 7;
pub(crate) const SECTION_LEXICAL: u32 = 8;
pub(crate) const SECTION_KINDS: [u32; 8] = [
    SECTION_MANIFEST,
    SECTION_CHUNK_TABLE,
    SECTION_CHUNK_DATA,
    SECTION_VECTORS,
    SECTION_CHECKSUMS,
    SECTION_HNSW,
    SECTION_CODES,
    SECTION_LEXICAL,
];

pub fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}
