"""LlamaIndex adapter (``pip install "vpack-search[llamaindex]"``, needs ``llama-index-core``).

:class:`VPackRetriever` is a LlamaIndex ``BaseRetriever`` over a pack (a path or an open
:class:`vpack.Pack`): ``retrieve(query)`` returns ``NodeWithScore``\\ s holding
``TextNode``\\ s with the chunk's text and vpack metadata and vpack's score (higher is
better). ``similarity_top_k`` and ``filters`` (LlamaIndex ``MetadataFilters``, mapped to
vpack's filter syntax by :func:`to_vpack_filter`, or a vpack filter mapping as is) are
set on the retriever.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np

from ..pack import Hit, Pack
from ._common import PackLike, as_pack, doc_id, manifest_embedder, missing_extra, public_metadata

try:
    from llama_index.core.base.base_retriever import BaseRetriever
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.callbacks.base import CallbackManager
    from llama_index.core.constants import DEFAULT_SIMILARITY_TOP_K
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
    from llama_index.core.vector_stores.types import (
        FilterCondition,
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
    )
except ImportError as exc:  # pragma: no cover (the tests run with and without the extra)
    raise missing_extra("llamaindex", "llamaindex", "llama-index-core") from exc

__all__ = ["UnsupportedFilterError", "VPackRetriever", "to_vpack_filter"]


class UnsupportedFilterError(ValueError):
    """A LlamaIndex filter that vpack's filters cannot express exactly."""


_COMPARISONS = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    # "the metadata array contains the value": vpack matches a list field when any element does.
    FilterOperator.CONTAINS: "$eq",
}
_LISTS = {FilterOperator.IN: "$in", FilterOperator.NIN: "$nin", FilterOperator.ANY: "$in"}
_REFUSED = {
    getattr(FilterOperator, name): why
    for name, why in (
        ("TEXT_MATCH_INSENSITIVE", "vpack's filters have no case-insensitive match"),
        (
            "IS_EMPTY",
            "vpack's filters cannot tell an empty list from a missing value; "
            'use a vpack filter such as {"key": {"$exists": false}} instead',
        ),
    )
    if hasattr(FilterOperator, name)  # both are newer than some supported versions
}


def _one(flt: MetadataFilter) -> Dict[str, Any]:
    op, key, value = flt.operator, flt.key, flt.value
    if op in _REFUSED:
        raise UnsupportedFilterError(
            f"filter on {key!r}: operator {op.value!r} is not supported ({_REFUSED[op]})"
        )
    if op in _COMPARISONS:
        if isinstance(value, list):
            raise UnsupportedFilterError(
                f"filter on {key!r}: operator {op.value!r} takes one value, not a list"
            )
        return {key: {_COMPARISONS[op]: value}}
    if op in _LISTS or op == FilterOperator.ALL:
        if not isinstance(value, list):
            raise UnsupportedFilterError(f"filter on {key!r}: operator {op.value!r} takes a list of values")
        if op == FilterOperator.ALL:  # every value is among the field's elements
            return {"$and": [{key: {"$eq": v}} for v in value]}
        return {key: {_LISTS[op]: list(value)}}
    if op == FilterOperator.TEXT_MATCH:
        if not isinstance(value, str) or any(c in value for c in "*?") or value.startswith("/"):
            raise UnsupportedFilterError(
                f"filter on {key!r}: text_match takes a string without '*' or '?' that does not "
                "start with '/' (it becomes the vpack glob '**<text>**')"
            )
        return {key: {"$glob": f"**{value}**"}}
    raise UnsupportedFilterError(f"filter on {key!r}: unknown operator {op!r}")  # pragma: no cover


