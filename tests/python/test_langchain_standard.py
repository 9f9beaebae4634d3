"""LangChain's published standard tests (langchain-tests) for VPackRetriever and
VPackVectorStore; skipped where langchain-tests is not installed (it is in the
`integrations` tox environment). Despite their name ("integration tests") they use no
network: the vector store suite embeds with langchain-core's deterministic fake.

Every test of both suites applies and runs; langchain-tests has no unit-test suite for
retrievers or vector stores, and its DocumentIndex suite (indexer.py) does not apply,
since VPackVectorStore is a VectorStore, not a DocumentIndex."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterator, Type

import pytest

pytest.importorskip("langchain_tests")

from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import (
    RetrieversIntegrationTests,
    VectorStoreIntegrationTests,
)

import vpack
from vpack.integrations.langchain import VPackRetriever, VPackVectorStore

# The suites' async tests are plain coroutines: run them with pytest-asyncio (a
# dependency of langchain-tests). The mark reaches the sync tests too, which it ignores.
pytestmark = [
    pytest.mark.asyncio(loop_scope="function"),
    pytest.mark.filterwarnings("ignore:The test <Function .*> is marked with '@pytest.mark.asyncio'"),
]


@pytest.fixture(scope="module")
def shared_pack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vpack.Pack]:
    docs = [
        "To read a file line by line, open it and iterate over the file object.",
        "Many birds migrate south in autumn, flying thousands of kilometres.",
        "Run pip install to set up the package, then run the command line tool.",
        "Bake the bread at two hundred degrees for forty minutes until golden.",
        "Birds build nests in spring and lay their eggs in them.",
    ]
    out = tmp_path_factory.mktemp("standard") / "docs.vpack"
    vpack.build(docs, out, embedder="hash").pack.close()
    with vpack.open(out) as pack:
        yield pack


class TestVPackRetrieverStandard(RetrieversIntegrationTests):
    pack: vpack.Pack

    @pytest.fixture(autouse=True)
    def _pack(self, shared_pack: vpack.Pack) -> None:
        type(self).pack = shared_pack

    @property
    def retriever_constructor(self) -> Type[VPackRetriever]:
        return VPackRetriever

    @property
    def retriever_constructor_params(self) -> Dict[str, Any]:
        return {"pack": self.pack}

    @property
    def retriever_query_example(self) -> str:
        return "birds flying south"


class TestVPackVectorStoreInMemoryStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self) -> Iterator[VectorStore]:
        with VPackVectorStore(embedding=self.get_embeddings()) as store:
            yield store


class TestVPackVectorStoreFileStandard(VectorStoreIntegrationTests):
    """The same suite on a store kept in a file, rewritten atomically on every change."""

    @pytest.fixture()
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:
        with VPackVectorStore(tmp_path / "store.vpack", embedding=self.get_embeddings()) as store:
            yield store
