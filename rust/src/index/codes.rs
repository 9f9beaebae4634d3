//! Compressed copies of the vectors for the flat scan: `f16` (half the bytes) or `int8`
//! (a quarter: per-dimension ranges, `x = min + scale * code`). A scan over the codes
//! picks `rescore * k` candidates, which are then scored exactly against the stored f32
//! rows, so the scan reads far fewer bytes and the returned scores are exact.
//!
//! `CODES` section (kind 7), little-endian:
//!
//! ```text
//! offset  size      field
//! 0       4         code kind: 1 = f16, 2 = int8
//! 4       4         dimension
//! 8       8         rows
//! 16      48        zero
//! 64      8*dim     int8 only: per dimension, min (f32) then scale (f32)
//! ...     4*rows    int8 only: squared norm of each decoded row (f32), for L2
//! (64-aligned)      codes, row-major: 2 bytes (f16) or 1 byte (int8) per value
//! ```

use crate::error::{Error, Result};
use crate::index::Metric;

const HEAD: usize = 64;
pub(crate) const KIND_F16: u32 = 1;
pub(crate) const KIND_INT8: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    F16,
    Int8,
}

impl CodeKind {
    pub fn parse(name: &str) -> Result<Option<Self>> {
        match name {
            "f32" | "none" => Ok(None),
            "f16" => Ok(Some(CodeKind::F16)),
            "int8" => Ok(Some(CodeKind::Int8)),
            other => Err(Error::InvalidArg(format!(
                "codes must be f32, f16 or int8, got '{other}'"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CodeKind::F16 => "f16",
            CodeKind::Int8 => "int8",
        }
    }
}

fn align64(n: usize) -> usize {
    n.div_ceil(64) * 64
}

/// f32 to IEEE half, rounding to nearest even (finite inputs; large values saturate to
/// the largest half, which the exact rescoring corrects).
pub fn f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    let mant = b & 0x7f_ffff;
    if exp >= 31 {
        return sign | 0x7bff;
    }
    if exp <= 0 {
        if exp < -10 {
            return sign;
        }
        let m = mant | 0x80_0000;
        let shift = (14 - exp) as u32;
        let half = m >> shift;
        let rem = m & ((1 << shift) - 1);
        let mid = 1 << (shift - 1);
        let round = u32::from(rem > mid || (rem == mid && half & 1 == 1));
        return sign | (half + round) as u16;
    }
    let half = ((exp as u32) << 10) | (mant >> 13);
    let rem = mant & 0x1fff;
    let round = u32::from(rem > 0x1000 || (rem == 0x1000 && half & 1 == 1));
    let out = half + round;
    if out >= 0x7c00 {
        sign | 0x7bff
    } else {
        sign | out as u16
    }
}

pub fn f16_value(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let mant = f32::from(h & 0x3ff);
    let v = match exp {
        0 => mant * (2.0f32).powi(-24),
        31 => f32::INFINITY,
        e => (1.0 + mant / 1024.0) * (2.0f32).powi(e - 15),
    };
    sign * v
}

/// The CODES section for `rows` (`n * dim` floats).
pub fn encode(kind: CodeKind, rows: &[f32], dim: usize) -> Vec<u8> {
    let n = rows.len() / dim.max(1);
    let mut out = Vec::new();
    out.extend_from_slice(
        &(if kind == CodeKind::F16 {
            KIND_F16
        } else {
            KIND_INT8
        })
        .to_le_bytes(),
    );
    out.extend_from_slice(&(dim as u32).to_le_bytes());
    out.extend_from_slice(&(n as u64).to_le_bytes());
    out.resize(HEAD, 0);
    match kind {
        CodeKind::F16 => {
            for x in rows {
                out.extend_from_slice(&f16_bits(*x).to_le_bytes());
            }
        }
        CodeKind::Int8 => {
            let mut lo = vec![f32::INFINITY; dim];
            let mut hi = vec![f32::NEG_INFINITY; dim];
            for row in rows.chunks_exact(dim) {
                for (j, &x) in row.iter().enumerate() {
                    lo[j] = lo[j].min(x);
                    hi[j] = hi[j].max(x);
                }
            }
            // In f64: the range of values near f32::MAX overflows f32 (3e38 - -3e38).
            let scale: Vec<f64> = lo
                .iter()
                .zip(&hi)
                .map(|(l, h)| {
                    if h > l {
                        (f64::from(*h) - f64::from(*l)) / 255.0
                    } else {
                        1.0
                    }
                })
                .collect();
            let lo: Vec<f32> = lo
                .iter()
                .map(|l| if l.is_finite() { *l } else { 0.0 })
                .collect();
            for j in 0..dim {
                out.extend_from_slice(&lo[j].to_le_bytes());
                out.extend_from_slice(&(scale[j] as f32).to_le_bytes());
            }
            let mut codes = Vec::with_capacity(rows.len());
            for row in rows.chunks_exact(dim) {
                let mut norm = 0.0f64;
                for (j, &x) in row.iter().enumerate() {
                    let c = ((f64::from(x) - f64::from(lo[j])) / scale[j])
                        .round()
                        .clamp(0.0, 255.0) as u8;
                    let back = f64::from(lo[j]) + f64::from(scale[j] as f32) * f64::from(c);
                    norm += back * back;
                    codes.push(c);
                }
                // Only used to rank L2 candidates (then rescored exactly): saturate.
                out.extend_from_slice(&(norm.min(f64::from(f32::MAX)) as f32).to_le_bytes());
            }
            out.resize(align64(out.len()), 0);
            out.extend_from_slice(&codes);
        }
    }
    out
}

/// A CODES section read in place, checked for shape at parse.
pub struct Codes<'a> {
    pub kind: CodeKind,
    dim: usize,
    n: usize,
    params: &'a [u8],
    norms: &'a [u8],
    codes: &'a [u8],
}

fn corrupt(msg: impl Into<String>) -> Error {
    Error::Corrupt(format!("codes section: {}", msg.into()))
}

fn f32_at(b: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])
}

