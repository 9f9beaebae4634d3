"""Opening packs and searching them."""

from __future__ import annotations

import json
import operator
import os
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Type, Union

import numpy as np

from . import models
from ._native import ClosedError, NativeEmbedder, NativeIndex, check_k
from .errors import CorruptPackError, DimensionMismatchError, InvalidJSONError, ModelError, NotFoundError
from .plugins.base import Embedder

Query = Union[str, np.ndarray, Sequence[float]]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _stored_json(data: bytes, what: str) -> Dict[str, Any]:
    """Decodes a JSON object stored in the pack (canonical UTF-8 JSON). Bytes that are
    not one are damage, reported as CorruptPackError, never as a decoding error."""
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise CorruptPackError(
            f"{what} is not valid UTF-8 ({exc.reason} at byte {exc.start})", CorruptPackError.code
        ) from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise CorruptPackError(f"{what} is not valid JSON ({exc})", CorruptPackError.code) from None
    if not isinstance(value, dict):
        raise CorruptPackError(
            f"{what} is not a JSON object (found {type(value).__name__})", CorruptPackError.code
        )
    return value


def _filter_json(filter: Optional[Mapping[str, Any]]) -> Optional[str]:  # noqa: A002
    """The filter as JSON text for the engine; anything json cannot represent (a value of
    another type, a nesting deeper than Python's recursion limit, NaN) is the filter's
    fault and raised as InvalidJSONError."""
    if filter is None:
        return None
    if not isinstance(filter, Mapping):
        raise InvalidJSONError(
            f"filter must be a mapping (a JSON object), got {type(filter).__name__}", InvalidJSONError.code
        )
    try:
        return json.dumps(dict(filter), ensure_ascii=False, allow_nan=False)
    except RecursionError:
        raise InvalidJSONError(
            "filter is nested too deeply to be serialised as JSON", InvalidJSONError.code
        ) from None
    except (TypeError, ValueError) as exc:
        raise InvalidJSONError(f"filter is not JSON-serialisable: {exc}", InvalidJSONError.code) from exc


@dataclass(frozen=True)
class Hit:
    """One search result. ``id`` is the chunk's position in the pack; higher ``score`` is
    better (cosine similarity for cosine packs)."""

    id: int
    score: float
    text: str
    metadata: Dict[str, Any] = field(default_factory=dict)

    @property
    def source(self) -> Optional[str]:
        """The chunk's source path, when its source recorded one."""
        path = self.metadata.get("path")
        return str(path) if path is not None else None

    def to_dict(self) -> Dict[str, Any]:
        return {"id": self.id, "score": self.score, "text": self.text, "metadata": self.metadata}


