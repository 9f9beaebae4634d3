from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import vpack
from vpack.builder import PackBuilder

TOPICS = {
    "files.md": "# Reading files\n\nTo read a file line by line, open it and iterate over the file "
    "object; each iteration yields one line including its newline.\n",
    "birds.txt": "Many birds migrate south in autumn, flying thousands of kilometres to warmer places.\n",
    "guide/install.md": "# Installing\n\nRun pip install to set up the package, "
    "then run the command line tool.\n",
    "guide/deep/cooking.rst": "Bake the bread at two hundred degrees for forty minutes until golden.\n",
}


#: The manifest's record of the lexical index every default build stores.
RECORDED_LEXICAL = {
    "tokenizer": "words-ident-stop-v1",
    "k1": 1.5,
    "b": 0.9,
    "fields": [],
    "hybrid_weight": 0.2,
}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keeps every test's embedding cache out of the user's ~/.cache."""
    monkeypatch.setenv("VPACK_CACHE_DIR", str(tmp_path_factory.mktemp("vpack-cache")))


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    for rel, text in TOPICS.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def random_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


@pytest.fixture()
def vector_pack() -> Iterator[vpack.Pack]:
    vectors = random_vectors(200, 16)
    b = PackBuilder(16)
    b.add([f"chunk {i}" for i in range(200)], vectors, [{"i": i} for i in range(200)])
    with b.finish({"title": "random"}) as pack:
        yield pack
