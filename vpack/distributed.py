"""Distributed builds on Ray Data: ``vpack.build(..., engine="ray", shards=N)`` and
``vpack build DIR -o OUT --engine ray``.

The build is the local one (:mod:`vpack.pipeline`) cut into ``shards`` partitions:

1. read, transform and chunk: one Ray task per partition runs the local stages
   (``_Stages``) over :func:`partition` of the source, the documents whose path (id)
   hashes to that partition (:func:`shard_of`, sha256, stable across machines and runs);
2. embed: an actor pool (``map_batches`` with a class) that creates the embedder once
   per actor and embeds batches of chunks from any partition, through the embedding
   cache as locally; a killed actor is restarted by Ray and its batch retried;
3. write: per partition (``groupby("shard").map_groups``), the chunks in their local
   order (document order of the walk, then chunk order) go to the same native
   :class:`~vpack.PackBuilder` in the same batches, with the same manifest, so shard
   ``i`` is byte-identical to ``vpack.build(partition(source, i, N), ...)`` run locally;
4. the pack set file (:func:`vpack.write_set`) names the shards in partition order.

Rebuilding into the same output rewrites only the shards whose inputs changed: beside
the set file, a build record (:func:`record_path`, JSON) keeps for each shard the
fingerprint of its inputs (:func:`inputs_fingerprint`: the build's settings and, in
order, every document of its partition with its text and metadata, and the inputs
skipped) and the fingerprint of the shard file written (as in the set file). The next
build's read task hashes its partition's documents first; when that fingerprint is the
recorded one and the shard file is still the one recorded and verifies whole, the shard
is kept untouched (not transformed, chunked, embedded nor written again), and its
counts come from the record.

Ray is imported only here, and only when a Ray build runs: ``pip install
"vpack-search[ray]"``. Shards are written by the workers to the output's folder, which
must therefore be reachable at the same path from every node (a shared filesystem) on a
multi-node cluster.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import registry
from ._native import VERSION
from .builder import IndexOption, PackBuilder
from .cache import CachedEmbedder
from .errors import InvalidArgumentError, VPackError
from .pack import open as open_pack
from .pack import write_set
from .pipeline import (
    DEFAULT_BATCH_SIZE,
    FOLDER_INCLUDE,
    BuildReport,
    BuildResult,
    EmptyBuildError,
    _describe,
    _document_limit,
    _Stages,
    check_output,
    count_into,
    default_transformers,
    make_chunker,
    make_embedder,
    make_manifest,
    open_cache,
    with_lexical,
)
from .plugins.base import Chunker, Document, Embedder, Skipped, Source, Transformer
from .plugins.sources import DirectorySource, IterableSource
from .progress import Progress

RAY_EXTRA_HINT = 'Ray builds need Ray Data: pip install "vpack-search[ray]"'


def import_ray() -> Any:
    """The ``ray`` module (with ``ray.data``), or an ImportError naming the extra."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ImportError(f"{RAY_EXTRA_HINT} ({exc})") from exc
    return ray


