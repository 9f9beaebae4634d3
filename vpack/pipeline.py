"""The build pipeline: source -> transformers -> chunker -> embed -> pack, streamed in
fixed-size batches so memory on the Python side does not grow with the corpus, and
within one document bounded by ``max_document_size`` (chunks are streamed too).

No single input can stop a build: a document that is too large, whose text is not
valid Unicode, whose metadata cannot be stored as JSON, or that a transformer fails on
is skipped and listed in the report (``strict`` makes the first one fatal instead).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Union

from . import registry
from ._native import VERSION
from .builder import IndexOption, PackBuilder
from .cache import CachedEmbedder, EmbeddingCache, default_cache_dir
from .config import BuildConfig, effective, parse_size
from .errors import InvalidArgumentError, PackIOError
from .incremental import MAX_CACHED_CHARACTERS, DocumentCache, Keyed, Reused, document_key, encode_chunk
from .pack import Pack
from .plugins.base import (
    DEFAULT_MAX_DOCUMENT_SIZE,
    Chunk,
    Chunker,
    Document,
    Embedder,
    Output,
    Skipped,
    Source,
    Transformer,
    invalid_unicode,
    unstorable,
)
from .plugins.embedders import HashEmbedder, OnnxEmbedder
from .plugins.outputs import FileOutput
from .plugins.sources import DEFAULT_INCLUDE, DirectorySource, IterableSource, too_large
from .plugins.transformers import HtmlToText, MarkdownToText, NormalizeWhitespace
from .progress import Progress

DEFAULT_BATCH_SIZE = 256


@dataclass
class BuildReport:
    """What a build did. ``output`` is the pack's path, or None for an in-memory build."""

    documents: int = 0
    chunks: int = 0
    characters: int = 0
    #: Tokens in the embedder's units (model word pieces, or words for hash), before
    #: truncation; ``truncated`` counts chunks longer than the model's limit, embedded
    #: from their first ``max_tokens`` tokens only.
    tokens: int = 0
    truncated: int = 0
    #: Chunks whose vectors came from the embedding cache, and chunks embedded afresh.
    cache_hits: int = 0
    cache_misses: int = 0
    #: Documents unchanged since a build with the same settings and cache: their chunks
    #: came from the cache, without transforming or chunking them (see vpack.incremental).
    documents_cached: int = 0
    max_tokens: Optional[int] = None
    embedder: Dict[str, Any] = field(default_factory=dict)
    skipped: List[Skipped] = field(default_factory=list)
    #: Seconds per stage, in pipeline order (see :data:`STAGES`), then ``total``.
    seconds: Dict[str, float] = field(default_factory=dict)
    output: Optional[str] = None
    size_bytes: int = 0
    #: A Ray build's shard packs, in the set's order (``output`` is then the set file).
    shards: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


@dataclass
class BuildResult:
    """The report and the built pack, open. Close the pack (or use ``with``) when done."""

    report: BuildReport
    pack: Pack

    def __enter__(self) -> BuildResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pack.close()


def _batches(chunks: Iterable[Chunk], size: int) -> Iterator[List[Chunk]]:
    batch: List[Chunk] = []
    for chunk in chunks:
        batch.append(chunk)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


#: The stages a local build times: reading the source; hashing documents and looking up
#: (and storing) their chunks in the cache; the transformers; the chunker; counting the
#: embedded texts' tokens (for the report); embedding (cache lookups included); adding
#: to the index; writing the pack.
STAGES = ("read", "hash", "transform", "chunk", "tokens", "embed", "index", "write")


class _Timer:
    def __init__(self, seconds: Dict[str, float], stage: str) -> None:
        self.seconds, self.stage = seconds, stage

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.t0
        self.seconds[self.stage] = self.seconds.get(self.stage, 0.0) + elapsed


class StrictBuildError(InvalidArgumentError):
    """Raised by a ``strict`` build at the first input it would otherwise skip (an
    :class:`~vpack.errors.InvalidArgumentError`, code 2, and so a ValueError)."""

    def __init__(self, skipped: Skipped) -> None:
        super().__init__(f"{skipped.path}: {skipped.reason} (strict build)", InvalidArgumentError.code)
        self.skipped = skipped