def to_vpack_filter(filters: MetadataFilters) -> Dict[str, Any]:
    """The vpack filter for LlamaIndex ``filters``: ``==  !=  >  >=  <  <=`` become
    ``$eq $ne $gt $gte $lt $lte``; ``in``/``nin`` become ``$in``/``$nin``; ``any`` is
    ``$in`` and ``all`` one ``$eq`` per value (a list field matches when any element
    does, as everywhere in vpack); ``contains`` is ``$eq`` on a list field;
    ``text_match`` is a substring match (the glob ``**text**``). Conditions ``and`` /
    ``or`` become ``$and`` / ``$or`` (nested ``MetadataFilters`` too). Dotted keys reach
    into nested metadata. ``not``, ``text_match_insensitive`` and ``is_empty`` raise
    :class:`UnsupportedFilterError` (a ValueError), as does a list given where one value
    is expected or the reverse."""
    parts: List[Dict[str, Any]] = []
    for item in filters.filters:
        parts.append(to_vpack_filter(item) if isinstance(item, MetadataFilters) else _one(item))
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return {"$and": parts}
    if condition == FilterCondition.OR:
        return {"$or": parts}
    raise UnsupportedFilterError(
        f"filter condition {condition.value!r} is not supported (vpack's filters have no negation); "
        "negate each filter instead (== as !=, in as nin)"
    )


def _node(hit: Hit) -> NodeWithScore:
    return NodeWithScore(
        node=TextNode(id_=doc_id(hit), text=hit.text, metadata=public_metadata(hit)), score=hit.score
    )


class VPackRetriever(BaseRetriever):
    """A LlamaIndex retriever over a vpack pack.

    >>> retriever = VPackRetriever("docs.vpack", similarity_top_k=5)   # doctest: +SKIP
    >>> nodes = retriever.retrieve("how do I read a file")             # doctest: +SKIP

    ``pack`` is a path (opened here, closed by :meth:`close`; ``model_dir`` as for
    :func:`vpack.open`) or an open :class:`vpack.Pack` (left open). A query is embedded by
    the pack's recorded embedder, or by ``embed_model`` (a LlamaIndex embedding) when
    given, as packs of your own vectors need; a ``QueryBundle`` carrying an
    ``embedding`` is searched with that vector. ``filters`` is LlamaIndex
    ``MetadataFilters`` (see :func:`to_vpack_filter`; unsupported ones raise here, not at
    query time) or a vpack filter mapping. ``mode`` and ``diversity`` are
    :meth:`vpack.Pack.search`'s (default: auto, hybrid for a text query on a pack with a
    lexical index, dense for a query embedding; no diversity). Nodes have the document
    id a vpack adapter stored, else the chunk's id in the pack, as ``node_id``."""

    def __init__(
        self,
        pack: PackLike,
        *,
        similarity_top_k: int = DEFAULT_SIMILARITY_TOP_K,
        filters: Union[MetadataFilters, Mapping[str, Any], None] = None,
        embed_model: Optional[BaseEmbedding] = None,
        ef: Optional[int] = None,
        model_dir: Union[str, os.PathLike[str], None] = None,
        callback_manager: Optional[CallbackManager] = None,
        verbose: bool = False,
        mode: Optional[str] = None,
        diversity: Any = None,
    ) -> None:
        self.similarity_top_k = similarity_top_k
        self.mode = mode
        self.diversity = diversity
        self.embed_model = embed_model
        self.ef = ef
        self.filters = filters
        self._convert(filters)  # unsupported filters raise here, not at the first query
        self._pack, self._owns_pack = as_pack(pack, model_dir)
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @staticmethod
    def _convert(filters: Union[MetadataFilters, Mapping[str, Any], None]) -> Optional[Dict[str, Any]]:
        if filters is None:
            return None
        if isinstance(filters, MetadataFilters):
            return to_vpack_filter(filters)
        return dict(filters)

    @property
    def pack(self) -> Pack:
        return self._pack

    def _retrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        query: Union[str, np.ndarray] = query_bundle.query_str
        if query_bundle.embedding is not None:
            query = np.asarray(query_bundle.embedding, dtype=np.float32)
        elif self.embed_model is not None:
            query = np.asarray(self.embed_model.get_query_embedding(query_bundle.query_str), dtype=np.float32)
        elif manifest_embedder(self._pack) is None:
            raise ValueError(
                "this pack records no embedder (it holds vectors made elsewhere); "
                "pass embed_model= or a QueryBundle with an embedding"
            )
        # Converted per query, so filters assigned after construction apply too.
        flt = self._convert(self.filters)
        hits = self._pack.search(
            query, k=self.similarity_top_k, filter=flt, ef=self.ef, mode=self.mode, diversity=self.diversity
        )
        return [_node(hit) for hit in hits]

    def close(self) -> None:
        """Closes the pack if this retriever opened it (from a path)."""
        if self._owns_pack:
            self._pack.close()

    def __enter__(self) -> VPackRetriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
