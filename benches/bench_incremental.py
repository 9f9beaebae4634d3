"""Incremental rebuild: build a pack from a tree of files with the default model and an
empty embedding cache, edit one file, rebuild, and report both times and the speed-up
(the rebuild re-embeds only the edited file's chunks).

    python benches/bench_incremental.py --files 1000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench_build import make_corpus  # type: ignore[import-not-found]

import vpack


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--chars", type=int, default=900)
    ap.add_argument("--embedder", choices=("model", "hash"), default="model")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        make_corpus(root, args.files, args.chars)
        cache = Path(tmp) / "cache"
        out = Path(tmp) / "corpus.vpack"
        embedder = vpack.make_embedder(args.embedder)

        def build() -> tuple[float, vpack.BuildReport]:
            t0 = time.perf_counter()
            with vpack.build(
                root, out, chunk_size=1000, chunk_overlap=0, embedder=embedder, cache=cache
            ) as r:
                return time.perf_counter() - t0, r.report

        first_s, first = build()
        edited = sorted(root.rglob("*.txt"))[len(list(root.rglob("*.txt"))) // 2]
        edited.write_text("An edited document about reading files line by line.\n", encoding="utf-8")
        second_s, second = build()
    result = {
        "files": args.files,
        "chunks": first.chunks,
        "first_build_s": round(first_s, 2),
        "rebuild_s": round(second_s, 2),
        "speedup": round(first_s / second_s, 1),
        "rebuild_cache_hits": second.cache_hits,
        "rebuild_cache_misses": second.cache_misses,
    }
    print(
        json.dumps(result, indent=2) if args.json else "\n".join(f"{k:>22}: {v}" for k, v in result.items())
    )


if __name__ == "__main__":
    main()
