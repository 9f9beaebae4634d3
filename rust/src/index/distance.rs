//! Inner-product and squared-L2 kernels, picked once per process by run-time feature
//! detection (`level`): AVX-512F, else AVX2+FMA, else portable bodies with eight
//! independent accumulators that LLVM vectorises. `VPACK_SIMD=portable|avx2|avx512`
//! lowers the level (never above what the CPU has), to test and compare the paths.
//! Every level scores a row with the same bits whether it is scored alone or in a
//! group, so identical rows tie exactly; levels may differ from each other in the
//! last bits (another summation order).

/// The kernel family in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Portable,
    Avx2,
    Avx512,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }
}

/// The best level this CPU runs, lowered by `VPACK_SIMD` (read once).
pub fn level() -> Level {
    use std::sync::OnceLock;
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let cpu = detected();
        let wanted = match std::env::var("VPACK_SIMD").as_deref() {
            Ok("portable") => Level::Portable,
            Ok("avx2") => Level::Avx2,
            _ => Level::Avx512,
        };
        cpu.min(wanted)
    })
}

fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma");
        if avx2 && std::arch::is_x86_feature_detected!("avx512f") {
            return Level::Avx512;
        }
        if avx2 {
            return Level::Avx2;
        }
    }
    Level::Portable
}

/// Bytes ahead of the current row that the group kernels prefetch: the hardware
/// prefetchers stop at 4 KiB page boundaries, and a mapped pack is in 4 KiB pages.
/// (4 KiB measured best here: 5% over none at 200k x 384, one thread; 8 and 16 KiB
/// were worse.)
#[cfg(target_arch = "x86_64")]
const PREFETCH_AHEAD: usize = 4096;

/// Asks for the cache lines of `base[start..start + len]` (bytes; may run past the end
/// of the data: a prefetch never faults).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch(base: *const f32, start_bytes: usize, len_bytes: usize) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    let p = base.cast::<i8>();
    let mut off = start_bytes;
    while off < start_bytes + len_bytes {
        // SAFETY: prefetch is a hint that never faults, and the address is only formed
        // with wrapping arithmetic, never dereferenced.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off)) };
        off += 64;
    }
}

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += x * y;
    }
    acc.iter().sum::<f32>() + tail
}

