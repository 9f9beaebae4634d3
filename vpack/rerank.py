"""The second stage of a search: a :class:`~vpack.plugins.base.Reranker` reorders the
first stage's best candidates (``Pack.search(..., rerank=, rerank_depth=)``).

The reranker returns one score per candidate; everything else happens here: finding it
by name in the plugin registry, checking what it returned (one finite real number per
candidate, or :class:`RerankError`), sorting (ties keep the first stage's order) and
making the hits (:class:`RerankedHit`: the reranker's score, and the first stage's score
and rank beside it)."""

from __future__ import annotations

import math
import numbers
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import registry
from ._native import check_k
from .errors import InvalidArgumentError
from .pack import Hit
from .plugins.base import Reranker

#: Candidates fetched for reranking when ``rerank_depth`` is not given: the first
#: stage's best ``max(k, 50)``.
DEFAULT_RERANK_DEPTH = 50


class RerankError(InvalidArgumentError):
    """A reranker returned something other than one finite real number per candidate
    (code 2, like every invalid argument; also a ``ValueError``)."""


class RerankedHit(Hit):
    """A hit of a reranked search. ``score`` is the reranker's score (the hits are
    ordered by it, best first); ``first_stage_score`` is the score the index gave the
    chunk (cosine similarity, BM25 or the fused hybrid score, as ``score`` is in a search
    without reranking) and ``first_stage_rank`` its place among the candidates
    (1 = the index's best)."""

    __slots__ = ("_first_stage_rank", "_first_stage_score")
    __match_args__ = ("id", "score", "text", "metadata", "first_stage_score", "first_stage_rank")

    def __init__(
        self,
        id: int,  # noqa: A002
        score: float,
        text: str,
        metadata: Optional[Dict[str, Any]] = None,
        first_stage_score: float = 0.0,
        first_stage_rank: int = 1,
    ) -> None:
        super().__init__(id, score, text, metadata)
        self._first_stage_score = first_stage_score
        self._first_stage_rank = first_stage_rank

    @classmethod
    def of(cls, hit: Hit, score: float, rank: int) -> RerankedHit:
        """``hit`` (a first-stage hit at ``rank``) with the reranker's ``score``; its text
        and metadata are shared, still decoded lazily if nobody read them yet."""
        made: RerankedHit = object.__new__(cls)
        made._id = hit._id
        made._score = score
        made._text = hit._text
        made._text_raw = hit._text_raw
        made._metadata = hit._metadata
        made._raw = hit._raw
        made._first_stage_score = hit._score
        made._first_stage_rank = rank
        return made

    @property
    def first_stage_score(self) -> float:
        return self._first_stage_score

    @property
    def first_stage_rank(self) -> int:
        return self._first_stage_rank

    def to_dict(self) -> Dict[str, Any]:
        out = super().to_dict()
        out["first_stage_score"] = self._first_stage_score
        out["first_stage_rank"] = self._first_stage_rank
        return out

    def __eq__(self, other: object) -> bool:
        equal = super().__eq__(other)
        if equal is not True:
            return equal
        assert isinstance(other, RerankedHit)
        return (self._first_stage_score, self._first_stage_rank) == (
            other._first_stage_score,
            other._first_stage_rank,
        )

    def __repr__(self) -> str:
        return (
            f"RerankedHit(id={self._id!r}, score={self._score!r}, text={self.text!r}, "
            f"metadata={self.metadata!r}, first_stage_score={self._first_stage_score!r}, "
            f"first_stage_rank={self._first_stage_rank!r})"
        )

    def __reduce__(self) -> Tuple[Any, Tuple[Any, ...]]:
        return (
            RerankedHit,
            (
                self._id,
                self._score,
                self.text,
                self.metadata,
                self._first_stage_score,
                self._first_stage_rank,
            ),
        )


def label(reranker: Union[str, Reranker]) -> str:
    """How errors name a reranker: its registry name, or its class."""
    return f"reranker {reranker!r}" if isinstance(reranker, str) else f"reranker {type(reranker).__name__}"


