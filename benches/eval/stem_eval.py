"""Snowball stemming in the Rust lexical index, on the FAQ evaluation sets: recall@5 and
MRR@10 of BM25 alone and of hybrid search (dense, lexical weight 0.2), with the index
over the chunk text with and without ``stem = "english"``, on the same chunks and
vectors (the default pipeline's pack, built once with the default model and the
embedding cache).

    python benches/eval/stem_eval.py --workdir /tmp/vpack-eval-stem

Prints one line per set: recall@5 (95% half-width) and MRR@10 per mode and tokenizer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import faqsets  # type: ignore[import-not-found]
import run_eval as ev  # type: ignore[import-not-found]

import vpack


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=list(faqsets.SETS))
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/vpack-eval-stem"))
    ap.add_argument("--bootstrap", type=int, default=2000)
    args = ap.parse_args()
    for name in args.sets:
        corpus, questions, _ = faqsets.prepare(name, args.workdir)
        pack_path = args.workdir / name / "dense.vpack"
        with vpack.build(corpus, pack_path, cache=True, progress=False):
            pass
        queries = [q.query for q in questions]
        with vpack.open(pack_path) as pack:
            chunks = ev.chunk_records(pack)
            vectors = np.array(pack.vectors)
            embedder = pack.manifest["embedder"]
        relevant = [ev.relevant_chunks(chunks, q) for q in questions]
        cells = []
        for label, lexical in (("plain", {}), ("stem", {"stem": "english"})):
            builder = vpack.PackBuilder(vectors.shape[1], index={"lexical": lexical})
            metadata = [{k: v for k, v in c.items() if k != "text"} for c in chunks]
            builder.add([c["text"] for c in chunks], vectors, metadata)
            with builder.finish({"embedder": embedder}) as p:
                for mode in ("lexical", "hybrid"):
                    first = ev.ranks_of_first_hit(ev.search_order(p, queries, mode), relevant)
                    m = ev.metrics(first)
                    hw = ev.bootstrap_halfwidth(((first > 0) & (first <= 5)).astype(float), args.bootstrap)
                    cells.append(f"{mode}/{label} r@5 {m['recall@5']:.3f} (±{hw:.3f}) mrr {m['mrr@10']:.3f}")
        print(f"{name} ({len(queries)} questions): " + "; ".join(cells), flush=True)


if __name__ == "__main__":
    main()
