//! An owned byte buffer whose start is 64-byte aligned, so f32 sections inside a pack
//! held in memory can be read in place exactly as from an mmap.

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([u8; 64]);

pub struct AlignedBytes {
    blocks: Vec<Block>,
    len: usize,
}

impl AlignedBytes {
    /// A copy of `bytes`, or a `Limit` error when the memory cannot be had (instead of
    /// aborting the host process).
    pub fn copy_from(bytes: &[u8]) -> crate::error::Result<Self> {
        let n = bytes.len().div_ceil(64);
        let mut blocks = Vec::new();
        blocks.try_reserve_exact(n).map_err(|_| {
            crate::error::Error::Limit(format!(
                "cannot allocate {} bytes for the pack",
                bytes.len()
            ))
        })?;
        blocks.resize(n, Block([0; 64]));
        for (block, src) in blocks.iter_mut().zip(bytes.chunks(64)) {
            block.0[..src.len()].copy_from_slice(src);
        }
        Ok(AlignedBytes {
            blocks,
            len: bytes.len(),
        })
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `blocks` is a contiguous allocation of `blocks.len() * 64` initialised
        // bytes (Block is repr(C) over [u8; 64], no padding) and `len` never exceeds it.
        unsafe { std::slice::from_raw_parts(self.blocks.as_ptr().cast::<u8>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_bytes_and_alignment() {
        let data: Vec<u8> = (0..=200).collect();
        let a = AlignedBytes::copy_from(&data).unwrap();
        assert_eq!(a.as_slice(), &data[..]);
        assert_eq!(a.as_slice().as_ptr() as usize % 64, 0);
        assert!(AlignedBytes::copy_from(&[]).unwrap().as_slice().is_empty());
    }
}
