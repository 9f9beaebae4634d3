"""Issue 11's numbers ("Beyond one machine"): a pack set against one pack, and a Ray build
against a local one.

    python benches/bench_scale.py query --n 100000 --shards 8 --queries 300 --repeat 3
    tests/tools/loopback.sh python benches/bench_scale.py build --chunks 2000 --shards 8

`query`: one pack against a set of S shards holding the same chunks (contiguous, equal
parts of the same vectors; benches/bench_sets.py builds them), single-query latency from
Python, both searched alternately query by query so they see the same machine load.
Flat: both must give the same ids and scores for every query; the engine call and
`Pack.search` (10 Hits) are timed. HNSW (same M and ef_construction for the pack and for
every shard; a set searches each shard with the same ef): recall@k against the exact
top-k and the median latency at each ef, and the latency of each at matched recall
(interpolated between the efs around the target). Data: clustered synthetic vectors
(benches/ann_data.py), or `--real PATH.npy` (stored embeddings; queries held out).

`build`: the same synthetic folder (N text files of --chars characters, one chunk each:
benches/bench_build.py's corpus) built with the default model, once locally
(`vpack.build`) and once on a local Ray cluster (`vpack.distributed.build`, --shards
shards, one CPU per cluster CPU), embedding cache off for both. Reports wall time, the
stages' times (for Ray summed over its workers), the cluster's start, and the ratio
Ray / local. Ray must run in a loopback-only network namespace: run the whole command
under tests/tools/loopback.sh (the script refuses otherwise).

`--json` prints the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ann_data
import bench_build
import bench_sets

import vpack


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


# ---------------------------------------------------------------------------- query


def engine(pack: vpack.Pack, k: int, ef: int = 0) -> Callable[[np.ndarray], Any]:
    return lambda q: pack._index.search(q, k, None, ef)


def recall(pack: vpack.Pack, ds: ann_data.DataSet, k: int, ef: int) -> float:
    found = 0
    for q, truth in zip(ds.queries, ds.truth):
        ids, _ = pack._index.search(q, k, None, ef)
        found += len(set(int(i) for i in ids) & set(int(t) for t in truth[:k]))
    return found / (len(ds.queries) * k)


def at_recall(curve: Sequence[Dict[str, float]], target: float) -> Optional[float]:
    """The median µs at recall ``target`` on a curve of (recall, median_us) points, by
    linear interpolation between the two efs around it; None if it is never reached."""
    points = sorted(curve, key=lambda p: p["recall"])
    if not points or points[-1]["recall"] < target:
        return None
    if points[0]["recall"] >= target:
        return min(p["median_us"] for p in points if p["recall"] >= target)
    for lo, hi in zip(points, points[1:]):
        if lo["recall"] < target <= hi["recall"]:
            t = (target - lo["recall"]) / (hi["recall"] - lo["recall"])
            return lo["median_us"] + t * (hi["median_us"] - lo["median_us"])
    return None


def write_both(root: Path, name: str, base: np.ndarray, shards: int, index: Any) -> Dict[str, float]:
    """One pack ``name.vpack`` and a set ``name.vpackset`` of ``shards`` contiguous parts."""
    t0 = time.perf_counter()
    bench_sets.build(root / f"{name}.vpack", base, 0, index)
    one_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    bounds = np.linspace(0, len(base), shards + 1).astype(int)
    parts = []
    for i, (lo, hi) in enumerate(zip(bounds, bounds[1:])):
        parts.append(root / f"{name}-{i:03d}.vpack")
        bench_sets.build(parts[-1], base[lo:hi], int(lo), index)
    vpack.write_set(root / f"{name}.vpackset", parts)
    return {"one_pack_s": round(one_s, 2), "set_s": round(time.perf_counter() - t0, 2)}


def query_bench(args: argparse.Namespace) -> Dict[str, Any]:
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if args.real:
        ds = ann_data.real(Path(args.real), args.queries, args.k, workdir=work)
    else:
        ds = ann_data.synthetic(args.n, args.dim, args.queries, args.k, workdir=work)
    result: Dict[str, Any] = {
        "data": ds.description,
        "n": len(ds.base),
        "dim": ds.base.shape[1],
        "shards": args.shards,
        "queries": len(ds.queries) * args.repeat,
        "k": args.k,
        "load_before": load(),
    }
    hnsw = {
        "kind": "hnsw",
        "m": args.m,
        "ef_construction": args.ef_construction,
        "threads": args.build_threads,
    }
    with tempfile.TemporaryDirectory(prefix="vpack-bench-scale-", dir=work) as tmp:
        root = Path(tmp)
        kinds = [("flat", None), ("hnsw", hnsw)] if not args.flat_only else [("flat", None)]
        for kind, index in kinds:
            result[f"{kind}_build"] = write_both(root, kind, ds.base, args.shards, index)
        with vpack.open(root / "flat.vpack") as one, vpack.open(root / "flat.vpackset") as pack_set:
            for q in ds.queries:
                a, b = one.search(q, k=args.k), pack_set.search(q, k=args.k)
                assert [(h.id, h.score) for h in a] == [(h.id, h.score) for h in b], "flat answers differ"
            flat: Dict[str, Any] = {}
            for label, (fa, fb) in {
                "engine": (engine(one, args.k), engine(pack_set, args.k)),
                "search": (
                    lambda q: one.search(q, k=args.k),
                    lambda q: pack_set.search(q, k=args.k),
                ),
            }.items():
                timing = bench_sets.time_pair(fa, fb, ds.queries, args.repeat)
                a, b = bench_sets.summary(timing["a"]), bench_sets.summary(timing["b"])
                flat[label] = {"one_pack": a, "set": b, "ratio_median": b["median_us"] / a["median_us"]}
            flat["recall"] = recall(one, ds, args.k, 0)
            result["flat"] = flat
        if args.flat_only:
            result["load_after"] = load()
            return result
        with vpack.open(root / "hnsw.vpack") as one, vpack.open(root / "hnsw.vpackset") as pack_set:
            curves: Dict[str, List[Dict[str, float]]] = {"one_pack": [], "set": []}
            for ef in args.efs:
                timing = bench_sets.time_pair(
                    engine(one, args.k, ef), engine(pack_set, args.k, ef), ds.queries, args.repeat
                )
                for name, pack, times in (("one_pack", one, timing["a"]), ("set", pack_set, timing["b"])):
                    point = {"ef": ef, "recall": recall(pack, ds, args.k, ef), **bench_sets.summary(times)}
                    curves[name].append(point)
            matched = {}
            for target in args.targets:
                a, b = at_recall(curves["one_pack"], target), at_recall(curves["set"], target)
                matched[str(target)] = {
                    "one_pack_us": a,
                    "set_us": b,
                    "ratio": None if a is None or b is None else b / a,
                }
            result["hnsw"] = {"params": hnsw, "curves": curves, "at_recall": matched}
    result["load_after"] = load()
    return result


def print_query(r: Dict[str, Any]) -> None:
    print(
        f"{r['data']}; one pack vs a set of {r['shards']} shards; {r['queries']} single queries, "
        f"k={r['k']}; load {r['load_before']} -> {r['load_after']}"
    )
    f = r["flat"]
    print(f"{'flat (exact, same answers checked)':<38} {'one pack µs':>12} {'set µs':>10} {'set/one':>8}")
    for label, name in (("engine", "  engine call (ids, scores)"), ("search", "  Pack.search (10 Hits)")):
        a, b = f[label]["one_pack"]["median_us"], f[label]["set"]["median_us"]
        print(f"{name:<38} {a:>12.0f} {b:>10.0f} {f[label]['ratio_median']:>8.2f}")
    if "hnsw" not in r:
        return
    h = r["hnsw"]
    p = h["params"]
    print(f"hnsw (m {p['m']}, ef_construction {p['ef_construction']}; engine call, median µs)")
    print(f"{'  ef':<6} {'one pack recall':>16} {'µs':>8} {'set recall':>11} {'µs':>8} {'set/one':>8}")
    for a, b in zip(h["curves"]["one_pack"], h["curves"]["set"]):
        print(
            f"  {a['ef']:<4} {a['recall']:>16.3f} {a['median_us']:>8.0f} {b['recall']:>11.3f} "
            f"{b['median_us']:>8.0f} {b['median_us'] / a['median_us']:>8.2f}"
        )
    for target, m in h["at_recall"].items():
        if m["ratio"] is None:
            print(
                f"  at recall {target}: not reached by both (one pack {m['one_pack_us']}, set {m['set_us']})"
            )
        else:
            print(
                f"  at recall {target}: one pack {m['one_pack_us']:.0f} µs, set {m['set_us']:.0f} µs, "
                f"set/one {m['ratio']:.2f}"
            )
    b = r["hnsw_build"]
    print(f"  build: one pack {b['one_pack_s']} s, {r['shards']} shards {b['set_s']} s")


# ---------------------------------------------------------------------------- build


def only_loopback() -> bool:
    """Whether this process's network namespace has no interface but loopback."""
    try:
        with open("/proc/net/dev") as f:
            return [line.split(":")[0].strip() for line in f.readlines()[2:]] == ["lo"]
    except OSError:
        return False


