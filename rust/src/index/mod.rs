//! Vector search over a pack's vectors. `flat` is exact search; an approximate index
//! (HNSW) will implement the same `Index` trait.

pub mod codes;
pub mod distance;
pub mod filter;
pub mod flat;
pub mod hnsw;
pub mod lexical;
pub mod tokenize;
pub mod topk;

use crate::error::{Error, Result};

/// How scores are computed. Higher scores are always better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Inner product of L2-normalised vectors (stored vectors are normalised at build time,
    /// queries at search time).
    Cosine,
    /// Raw inner product.
    Dot,
    /// Negative squared Euclidean distance.
    L2,
}

impl Metric {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "cosine" => Ok(Metric::Cosine),
            "dot" => Ok(Metric::Dot),
            "l2" => Ok(Metric::L2),
            other => Err(Error::InvalidArg(format!(
                "unknown metric '{other}' (expected cosine, dot or l2)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
            Metric::L2 => "l2",
        }
    }
}

/// One search result: the chunk's position in the pack and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub id: u64,
    pub score: f32,
}

/// A searchable structure over `count` vectors of `dim` floats laid out row-major.
pub trait Index {
    fn kind(&self) -> &'static str;
    /// Best `k` hits for an already-prepared query (normalised for cosine), best first,
    /// among the ids `accept` admits (all when None). `accept` is asked about
    /// candidates best first and only until `k` are accepted.
    fn search(
        &self,
        query: &[f32],
        k: usize,
        accept: Option<&mut dyn FnMut(u64) -> bool>,
    ) -> Vec<Scored>;
}

/// L2-normalises `v` in place; returns false (leaving `v` unchanged) when its norm is zero.
/// The norm is accumulated in f64 so vectors of any finite magnitude normalise (squares of
/// f32 values above ~1e19 or below ~1e-19 overflow or vanish in f32).
pub fn normalize(v: &mut [f32]) -> bool {
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return false;
    }
    v.iter_mut()
        .for_each(|x| *x = (f64::from(*x) / norm) as f32);
    true
}
