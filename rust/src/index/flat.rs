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
        accept: Option<&mut dyn FnMut(u64) -> bool>,
    ) -> Vec<Scored> {
        if self.dim == 0 || k == 0 {
            return Vec::new();
        }
        match accept {
            None => self.top_k(query, k),
            Some(accept) => self.top_k_accepted(query, k, accept),
        }
    }
}

/// Rows scored per kernel call: keeps the score buffer in L1.
const BLOCK: usize = 256;
/// Packs of at least this many floats (16 MiB) are scanned on every core.
const PARALLEL_MIN_FLOATS: usize = 4 << 20;
const MAX_THREADS: usize = 16;

impl FlatIndex<'_> {
    /// Exact top k. A large pack is split into one contiguous range of rows per core,
    /// each scanned into its own top k, then merged: the result is the same as one scan
    /// (ties still go to the lower id), in about 1/cores of the time when the scan is
    /// bound by compute, or at the memory bandwidth all cores together can pull.
    fn top_k(&self, query: &[f32], k: usize) -> Vec<Scored> {
        let rows = self.vectors.len() / self.dim;
        let threads = if self.vectors.len() >= PARALLEL_MIN_FLOATS {
            crate::parallel::scan_threads().min(MAX_THREADS)
        } else {
            1
        };
        if threads < 2 {
            return self.top_k_range(query, k, 0, rows).into_sorted();
        }
        // A worker cannot fail but by a bug; then the scan runs again on this thread.
        let parts = match crate::parallel::map_ranges(rows, threads, |r| {
            self.top_k_range(query, k, r.start, r.end)
        }) {
            Ok(parts) => parts,
            Err(_) => vec![self.top_k_range(query, k, 0, rows)],
        };
        let mut top = TopK::new(k);
        for part in parts {
            for hit in part.into_sorted() {
                top.push(hit.id, hit.score);
            }
        }
        top.into_sorted()
    }

    fn top_k_range(&self, query: &[f32], k: usize, start: usize, end: usize) -> TopK {
        let mut top = TopK::new(k);
        let l2 = self.metric == Metric::L2;
        let mut scores = [0.0f32; BLOCK];
        let vectors = &self.vectors[start * self.dim..end * self.dim];
        for (b, rows) in vectors.chunks(BLOCK * self.dim).enumerate() {
            let n = rows.len() / self.dim;
            score_rows(query, rows, self.dim, l2, &mut scores[..n]);
            let base = (start + b * BLOCK) as u64;
            for (i, &score) in scores[..n].iter().enumerate() {
                top.push(base + i as u64, score);
            }
        }
        top
    }

    /// Scores every row, then visits candidates best first (in growing rounds of a
    /// partial selection) and asks `accept` only until `k` are accepted: about
    /// k / selectivity checks, whatever the order of the rows in the pack.
    fn top_k_accepted(
        &self,
        query: &[f32],
        k: usize,
        accept: &mut dyn FnMut(u64) -> bool,
    ) -> Vec<Scored> {
        let l2 = self.metric == Metric::L2;
        let count = self.vectors.len() / self.dim;
        let mut scores = vec![0.0f32; count];
        for (rows, out) in self
            .vectors
            .chunks(BLOCK * self.dim)
            .zip(scores.chunks_mut(BLOCK))
        {
            score_rows(query, rows, self.dim, l2, out);
        }
        let mut order: Vec<usize> = (0..count).filter(|&i| !scores[i].is_nan()).collect();
        // Best first: higher score, then lower id.
        let better = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
        let mut hits = Vec::with_capacity(k);
        let mut done = 0;
        let mut round = (k * 4).max(64);
        while done < order.len() && hits.len() < k {
            let rest = &mut order[done..];
            let take = round.min(rest.len());
            if take < rest.len() {
                rest.select_nth_unstable_by(take - 1, better);
            }
            rest[..take].sort_unstable_by(better);
            for &id in &rest[..take] {
                if accept(id as u64) {
                    hits.push(Scored {
                        id: id as u64,
                        score: scores[id],
                    });
                    if hits.len() == k {
                        break;
                    }
                }
            }
            done += take;
            round = round.saturating_mul(4);
        }
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_scan_equals_one_scan() {
        let dim = 8;
        let rows = PARALLEL_MIN_FLOATS / dim + 1001;
        // Few distinct values, so many ties cross the split points.
        let vectors: Vec<f32> = (0..rows * dim).map(|i| ((i * 7919) % 13) as f32).collect();
        let idx = FlatIndex::new(&vectors, dim, Metric::Dot);
        let q = [1.0, -1.0, 0.5, 0.0, 2.0, 0.0, -0.5, 1.0];
        let whole = idx.top_k_range(&q, 50, 0, rows).into_sorted();
        assert_eq!(idx.search(&q, 50, None), whole);
    }

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
