//! A loaded pack: the reader plus search, serialization and its recorded embedder.

use crate::embed::{self, Embedder};
use crate::error::{Error, Result};
use crate::format::reader::{ChunkRef, IndexKind, PackReader};
use crate::format::writer::PackWriter;
use crate::index::codes::Codes;
use crate::index::distance::{dot, l2sq};
use crate::index::filter::Filter;
use crate::index::flat::FlatIndex;
use crate::index::hnsw::{self, GraphView, HnswSection};
use crate::index::lexical::{Bm25Stats, LexicalSection, QueryTerms};
use crate::index::topk::TopK;
use crate::index::{normalize, Index, Metric, Scored};
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Arc;

/// Largest `k` a search accepts.
pub(crate) const MAX_K: usize = crate::VPACK_MAX_K;

/// Candidates each side of a hybrid search contributes (at least `k`).
pub(crate) const HYBRID_DEPTH: usize = 100;

/// A query mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Dense,
    Lexical,
    Hybrid,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Dense => "dense",
            Mode::Lexical => "lexical",
            Mode::Hybrid => "hybrid",
        }
    }
}

/// Scales `hits`' scores to 0..=1 by their best and worst (all 1 when they are equal).
fn min_max(hits: &[Scored]) -> impl Iterator<Item = (u64, f32)> + '_ {
    let hi = hits
        .iter()
        .map(|h| h.score)
        .fold(f32::NEG_INFINITY, f32::max);
    let lo = hits.iter().map(|h| h.score).fold(f32::INFINITY, f32::min);
    let span = hi - lo;
    hits.iter().map(move |h| {
        let s = if span > 0.0 && span.is_finite() {
            (h.score - lo) / span
        } else {
            1.0
        };
        (h.id, s)
    })
}

/// The best `k` of the union of `dense` and `lexical` by `(1 - w) * dense + w * lexical`
/// on min-max scaled scores; ties go to the lower id.
pub(crate) fn fuse(dense: &[Scored], lexical: &[Scored], w: f32, k: usize) -> Vec<Scored> {
    let mut fused: std::collections::HashMap<u64, f32> = std::collections::HashMap::new();
    for (id, s) in min_max(dense) {
        *fused.entry(id).or_insert(0.0) += (1.0 - w) * s;
    }
    for (id, s) in min_max(lexical) {
        *fused.entry(id).or_insert(0.0) += w * s;
    }
    let mut top = TopK::new(k);
    for (id, score) in fused {
        top.push(id, score);
    }
    top.into_sorted()
}

/// Checks a mode query's `k` and returns getters for its inputs that fail with
/// `InvalidArg` when the mode needs an input the caller did not give (packs and sets).
#[allow(clippy::type_complexity)]
pub(crate) fn mode_inputs<'a>(
    mode: Mode,
    query: Option<&'a [f32]>,
    text: Option<&'a str>,
    k: usize,
) -> Result<(impl Fn() -> Result<&'a [f32]>, impl Fn() -> Result<&'a str>)> {
    if k > MAX_K {
        return Err(Error::Limit(format!("k = {k} (at most {MAX_K})")));
    }
    let need_query = move || {
        query.ok_or_else(|| {
            Error::InvalidArg(format!("{} search needs a query vector", mode.name()))
        })
    };
    let need_text = move || {
        text.ok_or_else(|| Error::InvalidArg(format!("{} search needs a query text", mode.name())))
    };
    Ok((need_query, need_text))
}

pub struct Pack {
    reader: PackReader,
}

/// Checks a query for a pack of `dimension` and `metric` and returns it ready to score
/// (normalised for cosine): the same bits for every pack of a set as for one pack.
pub(crate) fn prepare_query(
    query: &[f32],
    dimension: usize,
    metric: Metric,
    k: usize,
    ef: Option<usize>,
) -> Result<Vec<f32>> {
    if query.len() != dimension {
        return Err(Error::DimensionMismatch {
            expected: dimension,
            got: query.len(),
        });
    }
    if k > MAX_K {
        return Err(Error::Limit(format!("k = {k} (at most {MAX_K})")));
    }
    check_ef(ef)?;
    if query.iter().any(|x| !x.is_finite()) {
        return Err(Error::InvalidArg(
            "query vector holds a non-finite value".into(),
        ));
    }
    let mut q = query.to_vec();
    if metric == Metric::Cosine && !normalize(&mut q) {
        return Err(Error::InvalidArg(
            "query vector has zero norm (an empty query text?)".into(),
        ));
    }
    Ok(q)
}

