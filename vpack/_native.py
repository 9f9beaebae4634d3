"""The cffi binding to the vpack native library. This module only binds: it converts
Python values to C arguments and back, checks status codes, and owns native handles.
Nothing else in the package imports cffi."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from cffi import FFI

from .errors import InvalidJSONError, LimitExceededError, VPackError, from_last_error

_HERE = Path(__file__).resolve().parent

ffi = FFI()
# _cdef.h is rendered by cbindgen from the same source as include/vpack.h, without
# preprocessor blocks, so cdef() parses it on CPython and PyPy alike.
ffi.cdef((_HERE / "_cdef.h").read_text(encoding="utf-8"))


def _library_path() -> str:
    """$VPACK_LIBRARY if set, else the library installed beside this file: libvpack.so
    (libvpack.dylib on macOS), one file for every interpreter (see setup.py)."""
    override = os.environ.get("VPACK_LIBRARY")
    if override:
        return override
    for name in ("libvpack.so", "libvpack.dylib"):
        if (_HERE / name).is_file():
            return str(_HERE / name)
    source_tree = (_HERE.parent / "rust" / "Cargo.toml").is_file()
    raise ImportError(
        f"vpack's native library (libvpack.so) is missing from {_HERE}; "
        + (
            "this is a source checkout's vpack/, imported because the current folder is the clone: "
            "run from another folder to use the installed vpack, or build in place with "
            "pip install -e . (or set VPACK_LIBRARY to a libvpack.so)"
            if source_tree
            else "install vpack with pip (pip install vpack-search) or set VPACK_LIBRARY to its path"
        )
    )


#: The file the native library was loaded from (``vpack --version`` shows it).
LIBRARY_PATH: str = _library_path()
lib: Any = ffi.dlopen(LIBRARY_PATH)

if lib.vpack_abi_version() != lib.VPACK_ABI_VERSION:
    raise ImportError(
        f"vpack native library ABI {lib.vpack_abi_version()} does not match "
        f"the binding's ABI {lib.VPACK_ABI_VERSION}"
    )

VERSION: str = bytes(ffi.string(lib.vpack_version())).decode("ascii")
FORMAT_VERSION: int = lib.VPACK_FORMAT_VERSION
MAX_K: int = lib.VPACK_MAX_K
#: Query modes of a search, as the library numbers them.
QUERY_MODES: Dict[str, int] = {
    "dense": lib.VPACK_MODE_DENSE,
    "lexical": lib.VPACK_MODE_LEXICAL,
    "hybrid": lib.VPACK_MODE_HYBRID,
}


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


def _path_arg(path: os.PathLike[str] | str) -> bytes:
    """A path as the C string the library takes. A NUL inside it would silently cut the
    path short in C, so it is refused like Python's own open() does."""
    encoded = os.fsencode(path)
    if b"\0" in encoded:
        raise ValueError(f"embedded null byte in path {os.fsdecode(encoded)!r}")
    return encoded


def _json_arg(text: str, what: str) -> bytes:
    """A JSON text as a C string. A raw NUL is never valid JSON (json.dumps escapes it),
    and C would read only the part before it, so it is refused here."""
    encoded = text.encode("utf-8", "surrogatepass")
    if b"\0" in encoded:
        raise InvalidJSONError(f"{what}: invalid JSON: embedded NUL character", InvalidJSONError.code)
    return encoded


def check_k(k: int) -> None:
    """Refuses k above the library's limit before anything is sized from it, with the
    library's own error (code 10)."""
    if k > MAX_K:
        raise LimitExceededError(f"k = {k} (at most {MAX_K})", LimitExceededError.code)


def runtime_init(path: os.PathLike[str] | str) -> None:
    """Loads ONNX Runtime from ``path`` into this process (once)."""
    _check(lib.vpack_runtime_init(_path_arg(path)))


def write_set(path: os.PathLike[str] | str, shards: Sequence[os.PathLike[str] | str]) -> None:
    """Writes the pack set file at ``path`` naming ``shards`` (pack files), atomically."""
    args = [ffi.new("char[]", _path_arg(s)) for s in shards]
    array = ffi.new("const char *[]", args) if args else ffi.NULL
    _check(lib.vpack_set_write(_path_arg(path), array, len(args)))


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


