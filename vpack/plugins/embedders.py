"""Built-in embedders."""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np

from .._native import NativeEmbedder


class HashEmbedder:
    """Model-free embeddings computed in Rust: signed feature hashing of words and
    character n-grams, L2-normalised. Matches shared words and spellings, not meaning."""

    def __init__(self, dimension: int = 256, char_ngram: int = 3) -> None:
        self._config: Dict[str, Any] = {
            "kind": "hash",
            "dimension": dimension,
            "char_ngram": char_ngram,
        }
        self._native: Optional[NativeEmbedder] = None

    def _handle(self) -> NativeEmbedder:
        if self._native is None:
            self._native = NativeEmbedder.create(json.dumps(self._config))
        return self._native

    @property
    def dimension(self) -> int:
        return int(self._config["dimension"])

    def describe(self) -> Mapping[str, Any]:
        described: Dict[str, Any] = json.loads(self._handle().describe())
        return described

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._handle().embed([t.encode("utf-8") for t in texts], self.dimension)

    def close(self) -> None:
        if self._native is not None:
            self._native.close()
            self._native = None