fn check_ef(ef: Option<usize>) -> Result<()> {
    if let Some(ef) = ef {
        if !(1..=hnsw::MAX_EF).contains(&ef) {
            return Err(Error::InvalidArg(format!(
                "ef must be in 1..={}, got {ef}",
                hnsw::MAX_EF
            )));
        }
    }
    Ok(())
}

/// The caller's output arrays of a batch search.
pub(crate) struct BatchOut<'a> {
    pub ids: &'a mut [u64],
    pub scores: &'a mut [f32],
    pub counts: &'a mut [usize],
}

/// Runs a batch: `queries` (`counts.len()` rows of `dim`) split over up to `threads`
/// threads, each row searched with `search` (which checks it as a single search would);
/// `prepare` runs once first, on this thread. Each worker is marked a fan-out part, so
/// its scans stay on its own thread.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_batch(
    dim: usize,
    queries: &[f32],
    k: usize,
    ef: Option<usize>,
    threads: usize,
    out: BatchOut<'_>,
    prepare: impl FnOnce() -> Result<()>,
    search: impl Fn(&[f32]) -> Result<Vec<Scored>> + Sync,
) -> Result<()> {
    let BatchOut {
        ids,
        scores,
        counts,
    } = out;
    let n = counts.len();
    if queries.len() != n * dim || ids.len() != n * k || scores.len() != n * k {
        return Err(Error::DimensionMismatch {
            expected: n * dim,
            got: queries.len(),
        });
    }
    check_ef(ef)?;
    if n == 0 || k == 0 {
        // Still refuse what a single search would (a NaN or zero row).
        for q in queries.chunks_exact(dim) {
            search(q)?;
        }
        counts.iter_mut().for_each(|c| *c = 0);
        return Ok(());
    }
    // The first touch of every block happens here, once, before the threads start.
    prepare()?;
    let threads = threads.clamp(1, 64).min(n);
    let per = n.div_ceil(threads);
    let work = queries
        .chunks(per * dim)
        .zip(ids.chunks_mut(per * k))
        .zip(scores.chunks_mut(per * k))
        .zip(counts.chunks_mut(per));
    let search = &search;
    let fan_out = threads > 1;
    std::thread::scope(|scope| {
        let workers: Vec<_> = work
            .map(|(((qs, ids), scores), counts)| {
                scope.spawn(move || -> Result<()> {
                    let mut run = || -> Result<()> {
                        for (i, q) in qs.chunks_exact(dim).enumerate() {
                            let hits = search(q)?;
                            for (j, h) in hits.iter().enumerate() {
                                ids[i * k + j] = h.id;
                                scores[i * k + j] = h.score;
                            }
                            counts[i] = hits.len();
                        }
                        Ok(())
                    };
                    if fan_out {
                        crate::parallel::as_fan_out_part(run)
                    } else {
                        run()
                    }
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(Error::Panic("batch search worker".into())))
        })
    })
}

/// An HNSW graph section with the pack's vectors: what `hnsw::search` walks.
struct PackGraph<'a> {
    graph: HnswSection<'a>,
    reader: &'a PackReader,
}

impl GraphView for PackGraph<'_> {
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
        self.reader.vector_row(node as usize)
    }

    fn prefetch(&self, node: u32) {
        if let Some(row) = self.reader.vector_row_unchecked(node as usize) {
            hnsw::prefetch_rows(row);
        }
    }
}

impl Pack {
    pub fn open(path: &Path, verify: bool) -> Result<Self> {
        let reader = PackReader::open(path)?;
        if verify {
            reader.verify()?;
        }
        Ok(Pack { reader })
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Ok(Pack {
            reader: PackReader::from_bytes(bytes)?,
        })
    }

    pub fn from_writer(writer: PackWriter, manifest: Map<String, Value>) -> Result<Self> {
        Pack::from_bytes(&writer.finish(manifest)?)
    }

