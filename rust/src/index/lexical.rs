//! The lexical index: an inverted index of the chunks' terms (see `tokenize`), scored
//! with Okapi BM25, stored as the `LEXICAL` pack section (kind 8) and read in place.
//!
//! Section layout (little-endian):
//!
//! ```text
//! offset  size        field
//! 0       4           layout version (1)
//! 4       4           k1 (f32)
//! 8       4           b (f32)
//! 12      4           zero
//! 16      8           documents (the pack's chunk count)
//! 24      8           terms
//! 32      8           postings
//! 40      8           term bytes
//! 48      8           sum of the documents' lengths (terms)
//! 56      8           zero
//! 64      4 * docs    each document's length in terms (u32)
//! (8-aligned)         per term, in byte order of the terms: 16 bytes: offset of its
//!                     bytes in the term bytes (u32), their length (u32), index of its
//!                     first posting (u64); its postings run to the next term's first
//! (8-aligned)         postings: 8 bytes each: document (u32), term frequency (u32),
//!                     documents ascending within a term
//! ...                 term bytes (UTF-8, no separators)
//! ```
//!
//! Every offset, length and document id is checked as it is read, so a damaged section
//! (with forged checksums) is a corrupt-pack error, never a panic or a wild read.

use super::tokenize::Tokenizer;
use super::topk::TopK;
use super::Scored;
use crate::error::{Error, Result};
use std::collections::HashMap;

const HEAD: usize = 64;
const VERSION: u32 = 1;
const TERM_ENTRY: usize = 16;
const POSTING: usize = 8;

/// BM25 parameters (defaults measured on the eval sets in benches/eval).
pub(crate) const DEFAULT_K1: f32 = 1.5;
pub(crate) const DEFAULT_B: f32 = 0.9;
/// The lexical share of a hybrid score (measured on the eval sets in benches/eval).
pub(crate) const DEFAULT_HYBRID_WEIGHT: f32 = 0.2;

fn corrupt(msg: impl Into<String>) -> Error {
    Error::Corrupt(format!("lexical section: {}", msg.into()))
}

fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Collects the terms of each chunk as it is added, then encodes the section.
#[derive(Default)]
pub struct LexicalBuilder {
    ids: HashMap<String, u32>,
    /// Per term id: (document, frequency), documents ascending.
    postings: Vec<Vec<(u32, u32)>>,
    doc_lens: Vec<u32>,
    counts: HashMap<u32, u32>,
    tokenizer: Tokenizer,
}

impl LexicalBuilder {
    pub fn new(tokenizer: Tokenizer) -> Self {
        LexicalBuilder {
            tokenizer,
            ..Self::default()
        }
    }

    /// Adds the next document: the terms of each of `fields`, counted together.
    pub fn add(&mut self, fields: &[&str]) -> Result<()> {
        let doc = u32::try_from(self.doc_lens.len())
            .map_err(|_| Error::Limit("a lexical index holds at most 2^32 chunks".into()))?;
        self.counts.clear();
        let mut len: u64 = 0;
        for text in fields {
            self.tokenizer.for_each_term(text, |term| {
                len += 1;
                let next = self.ids.len() as u32;
                let id = *self.ids.entry(term.to_string()).or_insert(next);
                if id == next {
                    self.postings.push(Vec::new());
                }
                *self.counts.entry(id).or_insert(0) += 1;
            });
        }
        let mut terms: Vec<(u32, u32)> = self.counts.drain().collect();
        terms.sort_unstable();
        for (id, tf) in terms {
            self.postings[id as usize].push((doc, tf));
        }
        self.doc_lens.push(u32::try_from(len).unwrap_or(u32::MAX));
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.doc_lens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.doc_lens.is_empty()
    }

