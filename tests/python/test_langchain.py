"""vpack.integrations.langchain against the real langchain-core (skipped without the
`langchain` extra). Packs use the hash embedder or LangChain's deterministic fake
embeddings, so no model is needed. LangChain's own standard tests are in
test_langchain_standard.py."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

pytest.importorskip("langchain_core")

from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import VectorStore

import vpack
from vpack.integrations.langchain import DOC_ID_KEY, VPackRetriever, VPackVectorStore
from vpack.plugins import HashEmbedder

TEXTS = [
    "To read a file line by line, open it and iterate over the file object.",
    "Many birds migrate south in autumn, flying thousands of kilometres.",
    "Run pip install to set up the package, then run the command line tool.",
    "Bake the bread at two hundred degrees for forty minutes until golden.",
    "Birds build nests in spring and lay their eggs in them.",
]
METAS = [
    {"topic": "files", "n": 0, "tags": ["python", "io"]},
    {"topic": "birds", "n": 1, "tags": ["nature"]},
    {"topic": "install", "n": 2, "tags": ["python"]},
    {"topic": "cooking", "n": 3, "tags": ["food"]},
    {"topic": "birds", "n": 4, "tags": ["nature", "spring"]},
]


@pytest.fixture()
def built(docs: Path, tmp_path: Path) -> Path:
    """A pack from the shared docs folder, by vpack's own pipeline."""
    out = tmp_path / "docs.vpack"
    vpack.build(docs, out, embedder="hash").pack.close()
    return out


@pytest.fixture()
def pack(built: Path) -> Iterator[vpack.Pack]:
    with vpack.open(built) as p:
        yield p


def fake() -> DeterministicFakeEmbedding:
    return DeterministicFakeEmbedding(size=16)


# --- VPackRetriever --------------------------------------------------------------------


def test_retriever_is_a_langchain_retriever_over_a_path(built: Path) -> None:
    with VPackRetriever(built, k=2) as retriever:
        assert isinstance(retriever, BaseRetriever)
        docs = retriever.invoke("read a file line by line")
        assert len(docs) == 2
        assert all(isinstance(d, Document) for d in docs)
        top = docs[0]
        assert top.metadata["path"] == "files.md"
        assert "line by line" in top.page_content
        # vpack's metadata plus the score and the chunk id; Document.id is the chunk id.
        assert {"path", "title", "chunk", "start", "end"} <= set(top.metadata)
        assert top.id == str(top.metadata["vpack_id"])
        assert top.metadata["score"] >= docs[1].metadata["score"]
        assert retriever.pack.chunk(top.metadata["vpack_id"]).text == top.page_content
    assert retriever.pack.closed  # opened from a path: closed with the retriever


def test_retriever_matches_pack_search(pack: vpack.Pack) -> None:
    retriever = VPackRetriever(pack, k=3)
    docs = retriever.invoke("birds flying south")
    hits = pack.search("birds flying south", k=3)
    assert [d.page_content for d in docs] == [h.text for h in hits]
    assert [d.metadata["score"] for d in docs] == [h.score for h in hits]
    retriever.close()
    assert not pack.closed  # a Pack given open stays open


def test_retriever_k_and_filter_per_call_and_on_the_retriever(pack: vpack.Pack) -> None:
    retriever = VPackRetriever(pack, k=4)
    assert len(retriever.invoke("install the package")) == 4
    assert len(retriever.invoke("install the package", k=1)) == 1
    docs = retriever.invoke("install the package", filter={"path": "guide/**"})
    assert docs and all(d.metadata["path"].startswith("guide/") for d in docs)
    narrowed = VPackRetriever(pack, k=4, filter={"path": "*.md"})
    assert [d.metadata["path"] for d in narrowed.invoke("anything")] == ["files.md"]
    # The per-call filter replaces the retriever's.
    assert {d.metadata["path"] for d in narrowed.invoke("x", filter={"path": "birds.txt"})} == {"birds.txt"}


def test_retriever_mode_and_diversity_reach_the_search(pack: vpack.Pack) -> None:
    assert "lexical" in pack.manifest["index"]  # vpack.build's default: text queries go hybrid
    for mode in (None, "dense", "lexical"):
        docs = VPackRetriever(pack, k=4, mode=mode).invoke("bake bread")
        hits = pack.search("bake bread", k=4, mode=mode)
        assert [(d.metadata["vpack_id"], d.metadata["score"]) for d in docs] == [
            (h.id, h.score) for h in hits
        ]
    assert len(VPackRetriever(pack, k=4, mode="lexical").invoke("bake bread")) == 1
    # Every chunk here is chunk 0 of its document: collapsing on "chunk" leaves one.
    assert len(VPackRetriever(pack, k=4, diversity={"collapse": "chunk"}).invoke("bread")) == 1