class EmptyBuildError(InvalidArgumentError):
    """Raised when a build found nothing to pack (no document, or no text in any), unless
    ``allow_empty`` is set: an :class:`~vpack.errors.InvalidArgumentError`, code 2. The
    message names the source (for a folder: the folder and the include and exclude
    globs) and the first inputs that were skipped."""


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word if count == 1 else word + 's'}"


def _empty_message(source: Source, report: BuildReport, skipped: Sequence[Skipped]) -> str:
    if isinstance(source, DirectorySource):
        where = f"in {source.root}"
        what = f"files matching {' '.join(source.include)}"
        if source.exclude:
            what += f" (excluding {' '.join(source.exclude)})"
    else:
        described = dict(source.describe())
        where = (
            f"in {described['path']}" if described.get("path") else f"from the {described.get('kind')} source"
        )
        what = "documents"
    if report.documents:
        text = f"no chunks to pack: the {_plural(report.documents, 'document')} {where} left no text to chunk"
    else:
        text = f"no documents to pack: no {what} {where}"
        if skipped:
            text = f"no documents to pack {where}: every input was skipped"
    if skipped:
        shown = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:3])
        more = f"; and {len(skipped) - 3:,} more" if len(skipped) > 3 else ""
        text += f" ({_plural(len(skipped), 'input')} skipped: {shown}{more})"
    return text + "; --allow-empty (allow_empty = true) writes an empty pack"


def check_output(path: Union[os.PathLike[str], str]) -> Path:
    """The pack's path, when a pack can be written there: its folder exists and it is not
    a folder itself. Checked before a build starts, so a typo does not cost the build."""
    out = Path(path)
    folder = out.parent
    if out.is_dir():
        raise PackIOError(f"cannot write the pack to {out}: it is a directory", PackIOError.code)
    if not folder.exists():
        raise PackIOError(f"cannot write {out}: its folder {folder} does not exist", PackIOError.code)
    if not folder.is_dir():
        raise PackIOError(f"cannot write {out}: {folder} is not a folder", PackIOError.code)
    return out


def _text_too_large(text: str, limit: int) -> Optional[str]:
    """Why ``text`` is over ``limit`` bytes as UTF-8, or None; encodes it only when its
    length alone cannot tell."""
    if len(text) > limit:
        return too_large(len(text), limit, at_least=not text.isascii())
    if text.isascii() or len(text) * 4 <= limit:
        return None
    size = len(text.encode("utf-8", "surrogatepass"))
    return too_large(size, limit) if size > limit else None


def _unusable_text(doc: Document, limit: int) -> Optional[str]:
    """Why a document from a source cannot be used as it is, or None."""
    if not isinstance(doc.text, str):
        return f"text is not a string ({type(doc.text).__name__})"
    reason = _text_too_large(doc.text, limit)
    if reason is None:
        bad = invalid_unicode(doc.text)
        reason = None if bad is None else f"text has a {bad}"
    return reason