impl<'a> Codes<'a> {
    pub fn parse(bytes: &'a [u8], dim: usize, count: usize) -> Result<Self> {
        if bytes.len() < HEAD || bytes[16..HEAD].iter().any(|&b| b != 0) {
            return Err(corrupt("bad head"));
        }
        let word =
            |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let kind = match word(0) {
            KIND_F16 => CodeKind::F16,
            KIND_INT8 => CodeKind::Int8,
            k => return Err(corrupt(format!("unknown code kind {k}"))),
        };
        let mut n8 = [0u8; 8];
        n8.copy_from_slice(&bytes[8..16]);
        if word(4) as usize != dim || u64::from_le_bytes(n8) != count as u64 {
            return Err(corrupt("dimension or row count differs from the pack's"));
        }
        let values = dim
            .checked_mul(count)
            .ok_or_else(|| corrupt("size overflows"))?;
        let (params, norms, codes_at, width) = match kind {
            CodeKind::F16 => (HEAD..HEAD, HEAD..HEAD, HEAD, 2),
            CodeKind::Int8 => {
                let p = HEAD..HEAD + 8 * dim;
                let nr = p.end..p.end + 4 * count;
                let at = align64(nr.end);
                (p, nr, at, 1)
            }
        };
        if bytes.len() != codes_at + width * values {
            return Err(corrupt(format!(
                "{} bytes; its head needs {}",
                bytes.len(),
                codes_at + width * values
            )));
        }
        let codes = Codes {
            kind,
            dim,
            n: count,
            params: &bytes[params],
            norms: &bytes[norms],
            codes: &bytes[codes_at..],
        };
        if kind == CodeKind::Int8 && (0..2 * dim).any(|i| !f32_at(codes.params, i).is_finite()) {
            return Err(corrupt("non-finite range"));
        }
        Ok(codes)
    }

