//! HNSW (hierarchical navigable small world) graphs: a deterministic parallel build, the
//! `HNSW` pack section (kind 6) it is stored in, and search straight from that section.
//!
//! Build: node levels come from a hash of (seed, id), so they do not depend on order or
//! threads. Nodes are inserted in id order, in batches: the nodes of a batch search the
//! graph as it was before the batch (in parallel) and also consider the batch's earlier
//! nodes as candidates; their links, and the back-links they cause, are then applied in
//! id order. The result depends only on the vectors and parameters, never on the number
//! of threads, so packs stay byte-identical.
//!
//! Section layout (u32 words, little-endian):
//!
//! ```text
//! word  field
//! 0     m: links per node on levels >= 1
//! 1     m0: links per node on level 0
//! 2     max_level
//! 3     entry node
//! 4..6  node count (u64)
//! 6..8  words in the upper-level pool (u64)
//! 8     ef_construction (recorded; not needed to search)
//! 9..16 zero
//! 16    level 0: per node, 1 + m0 words: link count, then links (unused slots zero)
//! ...   per node 2 words: its level, and the word offset of its levels 1..=level in the
//!       pool (u32::MAX when its level is 0)
//! ...   pool: per node with level L >= 1, L x (1 + m) words (count, links) for levels 1..=L
//! ```
//!
//! Every count and id is checked when it is read, so a damaged graph (whose block
//! checksums were forged) gives a corrupt-pack error, never a panic or a wild read.

use super::distance::{dot, l2sq};
use super::topk::TopK;
use super::{Metric, Scored};
use crate::error::{Error, Result};
use crate::parallel;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

pub(crate) const DEFAULT_M: usize = 16;
pub(crate) const DEFAULT_EF_CONSTRUCTION: usize = 200;
pub(crate) const DEFAULT_EF_SEARCH: usize = 64;
pub(crate) const MAX_M: usize = 256;
/// Largest `ef` (construction or search).
///
/// cbindgen:ignore
pub const MAX_EF: usize = 1 << 16;
const MAX_LEVEL: usize = 31;
const HEAD_WORDS: usize = 16;
const SEED: u64 = 0x5650_4143_4b48_4e53; // "VPACKHNS"

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    pub m: usize,
    pub ef_construction: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: DEFAULT_M,
            ef_construction: DEFAULT_EF_CONSTRUCTION,
        }
    }
}

impl HnswParams {
    pub fn check(&self) -> Result<()> {
        if !(2..=MAX_M).contains(&self.m) {
            return Err(Error::InvalidArg(format!(
                "hnsw m must be in 2..={MAX_M}, got {}",
                self.m
            )));
        }
        if !(1..=MAX_EF).contains(&self.ef_construction) {
            return Err(Error::InvalidArg(format!(
                "hnsw ef_construction must be in 1..={MAX_EF}, got {}",
                self.ef_construction
            )));
        }
        Ok(())
    }
}

/// A score and a node; ordered by score, ties by lower id first (so heaps and sorts are
/// deterministic).
#[derive(Clone, Copy, Debug)]
struct Cand {
    score: f32,
    id: u32,
}

impl PartialEq for Cand {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    /// Greater = better: higher score, then lower id.
    fn cmp(&self, o: &Self) -> Ordering {
        self.score.total_cmp(&o.score).then(o.id.cmp(&self.id))
    }
}

/// What search needs from a graph: links and vectors, each possibly failing (a graph read
/// from a damaged pack).
pub trait GraphView {
    /// Number of nodes (for the visited set).
    fn nodes(&self) -> usize;
    fn entry(&self) -> Option<(u32, usize)>;
    fn links(&self, node: u32, level: usize) -> Result<&[u32]>;
    fn vector(&self, node: u32) -> Result<&[f32]>;
    /// A hint that `node`'s vector is needed soon (start loading it into cache).
    fn prefetch(&self, _node: u32) {}
}

/// Asks the CPU to start loading the cache lines of `row`.
#[inline]
pub(crate) fn prefetch_rows(row: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in row.chunks(16) {
        // SAFETY: prefetching is a hint that never faults; the pointer is in bounds.
        unsafe {
            std::arch::x86_64::_mm_prefetch(
                line.as_ptr().cast::<i8>(),
                std::arch::x86_64::_MM_HINT_T0,
            )
        };
    }
}

