//! Lazily verified block checksums: no byte of a large section is used before the CRC-32
//! of the block that holds it has been checked, and each block is checked at most once
//! per open pack (a bit per block remembers it).
//!
//! The `CHECKSUMS` section (kind 5) holds, for every section except the manifest and
//! itself, in section-table order, the CRC-32 of each `block_size` run of the section
//! (the last block may be shorter):
//!
//! ```text
//! offset  size  field
//! 0       4     block size in bytes (u32, a power of two from 4 KiB to 16 MiB)
//! 4       4     zero
//! 8       8     number of CRCs that follow (u64)
//! 16      4*n   CRC-32 of each block, section after section
//! ```
//!
//! It is 4 bytes per block (1/16384 of the pack at 64 KiB blocks) and is checked whole
//! at open against its entry in the section table. Packs written before this section
//! existed have none: each of their sections is then one block, checked against the
//! section table's CRC on first use.

use crate::error::{Error, Result};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Block size the writer uses.
pub(crate) const BLOCK_SIZE: usize = 64 * 1024;
pub(crate) const HEAD_LEN: usize = 16;
const MIN_BLOCK: u64 = 4 * 1024;
const MAX_BLOCK: u64 = 16 * 1024 * 1024;
/// Blocks per thread below which checking stays on the calling thread (256 x 64 KiB).
const PARALLEL_MIN_BLOCKS: usize = 256;
const MAX_THREADS: usize = 8;

/// Called on a block's bytes after its CRC matched, for checks of the content itself
/// (for example that stored vectors are finite). Gets the block's offset in the section.
pub(crate) type ContentCheck = fn(offset: usize, bytes: &[u8]) -> Result<()>;

/// The verification state of one section.
pub(crate) struct SectionBlocks {
    name: &'static str,
    range: Range<usize>,
    block_size: usize,
    crcs: Vec<u32>,
    verified: Vec<AtomicU64>,
    verified_count: std::sync::atomic::AtomicUsize,
    all_verified: AtomicBool,
    content: Option<ContentCheck>,
}

impl SectionBlocks {
    /// A section checked in blocks of `block_size` against `crcs`.
    pub(crate) fn new(
        name: &'static str,
        range: Range<usize>,
        block_size: usize,
        crcs: Vec<u32>,
        content: Option<ContentCheck>,
    ) -> Self {
        let words = crcs.len().div_ceil(64);
        SectionBlocks {
            name,
            range,
            block_size,
            verified: (0..words).map(|_| AtomicU64::new(0)).collect(),
            verified_count: std::sync::atomic::AtomicUsize::new(0),
            all_verified: AtomicBool::new(crcs.is_empty()),
            crcs,
            content,
        }
    }

    /// A section without block CRCs: one block, the whole section, checked against the
    /// section table's CRC.
    pub(crate) fn whole(
        name: &'static str,
        range: Range<usize>,
        crc: u32,
        content: Option<ContentCheck>,
    ) -> Self {
        let len = range.len().max(1);
        Self::new(name, range, len, vec![crc], content)
    }

    /// The section's byte range in the file.
    pub(crate) fn range(&self) -> Range<usize> {
        self.range.clone()
    }

