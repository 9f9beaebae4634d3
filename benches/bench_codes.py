"""Compressed vectors for the flat scan: recall@10 and pack size of each choice (f32;
f16 and int8 codes rescored exactly against the f32 rows; f16 and int8 codes only),
on the same vectors and held-out queries, with the time per query.

    python benches/bench_codes.py --data real --real docs.npy   # a pack or .npy of vectors
    python benches/bench_codes.py --n 200000                      # synthetic clustered

Ground truth is numpy's exact top-k; recall@k counts returned ids whose true score
reaches the k-th true score (ties at the boundary count), as in bench_ann.py. Timing is
the engine call (ids and scores), one query per call, median of --repeat passes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ann_data

import vpack

CHOICES: Dict[str, Dict[str, Any]] = {
    "f32": {"kind": "flat"},
    "f16 + rescore 4": {"kind": "flat", "codes": "f16", "rescore": 4},
    "int8 + rescore 4": {"kind": "flat", "codes": "int8", "rescore": 4},
    "f16 codes only": {"kind": "flat", "codes": "f16", "codes_only": True},
    "int8 codes only": {"kind": "flat", "codes": "int8", "codes_only": True},
}


def recall(found: np.ndarray, ds: ann_data.DataSet, k: int) -> float:
    hits = 0
    for row, q, kth in zip(found, ds.queries, ds.truth_scores[:, k - 1]):
        ids = row[row >= 0]
        hits += int(np.count_nonzero(ds.base[ids] @ q >= kth - 1e-6))
    return hits / (k * len(ds.queries))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", choices=["synthetic", "real"], default="synthetic")
    ap.add_argument("--real", type=Path, help="a pack or .npy of vectors (--data real)")
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/vpack-codes"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.data == "real":
        if args.real is None:
            ap.error("--data real needs --real PACK_OR_NPY")
        ds = ann_data.real(args.real, args.queries, args.k, workdir=args.workdir)
    else:
        ds = ann_data.synthetic(args.n, args.dim, args.queries, args.k, workdir=args.workdir)
    print(f"{ds.description}; k={args.k}; load average {os.getloadavg()[0]:.2f}")
    rows: List[Dict[str, Any]] = []
    base_bytes = None
    for name, index in CHOICES.items():
        path = args.workdir / f"codes-{name.replace(' ', '_').replace('+', 'r')}.vpack"
        builder = vpack.PackBuilder(ds.base.shape[1], metric="cosine", index=index)
        step = 65536
        texts = [""] * step
        for lo in range(0, len(ds.base), step):
            part = ds.base[lo : lo + step]
            builder.add(texts[: len(part)], part)
        with builder.finish(output=path) as pack:
            engine = pack._index  # the engine call under Pack.search
            found = np.full((len(ds.queries), args.k), -1, dtype=np.int64)
            for i, q in enumerate(ds.queries):
                ids = engine.search(q, args.k, None, 0)[0]
                found[i, : len(ids)] = ids
            passes = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                for q in ds.queries:
                    engine.search(q, args.k, None, 0)
                passes.append((time.perf_counter() - t0) / len(ds.queries))
        size = path.stat().st_size
        base_bytes = base_bytes or size
        rows.append(
            {
                "choice": name,
                "recall": recall(found, ds, args.k),
                "bytes": size,
                "of_f32_pack": size / base_bytes,
                "ms": statistics.median(passes) * 1e3,
            }
        )
        path.unlink()
    print("| vectors | recall@10 | pack size | vs f32 pack | ms/query (1 call each) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['choice']} | {r['recall']:.3f} | {r['bytes'] / 1e6:.1f} MB | {r['of_f32_pack']:.2f} |"
            f" {r['ms']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps({"data": ds.description, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
