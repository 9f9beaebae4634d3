"""An on-disk build cache, so rebuilding a pack after editing a few files redoes the work
for those files only: embeddings keyed by the embedder's identity and the text's content
hash, token counts likewise, and each document's chunks (see :mod:`vpack.incremental`).

One SQLite file per cache folder, three tables:

- ``embeddings``: (embedder key, sha256 of the UTF-8 text, float32 vector bytes). The
  embedder key is the sha256 of the embedder's canonical ``describe()`` JSON, which for
  a model includes the model file's sha256: a different model never reuses another's
  vectors.
- ``token_counts``: (embedder key, sha256 of the text, token count), for the build
  report's token totals.
- ``documents``: (settings fingerprint, document key, sha256 of the payload, payload):
  a document's chunks after the transformers and the chunker, written and read by
  :class:`vpack.incremental.DocumentCache`.

A row that cannot be read (a vector of the wrong size, a payload whose digest does not
match) is a miss, and is replaced by the next build that computes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .plugins.base import Embedder

SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    embedder TEXT NOT NULL,
    text_sha256 BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (embedder, text_sha256)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS token_counts (
    embedder TEXT NOT NULL,
    text_sha256 BLOB NOT NULL,
    tokens INTEGER NOT NULL,
    PRIMARY KEY (embedder, text_sha256)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS documents (
    settings TEXT NOT NULL,
    document BLOB NOT NULL,
    payload_sha256 BLOB NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (settings, document)
) WITHOUT ROWID;
"""

#: Keys per SELECT ... IN (...) (SQLite allows 999 parameters in old builds).
_IN_BATCH = 500


def default_cache_dir() -> Path:
    """``$VPACK_CACHE_DIR``, else ``$XDG_CACHE_HOME/vpack``, else ``~/.cache/vpack``."""
    named = os.environ.get("VPACK_CACHE_DIR")
    if named:
        return Path(named)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vpack"