    /// Approximate scores of every row (higher is better), into `out` (`n` entries); a
    /// large section is scanned on every core, one row range each.
    pub fn score_all(&self, metric: Metric, query: &[f32], out: &mut [f32]) {
        let dim = self.dim;
        let l2 = metric == Metric::L2;
        let n = self.n.min(out.len());
        let threads = if self.codes.len() >= PARALLEL_MIN_BYTES {
            crate::parallel::scan_threads().min(MAX_THREADS)
        } else {
            1
        };
        let int8 = (self.kind == CodeKind::Int8).then(|| {
            // q . x = sum q_j min_j + sum (q_j scale_j) c_j
            let scaled: Vec<f32> = (0..dim)
                .map(|j| query[j] * f32_at(self.params, 2 * j + 1))
                .collect();
            let base: f32 = (0..dim)
                .map(|j| query[j] * f32_at(self.params, 2 * j))
                .sum();
            let qq: f32 = query.iter().map(|x| x * x).sum();
            (scaled, base, qq)
        });
        let scan = |start: usize, part: &mut [f32]| match &int8 {
            None => {
                let mut row = vec![0.0f32; dim];
                for (i, slot) in (start..).zip(part.iter_mut()) {
                    let c = &self.codes[2 * i * dim..2 * (i + 1) * dim];
                    *slot = score_f16(query, c, l2, &mut row);
                }
            }
            Some((scaled, base, qq)) => {
                for (i, slot) in (start..).zip(part.iter_mut()) {
                    let d = base + dot_u8(scaled, &self.codes[i * dim..(i + 1) * dim]);
                    *slot = if l2 {
                        -(qq - 2.0 * d + f32_at(self.norms, i))
                    } else {
                        d
                    };
                }
            }
        };
        // A worker cannot fail but by a bug; then the scan runs again on this thread.
        if crate::parallel::fill_parts(&mut out[..n], threads, scan).is_err() {
            scan(0, &mut out[..n]);
        }
    }
}

/// Code sections of at least this many bytes (16 MiB) are scanned on every core.
const PARALLEL_MIN_BYTES: usize = 16 << 20;
const MAX_THREADS: usize = 16;

/// The score of one f16 row (`2 * dim` bytes): inner product, or negative squared L2
/// distance. `row` is scratch space of `dim` floats for the portable path.
fn score_f16(q: &[f32], c: &[u8], l2: bool, row: &mut [f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if f16c_available() {
        // SAFETY: the CPU supports AVX2, FMA and F16C (checked once at run time).
        return unsafe { score_f16_avx2(q, c, l2) };
    }
    for (j, v) in row.iter_mut().enumerate() {
        *v = f16_value(u16::from_le_bytes([c[2 * j], c[2 * j + 1]]));
    }
    if l2 {
        -crate::index::distance::l2sq(q, row)
    } else {
        crate::index::distance::dot(q, row)
    }
}

#[cfg(target_arch = "x86_64")]
fn f16c_available() -> bool {
    use crate::index::distance::{level, Level};
    static F16C: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *F16C.get_or_init(|| level() >= Level::Avx2 && std::arch::is_x86_feature_detected!("f16c"))
}

/// # Safety
/// The CPU must support AVX2, FMA and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn score_f16_avx2(q: &[f32], c: &[u8], l2: bool) -> f32 {
    use std::arch::x86_64::*;
    let n = q.len().min(c.len() / 2);
    let (pq, pc) = (q.as_ptr(), c.as_ptr());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    // SAFETY (loads): i + 16 <= n; `q` holds n floats and `c` 2n bytes (16-byte loads of
    // eight halves each).
    while i + 16 <= n {
        let x0 = _mm256_cvtph_ps(_mm_loadu_si128(pc.add(2 * i).cast()));
        let x1 = _mm256_cvtph_ps(_mm_loadu_si128(pc.add(2 * i + 16).cast()));
        let q0 = _mm256_loadu_ps(pq.add(i));
        let q1 = _mm256_loadu_ps(pq.add(i + 8));
        if l2 {
            let d0 = _mm256_sub_ps(q0, x0);
            let d1 = _mm256_sub_ps(q1, x1);
            acc0 = _mm256_fmadd_ps(d0, d0, acc0);
            acc1 = _mm256_fmadd_ps(d1, d1, acc1);
        } else {
            acc0 = _mm256_fmadd_ps(q0, x0, acc0);
            acc1 = _mm256_fmadd_ps(q1, x1, acc1);
        }
        i += 16;
    }
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(acc0, acc1));
    let mut total: f32 = lanes.iter().sum();
    for k in i..n {
        let x = f16_value(u16::from_le_bytes([c[2 * k], c[2 * k + 1]]));
        total += if l2 {
            (q[k] - x) * (q[k] - x)
        } else {
            q[k] * x
        };
    }
    if l2 {
        -total
    } else {
        total
    }
}