fn similarity(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::Cosine | Metric::Dot => dot(a, b),
        Metric::L2 => -l2sq(a, b),
    }
}

/// A visited set cleared in O(1) by bumping a generation.
struct Visited {
    marks: Vec<u32>,
    generation: u32,
}

impl Visited {
    fn new() -> Self {
        Visited {
            marks: Vec::new(),
            generation: 0,
        }
    }

    fn reset(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.iter_mut().for_each(|m| *m = 0);
            self.generation = 1;
        }
    }

    /// Marks `id`; true when it was not marked yet.
    fn insert(&mut self, id: u32) -> bool {
        let slot = &mut self.marks[id as usize];
        if *slot == self.generation {
            false
        } else {
            *slot = self.generation;
            true
        }
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = RefCell::new(Visited::new());
}

/// Greedy walk on `level` from `start` towards `query`.
fn greedy<G: GraphView>(
    g: &G,
    metric: Metric,
    query: &[f32],
    start: Cand,
    level: usize,
) -> Result<Cand> {
    let mut best = start;
    loop {
        let mut moved = false;
        for &n in g.links(best.id, level)? {
            let c = Cand {
                score: similarity(metric, query, g.vector(n)?),
                id: n,
            };
            if c > best {
                best = c;
                moved = true;
            }
        }
        if !moved {
            return Ok(best);
        }
    }
}

/// The best `ef` nodes reachable on `level` from `entries`, best first.
fn search_layer<G: GraphView>(
    g: &G,
    metric: Metric,
    query: &[f32],
    entries: &[Cand],
    ef: usize,
    level: usize,
    visited: &mut Visited,
) -> Result<Vec<Cand>> {
    visited.reset(g.nodes());
    let mut frontier: BinaryHeap<Cand> = BinaryHeap::new();
    // Worst of the results on top.
    let mut results: BinaryHeap<std::cmp::Reverse<Cand>> = BinaryHeap::new();
    for &e in entries {
        if visited.insert(e.id) {
            frontier.push(e);
            results.push(std::cmp::Reverse(e));
        }
    }
    while results.len() > ef {
        results.pop();
    }
    let mut fresh: Vec<u32> = Vec::with_capacity(64);
    while let Some(c) = frontier.pop() {
        if results.len() >= ef && results.peek().is_some_and(|w| c < w.0) {
            break;
        }
        // Mark and prefetch the unvisited neighbours first, then score them: their
        // vectors load from memory in parallel instead of one miss at a time.
        fresh.clear();
        for &n in g.links(c.id, level)? {
            if visited.insert(n) {
                g.prefetch(n);
                fresh.push(n);
            }
        }
        for &n in &fresh {
            let cand = Cand {
                score: similarity(metric, query, g.vector(n)?),
                id: n,
            };
            if results.len() < ef || results.peek().is_some_and(|w| cand > w.0) {
                frontier.push(cand);
                results.push(std::cmp::Reverse(cand));
                if results.len() > ef {
                    results.pop();
                }
            }
        }
    }
    let mut out: Vec<Cand> = results.into_iter().map(|r| r.0).collect();
    out.sort_by(|a, b| b.cmp(a));
    Ok(out)
}

/// Searches `g` for the best `k` nodes, with `ef` candidates on level 0.
pub fn search<G: GraphView>(
    g: &G,
    metric: Metric,
    query: &[f32],
    k: usize,
    ef: usize,
) -> Result<Vec<Scored>> {
    let Some((entry, max_level)) = g.entry() else {
        return Ok(Vec::new());
    };
    if k == 0 {
        return Ok(Vec::new());
    }
    let mut ep = Cand {
        score: similarity(metric, query, g.vector(entry)?),
        id: entry,
    };
    for level in (1..=max_level).rev() {
        ep = greedy(g, metric, query, ep, level)?;
    }
    let found = VISITED
        .with(|v| search_layer(g, metric, query, &[ep], ef.max(k), 0, &mut v.borrow_mut()))?;
    let mut top = TopK::new(k);
    for c in found {
        top.push(u64::from(c.id), c.score);
    }
    Ok(top.into_sorted())
}