def embedder_key(description: Mapping[str, Any]) -> str:
    canonical = json.dumps(dict(description), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _sha256(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class EmbeddingCache:
    """The SQLite store. Use as a context manager or call :meth:`close`."""

    def __init__(self, folder: os.PathLike[str] | str) -> None:
        self.path = Path(folder) / "embeddings.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path))
        self._query("PRAGMA journal_mode=WAL")
        with self._db:
            self._db.executescript(SCHEMA).close()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> List[Any]:
        """Runs one statement and closes its cursor at once: PyPy collects cursors late,
        and an unfinished statement would block the next commit."""
        cursor = self._db.execute(sql, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def _select(self, table: str, column: str, key: str, hashes: Sequence[bytes]) -> Dict[bytes, Any]:
        """``column`` of the rows of ``table`` for ``key`` and each of ``hashes``."""
        found: Dict[bytes, Any] = {}
        unique = list(dict.fromkeys(hashes))
        for lo in range(0, len(unique), _IN_BATCH):
            part = unique[lo : lo + _IN_BATCH]
            marks = ",".join("?" * len(part))
            rows = self._query(
                f"SELECT text_sha256, {column} FROM {table} WHERE embedder = ? AND text_sha256 IN ({marks})",
                [key, *part],
            )
            for sha, value in rows:
                if isinstance(sha, bytes):
                    found[sha] = value
        return found

    def get_many(self, key: str, hashes: Sequence[bytes], dimension: int) -> List[Optional[np.ndarray]]:
        found: Dict[bytes, np.ndarray] = {}
        for sha, blob in self._select("embeddings", "vector", key, hashes).items():
            if isinstance(blob, bytes) and len(blob) == 4 * dimension:
                found[sha] = np.frombuffer(blob, dtype="<f4")
        return [found.get(h) for h in hashes]

    def put_many(self, key: str, hashes: Sequence[bytes], vectors: np.ndarray) -> None:
        rows = [(key, h, v.astype("<f4").tobytes()) for h, v in zip(hashes, vectors)]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)", rows).close()

    def get_token_counts(self, key: str, hashes: Sequence[bytes]) -> List[Optional[int]]:
        found = self._select("token_counts", "tokens", key, hashes)
        return [n if isinstance(n, int) and n >= 0 else None for n in (found.get(h) for h in hashes)]

    def put_token_counts(self, key: str, hashes: Sequence[bytes], counts: Sequence[int]) -> None:
        rows = [(key, h, int(n)) for h, n in zip(hashes, counts)]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO token_counts VALUES (?, ?, ?)", rows).close()

    def get_document(self, settings: str, document: bytes) -> Optional[bytes]:
        """The payload stored for ``document`` under ``settings``, or None when there is
        none or it does not match its digest."""
        rows = self._query(
            "SELECT payload_sha256, payload FROM documents WHERE settings = ? AND document = ?",
            [settings, document],
        )
        if not rows:
            return None
        digest, payload = rows[0]
        if not isinstance(payload, bytes) or hashlib.sha256(payload).digest() != digest:
            return None
        return payload

    def put_documents(self, settings: str, rows: Sequence[Tuple[bytes, bytes]]) -> None:
        """Stores (document key, payload) rows under ``settings``."""
        values = [(settings, doc, hashlib.sha256(payload).digest(), payload) for doc, payload in rows]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO documents VALUES (?, ?, ?, ?)", values).close()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CachedEmbedder:
    """Wraps an Embedder: vectors for texts seen before (with the same embedder) come
    from the cache; only the others are embedded. ``hits`` and ``misses`` count texts."""

    def __init__(self, inner: Embedder, cache: EmbeddingCache) -> None:
        self.inner = inner
        self.cache = cache
        self._description = dict(inner.describe())
        self._key = embedder_key(self._description)
        self.hits = 0
        self.misses = 0

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def describe(self) -> Mapping[str, Any]:
        return self._description

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_with_progress(texts, None)

    def token_counter(self) -> Optional[Callable[[Sequence[str]], List[int]]]:
        """The inner embedder's ``token_counts`` answered from the cache where it can (a
        rebuild then tokenizes only its new chunks), or None when it has none."""
        inner = getattr(self.inner, "token_counts", None)
        if not callable(inner):
            return None

        def token_counts(texts: Sequence[str]) -> List[int]:
            hashes = [_sha256(t) for t in texts]
            counts = self.cache.get_token_counts(self._key, hashes)
            missing = [i for i, n in enumerate(counts) if n is None]
            if missing:
                fresh = [int(n) for n in inner([texts[i] for i in missing])]
                if len(fresh) != len(missing):
                    raise ValueError(f"token_counts returned {len(fresh)} counts for {len(missing)} texts")
                for i, n in zip(missing, fresh):
                    counts[i] = n
                self.cache.put_token_counts(self._key, [hashes[i] for i in missing], fresh)
            return [int(n or 0) for n in counts]

        return token_counts

    def embed_with_progress(self, texts: Sequence[str], done: Optional[Callable[[int], None]]) -> np.ndarray:
        """As :meth:`embed`; ``done(n)`` is called for the cached texts at once, then as
        the inner embedder reports (after its whole call when it cannot)."""
        hashes = [_sha256(t) for t in texts]
        cached = self.cache.get_many(self._key, hashes, self.dimension)
        missing = [i for i, v in enumerate(cached) if v is None]
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for i, v in enumerate(cached):
            if v is not None:
                out[i] = v
        if done is not None and len(missing) < len(texts):
            done(len(texts) - len(missing))
        if missing:
            todo = [texts[i] for i in missing]
            stepwise = getattr(self.inner, "embed_with_progress", None)
            if done is not None and callable(stepwise):
                fresh = np.asarray(stepwise(todo, done), dtype=np.float32)
            else:
                fresh = np.asarray(self.inner.embed(todo), dtype=np.float32)
                if done is not None:
                    done(len(missing))
            out[missing] = fresh
            self.cache.put_many(self._key, [hashes[i] for i in missing], fresh)
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        return out
