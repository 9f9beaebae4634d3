"""Incremental builds: a document whose content and build settings are unchanged since an
earlier build is neither transformed nor chunked again; its chunks (text, offsets,
metadata, embed text) come from the build cache (:class:`vpack.cache.EmbeddingCache`,
table ``documents``), and then their vectors from the embedding cache as before.

A cached document is found by two keys:

- the *settings fingerprint* (:func:`settings_fingerprint`): the sha256 of everything
  that shapes a document's chunks: each transformer's and the chunker's class,
  ``describe()`` and the sha256 of the source file of its module, and of every module
  of vpack's own plugins (so editing a plugin's code invalidates too), the tokenizer
  the chunker measures tokens with (its embedder's ``describe()`` and the sha256 of its
  tokenizer files), the vpack version and :data:`FORMAT`. A build whose plugins cannot
  be fingerprinted (a transformer or chunker without ``describe()``, a token counter
  that is not an embedder's method, a plugin with ``cacheable = False``) does not use
  the document cache at all;
- the *document key* (:func:`document_key`): the sha256 of the document as the source
  gave it: its id, text and metadata.

Like the embedding cache, the table is content-addressed: an edited document adds a row
(the older one stays, and is used again if the edit is undone or another folder holds
the same file); delete the cache folder to reclaim the space. Rows are checked on
reading (payload digest, zlib, JSON shape); a row that fails is a miss, and a cache that
cannot be read or written at all (a damaged or locked SQLite file) turns the document
cache off for the rest of the build, never the build. Plugins are assumed to be
deterministic: the same document and settings give the same chunks (true of the
built-in ones).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ._native import VERSION
from .cache import EmbeddingCache
from .plugins.base import Chunk, Chunker, Document, Embedder, Transformer

#: The layout of a cached document and the pipeline code around it; raised when either
#: changes, so that older rows are not used.
FORMAT = 1
#: A document's chunks are stored only up to this many characters of chunk text (and
#: embed text); a larger document is transformed and chunked on every build.
MAX_CACHED_CHARACTERS = 16 << 20
#: Rows written per transaction.
_FLUSH_ROWS = 64
_FLUSH_BYTES = 8 << 20
#: The files of a tokenizer folder that decide how it counts tokens.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "config.json",
    "vocab.txt",
)


def _sha256_file(path: Path) -> Optional[str]:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _code(cls: type) -> Dict[str, Any]:
    """A plugin class's identity: its qualified name, its package's ``__version__`` and
    the sha256 of the source file of its module."""
    module = sys.modules.get(cls.__module__)
    top = sys.modules.get(cls.__module__.split(".")[0])
    source = getattr(module, "__file__", None)
    return {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "version": getattr(top, "__version__", None),
        "source_sha256": _sha256_file(Path(source)) if isinstance(source, str) else None,
    }


def _builtin_code() -> Dict[str, Optional[str]]:
    """The sha256 of each of vpack's own plugin modules (the built-in plugins share
    helpers across them: editing any one invalidates)."""
    folder = Path(__file__).parent / "plugins"
    return {path.name: _sha256_file(path) for path in sorted(folder.glob("*.py"))}


def _plugin(plugin: object) -> Optional[Dict[str, Any]]:
    """A transformer's or chunker's part of the fingerprint, or None when it has none."""
    if getattr(plugin, "cacheable", True) is False:
        return None
    describe = getattr(plugin, "describe", None)
    if not callable(describe):
        return None
    return {**_code(type(plugin)), "describe": dict(describe())}


def _tokenizer(owner: object) -> Optional[Dict[str, Any]]:
    """The identity of the embedder whose tokenizer counts the chunker's tokens."""
    describe = getattr(owner, "describe", None)
    if not callable(describe):
        return None
    folder = getattr(owner, "tokenizer_dir", None)
    files: Dict[str, Optional[str]] = {}
    if isinstance(folder, (str, Path)):
        for name in TOKENIZER_FILES:
            path = Path(folder) / name
            if path.is_file():
                files[name] = _sha256_file(path)
    return {**_code(type(owner)), "describe": dict(describe()), "files": files}


