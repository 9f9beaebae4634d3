"""Opening packs and searching them."""

from __future__ import annotations

import json
import operator
import os
import threading
from types import TracebackType
from typing import (
    Any,
    Dict,
    Iterable,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
    overload,
)

import numpy as np

from . import _native, models
from ._native import MAX_K, QUERY_MODES, ClosedError, NativeEmbedder, NativeIndex, check_k
from .diversity import Diversity, DiversityOption
from .diversity import parse as _parse_diversity
from .diversity import select as _diversify
from .errors import (
    CorruptPackError,
    DimensionMismatchError,
    InvalidArgumentError,
    InvalidJSONError,
    ModelError,
    NotFoundError,
    RuntimeLoadError,
    UnsupportedVersionError,
)
from .plugins.base import Embedder, Reranker

Query = Union[str, np.ndarray, Sequence[float]]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder for every stored JSON object (json.loads with an argument builds a new
# decoder per call, which costs as much as decoding a chunk's metadata).
_decode_json = json.JSONDecoder(parse_constant=_no_constant).decode


def _stored_json(data: bytes, what: str) -> Dict[str, Any]:
    """Decodes a JSON object stored in the pack (canonical UTF-8 JSON). Bytes that are
    not one are damage, reported as CorruptPackError, never as a decoding error."""
    try:
        value = _decode_json(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CorruptPackError(
            f"{what} is not valid UTF-8 ({exc.reason} at byte {exc.start})", CorruptPackError.code
        ) from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise CorruptPackError(f"{what} is not valid JSON ({exc})", CorruptPackError.code) from None
    if not isinstance(value, dict):
        raise CorruptPackError(
            f"{what} is not a JSON object (found {type(value).__name__})", CorruptPackError.code
        )
    return value


_MODES = QUERY_MODES
_DENSE, _LEXICAL, _HYBRID = QUERY_MODES["dense"], QUERY_MODES["lexical"], QUERY_MODES["hybrid"]
#: The default mode's name: hybrid for a text query on a pack with a lexical index,
#: else dense.
AUTO_MODE = "auto"


def _filter_json(filter: Optional[Mapping[str, Any]]) -> Optional[str]:  # noqa: A002
    """The filter as JSON text for the engine; anything json cannot represent (a value of
    another type, a nesting deeper than Python's recursion limit, NaN) is the filter's
    fault and raised as InvalidJSONError."""
    if filter is None:
        return None
    if not isinstance(filter, Mapping):
        raise InvalidJSONError(
            f"filter must be a mapping (a JSON object), got {type(filter).__name__}", InvalidJSONError.code
        )
    try:
        return json.dumps(dict(filter), ensure_ascii=False, allow_nan=False)
    except RecursionError:
        raise InvalidJSONError(
            "filter is nested too deeply to be serialised as JSON", InvalidJSONError.code
        ) from None
    except (TypeError, ValueError) as exc:
        raise InvalidJSONError(f"filter is not JSON-serialisable: {exc}", InvalidJSONError.code) from exc


class Hit:
    """One search result. ``id`` is the chunk's position in the pack; higher ``score`` is
    better (cosine similarity for cosine packs); ``text`` the chunk's text and
    ``metadata`` its metadata (a dict).

    Immutable like a frozen dataclass (``Hit(id, score, text, metadata)``, equality by
    value, a ``repr`` that shows the fields). A hit from a search decodes its text and
    its metadata from the pack's bytes on first access to ``text`` or ``metadata``, not
    before: a caller that reads only ids and scores pays nothing for them."""

    __slots__ = ("_id", "_metadata", "_raw", "_score", "_text", "_text_raw")
    __match_args__ = ("id", "score", "text", "metadata")
    __hash__ = None  # type: ignore[assignment]  # (holds a dict, like the dataclass it was)

    def __init__(self, id: int, score: float, text: str, metadata: Optional[Dict[str, Any]] = None) -> None:  # noqa: A002
        self._id = id
        self._score = score
        self._text: Optional[str] = text
        self._text_raw = b""
        self._metadata: Optional[Dict[str, Any]] = {} if metadata is None else metadata
        self._raw = b""

    @property
    def id(self) -> int:
        return self._id

    @property
    def score(self) -> float:
        return self._score

    @property
    def text(self) -> str:
        text = self._text
        if text is None:
            raw = self._text_raw
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                # The library checks every text it hands out: a second line of defence.
                raise CorruptPackError(
                    f"chunk {self._id}: text is not valid UTF-8 ({exc.reason} at byte {exc.start})",
                    CorruptPackError.code,
                ) from None
            self._text = text  # (another thread may decode it too: the same string)
        return text

    @property
    def metadata(self) -> Dict[str, Any]:
        meta = self._metadata
        if meta is None:
            # Damaged JSON (the library checks it first, so this is a second line of
            # defence) is a CorruptPackError here, never a decoding error.
            meta = _stored_json(self._raw, f"chunk {self._id}: metadata") if self._raw else {}
            if self._metadata is None:  # another thread may have decoded it meanwhile
                self._metadata = meta
                self._raw = b""
            meta = self._metadata
        return meta

    @property
    def source(self) -> Optional[str]:
        """The chunk's source path, when its source recorded one."""
        path = self.metadata.get("path")
        return str(path) if path is not None else None

    def to_dict(self) -> Dict[str, Any]:
        return {"id": self._id, "score": self._score, "text": self.text, "metadata": self.metadata}

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Hit)
        return (self._id, self._score, self.text, self.metadata) == (
            other._id,
            other._score,
            other.text,
            other.metadata,
        )

    def __repr__(self) -> str:
        return f"Hit(id={self._id!r}, score={self._score!r}, text={self.text!r}, metadata={self.metadata!r})"

    def __reduce__(self) -> Tuple[Any, Tuple[int, float, str, Dict[str, Any]]]:
        return (Hit, (self._id, self._score, self.text, self.metadata))


_new_object = object.__new__


def _hits(ids: Sequence[int], scores: Sequence[float], records: Sequence[Tuple[bytes, bytes]]) -> List[Hit]:
    """Hits from the engine's ids, scores and (text, metadata) bytes, both decoded on
    first access. Built without calling ``Hit.__init__`` (this is the hot path of every
    search)."""
    out: List[Hit] = []
    append = out.append
    for chunk_id, score, (text, meta) in zip(ids, scores, records):
        hit = _new_object(Hit)
        hit._id = chunk_id
        hit._score = score
        hit._text = None
        hit._text_raw = text
        hit._raw = meta
        hit._metadata = None
        append(hit)
    return out


def _check_count(value: Any, name: str) -> int:
    """A non-negative integer argument (k, threads); bool and other types refused."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _ef_arg(ef: Optional[int]) -> int:
    """The search effort for the engine: None (or 0) is the pack's recorded default.
    Like the C side, anything else must be an integer in 1..=65536 (above that the
    library refuses it); a negative or non-integer ef is an InvalidArgumentError."""
    if ef is None:
        return 0
    if isinstance(ef, bool) or not isinstance(ef, (int, np.integer)) or ef < 0:
        raise InvalidArgumentError(
            f"ef must be None or a non-negative integer (0: the pack's default), got {ef!r}",
            InvalidArgumentError.code,
        )
    return int(ef)


class Pack:
    """A loaded pack. Use as a context manager, or call :meth:`close`: the native handle
    is released deterministically (PyPy's collector may run much later)."""

    def __init__(
        self,
        index: NativeIndex,
        model_dir: os.PathLike[str] | str | None = None,
        embedder: Optional[Embedder] = None,
    ) -> None:
        self._index = index
        self._model_dir = model_dir
        self._query_embedder = embedder
        self._embedder: Optional[NativeEmbedder] = None
        self._manifest: Optional[Dict[str, Any]] = None
        self._vectors: Optional[np.ndarray] = None
        self._lock = threading.RLock()  # guards the lazy creation of _embedder and _rerankers
        self._rerankers: Dict[str, Reranker] = {}  # made by name for search(rerank=NAME)
        # Whether mode "auto" searches a text query hybrid (None: not looked at yet).
        self._auto_hybrid: Optional[bool] = None
        # The file this pack was opened from (None: from bytes), and for MMR on a set,
        # each shard's (first global id, chunk count, open index).
        self._path: Optional[str] = None

    @classmethod
    def from_bytes(cls, data: bytes) -> Pack:
        """Loads a pack from its bytes (copied and fully verified)."""
        return cls(NativeIndex.from_bytes(data))

    @property
    def manifest(self) -> Dict[str, Any]:
        if self._manifest is None:
            self._manifest = _stored_json(self._index.manifest(), "the manifest")
        return dict(self._manifest)

    @property
    def dimension(self) -> int:
        return self._index.dimension()

    def __len__(self) -> int:
        return len(self._index)

    def embed_query(self, text: str) -> np.ndarray:
        """Embeds ``text`` with the embedder recorded in the pack: the same model,
        found on this machine (installed packages, ``model_dir``, or VPACK_MODEL_PATH)
        and checked against the recorded sha256 and dimension; or with the embedder
        passed to :func:`open` (for packs built with a Python-only embedder plugin)."""
        if self._query_embedder is not None:
            given = np.asarray(self._query_embedder.embed([text]), dtype=np.float32)
            if given.shape != (1, self.dimension):
                raise DimensionMismatchError(
                    f"the query embedder gave shape {given.shape}, the pack needs (1, {self.dimension})",
                    DimensionMismatchError.code,
                )
            first: np.ndarray = given[0]
            return first
        embedder = self._native_embedder()
        try:
            # surrogatepass: a lone surrogate reaches the library, which names it (code 4).
            vectors = embedder.embed([text.encode("utf-8", "surrogatepass")], self.dimension)
        except ClosedError:
            raise ClosedError("this pack is closed") from None
        row: np.ndarray = vectors[0]
        return row

    def _native_embedder(self) -> NativeEmbedder:
        """The embedder the manifest records, created on first use (once, even when
        several threads ask at the same time; never after close)."""
        with self._lock:
            if self.closed:
                raise ClosedError("this pack is closed")
            if self._embedder is not None:
                return self._embedder
            recorded = self.manifest.get("embedder")
            if not isinstance(recorded, dict):
                raise NotFoundError(
                    "this pack records no embedder; query it with vectors, or open it with embedder=",
                    NotFoundError.code,
                )
            config = models.resolve(recorded, self._model_dir)
            if config.get("kind") == "onnx":
                models.ensure_runtime()
            try:
                self._embedder = NativeEmbedder.create(json.dumps(config))
            except ModelError as exc:
                raise ModelError(
                    f"{exc.message}; the pack records sha256 {recorded.get('sha256', '?')}; "
                    f"{models.install_hint(recorded)}",
                    exc.code,
                ) from exc
            except RuntimeLoadError as exc:
                raise models.with_runtime_hint(exc) from exc
            return self._embedder

    def search(
        self,
        query: Query,
        k: int = 10,
        filter: Optional[Mapping[str, Any]] = None,  # noqa: A002
        ef: Optional[int] = None,
        mode: Optional[str] = None,
        diversity: DiversityOption = None,
        *,
        rerank: Union[str, Reranker, None] = None,
        rerank_depth: Optional[int] = None,
    ) -> List[Hit]:
        """The ``k`` chunks most similar to ``query``, best first. ``query`` is a text
        (embedded with the pack's embedder) or a vector of the pack's dimension.

        ``mode`` is ``"dense"`` (by the query's embedding), ``"lexical"`` (BM25 over the
        query text's terms; only chunks sharing a term come back) or ``"hybrid"`` (both,
        fused by the pack's recorded ``hybrid_weight``); the last two need a text query
        and a pack built with a lexical index (the default of ``vpack build`` and
        :func:`vpack.build`; ``index={"lexical": {}}`` for a ``PackBuilder``), else
        :class:`~vpack.errors.NotFoundError`. A hybrid hit's score is the fused score,
        in 0..1. None (the default) or ``"auto"`` is hybrid for a text query on a pack
        with a lexical index and dense otherwise (a vector or empty query, a pack
        without one); it falls back to dense where the library cannot search the
        lexical index (a pack set with a shard without one or with other lexical
        settings; a tokenizer this library lacks).

        ``diversity`` keeps the top hits from being near-duplicates (see
        :mod:`vpack.diversity`): ``"section"`` (at most one hit per section of a
        document), ``"document"``, ``"mmr"``, or ``{"collapse": "section" | "document" |
        FIELD, "per_group": N, "mmr": LAMBDA, "candidates": N}``; it draws from a deeper
        first-stage search (``max(20, 2 * k)`` hits for a collapse, deeper while fewer
        than ``k`` groups are found; ``max(50, 5 * k)`` for MMR) with the same mode and
        filter. MMR reads the candidates' stored vectors (a codes-only pack has none:
        NotFoundError).

        ``filter`` keeps only chunks whose metadata matches, evaluated in Rust during the
        scan: ``{"path": "guide/*.md"}`` (strings are globs; ``**`` crosses ``/``),
        ``{"lang": ["en", "de"]}`` (any of), ``{"n": {"$gte": 2}}`` (operators ``$eq $ne
        $in $nin $gt $gte $lt $lte $glob $exists``), dotted keys for nested fields,
        ``$and``/``$or`` lists.

        ``ef`` is the search effort of a pack with an HNSW index: the candidate list on
        the graph's bottom level (larger finds more of the true nearest chunks, slower);
        None (or 0) uses the ``ef_search`` recorded in the pack, at most 65536. Flat packs
        are exact and ignore it.

        ``rerank`` reorders the candidates with a second stage: a
        :class:`~vpack.plugins.base.Reranker` object, or the name of an installed
        reranker plugin (made on first use and kept until the pack closes). The first
        stage fetches the best ``max(k, rerank_depth)`` chunks (``rerank_depth`` defaults
        to 50) in ``mode`` with ``filter`` and ``ef``, the reranker scores each against the
        query text, and the best ``k`` by its scores come back as
        :class:`~vpack.rerank.RerankedHit`: ``score`` is the reranker's,
        ``first_stage_score`` and ``first_stage_rank`` the index's. Reranking needs a text
        query (else ValueError); a reranker that does not return one finite number per
        candidate raises :class:`~vpack.rerank.RerankError` (code 2). With ``diversity``
        too, the reranker reads the diversified candidates (a collapse still holds among
        the reranked hits; MMR's order gives way to the reranker's)."""
        _check_count(k, "k")
        check_k(k)  # before a text query is embedded
        ef_arg = _ef_arg(ef)
        auto = mode is None or mode == AUTO_MODE
        if auto:
            # (An empty text has no words: dense, as the library's hybrid refuses it.)
            code = _HYBRID if isinstance(query, str) and query and self._auto_is_hybrid() else _DENSE
        else:
            code = _MODES.get(mode) if isinstance(mode, str) else None  # type: ignore[assignment]
            if code is None:
                raise ValueError(
                    f"mode must be None, {AUTO_MODE!r} or one of {', '.join(_MODES)}, got {mode!r}"
                )
        setting = _parse_diversity(diversity)
        if rerank is not None:
            return self._search_reranked(query, k, filter, ef, mode, setting, rerank, rerank_depth)
        if rerank_depth is not None:
            raise ValueError("rerank_depth needs rerank= (a reranker or the name of one)")
        filter_json = None if filter is None else _filter_json(filter)
        text: Optional[str] = None
        vector: Optional[np.ndarray] = None
        if code != _DENSE:
            if not isinstance(query, str):
                raise ValueError(f"a {mode} search needs a text query, got a vector")
            text = query
        if code != _LEXICAL:
            if isinstance(query, str):
                vector = self.embed_query(query)
            else:
                vector = np.asarray(query, dtype=np.float32)
                if vector.ndim != 1:
                    raise ValueError(f"query vector must be 1-D, got shape {vector.shape}")

        def first_stage(depth: int) -> List[Hit]:
            return self._first_stage(vector, depth, filter_json, ef_arg, code, text, auto)

        if setting is None:
            return first_stage(k)
        return _diversify(setting, k, first_stage, self._candidate_rows, min(len(self), MAX_K))

    def _auto_is_hybrid(self) -> bool:
        """Whether mode "auto" searches a text query hybrid: the pack has a lexical
        index (and the library has not refused it)."""
        flag = self._auto_hybrid
        if flag is None:
            index = self.manifest.get("index")
            flag = isinstance(index, dict) and isinstance(index.get("lexical"), dict)
            self._auto_hybrid = flag
        return flag

    def _first_stage(
        self,
        vector: Optional[np.ndarray],
        k: int,
        filter_json: Optional[str],
        ef: int,
        code: int,
        text: Optional[str],
        auto: bool,
    ) -> List[Hit]:
        """One engine search. In mode "auto", a hybrid search the library cannot run on
        this pack is answered dense (a lexical index of a tokenizer this library lacks; a
        pack set with a shard without a lexical index, or whose shards' lexical settings
        differ), and later auto searches of this pack go dense at once."""
        if auto and code == _HYBRID:
            try:
                ids, scores, records = self._index.search_records(vector, k, filter_json, ef, code, text)
                return _hits(ids, scores, records)
            except (UnsupportedVersionError, NotFoundError):
                pass
            except InvalidArgumentError:
                if self.shards is None:
                    raise
                # Shards with different lexical settings, or a bad argument: the dense
                # search raises the latter again.
            ids, scores, records = self._index.search_records(vector, k, filter_json, ef, _DENSE, None)
            self._auto_hybrid = False
            return _hits(ids, scores, records)
        ids, scores, records = self._index.search_records(vector, k, filter_json, ef, code, text)
        return _hits(ids, scores, records)

    def _search_reranked(
        self,
        query: Query,
        k: int,
        filter: Optional[Mapping[str, Any]],  # noqa: A002
        ef: Optional[int],
        mode: Optional[str],
        diversity: Optional[Diversity],
        rerank: Union[str, Reranker],
        rerank_depth: Optional[int],
    ) -> List[Hit]:
        """:meth:`search` with a second stage (see ``rerank`` there). With diversity, the
        reranker reads the diversified candidates."""
        from . import rerank as _rerank  # (it imports this module)

        fetch = _rerank.depth(rerank_depth, k)
        if not isinstance(query, str):
            raise ValueError("reranking needs a text query (the reranker reads it), got a vector")
        reranker = self._reranker(rerank) if isinstance(rerank, str) else rerank
        _rerank.check_reranker(reranker)
        candidates = self.search(query, fetch, filter, ef, mode, diversity)
        return _rerank.rerank_hits(reranker, _rerank.label(rerank), query, candidates, k)

    def _reranker(self, name: str) -> Reranker:
        """The reranker plugin ``name``, made on first use and kept until close."""
        from . import rerank as _rerank

        with self._lock:
            if self.closed:
                raise ClosedError("this pack is closed")
            made = self._rerankers.get(name)
            if made is None:
                made = self._rerankers[name] = _rerank.create(name)
            return made

    def _candidate_rows(self, hits: Sequence[Hit]) -> np.ndarray:
        """The stored vectors of these hits (for MMR), one row each, from a pack or a
        set of any number of shards."""
        try:
            return self._index.rows([h.id for h in hits])
        except NotFoundError as exc:
            raise NotFoundError(
                f"diversity mmr needs the stored vectors of the candidates: {exc.message} "
                '(collapse, e.g. diversity="section", needs none)',
                exc.code,
            ) from None

    @overload
    def search_batch(
        self,
        queries: Union[np.ndarray, Sequence[Sequence[float]], Sequence[str]],
        k: int = ...,
        filter: Optional[Mapping[str, Any]] = ...,
        ef: Optional[int] = ...,
        threads: int = ...,
        texts: Literal[False] = ...,
    ) -> Tuple[np.ndarray, np.ndarray]: ...

    @overload
    def search_batch(
        self,
        queries: Union[np.ndarray, Sequence[Sequence[float]], Sequence[str]],
        k: int = ...,
        filter: Optional[Mapping[str, Any]] = ...,
        ef: Optional[int] = ...,
        threads: int = ...,
        *,
        texts: Literal[True],
    ) -> Tuple[np.ndarray, np.ndarray, List[List[Hit]]]: ...

    def search_batch(
        self,
        queries: Union[np.ndarray, Sequence[Sequence[float]], Sequence[str]],
        k: int = 10,
        filter: Optional[Mapping[str, Any]] = None,  # noqa: A002
        ef: Optional[int] = None,
        threads: int = 0,
        texts: bool = False,
    ) -> Union[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray, List[List[Hit]]]]:
        """Searches many queries in one native call, on ``threads`` threads (0: all
        cores), with the GIL released. ``queries`` is an (n, dim) float array (or a list
        of n vectors, or a list of n texts, embedded with the pack's embedder in one
        call). ``k``, ``filter`` and ``ef`` apply to every query, as in :meth:`search`,
        and row ``i`` of the result equals ``search(queries[i], ...)``.

        Returns ``(ids, scores)``: numpy arrays of shape (n, k), row ``i`` holding query
        ``i``'s hits best first; ``ids`` are int64 chunk ids and ``scores`` float32. A
        row with fewer than ``k`` hits (a pack with fewer than ``k`` chunks, or a filter
        that matches fewer) is padded with id ``-1`` and score ``NaN``, so
        ``ids[i] >= 0`` marks the real hits. With ``texts=True`` the result is ``(ids,
        scores, hits)`` where ``hits[i]`` is the list of :class:`Hit` (text and
        metadata) of row ``i``, as :meth:`search` returns it."""
        _check_count(k, "k")
        check_k(k)
        _check_count(threads, "threads")
        ef_arg = _ef_arg(ef)
        filter_json = None if filter is None else _filter_json(filter)
        matrix = self._query_matrix(queries)
        raw_ids, raw_scores, counts = self._index.search_batch(matrix, k, filter_json, ef_arg, threads)
        rows, width = raw_ids.shape
        if width == k:
            ids, scores = raw_ids, raw_scores
        else:  # k above the pack's size: the engine was asked for what exists
            ids = np.full((rows, k), -1, dtype=np.int64)
            scores = np.full((rows, k), np.nan, dtype=np.float32)
            ids[:, :width] = raw_ids
            scores[:, :width] = raw_scores
        empty = np.arange(width) >= counts[:, None]
        if empty.any():
            ids[:, :width][empty] = -1
            scores[:, :width][empty] = np.nan
        if not texts:
            return ids, scores
        found = ids[ids >= 0]  # row-major: row 0's hits, then row 1's...
        records = self._index.chunks(found.tolist())
        flat = _hits(found.tolist(), scores[ids >= 0].tolist(), records)
        hits: List[List[Hit]] = []
        at = 0
        for count in counts.tolist():
            hits.append(flat[at : at + count])
            at += count
        return ids, scores, hits

    def _query_matrix(
        self, queries: Union[np.ndarray, Sequence[Sequence[float]], Sequence[str]]
    ) -> np.ndarray:
        """The (n, dim) float32 matrix of a batch: a float array or list of vectors as
        given, or a list of texts embedded in one call."""
        if isinstance(queries, (str, bytes)):
            raise TypeError("queries must be a list of texts or vectors (search() takes one query)")
        if (
            not isinstance(queries, np.ndarray)
            and len(queries) > 0
            and all(isinstance(q, str) for q in queries)
        ):
            texts = [str(q) for q in queries]
            return self.embed_queries(texts)
        matrix = np.asarray(queries, dtype=np.float32)
        if matrix.ndim != 2:
            if matrix.ndim == 1 and matrix.size == 0:  # an empty list: no queries
                return np.empty((0, self.dimension), dtype=np.float32)
            raise ValueError(f"queries must be a 2-D array (n, dim), got shape {matrix.shape}")
        return matrix

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embeds several query texts at once (an (n, dim) float32 array), with the
        embedder :meth:`embed_query` uses."""
        if self._query_embedder is not None:
            given = np.asarray(self._query_embedder.embed(list(texts)), dtype=np.float32)
            if given.shape != (len(texts), self.dimension):
                raise DimensionMismatchError(
                    f"the query embedder gave shape {given.shape}, "
                    f"the pack needs ({len(texts)}, {self.dimension})",
                    DimensionMismatchError.code,
                )
            return given
        embedder = self._native_embedder()
        try:
            return embedder.embed([t.encode("utf-8", "surrogatepass") for t in texts], self.dimension)
        except ClosedError:
            raise ClosedError("this pack is closed") from None

    @property
    def shards(self) -> Optional[List[str]]:
        """For a pack set, its shards' paths (relative to the set file's folder) in
        order; None for a single pack."""
        info = self.manifest.get("set")
        listed = info.get("shards") if isinstance(info, dict) else None
        if not isinstance(listed, list):
            return None
        return [str(s.get("path")) for s in listed if isinstance(s, dict)]

    @property
    def vectors(self) -> np.ndarray:
        """The stored vectors as a read-only (len, dimension) float32 numpy array, read
        in place from the pack (no copy; row ``i`` is chunk ``i``; L2-normalised for
        cosine packs). A pack set of more than one shard has no contiguous rows:
        NotFoundError (read each shard's). The first access checks every vector block (a pass over the
        vectors, once per open pack). The array stays valid after :meth:`close`: the
        native pack is freed when the last array viewing it is collected."""
        if self.closed:
            raise ClosedError("this pack is closed")
        array = self._vectors
        if array is None:
            array = self._vectors = self._index.vectors()
        return array

    def chunk(self, chunk_id: int) -> Hit:
        """The chunk with this id (score 0.0)."""
        chunk_id = operator.index(chunk_id)  # any integer (numpy's too); TypeError otherwise
        if not 0 <= chunk_id < 1 << 64:
            raise NotFoundError(f"chunk id {chunk_id} out of range", NotFoundError.code)
        hit = _hits([chunk_id], [0.0], [self._index.chunk(chunk_id)])[0]
        hit.metadata  # noqa: B018 (a lookup of one chunk decodes its metadata at once)
        return hit

    def verify(self) -> None:
        """Checks every checksum and chunk record; raises CorruptPackError on damage."""
        self._index.verify()

    def to_bytes(self) -> bytes:
        """The pack's bytes (all checked first). A pack set is several files:
        InvalidArgumentError."""
        return self._index.to_bytes()

    def save(self, path: os.PathLike[str] | str) -> None:
        """Writes the pack to ``path`` atomically (temporary file, fsync, rename). A pack
        set is several files: InvalidArgumentError (copy its folder)."""
        self._index.save(path)

    def close(self) -> None:
        """Releases the pack. Safe while other threads use it: it waits for the native
        calls in flight (a search, an embedding) to return, then frees; their later calls
        raise ValueError. Idempotent. Arrays from :attr:`vectors` stay readable: the
        native pack is freed when the last of them is collected."""
        self._vectors = None
        self._index.close()
        with self._lock:  # after this, _native_embedder() sees the pack closed
            embedder, self._embedder = self._embedder, None
            rerankers, self._rerankers = list(self._rerankers.values()), {}
        if embedder is not None:
            embedder.close()
        for reranker in rerankers:
            closer = getattr(reranker, "close", None)
            if callable(closer):
                closer()

    @property
    def closed(self) -> bool:
        return self._index.closed

    def __enter__(self) -> Pack:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        try:
            return f"<vpack.Pack chunks={len(self)} dimension={self.dimension}>"
        except ClosedError:
            return "<vpack.Pack closed>"


def open(  # noqa: A001
    path: os.PathLike[str] | str,
    *,
    verify: bool = False,
    model_dir: os.PathLike[str] | str | None = None,
    embedder: Optional[Embedder] = None,
) -> Pack:
    """Opens the pack at ``path`` (memory-mapped: opening costs the same for any size).
    ``path`` may also be a pack set file (see :func:`write_set`): its shards open as one
    pack, with global chunk ids in shard order. With ``verify=True`` every checksum (of
    every shard) is checked first. Text queries use the embedder
    recorded in the pack; ``model_dir`` names a local folder holding its model when it is
    not installed, and ``embedder`` gives an Embedder plugin to use instead (a
    Python-only plugin the native library cannot re-create)."""
    pack = Pack(NativeIndex.open(path, verify), model_dir, embedder)
    pack._path = os.fspath(path)
    return pack


def write_set(path: os.PathLike[str] | str, shards: Iterable[os.PathLike[str] | str]) -> None:
    """Writes a pack set file at ``path`` (``.vpackset`` by convention) naming the pack
    files ``shards`` in this order, so that :func:`open` opens them as one pack whose
    chunk ids run through the shards in this order. Every shard must lie inside the set
    file's folder (paths are recorded relative to it, so the folder can be copied whole)
    and agree with the first on format version, dimension, metric and embedder
    (InvalidArgumentError naming the shard otherwise); a missing shard is PackIOError.
    The file is written atomically (temporary file, fsync, rename)."""
    if isinstance(shards, (str, bytes, os.PathLike)):
        raise TypeError("shards must be a list of pack paths, not one path")
    _native.write_set(path, list(shards))
