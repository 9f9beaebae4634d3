"""Approximate (HNSW) search: vpack's HNSW index against hnswlib, faiss-cpu
IndexHNSWFlat and usearch on the same vectors and queries, in the same run.

    python benches/bench_ann.py                          # synthetic 200,000 x 384
    python benches/bench_ann.py --build-threads 1 2      # also time 1-thread builds
    python benches/bench_ann.py --n 1000000 --engines vpack hnswlib
    python benches/bench_ann.py --data real --real docs.vpack   # a pack's own vectors

Every engine gets the same graph parameters (M = --m: M links per node on the upper
levels, 2M on the bottom one; ef_construction = --ef-construction, usearch's
connectivity / expansion_add) and is searched at each --efs (usearch's
expansion_search). Ground truth is numpy's exact top-k (inner product on normalised
vectors, i.e. cosine); recall@k counts returned ids whose true score reaches the k-th
true score (ties at the boundary count; no engine can know which tied id numpy chose).

Reported per data set: recall@k and single-query QPS from Python (one query per call,
one thread everywhere), batched QPS (all queries in one call on --batch-threads
threads), build time on each --build-threads, file size, and the open/load time and RSS
right after it, measured in fresh subprocesses (vpack.open maps the file; the others
read it). Timings are interleaved across engines and repeated (--repeat); medians are
reported with the load average at the time. Needs: pip install hnswlib faiss-cpu usearch
(each missing one is reported and skipped). Data and indexes go to --workdir.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ann_data

import vpack

Search = Callable[[np.ndarray, int], np.ndarray]  # (query, ef) -> ids
Batch = Callable[[np.ndarray, int], np.ndarray]  # (queries, ef) -> ids (q, k)


def load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def recall(found: np.ndarray, ds: ann_data.DataSet, k: int) -> float:
    """Found ids whose exact score reaches the k-th true score, over k per query."""
    hits = 0
    for q, ids, kth in zip(ds.queries, found, ds.truth_scores[:, k - 1]):
        ids = np.asarray(ids, dtype=np.int64)
        ids = ids[(ids >= 0) & (ids < len(ds.base))][:k]
        if len(np.unique(ids)) != len(ids):
            ids = np.unique(ids)
        hits += int(np.count_nonzero(ds.base[ids] @ q >= kth - 1e-5))
    return hits / (k * len(ds.queries))


# ---------------------------------------------------------------------------- engines


class Engine:
    name = ""
    suffix = ""

    def build(self, base: np.ndarray, threads: int, path: Path) -> float:
        """Builds in memory (and, for vpack, writes `path`); returns seconds."""
        raise NotImplementedError

    def save(self, path: Path) -> None:
        pass

    def load(self, path: Path, dim: int) -> None:
        """Loads an index written by an earlier run (--reuse) instead of building."""

    def prepare(self, path: Path) -> None:
        """Makes the built index searchable (vpack: opens the written file)."""

    def single(self, k: int) -> Search:
        raise NotImplementedError

    def batch(self, k: int, threads: int) -> Batch:
        raise NotImplementedError

    def release(self) -> None:
        pass

    # Code run in a fresh interpreter: import, then time the open/load of PATH.
    open_code = ""


class VPack(Engine):
    name = "vpack"
    suffix = ".vpack"

    def __init__(self, m: int, ef_construction: int, ef_search: int) -> None:
        self.index_options = {
            "kind": "hnsw",
            "m": m,
            "ef_construction": ef_construction,
            "ef_search": ef_search,
        }
        self.pack: Optional[vpack.Pack] = None

    def build(self, base: np.ndarray, threads: int, path: Path) -> float:
        """Adding the chunks (empty texts), the graph build and writing the file."""
        self.release()
        step = 65536  # VPACK_MAX_TEXTS per add
        texts = [""] * step
        t0 = time.perf_counter()
        builder = vpack.PackBuilder(
            base.shape[1], metric="cosine", index=dict(self.index_options, threads=threads)
        )
        for lo in range(0, len(base), step):
            rows = base[lo : lo + step]
            builder.add(texts[: len(rows)], rows)
        builder.finish(output=path).close()
        return time.perf_counter() - t0

    def prepare(self, path: Path) -> None:
        self.pack = vpack.open(path)

    def single(self, k: int) -> Search:
        """The engine's answer alone (ids and scores), as bench_search.py's "engine call
        only": the binding's call under Pack.search, without building Hit objects."""
        assert self.pack is not None
        index = self.pack._index  # benchmark-only peek at the binding

        def search(q: np.ndarray, ef: int) -> np.ndarray:
            return index.search(q, k, None, ef)[0].astype(np.int64)

        return search

    def hits(self, k: int) -> Search:
        """Pack.search: k Hit objects (text and metadata read) per call."""
        pack = self.pack
        assert pack is not None

        def search(q: np.ndarray, ef: int) -> np.ndarray:
            return np.fromiter((h.id for h in pack.search(q, k, ef=ef)), np.int64)

        return search

    def batch(self, k: int, threads: int) -> Batch:
        pack = self.pack
        assert pack is not None

        def search(queries: np.ndarray, ef: int) -> np.ndarray:
            return pack.search_batch(queries, k, ef=ef, threads=threads)[0]

        return search

    def release(self) -> None:
        if self.pack is not None:
            self.pack.close()
            self.pack = None

    open_code = """
import vpack, numpy as np
before = rss_kb(); t0 = time.perf_counter()
pack = vpack.open(PATH)
t1 = time.perf_counter(); after = rss_kb()
q = np.ones(pack.dimension, np.float32); t2 = time.perf_counter()
pack.search(q, 10)
t3 = time.perf_counter(); queried = rss_kb()
"""


