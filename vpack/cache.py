"""An on-disk cache of embeddings, keyed by the embedder's identity and the text's
content hash, so rebuilding a pack after editing a few files re-embeds only their chunks.

One SQLite file per cache folder; rows are (embedder key, sha256 of the UTF-8 text,
float32 vector bytes). The embedder key is the sha256 of the embedder's canonical
``describe()`` JSON, which for a model includes the model file's sha256: a different
model never reuses another's vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .plugins.base import Embedder

SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    embedder TEXT NOT NULL,
    text_sha256 BLOB NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (embedder, text_sha256)
) WITHOUT ROWID
"""


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


class EmbeddingCache:
    """The SQLite store. Use as a context manager or call :meth:`close`."""

    def __init__(self, folder: os.PathLike[str] | str) -> None:
        self.path = Path(folder) / "embeddings.sqlite3"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path))
        self._query("PRAGMA journal_mode=WAL")
        self._query(SCHEMA)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> List[Any]:
        """Runs one statement and closes its cursor at once: PyPy collects cursors late,
        and an unfinished statement would block the next commit."""
        cursor = self._db.execute(sql, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def get_many(self, key: str, hashes: Sequence[bytes], dimension: int) -> List[Optional[np.ndarray]]:
        found: Dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(hashes))
        for lo in range(0, len(unique), 500):
            part = unique[lo : lo + 500]
            marks = ",".join("?" * len(part))
            rows = self._query(
                f"SELECT text_sha256, vector FROM embeddings WHERE embedder = ? AND text_sha256 IN ({marks})",
                [key, *part],
            )
            for sha, blob in rows:
                vector = np.frombuffer(blob, dtype="<f4")
                if vector.shape == (dimension,):
                    found[bytes(sha)] = vector
        return [found.get(h) for h in hashes]

    def put_many(self, key: str, hashes: Sequence[bytes], vectors: np.ndarray) -> None:
        rows = [(key, h, v.astype("<f4").tobytes()) for h, v in zip(hashes, vectors)]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)", rows).close()

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

    def embed_with_progress(self, texts: Sequence[str], done: Optional[Callable[[int], None]]) -> np.ndarray:
        """As :meth:`embed`; ``done(n)`` is called for the cached texts at once, then as
        the inner embedder reports (after its whole call when it cannot)."""
        hashes = [hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest() for t in texts]
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
