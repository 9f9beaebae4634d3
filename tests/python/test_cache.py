"""The embedding cache: rebuilds reuse vectors of unchanged chunks, and only for the same
embedder."""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np

import vpack
from vpack.cache import CachedEmbedder, EmbeddingCache
from vpack.plugins import HashEmbedder


class CountingEmbedder:
    """Hash vectors, counting how many texts it was asked to embed."""

    def __init__(self, dimension: int = 32, salt: str = "") -> None:
        self.inner = HashEmbedder(dimension)
        self.salt = salt
        self.embedded: List[str] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def describe(self) -> dict:
        return {**self.inner.describe(), "kind": "hash", "salt": self.salt}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return self.inner.embed(texts)


def test_rebuild_embeds_only_changed_chunks(docs: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    first = CountingEmbedder()
    with vpack.build(docs, tmp_path / "a.vpack", embedder=first, cache=cache_dir) as r:
        assert (r.report.cache_hits, r.report.cache_misses) == (0, 4)
    (docs / "birds.txt").write_text("Penguins do not fly; they swim in cold seas.\n", encoding="utf-8")
    second = CountingEmbedder()
    with vpack.build(docs, tmp_path / "b.vpack", embedder=second, cache=cache_dir) as r:
        assert (r.report.cache_hits, r.report.cache_misses) == (3, 1)
    assert [t.strip() for t in second.embedded] == ["Penguins do not fly; they swim in cold seas."]
    # The cached build equals a build without cache, byte for byte.
    with vpack.build(docs, tmp_path / "c.vpack", embedder=CountingEmbedder(), cache=False) as r:
        assert (r.report.cache_hits, r.report.cache_misses) == (0, 0)
    assert (tmp_path / "b.vpack").read_bytes() == (tmp_path / "c.vpack").read_bytes()


def test_a_different_embedder_never_reuses_vectors(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path) as cache:
        a = CachedEmbedder(CountingEmbedder(salt="a"), cache)
        b = CachedEmbedder(CountingEmbedder(salt="b"), cache)
        a.embed(["same text"])
        b.embed(["same text"])
        assert (a.misses, b.misses) == (1, 1)
        again = CachedEmbedder(CountingEmbedder(salt="a"), cache)
        vectors = again.embed(["same text", "other"])
        assert (again.hits, again.misses) == (1, 1)
        assert np.allclose(vectors[0], a.embed(["same text"])[0])


def test_hash_builds_skip_the_cache_by_default(docs: Path, tmp_path: Path) -> None:
    with vpack.build(docs, embedder="hash") as r:
        assert (r.report.cache_hits, r.report.cache_misses) == (0, 0)
