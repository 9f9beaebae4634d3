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

thread_local! {
    /// Set while this thread works on one part of a fanned-out search (a pack set's
    /// shards, a batch's queries): its scans then stay on this thread instead of
    /// spawning their own workers on cores the fan-out already occupies.
    static IN_FAN_OUT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Threads a single scan (a flat or codes scan, a block check) may use: `cores()`, or 1
/// inside a fanned-out search.
pub(crate) fn scan_threads() -> usize {
    if IN_FAN_OUT.with(|f| f.get()) {
        1
    } else {
        cores()
    }
}

/// Runs `f` with this thread marked as one part of a fan-out (see `scan_threads`).
pub(crate) fn as_fan_out_part<R>(f: impl FnOnce() -> R) -> R {
    let outer = IN_FAN_OUT.with(|g| g.replace(true));
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IN_FAN_OUT.with(|g| g.set(self.0));
        }
    }
    let _restore = Restore(outer);
    f()
}

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A process-wide pool of `cores() - 1` threads (the caller of a fan-out is the other
/// part), started on first use and kept for the life of the process, so a fanned-out
/// query pays a wake-up, not a thread spawn. Jobs never wait on other jobs, so a busy
/// pool only delays them.
struct Pool {
    queue: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
    size: usize,
}

fn pool() -> &'static Pool {
    static POOL: std::sync::OnceLock<Pool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let wanted = cores().saturating_sub(1).min(63);
        let mut size = 0;
        for i in 0..wanted {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("vpack-pool-{i}"))
                .spawn(move || loop {
                    let job = match rx.lock() {
                        Ok(guard) => guard.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if spawned.is_ok() {
                size += 1;
            }
        }
        Pool {
            queue: std::sync::Mutex::new(tx),
            size,
        }
    })
}

/// Hands `part` to up to `helpers` pool threads, each run marked as a fan-out part, and
/// returns at once. Each run is expected to claim work from shared state until none is
/// left, and to report its results itself (e.g. over a channel); a helper that starts
/// after the work is gone simply returns. A panic in a helper is caught. Returns how many
/// helpers were asked.
pub(crate) fn spawn_helpers(helpers: usize, part: impl Fn() + Send + Sync + 'static) -> usize {
    let part = std::sync::Arc::new(part);
    let pool = pool();
    let helpers = helpers.min(pool.size);
    let mut asked = 0;
    if helpers > 0 {
        if let Ok(queue) = pool.queue.lock() {
            for _ in 0..helpers {
                let part = part.clone();
                let job: Job = Box::new(move || {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        as_fan_out_part(|| part())
                    }));
                });
                if queue.send(job).is_err() {
                    break;
                }
                asked += 1;
            }
        }
    }
    asked
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