class _Stages:
    """The document and chunk streams of one build, with its report, skip handling
    (collected, or fatal when strict) and progress display."""

    def __init__(
        self,
        source: Source,
        report: BuildReport,
        strict: bool,
        progress: Progress,
        max_document_size: int,
        reuse: Optional[DocumentCache] = None,
    ) -> None:
        self.source, self.report, self.strict, self.progress = source, report, strict, progress
        self.max_document_size = max_document_size
        self.reuse = reuse
        self.dropped: List[Skipped] = []
        self.embedded = 0

    def _check_skips(self) -> None:
        if self.strict and (self.source.skipped or self.dropped):
            raise StrictBuildError((self.source.skipped + self.dropped)[0])

    def _transformed(self, doc: Document, transformers: Sequence[Transformer]) -> Union[Document, str]:
        """The document after the transformers, or why it was dropped."""
        for t in transformers:
            name = type(t).__name__
            try:
                out = t.transform(doc)
            except MemoryError:
                raise
            except Exception as exc:  # one document a plugin cannot handle is skipped, not fatal
                return f"{name} failed: {type(exc).__name__}: {exc}"
            if out is None:
                return f"no text left after {name}"
            doc = out
        meta = doc.metadata
        bad = unstorable(dict(meta)) if isinstance(meta, Mapping) else "metadata is not a mapping"
        if bad is not None:
            return f"metadata cannot be stored: {bad}"
        return doc

    def _cached(self, doc: Document) -> Union[Reused, bytes, None]:
        """The document's cached chunks, else the key to store them under (None: the
        build has no document cache, or the document cannot be cached)."""
        if self.reuse is None or not self.reuse.enabled:
            return None
        with _Timer(self.report.seconds, "hash"):
            key = document_key(doc)
            chunks = None if key is None else self.reuse.get(key)
        return key if chunks is None else Reused(chunks)

    def documents(self, transformers: Sequence[Transformer]) -> Iterator[Union[Document, Keyed, Reused]]:
        """The source's documents after the transformers; with a document cache, an
        unchanged document's cached chunks instead (:class:`~vpack.incremental.Reused`),
        and a changed one with the key to store its chunks under
        (:class:`~vpack.incremental.Keyed`)."""
        docs = iter(self.source.documents())
        while True:
            with _Timer(self.report.seconds, "read"):
                doc: Optional[Document] = next(docs, None)
            self._check_skips()
            if doc is None:
                return
            result: Union[Document, str, None] = _unusable_text(doc, self.max_document_size)
            key: Optional[bytes] = None
            if result is None:
                cached = self._cached(doc)
                if isinstance(cached, Reused):
                    self.report.documents += 1
                    self.report.documents_cached += 1
                    yield cached
                    continue
                key = cached
                with _Timer(self.report.seconds, "transform"):
                    result = self._transformed(doc, transformers)
            if isinstance(result, str):
                self.dropped.append(Skipped(str(doc.id), result))
                self._check_skips()
                continue
            del doc  # hold one copy of a document's text, not two
            self.report.documents += 1
            yield result if key is None else Keyed(result, key)

    def chunks(self, docs: Iterable[Union[Document, Keyed, Reused]], chunker: Chunker) -> Iterator[Chunk]:
        """Every document's chunks, streamed: a document's chunks are never all held
        (but for the document cache, which keeps them as JSON up to
        :data:`~vpack.incremental.MAX_CACHED_CHARACTERS`)."""
        seconds = self.report.seconds
        for item in docs:
            if isinstance(item, Reused):
                for reused in item.chunks:
                    self.report.chunks += 1
                    self.report.characters += len(reused.text)
                    yield reused
                self.show()
                continue
            doc, key = (item.document, item.key) if isinstance(item, Keyed) else (item, None)
            kept: Optional[List[str]] = None if key is None else []
            kept_size = 0
            pieces = iter(chunker.chunks(doc))
            while True:
                started = time.perf_counter()
                c = next(pieces, None)
                seconds["chunk"] = seconds.get("chunk", 0.0) + time.perf_counter() - started
                if c is None:
                    break
                self.report.chunks += 1
                self.report.characters += len(c.text)
                if kept is not None:
                    kept_size += len(c.text) + len(c.embed_text or "")
                    encoded = encode_chunk(c) if kept_size <= MAX_CACHED_CHARACTERS else None
                    if encoded is None:
                        kept = None
                    else:
                        kept.append(encoded)
                yield c
            if kept is not None and key is not None and self.reuse is not None:
                with _Timer(seconds, "hash"):
                    self.reuse.put(key, kept)
            self.show()

    def show(self, force: bool = False) -> None:
        """Feeds the progress display the counts so far."""
        seen = self.report.documents + len(self.source.skipped) + len(self.dropped)
        self.progress.update(self.report.documents, self.report.chunks, self.embedded, force, seen=seen)

    def embedded_some(self, count: int) -> None:
        self.embedded += count
        self.show()


