"""Diversity of search results: keeping the top hits from being near-duplicates.

Two methods, alone or together, applied to a first-stage candidate list (a deeper
search of the same query, mode and filter):

- **collapse** (as Elasticsearch's ``collapse``): at most ``per_group`` hits per group,
  where a chunk's group is its section (``"section"``: its document and the section the
  chunker recorded), its document (``"document"``), or the value of any metadata field
  (a dotted name reaches into nested objects, as in filters). The best hits of each
  group are kept, in the first stage's order; a chunk without the field is a group of
  its own.
- **MMR** (maximal marginal relevance, Carbonell and Goldstein 1998): hits are picked
  one at a time, each maximising ``lambda * relevance - (1 - lambda) * max similarity to
  the hits already picked``; relevance is the first-stage score scaled to 0..1 over the
  candidates (best 1, worst 0), similarity the cosine of the stored vectors. ``lambda``
  1 is the first stage's order, 0 diversity only.

With both, the candidates are collapsed first and MMR orders what is left. Hits keep
their first-stage score (with MMR they are then no longer sorted by it).

The parameter (:func:`parse`) is None / ``"off"`` (nothing), ``"section"``,
``"document"``, ``"mmr"`` (lambda :data:`DEFAULT_LAMBDA`), a mapping ``{"collapse":
"section" | "document" | FIELD, "per_group": 1, "mmr": LAMBDA, "candidates": N}``, a
:class:`Diversity`, or on the command line a string (:func:`parse_spec`):
``section``, ``collapse=path,per_group=2``, ``mmr=0.7``, ``section,mmr=0.5`` or a JSON
object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    Dict,
    Hashable,
    List,
    Mapping,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)

import numpy as np

from .errors import InvalidArgumentError

#: MMR's lambda when only ``"mmr"`` is asked for.
DEFAULT_LAMBDA = 0.7
#: MMR draws from the first stage's best ``max(MMR_CANDIDATES, MMR_FACTOR * k)`` hits; a
#: collapse alone starts from ``max(COLLAPSE_CANDIDATES, COLLAPSE_FACTOR * k)`` and goes
#: twice as deep while fewer than ``k`` groups are found (so its answer does not depend on
#: the start: the best ``k`` groups).
MMR_CANDIDATES = 50
MMR_FACTOR = 5
COLLAPSE_CANDIDATES = 20
COLLAPSE_FACTOR = 2
#: Metadata keys that identify a chunk's document, in the order they are combined: the
#: folder source's ``path``, JSON Lines' ``line``, CSV's ``row``, an iterable's ``id``.
DOCUMENT_KEYS = ("path", "line", "row", "id")
#: Metadata keys the section chunker writes for a chunk's section.
SECTION_KEYS = ("anchor", "headings", "section")
#: Named groupings (any other ``collapse`` value is a metadata field).
GROUPINGS = ("section", "document")

_KEYS = ("collapse", "per_group", "mmr", "candidates")


class Candidate(Protocol):
    """What diversity reads of a hit (``vpack.Hit`` has both)."""

    @property
    def score(self) -> float: ...

    @property
    def metadata(self) -> Dict[str, Any]: ...


H = TypeVar("H", bound=Candidate)


@dataclass(frozen=True)
class Diversity:
    """A diversity setting. ``collapse``: ``"section"``, ``"document"``, a metadata field,
    or None; ``per_group``: hits kept per group (>= 1); ``mmr``: MMR's lambda in 0..1, or
    None; ``candidates``: how many first-stage hits to draw from (None: ``max(50, 5 *
    k)`` with MMR, else ``max(20, 2 * k)``, deeper as a collapse needs)."""

    collapse: Optional[str] = None
    per_group: int = 1
    mmr: Optional[float] = None
    candidates: Optional[int] = None

    def __post_init__(self) -> None:
        if self.collapse is not None and (not isinstance(self.collapse, str) or not self.collapse):
            _bad(f"collapse must be 'section', 'document' or a metadata field name, got {self.collapse!r}")
        if isinstance(self.per_group, bool) or not isinstance(self.per_group, int) or self.per_group < 1:
            _bad(f"per_group must be a positive integer, got {self.per_group!r}")
        if self.mmr is not None and (
            isinstance(self.mmr, bool) or not isinstance(self.mmr, (int, float)) or not 0.0 <= self.mmr <= 1.0
        ):
            _bad(f"mmr (lambda) must be a number in 0..1, got {self.mmr!r}")
        if self.candidates is not None and (
            isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or self.candidates < 1
        ):
            _bad(f"candidates must be a positive integer, got {self.candidates!r}")
        if self.collapse is None and self.mmr is None:
            _bad("a diversity setting needs collapse or mmr (or both)")

    def depth(self, k: int) -> int:
        """How many first-stage hits to fetch for ``k`` results."""
        if self.candidates is not None:
            wanted = self.candidates
        elif self.mmr is not None:
            wanted = max(MMR_CANDIDATES, MMR_FACTOR * k)
        else:
            wanted = max(COLLAPSE_CANDIDATES, COLLAPSE_FACTOR * k)
        return max(wanted, k)

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        if self.collapse is not None:
            out["collapse"] = self.collapse
            out["per_group"] = self.per_group
        if self.mmr is not None:
            out["mmr"] = self.mmr
        if self.candidates is not None:
            out["candidates"] = self.candidates
        return out


DiversityOption = Union[None, bool, str, Mapping[str, Any], Diversity]


def _bad(message: str) -> None:
    raise InvalidArgumentError(f"diversity: {message}", InvalidArgumentError.code)


def parse(value: DiversityOption) -> Optional[Diversity]:
    """The :class:`Diversity` a search's ``diversity=`` names, or None for none."""
    if value is None or value is False or value == "off" or value == "none":
        return None
    if isinstance(value, Diversity):
        return value
    if isinstance(value, str):
        if value in GROUPINGS:
            return Diversity(collapse=value)
        if value == "mmr":
            return Diversity(mmr=DEFAULT_LAMBDA)
        _bad(f"expected 'off', 'section', 'document', 'mmr' or a mapping, got {value!r}")
    if isinstance(value, Mapping):
        unknown = [str(key) for key in value if key not in _KEYS]
        if unknown:
            _bad(f"unknown key {unknown[0]!r} (expected one of: {', '.join(_KEYS)})")
        return Diversity(**{str(key): item for key, item in value.items()})
    _bad(f"expected 'off', 'section', 'document', 'mmr' or a mapping, got {type(value).__name__}")
    return None  # (unreachable: _bad raises)


