"""Incremental rebuild: build a pack with an empty build cache, edit a few documents,
rebuild, and report both builds' times per stage, documents re-chunked and chunks
embedded versus reused.

Two corpora:

- synthetic (default): ``--files`` generated text files, one of which is rewritten;
- ``--docs FOLDER``: a real HTML documentation tree (such as the Debian python3.11-doc
  pages, /usr/share/doc/python3.11/html), copied to a temporary folder; its ``*.html``
  pages are built with the default section chunker, then ``--edit`` pages (8 by
  default, spread over the tree) get a paragraph appended to their last section.

    python benches/bench_incremental.py --files 1000
    nice -n 10 python benches/bench_incremental.py --docs /usr/share/doc/python3.11/html --json

``--cache DIR`` keeps the build cache, so that a second run's first build is fast too
(its rebuild then measures the same edits on top of an already cached tree).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from bench_build import make_corpus  # type: ignore[import-not-found]

import vpack

PARAGRAPH = (
    "<p>An added paragraph ({stamp}): this page now also explains how to read a file line by "
    "line with a for loop over the open file object, and what happens at its end.</p>\n"
)


def edit_pages(root: Path, count: int) -> List[str]:
    """Appends :data:`PARAGRAPH` to the last section of ``count`` pages spread evenly over
    the sorted list of pages; returns their paths relative to ``root``. The paragraph
    names the time, so that a run with a kept ``--cache`` edits afresh too."""
    paragraph = PARAGRAPH.format(stamp=time.strftime("%Y-%m-%d %H:%M:%S"))
    pages = sorted(root.rglob("*.html"))
    step = max(1, len(pages) // max(count, 1))
    edited: List[str] = []
    for page in pages[step // 2 :: step][:count]:
        html = page.read_text(encoding="utf-8")
        at = html.rfind("</section>")
        if at < 0:
            at = html.rfind("</body>")
        page.write_text(html[:at] + paragraph + html[at:], encoding="utf-8")
        edited.append(str(page.relative_to(root)))
    return edited


def summary(seconds: float, report: vpack.BuildReport) -> Dict[str, Any]:
    return {
        "total_s": round(seconds, 2),
        "documents": report.documents,
        "documents_cached": report.documents_cached,
        "chunks": report.chunks,
        "chunks_cached": report.cache_hits,
        "chunks_embedded": report.cache_misses,
        "stages_s": {k: round(v, 2) for k, v in report.seconds.items()},
    }


def run(
    root: Path, out: Path, cache: Path, options: Dict[str, Any], edit: Callable[[], Any]
) -> Tuple[Dict[str, Any], Dict[str, Any], Any]:
    def build() -> Tuple[float, vpack.BuildReport]:
        t0 = time.perf_counter()
        with vpack.build(root, out, cache=cache, **options) as r:
            return time.perf_counter() - t0, r.report

    first = build()
    edited = edit()
    second = build()
    return summary(*first), summary(*second), edited


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--chars", type=int, default=900)
    ap.add_argument("--docs", type=Path, help="an HTML documentation folder (copied, then edited)")
    ap.add_argument("--edit", type=int, default=8, help="--docs: pages to append a paragraph to")
    ap.add_argument("--embedder", choices=("model", "hash"), default="model")
    ap.add_argument(
        "--cache", type=Path, help="build cache folder to use (and keep); default: a fresh temporary one"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    embedder = vpack.make_embedder(args.embedder)
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "cache"
        out = Path(tmp) / "corpus.vpack"
        root = Path(tmp) / "corpus"
        if args.docs is not None:
            shutil.copytree(args.docs, root)
            options: Dict[str, Any] = {"include": ("**/*.html",), "embedder": embedder}
            first, second, edited = run(root, out, cache, options, lambda: edit_pages(root, args.edit))
            corpus: Dict[str, Any] = {"docs": str(args.docs), "edited": edited}
        else:
            make_corpus(root, args.files, args.chars)
            options = {"chunk_size": 1000, "chunk_overlap": 0, "embedder": embedder}

            def edit_one() -> List[str]:
                files = sorted(root.rglob("*.txt"))
                files[len(files) // 2].write_text(
                    "An edited document about reading files line by line.\n", encoding="utf-8"
                )
                return [str(files[len(files) // 2].relative_to(root))]

            first, second, edited = run(root, out, cache, options, edit_one)
            corpus = {"files": args.files, "edited": edited}
    result = {
        **corpus,
        "embedder": args.embedder,
        "first_build": first,
        "rebuild": second,
        "speedup": round(first["total_s"] / second["total_s"], 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name in ("first_build", "rebuild"):
        r = result[name]
        stages = ", ".join(f"{k} {v}" for k, v in r["stages_s"].items())
        print(
            f"{name:>11}: {r['total_s']} s; {r['documents']} documents ({r['documents_cached']} from the "
            f"cache), {r['chunks']} chunks ({r['chunks_cached']} cached, {r['chunks_embedded']} embedded)"
        )
        print(f"{'':>11}  {stages}")
    print(f"{'speedup':>11}: {result['speedup']}x; edited {', '.join(result['edited'])}")


if __name__ == "__main__":
    main()
