"""Exact (flat) search: vpack against numpy, faiss-cpu, hnswlib and usearch on the same
vectors and queries, in the same run, one query at a time from Python (the embedded use
case), single-threaded everywhere.

    python benches/bench_search.py --n 10000 --dim 384 --queries 500

Needs the libraries to compare with: pip install faiss-cpu hnswlib usearch
(each missing one is reported and skipped). Prints a table with microseconds per query
and each library's time as a ratio of vpack's (>1 means vpack is faster), plus recall@k
against the numpy reference.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Callable, Dict, List, Optional

# Single-threaded everywhere, set before numpy or faiss load their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import vpack  # noqa: E402

Search = Callable[[np.ndarray], np.ndarray]


def timed(search: Search, queries: np.ndarray, repeat: int) -> List[float]:
    for q in queries[:10]:  # warm up
        search(q)
    per_query: List[float] = []
    for _ in range(repeat):
        for q in queries:
            t0 = time.perf_counter()
            search(q)
            per_query.append(time.perf_counter() - t0)
    return per_query


def chunk_text(i: int, chars: int) -> str:
    words = f"chunk {i} of the benchmark corpus, about reading files and other topics. "
    return (words * (chars // len(words) + 1))[:chars]


def chunk_metadata(i: int) -> Dict[str, object]:
    """What the folder pipeline records for a chunk."""
    return {
        "path": f"guide/section-{i % 97}/page-{i}.md",
        "title": f"Page {i}",
        "section": "Reading files",
        "anchor": "reading-files",
        "chunk": i % 5,
        "start": 1000 * (i % 5),
        "end": 1000 * (i % 5) + 800,
    }


def python_overhead(pack: vpack.Pack, queries: np.ndarray, k: int, repeat: int) -> Dict[str, float]:
    """What ``Pack.search`` costs on top of the raw engine call (``NativeIndex.search``:
    ids and scores only) for the same query: the two are timed back to back on every
    query, so both see the same caches, and the medians are compared. Also with every
    hit's metadata read (it is decoded on first access)."""
    index = pack._index  # benchmark-only peek at the binding
    engine: List[float] = []
    full: List[float] = []
    meta: List[float] = []
    for q in queries[:10]:  # warm up
        index.search(q, k)
        pack.search(q, k)
    clock = time.perf_counter
    for _ in range(repeat):
        for q in queries:
            t0 = clock()
            index.search(q, k)
            t1 = clock()
            pack.search(q, k)
            t2 = clock()
            for hit in pack.search(q, k):
                hit.metadata  # noqa: B018
            t3 = clock()
            engine.append(t1 - t0)
            full.append(t2 - t1)
            meta.append(t3 - t2)
    e, f, m = (statistics.median(x) * 1e6 for x in (engine, full, meta))
    return {
        "engine_us": round(e, 1),
        "pack_search_us": round(f, 1),
        "overhead_us": round(f - e, 1),
        "with_metadata_us": round(m, 1),
        "overhead_with_metadata_us": round(m - e, 1),
    }