class ClosedError(ValueError):
    """A call on a handle that was closed (like I/O on a closed file)."""


class _Handle:
    """Owns one native pointer, shared safely between threads.

    Every native call that uses the pointer holds a use count for its whole duration
    (cffi releases the GIL around the call, so other threads run meanwhile). ``close()``
    marks the handle closing, so new calls fail with ``ValueError``, waits until the calls
    already in flight have returned, and only then frees the pointer: a close never pulls
    memory out from under a running search. The collector frees the pointer as a
    fallback when close() is never called (PyPy collects late and on any thread; the
    native free functions are thread-safe); a call in flight keeps the handle alive.

    A *pin* is a use that outlives a call: an object handed to the caller that points
    into the native object (``NativeIndex.vectors()``'s array) holds one until it is
    collected. ``close()`` does not wait for pins (that could wait forever): it marks the
    handle closed, and the last unpin frees the pointer.
    """

    _free: Any = None
    _what = "handle"

    def __init__(self, ptr: Any) -> None:
        self._ptr: Optional[Any] = ffi.gc(ptr, type(self)._free)
        # Reentrant: a signal handler may close the handle while its thread is in here.
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._uses = 0
        self._pins = 0
        self._users: Dict[int, int] = {}  # thread id -> its calls in flight
        self._closing = False
        self._free_on_release = False

    def _acquire(self) -> Any:
        """Starts one use and returns the pointer; pair with ``_release()`` in a finally."""
        me = threading.get_ident()
        with self._lock:
            if self._closing:
                raise ClosedError(f"this {self._what} is closed")
            self._uses += 1
            self._users[me] = self._users.get(me, 0) + 1
            return self._ptr

    def _release(self) -> None:
        me = threading.get_ident()
        ptr = None
        with self._lock:
            self._uses -= 1
            left = self._users[me] - 1
            if left:
                self._users[me] = left
            else:
                del self._users[me]
            if self._closing:
                self._cond.notify_all()
                ptr = self._free_if_unused()
        if ptr is not None:
            ffi.release(ptr)

    def _free_if_unused(self) -> Optional[Any]:
        """Under the lock, on a closing handle: the pointer to free when nothing uses or
        pins it any more and the close left the free to the last user."""
        if self._uses == 0 and self._pins == 0 and self._free_on_release:
            ptr, self._ptr = self._ptr, None
            self._free_on_release = False
            return ptr
        return None

    def _pin(self) -> None:
        """Starts a pin (see the class doc). Only from inside a use (between
        ``_acquire()`` and ``_release()``), so the pointer is known to be alive."""
        with self._lock:
            self._pins += 1

    def _unpin(self) -> None:
        """Ends a pin; frees the pointer when the handle was closed and this was the
        last thing using it. Called by collectors, on any thread."""
        ptr = None
        with self._lock:
            self._pins -= 1
            if self._closing:
                ptr = self._free_if_unused()
        if ptr is not None:
            ffi.release(ptr)

    def _take(self, consume: bool) -> Optional[Any]:
        """Marks the handle closed, waits for the calls in flight and returns the pointer
        (None when it was already taken). The caller frees or hands it on.

        A close from inside one of the calling thread's own calls (a signal handler that
        runs between a call and its release) cannot wait for that call, and a close never
        waits for pins: the pointer is then freed by the last release or unpin instead."""
        me = threading.get_ident()
        with self._cond:
            own = self._users.get(me, 0)
            if own and consume:
                raise RuntimeError(f"this {self._what} cannot be handed on from inside one of its own calls")
            if self._pins and consume:
                raise RuntimeError(f"this {self._what} cannot be handed on while arrays still view it")
            self._closing = True
            while self._uses > own:
                self._cond.wait()
            if own or self._pins:
                self._free_on_release = self._ptr is not None
                return None
            ptr, self._ptr = self._ptr, None
            return ptr

    @property
    def closed(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Frees the native object once no call is using it; later calls raise
        ValueError. Idempotent; safe to call from any thread."""
        ptr = self._take(consume=False)
        if ptr is not None:
            ffi.release(ptr)

    def _disown(self) -> Any:
        """Hands the raw pointer to a consuming native call; no free happens here."""
        ptr = self._take(consume=True)
        if ptr is None:
            raise ClosedError(f"this {self._what} is closed")
        ffi.gc(ptr, None)  # detaches the destructor in place
        return ptr


class NativeEmbedder(_Handle):
    _free = lib.vpack_embedder_free
    _what = "embedder"

    @classmethod
    def create(cls, config_json: str) -> NativeEmbedder:
        out = ffi.new("vpack_embedder **")
        _check(lib.vpack_embedder_new(_json_arg(config_json, "embedder config"), out))
        return cls(out[0])

    def dimension(self) -> int:
        out = ffi.new("size_t *")
        ptr = self._acquire()
        try:
            _check(lib.vpack_embedder_dimension(ptr, out))
        finally:
            self._release()
        return int(out[0])

    def describe(self) -> bytes:
        out = ffi.new("vpack_bytes *")
        ptr = self._acquire()
        try:
            _check(lib.vpack_embedder_describe(ptr, out))
        finally:
            self._release()
        return _take_bytes(out)

    def embed(self, texts: Sequence[bytes], dimension: int) -> np.ndarray:
        result = np.empty((len(texts), dimension), dtype=np.float32)
        ptrs, lens, _keep = _text_array(texts)
        out = ffi.from_buffer("float[]", result, require_writable=True)
        ptr = self._acquire()
        try:
            _check(lib.vpack_embedder_embed(ptr, ptrs, lens, len(texts), out, result.size))
        finally:
            self._release()
        return result

    def token_counts(self, texts: Sequence[bytes]) -> List[int]:
        counts = ffi.new("size_t[]", max(len(texts), 1))
        ptrs, lens, _keep = _text_array(texts)
        ptr = self._acquire()
        try:
            _check(lib.vpack_embedder_token_counts(ptr, ptrs, lens, len(texts), counts))
        finally:
            self._release()
        return [int(counts[i]) for i in range(len(texts))]


class NativeIndex(_Handle):
    _free = lib.vpack_index_free
    _what = "pack"

    def __init__(self, ptr: Any) -> None:
        super().__init__(ptr)
        self._count: Optional[int] = None
        self._dimension: Optional[int] = None

    @classmethod
    def open(cls, path: os.PathLike[str] | str, verify: bool) -> NativeIndex:
        out = ffi.new("vpack_index **")
        flags = lib.VPACK_OPEN_VERIFY if verify else 0
        _check(lib.vpack_index_open(_path_arg(path), flags, out))
        return cls(out[0])

    @classmethod
    def from_bytes(cls, data: bytes) -> NativeIndex:
        out = ffi.new("vpack_index **")
        _check(lib.vpack_index_from_bytes(ffi.from_buffer("uint8_t[]", data), len(data), out))
        return cls(out[0])

    def to_bytes(self) -> bytes:
        out = ffi.new("vpack_bytes *")
        ptr = self._acquire()
        try:
            _check(lib.vpack_index_to_bytes(ptr, out))
        finally:
            self._release()
        return _take_bytes(out)

    def save(self, path: os.PathLike[str] | str) -> None:
        path_arg = _path_arg(path)
        ptr = self._acquire()
        try:
            _check(lib.vpack_index_save(ptr, path_arg))
        finally:
            self._release()

    def verify(self) -> None:
        ptr = self._acquire()
        try:
            _check(lib.vpack_index_verify(ptr))
        finally:
            self._release()

    def __len__(self) -> int:
        count = self._count
        if count is None or self._closing:  # a closed pack answers ValueError
            out = ffi.new("size_t *")
            ptr = self._acquire()
            try:
                _check(lib.vpack_index_len(ptr, out))
            finally:
                self._release()
            count = self._count = int(out[0])  # fixed for the handle's lifetime
        return count

    def dimension(self) -> int:
        dim = self._dimension
        if dim is None or self._closing:
            out = ffi.new("size_t *")
            ptr = self._acquire()
            try:
                _check(lib.vpack_index_dimension(ptr, out))
            finally:
                self._release()
            dim = self._dimension = int(out[0])
        return dim

    def manifest(self) -> bytes:
        out = ffi.new("vpack_str *")
        ptr = self._acquire()
        try:
            _check(lib.vpack_index_manifest(ptr, out))
            return _borrowed(out)  # copied while the pack is still open
        finally:
            self._release()

    def chunk(self, chunk_id: int) -> Tuple[bytes, bytes]:
        return self.chunks([chunk_id])[0]

    def chunks(self, chunk_ids: Sequence[int]) -> List[Tuple[bytes, bytes]]:
        """Text and metadata bytes of each chunk, read under one use of the handle."""
        ids = ffi.new("uint64_t[]", list(chunk_ids))
        ptr = self._acquire()
        try:
            return _read_chunks(ptr, ids, len(ids))
        finally:
            self._release()

    def rows(self, chunk_ids: Sequence[int]) -> np.ndarray:
        """A copy of the stored vectors of these chunks (global ids in a pack set), one
        row each: (len(chunk_ids), dim) float32."""
        ids = np.ascontiguousarray(np.asarray(chunk_ids, dtype=np.uint64).reshape(-1))
        out = np.empty((len(ids), self.dimension()), dtype=np.float32)
        ptr = self._acquire()
        try:
            _check(
                lib.vpack_index_rows(
                    ptr,
                    ffi.from_buffer("uint64_t[]", ids),
                    len(ids),
                    ffi.from_buffer("float[]", out, require_writable=True),
                    out.size,
                )
            )
        finally:
            self._release()
        return out

    def search(
        self, query: np.ndarray, k: int, filter_json: Optional[str] = None, ef: int = 0
    ) -> Tuple[np.ndarray, np.ndarray]:
        """The engine's answer alone: ids (uint64) and scores (float32), best first.
        ``ef`` 0 is the pack's default search effort."""
        check_k(k)
        query_arg = _f32_in(query)
        filter_arg = ffi.NULL if filter_json is None else _json_arg(filter_json, "filter")
        # There are never more hits than chunks: size the results for what can come.
        k = min(k, len(self))
        ids = np.empty(k, dtype=np.uint64)
        scores = np.empty(k, dtype=np.float32)
        n = ffi.new("size_t *")
        ptr = self._acquire()
        try:
            _check(
                lib.vpack_index_search_ef(
                    ptr,
                    query_arg,
                    query.shape[0],
                    k,
                    filter_arg,
                    ef,
                    ffi.from_buffer("uint64_t[]", ids, require_writable=True),
                    ffi.from_buffer("float[]", scores, require_writable=True),
                    n,
                )
            )
        finally:
            self._release()
        return ids[: n[0]], scores[: n[0]]

    def search_records(
        self,
        query: Optional[np.ndarray],
        k: int,
        filter_json: Optional[str] = None,
        ef: int = 0,
        mode: int = 0,
        text: Optional[str] = None,
    ) -> Tuple[List[int], List[float], List[Tuple[bytes, bytes]]]:
        """A search in query ``mode`` (0 dense, 1 lexical, 2 hybrid; ``query`` is the
        vector, ``text`` the query text, each None where the mode does not use it) and
        the text and metadata bytes of every hit, under one use of the handle: ids,
        scores (Python numbers, best first) and (text, metadata) records. Two native
        calls (the search, then every hit's chunk); no numpy arrays on the way."""
        check_k(k)
        query_arg = ffi.NULL if query is None else _f32_in(query)
        dim = 0 if query is None else query.shape[0]
        text_bytes = b"" if text is None else text.encode("utf-8", "surrogatepass")
        text_arg = ffi.from_buffer("uint8_t[]", text_bytes) if text_bytes else ffi.NULL
        filter_arg = ffi.NULL if filter_json is None else _json_arg(filter_json, "filter")
        k = min(k, len(self))
        # The output arrays are the thread's spares when they are large enough (taken out
        # while in use, as in _read_chunks).
        spare = _spare.__dict__
        out = spare.pop("search", None)
        if out is None or out[0] < k:
            size = max(k, 16)
            out = (size, ffi.new("uint64_t[]", size), ffi.new("float[]", size), ffi.new("size_t *"))
        _, ids, scores, n = out
        ptr = self._acquire()
        try:
            status = lib.vpack_index_search_mode(
                ptr, mode, query_arg, dim, text_arg, len(text_bytes), k, filter_arg, ef, ids, scores, n
            )
            if status:
                raise _error(status)
            found = n[0]
            records = _read_chunks(ptr, ids, found)
        finally:
            self._release()
        id_list: List[int] = ffi.unpack(ids, found)
        score_list: List[float] = ffi.unpack(scores, found)
        if out[0] <= _KEEP_SPARE:
            spare["search"] = out
        return id_list, score_list, records

    def search_batch(
        self,
        queries: np.ndarray,
        k: int,
        filter_json: Optional[str] = None,
        ef: int = 0,
        threads: int = 0,
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` queries (an (n, dim) array) in one native call on up to ``threads``
        threads (0: all cores). Returns ids (int64) and scores (float32) of shape
        (n, k'), k' = min(k, len), and the number of hits per row (int64, shape (n,));
        entries past a row's count are not defined."""
        check_k(k)
        if queries.ndim != 2:
            raise ValueError(f"queries must be 2-D (n, dim), got shape {queries.shape}")
        rows, dim = queries.shape
        queries_arg = _f32_in(queries)
        filter_arg = ffi.NULL if filter_json is None else _json_arg(filter_json, "filter")
        k = min(k, len(self))
        ids = np.empty((rows, k), dtype=np.uint64)
        scores = np.empty((rows, k), dtype=np.float32)
        counts = np.zeros(rows, dtype=np.uintp)
        # from_buffer needs a non-empty buffer for a valid pointer; keep one spare entry.
        ids_arg = ffi.from_buffer(
            "uint64_t[]", ids if ids.size else np.empty(1, np.uint64), require_writable=True
        )
        scores_arg = ffi.from_buffer(
            "float[]", scores if scores.size else np.empty(1, np.float32), require_writable=True
        )
        counts_arg = ffi.from_buffer(
            "size_t[]", counts if rows else np.zeros(1, np.uintp), require_writable=True
        )
        ptr = self._acquire()
        try:
            _check(
                lib.vpack_index_search_batch(
                    ptr, queries_arg, rows, dim, k, filter_arg, ef, threads, ids_arg, scores_arg, counts_arg
                )
            )
        finally:
            self._release()
        return ids.view(np.int64), scores, counts.astype(np.int64)

    def vectors(self) -> np.ndarray:
        """The stored vectors, read in place: a read-only (len, dim) float32 array over
        the pack's memory, no copy. The array holds a pin on the handle (see _Handle):
        after ``close()`` it stays readable, and the native pack is freed when the last
        array using it is collected."""
        data = ffi.new("const float **")
        count = ffi.new("size_t *")
        dim = ffi.new("size_t *")
        ptr = self._acquire()
        try:
            _check(lib.vpack_index_vectors(ptr, data, count, dim))
            rows, cols = int(count[0]), int(dim[0])
            if rows == 0 or cols == 0:
                empty = np.empty((rows, cols), dtype=np.float32)
                empty.flags.writeable = False
                return empty
            self._pin()
            try:
                # The pin ends when this cdata is collected: the _Rows object holds it, and
                # every numpy array viewing the rows holds the _Rows object.
                keep = ffi.gc(ffi.cast("char *", data[0]), self._unpin_cdata)
            except BaseException:
                self._unpin()
                raise
        finally:
            self._release()
        array: np.ndarray = np.asarray(_Rows(keep, rows, cols))
        return array

    def _unpin_cdata(self, _cdata: Any) -> None:
        self._unpin()


class _Rows:
    """The owner of a vectors array: numpy reads the rows in place through
    ``__array_interface__`` (marked read-only, and this object exports no writable
    buffer, so the array can never be made writable), and this object keeps the pin on
    the pack alive for as long as any array viewing the rows exists. (np.frombuffer over
    a memoryview is not used: PyPy's cpyext never releases such a memoryview.)"""

    __slots__ = ("__array_interface__", "_keep")

    def __init__(self, keep: Any, rows: int, cols: int) -> None:
        self._keep = keep
        self.__array_interface__ = {
            "data": (int(ffi.cast("uintptr_t", keep)), True),
            "shape": (rows, cols),
            "typestr": "<f4",
            "version": 3,
        }


_chunks_fn = lib.vpack_index_chunks
_unpack = ffi.unpack
# Each thread keeps spare arrays for the calls on its hot path (search results, the
# vpack_str pairs of a batch of chunks), taken out while in use so that a nested call on
# the same thread (a signal handler that searches) makes its own.
_spare = threading.local()
assert ffi.sizeof("vpack_str") == 2 * ffi.sizeof("size_t") == 2 * ffi.sizeof("char *")
_KEEP_SPARE = 4096  # entries: larger arrays (a huge k) are not kept


def _new_chunk_arrays(size: int) -> Tuple[Any, ...]:
    """``size`` text and metadata vpack_str entries, also read back as words: pointer
    ``2i`` as a char * (so ffi.unpack copies it straight into bytes), length ``2i + 1``."""
    texts = ffi.new("vpack_str[]", size)
    metas = ffi.new("vpack_str[]", size)
    return (
        size,
        texts,
        metas,
        ffi.cast("char **", texts),
        ffi.cast("size_t *", texts),
        ffi.cast("char **", metas),
        ffi.cast("size_t *", metas),
    )


def _read_chunks(ptr: Any, ids: Any, n: int) -> List[Tuple[bytes, bytes]]:
    """Copies the text and metadata bytes of the ``n`` chunks whose ids are in the
    uint64_t array ``ids``, while the caller holds a use of the handle ``ptr``: one
    native call, then one copy of each string."""
    spare = _spare.__dict__
    arrays = spare.pop("chunks", None)
    if arrays is None or arrays[0] < n:
        arrays = _new_chunk_arrays(max(n, 16))
    size, texts, metas, text_words, text_lens, meta_words, meta_lens = arrays
    status = _chunks_fn(ptr, ids, n, texts, metas)
    if status:
        raise _error(status)
    out = [
        (
            # (an empty string may be NULL)
            _unpack(text_words[2 * i], text_lens[2 * i + 1]) if text_lens[2 * i + 1] else b"",
            _unpack(meta_words[2 * i], meta_lens[2 * i + 1]) if meta_lens[2 * i + 1] else b"",
        )
        for i in range(n)
    ]
    if size <= _KEEP_SPARE:
        spare["chunks"] = arrays
    return out


class NativeBuilder(_Handle):
    _free = lib.vpack_builder_free
    _what = "builder"

    def __init__(self, ptr: Any) -> None:
        super().__init__(ptr)
        self._turn = threading.Lock()

    @classmethod
    def create(cls, options_json: str) -> NativeBuilder:
        out = ffi.new("vpack_builder **")
        _check(lib.vpack_builder_new(_json_arg(options_json, "builder options"), out))
        return cls(out[0])

    def add(self, chunks_json: bytes, vectors: np.ndarray) -> None:
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D (n, dim), got shape {vectors.shape}")
        n, dim = vectors.shape
        chunks_arg = ffi.from_buffer("uint8_t[]", chunks_json)
        vectors_arg = _f32_in(vectors)
        # A vpack_builder is for one thread at a time: concurrent adds take turns.
        with self._turn:
            ptr = self._acquire()
            try:
                _check(lib.vpack_builder_add(ptr, chunks_arg, len(chunks_json), vectors_arg, n, dim))
            finally:
                self._release()

    def finish(self, manifest_json: str) -> NativeIndex:
        out = ffi.new("vpack_index **")
        manifest = _json_arg(manifest_json, "manifest")
        # vpack_builder_finish consumes the builder whatever it returns.
        _check(lib.vpack_builder_finish(self._disown(), manifest, out))
        return NativeIndex(out[0])

    def finish_file(self, manifest_json: str, path: os.PathLike[str] | str) -> NativeIndex:
        out = ffi.new("vpack_index **")
        manifest = _json_arg(manifest_json, "manifest")
        path_arg = _path_arg(path)
        # vpack_builder_finish_file consumes the builder whatever it returns.
        _check(lib.vpack_builder_finish_file(self._disown(), manifest, path_arg, out))
        return NativeIndex(out[0])


__all__: List[str] = [
    "ClosedError",
    "FORMAT_VERSION",
    "LIBRARY_PATH",
    "MAX_K",
    "NativeBuilder",
    "NativeEmbedder",
    "NativeIndex",
    "VERSION",
    "check_k",
    "embedder_kinds",
    "runtime_init",
    "status_name",
]