    /// Finishes `writer` straight into the file at `path` (atomically), then maps it.
    pub fn from_writer_to_file(
        writer: PackWriter,
        manifest: Map<String, Value>,
        path: &Path,
    ) -> Result<Self> {
        writer.finish_to_file(manifest, path)?;
        Pack::open(path, false)
    }

    pub fn reader(&self) -> &PackReader {
        &self.reader
    }

    pub fn len(&self) -> usize {
        self.reader.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reader.is_empty()
    }

    pub fn dimension(&self) -> usize {
        self.reader.dimension()
    }

    pub fn chunk(&self, id: usize) -> Result<ChunkRef<'_>> {
        self.reader.chunk(id)
    }

    pub fn verify(&self) -> Result<()> {
        self.reader.verify()
    }

    /// The best `k` chunks for `query`, best first, among those whose metadata passes
    /// `filter` (all when None), with the pack's default search effort.
    pub fn search(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Result<Vec<Scored>> {
        self.search_with(query, k, filter, None)
    }

    /// As `search`; `ef` is the HNSW candidate-list size (None: the pack's recorded
    /// `ef_search`; ignored by flat packs). Larger is slower and more accurate.
    ///
    /// With a filter on an HNSW pack, the walk gathers `4 * max(ef, k)` candidates and
    /// keeps those that pass; when fewer than `k` pass (a selective filter), the search
    /// falls back to an exact filtered scan, so `k` hits come back whenever `k` chunks
    /// match.
    pub fn search_with(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&Filter>,
        ef: Option<usize>,
    ) -> Result<Vec<Scored>> {
        let q = prepare_query(query, self.dimension(), self.reader.metric(), k, ef)?;
        self.search_prepared(&q, k, filter, ef)
    }

    /// `search_with` for a query `prepare_query` has checked and normalised.
    pub(crate) fn search_prepared(
        &self,
        q: &[f32],
        k: usize,
        filter: Option<&Filter>,
        ef: Option<usize>,
    ) -> Result<Vec<Scored>> {
        if k == 0 {
            return Ok(Vec::new());
        }
        if let IndexKind::Hnsw { ef_search } = self.reader.index_kind() {
            let ef = ef.unwrap_or(ef_search);
            if let Some(hits) = self.search_hnsw(q, k, filter, ef)? {
                return Ok(hits);
            }
        }
        self.search_flat(q, k, filter)
    }

    /// The metric of the stored vectors.
    pub fn metric(&self) -> Metric {
        self.reader.metric()
    }

    /// Checks every vector block a flat scan reads, so the threads of a batch do not all
    /// meet the first touch at once.
    pub(crate) fn prepare_batch(&self) -> Result<()> {
        if self.reader.index_kind() == IndexKind::Flat && self.reader.codes()?.is_none() {
            self.reader.vectors()?;
        }
        Ok(())
    }

    /// A search in one of the query modes: `Dense` ranks by the query vector (as
    /// `search_with`), `Lexical` by BM25 over the query text's terms (only chunks sharing
    /// a term come back), `Hybrid` fuses both: each side's best `max(k, HYBRID_DEPTH)`
    /// (filtered) are scaled to 0..=1 by their own best and worst, and a chunk scores
    /// `(1 - w) * dense + w * lexical` (0 for a side it is missing from; `w` is the
    /// pack's recorded `hybrid_weight`). Lexical and hybrid need a pack built with a
    /// lexical index.
    pub fn search_mode(
        &self,
        mode: Mode,
        query: Option<&[f32]>,
        text: Option<&str>,
        k: usize,
        filter: Option<&Filter>,
        ef: Option<usize>,
    ) -> Result<Vec<Scored>> {
        let (need_query, need_text) = mode_inputs(mode, query, text, k)?;
        match mode {
            Mode::Dense => self.search_with(need_query()?, k, filter, ef),
            Mode::Lexical => {
                let terms = self.query_terms(need_text()?)?;
                let stats = self.lexical_stats(&terms)?;
                self.search_lexical(&terms, &stats, k, filter)
            }
            Mode::Hybrid => {
                let (query, text) = (need_query()?, need_text()?);
                let depth = k.max(HYBRID_DEPTH);
                let dense = self.search_with(query, depth, filter, ef)?;
                let terms = self.query_terms(text)?;
                let stats = self.lexical_stats(&terms)?;
                let lexical = self.search_lexical(&terms, &stats, depth, filter)?;
                Ok(fuse(&dense, &lexical, self.hybrid_weight()?, k))
            }
        }
    }

    /// The pack's lexical index and hybrid weight; `NotFound` without one.
    fn lexical(&self) -> Result<(LexicalSection<'_>, f32)> {
        self.reader.lexical()?.ok_or_else(|| {
            Error::NotFound(
                "this pack has no lexical index, which lexical and hybrid queries need \
                 (build it with `vpack build --lexical`, or the index option \"lexical\": {})"
                    .into(),
            )
        })
    }

    /// The share of the lexical side in a hybrid score, as the manifest records it.
    pub(crate) fn hybrid_weight(&self) -> Result<f32> {
        Ok(self.lexical()?.1)
    }

    /// A query text's terms, by the tokenizer the pack's lexical index was built with.
    pub(crate) fn query_terms(&self, text: &str) -> Result<QueryTerms> {
        Ok(self.lexical()?.0.query_terms(text))
    }

    /// This pack's BM25 statistics for `terms`.
    pub(crate) fn lexical_stats(&self, terms: &QueryTerms) -> Result<Bm25Stats> {
        self.lexical()?.0.stats(terms)
    }

    /// BM25 search scored with `stats` (this pack's, or a whole set's).
    pub(crate) fn search_lexical(
        &self,
        terms: &QueryTerms,
        stats: &Bm25Stats,
        k: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<Scored>> {
        let (section, _) = self.lexical()?;
        if k == 0 {
            return Ok(Vec::new());
        }
        match filter {
            None => section.search(terms, stats, k, None),
            Some(f) => {
                let mut accept =
                    |id: u64| -> Result<bool> { f.matches(&self.chunk_metadata(id as usize)?) };
                section.search(terms, stats, k, Some(&mut accept))
            }
        }
    }

    /// HNSW search; None when a filter let fewer than `k` candidates through.
    fn search_hnsw(
        &self,
        q: &[f32],
        k: usize,
        filter: Option<&Filter>,
        ef: usize,
    ) -> Result<Option<Vec<Scored>>> {
        let Some(graph) = self.reader.hnsw()? else {
            return Ok(None);
        };
        let view = PackGraph {
            graph,
            reader: &self.reader,
        };
        let metric = self.reader.metric();
        let Some(filter) = filter else {
            // A graph that cannot reach k nodes (heavily duplicated vectors can leave some
            // weakly linked) falls back to the exact scan rather than return fewer.
            let hits = hnsw::search(&view, metric, q, k, ef)?;
            return Ok((hits.len() == k.min(self.len())).then_some(hits));
        };
        let wide = (4 * ef.max(k)).min(hnsw::MAX_EF.max(k));
        let mut hits = Vec::with_capacity(k);
        for hit in hnsw::search(&view, metric, q, wide, wide)? {
            if hits.len() == k {
                break;
            }
            if filter.matches(&self.chunk_metadata(hit.id as usize)?)? {
                hits.push(hit);
            }
        }
        Ok((hits.len() == k.min(self.len())).then_some(hits))
    }

    /// Flat search over compressed vectors: the best `rescore * k` rows by their codes
    /// (those passing the filter, widening until enough pass or every row was seen) are
    /// scored exactly against the f32 rows, and the best `k` of those returned. A
    /// codes-only pack (`rescore` None) returns the best `k` with their codes' scores.
    fn search_codes(
        &self,
        codes: &Codes<'_>,
        rescore: Option<usize>,
        q: &[f32],
        k: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<Scored>> {
        let n = self.len();
        let metric = self.reader.metric();
        let mut approx = vec![0.0f32; n];
        codes.score_all(metric, q, &mut approx);
        let enough = k.saturating_mul(rescore.unwrap_or(1)).min(n);
        let mut want = enough;
        let candidates = loop {
            let mut top = TopK::new(want);
            for (i, &s) in approx.iter().enumerate() {
                top.push(i as u64, s);
            }
            let mut passed = Vec::with_capacity(enough);
            for hit in top.into_sorted() {
                let pass = match filter {
                    None => true,
                    Some(f) => f.matches(&self.chunk_metadata(hit.id as usize)?)?,
                };
                if pass {
                    passed.push(hit);
                    if passed.len() == enough {
                        break;
                    }
                }
            }
            if passed.len() == enough || want >= n {
                break passed;
            }
            want = want.saturating_mul(4).min(n);
        };
        if rescore.is_none() {
            return Ok(candidates);
        }
        let mut exact = TopK::new(k);
        for Scored { id, .. } in candidates {
            let row = self.reader.vector_row(id as usize)?;
            let score = match metric {
                Metric::L2 => -l2sq(q, row),
                _ => dot(q, row),
            };
            exact.push(id, score);
        }
        Ok(exact.into_sorted())
    }

    fn search_flat(&self, q: &[f32], k: usize, filter: Option<&Filter>) -> Result<Vec<Scored>> {
        if let Some((codes, rescore)) = self.reader.codes()? {
            return self.search_codes(&codes, rescore, q, k, filter);
        }
        let index = FlatIndex::new(
            self.reader.vectors()?,
            self.dimension(),
            self.reader.metric(),
        );
        let Some(filter) = filter else {
            return Ok(index.search(q, k, None));
        };
        let mut failure: Option<Error> = None;
        let mut accept = |id: u64| -> bool {
            if failure.is_some() {
                return false;
            }
            match self
                .chunk_metadata(id as usize)
                .and_then(|meta| filter.matches(&meta))
            {
                Ok(pass) => pass,
                Err(e) => {
                    failure.get_or_insert(e);
                    false
                }
            }
        };
        let hits = index.search(q, k, Some(&mut accept));
        match failure {
            Some(e) => Err(e),
            None => Ok(hits),
        }
    }

    /// Searches `queries` (`n * dimension` floats, row-major) on up to `threads` threads;
    /// row `i`'s hits go to `ids[i * k..]` / `scores[i * k..]` and their number to
    /// `counts[i]`. The results equal `n` calls of `search_with`.
    #[allow(clippy::too_many_arguments)]
    pub fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        filter: Option<&Filter>,
        ef: Option<usize>,
        threads: usize,
        ids: &mut [u64],
        scores: &mut [f32],
        counts: &mut [usize],
    ) -> Result<()> {
        let out = BatchOut {
            ids,
            scores,
            counts,
        };
        run_batch(
            self.dimension(),
            queries,
            k,
            ef,
            threads,
            out,
            || self.prepare_batch(),
            |q| self.search_with(q, k, filter, ef),
        )
    }

    fn chunk_metadata(&self, id: usize) -> Result<Map<String, Value>> {
        let raw = self.reader.chunk(id)?.metadata;
        serde_json::from_slice(raw)
            .map_err(|e| Error::Corrupt(format!("chunk {id} metadata is not a JSON object: {e}")))
    }

    /// Creates the embedder recorded in the manifest under `embedder`.
    pub fn embedder(&self) -> Result<Arc<dyn Embedder>> {
        let config = self.reader.manifest().get("embedder").ok_or_else(|| {
            Error::NotFound("this pack records no embedder; query it with vectors".into())
        })?;
        let embedder = embed::create(config)?;
        if embedder.dimension() != self.dimension() {
            return Err(Error::DimensionMismatch {
                expected: self.dimension(),
                got: embedder.dimension(),
            });
        }
        Ok(embedder)
    }

    /// The pack's bytes, after checking all of them: a copy never carries damage on.
    pub fn to_bytes_checked(&self) -> Result<&[u8]> {
        self.reader.verify()?;
        Ok(self.reader.bytes())
    }

    /// Writes the pack to `path` atomically: a temporary file in the same directory,
    /// flushed to disk, then renamed over `path`. On failure `path` is untouched.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes_checked()?;
        crate::atomic::write_atomic(path, |out| {
            out.write_all(bytes)
                .map_err(|e| Error::io(format!("write {}", path.display()), e))
        })
    }
}
