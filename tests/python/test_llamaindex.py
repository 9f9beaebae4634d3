"""vpack.integrations.llamaindex against the real llama-index-core (skipped without the
`llamaindex` extra). Packs use the hash embedder, so no model is needed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Iterator, List

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

import vpack
from vpack.builder import PackBuilder
from vpack.integrations.llamaindex import UnsupportedFilterError, VPackRetriever, to_vpack_filter
from vpack.plugins import HashEmbedder

DOCS = [
    {
        "text": "To read a file line by line, open it and iterate.",
        "metadata": {"kind": "howto", "n": 1, "tags": ["python", "io"], "path": "py/files.md"},
    },
    {
        "text": "Many birds migrate south in autumn.",
        "metadata": {"kind": "nature", "n": 2, "tags": ["birds"], "path": "nature/birds.md"},
    },
    {
        "text": "Run pip install to set up the package.",
        "metadata": {"kind": "howto", "n": 3, "tags": ["python"], "path": "py/install.md"},
    },
    {
        "text": "Bake the bread at two hundred degrees.",
        "metadata": {"kind": "food", "n": 4, "tags": [], "path": "food/bread.md"},
    },
    {
        "text": "Birds build nests in spring.",
        "metadata": {"kind": "nature", "n": 5, "tags": ["birds", "spring"], "path": "nature/nests.md"},
    },
]


@pytest.fixture()
def built(tmp_path: Path) -> Path:
    out = tmp_path / "docs.vpack"
    vpack.build(DOCS, out, embedder="hash", chunk_size=1000).pack.close()
    return out


@pytest.fixture()
def pack(built: Path) -> Iterator[vpack.Pack]:
    with vpack.open(built) as p:
        yield p


def f(key: str, value: Any, op: str = "==") -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=FilterOperator(op))


def ns(retriever: VPackRetriever, query: str = "anything") -> List[int]:
    return sorted(n.node.metadata["n"] for n in retriever.retrieve(query))


def test_retrieve_returns_nodes_with_scores_and_metadata(built: Path) -> None:
    with VPackRetriever(built, similarity_top_k=3) as retriever:
        assert isinstance(retriever, BaseRetriever)
        nodes = retriever.retrieve("birds migrate in autumn")
        assert len(nodes) == 3
        assert all(isinstance(n, NodeWithScore) and isinstance(n.node, TextNode) for n in nodes)
        top = nodes[0]
        assert top.node.get_content() == DOCS[1]["text"]
        assert top.node.metadata["path"] == "nature/birds.md" and top.node.metadata["tags"] == ["birds"]
        assert top.score is not None and top.score >= (nodes[1].score or 0.0)
        hits = retriever.pack.search("birds migrate in autumn", k=3)
        assert [n.node.node_id for n in nodes] == [str(h.id) for h in hits]
        assert [n.score for n in nodes] == [h.score for h in hits]
    assert retriever.pack.closed


def test_an_open_pack_stays_open_and_top_k_is_settable(pack: vpack.Pack) -> None:
    retriever = VPackRetriever(pack)
    assert len(retriever.retrieve("x")) == 2  # LlamaIndex's default similarity_top_k
    retriever.similarity_top_k = 5
    assert len(retriever.retrieve("x")) == 5
    retriever.close()
    assert not pack.closed


def test_mode_and_diversity_reach_the_search(pack: vpack.Pack) -> None:
    for mode in (None, "dense", "lexical"):
        nodes = VPackRetriever(pack, similarity_top_k=4, mode=mode).retrieve("birds migrate")
        hits = pack.search("birds migrate", k=4, mode=mode)
        assert [(n.node.node_id, n.score) for n in nodes] == [(str(h.id), h.score) for h in hits]
    spread = VPackRetriever(pack, similarity_top_k=4, diversity={"collapse": "chunk"})
    assert len(spread.retrieve("birds")) == 1  # every chunk is chunk 0 of its document


def test_async_retrieve(pack: vpack.Pack) -> None:
    nodes = asyncio.run(VPackRetriever(pack, similarity_top_k=1).aretrieve("bake bread"))
    assert nodes[0].node.metadata["kind"] == "food"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([f("kind", "howto")], [1, 3]),
        ([f("kind", "howto", "!=")], [2, 4, 5]),
        ([f("n", 3, ">")], [4, 5]),
        ([f("n", 3, ">=")], [3, 4, 5]),
        ([f("n", 2, "<")], [1]),
        ([f("n", 2, "<=")], [1, 2]),
        ([f("n", 2.0)], [2]),
        ([f("kind", ["food", "nature"], "in")], [2, 4, 5]),
        ([f("kind", ["food", "nature"], "nin")], [1, 3]),
        ([f("tags", ["spring", "io"], "any")], [1, 5]),
        ([f("tags", ["birds", "spring"], "all")], [5]),
        ([f("tags", "python", "contains")], [1, 3]),
        ([f("path", "py/", "text_match")], [1, 3]),
        ([f("path", "s.md", "text_match")], [1, 2, 5]),
        ([f("kind", "howto"), f("n", 2, ">")], [3]),
    ],
)
def test_filters_map_to_vpack_filters(
    pack: vpack.Pack, filters: List[MetadataFilter], expected: List[int]
) -> None:
    retriever = VPackRetriever(pack, similarity_top_k=10, filters=MetadataFilters(filters=filters))
    assert ns(retriever) == expected


def test_or_and_nested_filters(pack: vpack.Pack) -> None:
    either = MetadataFilters(filters=[f("n", 1), f("n", 4)], condition=FilterCondition.OR)
    assert ns(VPackRetriever(pack, similarity_top_k=10, filters=either)) == [1, 4]
    nested = MetadataFilters(filters=[f("kind", "nature"), either], condition=FilterCondition.OR)
    assert ns(VPackRetriever(pack, similarity_top_k=10, filters=nested)) == [1, 2, 4, 5]
    assert to_vpack_filter(nested) == {
        "$or": [{"kind": {"$eq": "nature"}}, {"$or": [{"n": {"$eq": 1}}, {"n": {"$eq": 4}}]}]
    }


def test_a_vpack_filter_mapping_is_used_as_is(pack: vpack.Pack) -> None:
    retriever = VPackRetriever(pack, similarity_top_k=10, filters={"path": "nature/*.md", "n": {"$gt": 2}})
    assert ns(retriever) == [5]
    retriever.filters = MetadataFilters(filters=[f("n", 4)])  # set later: applies too
    assert ns(retriever) == [4]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (MetadataFilters(filters=[f("n", 1)], condition=FilterCondition.NOT), "no negation"),
        (MetadataFilters(filters=[f("kind", "HOWTO", "text_match_insensitive")]), "case-insensitive"),
        (MetadataFilters(filters=[f("tags", None, "is_empty")]), r"\$exists"),
        (MetadataFilters(filters=[f("path", "*.md", "text_match")]), "without '\\*'"),
        (MetadataFilters(filters=[f("kind", ["a", "b"])]), "one value, not a list"),
        (MetadataFilters(filters=[f("kind", "a", "in")]), "a list of values"),
    ],
)
def test_unsupported_filters_are_refused_at_construction(
    pack: vpack.Pack, filters: MetadataFilters, message: str
) -> None:
    with pytest.raises(UnsupportedFilterError, match=message) as info:
        VPackRetriever(pack, filters=filters)
    assert isinstance(info.value, ValueError)


class HashEmbedding(BaseEmbedding):
    """A LlamaIndex embedding model computing vpack's hash embeddings."""

    def _vector(self, text: str) -> List[float]:
        return [float(x) for x in HashEmbedder(32).embed([text])[0]]

    def _get_query_embedding(self, query: str) -> List[float]:
        return self._vector(query)

    async def _aget_query_embedding(self, query: str) -> List[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> List[float]:
        return self._vector(text)


def test_packs_of_own_vectors_need_an_embed_model_or_a_query_embedding() -> None:
    texts = [str(d["text"]) for d in DOCS]
    builder = PackBuilder(32)
    builder.add(texts, HashEmbedder(32).embed(texts), [dict(d["metadata"]) for d in DOCS])  # type: ignore[call-overload]
    with builder.finish() as pack:
        with pytest.raises(ValueError, match="embed_model"):
            VPackRetriever(pack).retrieve("birds")
        by_model = VPackRetriever(pack, similarity_top_k=1, embed_model=HashEmbedding())
        assert by_model.retrieve("Bake the bread")[0].node.metadata["n"] == 4
        bundle = QueryBundle(
            query_str="ignored", embedding=HashEmbedding().get_query_embedding("birds nests")
        )
        assert VPackRetriever(pack, similarity_top_k=1).retrieve(bundle)[0].node.metadata["n"] == 5


def test_node_ids_are_stored_document_ids_when_there_are(tmp_path: Path) -> None:
    pytest.importorskip("langchain_core")
    from vpack.integrations.langchain import VPackVectorStore

    store = VPackVectorStore.from_texts(["alpha beta", "gamma delta"], ids=["a", "g"], embedder="hash")
    assert store.pack is not None
    node = VPackRetriever(store.pack, similarity_top_k=1).retrieve("gamma")[0].node
    assert node.node_id == "g" and "langchain_id" not in node.metadata
