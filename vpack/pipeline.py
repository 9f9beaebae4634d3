"""The build pipeline: source -> transformers -> chunker -> embed -> pack, streamed in
fixed-size batches so memory on the Python side does not grow with the corpus."""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Union

from ._native import VERSION
from .builder import PackBuilder
from .cache import CachedEmbedder, EmbeddingCache, default_cache_dir
from .pack import Pack
from .plugins.base import Chunk, Chunker, Document, Embedder, Skipped, Source, Transformer
from .plugins.chunkers import FixedSizeChunker
from .plugins.embedders import HashEmbedder, OnnxEmbedder
from .plugins.sources import DEFAULT_INCLUDE, DirectorySource

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
    max_tokens: Optional[int] = None
    embedder: Dict[str, Any] = field(default_factory=dict)
    skipped: List[Skipped] = field(default_factory=list)
    seconds: Dict[str, float] = field(default_factory=dict)
    output: Optional[str] = None
    size_bytes: int = 0

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


class _Timer:
    def __init__(self, seconds: Dict[str, float], stage: str) -> None:
        self.seconds, self.stage = seconds, stage

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.t0
        self.seconds[self.stage] = self.seconds.get(self.stage, 0.0) + elapsed


def _documents(
    source: Source, transformers: Sequence[Transformer], report: BuildReport
) -> Iterator[Document]:
    docs = iter(source.documents())
    while True:
        with _Timer(report.seconds, "read"):
            doc: Optional[Document] = next(docs, None)
        if doc is None:
            return
        with _Timer(report.seconds, "transform"):
            for t in transformers:
                doc = t.transform(doc)
                if doc is None:
                    break
        if doc is not None:
            report.documents += 1
            yield doc


def _chunks(docs: Iterable[Document], chunker: Chunker, report: BuildReport) -> Iterator[Chunk]:
    for doc in docs:
        with _Timer(report.seconds, "chunk"):
            pieces = list(chunker.chunks(doc))
        for c in pieces:
            report.chunks += 1
            report.characters += len(c.text)
            yield c


def run(
    source: Source,
    *,
    chunker: Chunker,
    embedder: Embedder,
    transformers: Sequence[Transformer] = (),
    metric: str = "cosine",
    batch_size: int = DEFAULT_BATCH_SIZE,
    output: os.PathLike[str] | str | None = None,
    cache: Optional[EmbeddingCache] = None,
) -> BuildResult:
    """Runs the pipeline with explicit plugins and returns the report and the pack (open;
    close it when done). With ``output`` the pack is written there atomically. With
    ``cache``, vectors of texts already embedded by the same embedder are reused."""
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    report = BuildReport()
    started = time.perf_counter()
    builder = PackBuilder(embedder.dimension, metric)
    count_tokens = getattr(embedder, "token_counts", None)
    report.max_tokens = getattr(embedder, "max_tokens", None)
    cached = CachedEmbedder(embedder, cache) if cache is not None else None
    if cached is not None:
        embedder = cached
    try:
        chunks = _chunks(_documents(source, transformers, report), chunker, report)
        for batch in _batches(chunks, batch_size):
            texts = [c.text for c in batch]
            with _Timer(report.seconds, "embed"):
                if count_tokens is not None:
                    counts = count_tokens(texts)
                    report.tokens += sum(counts)
                    if report.max_tokens:
                        report.truncated += sum(1 for n in counts if n > report.max_tokens)
                vectors = embedder.embed(texts)
            with _Timer(report.seconds, "index"):
                builder.add(texts, vectors, [c.metadata for c in batch])
        if cached is not None:
            report.cache_hits, report.cache_misses = cached.hits, cached.misses
        report.embedder = dict(embedder.describe())
        manifest = {
            "builder": f"vpack {VERSION}",
            "embedder": report.embedder,
            "chunker": dict(chunker.describe()),
            "source": dict(source.describe()),
            "documents": report.documents,
        }
        with _Timer(report.seconds, "write"):
            pack = builder.finish(manifest, output)
    finally:
        builder.close()
    report.skipped = list(source.skipped)
    if output is not None:
        report.output = str(output)
        report.size_bytes = Path(output).stat().st_size
    else:
        report.size_bytes = len(pack.to_bytes())
    report.seconds["total"] = time.perf_counter() - started
    return BuildResult(report=report, pack=pack)


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


def build(
    source: Union[os.PathLike[str], str, Source],
    output: os.PathLike[str] | str | None = None,
    *,
    include: Sequence[str] = DEFAULT_INCLUDE,
    exclude: Sequence[str] = (),
    chunk_size: int = 1000,
    chunk_overlap: int = 200,
    embedder: Union[str, Embedder] = "model",
    metric: str = "cosine",
    batch_size: int = DEFAULT_BATCH_SIZE,
    cache: Union[bool, os.PathLike[str], str, None] = None,
) -> BuildResult:
    """Builds a pack from a folder (or any Source) with the built-in chunker. ``embedder``
    is an Embedder plugin or a name for :func:`make_embedder` (default ``"model"``: the
    installed all-MiniLM-L6-v2). Writes the pack to ``output`` atomically when given.
    ``cache``: a folder for the embedding cache, True for the default folder
    (:func:`vpack.cache.default_cache_dir`), False for none; None (default) means the
    default folder for model embedders and none for ``hash`` (which is faster than a
    cache lookup). Returns the report and the pack, open (use ``with``)."""
    src: Source = source if isinstance(source, Source) else DirectorySource(source, include, exclude)
    emb: Embedder = make_embedder(embedder) if isinstance(embedder, str) else embedder
    store = open_cache(cache, emb)
    try:
        return run(
            src,
            chunker=FixedSizeChunker(chunk_size, chunk_overlap),
            embedder=emb,
            metric=metric,
            batch_size=batch_size,
            output=output,
            cache=store,
        )
    finally:
        if store is not None:
            store.close()
        if isinstance(embedder, str) and isinstance(emb, (HashEmbedder, OnnxEmbedder)):
            emb.close()