def _number(text: str, key: str) -> Union[int, float]:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        _bad(f"{key} takes a number, got {text!r}")
    return 0  # (unreachable)


def parse_spec(text: str) -> Optional[Diversity]:
    """A diversity setting written as one string (``vpack query --diversity``): ``off``,
    ``section``, ``document``, ``mmr``, a JSON object, or comma-separated items, each a
    name above or ``KEY=VALUE`` with KEY one of collapse, per_group, mmr, candidates
    (``section,mmr=0.5``, ``collapse=path,per_group=2``)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            _bad(f"not valid JSON: {exc}")
        return parse(value)
    items: Dict[str, Any] = {}
    for item in (part.strip() for part in text.split(",")):
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep:
            if key in ("off", "none") and text == key:
                return None
            if key in GROUPINGS:
                items["collapse"] = key
            elif key == "mmr":
                items["mmr"] = DEFAULT_LAMBDA
            else:
                _bad(f"expected section, document, mmr, off or KEY=VALUE items, got {item!r}")
            continue
        raw = raw.strip()
        if key == "collapse":
            items[key] = raw
        elif key in ("per_group", "candidates", "mmr"):
            items[key] = _number(raw, key)
        else:
            _bad(f"unknown key {key!r} (expected one of: {', '.join(_KEYS)})")
    return parse(items)


# ---------------------------------------------------------------------------- groups


def _hashable(value: Any) -> Hashable:
    """A metadata value as a dictionary key: JSON scalars as they are, lists as tuples,
    objects as sorted tuples of their items (with a marker, so no list equals them)."""
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return ("{}", tuple(sorted((str(k), _hashable(v)) for k, v in value.items())))
    return value  # type: ignore[no-any-return]  # JSON scalars are hashable


def _field(metadata: Mapping[str, Any], name: str) -> Tuple[bool, Any]:
    """(found, value) of a metadata field; a dotted name reaches into nested objects
    when the whole name is not a key itself (as filters read it)."""
    if name in metadata:
        return True, metadata[name]
    value: Any = metadata
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _document_key(metadata: Mapping[str, Any]) -> Optional[Tuple[Hashable, ...]]:
    present = [(key, _hashable(metadata[key])) for key in DOCUMENT_KEYS if key in metadata]
    return tuple(present) if present else None


def group_key(metadata: Mapping[str, Any], collapse: str) -> Optional[Hashable]:
    """The group of a chunk with this metadata, or None when it has none (a group of
    its own). ``"document"``: its ``path``, ``line``, ``row`` and ``id`` (those present);
    ``"section"``: the document and the section chunker's ``anchor``, ``headings`` and
    ``section`` (a chunk without them is grouped by document); anything else: that
    field's value."""
    if collapse == "document":
        return _document_key(metadata)
    if collapse == "section":
        document = _document_key(metadata)
        if document is None:
            return None
        return (document, tuple([_hashable(metadata.get(key)) for key in SECTION_KEYS]))
    found, value = _field(metadata, collapse)
    return ("field", _hashable(value)) if found else None


