"""LangChain adapters (``pip install "vpack-search[langchain]"``, needs ``langchain-core``).

- :class:`VPackRetriever`: a ``langchain_core`` ``BaseRetriever`` over a pack (a path or
  an open :class:`vpack.Pack`). Returns ``Document``\\ s whose metadata is the chunk's
  vpack metadata plus its score (``score``) and chunk id (``vpack_id``); ``k``, a vpack
  ``filter`` and ``ef`` are set on the retriever or per call (``invoke(q, k=3)``).
- :class:`VPackVectorStore`: a ``langchain_core`` ``VectorStore`` kept in one pack.
  ``from_texts`` / ``from_documents`` build it, with a LangChain ``Embeddings`` object
  or, when none is given, a vpack embedder (``embedder="model"``, the default model,
  or ``"hash"``, or any vpack Embedder plugin) whose identity the pack records, so
  ``vpack query`` can search it by text too. A pack is immutable: ``add_texts`` and
  ``delete`` write a new pack with the change (the old chunks' stored vectors are
  copied, not re-embedded) and replace the file atomically; each such call costs a
  pass over the whole pack, so add documents in large batches.

Document ids: a pack built by the store keeps each document's LangChain id in the
chunk's metadata under ``langchain_id`` (stripped from the metadata returned); chunks of
other packs have their position in the pack (``"0"``, ``"1"``, ...) as id.
"""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from .._native import VERSION
from ..builder import PackBuilder
from ..errors import DimensionMismatchError
from ..pack import Hit, Pack
from ..plugins.base import Embedder
from ._common import (
    DOC_ID_KEY,
    PackLike,
    all_chunks,
    as_pack,
    doc_id,
    manifest_embedder,
    missing_extra,
    public_metadata,
    read_chunks,
)

try:
    from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables.config import run_in_executor
    from langchain_core.vectorstores import VectorStore
    from langchain_core.vectorstores.utils import maximal_marginal_relevance
    from pydantic import PrivateAttr
    from typing_extensions import Self
except ImportError as exc:  # pragma: no cover (the tests run with and without the extra)
    raise missing_extra("langchain", "langchain", "langchain-core") from exc

__all__ = ["DOC_ID_KEY", "VPackRetriever", "VPackVectorStore"]

#: Manifest keys the native builder sets itself (copying a manifest drops them).
_ENGINE_KEYS = frozenset({"format_version", "dimension", "metric", "chunk_count", "index"})
#: Chunks copied per PackBuilder.add when a pack is rewritten.
_COPY_BATCH = 1024


def _document(hit: Hit, score_key: Optional[str] = None, id_key: Optional[str] = None) -> Document:
    meta = public_metadata(hit)
    if id_key:
        meta[id_key] = hit.id
    if score_key:
        meta[score_key] = hit.score
    return Document(page_content=hit.text, metadata=meta, id=doc_id(hit))