/// Inner product of floats with bytes taken as 0..=255.
fn dot_u8(q: &[f32], c: &[u8]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if crate::index::distance::level() >= crate::index::distance::Level::Avx2 {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time just above).
        return unsafe { dot_u8_avx2(q, c) };
    }
    let mut acc = [0.0f32; 8];
    let mut qs = q.chunks_exact(8);
    let mut cs = c.chunks_exact(8);
    for (x, y) in (&mut qs).zip(&mut cs) {
        for i in 0..8 {
            acc[i] += x[i] * f32::from(y[i]);
        }
    }
    let tail: f32 = qs
        .remainder()
        .iter()
        .zip(cs.remainder())
        .map(|(x, y)| x * f32::from(*y))
        .sum();
    acc.iter().sum::<f32>() + tail
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_u8_avx2(q: &[f32], c: &[u8]) -> f32 {
    use std::arch::x86_64::*;
    let n = q.len().min(c.len());
    let (pq, pc) = (q.as_ptr(), c.as_ptr());
    let mut acc0 = _mm256_setzero_ps();
    let mut acc1 = _mm256_setzero_ps();
    let mut i = 0;
    // SAFETY (loads): i + 16 <= n; both slices hold n elements; 8-byte loads of codes.
    while i + 16 <= n {
        let c0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(pc.add(i).cast())));
        let c1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(pc.add(i + 8).cast())));
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i)), c0, acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i + 8)), c1, acc1);
        i += 16;
    }
    let mut lanes = [0.0f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(acc0, acc1));
    let mut total: f32 = lanes.iter().sum();
    for k in i..n {
        total += q[k] * f32::from(c[k]);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_round_trips_representable_values_and_rounds_others() {
        for x in [0.0f32, 1.0, -2.5, 0.000_061_035_156, 65504.0, 0.333_251_95] {
            assert_eq!(f16_value(f16_bits(x)), x, "{x}");
        }
        let x = 0.1f32;
        assert!((f16_value(f16_bits(x)) - x).abs() < 1e-4);
        assert_eq!(f16_value(f16_bits(1e9)), 65504.0);
        assert_eq!(f16_value(f16_bits(1e-9)), 0.0);
    }

    #[test]
    fn f16_row_kernel_matches_decoding_for_every_tail() {
        for dim in [1, 7, 8, 15, 16, 17, 33, 384] {
            let q: Vec<f32> = (0..dim).map(|j| (j as f32 * 0.37).sin()).collect();
            let x: Vec<f32> = (0..dim).map(|j| (j as f32 * 0.11).cos()).collect();
            let c: Vec<u8> = x.iter().flat_map(|v| f16_bits(*v).to_le_bytes()).collect();
            let decoded: Vec<f32> = x.iter().map(|v| f16_value(f16_bits(*v))).collect();
            for l2 in [false, true] {
                let want = if l2 {
                    -crate::index::distance::l2sq(&q, &decoded)
                } else {
                    crate::index::distance::dot(&q, &decoded)
                };
                let mut row = vec![0.0; dim];
                let got = score_f16(&q, &c, l2, &mut row);
                assert!(
                    (got - want).abs() < 1e-4,
                    "dim {dim} l2 {l2}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn approximate_scores_track_exact_ones() {
        let dim = 40;
        let rows: Vec<f32> = (0..dim * 50)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
            .collect();
        let q: Vec<f32> = (0..dim).map(|j| (j as f32 / 20.0) - 1.0).collect();
        for kind in [CodeKind::F16, CodeKind::Int8] {
            let bytes = encode(kind, &rows, dim);
            let codes = Codes::parse(&bytes, dim, 50).unwrap();
            for metric in [Metric::Dot, Metric::L2] {
                let mut got = vec![0.0; 50];
                codes.score_all(metric, &q, &mut got);
                for (i, row) in rows.chunks_exact(dim).enumerate() {
                    let exact = match metric {
                        Metric::L2 => -crate::index::distance::l2sq(&q, row),
                        _ => crate::index::distance::dot(&q, row),
                    };
                    assert!(
                        (got[i] - exact).abs() < 0.1,
                        "{kind:?} {metric:?} row {i}: {} vs {exact}",
                        got[i]
                    );
                }
            }
            assert!(Codes::parse(&bytes, dim, 51).is_err());
            assert!(Codes::parse(&bytes[..bytes.len() - 1], dim, 50).is_err());
        }
    }
}