    /// The section bytes: the same documents give the same bytes.
    pub fn encode(self, k1: f32, b: f32) -> Result<Vec<u8>> {
        let mut terms: Vec<(String, u32)> = self.ids.into_iter().collect();
        terms.sort_unstable_by(|a, c| a.0.as_bytes().cmp(c.0.as_bytes()));
        let total_postings: usize = self.postings.iter().map(Vec::len).sum();
        let term_bytes: usize = terms.iter().map(|t| t.0.len()).sum();
        if term_bytes > u32::MAX as usize {
            return Err(Error::Limit(
                "lexical index: over 4 GiB of distinct terms".into(),
            ));
        }
        let docs = self.doc_lens.len();
        let sum_len: u64 = self.doc_lens.iter().map(|&l| u64::from(l)).sum();
        let mut out = Vec::with_capacity(
            HEAD + 4 * docs + 8 + TERM_ENTRY * terms.len() + POSTING * total_postings + term_bytes,
        );
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&k1.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        for v in [
            docs as u64,
            terms.len() as u64,
            total_postings as u64,
            term_bytes as u64,
            sum_len,
            0,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for l in &self.doc_lens {
            out.extend_from_slice(&l.to_le_bytes());
        }
        out.resize(align8(out.len()), 0);
        let (mut str_at, mut post_at) = (0u32, 0u64);
        for (term, id) in &terms {
            out.extend_from_slice(&str_at.to_le_bytes());
            out.extend_from_slice(&(term.len() as u32).to_le_bytes());
            out.extend_from_slice(&post_at.to_le_bytes());
            str_at += term.len() as u32;
            post_at += self.postings[*id as usize].len() as u64;
        }
        for (_, id) in &terms {
            for (doc, tf) in &self.postings[*id as usize] {
                out.extend_from_slice(&doc.to_le_bytes());
                out.extend_from_slice(&tf.to_le_bytes());
            }
        }
        for (term, _) in &terms {
            out.extend_from_slice(term.as_bytes());
        }
        Ok(out)
    }
}

/// A query's distinct terms in byte order, each weighted by how often it occurs.
pub struct QueryTerms(Vec<(String, f32)>);

impl QueryTerms {
    pub fn new(query: &str, tokenizer: &Tokenizer) -> Self {
        let mut wanted: Vec<String> = tokenizer.terms(query);
        wanted.sort_unstable();
        let mut weights: Vec<(String, f32)> = Vec::new();
        for t in wanted {
            match weights.last_mut() {
                Some((last, w)) if *last == t => *w += 1.0,
                _ => weights.push((t, 1.0)),
            }
        }
        QueryTerms(weights)
    }
}

/// The corpus statistics BM25 needs for one query: documents, their summed length, and
/// each query term's document frequency. Statistics of disjoint corpora add up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bm25Stats {
    pub docs: u64,
    pub sum_len: u64,
    pub df: Vec<u64>,
}

impl Bm25Stats {
    /// Adds the statistics of another corpus for the same query.
    pub fn add(&mut self, other: &Bm25Stats) {
        self.docs += other.docs;
        self.sum_len += other.sum_len;
        for (a, b) in self.df.iter_mut().zip(&other.df) {
            *a += b;
        }
    }

    fn avg_len(&self) -> f32 {
        if self.docs == 0 {
            1.0
        } else {
            (self.sum_len as f64 / self.docs as f64).max(1e-6) as f32
        }
    }
}