def run(
    source: Source,
    *,
    chunker: Chunker,
    embedder: Embedder,
    transformers: Sequence[Transformer] = (),
    metric: str = "cosine",
    batch_size: int = DEFAULT_BATCH_SIZE,
    output: Union[os.PathLike[str], str, Output, None] = None,
    cache: Optional[EmbeddingCache] = None,
    strict: bool = False,
    progress: Union[bool, Progress, None] = None,
    config: Optional[Mapping[str, Any]] = None,
    max_document_size: Union[int, str, None] = None,
    index: IndexOption = None,
    allow_empty: bool = False,
) -> BuildResult:
    """Runs the pipeline with explicit plugins and returns the report and the pack (open;
    close it when done). ``output`` is a path (the pack is streamed into that file
    atomically) or an :class:`~vpack.plugins.base.Output` plugin. With
    ``cache``, vectors of texts already embedded by the same embedder are reused. Inputs
    that cannot be used are listed in the report, or with ``strict`` stop the build
    (:class:`StrictBuildError`). ``progress``: None draws a live progress line when
    stderr is a terminal; True always reports (a live line on a terminal, else a plain
    line every 30 s and at the end); False never; or a :class:`~vpack.progress.Progress`
    to draw with. A build that finds nothing to pack raises :class:`EmptyBuildError`
    unless ``allow_empty``. ``config`` (the effective build configuration) is stored in the
    manifest. ``max_document_size`` (bytes, or a size such as ``"64MiB"``) skips larger
    documents; it is handed to the source when the source has that attribute (so it
    does not read them at all). None: the source's own limit, else 64 MiB. ``index`` is
    the pack's search structure, as for :class:`~vpack.PackBuilder` (``"flat"``, the
    default, ``"hnsw"``, ``"auto"`` or a mapping with ``kind`` and HNSW parameters)."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if isinstance(output, (str, os.PathLike, FileOutput)):
        check_output(output.path if isinstance(output, FileOutput) else output)
    limit = _document_limit(source, max_document_size)
    report = BuildReport(seconds=dict.fromkeys(STAGES, 0.0))
    started = time.perf_counter()
    if isinstance(progress, Progress):
        meter = progress
    else:
        meter = Progress(enabled=progress)
        estimate = getattr(source, "estimate", None)
        if meter.enabled and callable(estimate):
            meter.total = estimate()
    reuse = DocumentCache.open(cache, transformers, chunker, embedder)
    stages = _Stages(source, report, strict, meter, limit, reuse)
    builder = PackBuilder(embedder.dimension, metric, index=index)
    count_tokens = getattr(embedder, "token_counts", None)
    report.max_tokens = getattr(embedder, "max_tokens", None)
    cached = CachedEmbedder(embedder, cache) if cache is not None else None
    if cached is not None:
        embedder = cached
        count_tokens = cached.token_counter()
    # Embedders that can report within a call (a model) move the progress line during
    # a batch; the others after each batch.
    stepwise = getattr(embedder, "embed_with_progress", None) if meter.enabled else None
    try:
        chunks = stages.chunks(stages.documents(transformers), chunker)
        for batch in _batches(chunks, batch_size):
            texts = [c.text for c in batch]
            # What is embedded: the chunk's embed_text when its chunker gave one (the
            # text with its context); the pack stores the clean text.
            embedded = [c.text if c.embed_text is None else c.embed_text for c in batch]
            with _Timer(report.seconds, "tokens"):
                count_into(report, count_tokens, embedded)
            with _Timer(report.seconds, "embed"):
                before = stages.embedded
                if callable(stepwise):
                    vectors = stepwise(embedded, stages.embedded_some)
                else:
                    vectors = embedder.embed(embedded)
            with _Timer(report.seconds, "index"):
                builder.add(texts, vectors, [c.metadata for c in batch])
            stages.embedded = before + len(batch)
            stages.show()
        stages.show(force=True)
        if reuse is not None:
            with _Timer(report.seconds, "hash"):
                reuse.flush()
        if report.chunks == 0 and not allow_empty:
            raise EmptyBuildError(
                _empty_message(source, report, list(source.skipped) + stages.dropped),
                InvalidArgumentError.code,
            )
        if cached is not None:
            report.cache_hits, report.cache_misses = cached.hits, cached.misses
        report.embedder = dict(embedder.describe())
        manifest = make_manifest(
            report.embedder,
            dict(chunker.describe()),
            dict(source.describe()),
            report.documents,
            [_describe(t) for t in transformers],
            config,
        )
        target = output if output is None or isinstance(output, Output) else FileOutput(output)
        path: Optional[Path] = getattr(target, "path", None)
        meter.stage("writing the pack")
        with _Timer(report.seconds, "write"):
            pack = builder.finish(manifest, path)
            if target is not None and path is None:
                target.write(pack)
        meter.finish()
    finally:
        meter.close()
        builder.close()
        if reuse is not None:
            reuse.flush()  # what a failed build chunked is still valid for the next one
    report.skipped = list(source.skipped) + stages.dropped
    if path is not None:
        report.output = str(path)
        report.size_bytes = path.stat().st_size
    else:
        report.size_bytes = len(pack.to_bytes())
    report.seconds["total"] = time.perf_counter() - started
    return BuildResult(report=report, pack=pack)


def count_into(report: BuildReport, count_tokens: Any, texts: Sequence[str]) -> None:
    """Adds ``texts``' token counts (and how many are over the model's limit) to the
    report, when the embedder can count tokens (``count_tokens`` not None)."""
    if count_tokens is not None:
        counts = count_tokens(texts)
        report.tokens += sum(counts)
        if report.max_tokens:
            report.truncated += sum(1 for n in counts if n > report.max_tokens)


def make_manifest(
    embedder: Mapping[str, Any],
    chunker: Mapping[str, Any],
    source: Mapping[str, Any],
    documents: int,
    transformers: Sequence[Mapping[str, Any]] = (),
    config: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """A pack's manifest, from the descriptions of the build's plugins: the same for a
    local build and for a shard of a distributed one (vpack.distributed)."""
    manifest: Dict[str, Any] = {
        "builder": f"vpack {VERSION}",
        "embedder": dict(embedder),
        "chunker": dict(chunker),
        "source": dict(source),
        "documents": documents,
    }
    if transformers:
        manifest["transformers"] = [dict(t) for t in transformers]
    if config is not None:
        manifest["config"] = dict(config)
    return manifest


def _document_limit(source: Source, given: Union[int, str, None]) -> int:
    """The build's maximum document size: ``given``, else the source's own, else the
    default; handed to the source when it has the attribute."""
    if given is None:
        own = getattr(source, "max_document_size", None)
        if isinstance(own, int) and not isinstance(own, bool) and own > 0:
            return own
        return DEFAULT_MAX_DOCUMENT_SIZE
    limit = parse_size(given, "max_document_size")
    if hasattr(source, "max_document_size"):
        setattr(source, "max_document_size", limit)  # noqa: B010 (not in the Source protocol)
    return limit


def _describe(plugin: object) -> Dict[str, Any]:
    describe = getattr(plugin, "describe", None)
    return dict(describe()) if callable(describe) else {"kind": type(plugin).__name__}


def open_cache(
    cache: Union[bool, os.PathLike[str], str, None], embedder: Embedder
) -> Optional[EmbeddingCache]:
    """The embedding cache that ``cache`` asks for (see :func:`build`), or None."""
    if cache is None:
        cache = embedder.describe().get("kind") != "hash"
    if cache is False:
        return None
    return EmbeddingCache(default_cache_dir() if cache is True else Path(cache))


def make_embedder(
    name: str = "model",
    *,
    model_dir: os.PathLike[str] | str | None = None,
    dimension: int = 256,
    **settings: Any,
) -> Embedder:
    """The built-in embedders by name: ``model`` (the installed default model,
    all-MiniLM-L6-v2, or the ONNX model in ``model_dir``) or ``hash`` (model-free).
    ``settings`` go to :class:`OnnxEmbedder` (pooling, max_tokens, batch_size, threads)."""
    if name == "hash":
        return HashEmbedder(dimension)
    if name == "model":
        if model_dir is not None:
            return OnnxEmbedder.from_dir(model_dir, **settings)
        return OnnxEmbedder.packaged(**settings)
    raise ValueError(f"unknown embedder {name!r} (expected 'model' or 'hash')")


#: What ``vpack build`` reads from a folder by default.
DEFAULT_SUFFIXES_HTML = (".html", ".htm")
DEFAULT_SUFFIXES_MARKDOWN = (".md", ".markdown")
FOLDER_INCLUDE = DEFAULT_INCLUDE


def default_transformers() -> List[Transformer]:
    """HTML pages and Markdown files to text with their sections, then whitespace and
    Unicode normalisation for every document."""
    return [
        HtmlToText(suffixes=DEFAULT_SUFFIXES_HTML),
        MarkdownToText(suffixes=DEFAULT_SUFFIXES_MARKDOWN),
        NormalizeWhitespace(),
    ]


def make_chunker(
    name: Union[str, Chunker] = "section",
    embedder: Optional[Embedder] = None,
    *,
    size: Optional[int] = None,
    overlap: Optional[int] = None,
    unit: Optional[str] = None,
    **options: Any,
) -> Chunker:
    """A chunker by registry name (``section``, ``recursive``, ``fixed`` or an installed
    plugin). ``unit`` is ``tokens`` (measured with the embedder's tokenizer) or
    ``chars``; by default tokens when the embedder has a token limit (a model), else
    chars. Default sizes: the model's limit in tokens with 1/8 overlap, or 1000
    characters with 200 overlap (a fifth of the size for smaller chunks)."""
    if not isinstance(name, str):
        return name
    if options.get("embed_context") and name != "section":
        raise ValueError(
            f"embed_context needs the section chunker (it embeds the heading path), not {name!r}"
        )
    limit: Optional[int] = getattr(embedder, "max_tokens", None)
    counter = getattr(embedder, "token_counts", None)
    if unit is None:
        unit = "tokens" if limit and counter is not None else "chars"
    if unit not in ("tokens", "chars"):
        raise ValueError(f"chunk unit must be 'tokens' or 'chars', got {unit!r}")
    if unit == "tokens":
        if counter is None:
            raise ValueError("chunking in tokens needs an embedder with a tokenizer (a model)")
        size = size or limit or 256
        overlap = size // 8 if overlap is None else overlap
        options["token_counter"] = counter
    else:
        size = size or 1000
        overlap = min(200, size // 5) if overlap is None else overlap
    chunker: Chunker = registry.create("chunker", name, size=size, overlap=overlap, **options)
    return chunker


def build(
    source: Union[os.PathLike[str], str, Source, Iterable[Any]],
    output: Union[os.PathLike[str], str, Output, None] = None,
    *,
    include: Sequence[str] = FOLDER_INCLUDE,
    exclude: Sequence[str] = (),
    transformers: Optional[Sequence[Union[str, Transformer]]] = None,
    chunker: Union[str, Chunker] = "section",
    chunk_size: Optional[int] = None,
    chunk_overlap: Optional[int] = None,
    chunk_unit: Optional[str] = None,
    embed_context: bool = False,
    embedder: Union[str, Embedder] = "model",
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
    engine: str = "local",
    shards: int = 4,
    address: Optional[str] = None,
) -> BuildResult:
    """Builds a pack from a folder, any Source, or an iterable of documents (Document
    objects, ``{"text", "id"?, "metadata"?}`` dicts, or strings).

    Plugins are objects or registry names. ``transformers`` default to HTML and Markdown
    to text (by file suffix) and normalisation; ``chunker`` defaults to ``section``
    (chunks follow headings), sized by :func:`make_chunker` from ``chunk_size``,
    ``chunk_overlap`` and ``chunk_unit``; ``embed_context`` (section chunker) embeds
    each chunk as its page title and heading path, a newline and its text, stores the
    clean text, and sizes chunks to leave room for that line (recorded in the manifest's
    ``chunker``; see :class:`~vpack.plugins.SectionChunker`); ``embedder`` defaults to ``"model"`` (the
    installed all-MiniLM-L6-v2; see :func:`make_embedder`). Writes the pack to ``output``
    atomically when given. ``cache``: a folder for the embedding cache, True for the
    default folder (:func:`vpack.cache.default_cache_dir`), False for none; None
    (default) means the default folder for model embedders and none for ``hash`` (which
    is faster than a cache lookup). ``strict`` stops at the first unusable input.
    ``max_document_size`` (bytes, or a size such as ``"64MiB"``; default 64 MiB)
    skips larger documents and lists them in the report; files are not read at all.
    ``index`` picks the pack's search structure: ``"flat"`` (exact, the default),
    ``"hnsw"`` (approximate, an HNSW graph searched in place), ``"auto"`` (hnsw from
    50,000 chunks on), or a mapping such as ``{"kind": "hnsw", "m": 16,
    "ef_construction": 200, "ef_search": 64, "threads": 4}`` (see
    :class:`~vpack.PackBuilder`). A build that finds nothing to pack (no document, or
    no text in any) raises :class:`EmptyBuildError`, naming the source (and for a folder
    its include and exclude globs), unless ``allow_empty`` is true. ``progress`` is as
    for :func:`run`. ``lexical`` (default True) also stores a BM25 index, so that text
    queries are hybrid by default (see :meth:`vpack.Pack.search`): True for the
    library's parameters, a mapping of them (``{"k1", "b", "fields",
    "hybrid_weight"}``), False for none; an ``index`` mapping with its own ``"lexical"``
    key decides instead. Returns the report and the pack, open (use ``with``).

    ``engine="ray"`` builds on Ray Data instead (the ``ray`` extra): ``output`` becomes a
    pack set file naming ``shards`` shard packs written beside it, and ``address`` names
    the Ray cluster (see :func:`vpack.distributed.build`)."""
    if engine not in ("local", "ray"):
        raise ValueError(f"engine must be 'local' or 'ray', got {engine!r}")
    if embed_context and not isinstance(chunker, str):
        raise ValueError(
            "embed_context applies to a chunker given by name; pass SectionChunker(embed_context=True)"
        )
    context: Dict[str, Any] = {"embed_context": True} if embed_context else {}
    index = with_lexical(index, lexical)
    if engine == "ray":
        from . import distributed

        if output is None or not isinstance(output, (str, os.PathLike)):
            raise ValueError("engine='ray' writes files: give output, the pack set file to write")
        return distributed.build(
            source,
            output,
            shards=shards,
            address=address,
            include=include,
            exclude=exclude,
            transformers=transformers,
            chunker=chunker,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            chunk_unit=chunk_unit,
            chunker_options=context,
            embedder=embedder,
            metric=metric,
            batch_size=batch_size,
            cache=cache,
            strict=strict,
            progress=progress,
            config=config,
            max_document_size=max_document_size,
            index=index,
            lexical=False,  # already in `index`
            allow_empty=allow_empty,
        )
    src: Source
    if isinstance(source, Source):
        src = source
    elif isinstance(source, (str, os.PathLike)):
        src = DirectorySource(source, include, exclude)
    else:
        src = IterableSource(source)
    emb: Embedder = make_embedder(embedder) if isinstance(embedder, str) else embedder
    steps: List[Transformer] = (
        default_transformers()
        if transformers is None
        else [registry.create("transformer", t) if isinstance(t, str) else t for t in transformers]
    )
    store = open_cache(cache, emb)
    try:
        made = make_chunker(chunker, emb, size=chunk_size, overlap=chunk_overlap, unit=chunk_unit, **context)
        return run(
            src,
            chunker=made,
            embedder=emb,
            transformers=steps,
            metric=metric,
            batch_size=batch_size,
            output=output,
            cache=store,
            strict=strict,
            progress=progress,
            config=config,
            max_document_size=max_document_size,
            index=index,
            allow_empty=allow_empty,
        )
    finally:
        if store is not None:
            store.close()
        if isinstance(embedder, str) and isinstance(emb, (HashEmbedder, OnnxEmbedder)):
            emb.close()


def with_lexical(index: IndexOption, lexical: Union[bool, Mapping[str, Any]]) -> IndexOption:
    """``index`` with a lexical index added as ``lexical`` asks (True: the library's
    parameters; a mapping: these; False: none), unless ``index`` is a mapping that says
    itself (has a ``"lexical"`` key) or is of a type the builder refuses anyway."""
    if isinstance(lexical, bool):
        if not lexical:
            return index
        params: Dict[str, Any] = {}
    elif isinstance(lexical, Mapping):
        params = dict(lexical)
    else:
        raise TypeError(f"lexical must be true, false or a mapping of parameters, got {lexical!r}")
    if index is None:
        return {"lexical": params}
    if isinstance(index, str):
        return {"kind": index, "lexical": params}
    if isinstance(index, Mapping) and "lexical" not in index:
        return {**index, "lexical": params}
    return index


def build_from_config(
    cfg: BuildConfig,
    source: Union[os.PathLike[str], str, None] = None,
    *,
    cache: Union[bool, os.PathLike[str], str, None] = None,
    progress: Union[bool, Progress, None] = None,
    engine: str = "local",
    shards: int = 4,
    address: Optional[str] = None,
) -> BuildResult:
    """Builds what a :class:`~vpack.config.BuildConfig` describes (a ``vpack.toml`` merged
    with command-line flags). ``source`` is the folder or file to read when the config's
    source names none. The effective configuration is stored in the pack's manifest,
    without the paths of this machine (output, source folder or file, model folder)
    unless ``record_paths`` is set (see :func:`vpack.config.effective`)."""
    options = dict(cfg.source.options)
    if cfg.source.kind == "directory":
        root = options.pop("root", None) or source
        if root is None:
            raise ValueError("no source folder: give one, or set [source] root in the config")
        if cfg.origin is not None and not Path(root).is_absolute() and source is None:
            root = cfg.origin.parent / root
        src: Source = DirectorySource(root, cfg.include, cfg.exclude, **options)
    else:
        if source is not None and "path" not in options:
            options["path"] = source
        src = registry.create("source", cfg.source.kind, **options)
    emb_options = dict(cfg.embedder.options)
    if engine == "ray":
        return _ray_from_config(cfg, src, emb_options, cache, progress, shards, address)
    emb: Embedder = (
        make_embedder(cfg.embedder.name, **emb_options)
        if cfg.embedder.name in ("model", "hash")
        else registry.create("embedder", cfg.embedder.name, **emb_options)
    )
    chunk_options = dict(cfg.chunker.options)
    chunker = make_chunker(cfg.chunker.name, emb, **chunk_options)
    transformers = [registry.create("transformer", t.name, **t.options) for t in cfg.transformers] or None
    recorded = effective(cfg, paths=cfg.record_paths)
    if cfg.record_paths and isinstance(src, DirectorySource) and "root" not in cfg.source.options:
        # The SOURCE argument is this build's folder: kept like a root from the config.
        recorded["source"]["root"] = os.path.abspath(src.root)
    try:
        return build(
            src,
            cfg.output,
            transformers=transformers,
            chunker=chunker,
            embedder=emb,
            metric=cfg.metric,
            batch_size=cfg.batch_size,
            cache=cache,
            strict=cfg.strict,
            progress=progress,
            config=recorded,
            max_document_size=cfg.max_document_size,
            index=cfg.index.options(),
            allow_empty=cfg.allow_empty,
            lexical=False,  # the config's index options say whether to store one
        )
    finally:
        close = getattr(emb, "close", None)
        if callable(close):
            close()


def _ray_from_config(
    cfg: BuildConfig,
    src: Source,
    emb_options: Dict[str, Any],
    cache: Union[bool, os.PathLike[str], str, None],
    progress: Union[bool, Progress, None],
    shards: int,
    address: Optional[str],
) -> BuildResult:
    """:func:`build_from_config` on Ray: the embedder and chunker go by name (each worker
    makes its own), the rest as for a local build."""
    from . import distributed

    if cfg.output is None:
        raise ValueError("no output: give -o PACK, or set output in the config")
    chunk_options = dict(cfg.chunker.options)
    recorded = effective(cfg, paths=cfg.record_paths)
    if cfg.record_paths and isinstance(src, DirectorySource) and "root" not in cfg.source.options:
        recorded["source"]["root"] = os.path.abspath(src.root)
    return distributed.build(
        src,
        cfg.output,
        shards=shards,
        address=address,
        transformers=[registry.create("transformer", t.name, **t.options) for t in cfg.transformers] or None,
        chunker=cfg.chunker.name,
        chunk_size=chunk_options.pop("size", None),
        chunk_overlap=chunk_options.pop("overlap", None),
        chunk_unit=chunk_options.pop("unit", None),
        chunker_options=chunk_options,
        embedder=cfg.embedder.name,
        embedder_options=emb_options,
        metric=cfg.metric,
        batch_size=cfg.batch_size,
        cache=cache,
        strict=cfg.strict,
        progress=progress,
        config=recorded,
        max_document_size=cfg.max_document_size,
        index=cfg.index.options(),
        allow_empty=cfg.allow_empty,
        lexical=False,  # the config's index options say whether to store one
    )
