//! Inner-product and squared-L2 kernels. The portable bodies use eight independent
//! accumulators so LLVM can vectorise them; on x86_64 with AVX2+FMA (checked once at run
//! time) explicit 256-bit kernels with four accumulators are used instead.

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
        let mut groups = rows.chunks_exact(4 * dim);
        let mut slots = out.chunks_exact_mut(4);
        for (group, slot) in (&mut groups).zip(&mut slots) {
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

    pub fn available() -> bool {
        use std::sync::OnceLock;
        static DETECTED: OnceLock<bool> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        })
    }
}

/// Whether the AVX2+FMA kernels run on this CPU (checked once).
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_available() -> bool {
    avx2::available()
}

/// Inner product over the common prefix of `a` and `b`.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above).
        return unsafe { avx2::dot(a, b) };
    }
    dot_portable(a, b)
}

/// Squared Euclidean distance over the common prefix of `a` and `b`.
#[inline]
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above).
        return unsafe { avx2::l2sq(a, b) };
    }
    l2sq_portable(a, b)
}

/// Scores `query` against each `dim`-wide row of `rows` into `out` (one per row):
/// inner product, or negative squared L2 distance when `l2` is set.
pub fn score_rows(query: &[f32], rows: &[f32], dim: usize, l2: bool, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above).
        return unsafe { avx2::score_rows(query, rows, dim, l2, out) };
    }
    for (row, slot) in rows.chunks_exact(dim).zip(out.iter_mut()) {
        *slot = if l2 {
            -l2sq(query, row)
        } else {
            dot(query, row)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn kernels_match_naive_for_all_tail_lengths() {
        for n in 0..80 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let want = naive_dot(&a, &b);
            assert!((dot(&a, &b) as f64 - want).abs() < 1e-4, "dot n={n}");
            assert!(
                (dot_portable(&a, &b) as f64 - want).abs() < 1e-4,
                "portable n={n}"
            );
            let want_l2: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
                .sum();
            assert!((l2sq(&a, &b) as f64 - want_l2).abs() < 1e-4, "l2 n={n}");
            assert!(
                (l2sq_portable(&a, &b) as f64 - want_l2).abs() < 1e-4,
                "l2 portable n={n}"
            );
        }
    }

    #[test]
    fn identical_rows_score_identical_bits_wherever_they_sit() {
        for dim in [5, 16, 23, 48, 384] {
            let q: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
            let row: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.11).cos()).collect();
            let rows: Vec<f32> = (0..7).flat_map(|_| row.clone()).collect();
            let mut out = vec![0.0f32; 7];
            score_rows(&q, &rows, dim, false, &mut out);
            assert!(
                out.iter().all(|s| s.to_bits() == dot(&q, &row).to_bits()),
                "dim {dim}: {out:?}"
            );
        }
    }

    #[test]
    fn score_rows_matches_single_kernels_for_every_row_count() {
        for dim in [1, 7, 8, 16, 23, 384] {
            let q: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.3).sin()).collect();
            for rows_n in 0..11 {
                let rows: Vec<f32> = (0..rows_n * dim).map(|i| (i as f32 * 0.7).cos()).collect();
                let mut out = vec![f32::NAN; rows_n];
                score_rows(&q, &rows, dim, false, &mut out);
                for (r, got) in rows.chunks_exact(dim).zip(&out) {
                    assert!(
                        (got - dot_portable(&q, r)).abs() < 1e-3,
                        "dim {dim} rows {rows_n}"
                    );
                }
                score_rows(&q, &rows, dim, true, &mut out);
                for (r, got) in rows.chunks_exact(dim).zip(&out) {
                    assert!((got + l2sq_portable(&q, r)).abs() < 1e-3, "l2 dim {dim}");
                }
            }
        }
    }
}
