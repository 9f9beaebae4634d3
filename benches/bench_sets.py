"""A pack set of S shards against one pack holding the same chunks: single-query latency
of an exact (flat) search from Python, the same queries in the same run.

    python benches/bench_sets.py --n 100000 --dim 384 --shards 8 --queries 300

Builds one flat pack of N random vectors and S flat shards of the same vectors cut into
contiguous, equal parts, writes the set file, checks that both answer every query with
the same ids and scores, then times `Pack.search` (10 hits with text and metadata) and
the engine call alone (ids and scores) on each, interleaved so that both see the same
machine load. Prints median and p90 microseconds per query and the set's ratio to the
one pack (issue 11's target: at most 1.3). `--json` prints the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np

import vpack
from vpack.builder import IndexOption, PackBuilder


def build(path: Path, vectors: np.ndarray, first: int, index: IndexOption = None) -> None:
    """A pack of ``vectors`` at ``path``, chunk ``i`` named ``chunk {first + i}``;
    ``index`` as for PackBuilder (default flat)."""
    b = PackBuilder(vectors.shape[1], metric="cosine", index=index)
    step = 5000
    for at in range(0, len(vectors), step):
        rows = vectors[at : at + step]
        ids = range(first + at, first + at + len(rows))
        b.add([f"chunk {i}" for i in ids], rows, [{"path": f"doc-{i // 10}.md", "i": i} for i in ids])
    b.finish({"embedder": {"kind": "hash", "dimension": vectors.shape[1]}}, output=path).close()


def time_pair(
    a: Callable[[np.ndarray], object], b: Callable[[np.ndarray], object], queries: np.ndarray, repeat: int
) -> Dict[str, List[float]]:
    """Per-query seconds of `a` and `b`, alternating query by query."""
    for q in queries[:10]:
        a(q)
        b(q)
    out: Dict[str, List[float]] = {"a": [], "b": []}
    for _ in range(repeat):
        for q in queries:
            for name, f in (("a", a), ("b", b)):
                t0 = time.perf_counter()
                f(q)
                out[name].append(time.perf_counter() - t0)
    return out


def summary(seconds: List[float]) -> Dict[str, float]:
    us = sorted(s * 1e6 for s in seconds)
    return {"median_us": statistics.median(us), "p90_us": us[int(0.9 * (len(us) - 1))]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=100_000, help="chunks in all (default 100,000)")
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.n, args.dim)).astype(np.float32)
    queries = rng.standard_normal((args.queries, args.dim)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="vpack-bench-sets-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        build(root / "one.vpack", vectors, 0)
        bounds = np.linspace(0, args.n, args.shards + 1).astype(int)
        shards = []
        for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
            path = root / f"part-{i:03d}.vpack"
            build(path, vectors[lo:hi], int(lo))
            shards.append(path)
        vpack.write_set(root / "all.vpackset", shards)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        one = vpack.open(root / "one.vpack")
        open_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        pack_set = vpack.open(root / "all.vpackset")
        open_set = time.perf_counter() - t0
        with one, pack_set:
            for q in queries:
                a = one.search(q, k=args.k)
                b = pack_set.search(q, k=args.k)
                assert [(h.id, h.score, h.text) for h in a] == [(h.id, h.score, h.text) for h in b]
            engine = time_pair(
                lambda q: one._index.search(q, args.k, None, 0),
                lambda q: pack_set._index.search(q, args.k, None, 0),
                queries,
                args.repeat,
            )
            full = time_pair(
                lambda q: one.search(q, k=args.k),
                lambda q: pack_set.search(q, k=args.k),
                queries,
                args.repeat,
            )
    result: Dict[str, object] = {
        "n": args.n,
        "dim": args.dim,
        "shards": args.shards,
        "queries": args.queries * args.repeat,
        "k": args.k,
        "build_s": round(built, 2),
        "open_one_ms": round(open_one * 1e3, 3),
        "open_set_ms": round(open_set * 1e3, 3),
    }
    for label, timing in (("engine", engine), ("search", full)):
        a, b = summary(timing["a"]), summary(timing["b"])
        result[label] = {
            "one_pack": a,
            "set": b,
            "ratio_median": b["median_us"] / a["median_us"],
            "ratio_p90": b["p90_us"] / a["p90_us"],
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{args.n:,} x {args.dim} flat, cosine; one pack vs a set of {args.shards} shards; "
        f"{args.queries * args.repeat} single queries, k={args.k} (same answers checked)"
    )
    print(f"open: one pack {result['open_one_ms']} ms, set {result['open_set_ms']} ms")
    print(f"{'call':<34} {'one pack µs':>12} {'set µs':>10} {'set/one':>8}   (median; p90)")
    for label, name in (("engine", "engine call (ids, scores)"), ("search", "Pack.search (10 Hits)")):
        r = result[label]
        assert isinstance(r, dict)
        print(
            f"{name:<34} {r['one_pack']['median_us']:>12.0f} {r['set']['median_us']:>10.0f} "
            f"{r['ratio_median']:>8.2f}   (p90 {r['one_pack']['p90_us']:.0f} / {r['set']['p90_us']:.0f}"
            f" = {r['ratio_p90']:.2f})"
        )


if __name__ == "__main__":
    main()