fn l2sq_portable(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        tail += (x - y) * (x - y);
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 0x55));
        _mm_cvtss_f32(s)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        // The same summation order as `dot4`, so a row scores the same bits whether it
        // is scored alone or in a group of four (identical rows tie exactly).
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 2];
        let mut i = 0;
        // SAFETY (loads): i + 16 <= n, and both slices hold at least n floats.
        while i + 16 <= n {
            acc[0] = _mm256_fmadd_ps(
                _mm256_loadu_ps(pb.add(i)),
                _mm256_loadu_ps(pa.add(i)),
                acc[0],
            );
            acc[1] = _mm256_fmadd_ps(
                _mm256_loadu_ps(pb.add(i + 8)),
                _mm256_loadu_ps(pa.add(i + 8)),
                acc[1],
            );
            i += 16;
        }
        // SAFETY (loads): i + 8 <= n.
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(
                _mm256_loadu_ps(pb.add(i)),
                _mm256_loadu_ps(pa.add(i)),
                acc[0],
            );
            i += 8;
        }
        let mut total = hsum(_mm256_add_ps(acc[0], acc[1]));
        for k in i..n {
            total += a[k] * b[k];
        }
        total
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (loads): i + 32 <= n, and both slices hold at least n floats.
        while i + 32 <= n {
            for (j, slot) in acc.iter_mut().enumerate() {
                let d = _mm256_sub_ps(
                    _mm256_loadu_ps(pa.add(i + 8 * j)),
                    _mm256_loadu_ps(pb.add(i + 8 * j)),
                );
                *slot = _mm256_fmadd_ps(d, d, *slot);
            }
            i += 32;
        }
        // SAFETY (loads): i + 8 <= n.
        while i + 8 <= n {
            let d = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
            i += 8;
        }
        let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut total = hsum(sum);
        for k in i..n {
            let d = a[k] - b[k];
            total += d * d;
        }
        total
    }

    /// Inner products of `q` with four rows at once: each query load is shared by four
    /// FMAs, which is what bounds the one-row kernel (two loads per FMA).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `q` and every row hold `n` floats.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot4(q: &[f32], rows: [&[f32]; 4], n: usize) -> [f32; 4] {
        let pq = q.as_ptr();
        let pr = rows.map(|r| r.as_ptr());
        let mut acc = [[_mm256_setzero_ps(); 2]; 4];
        let mut i = 0;
        // SAFETY (loads): i + 16 <= n and every slice holds n floats.
        while i + 16 <= n {
            let q0 = _mm256_loadu_ps(pq.add(i));
            let q1 = _mm256_loadu_ps(pq.add(i + 8));
            for j in 0..4 {
                acc[j][0] = _mm256_fmadd_ps(_mm256_loadu_ps(pr[j].add(i)), q0, acc[j][0]);
                acc[j][1] = _mm256_fmadd_ps(_mm256_loadu_ps(pr[j].add(i + 8)), q1, acc[j][1]);
            }
            i += 16;
        }
        // SAFETY (loads): i + 8 <= n.
        while i + 8 <= n {
            let q0 = _mm256_loadu_ps(pq.add(i));
            for j in 0..4 {
                acc[j][0] = _mm256_fmadd_ps(_mm256_loadu_ps(pr[j].add(i)), q0, acc[j][0]);
            }
            i += 8;
        }
        let mut out = [0.0f32; 4];
        for j in 0..4 {
            out[j] = hsum(_mm256_add_ps(acc[j][0], acc[j][1]));
            for k in i..n {
                out[j] += q[k] * rows[j][k];
            }
        }
        out
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn score_rows(query: &[f32], rows: &[f32], dim: usize, l2: bool, out: &mut [f32]) {
        if l2 {
            for (row, slot) in rows.chunks_exact(dim).zip(out.iter_mut()) {
                *slot = -l2sq(query, row);
            }
            return;
        }
        let n = dim.min(query.len());
        let group_bytes = 4 * dim * 4;
        let mut groups = rows.chunks_exact(4 * dim);
        let mut slots = out.chunks_exact_mut(4);
        for (g, (group, slot)) in (&mut groups).zip(&mut slots).enumerate() {
            super::prefetch(
                rows.as_ptr(),
                g * group_bytes + super::PREFETCH_AHEAD,
                group_bytes,
            );
            let r = [
                &group[..dim],
                &group[dim..2 * dim],
                &group[2 * dim..3 * dim],
                &group[3 * dim..],
            ];
            slot.copy_from_slice(&dot4(query, r, n));
        }
        for (row, slot) in groups
            .remainder()
            .chunks_exact(dim)
            .zip(slots.into_remainder().iter_mut())
        {
            *slot = dot(query, row);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
        // The same summation order as `dot4` (see there).
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 2];
        let mut i = 0;
        // SAFETY (loads): i + 32 <= n, and both slices hold at least n floats.
        while i + 32 <= n {
            acc[0] = _mm512_fmadd_ps(
                _mm512_loadu_ps(pb.add(i)),
                _mm512_loadu_ps(pa.add(i)),
                acc[0],
            );
            acc[1] = _mm512_fmadd_ps(
                _mm512_loadu_ps(pb.add(i + 16)),
                _mm512_loadu_ps(pa.add(i + 16)),
                acc[1],
            );
            i += 32;
        }
        // SAFETY (loads): i + 16 <= n.
        if i + 16 <= n {
            acc[0] = _mm512_fmadd_ps(
                _mm512_loadu_ps(pb.add(i)),
                _mm512_loadu_ps(pa.add(i)),
                acc[0],
            );
            i += 16;
        }
        let mut total = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
        for k in i..n {
            total += a[k] * b[k];
        }
        total
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 2];
        let mut i = 0;
        // SAFETY (loads): i + 32 <= n, and both slices hold at least n floats.
        while i + 32 <= n {
            for (j, slot) in acc.iter_mut().enumerate() {
                let d = _mm512_sub_ps(
                    _mm512_loadu_ps(pa.add(i + 16 * j)),
                    _mm512_loadu_ps(pb.add(i + 16 * j)),
                );
                *slot = _mm512_fmadd_ps(d, d, *slot);
            }
            i += 32;
        }
        // SAFETY (loads): i + 16 <= n.
        if i + 16 <= n {
            let d = _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
            acc[0] = _mm512_fmadd_ps(d, d, acc[0]);
            i += 16;
        }
        let mut total = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
        for k in i..n {
            let d = a[k] - b[k];
            total += d * d;
        }
        total
    }

    /// Inner products of `q` with four rows at once, sharing each query load.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `q` and every row hold `n` floats.
    #[target_feature(enable = "avx512f")]
    unsafe fn dot4(q: &[f32], rows: [&[f32]; 4], n: usize) -> [f32; 4] {
        let pq = q.as_ptr();
        let pr = rows.map(|r| r.as_ptr());
        let mut acc = [[_mm512_setzero_ps(); 2]; 4];
        let mut i = 0;
        // SAFETY (loads): i + 32 <= n and every slice holds n floats.
        while i + 32 <= n {
            let q0 = _mm512_loadu_ps(pq.add(i));
            let q1 = _mm512_loadu_ps(pq.add(i + 16));
            for j in 0..4 {
                acc[j][0] = _mm512_fmadd_ps(_mm512_loadu_ps(pr[j].add(i)), q0, acc[j][0]);
                acc[j][1] = _mm512_fmadd_ps(_mm512_loadu_ps(pr[j].add(i + 16)), q1, acc[j][1]);
            }
            i += 32;
        }
        // SAFETY (loads): i + 16 <= n.
        if i + 16 <= n {
            let q0 = _mm512_loadu_ps(pq.add(i));
            for j in 0..4 {
                acc[j][0] = _mm512_fmadd_ps(_mm512_loadu_ps(pr[j].add(i)), q0, acc[j][0]);
            }
            i += 16;
        }
        let mut out = [0.0f32; 4];
        for j in 0..4 {
            out[j] = _mm512_reduce_add_ps(_mm512_add_ps(acc[j][0], acc[j][1]));
            for k in i..n {
                out[j] += q[k] * rows[j][k];
            }
        }
        out
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn score_rows(query: &[f32], rows: &[f32], dim: usize, l2: bool, out: &mut [f32]) {
        if l2 {
            for (row, slot) in rows.chunks_exact(dim).zip(out.iter_mut()) {
                *slot = -l2sq(query, row);
            }
            return;
        }
        let n = dim.min(query.len());
        let group_bytes = 4 * dim * 4;
        let mut groups = rows.chunks_exact(4 * dim);
        let mut slots = out.chunks_exact_mut(4);
        for (g, (group, slot)) in (&mut groups).zip(&mut slots).enumerate() {
            super::prefetch(
                rows.as_ptr(),
                g * group_bytes + super::PREFETCH_AHEAD,
                group_bytes,
            );
            let r = [
                &group[..dim],
                &group[dim..2 * dim],
                &group[2 * dim..3 * dim],
                &group[3 * dim..],
            ];
            slot.copy_from_slice(&dot4(query, r, n));
        }
        for (row, slot) in groups
            .remainder()
            .chunks_exact(dim)
            .zip(slots.into_remainder().iter_mut())
        {
            *slot = dot(query, row);
        }
    }
}

