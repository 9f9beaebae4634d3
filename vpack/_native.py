"""The cffi binding to the vpack native library. This module only binds: it converts
Python values to C arguments and back, checks status codes, and owns native handles.
Nothing else in the package imports cffi."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
from cffi import FFI

from .errors import VPackError, from_last_error

_HERE = Path(__file__).resolve().parent

ffi = FFI()
# _cdef.h is rendered by cbindgen from the same source as include/vpack.h, without
# preprocessor blocks, so cdef() parses it on CPython and PyPy alike.
ffi.cdef((_HERE / "_cdef.h").read_text(encoding="utf-8"))


def _library_path() -> str:
    override = os.environ.get("VPACK_LIBRARY")
    if override:
        return override
    found = sorted(_HERE.glob("_libvpack*.so")) + sorted(_HERE.glob("_libvpack*.dylib"))
    if not found:
        raise ImportError(
            f"vpack's native library (_libvpack*.so) is missing from {_HERE}; "
            "install vpack with pip (which builds it) or set VPACK_LIBRARY"
        )
    return str(found[0])


lib: Any = ffi.dlopen(_library_path())

if lib.vpack_abi_version() != lib.VPACK_ABI_VERSION:
    raise ImportError(
        f"vpack native library ABI {lib.vpack_abi_version()} does not match "
        f"the binding's ABI {lib.VPACK_ABI_VERSION}"
    )

VERSION: str = bytes(ffi.string(lib.vpack_version())).decode("ascii")
FORMAT_VERSION: int = lib.VPACK_FORMAT_VERSION


def _error(status: int) -> VPackError:
    size = lib.vpack_last_error_message(ffi.NULL, 0)
    buf = ffi.new("char[]", size)
    lib.vpack_last_error_message(buf, size)
    return from_last_error(status, bytes(ffi.string(buf)).decode("utf-8", "replace"))


def _check(status: int) -> None:
    if status != lib.VPACK_OK:
        raise _error(status)


def status_name(status: int) -> str:
    return bytes(ffi.string(lib.vpack_status_str(status))).decode("ascii")


def runtime_init(path: os.PathLike[str] | str) -> None:
    """Loads ONNX Runtime from ``path`` into this process (once)."""
    _check(lib.vpack_runtime_init(os.fsencode(path)))


def embedder_kinds() -> List[str]:
    out = ffi.new("vpack_bytes *")
    _check(lib.vpack_embedder_kinds(out))
    kinds: List[str] = json.loads(_take_bytes(out))
    return kinds


def _take_bytes(out: Any) -> bytes:
    try:
        return bytes(ffi.buffer(out.data, out.len))
    finally:
        lib.vpack_bytes_free(out)


def _borrowed(s: Any) -> bytes:
    return bytes(ffi.buffer(s.data, s.len)) if s.len else b""


def _f32_in(array: np.ndarray) -> Any:
    return ffi.from_buffer("float[]", np.ascontiguousarray(array, dtype=np.float32))


def _text_array(texts: Sequence[bytes]) -> Tuple[Any, Any, Any]:
    """Pointer and length arrays into one joined buffer; keep the third value alive
    for as long as the arrays are used."""
    n = max(len(texts), 1)
    base = ffi.from_buffer("uint8_t[]", b"".join(texts))
    ptrs = ffi.new("const uint8_t *[]", n)
    lens = ffi.new("size_t[]", n)
    offset = 0
    for i, t in enumerate(texts):
        ptrs[i] = base + offset
        lens[i] = len(t)
        offset += len(t)
    return ptrs, lens, base


class _Handle:
    """Owns one native pointer: freed by close(), or by the collector as a fallback
    (PyPy collects late and on any thread; the native free functions are thread-safe)."""

    _free: Any = None

    def __init__(self, ptr: Any) -> None:
        self._ptr: Optional[Any] = ffi.gc(ptr, type(self)._free)

    @property
    def ptr(self) -> Any:
        if self._ptr is None:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._ptr

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def close(self) -> None:
        if self._ptr is not None:
            ptr, self._ptr = self._ptr, None
            ffi.release(ptr)

    def _disown(self) -> Any:
        """Hands the raw pointer to a consuming native call; no free happens here."""
        ptr = self.ptr
        self._ptr = None
        ffi.gc(ptr, None)  # detaches the destructor in place
        return ptr


class NativeEmbedder(_Handle):
    _free = lib.vpack_embedder_free

    @classmethod
    def create(cls, config_json: str) -> NativeEmbedder:
        out = ffi.new("vpack_embedder **")
        _check(lib.vpack_embedder_new(config_json.encode("utf-8"), out))
        return cls(out[0])

    def dimension(self) -> int:
        out = ffi.new("size_t *")
        _check(lib.vpack_embedder_dimension(self.ptr, out))
        return int(out[0])

    def describe(self) -> bytes:
        out = ffi.new("vpack_bytes *")
        _check(lib.vpack_embedder_describe(self.ptr, out))
        return _take_bytes(out)

    def embed(self, texts: Sequence[bytes], dimension: int) -> np.ndarray:
        result = np.empty((len(texts), dimension), dtype=np.float32)
        ptrs, lens, _keep = _text_array(texts)
        out = ffi.from_buffer("float[]", result, require_writable=True)
        _check(lib.vpack_embedder_embed(self.ptr, ptrs, lens, len(texts), out, result.size))
        return result

    def token_counts(self, texts: Sequence[bytes]) -> List[int]:
        counts = ffi.new("size_t[]", max(len(texts), 1))
        ptrs, lens, _keep = _text_array(texts)
        _check(lib.vpack_embedder_token_counts(self.ptr, ptrs, lens, len(texts), counts))
        return [int(counts[i]) for i in range(len(texts))]


class NativeIndex(_Handle):
    _free = lib.vpack_index_free

    @classmethod
    def open(cls, path: os.PathLike[str] | str, verify: bool) -> NativeIndex:
        out = ffi.new("vpack_index **")
        flags = lib.VPACK_OPEN_VERIFY if verify else 0
        _check(lib.vpack_index_open(os.fsencode(path), flags, out))
        return cls(out[0])

    @classmethod
    def from_bytes(cls, data: bytes) -> NativeIndex:
        out = ffi.new("vpack_index **")
        _check(lib.vpack_index_from_bytes(ffi.from_buffer("uint8_t[]", data), len(data), out))
        return cls(out[0])

    def to_bytes(self) -> bytes:
        out = ffi.new("vpack_bytes *")
        _check(lib.vpack_index_to_bytes(self.ptr, out))
        return _take_bytes(out)

    def save(self, path: os.PathLike[str] | str) -> None:
        _check(lib.vpack_index_save(self.ptr, os.fsencode(path)))

    def verify(self) -> None:
        _check(lib.vpack_index_verify(self.ptr))

    def __len__(self) -> int:
        out = ffi.new("size_t *")
        _check(lib.vpack_index_len(self.ptr, out))
        return int(out[0])

    def dimension(self) -> int:
        out = ffi.new("size_t *")
        _check(lib.vpack_index_dimension(self.ptr, out))
        return int(out[0])

    def manifest(self) -> bytes:
        out = ffi.new("vpack_str *")
        _check(lib.vpack_index_manifest(self.ptr, out))
        return _borrowed(out)

    def chunk(self, chunk_id: int) -> Tuple[bytes, bytes]:
        text = ffi.new("vpack_str *")
        meta = ffi.new("vpack_str *")
        _check(lib.vpack_index_chunk(self.ptr, chunk_id, text, meta))
        return _borrowed(text), _borrowed(meta)

    def search(
        self, query: np.ndarray, k: int, filter_json: Optional[str] = None
    ) -> Tuple[np.ndarray, np.ndarray]:
        ids = np.empty(k, dtype=np.uint64)
        scores = np.empty(k, dtype=np.float32)
        n = ffi.new("size_t *")
        filter_arg = ffi.NULL if filter_json is None else filter_json.encode("utf-8", "surrogatepass")
        _check(
            lib.vpack_index_search_filtered(
                self.ptr,
                _f32_in(query),
                query.shape[0],
                k,
                filter_arg,
                ffi.from_buffer("uint64_t[]", ids, require_writable=True),
                ffi.from_buffer("float[]", scores, require_writable=True),
                n,
            )
        )
        return ids[: n[0]], scores[: n[0]]


class NativeBuilder(_Handle):
    _free = lib.vpack_builder_free

    @classmethod
    def create(cls, options_json: str) -> NativeBuilder:
        out = ffi.new("vpack_builder **")
        _check(lib.vpack_builder_new(options_json.encode("utf-8"), out))
        return cls(out[0])

    def add(self, chunks_json: bytes, vectors: np.ndarray) -> None:
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D (n, dim), got shape {vectors.shape}")
        n, dim = vectors.shape
        _check(
            lib.vpack_builder_add(
                self.ptr,
                ffi.from_buffer("uint8_t[]", chunks_json),
                len(chunks_json),
                _f32_in(vectors),
                n,
                dim,
            )
        )

    def finish(self, manifest_json: str) -> NativeIndex:
        out = ffi.new("vpack_index **")
        # vpack_builder_finish consumes the builder whatever it returns.
        _check(lib.vpack_builder_finish(self._disown(), manifest_json.encode("utf-8", "surrogatepass"), out))
        return NativeIndex(out[0])

    def finish_file(self, manifest_json: str, path: os.PathLike[str] | str) -> NativeIndex:
        out = ffi.new("vpack_index **")
        # vpack_builder_finish_file consumes the builder whatever it returns.
        manifest = manifest_json.encode("utf-8", "surrogatepass")
        _check(lib.vpack_builder_finish_file(self._disown(), manifest, os.fsencode(path), out))
        return NativeIndex(out[0])


__all__: List[str] = [
    "FORMAT_VERSION",
    "NativeBuilder",
    "NativeEmbedder",
    "NativeIndex",
    "VERSION",
    "embedder_kinds",
    "runtime_init",
    "status_name",
]