def test_the_store_scores_by_similarity_on_a_pack_with_a_lexical_index(pack: vpack.Pack) -> None:
    store = VPackVectorStore(pack)
    found = store.similarity_search_with_score("bake bread", k=2)
    assert [s for _, s in found] == [h.score for h in pack.search("bake bread", k=2, mode="dense")]
    # A rewrite keeps the lexical index (its recorded tokenizer is not a builder option).
    store.add_texts(["Owls hunt at night."], ids=["owl"])
    assert (
        store.pack is not None
        and store.pack.manifest["index"]["lexical"] == pack.manifest["index"]["lexical"]
    )
    store.close()


def test_retriever_keys_can_be_renamed_or_left_out(pack: vpack.Pack) -> None:
    doc = VPackRetriever(pack, k=1, score_key="relevance", id_key=None).invoke("bread")[0]
    assert "relevance" in doc.metadata and "vpack_id" not in doc.metadata and "score" not in doc.metadata


def test_retriever_bad_filter_is_vpacks_error(pack: vpack.Pack) -> None:
    with pytest.raises(vpack.InvalidJSONError):
        VPackRetriever(pack).invoke("x", filter={"n": {"$near": 1}})


def test_retriever_async(pack: vpack.Pack) -> None:
    retriever = VPackRetriever(pack, k=2)
    docs = asyncio.run(retriever.ainvoke("bread", k=1))
    assert [d.metadata["path"] for d in docs] == ["guide/deep/cooking.rst"]
    assert len(retriever.batch(["bread", "birds"])) == 2


def test_retriever_needs_embedding_for_a_pack_of_langchain_vectors(tmp_path: Path) -> None:
    store = VPackVectorStore.from_texts(TEXTS, fake(), METAS, path=tmp_path / "lc.vpack")
    store.close()
    with pytest.raises(ValueError, match="DeterministicFakeEmbedding"):
        VPackRetriever(tmp_path / "lc.vpack").invoke("birds")
    with VPackRetriever(tmp_path / "lc.vpack", embedding=fake(), k=1) as retriever:
        doc = retriever.invoke(TEXTS[3])[0]  # the fake embeds equal texts equally
    assert doc.page_content == TEXTS[3]
    assert doc.metadata["topic"] == "cooking"
    assert DOC_ID_KEY not in doc.metadata
    assert doc.metadata["score"] == pytest.approx(1.0, abs=1e-5)


def test_retriever_rejects_what_is_not_a_pack() -> None:
    with pytest.raises(TypeError, match=r"vpack\.Pack or a path"):
        VPackRetriever(42)  # type: ignore[arg-type]
    with pytest.raises(vpack.PackIOError):
        VPackRetriever("/nonexistent/x.vpack")


# --- VPackVectorStore: building --------------------------------------------------------


def test_from_texts_with_a_vpack_embedder_makes_an_ordinary_pack(tmp_path: Path) -> None:
    out = tmp_path / "store.vpack"
    store = VPackVectorStore.from_texts(TEXTS, metadatas=METAS, ids=list("abcde"), path=out, embedder="hash")
    assert isinstance(store, VectorStore)
    assert store.embeddings is None and store.path == out and len(store) == 5
    found = store.similarity_search("birds that migrate in autumn", k=1)
    assert found == [Document(page_content=TEXTS[1], metadata=METAS[1], id="b")]
    store.close()
    # The pack records its embedder: vpack itself answers text queries on it.
    with vpack.open(out) as pack:
        assert pack.manifest["embedder"]["kind"] == "hash"
        hit = pack.search("birds that migrate in autumn", k=1)[0]
        assert hit.text == TEXTS[1] and hit.metadata[DOC_ID_KEY] == "b"
    # Reopened without saying anything, it searches and grows with the recorded embedder.
    with VPackVectorStore(out) as again:
        assert again.similarity_search("bake the bread until golden", k=1)[0].id == "d"
        again.add_texts(["Penguins are birds that cannot fly."], [{"topic": "birds"}], ids=["f"])
        assert again.similarity_search("penguins", k=1)[0].id == "f"


def test_from_documents_with_langchain_embeddings(tmp_path: Path) -> None:
    documents = [Document(page_content=t, metadata=m) for t, m in zip(TEXTS, METAS)]
    documents[0].id = "first"
    store = VPackVectorStore.from_documents(documents, fake(), path=tmp_path / "lc.vpack")
    assert store.embeddings is not None
    manifest = store.pack.manifest if store.pack else {}
    assert "embedder" not in manifest
    assert manifest["langchain"]["embeddings"].endswith("DeterministicFakeEmbedding")
    assert manifest["dimension"] == 16
    ranked = store.similarity_search(TEXTS[0], k=5)
    assert ranked[0] == Document(page_content=TEXTS[0], metadata=METAS[0], id="first")
    assert len({d.id for d in ranked}) == 5  # the others got generated ids
    by_vector = store.similarity_search_by_vector(fake().embed_query(TEXTS[2]), k=1)
    assert by_vector[0].page_content == TEXTS[2]
    store.close()
    with pytest.raises(ValueError, match="pass embedding="):
        VPackVectorStore(tmp_path / "lc.vpack").similarity_search("x")
    with pytest.raises(ValueError, match="to add texts"):
        VPackVectorStore(tmp_path / "lc.vpack").add_texts(["x"])


