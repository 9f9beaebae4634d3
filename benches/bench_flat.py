"""Exact (flat) search: vpack's scan against faiss-cpu ``IndexFlatIP`` and numpy's BLAS
matrix-vector product (plus ``argpartition`` for the top k), one query per call, with
the same number of threads, next to the machine's streaming read bandwidth measured in
the same run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benches/bench_flat.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benches/bench_flat.py --n 1000000

Every (data size, threads, engine) cell runs in a fresh subprocess whose thread count
is fixed before any library loads (VPACK_NUM_THREADS, OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS), and the cells are interleaved and repeated (--repeat); the
table shows medians. "read" is a streaming read of the same bytes on that many threads
(numpy reductions, which release the GIL, over contiguous slices of the vectors in
memory and of the pack file's mapped pages; the faster is kept): the bandwidth the
machine gives this process, against which the scans are compared. vpack's ids are
checked against numpy's exact top k.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

ENGINES = ("vpack", "faiss", "numpy", "read")


def worker(args: argparse.Namespace) -> Dict[str, Any]:
    base = np.load(args.base, mmap_mode=None)
    queries = np.load(args.query_file)
    k, n, t = args.k, base.shape[0], args.threads
    nbytes = base.nbytes
    ids: List[np.ndarray] = []

    if args.engine == "vpack":
        import vpack

        pack = vpack.open(args.pack)
        index = pack._index  # the engine call under Pack.search (bench_search.py has the rest)

        def one(q: np.ndarray) -> np.ndarray:
            return index.search(q, k, None, 0)[0]

    elif args.engine == "faiss":
        import faiss

        faiss.omp_set_num_threads(t)
        flat = faiss.IndexFlatIP(base.shape[1])
        flat.add(base)

        def one(q: np.ndarray) -> np.ndarray:
            return flat.search(q[None, :], k)[1][0]

    elif args.engine == "numpy":

        def one(q: np.ndarray) -> np.ndarray:
            scores = base @ q
            top = np.argpartition(-scores, k)[:k]
            return top[np.argsort(-scores[top], kind="stable")]

    else:
        return {"seconds": read_seconds(base, args.pack, t, args.rounds), "bytes": nbytes}

    for q in queries[:3]:
        one(q)  # first touch: page faults and the pack's first-use checks
    times = []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for q in queries:
            found = one(q)
        times.append((time.perf_counter() - t0) / len(queries))
        del found
    if args.engine == "vpack":
        ids = [one(q) for q in queries]
    return {
        "seconds": statistics.median(times),
        "bytes": nbytes,
        "ids": [np.asarray(i, dtype=np.int64).tolist() for i in ids],
        "n": n,
    }


def read_seconds(base: np.ndarray, pack: str, threads: int, rounds: int) -> float:
    """Best time to stream the vector bytes once on `threads` threads."""
    import mmap

    with open(pack, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    whole = np.frombuffer(mapped, dtype=np.uint8)
    start = max(0, len(whole) - base.nbytes)  # the vectors are near the end
    sources = [base.reshape(-1), whole[start : start + base.nbytes // 4 * 4].view(np.float32)]
    best = float("inf")
    for src in sources:
        src.max()  # first touch
        parts = np.array_split(src, threads)
        for _ in range(rounds):
            barrier = threading.Barrier(threads + 1)

            def run(part: np.ndarray, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                part.max()

            workers = [threading.Thread(target=run, args=(p,)) for p in parts]
            for w in workers:
                w.start()
            t0 = time.perf_counter()
            barrier.wait()
            for w in workers:
                w.join()
            best = min(best, time.perf_counter() - t0)
            del workers, run
    return best  # the mapping closes with the process


def prepare(n: int, dim: int, queries: int, workdir: Path) -> Dict[str, str]:
    import vpack

    workdir.mkdir(parents=True, exist_ok=True)
    paths = {key: str(workdir / f"flat-{n}x{dim}.{key}") for key in ("base.npy", "queries.npy", "vpack")}
    if not all(os.path.exists(p) for p in paths.values()):
        rng = np.random.default_rng(n)
        base = rng.standard_normal((n, dim), dtype=np.float32)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        q = rng.standard_normal((queries, dim), dtype=np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        builder = vpack.PackBuilder(dim, metric="dot", index="flat")
        step = 65536
        texts = [""] * step
        for lo in range(0, n, step):
            rows = base[lo : lo + step]
            builder.add(texts[: len(rows)], rows)
        builder.finish(output=paths["vpack"]).close()
        np.save(paths["base.npy"], base)
        np.save(paths["queries.npy"], q)
    return {"base": paths["base.npy"], "queries": paths["queries.npy"], "pack": paths["vpack"]}


def run_cell(engine: str, threads: int, files: Dict[str, str], args: argparse.Namespace) -> Dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    for var in ("VPACK_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    cmd = [sys.executable, __file__, "--worker", engine, "--threads", str(threads), "--k", str(args.k)]
    cmd += ["--rounds", str(args.rounds), "--base", files["base"], "--pack", files["pack"]]
    cmd += ["--query-file", files["queries"]]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{engine} on {threads} threads failed:\n{done.stderr}")
    out = done.stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[200_000])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved repeats of every cell")
    ap.add_argument("--rounds", type=int, default=3, help="passes over the queries inside a cell")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/vpack-flat"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--pack", help=argparse.SUPPRESS)
    ap.add_argument("--query-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.engine = args.worker
        args.threads = args.threads[0]
        print(json.dumps(worker(args)))
        return

    results: Dict[str, Any] = {}
    for n in args.n:
        files = prepare(n, args.dim, args.queries, args.workdir)
        cells: Dict[tuple[str, int], List[Dict[str, Any]]] = {}
        for rep in range(args.repeat):
            for threads in args.threads:
                for engine in args.engines:
                    cells.setdefault((engine, threads), []).append(run_cell(engine, threads, files, args))
            load = os.getloadavg()[0]
            print(f"  n={n:,}: repeat {rep + 1}/{args.repeat} done, load {load:.2f}", file=sys.stderr)
        base = np.load(files["base"], mmap_mode="r")
        queries = np.load(files["queries"])
        exact = [set(np.argsort(-(base @ q), kind="stable")[: args.k].tolist()) for q in queries]
        table = []
        gb = args.dim * 4 * n / 1e9
        for threads in args.threads:
            reads = cells.get(("read", threads), [{"seconds": float("nan")}])
            read = statistics.median(c["seconds"] for c in reads)
            for engine in args.engines:
                runs = cells[(engine, threads)]
                sec = statistics.median(c["seconds"] for c in runs)
                row = {
                    "threads": threads,
                    "engine": engine,
                    "ms": sec * 1e3,
                    "gb_per_s": gb / sec,
                    "of_read": read / sec,
                    "runs_ms": [c["seconds"] * 1e3 for c in runs],
                }
                if engine == "vpack":
                    same = [set(ids) == want for c in runs for ids, want in zip(c["ids"], exact)]
                    row["same_ids_as_exact"] = sum(same) / len(same)
                table.append(row)
        results[str(n)] = table
        print(f"\n{n:,} x {args.dim} float32 ({gb:.2f} GB), k={args.k}, one query per call,", end=" ")
        print(f"median of {args.repeat} runs, load average {os.getloadavg()[0]:.2f}")
        print("| threads | engine | ms/query | GB/s | of read bandwidth | time / vpack's |")
        print("|---|---|---|---|---|---|")
        for row in table:
            vp = next(r for r in table if r["engine"] == "vpack" and r["threads"] == row["threads"])
            ratio = row["ms"] / vp["ms"] if "vpack" in args.engines else float("nan")
            same = row.get("same_ids_as_exact", 1.0)
            extra = "" if same == 1.0 else f" (top-k equals numpy's exact on {same:.1%} of queries)"
            print(
                f"| {row['threads']} | {row['engine']}{extra} | {row['ms']:.2f} | {row['gb_per_s']:.1f} |"
                f" {row['of_read']:.0%} | {ratio:.2f}x |"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