def shard_of(key: str, shards: int) -> int:
    """The partition of a document: the first 8 bytes of the sha256 of its id (for files,
    the path relative to the source folder) modulo ``shards``. The same on any machine,
    Python or run (unlike ``hash()``)."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def _check_partition(shard: int, shards: int) -> None:
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    if not 0 <= shard < shards:
        raise ValueError(f"shard must be in 0..{shards - 1}, got {shard}")


class DirectoryPartition(DirectorySource):
    """The files of a folder that fall in partition ``shard`` of ``shards``: the others are
    not read at all (nor reported when skipped). Folder-level skips (an unreadable
    folder) are reported by every partition."""

    def __init__(self, root: os.PathLike[str] | str, *args: Any, shard: int, shards: int, **kw: Any) -> None:
        _check_partition(shard, shards)
        super().__init__(root, *args, **kw)
        self.shard, self.shards = shard, shards

    def _selected(self, rel: str) -> bool:
        return super()._selected(rel) and shard_of(rel, self.shards) == self.shard

    def describe(self) -> Mapping[str, Any]:
        return {**super().describe(), "shard": self.shard, "shards": self.shards}


class Partition:
    """The documents of any source whose id falls in partition ``shard`` of ``shards``
    (the source is read whole; skipped inputs are kept when their path falls there)."""

    def __init__(self, source: Source, shard: int, shards: int) -> None:
        _check_partition(shard, shards)
        self.source, self.shard, self.shards = source, shard, shards
        self.skipped: List[Skipped] = []
        if hasattr(source, "max_document_size"):
            self.max_document_size = source.max_document_size

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name == "max_document_size" and hasattr(self.source, name):
            setattr(self.source, name, value)

    def describe(self) -> Mapping[str, Any]:
        return {**self.source.describe(), "shard": self.shard, "shards": self.shards}

    def documents(self) -> Iterator[Document]:
        self.skipped = []
        for doc in self.source.documents():
            self.skipped = [s for s in self.source.skipped if shard_of(s.path, self.shards) == self.shard]
            if shard_of(str(doc.id), self.shards) == self.shard:
                yield doc
        self.skipped = [s for s in self.source.skipped if shard_of(s.path, self.shards) == self.shard]


def partition(source: Union[Source, os.PathLike[str], str], shard: int, shards: int) -> Source:
    """Partition ``shard`` of ``shards`` of ``source`` (a folder, a DirectorySource or any
    Source): what a Ray build writes to shard ``shard``. A local ``vpack.build`` of it
    writes a pack byte-identical to that shard (same other settings)."""
    if isinstance(source, (str, os.PathLike)):
        source = DirectorySource(source)
    if type(source) is DirectorySource:
        return DirectoryPartition(
            source.root,
            source.include,
            source.exclude,
            encoding=source.encoding,
            max_document_size=source.max_document_size,
            shard=shard,
            shards=shards,
        )
    return Partition(source, shard, shards)


def shard_paths(output: os.PathLike[str] | str, shards: int) -> List[Path]:
    """The shard files of the pack set ``output``: beside it, ``<stem>-00000-of-00004.vpack``."""
    out = Path(output)
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return [out.parent / f"{stem}-{i:05d}-of-{shards:05d}.vpack" for i in range(shards)]


#: The build record beside a set file (see :func:`record_path`).
RECORD_FORMAT = "vpack-set-build"
RECORD_VERSION = 1
_PACK_MAGIC = b"\x89VPACK\r\n"
_HEADER_LEN, _SECTION_ENTRY_LEN = 64, 32
_MAX_SECTIONS = 1024
#: What a record's shard entry holds (an entry without them is not used).
_RECORD_KEYS = ("path", "inputs", "fingerprint", "documents", "chunks", "characters", "tokens", "truncated")


def record_path(output: os.PathLike[str] | str) -> Path:
    """The build record of the pack set ``output``: ``<output>.build.json`` beside it.
    JSON, written atomically after the set file: ``{"format": "vpack-set-build",
    "version": 1, "shards": [{"path", "inputs", "fingerprint", "documents", "chunks",
    "characters", "tokens", "truncated", "skipped"}, ...]}``, one entry per shard in set
    order (``path`` relative to the set file's folder, ``fingerprint`` the shard's as
    the set file records it). Deleting it makes the next build rewrite every shard."""
    out = Path(output)
    return out.with_name(out.name + ".build.json")


def file_fingerprint(path: os.PathLike[str] | str) -> Optional[str]:
    """The fingerprint a set file records for the pack at ``path`` ("sha256:<hex>" of its
    64-byte header and its section table, which hold the file length and every
    section's CRC-32), read in O(1); None when there is no such file or it does not
    start as a pack."""
    try:
        with open(path, "rb") as f:
            head = f.read(_HEADER_LEN)
            if len(head) < _HEADER_LEN or head[:8] != _PACK_MAGIC:
                return None
            sections = int.from_bytes(head[12:16], "little")
            if sections > _MAX_SECTIONS:  # a damaged header: not the pack recorded
                return None
            table = f.read(sections * _SECTION_ENTRY_LEN)
    except OSError:
        return None
    if len(table) != sections * _SECTION_ENTRY_LEN:
        return None
    return "sha256:" + hashlib.sha256(head + table).hexdigest()


def _field(h: Any, value: Any) -> None:
    """One length-prefixed field into the hash ``h`` (so no two inputs run together)."""
    if not isinstance(value, str):
        value = json.dumps(value, sort_keys=True, default=repr)
    data = value.encode("utf-8", "surrogatepass")
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


class _Digest:
    """A source whose documents are hashed, in order, as they go by: the id, the text and
    the metadata of each; then the inputs it skipped. :meth:`inputs` is the partition's
    fingerprint (see :func:`inputs_fingerprint`)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.hash = hashlib.sha256()

    @property
    def skipped(self) -> List[Skipped]:
        return self.source.skipped

    @skipped.setter
    def skipped(self, value: List[Skipped]) -> None:
        self.source.skipped = value

    def describe(self) -> Mapping[str, Any]:
        return self.source.describe()

    def documents(self) -> Iterator[Document]:
        for doc in self.source.documents():
            _field(self.hash, str(doc.id))
            _field(self.hash, doc.text if isinstance(doc.text, str) else repr(doc.text))
            meta = doc.metadata
            _field(self.hash, dict(meta) if isinstance(meta, Mapping) else repr(meta))
            yield doc

    def inputs(self, settings: str) -> str:
        h = self.hash.copy()
        _field(h, [[s.path, s.reason] for s in self.source.skipped])
        _field(h, settings)
        return "sha256:" + h.hexdigest()


def inputs_fingerprint(source: Source, settings: str) -> str:
    """The fingerprint of a partition's inputs: ``settings`` (:func:`_settings`, every
    build setting that can change a shard's bytes) and the partition's documents in
    order, each its id, text and metadata, and the inputs the source skipped. Reads the
    whole partition (no transform, chunk or embedding)."""
    digest = _Digest(source)
    for _ in digest.documents():
        pass
    return digest.inputs(settings)


def _settings(spec: _Spec, source: Source) -> str:
    """Every setting of a build that can change a shard's bytes, as canonical JSON: the
    vpack version, the shard count, the source's and the plugins' descriptions, the
    embedder's (which names the model file's sha256) and the pack settings."""
    chunker = spec.chunker if isinstance(spec.chunker, str) else _describe(spec.chunker)
    return json.dumps(
        {
            "vpack": VERSION,
            "shards": spec.shards,
            "source": dict(source.describe()),
            "transformers": [_describe(t) for t in spec.transformers],
            "chunker": chunker,
            "chunk_options": spec.chunk_options,
            "embedder": spec.embedder_description,
            "dimension": spec.dimension,
            "metric": spec.metric,
            "batch_size": spec.batch_size,
            "index": spec.index,
            "config": spec.config,
            "max_document_size": spec.max_document_size,
            "strict": spec.strict,
        },
        sort_keys=True,
        default=repr,
    )


def _load_record(output: Path) -> Dict[str, Dict[str, Any]]:
    """The previous build's record of ``output``'s shards by path, or {} when there is
    none or it cannot be read (then every shard is written)."""
    try:
        record = json.loads(record_path(output).read_text(encoding="utf-8"))
        if record.get("format") != RECORD_FORMAT or record.get("version") != RECORD_VERSION:
            return {}
        entries = {}
        for e in record["shards"]:
            if all(k in e for k in _RECORD_KEYS) and isinstance(e.get("skipped"), list):
                entries[str(e["path"])] = dict(e)
        return entries
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_record(output: Path, entries: List[Dict[str, Any]]) -> None:
    """Writes the build record atomically (temporary file, fsync, rename), after the set."""
    path = record_path(output)
    text = json.dumps({"format": RECORD_FORMAT, "version": RECORD_VERSION, "shards": entries}, indent=1)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".build.json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _intact(path: str) -> bool:
    """Whether the pack at ``path`` opens and every checksum in it holds."""
    try:
        with open_pack(path, verify=True):
            return True
    except (VPackError, OSError):
        return False


def _named_embedder(name: str, **options: Any) -> Embedder:
    if name in ("model", "hash"):
        return make_embedder(name, **options)
    made: Embedder = registry.create("embedder", name, **options)
    return made


def embedder_factory(
    embedder: Union[str, Embedder, Callable[[], Embedder]], **options: Any
) -> Callable[[], Embedder]:
    """A picklable zero-argument callable that makes the embedder in a Ray worker: from a
    registry name (with ``options``), a factory, or a picklable Embedder object."""
    if isinstance(embedder, str):
        return functools.partial(_named_embedder, embedder, **options)
    if isinstance(embedder, Embedder):
        return functools.partial(_same, embedder)
    if callable(embedder):
        return embedder
    raise TypeError(f"embedder must be a name, an Embedder or a factory, got {type(embedder).__name__}")


def _same(embedder: Embedder) -> Embedder:
    return embedder


def _close(obj: object) -> None:
    close = getattr(obj, "close", None)
    if callable(close):
        close()


@dataclass
class _Spec:
    """Everything the workers need, pickled once into each task and actor."""

    source: Source
    shards: int
    transformers: Sequence[Transformer]
    chunker: Union[str, Chunker]
    chunk_options: Dict[str, Any]
    embedder: Callable[[], Embedder]
    cache: Any
    strict: bool
    max_document_size: Union[int, str, None]
    metric: str
    batch_size: int
    index: IndexOption
    config: Optional[Dict[str, Any]]
    paths: List[str]
    embedder_description: Dict[str, Any] = field(default_factory=dict)
    dimension: int = 0
    #: :func:`_settings` of this build, part of every shard's inputs fingerprint.
    settings: str = ""
    #: The inputs fingerprint recorded for shards whose file is still the one recorded:
    #: kept when their inputs fingerprint is the same again.
    previous: Dict[int, str] = field(default_factory=dict)


def _read_shard(row: Dict[str, Any], spec: _Spec) -> List[Dict[str, Any]]:
    """Ray task: partition ``row["id"]`` read, transformed and chunked by the local
    stages, as rows (shard, seq, text, embed text, meta JSON); then one summary row (seq
    -1) with the partition's inputs fingerprint. A shard whose inputs fingerprint is the
    one recorded and whose file verifies whole is kept: its summary row alone, marked
    ``kept``."""
    shard = int(row["id"])
    src = partition(spec.source, shard, spec.shards)
    limit = _document_limit(src, spec.max_document_size)
    seconds: Dict[str, float] = {}
    if shard in spec.previous:
        started = time.perf_counter()
        inputs = inputs_fingerprint(src, spec.settings)
        seconds["read"] = time.perf_counter() - started
        if inputs == spec.previous[shard]:
            started = time.perf_counter()
            intact = _intact(spec.paths[shard])
            seconds["verify"] = time.perf_counter() - started
            if intact:
                kept = {"kept": True, "inputs": inputs, "seconds": seconds}
                return [{"shard": shard, "seq": -1, "text": "", "embed": "", "meta": json.dumps(kept)}]
    digest = _Digest(src)
    report = BuildReport(seconds=seconds)
    stages = _Stages(digest, report, spec.strict, Progress(enabled=False), limit)
    emb: Optional[Embedder] = None
    if isinstance(spec.chunker, str):
        emb = spec.embedder()  # a chunk size in tokens needs the embedder's tokenizer
    try:
        chunker = make_chunker(spec.chunker, emb, **spec.chunk_options)
        rows: List[Dict[str, Any]] = []
        for seq, c in enumerate(stages.chunks(stages.documents(spec.transformers), chunker)):
            # What is embedded (the text with its context, when the chunker gives one) and
            # what is stored, as in the local pipeline.
            embed = c.text if c.embed_text is None else c.embed_text
            rows.append(
                {"shard": shard, "seq": seq, "text": c.text, "embed": embed, "meta": json.dumps(c.metadata)}
            )
    finally:
        _close(emb)
    summary = {
        "kept": False,
        "inputs": digest.inputs(spec.settings),
        "documents": report.documents,
        "characters": report.characters,
        "skipped": [asdict(s) for s in list(src.skipped) + stages.dropped],
        "chunker": dict(chunker.describe()),
        "source": dict(src.describe()),
        "transformers": [_describe(t) for t in spec.transformers],
        "seconds": report.seconds,
    }
    rows.append({"shard": shard, "seq": -1, "text": "", "embed": "", "meta": json.dumps(summary)})
    return rows


class _EmbedActor:
    """Ray actor: makes the embedder once, then embeds batches through the embedding
    cache. Ray Data calls the actor from other threads than the one that made it, and a
    SQLite connection serves only the thread that opened it: the cache is opened in the
    thread that embeds (once per thread)."""

    def __init__(self, spec: _Spec) -> None:
        self.inner = spec.embedder()
        self.cache = spec.cache
        self.report = BuildReport(max_tokens=getattr(self.inner, "max_tokens", None))
        self.count_tokens = getattr(self.inner, "token_counts", None)
        self.local = threading.local()

    @property
    def embedder(self) -> Embedder:
        made: Optional[Embedder] = getattr(self.local, "embedder", None)
        if made is None:
            store = open_cache(self.cache, self.inner)
            made = CachedEmbedder(self.inner, store) if store is not None else self.inner
            self.local.embedder = made
        return made

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        seq = batch["seq"]
        n = len(seq)
        vectors = np.zeros((n, self.inner.dimension), dtype=np.float32)
        # tokens, truncated, cache hits, cache misses, embedding microseconds
        stats = np.zeros((n, 5), dtype=np.int64)
        real = np.flatnonzero(seq >= 0)
        if len(real):
            texts = [str(batch["embed"][i]) for i in real]
            before = (self.report.tokens, self.report.truncated)
            count_into(self.report, self.count_tokens, texts)
            embedder = self.embedder
            hits, misses = getattr(embedder, "hits", 0), getattr(embedder, "misses", 0)
            started = time.perf_counter()
            vectors[real] = embedder.embed(texts)
            micros = int((time.perf_counter() - started) * 1e6)
            stats[real[0]] = (
                self.report.tokens - before[0],
                self.report.truncated - before[1],
                getattr(embedder, "hits", 0) - hits,
                getattr(embedder, "misses", 0) - misses,
                micros,
            )
        return {**batch, "vector": vectors, "stats": stats}


def _write_shard(batch: Dict[str, np.ndarray], spec: _Spec) -> Dict[str, np.ndarray]:
    """Ray task: one partition's chunks, in local order, into the native builder."""
    started = time.perf_counter()
    order = np.argsort(batch["seq"], kind="stable")
    seq = batch["seq"][order]
    shard = int(batch["shard"][0])
    summary = json.loads(str(batch["meta"][order[0]]))
    if seq[0] != -1:
        raise RuntimeError(f"shard {shard}: its summary row is missing")
    if summary["kept"]:
        return {"shard": np.array([shard]), "summary": np.array([json.dumps(summary)], dtype=object)}
    rows = order[1:]
    builder = PackBuilder(spec.dimension, spec.metric, index=spec.index)
    try:
        for lo in range(0, len(rows), spec.batch_size):
            part = rows[lo : lo + spec.batch_size]
            builder.add(
                [str(batch["text"][i]) for i in part],
                np.ascontiguousarray(batch["vector"][part], dtype=np.float32),
                [json.loads(str(batch["meta"][i])) for i in part],
            )
        manifest = make_manifest(
            spec.embedder_description,
            summary["chunker"],
            summary["source"],
            summary["documents"],
            summary["transformers"],
            spec.config,
        )
        path = spec.paths[shard]
        builder.finish(manifest, path).close()
    finally:
        builder.close()
    summary.pop("chunker"), summary.pop("source"), summary.pop("transformers")
    summary["chunks"] = len(rows)
    summary["stats"] = [int(x) for x in batch["stats"].sum(axis=0)]
    summary["seconds"]["write"] = time.perf_counter() - started
    return {"shard": np.array([shard]), "summary": np.array([json.dumps(summary)], dtype=object)}


def _source(source: Any, include: Sequence[str], exclude: Sequence[str]) -> Source:
    if isinstance(source, Source):
        return source
    if isinstance(source, (str, os.PathLike)):
        return DirectorySource(source, include, exclude)
    return IterableSource(list(source))


def build(
    source: Union[os.PathLike[str], str, Source, Iterable[Any]],
    output: Union[os.PathLike[str], str],
    *,
    shards: int = 4,
    address: Optional[str] = None,
    actors: Optional[int] = None,
    include: Sequence[str] = FOLDER_INCLUDE,
    exclude: Sequence[str] = (),
    transformers: Optional[Sequence[Union[str, Transformer]]] = None,
    chunker: Union[str, Chunker] = "section",
    chunk_size: Optional[int] = None,
    chunk_overlap: Optional[int] = None,
    chunk_unit: Optional[str] = None,
    chunker_options: Optional[Mapping[str, Any]] = None,
    embedder: Union[str, Embedder, Callable[[], Embedder]] = "model",
    embedder_options: Optional[Mapping[str, Any]] = None,
    metric: str = "cosine",
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache: Union[bool, os.PathLike[str], str, None] = None,
    strict: bool = False,
    progress: Union[bool, Progress, None] = None,
    config: Optional[Mapping[str, Any]] = None,
    max_document_size: Union[int, str, None] = None,
    index: IndexOption = None,
    allow_empty: bool = False,
    lexical: Union[bool, Mapping[str, Any]] = True,
) -> BuildResult:
    """A Ray build (see the module's documentation): writes ``shards`` shard packs beside
    ``output`` (:func:`shard_paths`) and the pack set file ``output`` naming them, and
    returns the report and the set, open. ``address`` is the Ray cluster to join (as for
    ``ray.init``; None: the one this process is connected to, else what ``ray.init()``
    finds or starts). ``actors``: embedding actors (default: the cluster's CPUs less
    one, at least 1, at most ``shards``; never more than the CPUs less one, so reading
    and writing can run). ``embedder`` is a registry name (with ``embedder_options``), a
    zero-argument factory, or a picklable Embedder; each actor makes its own. The other
    arguments are those of :func:`vpack.build`."""
    if output is None or not isinstance(output, (str, os.PathLike)):
        raise ValueError("a Ray build writes files: give output, the pack set file to write")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if not isinstance(shards, int) or shards < 1:
        raise ValueError(f"shards must be a positive integer, got {shards!r}")
    out = check_output(output)
    index = with_lexical(index, lexical)
    ray = import_ray()
    started = time.perf_counter()
    src = _source(source, include, exclude)
    factory = embedder_factory(embedder, **dict(embedder_options or {}))
    probe = factory()  # the embedder's identity and dimension, for every shard's manifest
    try:
        description, dimension = dict(probe.describe()), int(probe.dimension)
        max_tokens = getattr(probe, "max_tokens", None)
    finally:
        if not (isinstance(embedder, Embedder) and probe is embedder):
            _close(probe)
    steps: List[Transformer] = (
        default_transformers()
        if transformers is None
        else [registry.create("transformer", t) if isinstance(t, str) else t for t in transformers]
    )
    paths = shard_paths(out, shards)
    spec = _Spec(
        source=src,
        shards=shards,
        transformers=steps,
        chunker=chunker,
        chunk_options={
            **dict(chunker_options or {}),
            "size": chunk_size,
            "overlap": chunk_overlap,
            "unit": chunk_unit,
        },
        embedder=factory,
        cache=cache,
        strict=strict,
        max_document_size=max_document_size,
        metric=metric,
        batch_size=batch_size,
        index=index,
        config=None if config is None else dict(config),
        paths=[str(p) for p in paths],
        embedder_description=description,
        dimension=dimension,
    )
    spec.settings = _settings(spec, src)
    record = _load_record(out)
    for i, path in enumerate(paths):
        entry = record.get(path.name)
        if entry is not None and file_fingerprint(path) == entry.get("fingerprint"):
            spec.previous[i] = str(entry.get("inputs"))
    started_ray = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        started_ray = True
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress is True
        # Each embedding actor holds a CPU for the whole build: with every CPU held by
        # one, no read or write task could run. At most the CPUs less one, then.
        cpus = int(ray.cluster_resources().get("CPU", 1))
        most = max(1, cpus - 1)
        actors = max(1, min(shards, most)) if actors is None else max(1, min(actors, most))
        ds = (
            ray.data.range(shards, override_num_blocks=shards)
            .flat_map(functools.partial(_read_shard, spec=spec))
            .map_batches(
                _EmbedActor,
                fn_constructor_kwargs={"spec": spec},
                batch_size=batch_size,
                batch_format="numpy",
                # Ray Data restarts a dead actor and retries its batch by default
                # (max_restarts=-1, max_task_retries=-1): a killed worker loses nothing.
                compute=ray.data.ActorPoolStrategy(size=actors),
                num_cpus=1,
            )
            .groupby("shard", **_partitions(ray, shards))
            .map_groups(functools.partial(_write_shard, spec=spec), batch_format="numpy")
        )
        results = sorted(ds.take_all(), key=lambda r: int(r["shard"]))
    finally:
        if started_ray:
            ray.shutdown()
    report, entries = _report(results, description, max_tokens, [record.get(p.name, {}) for p in paths])
    if report.chunks == 0 and not allow_empty:
        for p in paths:
            p.unlink(missing_ok=True)
        where = f"in {src.root}" if isinstance(src, DirectorySource) else "from the source"
        raise EmptyBuildError(
            f"no documents to pack {where} in any of the {shards} shards; --allow-empty "
            "(allow_empty = true) writes an empty pack",
            InvalidArgumentError.code,
        )
    with _timer(report, "set"):
        write_set(out, paths)
        written = json.loads(out.read_text(encoding="utf-8"))["shards"]
        for entry, listed in zip(entries, written):
            entry["path"], entry["fingerprint"] = listed["path"], listed["fingerprint"]
        _write_record(out, entries)
    _remove_stale(out, record, paths)
    report.output = str(out)
    report.shards = [str(p) for p in paths]
    report.kept = [str(p) for p, e in zip(paths, results) if json.loads(str(e["summary"]))["kept"]]
    report.size_bytes = out.stat().st_size + sum(p.stat().st_size for p in paths)
    report.seconds["total"] = time.perf_counter() - started
    return BuildResult(report=report, pack=open_pack(out))


def _remove_stale(out: Path, record: Mapping[str, Any], paths: Sequence[Path]) -> None:
    """Deletes the shards of the previous build (named in its record, with this set's
    naming) that the new set does not name: those of a build with another shard count."""
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    ours = re.compile(re.escape(stem) + r"-[0-9]{5}-of-[0-9]{5}\.vpack")
    current = {p.name for p in paths}
    for name in record:
        if name not in current and ours.fullmatch(name):
            (out.parent / name).unlink(missing_ok=True)


def _partitions(ray: Any, shards: int) -> Dict[str, Any]:
    """``num_partitions`` for the shuffle where Ray has it (one per shard instead of
    Ray's default 200; older Ray Data has no such argument)."""
    import inspect

    if "num_partitions" in inspect.signature(ray.data.Dataset.groupby).parameters:
        return {"num_partitions": shards}
    return {}


class _timer:
    def __init__(self, report: BuildReport, stage: str) -> None:
        self.report, self.stage = report, stage

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.report.seconds[self.stage] = time.perf_counter() - self.t0


@dataclass
class SetBuildReport(BuildReport):
    """A Ray build's report: :class:`~vpack.pipeline.BuildReport`, plus ``kept``, the
    shards left as they were because their inputs and settings did not change since
    the build recorded beside the set file (their counts come from that record)."""

    kept: List[str] = field(default_factory=list)


def _report(
    results: Sequence[Mapping[str, Any]],
    embedder: Dict[str, Any],
    max_tokens: Any,
    recorded: Sequence[Mapping[str, Any]],
) -> Tuple[SetBuildReport, List[Dict[str, Any]]]:
    """The shards' summaries added up (kept shards' from their ``recorded`` entries),
    skips reported by several shards (a folder) once; and the new record's entries.
    ``seconds`` are the stages' times summed over the workers (``total`` is wall time)."""
    report = SetBuildReport(embedder=embedder, max_tokens=max_tokens)
    entries: List[Dict[str, Any]] = []
    seen = set()
    for row in results:
        s = json.loads(str(row["summary"]))
        for k, v in s["seconds"].items():
            report.seconds[k] = report.seconds.get(k, 0.0) + v
        if s["kept"]:
            entry = {**recorded[int(row["shard"])], "inputs": s["inputs"]}
        else:
            tokens, truncated, hits, misses, micros = s["stats"]
            report.seconds["embed"] = report.seconds.get("embed", 0.0) + micros / 1e6
            report.cache_hits += hits
            report.cache_misses += misses
            entry = {
                "inputs": s["inputs"],
                "documents": s["documents"],
                "chunks": s["chunks"],
                "characters": s["characters"],
                "tokens": tokens,
                "truncated": truncated,
                "skipped": s["skipped"],
            }
        entries.append(entry)
        report.documents += entry["documents"]
        report.chunks += entry["chunks"]
        report.characters += entry["characters"]
        report.tokens += entry["tokens"]
        report.truncated += entry["truncated"]
        for item in entry["skipped"]:
            key = (item["path"], item["reason"])
            if key not in seen:
                seen.add(key)
                report.skipped.append(Skipped(**item))
    return report, entries
