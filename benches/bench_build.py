"""Pipeline build: a synthetic folder of text files through `vpack.build` (directory
source, fixed-size chunker, hash or model embedder, flat index, streamed atomic write).
Reports time per stage, chunks per second, the pack's size and the process's peak RSS
(which must not grow with the number of chunks: compare --files 10000 and 50000).

    python benches/bench_build.py --files 1000 --chars 900
    python benches/bench_build.py --files 50000 --chars 900 --embedder hash
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

import vpack

WORDS = [
    "file",
    "read",
    "line",
    "open",
    "iterate",
    "buffer",
    "encoding",
    "path",
    "directory",
    "index",
    "vector",
    "search",
    "query",
    "chunk",
    "embed",
    "model",
    "token",
    "pack",
    "build",
    "manifest",
    "checksum",
    "section",
    "header",
    "offset",
    "metric",
    "cosine",
    "score",
    "rank",
    "result",
    "bird",
    "migrate",
    "winter",
    "bread",
    "bake",
    "oven",
    "degree",
    "minute",
    "install",
]


def make_corpus(root: Path, files: int, chars: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    for i in range(files):
        words = []
        size = 0
        while size < chars:
            w = rng.choice(WORDS)
            words.append(w)
            size += len(w) + 1
        sub = root / f"section{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"doc{i:05d}.txt").write_text(" ".join(words)[:chars] + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--chars", type=int, default=1000, help="characters per file")
    ap.add_argument("--chunk-size", type=int, default=1000)
    ap.add_argument("--dimension", type=int, default=256, help="hash embedder dimension")
    ap.add_argument("--embedder", choices=("hash", "model"), default="hash")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        make_corpus(root, args.files, args.chars)
        out = Path(tmp) / "corpus.vpack"
        t0 = time.perf_counter()
        embedder = vpack.make_embedder(args.embedder, dimension=args.dimension)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with vpack.build(root, out, chunk_size=args.chunk_size, chunk_overlap=0, embedder=embedder) as result:
            elapsed = time.perf_counter() - t0
            r = result.report
        # Peak RSS of the build itself, before a query maps and touches the pack's pages.
        build_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        with vpack.open(out) as pack:
            open_s = time.perf_counter() - t0
            pack.search("read a file line by line", k=5)
        summary = {
            "files": args.files,
            "chunks": r.chunks,
            "pack_bytes": r.size_bytes,
            "bytes_per_chunk": round(r.size_bytes / max(r.chunks, 1)),
            "build_s": round(elapsed, 3),
            "chunks_per_s": round(r.chunks / elapsed),
            "stages_s": {k: round(v, 3) for k, v in r.seconds.items()},
            "open_ms": round(open_s * 1e3, 3),
            "peak_rss_mb_before_build": round(rss_before, 1),
            "peak_rss_mb": round(build_rss, 1),
        }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        for k, v in summary.items():
            print(f"{k:>16}: {v}")


if __name__ == "__main__":
    main()
