//! Splitting work over threads: `len` items cut into one contiguous range per thread,
//! each range's result returned in order, so callers stay deterministic.

use crate::error::{Error, Result};
use std::ops::Range;

/// Threads vpack uses when a call does not say: `VPACK_NUM_THREADS` when it is a
/// positive integer (like `OMP_NUM_THREADS`), else the cores this process may run on.
/// Read once.
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| {
        let set = std::env::var("VPACK_NUM_THREADS").ok();
        match set.and_then(|v| v.trim().parse::<usize>().ok()) {
            Some(n) if n > 0 => n.min(256),
            _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    })
}

/// Runs `f` on `threads` contiguous ranges covering `0..len` (on the calling thread when
/// `threads` is 1 or less) and returns the results in range order. A panic in a worker
/// becomes `Error::Panic`.
pub(crate) fn map_ranges<R: Send>(
    len: usize,
    threads: usize,
    f: impl Fn(Range<usize>) -> R + Sync,
) -> Result<Vec<R>> {
    let threads = threads.clamp(1, len.max(1));
    if threads == 1 {
        return Ok(vec![f(0..len)]);
    }
    let per = len.div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * per).min(len)..((t + 1) * per).min(len);
                s.spawn(move || f(range))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| Error::Panic("worker thread".into())))
            .collect()
    })
}

/// Runs `f(start, part)` on `threads` contiguous parts of `out` (`start`: the index of
/// the part's first element), in place; on the calling thread when `threads` is 1 or
/// less. A panic in a worker becomes `Error::Panic`.
pub(crate) fn fill_parts<T: Send>(
    out: &mut [T],
    threads: usize,
    f: impl Fn(usize, &mut [T]) + Sync,
) -> Result<()> {
    let len = out.len();
    let threads = threads.clamp(1, len.max(1));
    if threads == 1 {
        f(0, out);
        return Ok(());
    }
    let per = len.div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let workers: Vec<_> = out
            .chunks_mut(per)
            .enumerate()
            .map(|(t, part)| s.spawn(move || f(t * per, part)))
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().map_err(|_| Error::Panic("worker thread".into())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_in_order() {
        for (len, threads) in [(0, 4), (1, 4), (10, 3), (10, 1), (7, 7), (100, 8)] {
            let parts = map_ranges(len, threads, |r| r.collect::<Vec<_>>()).unwrap();
            assert_eq!(
                parts.concat(),
                (0..len).collect::<Vec<_>>(),
                "{len} {threads}"
            );
        }
        let err = map_ranges(4, 2, |r| assert!(r.start == 0, "boom")).unwrap_err();
        assert_eq!(err.code(), crate::error::code::PANIC);
    }

    #[test]
    fn parts_fill_every_slot_with_its_index() {
        for (len, threads) in [(0, 4), (1, 4), (10, 3), (10, 1), (7, 7), (100, 8)] {
            let mut out = vec![usize::MAX; len];
            fill_parts(&mut out, threads, |start, part| {
                for (i, slot) in part.iter_mut().enumerate() {
                    *slot = start + i;
                }
            })
            .unwrap();
            assert_eq!(out, (0..len).collect::<Vec<_>>(), "{len} {threads}");
        }
    }
}