def recall(found: List[np.ndarray], truth: List[np.ndarray]) -> float:
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / sum(len(t) for t in truth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--text-chars",
        type=int,
        default=800,
        help="characters of text per chunk (each also gets the pipeline's metadata: path, title, "
        "section, chunk, start, end), so Pack.search pays for real hits",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    data = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    queries = rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    k = args.k

    engines: Dict[str, Search] = {}
    setup: Dict[str, float] = {}

    t0 = time.perf_counter()
    builder = vpack.PackBuilder(args.dim, metric="dot")
    step = 4096
    for lo in range(0, args.n, step):
        chunk = data[lo : lo + step]
        ids = range(lo, lo + len(chunk))
        builder.add([chunk_text(i, args.text_chars) for i in ids], chunk, [chunk_metadata(i) for i in ids])
    pack = builder.finish()
    setup["vpack"] = time.perf_counter() - t0
    engines["vpack"] = lambda q: np.fromiter((h.id for h in pack.search(q, k)), np.int64)
    # The same search without building Hit objects: the cost of the engine call alone.
    index = pack._index  # benchmark-only peek at the binding
    engines["vpack (ids only)"] = lambda q: index.search(q, k)[0].astype(np.int64)

    def numpy_search(q: np.ndarray) -> np.ndarray:
        scores = data @ q
        top = np.argpartition(-scores, k)[:k]
        return top[np.argsort(-scores[top], kind="stable")]

    engines["numpy"] = numpy_search
    setup["numpy"] = 0.0

    skipped: List[str] = []
    try:
        import faiss

        faiss.omp_set_num_threads(1)
        t0 = time.perf_counter()
        fi = faiss.IndexFlatIP(args.dim)
        fi.add(data)
        setup["faiss-cpu IndexFlatIP"] = time.perf_counter() - t0
        engines["faiss-cpu IndexFlatIP"] = lambda q: fi.search(q[None, :], k)[1][0]
    except ImportError:
        skipped.append("faiss-cpu")
    try:
        import hnswlib

        t0 = time.perf_counter()
        bf = hnswlib.BFIndex(space="ip", dim=args.dim)
        bf.init_index(max_elements=args.n)
        bf.add_items(data, np.arange(args.n))
        setup["hnswlib BFIndex"] = time.perf_counter() - t0
        engines["hnswlib BFIndex"] = lambda q: bf.knn_query(q[None, :], k=k)[0][0].astype(np.int64)
    except ImportError:
        skipped.append("hnswlib")
    try:
        from usearch.index import Index

        t0 = time.perf_counter()
        ui = Index(ndim=args.dim, metric="ip", dtype="f32")
        ui.add(np.arange(args.n), data, threads=1)
        setup["usearch exact"] = time.perf_counter() - t0
        engines["usearch exact"] = lambda q: ui.search(q, k, exact=True, threads=1).keys.astype(np.int64)
    except ImportError:
        skipped.append("usearch")

    truth = [numpy_search(q) for q in queries]
    rows = []
    base: Optional[float] = None
    for name, search in engines.items():
        found = [search(q) for q in queries]
        times = timed(search, queries, args.repeat)
        med = statistics.median(times) * 1e6
        p99 = sorted(times)[int(len(times) * 0.99) - 1] * 1e6
        if name == "vpack":
            base = med
        rows.append(
            {
                "engine": name,
                "median_us": round(med, 1),
                "p99_us": round(p99, 1),
                "qps": round(1e6 / med),
                "recall": round(recall(found, truth), 4),
                "setup_s": round(setup.get(name, setup.get("vpack", 0.0)), 3),
            }
        )
    assert base is not None
    for r in rows:
        r["time_vs_vpack"] = round(r["median_us"] / base, 2)

    overhead = python_overhead(pack, queries, k, args.repeat)
    meta = {"n": args.n, "dim": args.dim, "queries": args.queries, "k": k, "skipped": skipped}
    if args.json:
        print(json.dumps({"config": meta, "results": rows, "python_overhead": overhead}, indent=2))
        return
    print(f"flat search, n={args.n} dim={args.dim} k={k}, {args.queries} queries x {args.repeat}")
    print(f"{'engine':<24}{'median us':>10}{'p99 us':>10}{'qps':>9}{'recall':>8}{'x vpack':>9}")
    for r in rows:
        print(
            f"{r['engine']:<24}{r['median_us']:>10}{r['p99_us']:>10}{r['qps']:>9}"
            f"{r['recall']:>8}{r['time_vs_vpack']:>9}"
        )
    if skipped:
        print("not installed, skipped:", ", ".join(skipped))
    print(
        f"Python cost of Pack.search (k={k}, interleaved with the engine call, medians): "
        f"engine {overhead['engine_us']} us, Pack.search {overhead['pack_search_us']} us "
        f"(+{overhead['overhead_us']} us), reading every hit's metadata too "
        f"{overhead['with_metadata_us']} us (+{overhead['overhead_with_metadata_us']} us)"
    )


if __name__ == "__main__":
    main()