/// Inner product over the common prefix of `a` and `b`.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_at(level(), a, b)
}

/// `level` must not exceed `detected()` (so do `l2sq_at` and `score_rows_at`).
#[inline]
fn dot_at(level: Level, a: &[f32], b: &[f32]) -> f32 {
    match level {
        // SAFETY: callers pass `level()` or (tests) a level up to `detected()`: the CPU has it.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { avx512::dot(a, b) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { avx2::dot(a, b) },
        _ => dot_portable(a, b),
    }
}

/// Squared Euclidean distance over the common prefix of `a` and `b`.
#[inline]
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    l2sq_at(level(), a, b)
}

#[inline]
fn l2sq_at(level: Level, a: &[f32], b: &[f32]) -> f32 {
    match level {
        // SAFETY: callers pass `level()` or (tests) a level up to `detected()`: the CPU has it.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { avx512::l2sq(a, b) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { avx2::l2sq(a, b) },
        _ => l2sq_portable(a, b),
    }
}

/// Scores `query` against each `dim`-wide row of `rows` into `out` (one per row):
/// inner product, or negative squared L2 distance when `l2` is set.
pub fn score_rows(query: &[f32], rows: &[f32], dim: usize, l2: bool, out: &mut [f32]) {
    score_rows_at(level(), query, rows, dim, l2, out)
}