class Pack:
    """A loaded pack. Use as a context manager, or call :meth:`close`: the native handle
    is released deterministically (PyPy's collector may run much later)."""

    def __init__(
        self,
        index: NativeIndex,
        model_dir: os.PathLike[str] | str | None = None,
        embedder: Optional[Embedder] = None,
    ) -> None:
        self._index = index
        self._model_dir = model_dir
        self._query_embedder = embedder
        self._embedder: Optional[NativeEmbedder] = None
        self._manifest: Optional[Dict[str, Any]] = None
        self._lock = threading.RLock()  # guards the lazy creation of _embedder

    @classmethod
    def from_bytes(cls, data: bytes) -> Pack:
        """Loads a pack from its bytes (copied and fully verified)."""
        return cls(NativeIndex.from_bytes(data))

    @property
    def manifest(self) -> Dict[str, Any]:
        if self._manifest is None:
            self._manifest = _stored_json(self._index.manifest(), "the manifest")
        return dict(self._manifest)

    @property
    def dimension(self) -> int:
        return self._index.dimension()

    def __len__(self) -> int:
        return len(self._index)

    def embed_query(self, text: str) -> np.ndarray:
        """Embeds ``text`` with the embedder recorded in the pack: the same model,
        found on this machine (installed packages, ``model_dir``, or VPACK_MODEL_PATH)
        and checked against the recorded sha256 and dimension; or with the embedder
        passed to :func:`open` (for packs built with a Python-only embedder plugin)."""
        if self._query_embedder is not None:
            given = np.asarray(self._query_embedder.embed([text]), dtype=np.float32)
            if given.shape != (1, self.dimension):
                raise DimensionMismatchError(
                    f"the query embedder gave shape {given.shape}, the pack needs (1, {self.dimension})",
                    DimensionMismatchError.code,
                )
            first: np.ndarray = given[0]
            return first
        embedder = self._native_embedder()
        try:
            # surrogatepass: a lone surrogate reaches the library, which names it (code 4).
            vectors = embedder.embed([text.encode("utf-8", "surrogatepass")], self.dimension)
        except ClosedError:
            raise ClosedError("this pack is closed") from None
        row: np.ndarray = vectors[0]
        return row

    def _native_embedder(self) -> NativeEmbedder:
        """The embedder the manifest records, created on first use (once, even when
        several threads ask at the same time; never after close)."""
        with self._lock:
            if self.closed:
                raise ClosedError("this pack is closed")
            if self._embedder is not None:
                return self._embedder
            recorded = self.manifest.get("embedder")
            if not isinstance(recorded, dict):
                raise NotFoundError(
                    "this pack records no embedder; query it with vectors, or open it with embedder=",
                    NotFoundError.code,
                )
            config = models.resolve(recorded, self._model_dir)
            if config.get("kind") == "onnx":
                models.ensure_runtime()
            try:
                self._embedder = NativeEmbedder.create(json.dumps(config))
            except ModelError as exc:
                raise ModelError(
                    f"{exc.message}; the pack records sha256 {recorded.get('sha256', '?')}; "
                    f"{models.install_hint(recorded)}",
                    exc.code,
                ) from exc
            return self._embedder

    def search(self, query: Query, k: int = 10, filter: Optional[Mapping[str, Any]] = None) -> List[Hit]:  # noqa: A002
        """The ``k`` chunks most similar to ``query``, best first. ``query`` is a text
        (embedded with the pack's embedder) or a vector of the pack's dimension.

        ``filter`` keeps only chunks whose metadata matches, evaluated in Rust during the
        scan: ``{"path": "guide/*.md"}`` (strings are globs; ``**`` crosses ``/``),
        ``{"lang": ["en", "de"]}`` (any of), ``{"n": {"$gte": 2}}`` (operators ``$eq $ne
        $in $nin $gt $gte $lt $lte $glob $exists``), dotted keys for nested fields,
        ``$and``/``$or`` lists."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"k must be a non-negative integer, got {k!r}")
        check_k(k)  # before a text query is embedded
        filter_json = _filter_json(filter)
        if isinstance(query, str):
            vector = self.embed_query(query)
        else:
            vector = np.asarray(query, dtype=np.float32)
            if vector.ndim != 1:
                raise ValueError(f"query vector must be 1-D, got shape {vector.shape}")
        ids, scores = self._index.search(vector, k, filter_json)
        id_list = [int(i) for i in ids]
        records = self._index.chunks(id_list)
        return [self._hit(i, float(s), r) for i, s, r in zip(id_list, scores, records)]

    def chunk(self, chunk_id: int) -> Hit:
        """The chunk with this id (score 0.0)."""
        chunk_id = operator.index(chunk_id)  # any integer (numpy's too); TypeError otherwise
        if not 0 <= chunk_id < 1 << 64:
            raise NotFoundError(f"chunk id {chunk_id} out of range", NotFoundError.code)
        return self._hit(chunk_id, 0.0, self._index.chunk(chunk_id))

    @staticmethod
    def _hit(chunk_id: int, score: float, record: Tuple[bytes, bytes]) -> Hit:
        text, meta = record
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptPackError(
                f"chunk {chunk_id}: text is not valid UTF-8 ({exc.reason} at byte {exc.start})",
                CorruptPackError.code,
            ) from None
        metadata = _stored_json(meta, f"chunk {chunk_id}: metadata") if meta else {}
        return Hit(chunk_id, score, decoded, metadata)

    def verify(self) -> None:
        """Checks every checksum and chunk record; raises CorruptPackError on damage."""
        self._index.verify()

    def to_bytes(self) -> bytes:
        return self._index.to_bytes()

    def save(self, path: os.PathLike[str] | str) -> None:
        """Writes the pack to ``path`` atomically (temporary file, fsync, rename)."""
        self._index.save(path)

    def close(self) -> None:
        """Releases the pack. Safe while other threads use it: it waits for the native
        calls in flight (a search, an embedding) to return, then frees; their later calls
        raise ValueError. Idempotent."""
        self._index.close()
        with self._lock:  # after this, _native_embedder() sees the pack closed
            embedder, self._embedder = self._embedder, None
        if embedder is not None:
            embedder.close()

    @property
    def closed(self) -> bool:
        return self._index.closed

    def __enter__(self) -> Pack:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        try:
            return f"<vpack.Pack chunks={len(self)} dimension={self.dimension}>"
        except ClosedError:
            return "<vpack.Pack closed>"


def open(  # noqa: A001
    path: os.PathLike[str] | str,
    *,
    verify: bool = False,
    model_dir: os.PathLike[str] | str | None = None,
    embedder: Optional[Embedder] = None,
) -> Pack:
    """Opens the pack at ``path`` (memory-mapped: opening costs the same for any size).
    With ``verify=True`` every checksum is checked first. Text queries use the embedder
    recorded in the pack; ``model_dir`` names a local folder holding its model when it is
    not installed, and ``embedder`` gives an Embedder plugin to use instead (a
    Python-only plugin the native library cannot re-create)."""
    return Pack(NativeIndex.open(path, verify), model_dir, embedder)