/// A LEXICAL section read in place; the head and the sizes are checked at parse.
pub struct LexicalSection<'a> {
    bytes: &'a [u8],
    tokenizer: Tokenizer,
    pub k1: f32,
    pub b: f32,
    docs: usize,
    terms: usize,
    postings: usize,
    lens_at: usize,
    terms_at: usize,
    postings_at: usize,
    strings_at: usize,
    string_bytes: usize,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl<'a> LexicalSection<'a> {
    /// `bytes` is the whole section; `count` the pack's chunk count; `tokenizer` the one
    /// the manifest names.
    pub fn parse(bytes: &'a [u8], count: usize, tokenizer: Tokenizer) -> Result<Self> {
        if bytes.len() < HEAD || u32_at(bytes, 0) != VERSION {
            return Err(corrupt("bad head"));
        }
        if u32_at(bytes, 12) != 0 || u64_at(bytes, 56) != 0 {
            return Err(corrupt("non-zero reserved fields"));
        }
        let k1 = f32::from_le_bytes(bytes[4..8].try_into().map_err(|_| corrupt("head"))?);
        let b = f32::from_le_bytes(bytes[8..12].try_into().map_err(|_| corrupt("head"))?);
        if !(k1.is_finite() && (0.0..=100.0).contains(&k1) && (0.0..=1.0).contains(&b)) {
            return Err(corrupt(format!("k1 {k1} or b {b} out of range")));
        }
        let field = |at: usize| usize::try_from(u64_at(bytes, at)).map_err(|_| corrupt("size"));
        let (docs, terms, postings, string_bytes) =
            (field(16)?, field(24)?, field(32)?, field(40)?);
        if docs != count {
            return Err(corrupt(format!("{docs} documents for {count} chunks")));
        }
        let overflow = || corrupt("sizes overflow");
        let lens_at = HEAD;
        let terms_at = align8(
            docs.checked_mul(4)
                .and_then(|n| n.checked_add(lens_at))
                .ok_or_else(overflow)?,
        );
        let postings_at = terms
            .checked_mul(TERM_ENTRY)
            .and_then(|n| n.checked_add(terms_at))
            .ok_or_else(overflow)?;
        let strings_at = postings
            .checked_mul(POSTING)
            .and_then(|n| n.checked_add(postings_at))
            .ok_or_else(overflow)?;
        let total = strings_at.checked_add(string_bytes).ok_or_else(overflow)?;
        if total != bytes.len() {
            return Err(corrupt(format!(
                "holds {} bytes, its head needs {total}",
                bytes.len()
            )));
        }
        Ok(LexicalSection {
            bytes,
            tokenizer,
            k1,
            b,
            docs,
            terms,
            postings,
            lens_at,
            terms_at,
            postings_at,
            strings_at,
            string_bytes,
        })
    }

    fn term(&self, i: usize) -> Result<(&'a [u8], usize)> {
        let at = self.terms_at + i * TERM_ENTRY;
        let (off, len) = (
            u32_at(self.bytes, at) as usize,
            u32_at(self.bytes, at + 4) as usize,
        );
        let first = usize::try_from(u64_at(self.bytes, at + 8)).map_err(|_| corrupt("posting"))?;
        if off
            .checked_add(len)
            .is_none_or(|end| end > self.string_bytes)
            || first > self.postings
        {
            return Err(corrupt(format!("term {i} points outside the section")));
        }
        let start = self.strings_at + off;
        Ok((&self.bytes[start..start + len], first))
    }

    /// The postings of `term` (None when the pack does not hold it).
    fn find(&self, term: &[u8]) -> Result<Option<std::ops::Range<usize>>> {
        let (mut lo, mut hi) = (0, self.terms);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (bytes, first) = self.term(mid)?;
            match bytes.cmp(term) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => {
                    let end = if mid + 1 < self.terms {
                        self.term(mid + 1)?.1
                    } else {
                        self.postings
                    };
                    if end < first {
                        return Err(corrupt(format!("term {mid} has a negative posting count")));
                    }
                    return Ok(Some(first..end));
                }
            }
        }
        Ok(None)
    }

    fn doc_len(&self, doc: usize) -> f32 {
        u32_at(self.bytes, self.lens_at + 4 * doc) as f32
    }

    /// The terms of a query text, by the tokenizer the index was built with.
    pub fn query_terms(&self, query: &str) -> QueryTerms {
        QueryTerms::new(query, &self.tokenizer)
    }

    /// This section's BM25 statistics for `terms` (see [`Bm25Stats`]).
    pub fn stats(&self, terms: &QueryTerms) -> Result<Bm25Stats> {
        let df = terms
            .0
            .iter()
            .map(|(t, _)| Ok(self.find(t.as_bytes())?.map_or(0, |r| r.len() as u64)))
            .collect::<Result<Vec<u64>>>()?;
        Ok(Bm25Stats {
            docs: self.docs as u64,
            sum_len: u64_at(self.bytes, 48),
            df,
        })
    }

    /// BM25 scores of every document matching any term of `terms`, with the corpus
    /// statistics `stats` (this section's own, or a pack set's sum over its shards, so a
    /// shard scores as the one pack holding every shard's chunks would): (document,
    /// score), documents ascending.
    pub fn scores(&self, terms: &QueryTerms, stats: &Bm25Stats) -> Result<Vec<(u32, f32)>> {
        if stats.df.len() != terms.0.len() {
            return Err(Error::InvalidArg(
                "BM25 statistics for another query".into(),
            ));
        }
        let mut acc: HashMap<u32, f32> = HashMap::new();
        let n = stats.docs as f32;
        let avg_len = stats.avg_len();
        for ((term, weight), &df) in terms.0.iter().zip(&stats.df) {
            let Some(range) = self.find(term.as_bytes())? else {
                continue;
            };
            let df = df as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            let mut last: Option<u32> = None;
            for p in range {
                let at = self.postings_at + p * POSTING;
                let (doc, tf) = (u32_at(self.bytes, at), u32_at(self.bytes, at + 4) as f32);
                if doc as usize >= self.docs || last.is_some_and(|l| doc <= l) || tf < 1.0 {
                    return Err(corrupt(format!("posting {p} is out of order or range")));
                }
                last = Some(doc);
                let norm = self.k1 * (1.0 - self.b + self.b * self.doc_len(doc as usize) / avg_len);
                let s = idf * tf * (self.k1 + 1.0) / (tf + norm);
                *acc.entry(doc).or_insert(0.0) += weight * s;
            }
        }
        let mut out: Vec<(u32, f32)> = acc.into_iter().collect();
        out.sort_unstable_by_key(|p| p.0);
        Ok(out)
    }

    /// The best `k` documents for `terms` among those `accept` lets through, best first
    /// (ties: lower id), scored with `stats`. Documents sharing no term with the query
    /// are never returned.
    pub fn search(
        &self,
        terms: &QueryTerms,
        stats: &Bm25Stats,
        k: usize,
        accept: Option<&mut dyn FnMut(u64) -> Result<bool>>,
    ) -> Result<Vec<Scored>> {
        let scored = self.scores(terms, stats)?;
        let Some(accept) = accept else {
            let mut top = TopK::new(k);
            for (doc, s) in scored {
                top.push(u64::from(doc), s);
            }
            return Ok(top.into_sorted());
        };
        let mut order: Vec<Scored> = scored
            .into_iter()
            .map(|(doc, score)| Scored {
                id: u64::from(doc),
                score,
            })
            .collect();
        order.sort_unstable_by(|a, c| c.score.total_cmp(&a.score).then(a.id.cmp(&c.id)));
        let mut hits = Vec::with_capacity(k.min(order.len()));
        for hit in order {
            if hits.len() == k {
                break;
            }
            if accept(hit.id)? {
                hits.push(hit);
            }
        }
        Ok(hits)
    }

    /// As [`LexicalSection::search`], scored with this section's own statistics.
    pub fn search_text(
        &self,
        query: &str,
        k: usize,
        accept: Option<&mut dyn FnMut(u64) -> Result<bool>>,
    ) -> Result<Vec<Scored>> {
        let terms = self.query_terms(query);
        let stats = self.stats(&terms)?;
        self.search(&terms, &stats, k, accept)
    }

    /// Checks every term, posting and length: O(section size). For `verify`.
    pub fn check_all(&self) -> Result<()> {
        let mut prev: Option<&[u8]> = None;
        let mut prev_first = 0;
        for i in 0..self.terms {
            let (bytes, first) = self.term(i)?;
            if prev.is_some_and(|p| p >= bytes) || first < prev_first {
                return Err(corrupt(format!("term {i} is out of order")));
            }
            std::str::from_utf8(bytes).map_err(|_| corrupt(format!("term {i} is not UTF-8")))?;
            prev = Some(bytes);
            prev_first = first;
        }
        if self.terms == 0 && self.postings != 0 {
            return Err(corrupt("postings without terms"));
        }
        if self.terms > 0 && self.term(0)?.1 != 0 {
            return Err(corrupt("the first term's postings do not start at 0"));
        }
        for i in 0..self.terms {
            let (bytes, _) = self.term(i)?;
            if let Some(range) = self.find(bytes)? {
                let mut last: Option<u32> = None;
                for p in range {
                    let at = self.postings_at + p * POSTING;
                    let doc = u32_at(self.bytes, at);
                    if doc as usize >= self.docs
                        || last.is_some_and(|l| doc <= l)
                        || u32_at(self.bytes, at + 4) == 0
                    {
                        return Err(corrupt(format!("posting {p} is out of order or range")));
                    }
                    last = Some(doc);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(docs: &[&str]) -> Vec<u8> {
        let mut b = LexicalBuilder::new(Tokenizer::plain());
        for d in docs {
            b.add(&[d]).unwrap();
        }
        b.encode(DEFAULT_K1, DEFAULT_B).unwrap()
    }

    #[test]
    fn bm25_ranks_rare_exact_terms_first() {
        let docs = [
            "Reading a file line by line with open() and a for loop.",
            "Use os.scandir to list a directory; it is faster than os.listdir.",
            "The directory listing shows files.",
            "pg_dump --jobs runs several dump jobs at once.",
        ];
        let bytes = section(&docs);
        let s = LexicalSection::parse(&bytes, docs.len(), Tokenizer::plain()).unwrap();
        s.check_all().unwrap();
        assert_eq!(s.search_text("os.scandir", 2, None).unwrap()[0].id, 1);
        assert_eq!(s.search_text("scandir", 2, None).unwrap()[0].id, 1);
        assert_eq!(s.search_text("pg_dump jobs", 4, None).unwrap()[0].id, 3);
        let hits = s.search_text("directory", 4, None).unwrap();
        assert_eq!(hits.len(), 2, "only documents holding a query term");
        assert!(hits[0].score >= hits[1].score);
        assert!(s
            .search_text("nothing matches", 4, None)
            .unwrap()
            .is_empty());
        let mut even = |id: u64| -> Result<bool> { Ok(id.is_multiple_of(2)) };
        let hits = s.search_text("directory", 4, Some(&mut even)).unwrap();
        assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn same_documents_same_bytes_and_damage_is_caught() {
        let docs = ["alpha beta", "beta gamma", "gamma delta alpha"];
        let a = section(&docs);
        assert_eq!(a, section(&docs));
        assert!(LexicalSection::parse(&a, 2, Tokenizer::plain()).is_err());
        assert!(LexicalSection::parse(&a[..a.len() - 1], 3, Tokenizer::plain()).is_err());
        for at in (HEAD..a.len()).step_by(3) {
            let mut bad = a.clone();
            bad[at] ^= 0x5a;
            // Parsing, checking and searching a damaged section never panics.
            if let Ok(s) = LexicalSection::parse(&bad, 3, Tokenizer::plain()) {
                let _ = s.check_all();
                let _ = s.search_text("alpha gamma", 3, None);
            }
        }
    }

    #[test]
    fn an_empty_index_answers_nothing() {
        let bytes = section(&[]);
        let s = LexicalSection::parse(&bytes, 0, Tokenizer::plain()).unwrap();
        s.check_all().unwrap();
        assert!(s.search_text("anything", 5, None).unwrap().is_empty());
    }

    #[test]
    fn split_corpora_with_summed_statistics_score_as_one() {
        let docs = [
            "alpha beta beta",
            "beta gamma",
            "gamma delta alpha alpha",
            "delta",
            "alpha os.path join",
        ];
        let whole = section(&docs);
        let (left, right) = (section(&docs[..2]), section(&docs[2..]));
        let whole = LexicalSection::parse(&whole, 5, Tokenizer::plain()).unwrap();
        let (left, right) = (
            LexicalSection::parse(&left, 2, Tokenizer::plain()).unwrap(),
            LexicalSection::parse(&right, 3, Tokenizer::plain()).unwrap(),
        );
        let terms = QueryTerms::new("alpha gamma os.path alpha", &Tokenizer::plain());
        let mut stats = left.stats(&terms).unwrap();
        stats.add(&right.stats(&terms).unwrap());
        assert_eq!(stats, whole.stats(&terms).unwrap());
        let mut joined = left.scores(&terms, &stats).unwrap();
        joined.extend(
            right
                .scores(&terms, &stats)
                .unwrap()
                .into_iter()
                .map(|(d, s)| (d + 2, s)),
        );
        assert_eq!(joined, whole.scores(&terms, &stats).unwrap());
        // A shard's own statistics give other scores: the sum matters.
        assert_ne!(
            left.scores(&terms, &left.stats(&terms).unwrap()).unwrap(),
            joined[..left.scores(&terms, &stats).unwrap().len()].to_vec()
        );
    }
}