class Hnswlib(Engine):
    name = "hnswlib"
    suffix = ".hnswlib"

    def __init__(self, m: int, ef_construction: int) -> None:
        import hnswlib

        self.mod = hnswlib
        self.m, self.efc = m, ef_construction
        self.index: Any = None

    def build(self, base: np.ndarray, threads: int, path: Path) -> float:
        self.index = None
        t0 = time.perf_counter()
        index = self.mod.Index(space="ip", dim=base.shape[1])
        index.init_index(max_elements=len(base), M=self.m, ef_construction=self.efc, random_seed=100)
        index.add_items(base, np.arange(len(base)), num_threads=threads)
        self.index = index
        return time.perf_counter() - t0

    def save(self, path: Path) -> None:
        self.index.save_index(str(path))

    def load(self, path: Path, dim: int) -> None:
        self.index = self.mod.Index(space="ip", dim=dim)
        self.index.load_index(str(path))

    def single(self, k: int) -> Search:
        index = self.index

        def search(q: np.ndarray, ef: int) -> np.ndarray:
            index.set_ef(ef)  # an attribute store; hoisting it changes nothing measurable
            return index.knn_query(q, k=k, num_threads=1)[0][0].astype(np.int64)

        return search

    def batch(self, k: int, threads: int) -> Batch:
        index = self.index

        def search(queries: np.ndarray, ef: int) -> np.ndarray:
            index.set_ef(ef)
            return index.knn_query(queries, k=k, num_threads=threads)[0].astype(np.int64)

        return search

    def release(self) -> None:
        self.index = None

    open_code = """
import hnswlib, numpy as np
index = hnswlib.Index(space="ip", dim=DIM)
before = rss_kb(); t0 = time.perf_counter()
index.load_index(PATH)
t1 = time.perf_counter(); after = rss_kb()
q = np.ones(DIM, np.float32); t2 = time.perf_counter()
index.knn_query(q, k=10)
t3 = time.perf_counter(); queried = rss_kb()
"""


