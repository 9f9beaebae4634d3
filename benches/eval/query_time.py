"""Query time of dense, lexical and hybrid searches (issue 9: a hybrid query at most 2x
a dense one on a 23k-chunk pack, without and with the query embedding), and of hybrid
with diversity (collapse by section; MMR).

Packs: the Django eval pack that run_eval.py builds (8,179 chunks, default model, Rust
lexical index), and the same chunks three times over (24,537 chunks: the texts, their
vectors and their metadata repeated, built with ``PackBuilder``), both flat as vpack's
default. Queries: the 202 eval questions. Each search is run ``--rounds`` times after
a warm-up round; the figure is the median over questions of the per-question median.

    VPACK_LIBRARY=... PYTHONPATH=. python benches/eval/query_time.py
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

import vpack
from vpack._native import QUERY_MODES

HERE = Path(__file__).resolve().parent


def per_query_ms(run: Callable[[int], Any], n: int, rounds: int) -> float:
    for i in range(n):  # warm-up (pages, lazily checked sections)
        run(i)
    times = np.empty((rounds, n))
    for r in range(rounds):
        for i in range(n):
            t = time.perf_counter()
            run(i)
            times[r, i] = time.perf_counter() - t
    return float(np.median(np.median(times, axis=0)) * 1000)


def measure(pack: vpack.Pack, queries: Sequence[str], rounds: int) -> Dict[str, float]:
    vectors = pack.embed_queries(list(queries))
    index = pack._index  # a hybrid search with a given vector: the native call Pack.search makes
    n = len(queries)
    out = {
        "dense (vector)": per_query_ms(lambda i: pack.search(vectors[i], k=10), n, rounds),
        "lexical": per_query_ms(lambda i: pack.search(queries[i], k=10, mode="lexical"), n, rounds),
        "hybrid (vector + text)": per_query_ms(
            lambda i: index.search_records(vectors[i], 10, None, 0, QUERY_MODES["hybrid"], queries[i]),
            n,
            rounds,
        ),
        "dense (text, embedded)": per_query_ms(
            lambda i: pack.search(queries[i], k=10, mode="dense"), n, rounds
        ),
        "hybrid (text, embedded)": per_query_ms(
            lambda i: pack.search(queries[i], k=10, mode="hybrid"), n, rounds
        ),
        "hybrid + collapse section (text, embedded)": per_query_ms(
            lambda i: pack.search(queries[i], k=10, mode="hybrid", diversity="section"), n, rounds
        ),
        "hybrid + MMR 0.7 (text, embedded)": per_query_ms(
            lambda i: pack.search(queries[i], k=10, mode="hybrid", diversity={"mmr": 0.7}), n, rounds
        ),
    }
    out["hybrid / dense without embedding"] = out["hybrid (vector + text)"] / out["dense (vector)"]
    out["hybrid / dense with embedding"] = out["hybrid (text, embedded)"] / out["dense (text, embedded)"]
    return out


def tripled(path: Path, out: Path) -> Path:
    """The pack's chunks three times over, with the same lexical settings."""
    with vpack.open(path) as pack:
        records = [pack.chunk(i) for i in range(len(pack))]
        vectors = np.array(pack.vectors)
        manifest = pack.manifest
    builder = vpack.PackBuilder(vectors.shape[1], index={"lexical": {}})
    for copy in range(3):
        builder.add([r.text for r in records], vectors, [{**r.metadata, "copy": copy} for r in records])
    builder.finish({"embedder": manifest["embedder"]}, out).close()
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pack", type=Path, default=Path("/tmp/vpack-eval/django/dense-lexical.vpack"))
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    queries: List[str] = []
    for name in ("debian", "django", "sqlite"):
        data = json.loads((HERE / "data" / f"{name}.json").read_text(encoding="utf-8"))
        queries += [q["query"] for q in data["questions"]]
    big = tripled(args.pack, args.pack.with_name("tripled-lexical.vpack"))
    results = {}
    for path in (args.pack, big):
        with vpack.open(path) as pack:
            key = f"{path.name} ({len(pack):,} chunks)"
            results[key] = measure(pack, queries, args.rounds)
            print(key)
            for k, v in results[key].items():
                print(f"  {k}: {v:.3f}" + ("" if "/" in k else " ms"))
    (args.pack.parent / "query_time.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