    /// Checks every block that overlaps `within` (offsets relative to the section start)
    /// and has not been checked yet. `file` is the whole pack image.
    pub(crate) fn ensure(&self, file: &[u8], within: Range<usize>) -> Result<()> {
        if self.all_verified.load(Ordering::Acquire) || within.is_empty() {
            return Ok(());
        }
        let len = self.range.len();
        if within.end > len {
            return Err(Error::Corrupt(format!(
                "{} range {}..{} runs past the section ({len} bytes)",
                self.name, within.start, within.end
            )));
        }
        let first = within.start / self.block_size;
        let last = (within.end - 1) / self.block_size;
        self.ensure_blocks(file, first..last + 1)?;
        if first == 0 && last + 1 == self.crcs.len() {
            self.all_verified.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Checks every block of the section.
    pub(crate) fn ensure_all(&self, file: &[u8]) -> Result<()> {
        self.ensure(file, 0..self.range.len())
    }

    /// Checks `blocks`, on several threads when there are many (the first search of a
    /// large pack checks every vector block: 1 GB takes about 0.2 s on one core).
    fn ensure_blocks(&self, file: &[u8], blocks: Range<usize>) -> Result<()> {
        // Few blocks (every random access: one row, one chunk) stay on this thread
        // without asking the system how many cores it has.
        let threads = if blocks.len() < 2 * PARALLEL_MIN_BLOCKS {
            1
        } else {
            crate::parallel::scan_threads()
                .min(blocks.len() / PARALLEL_MIN_BLOCKS)
                .min(MAX_THREADS)
        };
        if threads < 2 {
            return blocks
                .into_iter()
                .try_for_each(|b| self.ensure_block(file, b));
        }
        let start = blocks.start;
        crate::parallel::map_ranges(blocks.len(), threads, |r| {
            (start + r.start..start + r.end).try_for_each(|b| self.ensure_block(file, b))
        })?
        .into_iter()
        .collect()
    }

    fn ensure_block(&self, file: &[u8], block: usize) -> Result<()> {
        let (word, bit) = (block / 64, 1u64 << (block % 64));
        if self.verified[word].load(Ordering::Acquire) & bit != 0 {
            return Ok(());
        }
        let start = block * self.block_size;
        let end = (start + self.block_size).min(self.range.len());
        let bytes = &file[self.range.start + start..self.range.start + end];
        if crc32fast::hash(bytes) != self.crcs[block] {
            return Err(Error::Corrupt(format!(
                "{} checksum mismatch in bytes {start}..{end} of the section (block {block})",
                self.name
            )));
        }
        if let Some(check) = self.content {
            check(start, bytes)?;
        }
        // Two threads may check the same block at once; both reach the same verdict, and
        // only the one that sets the bit counts it. Once every block is checked, one flag
        // answers every later call.
        if self.verified[word].fetch_or(bit, Ordering::AcqRel) & bit == 0
            && self.verified_count.fetch_add(1, Ordering::AcqRel) + 1 == self.crcs.len()
        {
            self.all_verified.store(true, Ordering::Release);
        }
        Ok(())
    }
}

/// Parses the CHECKSUMS section: its block size and one CRC list per covered section
/// (given by their lengths, in order). Every count is checked against the lengths.
pub(crate) fn parse(bytes: &[u8], covered_lens: &[usize]) -> Result<(usize, Vec<Vec<u32>>)> {
    let corrupt = |m: String| Error::Corrupt(format!("checksum section: {m}"));
    if bytes.len() < HEAD_LEN {
        return Err(corrupt(format!(
            "{} bytes, shorter than its head",
            bytes.len()
        )));
    }
    let block_size = u64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
    if !(MIN_BLOCK..=MAX_BLOCK).contains(&block_size) || !block_size.is_power_of_two() {
        return Err(corrupt(format!(
            "block size {block_size} is not a power of two in 4 KiB..=16 MiB"
        )));
    }
    if bytes[4..8] != [0; 4] {
        return Err(corrupt("reserved bytes are not zero".into()));
    }
    let mut n = [0u8; 8];
    n.copy_from_slice(&bytes[8..16]);
    let count = u64::from_le_bytes(n);
    let block_size = block_size as usize;
    let expected: usize = covered_lens.iter().map(|l| l.div_ceil(block_size)).sum();
    if count != expected as u64 || bytes.len() != HEAD_LEN + 4 * expected {
        return Err(corrupt(format!(
            "holds {count} CRCs in {} bytes; the sections need {expected}",
            bytes.len()
        )));
    }
    let mut crcs = bytes[HEAD_LEN..]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    let lists = covered_lens
        .iter()
        .map(|len| crcs.by_ref().take(len.div_ceil(block_size)).collect())
        .collect();
    Ok((block_size, lists))
}

/// Accumulates block CRCs of a section as it is written, in any pieces.
pub(crate) struct BlockHasher {
    block_size: usize,
    filled: usize,
    current: crc32fast::Hasher,
    crcs: Vec<u32>,
}

impl BlockHasher {
    pub(crate) fn new(block_size: usize) -> Self {
        BlockHasher {
            block_size,
            filled: 0,
            current: crc32fast::Hasher::new(),
            crcs: Vec::new(),
        }
    }

    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (self.block_size - self.filled).min(bytes.len());
            self.current.update(&bytes[..take]);
            self.filled += take;
            bytes = &bytes[take..];
            if self.filled == self.block_size {
                let done = std::mem::replace(&mut self.current, crc32fast::Hasher::new());
                self.crcs.push(done.finalize());
                self.filled = 0;
            }
        }
    }

    /// The CRC of every block, the last one partial.
    pub(crate) fn finish(mut self) -> Vec<u32> {
        if self.filled > 0 {
            self.crcs.push(self.current.finalize());
        }
        self.crcs
    }
}

/// The CHECKSUMS section's bytes for these block CRC lists.
pub(crate) fn encode(block_size: usize, lists: &[Vec<u32>]) -> Vec<u8> {
    let count: usize = lists.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(HEAD_LEN + 4 * count);
    out.extend_from_slice(&(block_size as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(count as u64).to_le_bytes());
    for crc in lists.iter().flatten() {
        out.extend_from_slice(&crc.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hasher_splits_blocks_whatever_the_pieces() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut whole = BlockHasher::new(4096);
        whole.update(&data);
        let mut pieces = BlockHasher::new(4096);
        for piece in data.chunks(333) {
            pieces.update(piece);
        }
        let a = whole.finish();
        assert_eq!(a, pieces.finish());
        assert_eq!(a.len(), 3);
        assert_eq!(a[2], crc32fast::hash(&data[8192..]));
    }

    #[test]
    fn ensure_checks_only_touched_blocks_and_remembers() {
        let mut file = vec![0u8; 64];
        file.extend((0..20_000u32).map(|i| i as u8));
        let range = 64..file.len();
        let mut h = BlockHasher::new(4096);
        h.update(&file[range.clone()]);
        let s = SectionBlocks::new("test", range.clone(), 4096, h.finish(), None);
        file[64 + 4096 * 3 + 5] ^= 1; // damage block 3
        assert!(s.ensure(&file, 0..100).is_ok());
        assert!(s.ensure(&file, 4096 * 4..4096 * 4 + 1).is_ok());
        let err = s.ensure(&file, 4096 * 2..4096 * 3 + 1).unwrap_err();
        assert_eq!(err.code(), crate::error::code::CORRUPT);
        assert!(s.ensure_all(&file).is_err());
        assert!(s.ensure(&file, 0..20_001).is_err(), "past the end");
    }

    #[test]
    fn parse_checks_counts() {
        let lists = vec![vec![1, 2], vec![], vec![3]];
        let bytes = encode(4096, &lists);
        let (bs, got) = parse(&bytes, &[4097, 0, 10]).unwrap();
        assert_eq!((bs, got), (4096, lists));
        assert!(parse(&bytes, &[4096, 0, 10]).is_err());
        assert!(parse(&bytes[..20], &[4097, 0, 10]).is_err());
        let mut odd = bytes.clone();
        odd[0] = 1;
        assert!(parse(&odd, &[4097, 0, 10]).is_err());
    }
}
