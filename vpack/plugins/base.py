"""The data passed between pipeline stages, and one Protocol per plugin kind."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import (
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    runtime_checkable,
)

import numpy as np


@dataclass
class Document:
    """One source document. ``id`` is unique within a build (a relative path for files)."""

    id: str
    text: str
    metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Chunk:
    """A piece of a document. ``start``/``end`` are character offsets into the
    document's text."""

    text: str
    start: int
    end: int
    metadata: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Skipped:
    """A source item that was not used, and why."""

    path: str
    reason: str


@runtime_checkable
class Source(Protocol):
    """Yields documents. ``skipped`` collects items it passed over, with reasons."""

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
    embedder from the pack alone."""

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
