"""Embedding throughput: vpack's Rust path (fastembed over ONNX Runtime, length-sorted
batches) against plain Python onnxruntime + tokenizers (batches in input order, each
padded to its longest text: the usual way), on the same model, tokenizer, texts, batch
size and thread count, in the same run.

    python benches/bench_embed.py --texts 400 --batch-sizes 8 16 32 --threads 2

Needs the default model (pip install "vpack-search[model]"). Prints chunks/s per
configuration and the Rust/Python ratio (>1 means the Rust path is faster).

    python benches/bench_embed.py --sessions --texts 400 --batch-sizes 4 8 --repeat 5

compares how the Rust path spends the cores: one session with an intra-op thread per
core against one single-threaded session per core, each embedding different batches
(what Ray's actors do; the default), and plain onnxruntime at batch 1 with all cores as
the reference. The layouts take turns within each repeat, so a busy moment of a shared
machine hits them alike; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from typing import Dict, List

import numpy as np

from vpack.plugins import OnnxEmbedder

WORDS = [
    "file", "read", "line", "open", "iterate", "buffer", "encoding", "path", "directory",
    "index", "vector", "search", "query", "chunk", "embed", "model", "token", "pack",
    "build", "manifest", "checksum", "section", "header", "offset", "metric", "cosine",
    "score", "rank", "result", "bird", "migrate", "winter", "bread", "bake", "oven",
    "degree", "minute", "install", "the", "a", "of", "to", "and", "with", "when", "each",
]  # fmt: skip


def make_texts(n: int, seed: int = 0) -> List[str]:
    """Chunks of 20 to 230 words (about 25 to 280 word pieces), like a chunker's output
    with a ragged last chunk per document."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words = rng.randint(20, 230)
        texts.append(" ".join(rng.choice(WORDS) for _ in range(words)) + ".")
    return texts


def rate(embedder: OnnxEmbedder, texts: List[str], repeat: int) -> float:
    embedder.embed(texts[:8])  # load and warm up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        embedder.embed(texts)
        best = min(best, time.perf_counter() - t0)
    return len(texts) / best


def sessions_table(texts: List[str], batches: List[int], cores: int, repeat: int) -> List[Dict[str, object]]:
    one = f"1 session x {cores} threads"
    layouts = {one: (1, cores), f"{cores} sessions x 1 thread": (cores, 1)}
    rows: List[Dict[str, object]] = []
    for batch in batches:
        made = {
            name: OnnxEmbedder.packaged(batch_size=batch, sessions=s, threads=t)
            for name, (s, t) in layouts.items()
        }
        made["onnxruntime, batch 1"] = OnnxEmbedder.packaged(batch_size=1, threads=cores, prefer_native=False)
        times: Dict[str, List[float]] = {name: [] for name in made}
        want = None
        for e in made.values():
            e.embed(texts[:8])  # load and warm up
        for _ in range(repeat):
            for name, e in made.items():
                t0 = time.perf_counter()
                v = e.embed(texts)
                times[name].append(time.perf_counter() - t0)
                if e.native:
                    assert want is None or np.array_equal(v, want), "layouts must give the same bits"
                    want = v
        base = len(texts) / statistics.median(times[one])
        for name, ts in times.items():
            r = len(texts) / statistics.median(ts)
            rows.append(
                {
                    "batch": batch,
                    "layout": name,
                    "chunks_per_s": round(r, 1),
                    "vs_one_session": round(r / base, 2),
                }
            )
        for e in made.values():
            e.close()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--texts", type=int, default=400)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--threads", type=int, nargs="+", default=[2])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--sessions", action="store_true", help="compare session layouts instead")
    ap.add_argument("--cores", type=int, default=2, help="cores the --sessions layouts share")
    args = ap.parse_args()

    texts = make_texts(args.texts)
    if args.sessions:
        rows = sessions_table(texts, args.batch_sizes, args.cores, args.repeat)
        if args.json:
            print(json.dumps(rows, indent=2))
            return
        print(f"{len(texts)} texts; medians of {args.repeat}")
        print(f"{'batch':>5}  {'layout':<26}{'chunks/s':>10}{'vs 1 session':>14}")
        for row in rows:
            print(
                f"{row['batch']:>5}  {row['layout']:<26}{row['chunks_per_s']:>10}{row['vs_one_session']:>14}"
            )
        return
    probe = OnnxEmbedder.packaged()
    counts = probe.token_counts(texts)
    rows: List[Dict[str, object]] = []
    for threads in args.threads:
        for batch in args.batch_sizes:
            rust = OnnxEmbedder.packaged(batch_size=batch, threads=threads)
            python = OnnxEmbedder.packaged(batch_size=batch, threads=threads, prefer_native=False)
            r = rate(rust, texts, args.repeat)
            p = rate(python, texts, args.repeat)
            cos = float(np.min(np.sum(rust.embed(texts[:32]) * python.embed(texts[:32]), axis=1)))
            rows.append(
                {
                    "threads": threads,
                    "batch": batch,
                    "rust_chunks_per_s": round(r, 1),
                    "python_chunks_per_s": round(p, 1),
                    "ratio": round(r / p, 2),
                    "min_cosine": round(cos, 6),
                }
            )
            rust.close()
    meta = {
        "texts": len(texts),
        "mean_tokens": round(float(np.mean(counts)), 1),
        "max_tokens": max(counts),
        "model": probe.describe()["model_id"],
    }
    if args.json:
        print(json.dumps({"config": meta, "results": rows}, indent=2))
        return
    print(
        f"{meta['texts']} texts, mean {meta['mean_tokens']} tokens "
        f"(max {meta['max_tokens']}), {meta['model']}"
    )
    print(f"{'threads':>7}{'batch':>7}{'rust/s':>10}{'python/s':>10}{'ratio':>8}{'min cos':>10}")
    for row in rows:
        print(
            f"{row['threads']:>7}{row['batch']:>7}{row['rust_chunks_per_s']:>10}"
            f"{row['python_chunks_per_s']:>10}{row['ratio']:>8}{row['min_cosine']:>10}"
        )


if __name__ == "__main__":
    main()