def settings_fingerprint(
    transformers: Sequence[Transformer], chunker: Chunker, embedder: Optional[Embedder] = None
) -> Optional[str]:
    """The sha256 (hex) of everything that shapes a document's chunks, or None when some
    plugin cannot be fingerprinted (the document cache is then not used). ``embedder``
    is the build's: it counts for a chunker from outside vpack that has no
    ``token_counter`` (it might measure with the embedder in a way not seen here)."""
    parts: List[Optional[Dict[str, Any]]] = [_plugin(t) for t in transformers]
    parts.append(_plugin(chunker))
    if any(p is None for p in parts):
        return None
    counter = getattr(chunker, "token_counter", None)
    tokenizer: Optional[Dict[str, Any]] = None
    if counter is not None:
        owner = getattr(counter, "__self__", None)
        tokenizer = None if owner is None else _tokenizer(owner)
        if tokenizer is None:
            return None
    elif not type(chunker).__module__.startswith("vpack.") and embedder is not None:
        tokenizer = _tokenizer(embedder)
        if tokenizer is None:
            return None
    fingerprint = {
        "format": FORMAT,
        "vpack": VERSION,
        "plugins": _builtin_code(),
        "transformers": parts[:-1],
        "chunker": parts[-1],
        "tokenizer": tokenizer,
    }
    canonical = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def document_key(document: Document) -> Optional[bytes]:
    """The sha256 of a document as its source gave it (id, text and metadata), or None
    when its metadata is not JSON (it is then not cached)."""
    try:
        meta = json.dumps(document.metadata, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    h = hashlib.sha256()
    for part in (str(document.id), document.text, meta):
        data = part.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.digest()


def encode_chunk(chunk: Chunk) -> Optional[str]:
    """A chunk as the JSON stored in a cached document, or None when it cannot be."""
    try:
        return json.dumps(
            [chunk.text, chunk.start, chunk.end, chunk.metadata, chunk.embed_text],
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        )
    except (TypeError, ValueError):
        return None


def _decode(payload: bytes) -> Optional[List[Chunk]]:
    """The chunks of a cached document's payload, or None when it is not one."""
    try:
        items = json.loads(zlib.decompress(payload).decode("utf-8", "surrogatepass"))
    except (zlib.error, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(items, list):
        return None
    chunks: List[Chunk] = []
    for item in items:
        if not (isinstance(item, list) and len(item) == 5):
            return None
        text, start, end, meta, embed = item
        if not (
            isinstance(text, str)
            and type(start) is int
            and type(end) is int
            and isinstance(meta, dict)
            and (embed is None or isinstance(embed, str))
        ):
            return None
        chunks.append(Chunk(text=text, start=start, end=end, metadata=meta, embed_text=embed))
    return chunks


@dataclass
class Reused:
    """A document whose chunks came from the cache."""

    chunks: List[Chunk]


@dataclass
class Keyed:
    """A transformed document and the key its chunks are stored under."""

    document: Document
    key: bytes


class DocumentCache:
    """Cached chunks of documents for one settings fingerprint, in ``store``. ``hits``
    and ``misses`` count documents looked up."""

    def __init__(self, store: EmbeddingCache, settings: str) -> None:
        self.store = store
        self.settings = settings
        self.enabled = True
        self.hits = 0
        self.misses = 0
        self._pending: List[Tuple[bytes, bytes]] = []
        self._pending_bytes = 0

    @classmethod
    def open(
        cls,
        store: Optional[EmbeddingCache],
        transformers: Sequence[Transformer],
        chunker: Chunker,
        embedder: Optional[Embedder] = None,
    ) -> Optional[DocumentCache]:
        """The document cache of a build with these plugins, or None (no store, or
        plugins that cannot be fingerprinted)."""
        if store is None:
            return None
        settings = settings_fingerprint(transformers, chunker, embedder)
        return None if settings is None else cls(store, settings)

    def _failed(self) -> None:
        """The store cannot be used (damaged, locked): no more lookups or writes."""
        self.enabled = False
        self._pending = []

    def get(self, key: bytes) -> Optional[List[Chunk]]:
        """The cached chunks of the document with ``key``, or None (a miss)."""
        chunks: Optional[List[Chunk]] = None
        if self.enabled:
            try:
                payload = self.store.get_document(self.settings, key)
            except sqlite3.Error:
                self._failed()
                payload = None
            chunks = None if payload is None else _decode(payload)
        if chunks is None:
            self.misses += 1
        else:
            self.hits += 1
        return chunks

    def put(self, key: bytes, encoded: Sequence[str]) -> None:
        """Stores a document's chunks, given as :func:`encode_chunk` JSON (written in
        batches; :meth:`flush` writes the rest)."""
        if not self.enabled:
            return
        payload = zlib.compress(("[" + ",".join(encoded) + "]").encode("utf-8", "surrogatepass"), 1)
        self._pending.append((key, payload))
        self._pending_bytes += len(payload)
        if len(self._pending) >= _FLUSH_ROWS or self._pending_bytes >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        rows, self._pending, self._pending_bytes = self._pending, [], 0
        if rows and self.enabled:
            try:
                self.store.put_documents(self.settings, rows)
            except sqlite3.Error:
                self._failed()
