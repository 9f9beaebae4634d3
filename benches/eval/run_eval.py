"""Retrieval quality of vpack on real FAQ question/answer sets (issue 9).

For each eval set (see faqsets.py): write the question-free corpus, build a pack with
the real vpack pipeline (default transformers, section chunker, the default model,
the embedding cache), then rank every chunk for every question with

- dense: the pack's vectors (cosine; checked against ``Pack.search_batch``);
- contextual dense: the same chunks embedded as "title > heading path\\n text" (the
  stored text stays clean), built with ``PackBuilder``;
- BM25 (bm25.py, eval-only) with tokenizer variants and a k1/b grid;
- fusions of dense and BM25: RRF, weighted RRF, min-max and z-score weighted sums, and
  BM25 as a boost on the dense top-N.
- vpack's own modes and diversity options through ``Pack.search`` (DIVERSITY_RUNS:
  dense / hybrid, collapse by section or document, MMR), with the number of distinct
  sections in each top 5; written to ``diversity.md``.

Metrics: recall@1/5/10 (a question counts when at least one relevant chunk is in the
top k; see ``relevant_chunks``) and MRR@10, with 95% percentile-bootstrap half-widths
over questions; parameters are chosen on one set and reported on the others.

    VPACK_LIBRARY=... PYTHONPATH=. python benches/eval/run_eval.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bm25 as bm25mod  # noqa: E402
import faqsets  # noqa: E402

import vpack  # noqa: E402
from vpack.cache import CachedEmbedder, EmbeddingCache, default_cache_dir  # noqa: E402
from vpack.diversity import distinct_groups  # noqa: E402
from vpack.pipeline import default_transformers  # noqa: E402
from vpack.plugins import OnnxEmbedder  # noqa: E402
from vpack.plugins.base import Document  # noqa: E402
from vpack.plugins.sources import DirectorySource  # noqa: E402

DEPTH = 100  # candidates taken from each list for fusion; ranks kept per query
KS = (1, 5, 10)
OVERLAP = 0.5  # a chunk is relevant when the overlap is >= OVERLAP * the shorter span

# ---------------------------------------------------------------------------- data


def relevant_chunks(chunks: Sequence[Mapping[str, Any]], q: faqsets.Question) -> List[int]:
    """Chunk ids that count as a hit for question ``q``: the chunk comes from the
    answer's page (metadata ``path``) and its character span [start, end) in that
    page's transformed text overlaps the answer span by at least half of the shorter
    of the two (so a chunk lying inside a long answer counts, a chunk holding a whole
    short answer among other text counts, a chunk that only touches the answer's edge
    does not). Chunk ids are never compared across configurations."""
    out = []
    alen = q.end - q.start
    for i, c in enumerate(chunks):
        if c["path"] != q.path:
            continue
        ov = min(c["end"], q.end) - max(c["start"], q.start)
        if ov > 0 and ov >= OVERLAP * min(c["end"] - c["start"], alen):
            out.append(i)
    return out


def chunk_records(pack: vpack.Pack) -> List[Dict[str, Any]]:
    out = []
    for i in range(len(pack)):
        hit = pack.chunk(i)
        meta = dict(hit.metadata)
        meta["text"] = hit.text
        out.append(meta)
    return out


def contextual_texts(corpus: Path, chunks: Sequence[Mapping[str, Any]]) -> List[str]:
    """ "<page title> > <heading> > <subheading>\\n<chunk text>" for every chunk: the
    headings whose sections contain the chunk's start (placeholders of removed
    questions left out)."""
    docs: Dict[str, Tuple[Optional[str], List[Dict[str, Any]]]] = {}
    src = DirectorySource(corpus, ("**/*.html",))
    steps = default_transformers()
    texts: Dict[str, str] = {}
    for doc in src.documents():
        for t in steps:
            doc = t.transform(doc)
        docs[doc.metadata["path"]] = (doc.metadata.get("title"), list(doc.metadata.get("sections") or []))
        texts[doc.metadata["path"]] = doc.text
    # The relevance test compares chunk offsets with answer offsets: both must index the
    # same transformed text.
    bad = sum(texts[c["path"]][c["start"] : c["end"]] != c["text"] for c in chunks)
    if bad:
        raise SystemExit(f"{bad} chunks whose text is not their document's text[start:end]")
    out = []
    for c in chunks:
        title, sections = docs[c["path"]]
        stack: List[Dict[str, Any]] = []
        for s in sections:
            if s["start"] > c["start"]:
                break
            while stack and stack[-1]["level"] >= s["level"]:
                stack.pop()
            stack.append(s)
        path = [title] if title else []
        for s in stack:
            t = s.get("title") or ""
            if t and not _PLACEHOLDER(t) and t != title:
                path.append(t)
        out.append(" > ".join(path) + "\n" + c["text"] if path else c["text"])
    return out


def _PLACEHOLDER(text: str) -> bool:
    return text.startswith("Q") and text[1:].isdigit()


class BlankPlaceholders:
    """A transformer (eval only) that empties the titles of the removed questions'
    placeholder headings ("Q<n>") in the ``sections`` metadata, so the heading path of
    an answer chunk does not carry the meaningless "Q<n>" (left out the same way by
    ``contextual_texts``). Offsets and text are unchanged."""

    def transform(self, doc: Document) -> Document:
        sections = doc.metadata.get("sections")
        if isinstance(sections, list):
            doc.metadata["sections"] = [
                dict(s, title="") if _PLACEHOLDER(str(s.get("title") or "")) else s for s in sections
            ]
        return doc

    def describe(self) -> Dict[str, Any]:
        return {"kind": "eval-blank-placeholders"}


# ---------------------------------------------------------------------------- ranking


def ranks_of_first_hit(order: np.ndarray, relevant: Sequence[Sequence[int]]) -> np.ndarray:
    """order: (n_queries, depth) chunk ids best first. Rank (1-based) of the first
    relevant chunk per query, or 0 when none is within the depth."""
    out = np.zeros(len(relevant), dtype=np.int64)
    for qi, rel in enumerate(relevant):
        hits = np.nonzero(np.isin(order[qi], rel))[0]
        out[qi] = hits[0] + 1 if len(hits) else 0
    return out


def top(scores: np.ndarray, depth: int = DEPTH) -> np.ndarray:
    """Top ``depth`` ids of each row of ``scores`` (n_queries, n_chunks), best first,
    ties to the lower id (as vpack's search)."""
    n = scores.shape[1]
    depth = min(depth, n)
    part = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    out = np.empty_like(part)
    for qi in range(scores.shape[0]):
        ids = part[qi]
        s = scores[qi, ids]
        out[qi] = ids[np.lexsort((ids, -s))]
    return out


def metrics(first: np.ndarray) -> Dict[str, float]:
    out = {f"recall@{k}": float(np.mean((first > 0) & (first <= k))) for k in KS}
    out["mrr@10"] = float(np.mean(np.where((first > 0) & (first <= 10), 1.0 / np.maximum(first, 1), 0.0)))
    return out


def per_query(first: np.ndarray) -> Dict[str, np.ndarray]:
    d = {f"recall@{k}": ((first > 0) & (first <= k)).astype(np.float64) for k in KS}
    d["mrr@10"] = np.where((first > 0) & (first <= 10), 1.0 / np.maximum(first, 1), 0.0)
    return d


def bootstrap_halfwidth(values: np.ndarray, reps: int, seed: int = 9) -> float:
    """Half the width of the 95% percentile-bootstrap interval of the mean."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(reps, len(values)))
    means = values[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float((hi - lo) / 2)


def paired_diff(a: np.ndarray, b: np.ndarray, reps: int, seed: int = 9) -> Tuple[float, float, float]:
    """Mean of a - b with its 95% percentile-bootstrap interval (paired over questions)."""
    rng = np.random.default_rng(seed)
    d = a - b
    idx = rng.integers(0, len(d), size=(reps, len(d)))
    means = d[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(d.mean()), float(lo), float(hi)


# ---------------------------------------------------------------------------- fusion


def _rank_positions(order: np.ndarray, n: int) -> np.ndarray:
    """(n_queries, n) 1-based rank of each chunk within ``order`` (0 = not in it)."""
    pos = np.zeros((order.shape[0], n), dtype=np.float64)
    rows = np.arange(order.shape[0])[:, None]
    pos[rows, order] = np.arange(1, order.shape[1] + 1)[None, :]
    return pos


class Fuser:
    """Fusion of one dense and one lexical score matrix (n_queries, n_chunks)."""

    def __init__(self, dense: np.ndarray, lex: np.ndarray) -> None:
        self.dense, self.lex = dense, lex
        n = dense.shape[1]
        self.n = n
        self.d_top, self.l_top = top(dense), top(lex)
        # A lexical list only holds chunks with a positive score.
        self.d_pos = _rank_positions(self.d_top, n)
        l_pos = _rank_positions(self.l_top, n)
        l_pos[lex <= 0] = 0
        self.l_pos = l_pos
        self.cand = (self.d_pos > 0) | (self.l_pos > 0)
        mu_d, sd_d = dense.mean(1, keepdims=True), dense.std(1, keepdims=True) + 1e-12
        mu_l, sd_l = lex.mean(1, keepdims=True), lex.std(1, keepdims=True) + 1e-12
        self.zd, self.zl = (dense - mu_d) / sd_d, (lex - mu_l) / sd_l
        self.mm_d, self.mm_l = self._minmax(dense), self._minmax(lex)

    def _minmax(self, s: np.ndarray) -> np.ndarray:
        masked = np.where(self.cand, s, np.nan)
        lo, hi = np.nanmin(masked, 1, keepdims=True), np.nanmax(masked, 1, keepdims=True)
        return np.where(self.cand, (s - lo) / np.maximum(hi - lo, 1e-12), -1.0)

    def rrf(self, k: float, w_lex: float = 0.5) -> np.ndarray:
        w_d = 1.0 - w_lex
        f = np.where(self.d_pos > 0, w_d / (k + self.d_pos), 0.0) + np.where(
            self.l_pos > 0, w_lex / (k + self.l_pos), 0.0
        )
        return top(np.where(self.cand, f, -1.0))

    def minmax(self, w_lex: float) -> np.ndarray:
        f = (1 - w_lex) * self.mm_d + w_lex * self.mm_l
        return top(np.where(self.cand, f, -1e9))

    def zscore(self, w_lex: float) -> np.ndarray:
        return top((1 - w_lex) * self.zd + w_lex * self.zl)

    def boost(self, n: int, beta: float) -> np.ndarray:
        """Dense top-n reordered by dense + beta * bm25 / max(bm25 among them)."""
        d_top = top(self.dense, n)
        out = np.empty((d_top.shape[0], min(DEPTH, self.n)), dtype=np.int64)
        for qi in range(d_top.shape[0]):
            ids = d_top[qi]
            lx = self.lex[qi, ids]
            m = lx.max()
            f = self.dense[qi, ids] + (beta * lx / m if m > 0 else 0.0)
            head = ids[np.lexsort((ids, -f))]
            rest = self.d_top[qi][~np.isin(self.d_top[qi], head)]
            out[qi] = np.concatenate([head, rest])[: out.shape[1]]
        return out


def fusion_grid() -> List[Tuple[str, Dict[str, Any]]]:
    grid: List[Tuple[str, Dict[str, Any]]] = [("rrf", {"k": 60, "w_lex": 0.5})]
    for k, w in itertools.product((10, 30, 60), (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)):
        grid.append(("wrrf", {"k": k, "w_lex": w}))
    for w in np.round(np.arange(0.05, 0.96, 0.05), 2):
        grid.append(("minmax", {"w_lex": float(w)}))
        grid.append(("zscore", {"w_lex": float(w)}))
    for n, beta in itertools.product((20, 50, 100), (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)):
        grid.append(("boost", {"n": n, "beta": beta}))
    return grid


def run_fusion(f: Fuser, method: str, p: Mapping[str, Any]) -> np.ndarray:
    if method in ("rrf", "wrrf"):
        return f.rrf(p["k"], p["w_lex"])
    if method == "minmax":
        return f.minmax(p["w_lex"])
    if method == "zscore":
        return f.zscore(p["w_lex"])
    if method == "boost":
        return f.boost(p["n"], p["beta"])
    raise ValueError(method)


# ---------------------------------------------------------------------------- the Rust index

#: Rows of the real implementation (packs built with ``index={"lexical": {}}``, the
#: library's default parameters: BM25 over the chunk text only, and ranked by
#: ``Pack.search(..., mode=...)``), and of the same chunks with the metadata fields
#: ``title`` and ``section`` indexed too. Names hold no "[" (that marks a Python fusion).
RUST_LEXICAL = "rust lexical (default: text only)"
RUST_LEXICAL_FIELDS = "rust lexical (text+title+section)"
RUST_HYBRID = "rust hybrid (dense, w 0.2, default)"
RUST_HYBRID_FIELDS = "rust hybrid (dense, w 0.2, lexical text+title+section)"
RUST_CONTEXTUAL = "rust dense-contextual (pipeline)"
RUST_HYBRID_CONTEXTUAL = "rust hybrid (dense-contextual, w 0.2)"


def search_order(pack: vpack.Pack, queries: Sequence[str], mode: str, depth: int = DEPTH) -> np.ndarray:
    """(n_queries, depth) chunk ids from ``Pack.search(q, k=depth, mode=mode)``, best
    first, padded with -1 (a lexical search returns only chunks sharing a term)."""
    out = np.full((len(queries), depth), -1, dtype=np.int64)
    for qi, q in enumerate(queries):
        ids = [h.id for h in pack.search(q, k=depth, mode=mode)]
        out[qi, : len(ids)] = ids
    return out


def rust_runs(
    pack_path: Path,
    queries: Sequence[str],
    relevant: Sequence[Sequence[int]],
    chunks: Sequence[Mapping[str, Any]],
    vectors: np.ndarray,
) -> Dict[str, np.ndarray]:
    """First-hit ranks of the Rust lexical and hybrid modes on the pipeline's pack (the
    default lexical index: the chunk text only, as the prototype), and of the same modes
    with ``title`` and ``section`` indexed too (a pack rebuilt from the same chunks and
    vectors with ``fields = ["title", "section"]``)."""
    out: Dict[str, np.ndarray] = {}
    with vpack.open(pack_path) as pack:
        out[RUST_LEXICAL] = ranks_of_first_hit(search_order(pack, queries, "lexical"), relevant)
        out[RUST_HYBRID] = ranks_of_first_hit(search_order(pack, queries, "hybrid"), relevant)
        manifest = pack.manifest
    builder = vpack.PackBuilder(vectors.shape[1], index={"lexical": {"fields": ["title", "section"]}})
    builder.add(
        [c["text"] for c in chunks], vectors, [{k: v for k, v in c.items() if k != "text"} for c in chunks]
    )
    with builder.finish({"embedder": manifest["embedder"]}) as tpack:
        out[RUST_LEXICAL_FIELDS] = ranks_of_first_hit(search_order(tpack, queries, "lexical"), relevant)
        out[RUST_HYBRID_FIELDS] = ranks_of_first_hit(search_order(tpack, queries, "hybrid"), relevant)
    return out


# ---------------------------------------------------------------------------- diversity

#: Diversity rows: (name, mode, diversity), each ranked by ``Pack.search(q, k=10,
#: mode=mode, diversity=diversity)`` on the default pipeline's pack. Mode None is the
#: default query (``vpack query`` without flags: auto, hybrid on a pack with a lexical
#: index).
DIVERSITY_RUNS: List[Tuple[str, Optional[str], Any]] = [
    ("dense (Pack.search)", "dense", None),
    ("dense + collapse section", "dense", "section"),
    ("dense + MMR 0.7", "dense", {"mmr": 0.7}),
    ("hybrid", "hybrid", None),
    ("hybrid + collapse section", "hybrid", "section"),
    ("hybrid + collapse section, 2 per section", "hybrid", {"collapse": "section", "per_group": 2}),
    ("hybrid + collapse document", "hybrid", "document"),
    ("hybrid + MMR 0.5", "hybrid", {"mmr": 0.5}),
    ("hybrid + MMR 0.7", "hybrid", {"mmr": 0.7}),
    ("hybrid + MMR 0.9", "hybrid", {"mmr": 0.9}),
    ("hybrid + collapse section + MMR 0.7", "hybrid", {"collapse": "section", "mmr": 0.7}),
    ("default query (auto mode, no diversity)", None, None),
]
DIVERSITY_DEPTH = 10


def diversity_runs(
    pack_path: Path, queries: Sequence[str], relevant: Sequence[Sequence[int]]
) -> Tuple[Dict[str, np.ndarray], Dict[str, np.ndarray], Dict[str, float]]:
    """First-hit ranks of every DIVERSITY_RUNS row, the number of distinct sections
    (document + section metadata, as ``diversity="section"`` groups them) in each
    question's top 5, and each row's mean query time (ms, the query embedding
    included)."""
    firsts: Dict[str, np.ndarray] = {}
    distinct: Dict[str, np.ndarray] = {}
    took: Dict[str, float] = {}
    with vpack.open(pack_path) as pack:
        for name, mode, setting in DIVERSITY_RUNS:
            order = np.full((len(queries), DIVERSITY_DEPTH), -1, dtype=np.int64)
            groups = np.zeros(len(queries))
            t = time.perf_counter()
            for qi, q in enumerate(queries):
                hits = pack.search(q, k=DIVERSITY_DEPTH, mode=mode, diversity=setting)
                order[qi, : len(hits)] = [h.id for h in hits]
                groups[qi] = distinct_groups(hits[:5], "section")
            took[name] = (time.perf_counter() - t) * 1000 / max(len(queries), 1)
            firsts[name] = ranks_of_first_hit(order, relevant)
            distinct[name] = groups
    return firsts, distinct, took


def diversity_summary(data: Mapping[str, Any], sets: Sequence[str], reps: int) -> List[Dict[str, Any]]:
    """One row per DIVERSITY_RUNS entry and set: metrics with half-widths, recall@5 and
    MRR@10 against dense (numpy) and against the row's own mode without diversity
    (paired), distinct sections in the top 5, mean query time."""
    rows = []
    for name, mode, _ in DIVERSITY_RUNS:
        base = "dense (Pack.search)" if mode == "dense" else "hybrid"
        for s in sets:
            firsts = data[s]["firsts"]
            pq, pd, pb = per_query(firsts[name]), per_query(firsts["dense"]), per_query(firsts[base])
            groups = data[s]["distinct_top5"][name]
            rows.append(
                {
                    "config": name,
                    "test": s,
                    "metrics": metrics(firsts[name]),
                    "halfwidth": {k: bootstrap_halfwidth(v, reps) for k, v in pq.items()},
                    "recall@5_minus_dense": paired_diff(pq["recall@5"], pd["recall@5"], reps),
                    "recall@5_better_worse": [
                        int(np.sum(pq["recall@5"] > pd["recall@5"])),
                        int(np.sum(pq["recall@5"] < pd["recall@5"])),
                    ],
                    "base": base,
                    "recall@5_minus_base": paired_diff(pq["recall@5"], pb["recall@5"], reps),
                    "mrr@10_minus_base": paired_diff(pq["mrr@10"], pb["mrr@10"], reps),
                    "distinct_sections_top5": float(groups.mean()),
                    "top5_with_a_repeated_section": float(np.mean(groups < 5)),
                    "query_ms": data[s]["diversity_ms"][name],
                }
            )
    return rows


def render_diversity(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = [
        "# Diversity (Pack.search(..., diversity=...)) on the default pipeline's pack",
        "",
        "| config | set | recall@1 | recall@5 | recall@10 | MRR@10 | Δ recall@5 vs dense [95% CI] "
        "| Δ recall@5 vs its mode alone | Δ MRR@10 vs its mode alone | distinct sections in top 5 "
        "| top 5 with a repeated section | ms / query |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['config']} | {r['test']} | {_fmt(r['metrics'], r['halfwidth'])} "
            f"| {_delta(r['recall@5_minus_dense'])} | {_delta(r['recall@5_minus_base'])} "
            f"| {_delta(r['mrr@10_minus_base'])} | {r['distinct_sections_top5']:.2f} "
            f"| {r['top5_with_a_repeated_section']:.3f} | {r['query_ms']:.1f} |"
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- one set


#: BM25 variants: (field, tokenizer, stem, stop). Field "" is the chunk text, "ctx:"
#: the contextual text ("title > headings\ntext", as embedded by dense-contextual).
BM25_VARIANTS = [
    (field, tok, stem, stop)
    for field in ("", "ctx:")
    for tok in ("words", "ident", "ident+split")
    for stem in (False, True)
    for stop in (False, True)
]
BM25_GRID = list(itertools.product((0.6, 0.9, 1.2, 1.5, 2.0, 2.5, 3.0), (0.3, 0.5, 0.75, 0.9, 1.0)))


def bm25_matrix(d: Dict[str, Any], label: str) -> np.ndarray:
    """The (queries x chunks) BM25 scores of configuration ``label`` for one set's data
    (kept from evaluate_set, or recomputed)."""
    if label not in d["lex"]:
        variant, k1, b = label.split(" ")
        field = "ctx:" if variant.startswith("ctx:") else ""
        parts = variant[len(field) :].split("+")
        tok = "ident+split" if parts[:2] == ["ident", "split"] else parts[0]
        index = bm25mod.BM25(
            d["ctx"] if field else d["texts"],
            bm25mod.make_tokenizer(tok, "stem" in parts, "stop" in parts),
            float(k1[3:]),
            float(b[2:]),
        )
        assert variant_name(field, tok, "stem" in parts, "stop" in parts) == variant
        d["lex"][label] = np.stack([index.scores(q) for q in d["queries"]])
    return d["lex"][label]


def variant_name(field: str, tok: str, stem: bool, stop: bool) -> str:
    return f"{field}{tok}{'+stem' if stem else ''}{'+stop' if stop else ''}"


def evaluate_set(name: str, args: argparse.Namespace) -> Dict[str, Any]:
    log = print
    t0 = time.perf_counter()
    corpus, questions, stats = faqsets.prepare(name, args.workdir)
    faqsets.save(questions, stats, HERE / "data" / f"{name}.json")
    if stats["questions_still_in_corpus"]:
        raise SystemExit(f"{name}: question text left in the corpus: {stats['leaked']}")
    log(
        f"[{name}] {stats['questions']} questions, {stats['documents']} pages, "
        f"{stats['corpus_characters']} characters"
    )

    suffix = f"-{args.chunk_size}" if args.chunk_size else ""
    pack_path = args.workdir / name / f"dense-lexical{suffix}.vpack"
    # The real pipeline, with the Rust lexical index (its defaults: BM25 over the chunk text).
    with vpack.build(
        corpus, pack_path, chunk_size=args.chunk_size, cache=True, progress=False, index={"lexical": {}}
    ) as result:
        rep = result.report
        log(
            f"[{name}] pack: {rep.chunks} chunks, {rep.tokens} tokens, cache hits {rep.cache_hits}, "
            f"embedded {rep.cache_misses} in {rep.seconds.get('embed', 0):.1f}s"
        )
        stats.update(
            chunks=rep.chunks,
            tokens=rep.tokens,
            truncated=rep.truncated,
            embedded_fresh=rep.cache_misses,
            build_seconds=rep.seconds.get("total"),
        )
    queries = [q.query for q in questions]
    with vpack.open(pack_path) as pack:
        chunks = chunk_records(pack)
        qv = pack.embed_queries(queries)
        vectors = np.array(pack.vectors)
        ids, _ = pack.search_batch(qv, k=10)
    dense = (qv @ vectors.T).astype(np.float64)
    dense_top = top(dense)
    agree = float(np.mean(ids == dense_top[:, :10]))
    log(f"[{name}] dense top-10 from numpy equals Pack.search_batch on {agree:.3f} of positions")
    stats["search_batch_agreement"] = agree

    relevant = [relevant_chunks(chunks, q) for q in questions]
    rust = rust_runs(pack_path, queries, relevant, chunks, vectors)
    spread, distinct_top5, diversity_ms = diversity_runs(pack_path, queries, relevant)
    log(
        f"[{name}] diversity: "
        + ", ".join(
            f"{k} recall@5 {metrics(v)['recall@5']:.3f} sections {distinct_top5[k].mean():.2f}"
            for k, v in spread.items()
        )
    )
    log(f"[{name}] rust: " + ", ".join(f"{k} recall@5 {metrics(v)['recall@5']:.3f}" for k, v in rust.items()))
    stats["relevant_chunks_per_question"] = {
        "min": min(map(len, relevant)),
        "median": float(np.median([len(r) for r in relevant])),
        "max": max(map(len, relevant)),
    }
    if min(map(len, relevant)) == 0:
        raise SystemExit(f"{name}: a question has no relevant chunk")

    firsts: Dict[str, np.ndarray] = {"dense": ranks_of_first_hit(dense_top, relevant), **rust, **spread}
    # The same metrics from vpack's own search (f32 kernels; near-ties may order
    # differently from numpy's product), as a check on the numpy scores used here.
    stats["dense_from_search_batch"] = metrics(ranks_of_first_hit(ids, relevant))
    stats["dense_from_numpy"] = metrics(firsts["dense"])

    if not args.no_contextual:
        # Contextual embedding through the real pipeline (embed_context=True: chunks sized
        # to leave room for "title > headings", the context line embedded, the clean text
        # stored), with the Rust lexical index for hybrid.
        cpath = args.workdir / name / f"contextual-lexical{suffix}.vpack"
        with vpack.build(
            corpus,
            cpath,
            transformers=[*default_transformers(), BlankPlaceholders()],
            chunk_size=args.chunk_size,
            embed_context=True,
            cache=True,
            progress=False,
            index={"lexical": {}},
        ) as result:
            rep = result.report
            log(
                f"[{name}] contextual pack: {rep.chunks} chunks, truncated {rep.truncated}, cache hits "
                f"{rep.cache_hits}, embedded {rep.cache_misses} in {rep.seconds.get('embed', 0):.1f}s"
            )
            stats.update(pipeline_contextual_chunks=rep.chunks, pipeline_contextual_truncated=rep.truncated)
        with vpack.open(cpath) as cpack:
            cchunks = chunk_records(cpack)
            crelevant = [relevant_chunks(cchunks, q) for q in questions]
            if min(map(len, crelevant)) == 0:
                raise SystemExit(f"{name}: a question has no relevant chunk in the contextual pack")
            cvectors = np.array(cpack.vectors)
            firsts[RUST_CONTEXTUAL] = ranks_of_first_hit(top((qv @ cvectors.T).astype(np.float64)), crelevant)
            firsts[RUST_HYBRID_CONTEXTUAL] = ranks_of_first_hit(
                search_order(cpack, queries, "hybrid"), crelevant
            )
            stats["pipeline_contextual_example"] = next(
                (c["headings"] for c in cchunks[len(cchunks) // 2 :] if len(c.get("headings", [])) > 1), None
            )

    contextual = None
    ctx: Optional[List[str]] = None
    if not args.no_contextual:
        ctx = contextual_texts(corpus, chunks)
        emb = OnnxEmbedder.packaged()
        limit = emb.max_tokens or 256
        stats["contextual_truncated"] = sum(
            sum(1 for n in emb.token_counts(ctx[i : i + 256]) if n > limit) for i in range(0, len(ctx), 256)
        )
        with EmbeddingCache(default_cache_dir()) as cache:
            cached = CachedEmbedder(emb, cache)
            t = time.perf_counter()
            cvec = np.concatenate([cached.embed(ctx[i : i + 256]) for i in range(0, len(ctx), 256)])
            took = time.perf_counter() - t
            log(f"[{name}] contextual: {cached.misses} embedded, {cached.hits} cached, {took:.1f}s")
        emb.close()
        builder = vpack.PackBuilder(384)
        builder.add(
            [c["text"] for c in chunks], cvec, [{k: v for k, v in c.items() if k != "text"} for c in chunks]
        )
        with builder.finish({"title": f"{name} contextual"}) as cpack:
            cids, _ = cpack.search_batch(qv, k=10)
            cvectors = np.array(cpack.vectors)
        contextual = (qv @ cvectors.T).astype(np.float64)
        ctop = top(contextual)
        assert np.mean(cids == ctop[:, :10]) > 0.95
        firsts["dense-contextual"] = ranks_of_first_hit(ctop, relevant)
        stats["contextual_example"] = ctx[len(ctx) // 2][:300]

    # BM25 over the same chunks (their text, or their contextual text). Only the ranks
    # are kept for every configuration; score matrices (queries x chunks) only for the
    # fixed candidates (the others are recomputed by bm25_matrix when a fusion needs them).
    texts = [c["text"] for c in chunks]
    keep = {REFERENCE_BM25, RECOMMENDED["bm25"], *CANDIDATE_BM25}
    lex_scores: Dict[str, np.ndarray] = {}
    n_configs = 0
    for field, tok, stem, stop in BM25_VARIANTS:
        if field == "ctx:" and ctx is None:
            continue
        index = bm25mod.BM25(ctx if field else texts, bm25mod.make_tokenizer(tok, stem, stop))
        qterms = [index.tokenize(q) for q in queries]
        for k1, b in BM25_GRID:
            index.set_params(k1, b)
            s = np.stack([index.scores("", terms=t) for t in qterms])
            label = f"{variant_name(field, tok, stem, stop)} k1={k1} b={b}"
            if label in keep:
                lex_scores[label] = s
            firsts["bm25 " + label] = ranks_of_first_hit(top(s), relevant)
            n_configs += 1
    log(f"[{name}] bm25: {n_configs} configurations")
    stats["seconds"] = time.perf_counter() - t0
    return {
        "stats": stats,
        "questions": questions,
        "relevant": relevant,
        "dense": dense,
        "contextual": contextual,
        "lex": lex_scores,
        "texts": texts,
        "ctx": ctx,
        "queries": queries,
        "firsts": firsts,
        "distinct_top5": distinct_top5,
        "diversity_ms": diversity_ms,
    }


# ---------------------------------------------------------------------------- main


def mean_over(
    firsts: Mapping[str, Mapping[str, np.ndarray]], name: str, sets: Sequence[str]
) -> Tuple[float, float]:
    """(recall@5, MRR@10) of configuration ``name``, averaged over ``sets`` (each set
    weighs the same, whatever its number of questions)."""
    ms = [metrics(firsts[s][name]) for s in sets]
    return (float(np.mean([m["recall@5"] for m in ms])), float(np.mean([m["mrr@10"] for m in ms])))


def pick(firsts: Mapping[str, Mapping[str, np.ndarray]], names: Sequence[str], dev: Sequence[str]) -> str:
    """The configuration with the best mean recall@5 over the ``dev`` sets (ties: mean
    MRR@10, then the first in grid order)."""
    return max(names, key=lambda n: mean_over(firsts, n, dev))


def fusion_name(method: str, p: Mapping[str, Any], dense: str, lex: str) -> str:
    ps = ",".join(f"{k}={v}" for k, v in p.items())
    return f"{method}({ps}) [{dense} + bm25 {lex}]"


#: The design recommended in README.md (chosen from the results on all three sets, so
#: its numbers in the fixed table are in-sample; the leave-one-set-out rows of the
#: "robust rule" family estimate how such a choice does on an unseen set).
RECOMMENDED = {
    "dense": "dense-contextual",
    "bm25": "ident+split+stop k1=1.5 b=0.9",
    "method": "wrrf",
    "params": {"k": 10, "w_lex": 0.2},
}
#: The same fusion over plain dense (no contextual embedding).
RECOMMENDED_PLAIN = dict(RECOMMENDED, dense="dense")
#: An equivalent alternative (score-based instead of rank-based).
ALTERNATIVE = dict(RECOMMENDED, method="minmax", params={"w_lex": 0.2})
#: Reference points reported on every set without tuning.
REFERENCE_BM25 = "words k1=1.2 b=0.75"
#: Other BM25 runs fused with dense on every set (candidates for the recommendation).
CANDIDATE_BM25 = (
    "ident+split+stop k1=1.2 b=0.75",
    "ident+split+stop k1=1.5 b=0.9",
    "ident+split+stem+stop k1=1.5 b=0.9",
)


def summary(firsts_s: Mapping[str, np.ndarray], name: str, reps: int) -> Dict[str, Any]:
    pq = per_query(firsts_s[name])
    d = paired_diff(pq["recall@5"], per_query(firsts_s["dense"])["recall@5"], reps)
    a, b = pq["recall@5"], per_query(firsts_s["dense"])["recall@5"]
    return {
        "config": name,
        "recall@5_better_worse": [int(np.sum(a > b)), int(np.sum(a < b))],
        "metrics": metrics(firsts_s[name]),
        "halfwidth": {k: bootstrap_halfwidth(v, reps) for k, v in pq.items()},
        "recall@5_minus_dense": d,
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=list(faqsets.SETS))
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/vpack-eval"))
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--bootstrap", type=int, default=2000)
    ap.add_argument("--no-contextual", action="store_true")
    ap.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="chunk size in model tokens (default: vpack's, the model's 256-token limit); "
        "smaller sizes leave room for the contextual prefix",
    )
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    reps = args.bootstrap

    data = {name: evaluate_set(name, args) for name in args.sets}
    sets = list(data)
    # Parameters are chosen on the other sets (leave one set out); with one set, on itself.
    dev_of = {s: [d for d in sets if d != s] or [s] for s in sets}
    firsts: Dict[str, Dict[str, np.ndarray]] = {s: dict(data[s]["firsts"]) for s in sets}
    bm25_names = [n for n in firsts[sets[0]] if n.startswith("bm25 ")]
    dense_kinds = ["dense"] + (["dense-contextual"] if not args.no_contextual else [])

    # BM25 chosen without the test set; fusions are run with that BM25 (and with the
    # untuned reference and the recommended one, for the fixed-design tables).
    bm25_choice = {s: pick(firsts, bm25_names, dev_of[s])[5:] for s in sets}
    lex_for_fusion = sorted(
        set(bm25_choice.values()) | {REFERENCE_BM25, RECOMMENDED["bm25"], *CANDIDATE_BM25}
    )
    grid = fusion_grid()
    t = time.perf_counter()
    for s in sets:
        for dk in dense_kinds:
            dense = data[s]["dense"] if dk == "dense" else data[s]["contextual"]
            for lx in lex_for_fusion:
                f = Fuser(dense, bm25_matrix(data[s], lx))
                for method, p in grid:
                    firsts[s][fusion_name(method, p, dk, lx)] = ranks_of_first_hit(
                        run_fusion(f, method, p), data[s]["relevant"]
                    )
    print(f"fusion grid: {time.perf_counter() - t:.1f}s")
    all_names = list(firsts[sets[0]])

    # Families of configurations; each is tuned on dev_of[test] and reported on test.
    families: Dict[str, List[str]] = {"bm25 (field, tokenizer, stemming, stopwords, k1, b)": bm25_names}
    for v in BM25_VARIANTS:
        members = [n for n in bm25_names if n.split(" ")[1] == variant_name(*v)]
        if members:
            families[f"bm25 {variant_name(*v)} (k1, b)"] = members
    for dk in dense_kinds:
        families[dk] = [dk]
    for n in all_names:
        if "[" in n:
            method = n.split("(")[0]
            dk = n.split("[")[1].split(" + ")[0]
            families.setdefault(f"{method} [{dk}]", []).append(n)
    loo = []
    for fam, names in families.items():
        for test in sets:
            cands = names
            if "[" in fam:  # fusions use the BM25 chosen on the same dev sets
                cands = [n for n in names if n.endswith(f"bm25 {bm25_choice[test]}]")]
            chosen = pick(firsts, cands, dev_of[test])
            loo.append(
                {"family": fam, "test": test, "dev": dev_of[test], **summary(firsts[test], chosen, reps)}
            )
    # The rule used to pick a default, validated the same way: among all fusions (any
    # method, either dense, with the dev-chosen BM25 or the untuned reference BM25),
    # the one whose worst recall@5 gain over dense on the dev sets is largest (ties:
    # mean gain, then mean MRR@10).
    fusions = [n for n in all_names if "[" in n]
    for test in sets:
        lexes = (f"bm25 {bm25_choice[test]}]", f"bm25 {REFERENCE_BM25}]")
        cands = [n for n in fusions if n.endswith(lexes)]

        def robust_key(n: str, dev: Sequence[str] = dev_of[test]) -> Tuple[float, float, float]:
            gains = [metrics(firsts[d][n])["recall@5"] - metrics(firsts[d]["dense"])["recall@5"] for d in dev]
            return (min(gains), float(np.mean(gains)), mean_over(firsts, n, dev)[1])

        chosen = max(cands, key=robust_key)
        loo.append(
            {
                "family": "robust rule (any fusion)",
                "test": test,
                "dev": dev_of[test],
                **summary(firsts[test], chosen, reps),
            }
        )

    fixed_names = ["dense", *(["dense-contextual"] if "dense-contextual" in dense_kinds else [])]
    fixed_names += [
        f"bm25 {REFERENCE_BM25}",
        fusion_name("rrf", {"k": 60, "w_lex": 0.5}, "dense", REFERENCE_BM25),
    ]
    recs = [
        fusion_name(r["method"], r["params"], r["dense"], r["bm25"])  # type: ignore[arg-type]
        for r in (ALTERNATIVE, RECOMMENDED_PLAIN, RECOMMENDED)
        if r["dense"] in dense_kinds
    ]
    fixed_names += [f"bm25 {RECOMMENDED['bm25']}", *recs]
    # The real implementation next to its prototype: BM25 ident+split+stop k1 1.5 b 0.9
    # over the chunk text, and the min-max fusion at lexical weight 0.2 over plain dense.
    fixed_names += [
        RUST_LEXICAL,
        RUST_LEXICAL_FIELDS,
        fusion_name("minmax", {"w_lex": 0.2}, "dense", RECOMMENDED["bm25"]),  # type: ignore[arg-type]
        RUST_HYBRID,
        RUST_HYBRID_FIELDS,
    ]
    fixed_names += [n for n in (RUST_CONTEXTUAL, RUST_HYBRID_CONTEXTUAL) if n in firsts[sets[0]]]
    spread = diversity_summary(data, sets, reps)
    rec = recs[-1]
    fixed = [{"test": s, **summary(firsts[s], n, reps)} for n in fixed_names for s in sets]

    # Robustness of every fusion configuration: its worst and mean recall@5 gain over
    # dense across the sets (in-sample; for the choice of a default, next to the LOO).
    robust = []
    for n in all_names:
        if "[" not in n and not n.startswith("bm25"):
            continue
        gains = [metrics(firsts[s][n])["recall@5"] - metrics(firsts[s]["dense"])["recall@5"] for s in sets]
        robust.append(
            {"config": n, "min_gain": min(gains), "mean_gain": float(np.mean(gains)), "gains": gains}
        )
    robust.sort(key=lambda r: (-r["min_gain"], -r["mean_gain"]))

    out = {
        "sets": {s: data[s]["stats"] for s in sets},
        "bootstrap": {"kind": "percentile, resampling questions", "reps": reps, "level": 0.95},
        "relevance": f"same page and span overlap >= {OVERLAP} x the shorter of chunk and answer",
        "bm25_choice": bm25_choice,
        "recommended": rec,
        "fixed": fixed,
        "diversity": spread,
        "leave_one_set_out": loo,
        "robust": robust[:40],
        "all": {s: {n: metrics(firsts[s][n]) for n in all_names} for s in sets},
        "first_hit_ranks": {
            s: {n: firsts[s][n].tolist() for n in all_names if "[" not in n or n in fixed_names} for s in sets
        },
    }
    (args.out / "results.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    md = render(out, sets)
    (args.out / "results.md").write_text(md, encoding="utf-8")
    (args.out / "diversity.md").write_text(render_diversity(spread), encoding="utf-8")
    print(md)
    print(render_diversity(spread))
    return 0


def _fmt(m: Mapping[str, float], hw: Optional[Mapping[str, float]] = None) -> str:
    cells = []
    for k in ("recall@1", "recall@5", "recall@10", "mrr@10"):
        cells.append(f"{m[k]:.3f}" + (f" ± {hw[k]:.3f}" if hw else ""))
    return " | ".join(cells)


def _bw(r: Mapping[str, Any]) -> str:
    better, worse = r["recall@5_better_worse"]
    return f"{better} / {worse}"


def _delta(d: Sequence[float]) -> str:
    return f"{d[0]:+.3f} [{d[1]:+.3f}, {d[2]:+.3f}]"


def render(out: Mapping[str, Any], sets: Sequence[str]) -> str:
    head = (
        "| recall@1 | recall@5 | recall@10 | MRR@10 | Δ recall@5 vs dense [95% CI] "
        "| questions better / worse at 5 |"
    )
    lines = ["# Retrieval eval results", ""]
    lines.append("| set | questions | pages | characters | chunks | tokens | contextual texts truncated |")
    lines.append("|---|---|---|---|---|---|---|")
    for s in sets:
        st = out["sets"][s]
        lines.append(
            f"| {s} | {st['questions']} | {st['documents']} | {st['corpus_characters']:,} | {st['chunks']:,} "
            f"| {st['tokens']:,} | {st.get('contextual_truncated', '')} |"
        )
    lines += ["", "## Fixed configurations (no tuning; the recommended one last)", ""]
    lines.append("| config | set " + head)
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in out["fixed"]:
        lines.append(
            f"| `{r['config']}` | {r['test']} | {_fmt(r['metrics'], r['halfwidth'])} "
            f"| {_delta(r['recall@5_minus_dense'])} | {_bw(r)} |"
        )
    lines += [
        "",
        "## Leave one set out (each family's parameters chosen on the other sets by mean recall@5)",
        "",
    ]
    lines.append("| family | test set | chosen on the others " + head)
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for r in out["leave_one_set_out"]:
        lines.append(
            f"| {r['family']} | {r['test']} | `{r['config']}` | {_fmt(r['metrics'], r['halfwidth'])} "
            f"| {_delta(r['recall@5_minus_dense'])} | {_bw(r)} |"
        )
    lines += ["", "## Most robust configurations (in-sample: worst recall@5 gain over dense across sets)", ""]
    lines.append("| config | worst gain | mean gain | " + " | ".join(sets) + " |")
    lines.append("|---|---|---|" + "---|" * len(sets))
    for r in out["robust"][:15]:
        gains = " | ".join(f"{g:+.3f}" for g in r["gains"])
        lines.append(f"| `{r['config']}` | {r['min_gain']:+.3f} | {r['mean_gain']:+.3f} | {gains} |")
    lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
