"""Data sets for benches/bench_ann.py: base vectors, held-out queries and their exact
top-k (numpy), cached under a work folder so reruns skip the expensive parts.

- ``synthetic(n, dim, queries)``: clustered vectors, L2-normalised. Cluster centres and
  the spread around them follow a decaying spectrum (variance concentrated in few
  directions, as in text embeddings), cluster sizes are skewed. Queries are fresh draws
  from the same mixture: never in the base set.
- ``real(pack_or_npy, queries)``: the vectors stored in a pack (e.g. one built with the
  default model from a documentation tree); ``queries`` randomly chosen rows are held
  out of the base set and used as queries.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple

import numpy as np


@dataclass
class DataSet:
    name: str
    base: np.ndarray  # (n, dim) float32, L2-normalised, C-contiguous
    queries: np.ndarray  # (q, dim) float32, L2-normalised
    truth: np.ndarray  # (q, k) int64: exact top-k ids, best first
    truth_scores: np.ndarray  # (q, k) float32: their inner products
    description: str


def _normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def exact_topk(
    base: np.ndarray, queries: np.ndarray, k: int, block: int = 65536
) -> Tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product (= cosine for normalised rows), ties to the lower id."""
    q = len(queries)
    best_s = np.full((q, k), -np.inf, dtype=np.float32)
    best_i = np.zeros((q, k), dtype=np.int64)
    for lo in range(0, len(base), block):
        scores = queries @ base[lo : lo + block].T  # (q, b)
        kk = min(k, scores.shape[1])
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        s = np.concatenate([best_s, np.take_along_axis(scores, part, axis=1)], axis=1)
        i = np.concatenate([best_i, part + lo], axis=1)
        # Best first; equal scores by lower id (lexsort: last key is primary).
        order = np.lexsort((i, -s), axis=1)[:, :k]
        best_s = np.take_along_axis(s, order, axis=1)
        best_i = np.take_along_axis(i, order, axis=1)
    return best_i, best_s


Arrays = Dict[str, np.ndarray]


def _cached(path: Path, make: Callable[[], Arrays]) -> Arrays:
    if path.exists():
        with np.load(path) as z:
            return {key: z[key] for key in z.files}
    arrays = make()
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return arrays


@dataclass
class _Mixture:
    centres: np.ndarray  # (clusters, dim)
    weights: np.ndarray  # (clusters,) cluster probabilities, skewed
    spectrum: np.ndarray  # (dim,) standard deviation per principal direction
    rotation: np.ndarray  # (dim, dim) orthonormal: principal directions


def _mixture(dim: int, clusters: int, seed: int) -> _Mixture:
    """The synthetic mixture, fixed by the seed."""
    rng = np.random.default_rng(seed)
    spectrum = ((1.0 + np.arange(dim)) ** -0.5).astype(np.float32)
    rotation = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    centres = (rng.standard_normal((clusters, dim), dtype=np.float32) * spectrum) @ rotation.T
    weights = 1.0 / (1.0 + np.arange(clusters)) ** 0.5
    return _Mixture(centres, weights / weights.sum(), spectrum, rotation)


def _draw(count: int, mix: _Mixture, seed: int, spread: float) -> np.ndarray:
    """``count`` normalised points: a centre plus noise with the same decaying spectrum."""
    rng = np.random.default_rng(seed)
    dim = mix.centres.shape[1]
    out = np.empty((count, dim), dtype=np.float32)
    step = 100_000
    for lo in range(0, count, step):
        m = min(step, count - lo)
        which = rng.choice(len(mix.centres), size=m, p=mix.weights)
        noise = rng.standard_normal((m, dim), dtype=np.float32) * (spread * mix.spectrum)
        out[lo : lo + m] = mix.centres[which] + noise @ mix.rotation.T
    return _normalise(out)


def synthetic(
    n: int,
    dim: int,
    queries: int,
    k: int = 10,
    seed: int = 0,
    workdir: Optional[Path] = None,
    spread: float = 0.6,
) -> DataSet:
    clusters = max(16, n // 200)

    def make() -> Arrays:
        mix = _mixture(dim, clusters, seed)
        base = _draw(n, mix, seed + 1, spread)
        q = _draw(queries, mix, seed + 2, spread)  # fresh draws: not in the base
        ids, scores = exact_topk(base, q, k)
        return {"base": base, "queries": q, "truth": ids, "truth_scores": scores}

    name = f"synthetic-{n}x{dim}-q{queries}-k{k}-s{seed}-sp{spread}"
    arrays = _cached(Path(workdir) / f"{name}.npz", make) if workdir else make()
    return DataSet(
        "synthetic",
        np.ascontiguousarray(arrays["base"]),
        np.ascontiguousarray(arrays["queries"]),
        arrays["truth"],
        arrays["truth_scores"],
        f"synthetic clustered, {n:,} x {dim}, {clusters:,} clusters, {queries} held-out queries",
    )


def pack_vectors(pack_path: Path) -> np.ndarray:
    """A copy of the vectors stored in a pack."""
    import vpack

    with vpack.open(pack_path) as pack:
        return np.array(pack.vectors, dtype=np.float32)


def real(source: Path, queries: int, k: int = 10, seed: int = 0, workdir: Optional[Path] = None) -> DataSet:
    """Vectors from a pack (or an .npy of them); ``queries`` rows held out as queries."""
    source = Path(source)
    vectors = np.load(source) if source.suffix == ".npy" else pack_vectors(source)
    vectors = _normalise(np.ascontiguousarray(vectors, dtype=np.float32))
    digest = hashlib.sha256(vectors[:: max(1, len(vectors) // 1000)].tobytes()).hexdigest()[:12]

    def make() -> Arrays:
        rng = np.random.default_rng(seed)
        held = np.zeros(len(vectors), dtype=bool)
        held[rng.choice(len(vectors), size=queries, replace=False)] = True
        base, q = vectors[~held], vectors[held]
        ids, scores = exact_topk(base, q, k)
        return {"base": base, "queries": q, "truth": ids, "truth_scores": scores}

    name = f"real-{source.stem}-{digest}-q{queries}-k{k}-s{seed}"
    arrays = _cached(Path(workdir) / f"{name}.npz", make) if workdir else make()
    base = np.ascontiguousarray(arrays["base"])
    return DataSet(
        "real",
        base,
        np.ascontiguousarray(arrays["queries"]),
        arrays["truth"],
        arrays["truth_scores"],
        f"real embeddings from {source.name}, {len(base):,} x {base.shape[1]}, "
        f"{len(arrays['queries'])} held-out chunks as queries",
    )
