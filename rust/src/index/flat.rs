//! Exact search: score every stored vector against the query.

use super::distance::score_rows;
use super::topk::TopK;
use super::{Index, Metric, Scored};

pub struct FlatIndex<'a> {
    vectors: &'a [f32],
    dim: usize,
    metric: Metric,
}

impl<'a> FlatIndex<'a> {
    /// `vectors.len()` must be a multiple of `dim` (the pack reader guarantees it).
    pub fn new(vectors: &'a [f32], dim: usize, metric: Metric) -> Self {
        FlatIndex {
            vectors,
            dim,
            metric,
        }
    }
}

impl Index for FlatIndex<'_> {
    fn kind(&self) -> &'static str {
        "flat"
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        mut accept: Option<&mut dyn FnMut(u64) -> bool>,
    ) -> Vec<Scored> {
        let mut top = TopK::new(k);
        if self.dim == 0 || k == 0 {
            return top.into_sorted();
        }
        // Score a block of rows into a small buffer, then select: keeps the kernel loop
        // free of heap work and the buffer in L1.
        const BLOCK: usize = 256;
        let l2 = self.metric == Metric::L2;
        let mut scores = [0.0f32; BLOCK];
        for (b, rows) in self.vectors.chunks(BLOCK * self.dim).enumerate() {
            let n = rows.len() / self.dim;
            score_rows(query, rows, self.dim, l2, &mut scores[..n]);
            let base = (b * BLOCK) as u64;
            for (i, &score) in scores[..n].iter().enumerate() {
                let id = base + i as u64;
                match accept.as_mut() {
                    None => top.push(id, score),
                    Some(accept) => {
                        if top.admits(id, score) && accept(id) {
                            top.push(id, score);
                        }
                    }
                }
            }
        }
        top.into_sorted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_finds_exact_match_first() {
        let dim = 4;
        let vectors = vec![
            1.0, 0.0, 0.0, 0.0, //
            0.0, 1.0, 0.0, 0.0, //
            0.6, 0.8, 0.0, 0.0,
        ];
        let idx = FlatIndex::new(&vectors, dim, Metric::Dot);
        let hits = idx.search(&[0.0, 1.0, 0.0, 0.0], 2, None);
        assert_eq!(hits[0].id, 1);
        assert_eq!(hits[1].id, 2);
        assert!((hits[1].score - 0.8).abs() < 1e-6);

        let idx = FlatIndex::new(&vectors, dim, Metric::L2);
        let hits = idx.search(&[1.0, 0.0, 0.0, 0.0], 3, None);
        assert_eq!(hits[0].id, 0);
        assert_eq!(hits[0].score, 0.0);
        assert_eq!(hits.len(), 3);

        let mut odd = |id: u64| id % 2 == 1;
        let hits = idx.search(&[1.0, 0.0, 0.0, 0.0], 3, Some(&mut odd));
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![1]);
    }
}