class Faiss(Engine):
    name = "faiss HNSWFlat"
    suffix = ".faiss"

    def __init__(self, m: int, ef_construction: int) -> None:
        import faiss

        self.mod = faiss
        self.m, self.efc = m, ef_construction
        self.index: Any = None

    def build(self, base: np.ndarray, threads: int, path: Path) -> float:
        faiss = self.mod
        self.index = None
        faiss.omp_set_num_threads(threads)
        t0 = time.perf_counter()
        index = faiss.IndexHNSWFlat(base.shape[1], self.m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = self.efc
        index.add(base)
        self.index = index
        return time.perf_counter() - t0

    def save(self, path: Path) -> None:
        self.mod.write_index(self.index, str(path))

    def load(self, path: Path, dim: int) -> None:
        self.index = self.mod.read_index(str(path))

    def single(self, k: int) -> Search:
        index, faiss = self.index, self.mod
        params = {}

        def search(q: np.ndarray, ef: int) -> np.ndarray:
            p = params.get(ef)
            if p is None:
                p = params[ef] = faiss.SearchParametersHNSW(efSearch=ef)
            return index.search(q[None, :], k, params=p)[1][0].astype(np.int64)

        return search

    def batch(self, k: int, threads: int) -> Batch:
        index, faiss = self.index, self.mod

        def search(queries: np.ndarray, ef: int) -> np.ndarray:
            faiss.omp_set_num_threads(threads)
            try:
                return index.search(queries, k, params=faiss.SearchParametersHNSW(efSearch=ef))[1].astype(
                    np.int64
                )
            finally:
                faiss.omp_set_num_threads(1)

        return search

    def release(self) -> None:
        self.index = None

    open_code = """
import faiss, numpy as np
faiss.omp_set_num_threads(1)
before = rss_kb(); t0 = time.perf_counter()
index = faiss.read_index(PATH)
t1 = time.perf_counter(); after = rss_kb()
q = np.ones((1, DIM), np.float32); t2 = time.perf_counter()
index.search(q, 10)
t3 = time.perf_counter(); queried = rss_kb()
"""


class USearch(Engine):
    name = "usearch"
    suffix = ".usearch"

    def __init__(self, m: int, ef_construction: int) -> None:
        from usearch.index import Index

        self.cls = Index
        self.m, self.efc = m, ef_construction
        self.index: Any = None

    def build(self, base: np.ndarray, threads: int, path: Path) -> float:
        self.index = None
        t0 = time.perf_counter()
        index = self.cls(
            ndim=base.shape[1], metric="ip", dtype="f32", connectivity=self.m, expansion_add=self.efc
        )
        index.add(np.arange(len(base)), base, threads=threads)
        self.index = index
        return time.perf_counter() - t0

    def save(self, path: Path) -> None:
        self.index.save(str(path))

    def load(self, path: Path, dim: int) -> None:
        self.index = self.cls.restore(str(path))

    def single(self, k: int) -> Search:
        index = self.index

        def search(q: np.ndarray, ef: int) -> np.ndarray:
            index.expansion_search = ef
            return index.search(q, k, threads=1).keys.astype(np.int64)

        return search

    def batch(self, k: int, threads: int) -> Batch:
        index = self.index

        def search(queries: np.ndarray, ef: int) -> np.ndarray:
            index.expansion_search = ef
            return index.search(queries, k, threads=threads).keys.astype(np.int64)

        return search

    def release(self) -> None:
        self.index = None

    open_code = """
from usearch.index import Index
import numpy as np
before = rss_kb(); t0 = time.perf_counter()
index = Index.restore(PATH, view=VIEW)
t1 = time.perf_counter(); after = rss_kb()
q = np.ones(DIM, np.float32); t2 = time.perf_counter()
index.search(q, 10)
t3 = time.perf_counter(); queried = rss_kb()
"""


OPEN_PRELUDE = """
import json, sys, time
def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
"""
OPEN_EPILOGUE = """
print(json.dumps({"open_s": t1 - t0, "rss_before_kb": before, "rss_after_kb": after,
                  "first_query_s": t3 - t2, "rss_after_query_kb": queried}))
"""


def measure_open(code: str, path: Path, dim: int, repeat: int, view: bool = False) -> Dict[str, float]:
    """Open/load in `repeat` fresh interpreters; medians (the file is in the page cache)."""
    src = (
        OPEN_PRELUDE
        + code.replace("PATH", repr(str(path))).replace("DIM", str(dim)).replace("VIEW", str(view))
        + OPEN_EPILOGUE
    )
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", src], check=True, capture_output=True, text=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    med["rss_delta_kb"] = statistics.median(r["rss_after_kb"] - r["rss_before_kb"] for r in runs)
    return med


# ---------------------------------------------------------------------------- timing


def time_single(search: Search, queries: List[np.ndarray], ef: int) -> Tuple[float, float]:
    """QPS by wall-clock time and by this thread's CPU time (the latter leaves out time
    the scheduler gave to other processes on a shared machine)."""
    c0, t0 = time.thread_time(), time.perf_counter()
    for q in queries:
        search(q, ef)
    t1, c1 = time.perf_counter(), time.thread_time()
    return len(queries) / (t1 - t0), len(queries) / max(c1 - c0, 1e-9)


def time_batch(search: Batch, queries: np.ndarray, ef: int) -> float:
    t0 = time.perf_counter()
    search(queries, ef)
    return len(queries) / (time.perf_counter() - t0)


def qps_at(
    points: List[Tuple[int, float, float]], target: float
) -> Tuple[Optional[float], Optional[int], Optional[float]]:
    """(interpolated QPS at recall `target`, smallest ef reaching it, its QPS) from
    (ef, recall, qps) points sorted by ef; interpolation is linear in recall and log QPS
    between the last ef below the target and the first at or above it."""
    for i, (ef, r, q) in enumerate(points):
        if r >= target:
            if i == 0 or r == points[i - 1][1]:
                return q, ef, q
            _, r0, q0 = points[i - 1]
            t = (target - r0) / (r - r0)
            return math.exp(math.log(q0) + t * (math.log(q) - math.log(q0))), ef, q
    return None, None, None


def fmt(x: Optional[float], digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


# ---------------------------------------------------------------------------- main


def run(ds: ann_data.DataSet, args: argparse.Namespace, workdir: Path) -> Dict[str, Any]:
    k = args.k
    dim = ds.base.shape[1]
    engines: List[Engine] = [VPack(args.m, args.ef_construction, 64)]
    skipped: List[str] = []
    makers = {"hnswlib": Hnswlib, "faiss": Faiss, "usearch": USearch}
    for name in args.engines:
        if name == "vpack":
            continue
        try:
            engines.append(makers[name](args.m, args.ef_construction))
        except ImportError:
            skipped.append(name)
    if "vpack" not in args.engines:
        engines = engines[1:]
    tag = f"{ds.name}-{len(ds.base)}x{dim}-m{args.m}-efc{args.ef_construction}"
    result: Dict[str, Any] = {"data": ds.description, "skipped": skipped, "load_start": load(), "engines": {}}
    print(f"\n## {ds.description}\n", flush=True)

    # Build (each thread count; the last one is kept for searching), save, measure.
    for e in engines:
        info: Dict[str, Any] = result["engines"].setdefault(e.name, {})
        path = workdir / f"{tag}{e.suffix}"
        reuse = args.reuse and path.exists()
        if reuse:
            e.load(path, dim)
            print(f"  reusing {path} (not built: no build times)", flush=True)
        for threads in [] if reuse else args.build_threads:
            cpu0 = time.process_time()
            seconds = e.build(ds.base, threads, path)
            cpu = time.process_time() - cpu0
            info[f"build_s_{threads}t"] = seconds
            info[f"build_cpu_s_{threads}t"] = cpu
            info[f"build_load_{threads}t"] = load()
            print(
                f"  built {e.name} on {threads} thread(s): {seconds:.1f} s, {cpu:.1f} CPU s (load {load()})",
                flush=True,
            )
        if not reuse and not isinstance(e, VPack):
            t0 = time.perf_counter()
            e.save(path)
            info["save_s"] = time.perf_counter() - t0
        info["file_bytes"] = path.stat().st_size
        info["path"] = str(path)
        e.prepare(path)

    # Searches: interleaved across engines, repeated; recall from the first (warm-up) pass.
    rows = list(ds.queries)
    singles = {e.name: e.single(k) for e in engines}
    batches = {e.name: e.batch(k, args.batch_threads) for e in engines}
    vp = next((e for e in engines if isinstance(e, VPack)), None)
    if vp is not None and args.hits:
        singles["vpack Pack.search (Hits)"] = vp.hits(k)
    qps: Dict[Tuple[str, int], List[float]] = {}
    cpu_qps: Dict[Tuple[str, int], List[float]] = {}
    bqps: Dict[Tuple[str, int], List[float]] = {}
    rec: Dict[Tuple[str, int], float] = {}
    brec: Dict[Tuple[str, int], float] = {}
    for ef in args.efs:
        for name, s in singles.items():
            rec[(name, ef)] = recall(np.stack([s(q, ef) for q in rows]), ds, k)
        for name, b in batches.items():
            brec[(name, ef)] = recall(b(ds.queries, ef), ds, k)
    search_loads = [load()]
    for _ in range(args.repeat):
        for ef in args.efs:
            for name, s in singles.items():
                wall, cpu = time_single(s, rows, ef)
                qps.setdefault((name, ef), []).append(wall)
                cpu_qps.setdefault((name, ef), []).append(cpu)
            for name, b in batches.items():
                bqps.setdefault((name, ef), []).append(time_batch(b, ds.queries, ef))
        search_loads.append(load())
    result["search_loads"] = search_loads

    for name in singles:
        info = result["engines"].setdefault(name, {})
        info["single"] = [
            {
                "ef": ef,
                "recall": rec[(name, ef)],
                "qps": statistics.median(qps[(name, ef)]),
                "cpu_qps": statistics.median(cpu_qps[(name, ef)]),
                "qps_runs": qps[(name, ef)],
            }
            for ef in args.efs
        ]
    for name in batches:
        result["engines"][name]["batch"] = [
            {
                "ef": ef,
                "recall": brec[(name, ef)],
                "qps": statistics.median(bqps[(name, ef)]),
                "qps_runs": bqps[(name, ef)],
            }
            for ef in args.efs
        ]

    # Open/load in fresh interpreters.
    for e in engines:
        info = result["engines"][e.name]
        e.release()
        info["open"] = measure_open(e.open_code, Path(info["path"]), dim, args.open_repeat)
        if isinstance(e, USearch):
            info["open_view"] = measure_open(
                e.open_code, Path(info["path"]), dim, args.open_repeat, view=True
            )
    result["load_end"] = load()
    report(result, args)
    return result


def report(result: Dict[str, Any], args: argparse.Namespace) -> None:
    engines = result["engines"]
    names = list(engines)
    k = args.k
    print(f"\n### {result['data']}\n")
    print(
        f"Single query from Python (one query per call, k={k}, 1 thread), median of {args.repeat} "
        f"interleaved runs; load average during the searches: {' -> '.join(result['search_loads'])}\n"
    )
    efs = " | ".join(f"ef={ef}" for ef in args.efs)
    print(f"| engine: recall@{k} / QPS | {efs} |")
    print("|---|" + "---|" * len(args.efs))
    for n in names:
        cells = [f"{p['recall']:.3f} / {fmt(p['qps'])}" for p in engines[n]["single"]]
        print(f"| {n} | " + " | ".join(cells) + " |")

    bnames = [n for n in names if "batch" in engines[n]]
    print(
        f"\nBatched: all {args.queries_used} queries in one call, {args.batch_threads} threads: "
        f"recall@{k} / QPS\n"
    )
    print(f"| engine | {efs} |")
    print("|---|" + "---|" * len(args.efs))
    for n in bnames:
        cells = [f"{p['recall']:.3f} / {fmt(p['qps'])}" for p in engines[n]["batch"]]
        print(f"| {n} | " + " | ".join(cells) + " |")

    print(
        f"\nBuild (M={args.m}, ef_construction={args.ef_construction}), size on disk, "
        "open/load in a fresh process\n"
    )
    heads = [f"build {t} thr: s (CPU s)" for t in args.build_threads]
    print(
        "| engine | " + " | ".join(heads) + " | file MB | open/load ms | RSS after open MB | "
        "RSS added by open MB (% of file) | first query ms | RSS after it MB |"
    )
    print("|---|" + "---|" * (len(heads) + 6))
    for n in bnames:
        info = engines[n]
        opens = [(n, info["open"])]
        if "open_view" in info:
            opens.append((n + " (view=True)", info["open_view"]))
        for label, o in opens:
            builds = [
                f"{fmt(info.get(f'build_s_{t}t'), 1)} ({fmt(info.get(f'build_cpu_s_{t}t'), 1)})"
                if label == n
                else ""
                for t in args.build_threads
            ]
            mb = info["file_bytes"] / 1e6
            share = o["rss_delta_kb"] * 1024 / info["file_bytes"] * 100
            print(
                f"| {label} | " + " | ".join(builds) + f" | {mb:,.1f} | {o['open_s'] * 1e3:.3f} | "
                f"{o['rss_after_kb'] / 1024:.1f} | {o['rss_delta_kb'] / 1024:.1f} ({share:.2f}%) | "
                f"{o['first_query_s'] * 1e3:.2f} | {o['rss_after_query_kb'] / 1024:.1f} |"
            )
    print(
        "\nBuild loads: "
        + "; ".join(
            f"{n} " + ", ".join(f"{t}t {engines[n].get(f'build_load_{t}t', '?')}" for t in args.build_threads)
            for n in bnames
        )
    )

    # The ratios issue #8 asks for.
    print(
        f"\nAt recall@{k} >= {args.target}: single-query QPS, interpolated between the efs around it "
        "(wall clock; by thread CPU time in brackets), and the smallest ef reaching it\n"
    )
    print("| engine | QPS at target | smallest ef (its QPS) | vpack / engine | vpack / engine by CPU time |")
    print("|---|---|---|---|---|")
    at: Dict[str, Tuple[Optional[float], Optional[int], Optional[float]]] = {}
    at_cpu: Dict[str, Optional[float]] = {}
    for n in names:
        at[n] = qps_at([(p["ef"], p["recall"], p["qps"]) for p in engines[n]["single"]], args.target)
        at_cpu[n] = qps_at([(p["ef"], p["recall"], p["cpu_qps"]) for p in engines[n]["single"]], args.target)[
            0
        ]
    base, base_cpu = at.get("vpack", (None,))[0], at_cpu.get("vpack")
    for n in names:
        q, ef, qe = at[n]
        ratio = f"{base / q:.2f}" if base and q else "-"
        ratio_cpu = f"{base_cpu / at_cpu[n]:.2f}" if base_cpu and at_cpu[n] else "-"
        ef_cell = f"{ef} ({fmt(qe)})" if ef is not None else "not reached"
        print(f"| {n} | {fmt(q)} ({fmt(at_cpu[n])}) | {ef_cell} | {ratio} | {ratio_cpu} |")
    result["at_target"] = {
        n: {"qps": at[n][0], "cpu_qps": at_cpu[n], "ef": at[n][1], "qps_at_ef": at[n][2]} for n in names
    }
    t = args.build_threads[-1]
    if "vpack" in engines and "hnswlib" in engines:
        v, h = engines["vpack"].get(f"build_s_{t}t"), engines["hnswlib"].get(f"build_s_{t}t")
        vc, hc = engines["vpack"].get(f"build_cpu_s_{t}t"), engines["hnswlib"].get(f"build_cpu_s_{t}t")
        if v and h:
            print(
                f"\nBuild on {t} threads: vpack {v:.1f} s, hnswlib {h:.1f} s: vpack / hnswlib = {v / h:.2f}"
            )
        if vc and hc:
            print(f"Build CPU time on {t} threads: vpack {vc:.1f} s, hnswlib {hc:.1f} s: ratio {vc / hc:.2f}")
        o = engines["vpack"]["open"]
        print(
            f"vpack open: {o['open_s'] * 1e3:.3f} ms; RSS added by open {o['rss_delta_kb'] / 1024:.2f} MB = "
            f"{o['rss_delta_kb'] * 1024 / engines['vpack']['file_bytes'] * 100:.3f}% of the "
            f"{engines['vpack']['file_bytes'] / 1e6:,.0f} MB file"
        )
    print(f"\nload average at the end: {result['load_end']}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", choices=["synthetic", "real"], default=["synthetic"])
    ap.add_argument("--n", type=int, default=200_000, help="synthetic base vectors")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=1000, help="synthetic queries")
    ap.add_argument("--spread", type=float, default=1.5, help="synthetic: noise around the cluster centres")
    ap.add_argument(
        "--real", type=Path, default=Path("/tmp/vpack-ann/pg.npy"), help="a pack or an .npy of its vectors"
    )
    ap.add_argument("--real-queries", type=int, default=500, help="rows held out of the real set as queries")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--efs", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    ap.add_argument(
        "--build-threads",
        type=int,
        nargs="+",
        default=[2],
        help="time a build on each of these thread counts (the last build is searched); e.g. 1 2",
    )
    ap.add_argument("--batch-threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--open-repeat", type=int, default=5)
    ap.add_argument("--engines", nargs="+", default=["vpack", "hnswlib", "faiss", "usearch"])
    ap.add_argument("--target", type=float, default=0.95, help="recall for the QPS comparison")
    ap.add_argument("--no-hits", dest="hits", action="store_false", help="skip the Pack.search (Hits) row")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="search the indexes an earlier run left in --workdir (same parameters) instead of building",
    )
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/vpack-ann"))
    ap.add_argument("--json", type=Path, help="also write all results here")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    lib_path = os.environ.get("VPACK_LIBRARY") or str(next(Path(vpack.__file__).parent.glob("libvpack*"), ""))
    meta: Dict[str, Any] = {
        "command": " ".join(shlex.quote(a) for a in ["python", *sys.argv]),
        "python": platform.python_version(),
        "vpack": vpack.VERSION,
        "library": lib_path,
        "library_sha256": hashlib.sha256(Path(lib_path).read_bytes()).hexdigest()[:16] if lib_path else "",
        "cpus": os.cpu_count(),
    }
    for dist in ("numpy", "hnswlib", "faiss-cpu", "usearch"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            meta[dist] = importlib.metadata.version(dist)
    print("# bench_ann:", json.dumps(meta), flush=True)

    results = {"meta": meta, "runs": []}
    for name in args.data:
        t0 = time.perf_counter()
        if name == "synthetic":
            ds = ann_data.synthetic(
                args.n, args.dim, args.queries, args.k, workdir=args.workdir, spread=args.spread
            )
        else:
            ds = ann_data.real(args.real, args.real_queries, args.k, workdir=args.workdir)
        print(f"data {ds.description}: ready in {time.perf_counter() - t0:.1f} s", flush=True)
        args.queries_used = len(ds.queries)
        results["runs"].append(run(ds, args, args.workdir))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