def stages(seconds: Dict[str, float]) -> Dict[str, float]:
    return {k: round(v, 2) for k, v in seconds.items()}


def build_bench(args: argparse.Namespace) -> Dict[str, Any]:
    if not only_loopback():
        raise SystemExit("run the Ray build in a loopback-only namespace: tests/tools/loopback.sh python ...")
    import ray

    from vpack import distributed

    work = Path(tempfile.mkdtemp(prefix="vpack-bench-scale-build-", dir=args.workdir))
    try:
        corpus = work / "corpus"
        bench_build.make_corpus(corpus, args.chunks, args.chars)
        result: Dict[str, Any] = {"files": args.chunks, "chars": args.chars, "shards": args.shards}
        settings: Dict[str, Any] = {"cache": False, "progress": False}
        runs: Dict[str, Dict[str, Any]] = {}
        for engine_name in args.order:
            load_before = load()
            if engine_name == "local":
                t0 = time.perf_counter()
                with vpack.build(corpus, work / "local.vpack", **settings) as built:
                    wall = time.perf_counter() - t0
                    report, chunks = built.report, len(built.pack)
                runs["local"] = {
                    "wall_s": round(wall, 2),
                    "stages_s": stages(report.seconds),
                    "chunks": chunks,
                }
            else:
                t0 = time.perf_counter()
                ray.init(
                    address="local",
                    include_dashboard=False,
                    log_to_driver=False,
                    _node_ip_address="127.0.0.1",
                    num_cpus=os.cpu_count(),
                )
                ray.data.DataContext.get_current().enable_progress_bars = False
                started = time.perf_counter() - t0
                try:
                    t0 = time.perf_counter()
                    with distributed.build(
                        corpus, work / "ray.vpackset", shards=args.shards, **settings
                    ) as built:
                        wall = time.perf_counter() - t0
                        report, chunks = built.report, len(built.pack)
                finally:
                    ray.shutdown()
                runs["ray"] = {
                    "wall_s": round(wall, 2),
                    "cluster_start_s": round(started, 2),
                    "stages_s": stages(report.seconds),
                    "chunks": chunks,
                }
            runs[engine_name]["chunks_per_s"] = round(chunks / runs[engine_name]["wall_s"], 1)
            runs[engine_name]["load"] = f"{load_before} -> {load()}"
        result.update(runs)
        if "local" in runs and "ray" in runs:
            assert runs["local"]["chunks"] == runs["ray"]["chunks"], "the two builds differ in chunks"
            with vpack.open(work / "local.vpack") as one, vpack.open(work / "ray.vpackset") as pack_set:
                q = "read a file line by line"
                a, b = one.search(q, k=10), pack_set.search(q, k=10)
                result["same_top10_texts"] = sorted(h.text for h in a) == sorted(h.text for h in b)
            local, ray_run = runs["local"]["wall_s"], runs["ray"]["wall_s"]
            result["ratio"] = round(ray_run / local, 3)
            result["ratio_with_cluster_start"] = round((ray_run + runs["ray"]["cluster_start_s"]) / local, 3)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def print_build(r: Dict[str, Any]) -> None:
    print(f"{r['files']:,} files of {r['chars']} characters, default model, no embedding cache")
    names = [n for n in ("local", "ray") if n in r]
    keys: List[str] = []
    for n in names:
        keys += [k for k in r[n]["stages_s"] if k not in keys]
    print(f"{'':<22}" + "".join(f"{n:>14}" for n in names))
    rows = [("chunks", "chunks"), ("wall s", "wall_s"), ("chunks/s", "chunks_per_s")]
    for label, key in rows:
        print(f"{label:<22}" + "".join(f"{r[n][key]:>14}" for n in names))
    if "ray" in r:
        print(f"{'cluster start s':<22}" + "".join(f"{r[n].get('cluster_start_s', ''):>14}" for n in names))
    for k in keys:
        print(f"{'  ' + k + ' s':<22}" + "".join(f"{r[n]['stages_s'].get(k, ''):>14}" for n in names))
    for n in names:
        print(f"load ({n}): {r[n]['load']}")
    if "ratio" in r:
        print(
            f"Ray / local: {r['ratio']:.3f} ({r['ratio_with_cluster_start']:.3f} with the cluster's start); "
            f"same top 10: {r['same_top10_texts']}"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "vpack-scale"))
    sub = p.add_subparsers(dest="what", required=True)
    q = sub.add_parser("query", help="a set of shards against one pack: single-query latency")
    q.add_argument("--n", type=int, default=100_000, help="chunks in all (synthetic data)")
    q.add_argument("--dim", type=int, default=384)
    q.add_argument("--real", help="an .npy of stored embeddings (or a pack) instead of synthetic data")
    q.add_argument("--shards", type=int, default=8)
    q.add_argument("--queries", type=int, default=300)
    q.add_argument("--repeat", type=int, default=3)
    q.add_argument("-k", type=int, default=10)
    q.add_argument("--m", type=int, default=16)
    q.add_argument("--ef-construction", type=int, default=200)
    q.add_argument("--build-threads", type=int, default=2)
    q.add_argument("--efs", type=int, nargs="+", default=[10, 16, 32, 64, 128])
    q.add_argument("--targets", type=float, nargs="+", default=[0.9, 0.95, 0.99])
    q.add_argument("--flat-only", action="store_true")
    b = sub.add_parser("build", help="a Ray build against a local build, default model")
    b.add_argument("--chunks", type=int, default=2000, help="files of one chunk each (issue 11: 20000)")
    b.add_argument("--chars", type=int, default=900)
    b.add_argument("--shards", type=int, default=8)
    b.add_argument("--order", nargs="+", choices=("local", "ray"), default=["local", "ray"])
    args = p.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    r = query_bench(args) if args.what == "query" else build_bench(args)
    if args.json:
        print(json.dumps(r, indent=2))
    elif args.what == "query":
        print_query(r)
    else:
        print_build(r)


if __name__ == "__main__":
    main()