/// The level of node `id`: geometric with ratio 1/m, from a hash of (seed, id).
fn node_level(id: u32, m: usize) -> usize {
    let mut x = SEED ^ (u64::from(id)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // splitmix64 finaliser
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    let u = ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64; // in (0, 1)
    let ml = 1.0 / (m as f64).ln();
    ((-u.ln() * ml).floor() as usize).min(MAX_LEVEL)
}

/// A graph being built, in memory.
pub struct HnswBuilder<'a> {
    vectors: &'a [f32],
    dim: usize,
    metric: Metric,
    params: HnswParams,
    m0: usize,
    levels: Vec<u8>,
    /// Level-0 links, `n * (1 + m0)` words: count then links.
    level0: Vec<u32>,
    /// Links of levels 1..=level per node: `level * (1 + m)` words.
    upper: Vec<Vec<u32>>,
    entry: Option<(u32, usize)>,
    inserted: usize,
}

impl GraphView for HnswBuilder<'_> {
    fn nodes(&self) -> usize {
        self.levels.len()
    }

    fn entry(&self) -> Option<(u32, usize)> {
        self.entry
    }

    fn links(&self, node: u32, level: usize) -> Result<&[u32]> {
        let n = node as usize;
        Ok(if level == 0 {
            let at = n * (1 + self.m0);
            &self.level0[at + 1..at + 1 + self.level0[at] as usize]
        } else {
            let at = (level - 1) * (1 + self.params.m);
            let u = &self.upper[n];
            &u[at + 1..at + 1 + u[at] as usize]
        })
    }

    fn vector(&self, node: u32) -> Result<&[f32]> {
        let at = node as usize * self.dim;
        Ok(&self.vectors[at..at + self.dim])
    }

    fn prefetch(&self, node: u32) {
        if let Some(row) = self
            .vectors
            .get(node as usize * self.dim..(node as usize + 1) * self.dim)
        {
            prefetch_rows(row);
        }
    }
}

/// One new node's planned links: per level from 0 up.
struct Plan {
    node: u32,
    links: Vec<Vec<u32>>,
}

impl<'a> HnswBuilder<'a> {
    /// `vectors` holds `n * dim` floats (normalised for cosine).
    pub fn new(vectors: &'a [f32], dim: usize, metric: Metric, params: HnswParams) -> Result<Self> {
        params.check()?;
        let n = vectors.len() / dim.max(1);
        if n > u32::MAX as usize - 1 {
            return Err(Error::Limit(format!(
                "{n} vectors (an hnsw graph holds at most 2^32 - 2)"
            )));
        }
        let m0 = 2 * params.m;
        let levels: Vec<u8> = (0..n as u32)
            .map(|i| node_level(i, params.m) as u8)
            .collect();
        let upper = levels
            .iter()
            .map(|&l| vec![0u32; l as usize * (1 + params.m)])
            .collect();
        Ok(HnswBuilder {
            vectors,
            dim,
            metric,
            params,
            m0,
            levels,
            level0: vec![0; n * (1 + m0)],
            upper,
            entry: None,
            inserted: 0,
        })
    }

    fn sim(&self, a: u32, b: u32) -> f32 {
        similarity(
            self.metric,
            &self.vectors[a as usize * self.dim..][..self.dim],
            &self.vectors[b as usize * self.dim..][..self.dim],
        )
    }

    /// Keeps candidates (best first) that are closer to the base than to any kept one,
    /// up to `max` (the HNSW paper's neighbour heuristic), then fills the free slots with
    /// the best pruned ones (the paper's "keep pruned connections"): without them, many
    /// identical vectors (boilerplate chunks) prune each other away and fall out of the
    /// graph.
    fn select(&self, candidates: &[Cand], max: usize) -> Vec<u32> {
        let mut kept: Vec<u32> = Vec::with_capacity(max);
        let mut pruned: Vec<u32> = Vec::new();
        for c in candidates {
            if kept.len() >= max {
                break;
            }
            if kept.iter().all(|&r| self.sim(c.id, r) < c.score) {
                kept.push(c.id);
            } else {
                pruned.push(c.id);
            }
        }
        let room = max - kept.len();
        kept.extend(pruned.into_iter().take(room));
        kept
    }