def test_in_memory_store_and_save(tmp_path: Path) -> None:
    store = VPackVectorStore.from_texts(TEXTS, fake(), METAS)
    assert store.path is None and len(store) == 5
    store.save(tmp_path / "saved.vpack")
    with vpack.open(tmp_path / "saved.vpack") as pack:
        assert len(pack) == 5
    assert not (tmp_path / "store.vpack").exists()


def test_empty_store() -> None:
    store = VPackVectorStore(embedding=fake())
    assert len(store) == 0 and store.pack is None
    assert store.similarity_search("x") == []
    assert store.get_by_ids(["a"]) == []
    assert store.delete(["a"]) is True
    assert VPackVectorStore.from_texts([], fake()).pack is None
    with pytest.raises(ValueError, match="empty"):
        store.save("never.vpack")


# --- VPackVectorStore: searching -------------------------------------------------------


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[VPackVectorStore]:
    with VPackVectorStore.from_texts(
        TEXTS, metadatas=METAS, ids=list("abcde"), path=tmp_path / "s.vpack", embedder=HashEmbedder(64)
    ) as s:
        yield s


def test_scores_are_vpacks_and_filters_are_vpacks(store: VPackVectorStore) -> None:
    assert store.pack is not None
    scored = store.similarity_search_with_score("birds nests", k=5)
    hits = store.pack.search(store.pack.embed_query("birds nests"), k=5)
    assert [s for _, s in scored] == [h.score for h in hits]
    assert [s for _, s in scored] == sorted((s for _, s in scored), reverse=True)
    birds = store.similarity_search("anything", k=5, filter={"topic": "birds"})
    assert {d.id for d in birds} == {"b", "e"}
    python = store.similarity_search("anything", k=5, filter={"tags": "python", "n": {"$gt": 0}})
    assert [d.id for d in python] == ["c"]
    assert store.similarity_search("x", k=5, filter={"$or": [{"n": 0}, {"n": 3}]}) != []


def test_relevance_scores_are_in_unit_range(store: VPackVectorStore) -> None:
    for _, relevance in store.similarity_search_with_relevance_scores("birds", k=5):
        assert 0.0 <= relevance <= 1.0
    l2 = VPackVectorStore.from_texts(TEXTS, fake(), metric="l2")
    top, relevance = l2.similarity_search_with_relevance_scores(TEXTS[4], k=1)[0]
    assert top.page_content == TEXTS[4] and relevance == pytest.approx(1.0, abs=1e-3)
    assert l2.pack is not None and l2.pack.manifest["metric"] == "l2"


def test_max_marginal_relevance(store: VPackVectorStore) -> None:
    docs = store.max_marginal_relevance_search("birds", k=3, fetch_k=5)
    assert len(docs) == 3 and len({d.id for d in docs}) == 3
    # lambda_mult=1 is plain similarity order.
    plain = [d.id for d in store.similarity_search("birds", k=3)]
    assert [
        d.id for d in store.max_marginal_relevance_search("birds", k=3, fetch_k=5, lambda_mult=1.0)
    ] == plain
    assert store.max_marginal_relevance_search("birds", k=2, filter={"topic": "cooking"})[0].id == "d"


def test_as_retriever(store: VPackVectorStore) -> None:
    retriever = store.as_retriever(search_kwargs={"k": 2, "filter": {"topic": "birds"}})
    assert {d.id for d in retriever.invoke("spring")} == {"b", "e"}
    mmr = store.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 4})
    assert len(mmr.invoke("birds")) == 2
    threshold = store.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.0, "k": 5}
    )
    assert len(threshold.invoke("birds")) == 5


def test_get_by_ids(store: VPackVectorStore) -> None:
    assert store.get_by_ids(["c", "zz", "a"]) == [
        Document(page_content=TEXTS[2], metadata=METAS[2], id="c"),
        Document(page_content=TEXTS[0], metadata=METAS[0], id="a"),
    ]


# --- VPackVectorStore: changing (a new pack each time) ---------------------------------


