"""Searching one pack from several Python threads: queries per second with 1 and with 2
threads (each thread its own queries, the same open pack), and the ratio. cffi releases
the GIL around every native call, so threads search in parallel; the ratio shows how
much (at most the number of free cores).

    python benches/bench_threads.py                  # 200,000 x 384 cosine, 100 queries per thread
    python benches/bench_threads.py --n 50000 --dim 128 --queries 400 --filter

The pack holds random vectors (built with vpack.PackBuilder into a temporary file, then
opened memory-mapped). Each measurement is repeated (--repeats, default 5); the medians
are reported, since the machine may be shared. As a control, each repeat also measures
the same 1-vs-2-thread ratio for hashlib.sha256 over 8 MiB buffers (which also runs
without the GIL): it shows how much parallel CPU the machine had to give at the time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

import vpack


def build(path: Path, n: int, dim: int, batch: int = 20_000) -> None:
    rng = np.random.default_rng(0)
    b = vpack.PackBuilder(dim, metric="cosine")
    for lo in range(0, n, batch):
        hi = min(lo + batch, n)
        vectors = rng.standard_normal((hi - lo, dim), dtype=np.float32)
        b.add(
            [f"chunk {i}" for i in range(lo, hi)], vectors, [{"i": i, "group": i % 10} for i in range(lo, hi)]
        )
    b.finish({"title": "bench_threads"}, output=path).close()


def run(pack: vpack.Pack, per_thread: List[np.ndarray], k: int, flt: Optional[Dict[str, Any]]) -> float:
    """Queries per second with one thread per query set, all started together."""
    start = threading.Barrier(len(per_thread) + 1)
    done: List[float] = []

    def worker(queries: np.ndarray) -> None:
        start.wait()
        for q in queries:
            pack.search(q, k=k, filter=flt)
        done.append(time.perf_counter())

    threads = [threading.Thread(target=worker, args=(qs,)) for qs in per_thread]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = max(done) - t0
    return sum(len(qs) for qs in per_thread) / elapsed


def control(threads: int, rounds: int = 6) -> float:
    """MiB/s hashing 8 MiB buffers in ``threads`` threads (hashlib drops the GIL)."""
    data = bytes(8 << 20)
    start = threading.Barrier(threads + 1)

    def worker() -> None:
        start.wait()
        for _ in range(rounds):
            hashlib.sha256(data).digest()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in pool:
        t.join()
    return threads * rounds * 8 / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="vectors in the pack")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=100, help="queries per thread per run")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--filter", action="store_true", help='search with the filter {"group": 3}')
    ap.add_argument("--pack", type=Path, help="use (or create) this pack file instead of a temporary one")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = args.pack or Path(tmp) / "bench.vpack"
        if not path.exists():
            t0 = time.perf_counter()
            build(path, args.n, args.dim)
            size = path.stat().st_size >> 20
            print(f"built {args.n} x {args.dim} in {time.perf_counter() - t0:.1f} s ({size} MiB)")
        rng = np.random.default_rng(1)
        with vpack.open(path) as pack:
            qs = [rng.standard_normal((args.queries, pack.dimension), dtype=np.float32) for _ in range(2)]
            flt = {"group": 3} if args.filter else None
            run(pack, [qs[0][:10]], args.k, flt)  # warm up: pages the vectors in
            one: List[float] = []
            two: List[float] = []
            ctl: List[float] = []
            for r in range(args.repeats):
                one.append(run(pack, [qs[0]], args.k, flt))
                two.append(run(pack, qs, args.k, flt))
                ctl.append(control(2) / control(1))
                print(
                    f"repeat {r + 1}: 1 thread {one[-1]:8.1f} q/s   2 threads {two[-1]:8.1f} q/s   "
                    f"ratio {two[-1] / one[-1]:.2f}   (control ratio {ctl[-1]:.2f})"
                )
            result = {
                "n": len(pack),
                "dim": pack.dimension,
                "k": args.k,
                "filter": flt,
                "queries_per_thread": args.queries,
                "repeats": args.repeats,
                "qps_1_thread": statistics.median(one),
                "qps_2_threads": statistics.median(two),
                "ratio": statistics.median(b / a for a, b in zip(one, two)),
                "control_ratio": statistics.median(ctl),
            }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"median of {args.repeats}: 1 thread {result['qps_1_thread']:.1f} q/s, "
            f"2 threads {result['qps_2_threads']:.1f} q/s, 2-thread/1-thread {result['ratio']:.2f}x "
            f"(control, sha256 in 2 vs 1 threads: {result['control_ratio']:.2f}x)"
        )


if __name__ == "__main__":
    main()