    /// Plans the links of `node`, which sees the graph as built so far and the batch's
    /// earlier nodes `earlier`.
    fn plan(&self, node: u32, earlier: &[u32], visited: &mut Visited) -> Result<Plan> {
        let level = self.levels[node as usize] as usize;
        let q = &self.vectors[node as usize * self.dim..][..self.dim];
        let mut links = vec![Vec::new(); level + 1];
        let mut ep: Vec<Cand> = Vec::new();
        if let Some((entry, max_level)) = self.entry {
            let mut best = Cand {
                score: similarity(self.metric, q, self.vector(entry)?),
                id: entry,
            };
            for l in (level + 1..=max_level).rev() {
                best = greedy(self, self.metric, q, best, l)?;
            }
            ep.push(best);
        }
        let top = self.entry.map_or(0, |(_, l)| l);
        for l in (0..=level).rev() {
            let mut found = if l <= top && !ep.is_empty() {
                search_layer(
                    self,
                    self.metric,
                    q,
                    &ep,
                    self.params.ef_construction,
                    l,
                    visited,
                )?
            } else {
                Vec::new()
            };
            for &e in earlier {
                if self.levels[e as usize] as usize >= l {
                    found.push(Cand {
                        score: self.sim(node, e),
                        id: e,
                    });
                }
            }
            found.sort_by(|a, b| b.cmp(a));
            found.dedup_by_key(|c| c.id);
            links[l] = self.select(&found, self.params.m);
            if !found.is_empty() {
                ep = found;
            }
        }
        Ok(Plan { node, links })
    }

    fn set_links(&mut self, node: u32, level: usize, links: &[u32]) {
        let (slot, cap) = if level == 0 {
            let at = node as usize * (1 + self.m0);
            (&mut self.level0[at..at + 1 + self.m0], self.m0)
        } else {
            let at = (level - 1) * (1 + self.params.m);
            let m = self.params.m;
            (&mut self.upper[node as usize][at..at + 1 + m], m)
        };
        debug_assert!(links.len() <= cap);
        slot.iter_mut().for_each(|w| *w = 0);
        slot[0] = links.len() as u32;
        slot[1..1 + links.len()].copy_from_slice(links);
    }

    /// The new link list of `target` on `level` after adding `sources` (id order).
    fn merged_links(&self, target: u32, level: usize, sources: &[u32]) -> Result<Vec<u32>> {
        let cap = if level == 0 { self.m0 } else { self.params.m };
        let mut all: Vec<u32> = self.links(target, level)?.to_vec();
        for &s in sources {
            if s != target && !all.contains(&s) {
                all.push(s);
            }
        }
        if all.len() <= cap {
            return Ok(all);
        }
        let mut cands: Vec<Cand> = all
            .iter()
            .map(|&id| Cand {
                score: self.sim(target, id),
                id,
            })
            .collect();
        cands.sort_by(|a, b| b.cmp(a));
        Ok(self.select(&cands, cap))
    }

    /// Inserts every node, on up to `threads` threads. Deterministic whatever `threads`.
    pub fn build(mut self, threads: usize) -> Result<HnswGraph> {
        let n = self.levels.len();
        while self.inserted < n {
            // Small batches while the graph is small, so early nodes still link well.
            // Each node also scores the batch's earlier nodes, so batches stay small.
            let batch = (self.inserted / 16).clamp(1, 256).min(n - self.inserted);
            let nodes: Vec<u32> = (self.inserted as u32..(self.inserted + batch) as u32).collect();
            let plans = self.plan_batch(&nodes, threads)?;
            self.apply(&plans, threads)?;
            self.inserted += batch;
        }
        Ok(self.finish())
    }

    fn plan_batch(&self, nodes: &[u32], threads: usize) -> Result<Vec<Plan>> {
        let threads = threads.clamp(1, 64).min(nodes.len().div_ceil(8));
        let parts = parallel::map_ranges(nodes.len(), threads, |range| {
            let mut visited = Visited::new();
            range
                .map(|i| self.plan(nodes[i], &nodes[..i], &mut visited))
                .collect::<Result<Vec<_>>>()
        })?;
        let mut plans = Vec::with_capacity(nodes.len());
        for part in parts {
            plans.extend(part?);
        }
        Ok(plans)
    }