def collapse(hits: Sequence[Candidate], field: str, per_group: int) -> List[int]:
    """Positions in ``hits`` (best first) kept when each group keeps its first
    ``per_group``."""
    seen: Dict[Hashable, int] = {}
    kept: List[int] = []
    for position, hit in enumerate(hits):
        key = group_key(hit.metadata, field)
        if key is not None:
            count = seen.get(key, 0)
            if count >= per_group:
                continue
            seen[key] = count + 1
        kept.append(position)
    return kept


def distinct_groups(hits: Sequence[Candidate], field: str = "section") -> int:
    """How many different groups ``hits`` span (a chunk without one counts alone)."""
    keys = set()
    alone = 0
    for hit in hits:
        key = group_key(hit.metadata, field)
        if key is None:
            alone += 1
        else:
            keys.add(key)
    return len(keys) + alone


# ---------------------------------------------------------------------------- MMR


def mmr(scores: Sequence[float], vectors: np.ndarray, k: int, lam: float) -> List[int]:
    """Positions of ``k`` candidates picked by maximal marginal relevance: relevance
    is ``scores`` scaled to 0..1 (all equal: all 1), similarity the cosine of the rows
    of ``vectors`` (a zero row is similar to nothing). Ties go to the earlier
    candidate."""
    n = len(scores)
    if n == 0 or k <= 0:
        return []
    rel = np.asarray(scores, dtype=np.float64)
    low, high = float(rel.min()), float(rel.max())
    rel = (rel - low) / (high - low) if high > low else np.ones(n)
    rows = np.asarray(vectors, dtype=np.float32).reshape(n, -1)
    norms = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    unit = rows / np.where(norms > 0, norms, 1.0)[:, None]
    chosen: List[int] = []
    # Each candidate's highest similarity to a chosen one. One matrix-vector product per
    # pick (k of them), not the n x n similarity matrix: a small matrix product is
    # spread over every core by BLAS, which costs milliseconds on a busy machine.
    closest = np.full(n, -np.inf)
    free = np.ones(n, dtype=bool)
    for _ in range(min(k, n)):
        redundancy = np.where(np.isfinite(closest), closest, 0.0)
        value = lam * rel - (1.0 - lam) * redundancy
        value[~free] = -np.inf
        pick = int(np.argmax(value))
        chosen.append(pick)
        free[pick] = False
        closest = np.maximum(closest, unit @ unit[pick])
    return chosen


# ---------------------------------------------------------------------------- the search


def select(
    setting: Diversity,
    k: int,
    fetch: Callable[[int], Sequence[H]],
    rows: Callable[[Sequence[H]], np.ndarray],
    size: int,
) -> List[H]:
    """The ``k`` hits to return, best first. ``fetch(n)`` runs the first stage for ``n``
    hits (best first); ``rows(hits)`` gives those hits' stored vectors (MMR only);
    ``size`` bounds the depth (the pack's chunk count). When a collapse leaves fewer
    than ``k`` hits, the first stage is run again twice as deep, until ``k`` are left or
    it has no more."""
    if k <= 0:
        return []
    depth = min(setting.depth(k), max(size, k))
    while True:
        hits = list(fetch(depth))
        exhausted = len(hits) < depth or depth >= size
        if setting.collapse is None:
            kept = hits
        else:
            kept = [hits[i] for i in collapse(hits, setting.collapse, setting.per_group)]
        if len(kept) >= k or exhausted:
            break
        depth = min(depth * 2, size)
    if setting.mmr is None or not kept:
        return kept[:k]
    vectors = rows(kept)
    order = mmr([h.score for h in kept], vectors, k, float(setting.mmr))
    return [kept[i] for i in order]


__all__ = [
    "DEFAULT_LAMBDA",
    "DOCUMENT_KEYS",
    "SECTION_KEYS",
    "Diversity",
    "DiversityOption",
    "collapse",
    "distinct_groups",
    "group_key",
    "mmr",
    "parse",
    "parse_spec",
    "select",
]