fn score_rows_at(level: Level, query: &[f32], rows: &[f32], dim: usize, l2: bool, out: &mut [f32]) {
    match level {
        // SAFETY: callers pass `level()` or (tests) a level up to `detected()`: the CPU has it.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => return unsafe { avx512::score_rows(query, rows, dim, l2, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => return unsafe { avx2::score_rows(query, rows, dim, l2, out) },
        _ => {}
    }
    for (row, slot) in rows.chunks_exact(dim).zip(out.iter_mut()) {
        *slot = if l2 {
            -l2sq_portable(query, row)
        } else {
            dot_portable(query, row)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every level this CPU runs: each is tested wherever the CPU has it.
    fn levels() -> Vec<Level> {
        [Level::Portable, Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|l| *l <= detected())
            .collect()
    }

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn the_env_can_only_lower_the_level() {
        assert!(level() <= detected());
        #[cfg(target_arch = "x86_64")]
        if std::env::var_os("VPACK_SIMD").is_none()
            && std::arch::is_x86_feature_detected!("avx512f")
        {
            assert_eq!(level(), Level::Avx512);
        }
    }

    #[test]
    fn kernels_match_naive_for_all_tail_lengths() {
        for lv in levels() {
            for n in 0..100 {
                let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
                let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
                let want = naive_dot(&a, &b);
                assert!(
                    (dot_at(lv, &a, &b) as f64 - want).abs() < 1e-4,
                    "{lv:?} dot n={n}"
                );
                let want_l2: f64 = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
                    .sum();
                assert!(
                    (l2sq_at(lv, &a, &b) as f64 - want_l2).abs() < 1e-4,
                    "{lv:?} l2 n={n}"
                );
            }
        }
    }

    #[test]
    fn identical_rows_score_identical_bits_wherever_they_sit() {
        for lv in levels() {
            for dim in [5, 16, 23, 48, 100, 384] {
                let q: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
                let row: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.11).cos()).collect();
                let rows: Vec<f32> = (0..7).flat_map(|_| row.clone()).collect();
                let mut out = vec![0.0f32; 7];
                score_rows_at(lv, &q, &rows, dim, false, &mut out);
                let alone = dot_at(lv, &q, &row).to_bits();
                assert!(
                    out.iter().all(|s| s.to_bits() == alone),
                    "{lv:?} dim {dim}: {out:?}"
                );
            }
        }
    }

    #[test]
    fn score_rows_matches_single_kernels_for_every_row_count() {
        for lv in levels() {
            for dim in [1, 7, 8, 16, 23, 33, 384] {
                let q: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.3).sin()).collect();
                for rows_n in 0..11 {
                    let rows: Vec<f32> =
                        (0..rows_n * dim).map(|i| (i as f32 * 0.7).cos()).collect();
                    let mut out = vec![f32::NAN; rows_n];
                    score_rows_at(lv, &q, &rows, dim, false, &mut out);
                    for (r, got) in rows.chunks_exact(dim).zip(&out) {
                        assert!(
                            (got - dot_portable(&q, r)).abs() < 1e-3,
                            "{lv:?} dim {dim} rows {rows_n}"
                        );
                    }
                    score_rows_at(lv, &q, &rows, dim, true, &mut out);
                    for (r, got) in rows.chunks_exact(dim).zip(&out) {
                        assert!(
                            (got + l2sq_portable(&q, r)).abs() < 1e-3,
                            "{lv:?} l2 dim {dim}"
                        );
                    }
                }
            }
        }
    }
}
