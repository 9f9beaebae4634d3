"""Building a pack from your own vectors."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional, Sequence, Union

import numpy as np

from ._native import NativeBuilder
from .config import DEFAULT_INDEX
from .errors import InvalidJSONError
from .pack import Pack


def _dumps(value: Any, what: str) -> str:
    """JSON text for the library; a value json cannot represent (another type, a nesting
    deeper than Python's recursion limit, NaN) raises InvalidJSONError naming ``what``."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except RecursionError:
        raise InvalidJSONError(
            f"{what} is nested too deeply to be serialised as JSON", InvalidJSONError.code
        ) from None
    except (TypeError, ValueError) as exc:
        raise InvalidJSONError(f"{what} is not JSON-serialisable: {exc}", InvalidJSONError.code) from exc


IndexOption = Union[str, Mapping[str, Any], None]


def index_options(index: IndexOption) -> Dict[str, Any]:
    """The builder's ``index`` option as the library takes it: None is the default
    (``DEFAULT_INDEX``, flat), a string is a kind (``"flat"``, ``"hnsw"``, ``"auto"``),
    a mapping is passed on (``{"kind": "hnsw", "m": 16, "ef_construction": 200,
    "ef_search": 64, "threads": 4}``; ``kind`` defaults as for None). The library checks
    the values: an unknown kind or a value out of range is an InvalidArgumentError
    (code 2), an unknown key or a value of the wrong JSON type an InvalidJSONError
    (code 3), both from the PackBuilder constructor; so is an ``index`` of another type."""
    if index is None:
        return {"kind": DEFAULT_INDEX}
    if isinstance(index, str):
        return {"kind": index}
    if isinstance(index, Mapping):
        options = dict(index)
        options.setdefault("kind", DEFAULT_INDEX)
        return options
    raise InvalidJSONError(
        f"index must be a kind (a string) or a mapping of options, got {type(index).__name__}",
        InvalidJSONError.code,
    )


class PackBuilder:
    """Collects chunks with their vectors, then :meth:`finish` returns the pack.

    >>> b = PackBuilder(dimension=3)                              # doctest: +SKIP
    >>> b.add(["a", "b"], np.eye(2, 3, dtype=np.float32))         # doctest: +SKIP
    >>> pack = b.finish({"title": "demo"})                        # doctest: +SKIP

    ``metric`` is ``cosine`` (vectors are L2-normalised when added), ``dot`` or ``l2``.
    ``index`` picks the search structure stored in the pack: ``"flat"`` (exact scan, the
    default), ``"hnsw"`` (an approximate HNSW graph built at :meth:`finish`, searched in
    place), ``"auto"`` (hnsw from 50,000 chunks on, else flat), or a mapping with
    ``kind`` and the HNSW parameters ``m`` (links per node, 2..256, default 16),
    ``ef_construction`` (1..65536, default 200), ``ef_search`` (the default search
    effort recorded in the pack, 1..65536, default 64) and ``threads`` (graph build
    threads, default all cores; the pack's bytes do not depend on it). Bad options
    raise from the constructor (see :func:`index_options`).
    Added chunks are spooled by the native library to unlinked temporary files in
    ``temp_dir`` (default: the system's), so memory does not grow with the pack.
    """

    def __init__(
        self,
        dimension: int,
        metric: str = "cosine",
        temp_dir: os.PathLike[str] | str | None = None,
        index: IndexOption = None,
    ) -> None:
        self.dimension = dimension
        self.metric = metric
        self.index = index_options(index)
        options: Dict[str, Any] = {"dimension": dimension, "metric": metric, "index": self.index}
        if temp_dir is not None:
            options["temp_dir"] = os.fsdecode(temp_dir)
            if "\0" in options["temp_dir"]:
                raise ValueError(f"embedded null byte in path {options['temp_dir']!r}")
        try:
            options_json = json.dumps(options, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidJSONError(
                f"index options are not JSON-serialisable: {exc}", InvalidJSONError.code
            ) from exc
        self._native: Optional[NativeBuilder] = NativeBuilder.create(options_json)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(
        self,
        texts: Sequence[str],
        vectors: np.ndarray,
        metadata: Optional[Sequence[Mapping[str, Any]]] = None,
    ) -> None:
        """Appends ``len(texts)`` chunks; ``vectors`` has shape (len(texts), dimension).
        Nothing is appended when anything is invalid."""
        native = self._require()
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] != len(texts):
            raise ValueError(f"vectors must have shape ({len(texts)}, {self.dimension}), got {array.shape}")
        if metadata is not None and len(metadata) != len(texts):
            raise ValueError(f"got {len(metadata)} metadata entries for {len(texts)} texts")
        metas = metadata if metadata is not None else [{}] * len(texts)
        payload = _dumps(
            [{"text": t, "metadata": dict(m)} for t, m in zip(texts, metas)], "chunks (texts and metadata)"
        ).encode("utf-8", "surrogatepass")
        native.add(payload, array)
        self._count += len(texts)

    def finish(
        self, manifest: Optional[Mapping[str, Any]] = None, output: os.PathLike[str] | str | None = None
    ) -> Pack:
        """Seals the pack; ``manifest`` (a JSON-able mapping) is stored in it. With
        ``output`` the pack is streamed to that file atomically and opened from it;
        otherwise it is assembled in memory. The builder cannot be used afterwards."""
        native = self._require()
        manifest_json = _dumps(dict(manifest or {}), "manifest")
        try:
            if output is not None:
                return Pack(native.finish_file(manifest_json, output))
            return Pack(native.finish(manifest_json))
        finally:
            # The native call consumes the builder whatever it returns; a refusal before
            # it (a bad path or manifest) leaves the builder usable.
            if native.closed:
                self._native = None

    def close(self) -> None:
        """Discards an unfinished builder."""
        if self._native is not None:
            self._native.close()
            self._native = None

    def _require(self) -> NativeBuilder:
        if self._native is None:
            raise ValueError("PackBuilder is finished or closed")
        return self._native

    def __enter__(self) -> PackBuilder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