    fn apply(&mut self, plans: &[Plan], threads: usize) -> Result<()> {
        let mut requests: Vec<(usize, u32, u32)> = Vec::new();
        for p in plans {
            for (level, links) in p.links.iter().enumerate() {
                self.set_links(p.node, level, links);
                requests.extend(links.iter().map(|&t| (level, t, p.node)));
            }
        }
        requests.sort_unstable();
        // One group per (level, target), sources in id order.
        let mut groups: Vec<(usize, u32, Vec<u32>)> = Vec::new();
        for (level, target, source) in requests {
            match groups.last_mut() {
                Some((l, t, s)) if *l == level && *t == target => s.push(source),
                _ => groups.push((level, target, vec![source])),
            }
        }
        let threads = threads.clamp(1, 64).min(groups.len().div_ceil(64));
        let this = &*self;
        let merged: Vec<Vec<u32>> = parallel::map_ranges(groups.len(), threads, |range| {
            range
                .map(|i| this.merged_links(groups[i].1, groups[i].0, &groups[i].2))
                .collect::<Result<Vec<_>>>()
        })?
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .concat();
        for ((level, target, _), links) in groups.iter().zip(merged) {
            self.set_links(*target, *level, &links);
        }
        // The highest new level becomes the entry (the lowest such id on ties).
        for p in plans {
            let level = self.levels[p.node as usize] as usize;
            if self.entry.is_none_or(|(_, top)| level > top) {
                self.entry = Some((p.node, level));
            }
        }
        Ok(())
    }

    fn finish(self) -> HnswGraph {
        HnswGraph {
            m: self.params.m,
            m0: self.m0,
            ef_construction: self.params.ef_construction,
            levels: self.levels,
            level0: self.level0,
            upper: self.upper,
            entry: self.entry,
        }
    }
}

/// A finished graph, ready to be written as a section.
pub struct HnswGraph {
    m: usize,
    m0: usize,
    ef_construction: usize,
    levels: Vec<u8>,
    level0: Vec<u32>,
    upper: Vec<Vec<u32>>,
    entry: Option<(u32, usize)>,
}