def _vector(values: npt.ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


def _no_text_queries(pack: Pack) -> Optional[str]:
    """Why text queries on ``pack`` need a LangChain ``embedding`` (None if they don't)."""
    if manifest_embedder(pack) is not None:
        return None
    built_with = pack.manifest.get("langchain", {})
    name = built_with.get("embeddings") if isinstance(built_with, dict) else None
    if name:
        return (
            f"this pack was built with the LangChain embeddings {name}; pass embedding= to search it by text"
        )
    return "this pack records no embedder (it holds your own vectors); pass embedding= to search it by text"


def _builder_index(recorded: Any) -> Any:
    """A manifest's ``index`` entry as builder options: the lexical index's recorded
    ``tokenizer`` is the library's own choice, not an option."""
    if isinstance(recorded, Mapping) and isinstance(recorded.get("lexical"), Mapping):
        lexical = {key: v for key, v in recorded["lexical"].items() if key != "tokenizer"}
        return {**recorded, "lexical": lexical}
    return recorded


class VPackRetriever(BaseRetriever):
    """A LangChain retriever over a vpack pack.

    >>> retriever = VPackRetriever(pack="docs.vpack", k=5)                  # doctest: +SKIP
    >>> docs = retriever.invoke("how do I read a file", filter={"path": "guide/**"})  # doctest: +SKIP

    ``pack`` is a path (opened here, closed by :meth:`close`; ``model_dir`` as for
    :func:`vpack.open`) or an open :class:`vpack.Pack` (left open). Queries are embedded
    with the pack's recorded embedder, or with ``embedding`` (a LangChain ``Embeddings``)
    when given, as a pack built from LangChain embeddings needs. ``k``, ``filter`` (vpack's
    filter syntax, see :meth:`vpack.Pack.search`) and ``ef`` may be overridden per call as
    keyword arguments of ``invoke``. ``mode`` and ``diversity`` are
    :meth:`vpack.Pack.search`'s (default: auto, hybrid for a text query on a pack with a
    lexical index; no diversity). Each ``Document`` carries the chunk's metadata plus
    the hit's score under ``score_key`` and the chunk's id in the pack under ``id_key``
    (None leaves either out); ``Document.id`` is the stored document id or the chunk id as
    a string."""

    pack: Pack
    k: int = 4
    filter: Optional[Dict[str, Any]] = None
    ef: Optional[int] = None
    mode: Optional[str] = None
    diversity: Any = None
    embedding: Optional[Embeddings] = None
    score_key: Optional[str] = "score"
    id_key: Optional[str] = "vpack_id"

    _owns_pack: bool = PrivateAttr(default=False)

    def __init__(
        self,
        pack: PackLike,
        *,
        model_dir: Union[str, os.PathLike[str], None] = None,
        **kwargs: Any,
    ) -> None:
        opened, owned = as_pack(pack, model_dir)
        try:
            kwargs["pack"] = opened
            super().__init__(**kwargs)
        except BaseException:
            if owned:
                opened.close()
            raise
        self._owns_pack = owned

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: Optional[int] = None,
        filter: Optional[Mapping[str, Any]] = None,  # noqa: A002
        ef: Optional[int] = None,
    ) -> List[Document]:
        vector: Union[str, np.ndarray] = query
        if self.embedding is not None:
            vector = _vector(self.embedding.embed_query(query))
        else:
            reason = _no_text_queries(self.pack)
            if reason is not None:
                raise ValueError(reason)
        hits = self.pack.search(
            vector,
            k=self.k if k is None else k,
            filter=self.filter if filter is None else filter,
            ef=self.ef if ef is None else ef,
            mode=self.mode,
            diversity=self.diversity,
        )
        return [_document(hit, self.score_key, self.id_key) for hit in hits]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: Optional[int] = None,
        filter: Optional[Mapping[str, Any]] = None,  # noqa: A002
        ef: Optional[int] = None,
    ) -> List[Document]:
        # The search runs in a worker thread (the native call releases the GIL); the
        # default implementation would drop k, filter and ef.
        return await run_in_executor(
            None,
            self._get_relevant_documents,
            query,
            run_manager=run_manager.get_sync(),
            k=k,
            filter=filter,
            ef=ef,
        )

    def close(self) -> None:
        """Closes the pack if this retriever opened it (from a path)."""
        if self._owns_pack:
            self.pack.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VPackVectorStore(VectorStore):
    """A LangChain vector store kept in one vpack pack.

    >>> store = VPackVectorStore.from_documents(docs, path="docs.vpack", embedder="hash")  # doctest: +SKIP
    >>> store.similarity_search("reading files", k=3, filter={"source": "*.md"})        # doctest: +SKIP

    ``pack`` is an open :class:`vpack.Pack` (searched as is; changes make a new pack in
    memory, which :meth:`save` writes), a path (an existing pack is opened, a missing
    file is created by the first ``add_texts``; every change replaces the file
    atomically), or None (an empty store in memory).

    Embeddings: with ``embedding`` (a LangChain ``Embeddings``) texts and queries are
    embedded by it and the pack records only its class name (give the same object again
    to reopen the pack). Without it, the vpack ``embedder`` does (a name for
    :func:`vpack.make_embedder`, ``"model"`` or ``"hash"``, or an Embedder plugin);
    when that is None too, the embedder the pack records is used, and a new pack gets
    ``"model"`` (the default all-MiniLM-L6-v2, ``vpack[model]``). Such a pack records
    its embedder and answers text queries anywhere (``vpack query``, :func:`vpack.open`).

    Each document is one chunk: split long texts first (a LangChain text splitter, or
    build with :func:`vpack.build`, whose packs this store opens too). Scores are vpack's
    (higher is better: cosine similarity for ``metric="cosine"``, the default);
    ``filter`` takes vpack's filter syntax. A store serialises its calls (one lock)."""

    def __init__(
        self,
        pack: Optional[PackLike] = None,
        *,
        embedding: Optional[Embeddings] = None,
        embedder: Union[str, Embedder, None] = None,
        metric: str = "cosine",
        index: Union[str, Mapping[str, Any], None] = None,
        model_dir: Union[str, os.PathLike[str], None] = None,
    ) -> None:
        self._lock = threading.RLock()
        self._embedding = embedding
        self._embedder_arg = embedder
        self._made_embedder: Optional[Embedder] = None
        self._metric = metric
        self._index = index
        self._path: Optional[Path] = None
        self._pack: Optional[Pack] = None
        self._owns_pack = False
        self._ids: Optional[Dict[str, int]] = None
        if pack is None:
            return
        if isinstance(pack, Pack):
            self._pack = pack
            return
        self._path = Path(os.fspath(pack))
        if self._path.exists():
            self._pack, self._owns_pack = as_pack(self._path, model_dir)

    # --- what the store holds ------------------------------------------------------

    @property
    def embeddings(self) -> Optional[Embeddings]:
        return self._embedding

    @property
    def pack(self) -> Optional[Pack]:
        """The current pack (None while the store is empty and was never written). It
        is replaced by every change; do not close it."""
        return self._pack

    @property
    def path(self) -> Optional[Path]:
        """The file the store writes to (None for a store in memory)."""
        return self._path

    def __len__(self) -> int:
        with self._lock:
            return 0 if self._pack is None else len(self._pack)

    def save(self, path: Union[str, os.PathLike[str]]) -> None:
        """Writes the current pack to ``path`` (atomically); the store keeps its own
        target."""
        with self._lock:
            if self._pack is None:
                raise ValueError("the store is empty and has no pack yet (add texts first)")
            self._pack.save(path)

    def close(self) -> None:
        """Closes the pack if the store opened or built it, and any embedder it made."""
        with self._lock:
            if self._pack is not None and self._owns_pack:
                self._pack.close()
            self._pack = None
            self._ids = None
            closer = getattr(self._made_embedder, "close", None)
            if callable(closer):
                closer()
            self._made_embedder = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- embedding -----------------------------------------------------------------

    def _vpack_embedder(self) -> Optional[Embedder]:
        """The vpack embedder for new texts: the one given, else None when the pack
        records one (Pack.embed_queries re-creates it), else the default model."""
        if isinstance(self._embedder_arg, str) or (
            self._embedder_arg is None and manifest_embedder(self._pack) is None
        ):
            if self._made_embedder is None:
                from ..pipeline import make_embedder

                self._made_embedder = make_embedder(
                    self._embedder_arg if isinstance(self._embedder_arg, str) else "model"
                )
            return self._made_embedder
        return self._embedder_arg

    def _embed_texts(self, texts: List[str]) -> Tuple[np.ndarray, Dict[str, Any]]:
        """Vectors for new texts, and the manifest entries a new pack records about how."""
        recorded = manifest_embedder(self._pack)
        if self._embedding is not None:
            if recorded is not None:
                raise ValueError(
                    f"the pack's vectors come from the vpack embedder {recorded}; add texts "
                    "without embedding= (the pack's embedder is used) rather than mix them"
                )
            kind = type(self._embedding)
            vectors = _vector(self._embedding.embed_documents(texts))
            return vectors, {"langchain": {"embeddings": f"{kind.__module__}.{kind.__qualname__}"}}
        if self._pack is not None and recorded is None and self._embedder_arg is None:
            reason = _no_text_queries(self._pack) or ""
            raise ValueError(reason.replace("to search it by text", "to add texts to it"))
        embedder = self._vpack_embedder()
        if embedder is None:
            assert self._pack is not None  # no embedder given: the pack records one
            return self._pack.embed_queries(texts), {}
        described = dict(embedder.describe())
        if recorded is not None and recorded != described:
            raise ValueError(
                f"the pack was built with the embedder {recorded}, not {described}; "
                "its vectors cannot be mixed with another embedder's"
            )
        return np.asarray(embedder.embed(texts), dtype=np.float32), {"embedder": described}

    def _query_vector(self, query: str) -> Union[str, np.ndarray]:
        """The query as the pack takes it: a vector, or the text itself when the pack's
        recorded embedder embeds it."""
        if self._embedding is not None:
            return _vector(self._embedding.embed_query(query))
        if isinstance(self._embedder_arg, Embedder):
            row: np.ndarray = _vector(self._embedder_arg.embed([query]))[0]
            return row
        assert self._pack is not None
        reason = _no_text_queries(self._pack)
        if reason is not None:
            raise ValueError(reason)
        return query

    # --- reading -------------------------------------------------------------------

    def _id_map(self) -> Dict[str, int]:
        """Document id -> chunk id in the current pack (built on first use)."""
        if self._ids is None:
            self._ids = {} if self._pack is None else {doc_id(hit): hit.id for hit in all_chunks(self._pack)}
        return self._ids

    def get_by_ids(self, ids: Sequence[str], /) -> List[Document]:
        with self._lock:
            known = self._id_map()
            found = [known[i] for i in ids if i in known]
            return [] if self._pack is None else [_document(hit) for hit in read_chunks(self._pack, found)]

    def similarity_search_with_score_by_vector(
        self,
        embedding: Union[Sequence[float], np.ndarray],
        k: int = 4,
        filter: Optional[Mapping[str, Any]] = None,  # noqa: A002
        **kwargs: Any,
    ) -> List[Tuple[Document, float]]:
        """Documents nearest to the vector ``embedding`` with their vpack scores (higher
        is better), best first. ``filter`` is a vpack filter; ``ef`` may be given."""
        with self._lock:
            if self._pack is None:
                return []
            hits = self._pack.search(_vector(embedding), k=k, filter=filter, ef=kwargs.get("ef"))
            return [(_document(hit), hit.score) for hit in hits]

    def similarity_search_with_score(
        self,
        query: str,
        k: int = 4,
        filter: Optional[Mapping[str, Any]] = None,  # noqa: A002
        **kwargs: Any,
    ) -> List[Tuple[Document, float]]:
        """Documents most similar to ``query`` with their vpack scores (higher is
        better: cosine similarity on cosine packs), best first. Always by the embedding
        (dense), also on a pack with a lexical index: a vector store's scores are
        similarities."""
        with self._lock:
            if self._pack is None:
                return []
            hits = self._pack.search(
                self._query_vector(query), k=k, filter=filter, ef=kwargs.get("ef"), mode="dense"
            )
            return [(_document(hit), hit.score) for hit in hits]

    def similarity_search(
        self,
        query: str,
        k: int = 4,
        filter: Optional[Mapping[str, Any]] = None,  # noqa: A002
        **kwargs: Any,
    ) -> List[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    def similarity_search_by_vector(
        self,
        embedding: List[float],
        k: int = 4,
        filter: Optional[Mapping[str, Any]] = None,  # noqa: A002
        **kwargs: Any,
    ) -> List[Document]:
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, filter, **kwargs)]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """vpack scores to LangChain's relevance in [0, 1] (1 is most similar): cosine
        (and dot on unit vectors) maps [-1, 1] linearly; l2 scores are negative squared
        distances, mapped as LangChain maps a Euclidean distance of unit vectors."""
        with self._lock:
            metric = self._metric if self._pack is None else str(self._pack.manifest.get("metric"))
        if metric == "l2":
            return lambda score: 1.0 - float(np.sqrt(max(-score, 0.0))) / float(np.sqrt(2.0))
        return lambda score: (1.0 + score) / 2.0

    def max_marginal_relevance_search_by_vector(
        self,
        embedding: Union[List[float], np.ndarray],
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Optional[Mapping[str, Any]] = None,  # noqa: A002
        **kwargs: Any,
    ) -> List[Document]:
        """``k`` documents chosen from the ``fetch_k`` nearest for both similarity to
        the query and diversity among themselves (``lambda_mult`` 1: similarity only,
        0: diversity only), using the vectors stored in the pack."""
        with self._lock:
            if self._pack is None:
                return []
            query = _vector(embedding)
            hits = self._pack.search(query, k=fetch_k, filter=filter, ef=kwargs.get("ef"))
            if not hits:
                return []
            stored = self._pack.vectors[[hit.id for hit in hits]]
            chosen = maximal_marginal_relevance(query, list(stored), lambda_mult=lambda_mult, k=k)
            return [_document(hits[i]) for i in chosen]

    def max_marginal_relevance_search(
        self,
        query: str,
        k: int = 4,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Optional[Mapping[str, Any]] = None,  # noqa: A002
        **kwargs: Any,
    ) -> List[Document]:
        with self._lock:
            if self._pack is None:
                return []
            vector = self._query_vector(query)
            if isinstance(vector, str):
                vector = self._pack.embed_query(vector)
            return self.max_marginal_relevance_search_by_vector(
                vector, k, fetch_k, lambda_mult, filter=filter, **kwargs
            )

    # --- writing -------------------------------------------------------------------

    def _rewrite(
        self,
        drop: Iterable[int],
        texts: Sequence[str] = (),
        vectors: Optional[np.ndarray] = None,
        metadatas: Sequence[Mapping[str, Any]] = (),
        manifest: Optional[Mapping[str, Any]] = None,
    ) -> None:
        """Writes a new pack: the current chunks except those in ``drop`` (their stored
        vectors copied), then the new ones; it replaces the file atomically (or the pack
        in memory) and becomes the store's pack."""
        old = self._pack
        dropped = set(drop)
        if old is not None:
            dimension, metric = old.dimension, str(old.manifest["metric"])
            index: Any = _builder_index(old.manifest.get("index"))
            new_manifest = {key: v for key, v in old.manifest.items() if key not in _ENGINE_KEYS}
        elif vectors is not None and vectors.ndim == 2:
            dimension, metric, index = vectors.shape[1], self._metric, self._index
            new_manifest = {"builder": f"vpack {VERSION} (langchain VPackVectorStore)", **(manifest or {})}
        else:
            return  # nothing to write, nothing to drop
        if vectors is not None and (vectors.ndim != 2 or vectors.shape[1] != dimension):
            raise DimensionMismatchError(
                f"the embeddings have shape {vectors.shape}, the pack holds {dimension}-dimensional vectors",
                DimensionMismatchError.code,
            )
        builder = PackBuilder(dimension, metric, index=index)
        try:
            if old is not None and len(old):
                stored = old.vectors
                keep = [i for i in range(len(old)) if i not in dropped]
                for start in range(0, len(keep), _COPY_BATCH):
                    ids = keep[start : start + _COPY_BATCH]
                    hits = read_chunks(old, ids)
                    # Chunks of packs not built here keep the id they had (their position).
                    metas = [{**hit.metadata, DOC_ID_KEY: doc_id(hit)} for hit in hits]
                    builder.add([hit.text for hit in hits], stored[ids], metas)
            for start in range(0, len(texts), _COPY_BATCH):
                end = start + _COPY_BATCH
                assert vectors is not None
                builder.add(texts[start:end], vectors[start:end], metadatas[start:end])
            fresh = builder.finish(new_manifest, output=self._path)
        finally:
            builder.close()
        if old is not None and self._owns_pack:
            old.close()
        self._pack, self._owns_pack, self._ids = fresh, True, None

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: Optional[List[Dict[str, Any]]] = None,
        *,
        ids: Optional[List[str]] = None,
        **kwargs: Any,
    ) -> List[str]:
        """Embeds ``texts`` and writes a new pack holding the current documents and
        these (a document whose id is already in the store is replaced). Returns the
        ids (generated where not given). Costs a pass over the whole pack: add in large
        batches."""
        texts = list(texts)
        if metadatas is not None and len(metadatas) != len(texts):
            raise ValueError(f"got {len(metadatas)} metadatas for {len(texts)} texts")
        if ids is not None and len(ids) != len(texts):
            raise ValueError(f"got {len(ids)} ids for {len(texts)} texts")
        given = ids if ids is not None else [None] * len(texts)
        doc_ids = [str(i) if i is not None else str(uuid.uuid4()) for i in given]
        metas: List[Dict[str, Any]] = []
        for meta, i in zip(metadatas or [{}] * len(texts), doc_ids):
            if DOC_ID_KEY in meta:
                raise ValueError(f"metadata key {DOC_ID_KEY!r} is reserved for the document id (pass ids=)")
            metas.append({**meta, DOC_ID_KEY: i})
        # The same id twice in one call: the last one wins, as in a dict.
        last = {i: n for n, i in enumerate(doc_ids)}
        rows = sorted(last.values())
        if not rows:
            return doc_ids
        with self._lock:
            vectors, manifest = self._embed_texts([texts[n] for n in rows])
            known = self._id_map()
            self._rewrite(
                [known[i] for i in last if i in known],
                [texts[n] for n in rows],
                vectors,
                [metas[n] for n in rows],
                manifest,
            )
        return doc_ids

    def delete(self, ids: Optional[List[str]] = None, **kwargs: Any) -> Optional[bool]:
        """Writes a new pack without the documents with these ids (ids not in the store
        are ignored); ``ids=None`` deletes every document (LangChain's contract), leaving
        an empty pack. Returns True."""
        with self._lock:
            if self._pack is None:
                return True
            if ids is None:
                drop: Iterable[int] = range(len(self._pack))
            else:
                known = self._id_map()
                drop = [known[i] for i in ids if i in known]
                if not drop:
                    return True
            self._rewrite(drop)
        return True

    @classmethod
    def from_texts(
        cls,
        texts: List[str],
        embedding: Optional[Embeddings] = None,
        metadatas: Optional[List[Dict[str, Any]]] = None,
        *,
        ids: Optional[List[str]] = None,
        path: Union[str, os.PathLike[str], None] = None,
        embedder: Union[str, Embedder, None] = None,
        metric: str = "cosine",
        index: Union[str, Mapping[str, Any], None] = None,
        **kwargs: Any,
    ) -> Self:
        """A new store holding ``texts``: written to ``path`` (replacing a file there,
        atomically) or kept in memory. ``embedding`` is a LangChain ``Embeddings``; None
        embeds with the vpack ``embedder`` (default ``"model"``). ``metric`` and
        ``index`` are as for :class:`vpack.PackBuilder`."""
        if kwargs:
            raise TypeError(f"unexpected arguments: {', '.join(sorted(kwargs))}")
        store = cls(embedding=embedding, embedder=embedder, metric=metric, index=index)
        store._path = None if path is None else Path(os.fspath(path))
        store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    def from_documents(
        cls,
        documents: List[Document],
        embedding: Optional[Embeddings] = None,
        **kwargs: Any,
    ) -> Self:
        """As :meth:`from_texts`, from ``Document``\\ s (their ids are kept)."""
        if "ids" not in kwargs and any(doc.id for doc in documents):
            kwargs["ids"] = [doc.id for doc in documents]
        return cls.from_texts(
            [doc.page_content for doc in documents],
            embedding,
            [dict(doc.metadata) for doc in documents],
            **kwargs,
        )
