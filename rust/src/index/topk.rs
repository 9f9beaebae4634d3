//! Bounded top-k selection with a min-heap. Ties are broken by the lower id so results
//! are deterministic.

use super::Scored;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Heap entry ordered so that the *worst* kept hit is at the top of a max-heap.
#[derive(Clone, Copy)]
struct Worst(Scored);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        // "Greater" means worse: lower score, or equal score and higher id.
        other
            .0
            .score
            .total_cmp(&self.0.score)
            .then(self.0.id.cmp(&other.0.id))
    }
}

pub struct TopK {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.saturating_add(1).min(1 << 16)),
        }
    }

    #[inline]
    pub fn push(&mut self, id: u64, score: f32) {
        if self.k == 0 || score.is_nan() {
            return;
        }
        let item = Worst(Scored { id, score });
        if self.heap.len() < self.k {
            self.heap.push(item);
            return;
        }
        // Fast reject: most candidates in a scan score below the current worst.
        if self.heap.peek().is_some_and(|w| score < w.0.score) {
            return;
        }
        if let Some(mut top) = self.heap.peek_mut() {
            if item < *top {
                *top = item;
            }
        }
    }

    /// Hits best first.
    pub fn into_sorted(self) -> Vec<Scored> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|w| w.0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_best_k_in_order_with_id_tiebreak() {
        let mut t = TopK::new(3);
        for (id, s) in [(0, 0.1), (1, 0.9), (2, 0.5), (3, 0.9), (4, -1.0), (5, 0.7)] {
            t.push(id, s);
        }
        let got: Vec<(u64, f32)> = t.into_sorted().iter().map(|h| (h.id, h.score)).collect();
        assert_eq!(got, vec![(1, 0.9), (3, 0.9), (5, 0.7)]);
    }

    #[test]
    fn zero_k_and_nan_are_ignored() {
        let mut t = TopK::new(0);
        t.push(0, 1.0);
        assert!(t.into_sorted().is_empty());
        let mut t = TopK::new(2);
        t.push(0, f32::NAN);
        t.push(1, 0.5);
        assert_eq!(t.into_sorted().len(), 1);
    }
}