impl HnswGraph {
    /// The section bytes.
    pub fn encode(&self) -> Vec<u8> {
        let n = self.levels.len();
        let pool_words: usize = self.upper.iter().map(Vec::len).sum();
        let mut words: Vec<u32> =
            Vec::with_capacity(HEAD_WORDS + self.level0.len() + 2 * n + pool_words);
        let (entry, max_level) = self.entry.map_or((0, 0), |(e, l)| (e, l as u32));
        words.extend([self.m as u32, self.m0 as u32, max_level, entry]);
        words.extend([n as u32, (n as u64 >> 32) as u32]);
        words.extend([pool_words as u32, (pool_words as u64 >> 32) as u32]);
        words.push(self.ef_construction as u32);
        words.resize(HEAD_WORDS, 0);
        words.extend_from_slice(&self.level0);
        let mut offset = 0usize;
        for (i, &l) in self.levels.iter().enumerate() {
            words.push(u32::from(l));
            words.push(if l == 0 { u32::MAX } else { offset as u32 });
            offset += self.upper[i].len();
        }
        for u in &self.upper {
            words.extend_from_slice(u);
        }
        let mut out = Vec::with_capacity(words.len() * 4);
        for w in words {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// The graph section of an open pack, read in place. Only the head is checked at open;
/// every link list is checked as it is read.
pub struct HnswSection<'a> {
    words: &'a [u32],
    pub m: usize,
    pub m0: usize,
    pub ef_construction: usize,
    max_level: usize,
    entry: u32,
    n: usize,
    nodes_at: usize,
    pool_at: usize,
    pool_words: usize,
}

fn corrupt(msg: impl Into<String>) -> Error {
    Error::Corrupt(format!("hnsw section: {}", msg.into()))
}

impl<'a> HnswSection<'a> {
    /// `words` is the whole section; `count` the pack's chunk count.
    pub fn parse(words: &'a [u32], count: usize) -> Result<Self> {
        if words.len() < HEAD_WORDS {
            return Err(corrupt("shorter than its head"));
        }
        let (m, m0) = (words[0] as usize, words[1] as usize);
        if !(2..=MAX_M).contains(&m) || !(m..=2 * MAX_M).contains(&m0) {
            return Err(corrupt(format!("link counts m={m}, m0={m0} out of range")));
        }
        let max_level = words[2] as usize;
        let entry = words[3];
        let n = u64::from(words[4]) | (u64::from(words[5]) << 32);
        let pool = u64::from(words[6]) | (u64::from(words[7]) << 32);
        if n != count as u64 {
            return Err(corrupt(format!("{n} nodes for {count} chunks")));
        }
        if max_level > MAX_LEVEL
            || (count > 0 && entry as usize >= count)
            || words[9..HEAD_WORDS].iter().any(|&w| w != 0)
        {
            return Err(corrupt("bad head"));
        }
        let nodes_at = count
            .checked_mul(1 + m0)
            .and_then(|w| w.checked_add(HEAD_WORDS))
            .ok_or_else(|| corrupt("size overflows"))?;
        let pool_at = nodes_at + 2 * count;
        let total = usize::try_from(pool)
            .ok()
            .and_then(|p| p.checked_add(pool_at))
            .ok_or_else(|| corrupt("size overflows"))?;
        if total != words.len() {
            return Err(corrupt(format!(
                "holds {} words, its head needs {total}",
                words.len()
            )));
        }
        // The walk starts at the entry on the top level, so the entry must have it.
        if count > 0 && words[nodes_at + 2 * entry as usize] as usize != max_level {
            return Err(corrupt("the entry node is not on the top level"));
        }
        Ok(HnswSection {
            words,
            m,
            m0,
            ef_construction: words[8] as usize,
            max_level,
            entry,
            n: count,
            nodes_at,
            pool_at,
            pool_words: pool as usize,
        })
    }

    fn checked(&self, list: &'a [u32], cap: usize, node: u32, level: usize) -> Result<&'a [u32]> {
        let count = list[0] as usize;
        if count > cap {
            return Err(corrupt(format!(
                "node {node} has {count} links on level {level}"
            )));
        }
        let links = &list[1..1 + count];
        if links.iter().any(|&l| l as usize >= self.n) {
            return Err(corrupt(format!(
                "node {node} links past the last node on level {level}"
            )));
        }
        Ok(links)
    }

    /// The links of `node` on `level`, checked.
    pub fn links(&self, node: u32, level: usize) -> Result<&'a [u32]> {
        let i = node as usize;
        if i >= self.n {
            return Err(corrupt(format!("node {node} out of range")));
        }
        if level == 0 {
            let at = HEAD_WORDS + i * (1 + self.m0);
            return self.checked(&self.words[at..at + 1 + self.m0], self.m0, node, 0);
        }
        let node_level = self.words[self.nodes_at + 2 * i] as usize;
        let offset = self.words[self.nodes_at + 2 * i + 1] as usize;
        if level > node_level || node_level > self.max_level {
            return Err(corrupt(format!("node {node} has no level {level}")));
        }
        let at = offset + (level - 1) * (1 + self.m);
        if at + 1 + self.m > self.pool_words {
            return Err(corrupt(format!(
                "node {node} level {level} runs past the pool"
            )));
        }
        let at = self.pool_at + at;
        self.checked(&self.words[at..at + 1 + self.m], self.m, node, level)
    }

    pub fn entry(&self) -> Option<(u32, usize)> {
        (self.n > 0).then_some((self.entry, self.max_level))
    }

    /// Reads every link list of every node (for a full verify).
    pub fn check_all(&self) -> Result<()> {
        let level_of = |node: u32| self.words[self.nodes_at + 2 * node as usize] as usize;
        for node in 0..self.n as u32 {
            self.links(node, 0)?;
            for l in 1..=level_of(node) {
                // A link on level l must lead to a node that has level l.
                if let Some(&to) = self.links(node, l)?.iter().find(|&&to| level_of(to) < l) {
                    return Err(corrupt(format!(
                        "node {node} links to node {to} on level {l}, which it lacks"
                    )));
                }
            }
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::normalize;

    fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut s = seed;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let centers: Vec<Vec<f32>> = (0..20)
            .map(|_| (0..dim).map(|_| next()).collect())
            .collect();
        let mut out = Vec::with_capacity(n * dim);
        for i in 0..n {
            let c = &centers[i % centers.len()];
            let mut row: Vec<f32> = c.iter().map(|x| x + 0.3 * next()).collect();
            normalize(&mut row);
            out.extend(row);
        }
        out
    }

    struct Mem<'a> {
        graph: HnswSection<'a>,
        vectors: &'a [f32],
        dim: usize,
    }

    impl GraphView for Mem<'_> {
        fn nodes(&self) -> usize {
            self.graph.len()
        }
        fn entry(&self) -> Option<(u32, usize)> {
            self.graph.entry()
        }
        fn links(&self, node: u32, level: usize) -> Result<&[u32]> {
            self.graph.links(node, level)
        }
        fn vector(&self, node: u32) -> Result<&[f32]> {
            Ok(&self.vectors[node as usize * self.dim..][..self.dim])
        }
    }

    fn words(bytes: &[u8]) -> Vec<u32> {
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    #[test]
    fn recall_is_high_and_builds_are_identical_on_any_thread_count() {
        let (n, dim) = (3000, 32);
        let v = clustered(n, dim, 7);
        let params = HnswParams {
            m: 12,
            ef_construction: 100,
        };
        let one = HnswBuilder::new(&v, dim, Metric::Cosine, params)
            .unwrap()
            .build(1)
            .unwrap()
            .encode();
        let two = HnswBuilder::new(&v, dim, Metric::Cosine, params)
            .unwrap()
            .build(2)
            .unwrap()
            .encode();
        let four = HnswBuilder::new(&v, dim, Metric::Cosine, params)
            .unwrap()
            .build(4)
            .unwrap()
            .encode();
        assert!(one == two && two == four, "thread count changed the graph");

        let w = words(&one);
        let g = Mem {
            graph: HnswSection::parse(&w, n).unwrap(),
            vectors: &v,
            dim,
        };
        let queries = clustered(100, dim, 99);
        let mut hits = 0;
        for q in queries.chunks_exact(dim) {
            let got = search(&g, Metric::Cosine, q, 10, 64).unwrap();
            let mut exact: Vec<(f32, usize)> = v
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, r)| (dot(q, r), i))
                .collect();
            exact.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let truth: Vec<u64> = exact[..10].iter().map(|e| e.1 as u64).collect();
            hits += got.iter().filter(|h| truth.contains(&h.id)).count();
        }
        let recall = hits as f64 / 1000.0;
        assert!(recall >= 0.95, "recall@10 = {recall}");
    }