def test_add_rewrites_the_file_atomically_and_keeps_old_readers_working(store: VPackVectorStore) -> None:
    assert store.path is not None
    reader = vpack.open(store.path)  # a reader of the old file
    before = store.path.stat().st_ino
    ids = store.add_texts(["Owls hunt at night."], [{"topic": "birds"}])
    assert len(ids) == 1 and len(store) == 6
    assert store.path.stat().st_ino != before  # a new file renamed into place
    assert len(reader) == 5 and reader.search("birds", k=1)  # the old mapping still answers
    reader.close()
    with vpack.open(store.path, verify=True) as pack:
        assert len(pack) == 6
    # The stored vectors were copied, not recomputed: the old chunks score as before.
    assert store.get_by_ids(["a"])[0].page_content == TEXTS[0]


def test_add_with_existing_ids_replaces_and_delete_removes(store: VPackVectorStore) -> None:
    store.add_texts(["Bread needs flour, water, salt and yeast."], [{"topic": "cooking", "n": 9}], ids=["d"])
    assert len(store) == 5
    assert store.get_by_ids(["d"])[0].metadata == {"topic": "cooking", "n": 9}
    # The same id twice in one call: the last one wins.
    store.add_texts(["one", "two"], ids=["x", "x"])
    assert [d.page_content for d in store.get_by_ids(["x"])] == ["two"]
    assert store.delete(["a", "b", "missing"]) is True
    assert sorted(d.id or "" for d in store.similarity_search("x", k=10)) == ["c", "d", "e", "x"]
    store.delete()  # None deletes everything (LangChain's contract), leaving an empty pack
    assert len(store) == 0 and store.pack is not None and store.pack.dimension == 64
    assert store.similarity_search("x") == []


def test_a_pack_built_by_vpack_keeps_its_position_ids_through_changes(built: Path) -> None:
    with vpack.open(built) as pack:
        texts = {str(h.id): h.text for h in (pack.chunk(i) for i in range(len(pack)))}
    with VPackVectorStore(built) as store:
        assert store.get_by_ids(["2"])[0].page_content == texts["2"]
        store.delete(["0"])
        assert store.get_by_ids(["2"])[0].page_content == texts["2"]  # still "2", now at position 1
        assert store.get_by_ids(["0"]) == []
        assert store.pack is not None and store.pack.manifest["embedder"]["kind"] == "hash"
        assert store.pack.manifest["source"]  # the build's manifest is carried over


def test_a_given_open_pack_is_never_modified(pack: vpack.Pack, tmp_path: Path) -> None:
    store = VPackVectorStore(pack)
    store.add_texts(["Something new about owls."], ids=["owl"])
    assert len(pack) == 4 and len(store) == 5 and store.path is None
    assert not pack.closed
    store.save(tmp_path / "copy.vpack")
    store.close()
    assert not pack.closed


def test_hnsw_index_and_metric_survive_a_rewrite(tmp_path: Path) -> None:
    store = VPackVectorStore.from_texts(TEXTS, fake(), metric="dot", index={"kind": "hnsw", "m": 8})
    store.add_texts(["more"])
    assert store.pack is not None
    assert store.pack.manifest["index"]["kind"] == "hnsw" and store.pack.manifest["index"]["m"] == 8
    assert store.pack.manifest["metric"] == "dot"


def test_refusals(store: VPackVectorStore) -> None:
    with pytest.raises(ValueError, match="reserved"):
        store.add_texts(["x"], [{DOC_ID_KEY: "mine"}])
    with pytest.raises(ValueError, match="2 ids for 1 texts"):
        store.add_texts(["x"], ids=["a", "b"])
    with pytest.raises(ValueError, match="rather than mix"):
        VPackVectorStore(store.path, embedding=fake()).add_texts(["x"])
    with pytest.raises(ValueError, match="cannot be mixed"):
        VPackVectorStore(store.path, embedder=HashEmbedder(64, char_ngram=4)).add_texts(["x"])
    with pytest.raises(vpack.DimensionMismatchError):
        VPackVectorStore(
            VPackVectorStore.from_texts(["a"], fake()).pack, embedding=DeterministicFakeEmbedding(size=8)
        ).add_texts(["b"])
    with pytest.raises(TypeError, match="unexpected"):
        VPackVectorStore.from_texts(["a"], fake(), colour="blue")
    assert len(store) == 5  # nothing was written by any of them


def test_store_vectors_round_trip(store: VPackVectorStore) -> None:
    assert store.pack is not None
    before = np.array(store.pack.vectors)
    store.add_texts(["extra"], ids=["z"])
    assert np.array_equal(np.array(store.pack.vectors)[:5], before)


def test_from_texts_replaces_a_pack_already_at_the_path(tmp_path: Path) -> None:
    out = tmp_path / "again.vpack"
    VPackVectorStore.from_texts(["old one", "old two"], fake(), path=out).close()
    with VPackVectorStore.from_texts(["new"], fake(), ids=["n"], path=out) as store:
        assert len(store) == 1
    with vpack.open(out) as pack:
        assert [pack.chunk(i).text for i in range(len(pack))] == ["new"]
