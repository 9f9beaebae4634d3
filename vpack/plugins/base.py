"""The data passed between pipeline stages, one Protocol per plugin kind, and the limits
every build applies to its inputs."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    runtime_checkable,
)

import numpy as np

if TYPE_CHECKING:  # vpack.pack imports this module
    from ..pack import Hit

#: The largest document a build reads, by default: 64 MiB. Sizes are in bytes: a file's
#: size, a JSON Lines line, a CSV field (in characters), or the UTF-8 text of a document
#: from any other source. A larger document is skipped and reported, never read whole.
DEFAULT_MAX_DOCUMENT_SIZE = 64 << 20
#: How deeply a document's metadata may nest: the metadata object and the objects and
#: lists inside it, 64 levels in all (the native library reads JSON up to 128 levels
#: deep, and a chunk's metadata sits two levels down in what the builder sends it).
MAX_METADATA_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")
_INT_RANGE = (-(1 << 63), 1 << 64)


def invalid_unicode(text: str) -> Optional[str]:
    """Why ``text`` is not valid Unicode text (it holds a lone surrogate, which UTF-8
    cannot encode), or None when it is."""
    if text.isascii():
        return None
    found = _SURROGATE.search(text)
    if found is None:
        return None
    return f"lone surrogate U+{ord(found.group()):04X} at character {found.start()}, not valid Unicode"


def unstorable(value: Any, max_depth: int = MAX_METADATA_DEPTH) -> Optional[str]:
    """Why ``value`` cannot be stored in a pack as JSON unchanged, or None when it can:
    null, booleans, integers in the 64-bit range, finite floats, valid Unicode strings,
    and lists and objects (with string keys) of those, nested at most ``max_depth``
    levels (a list or object counts one level, a scalar none). Checked without
    recursion, so any nesting is answered."""
    pending: List[Tuple[Any, int, str]] = [(value, 0, "")]
    while pending:
        item, depth, key = pending.pop()
        where = f"field {key!r}: " if key else ""
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not _INT_RANGE[0] <= item < _INT_RANGE[1]:
                return f"{where}integer outside the 64-bit range"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{where}{item!r} is not a finite number"
        elif isinstance(item, str):
            bad = invalid_unicode(item)
            if bad is not None:
                return f"{where}{bad}"
        elif isinstance(item, (list, tuple, dict)):
            if depth >= max_depth:
                return f"{where}nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                for k, v in item.items():
                    if not isinstance(k, str):
                        return f"{where}key {k!r} is not a string"
                    bad = invalid_unicode(k)
                    if bad is not None:
                        return f"{where}a key has a {bad}"
                    pending.append((v, depth + 1, key or k))
            else:
                pending.extend((v, depth + 1, key) for v in item)
        else:
            return f"{where}{type(item).__name__} values are not JSON"
    return None


@dataclass
class Document:
    """One source document. ``id`` is unique within a build (a relative path for files)."""

    id: str
    text: str
    metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Chunk:
    """A piece of a document. ``start``/``end`` are character offsets into the
    document's text. ``embed_text``, when set, is what the pipeline embeds instead of
    ``text`` (such as the text with its page title and heading path before it); the pack
    always stores ``text``."""

    text: str
    start: int
    end: int
    metadata: Dict[str, Any] = field(default_factory=dict)
    embed_text: Optional[str] = None


@dataclass
class Skipped:
    """A source item that was not used, and why."""

    path: str
    reason: str


@runtime_checkable
class Source(Protocol):
    """Yields documents. ``skipped`` collects items it passed over, with reasons. A source
    with a ``max_document_size`` attribute (bytes) is given the build's limit there and
    should skip (and report) larger documents without reading them whole."""

    skipped: List[Skipped]

    def documents(self) -> Iterator[Document]: ...

    def describe(self) -> Mapping[str, Any]: ...


@runtime_checkable
class Transformer(Protocol):
    """Document -> document (or None to drop it)."""

    def transform(self, document: Document) -> Optional[Document]: ...


@runtime_checkable
class Chunker(Protocol):
    def chunks(self, document: Document) -> Iterable[Chunk]: ...

    def describe(self) -> Mapping[str, Any]: ...


@runtime_checkable
class Embedder(Protocol):
    """Texts -> an (n, dimension) float32 array. ``describe()`` is recorded in the pack's
    manifest; when it names a handler the native library has, queries can re-create the
    embedder from the pack alone. A slow embedder may also have
    ``embed_with_progress(texts, done)``: the same vectors, calling ``done(n)`` as each
    ``n`` texts are finished, so a build's progress line moves within a batch (see
    :meth:`vpack.plugins.OnnxEmbedder.embed_with_progress`)."""

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def describe(self) -> Mapping[str, Any]: ...


@runtime_checkable
class Output(Protocol):
    """Where a finished pack goes. ``write`` receives the pack (open; the pipeline closes
    it afterwards). An output with a ``path`` attribute is written by streaming the pack
    straight into that file instead, atomically."""

    def write(self, pack: Any) -> None: ...

    def describe(self) -> Mapping[str, Any]: ...


@runtime_checkable
class Reranker(Protocol):
    """Reorders the best candidates of a search (``Pack.search(..., rerank=)``, ``vpack
    query --rerank``), typically with a model that reads the query and each chunk
    together (a cross-encoder), which the first-stage index cannot.

    ``rerank(query, hits)`` gets the query text and the first stage's candidates, best
    first (each a :class:`~vpack.Hit` with ``id``, ``score``, ``text`` and ``metadata``),
    and returns **one score per hit, in the order of** ``hits`` (higher is better; any
    finite real numbers: a list, tuple or 1-D numpy array). vpack sorts by them (ties
    keep the first stage's order), keeps the best ``k`` and reports each hit's new score
    with its first-stage score and rank beside it.

    Scores, not a reordered list: with a list, a plugin could drop, duplicate or invent
    hits, or hand back other objects, and nothing could tell a wrong order from a
    deliberate one. A score per hit can be checked (the count, that each is a finite
    number), so a broken reranker is an error (:class:`vpack.rerank.RerankError`, code 2)
    rather than a silently wrong order, and the caller sees what the order rests on.

    A reranker registered as ``reranker.<name>`` is created with no arguments; the pack
    that made it keeps it for its lifetime and calls its ``close()``, if it has one, when
    the pack closes."""

    def rerank(self, query: str, hits: Sequence[Hit]) -> Sequence[float]: ...