    #[test]
    fn damaged_graphs_are_errors_not_panics() {
        let (n, dim) = (500, 8);
        let v = clustered(n, dim, 3);
        let bytes = HnswBuilder::new(&v, dim, Metric::L2, HnswParams::default())
            .unwrap()
            .build(2)
            .unwrap()
            .encode();
        let good = words(&bytes);
        assert!(HnswSection::parse(&good, n + 1).is_err(), "count mismatch");
        assert!(
            HnswSection::parse(&good[..good.len() - 1], n).is_err(),
            "short"
        );
        let q = &v[..dim];
        for at in (0..good.len()).step_by(7) {
            for value in [u32::MAX, n as u32, 1 << 20] {
                let mut bad = good.clone();
                bad[at] = value;
                if let Ok(section) = HnswSection::parse(&bad, n) {
                    let g = Mem {
                        graph: section,
                        vectors: &v,
                        dim,
                    };
                    let _ = search(&g, Metric::L2, q, 5, 32); // Ok or Err, never a panic
                }
            }
        }
    }

    #[test]
    fn tiny_graphs() {
        for n in [0usize, 1, 2, 5] {
            let v = clustered(n, 4, 1);
            let bytes = HnswBuilder::new(&v, 4, Metric::Dot, HnswParams::default())
                .unwrap()
                .build(2)
                .unwrap()
                .encode();
            let w = words(&bytes);
            let g = Mem {
                graph: HnswSection::parse(&w, n).unwrap(),
                vectors: &v,
                dim: 4,
            };
            let got = search(&g, Metric::Dot, &[1.0, 0.0, 0.0, 0.0], 10, 16).unwrap();
            assert_eq!(got.len(), n);
        }
    }
}