def create(name: str) -> Reranker:
    """The reranker registered as ``reranker.<name>``, made with no arguments.
    :class:`~vpack.registry.PluginNotFoundError` lists the installed ones when there is
    none by that name; a target that makes no reranker is a
    :class:`~vpack.registry.PluginLoadError`."""
    made = registry.create("reranker", name)
    if not callable(getattr(made, "rerank", None)):
        raise registry.PluginLoadError(
            f"reranker plugin {name!r} made a {type(made).__name__}, which has no rerank(query, hits) method"
        )
    reranker: Reranker = made
    return reranker


def check_reranker(reranker: Any) -> None:
    """Refuses an object that cannot rerank (TypeError), before the search runs."""
    if not callable(getattr(reranker, "rerank", None)):
        raise TypeError(
            "rerank must be a reranker (an object with rerank(query, hits) -> scores) or the name "
            f"of an installed reranker plugin, got {type(reranker).__name__}"
        )


def depth(rerank_depth: Optional[int], k: int) -> int:
    """How many candidates to fetch: ``max(k, rerank_depth)`` (``rerank_depth`` defaults
    to :data:`DEFAULT_RERANK_DEPTH`); a depth that is not a positive integer is an
    InvalidArgumentError, one above the library's k limit a LimitExceededError."""
    if rerank_depth is None:
        wanted = DEFAULT_RERANK_DEPTH
    elif (
        isinstance(rerank_depth, bool) or not isinstance(rerank_depth, (int, np.integer)) or rerank_depth < 1
    ):
        raise InvalidArgumentError(
            f"rerank_depth must be a positive integer (candidates to rerank), got {rerank_depth!r}",
            InvalidArgumentError.code,
        )
    else:
        wanted = int(rerank_depth)
    fetch = max(k, wanted)
    check_k(fetch)
    return fetch


def scores(raw: Any, count: int, who: str) -> List[float]:
    """The reranker's answer for ``count`` candidates as floats; anything but ``count``
    finite real numbers (a list, tuple, other iterable or 1-D numpy array) is a
    RerankError saying what was wrong and where."""
    if isinstance(raw, np.ndarray):
        if raw.ndim != 1:
            raise RerankError(
                f"{who} returned an array of shape {raw.shape}; it must return one score per hit ({count})",
                RerankError.code,
            )
        if raw.dtype.kind not in "iuf":
            raise RerankError(
                f"{who} returned an array of {raw.dtype}; scores must be real numbers", RerankError.code
            )
        values: Sequence[Any] = raw.tolist()
    elif isinstance(raw, (str, bytes, Mapping)) or not hasattr(raw, "__iter__"):
        raise RerankError(
            f"{who} returned a {type(raw).__name__}; it must return a sequence of scores, one per hit",
            RerankError.code,
        )
    else:
        values = list(raw)
    if len(values) != count:
        raise RerankError(
            f"{who} returned {len(values)} score{'' if len(values) == 1 else 's'} for {count} "
            f"hit{'' if count == 1 else 's'}; it must return one score per hit, in the hits' order",
            RerankError.code,
        )
    out: List[float] = []
    for at, value in enumerate(values):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise RerankError(
                f"{who} returned a {type(value).__name__} ({value!r}) as the score of hit {at}; "
                "scores must be real numbers",
                RerankError.code,
            )
        number = float(value)
        if not math.isfinite(number):
            raise RerankError(
                f"{who} returned {number!r} as the score of hit {at}; scores must be finite",
                RerankError.code,
            )
        out.append(number)
    return out


def rerank_hits(reranker: Reranker, who: str, query: str, hits: Sequence[Hit], k: int) -> List[Hit]:
    """The best ``k`` of ``hits`` (the first stage's candidates, best first) by the
    reranker's scores, as :class:`RerankedHit`; ties keep the first stage's order. No
    candidates (or ``k`` 0): the reranker is not called."""
    if not hits or k == 0:
        return []
    candidates = tuple(hits)  # a tuple: a reranker cannot reorder what it is scoring
    given = scores(reranker.rerank(query, candidates), len(candidates), who)
    order = sorted(range(len(candidates)), key=lambda i: (-given[i], i))
    return [RerankedHit.of(candidates[i], given[i], i + 1) for i in order[:k]]


__all__ = [
    "DEFAULT_RERANK_DEPTH",
    "RerankError",
    "RerankedHit",
    "Reranker",
    "check_reranker",
    "create",
    "depth",
    "label",
    "rerank_hits",
    "scores",
]
