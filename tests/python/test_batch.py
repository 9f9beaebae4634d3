"""Pack.search_batch: many queries in one native call equal the same queries one at a
time (flat and HNSW packs, filters, ef), its padding convention, texts, and errors."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import pytest

import vpack
from vpack import errors
from vpack.builder import PackBuilder

N, DIM = 1500, 24


def clustered(n: int, seed: int) -> np.ndarray:
    centres = np.random.default_rng(99).standard_normal((20, DIM))
    rng = np.random.default_rng(seed)
    return (centres[rng.integers(0, 20, n)] + 0.4 * rng.standard_normal((n, DIM))).astype(np.float32)


DATA = clustered(N, 0)
QUERIES = clustered(64, 1)
META = [{"i": i, "group": i % 5, "path": f"g{i % 3}/d{i}.md"} for i in range(N)]


@pytest.fixture(scope="module", params=["flat", "hnsw"])
def pack(request: pytest.FixtureRequest) -> Iterator[vpack.Pack]:
    b = PackBuilder(DIM, index=request.param)
    b.add([f"text {i}" for i in range(N)], DATA, META)
    with b.finish() as p:
        yield p


def assert_rows_equal_single(
    pack: vpack.Pack,
    queries: np.ndarray,
    k: int,
    flt: Optional[Dict[str, Any]] = None,
    ef: Optional[int] = None,
    threads: int = 0,
) -> None:
    ids, scores = pack.search_batch(queries, k=k, filter=flt, ef=ef, threads=threads)
    assert ids.shape == scores.shape == (len(queries), k)
    assert ids.dtype == np.int64 and scores.dtype == np.float32
    for row, q in enumerate(queries):
        hits = pack.search(q, k=k, filter=flt, ef=ef)
        n = len(hits)
        assert ids[row, :n].tolist() == [h.id for h in hits]
        assert scores[row, :n].tolist() == [h.score for h in hits]  # bit for bit
        assert (ids[row, n:] == -1).all()
        assert np.isnan(scores[row, n:]).all()


@pytest.mark.parametrize("k", [1, 10, 37])
def test_batch_equals_single_queries(pack: vpack.Pack, k: int) -> None:
    assert_rows_equal_single(pack, QUERIES, k)


@pytest.mark.parametrize(
    "flt",
    [{"group": 2}, {"path": "g1/*.md"}, {"i": {"$lt": 4}}, {"i": {"$in": [3, 700]}}, {"group": 9}],
)
def test_batch_with_filters(pack: vpack.Pack, flt: Dict[str, Any]) -> None:
    assert_rows_equal_single(pack, QUERIES[:20], 10, flt)


@pytest.mark.parametrize("ef", [None, 0, 1, 10, 200])
def test_batch_with_ef(pack: vpack.Pack, ef: Optional[int]) -> None:
    assert_rows_equal_single(pack, QUERIES[:20], 10, ef=ef)
    assert_rows_equal_single(pack, QUERIES[:10], 5, {"group": 1}, ef=ef)


@pytest.mark.parametrize("threads", [1, 2, 3, 64, 1000])
def test_thread_counts_give_the_same_answer(pack: vpack.Pack, threads: int) -> None:
    expected = pack.search_batch(QUERIES, k=8)
    got = pack.search_batch(QUERIES, k=8, threads=threads)
    assert np.array_equal(got[0], expected[0])
    assert np.array_equal(got[1], expected[1])


def test_padding_when_fewer_hits_than_k() -> None:
    b = PackBuilder(DIM, metric="dot")
    b.add(["a", "b", "c"], DATA[:3], [{"n": 0}, {"n": 1}, {"n": 1}])
    with b.finish() as small:
        ids, scores = small.search_batch(QUERIES[:4], k=5)
        assert ids.shape == (4, 5)
        assert (ids[:, 3:] == -1).all() and np.isnan(scores[:, 3:]).all()
        assert sorted(ids[0, :3].tolist()) == [0, 1, 2]
        assert not np.isnan(scores[:, :3]).any()
        ids, scores = small.search_batch(QUERIES[:4], k=2, filter={"n": 0})
        assert (ids[:, 0] == 0).all() and (ids[:, 1] == -1).all()
        assert np.isnan(scores[:, 1]).all()
        real = ids >= 0  # the documented way to find the real hits
        assert real.sum() == 4
    with PackBuilder(DIM).finish() as empty:
        ids, scores = empty.search_batch(QUERIES[:2], k=3)
        assert ids.shape == (2, 3) and (ids == -1).all() and np.isnan(scores).all()


def test_texts_option(pack: vpack.Pack) -> None:
    flt = {"group": 3}
    ids, _scores, hits = pack.search_batch(QUERIES[:12], k=6, filter=flt, texts=True)
    assert len(hits) == 12
    for row, q in enumerate(QUERIES[:12]):
        single = pack.search(q, k=6, filter=flt)
        assert hits[row] == single
        assert [h.id for h in hits[row]] == ids[row, : len(single)].tolist()
        assert all(h.metadata["group"] == 3 and h.text == f"text {h.id}" for h in hits[row])
    ids, _scores, hits = pack.search_batch(QUERIES[:3], k=4, filter={"group": 42}, texts=True)
    assert hits == [[], [], []] and (ids == -1).all()


def test_queries_as_lists_and_non_contiguous_arrays(pack: vpack.Pack) -> None:
    expected = pack.search_batch(QUERIES[:6], k=4)
    as_list = pack.search_batch(QUERIES[:6].tolist(), k=4)
    assert np.array_equal(as_list[0], expected[0])
    wide = np.zeros((6, DIM * 2), dtype=np.float64)
    wide[:, ::2] = QUERIES[:6]
    strided = pack.search_batch(wide[:, ::2], k=4)  # float64, every other column
    assert np.array_equal(strided[0], expected[0])
    fortran = pack.search_batch(np.asfortranarray(QUERIES[:6]), k=4)
    assert np.array_equal(fortran[0], expected[0])


def test_empty_batches(pack: vpack.Pack) -> None:
    for queries in (np.empty((0, DIM), np.float32), []):
        ids, scores = pack.search_batch(queries, k=5)
        assert ids.shape == scores.shape == (0, 5)
    ids, scores, hits = pack.search_batch(np.empty((0, DIM), np.float32), k=5, texts=True)
    assert hits == []
    ids, scores = pack.search_batch(QUERIES[:3], k=0)
    assert ids.shape == (3, 0)


def test_text_queries(tmp_path: Path) -> None:
    texts = ["bread and baking", "birds migrating south", "reading files line by line"]
    docs = [f"{t}, note {i}" for i in range(20) for t in texts]
    with vpack.build(docs, embedder="hash", index="hnsw") as result:
        pack = result.pack
        ids, _scores = pack.search_batch(texts, k=3)
        for row, t in enumerate(texts):
            assert ids[row].tolist() == [h.id for h in pack.search(t, k=3)]
        matrix = pack.embed_queries(texts)
        assert matrix.shape == (3, pack.dimension)
        assert np.array_equal(matrix[1], pack.embed_query(texts[1]))
        with pytest.raises(TypeError, match="list of texts"):
            pack.search_batch("bread", k=3)  # type: ignore[arg-type]


def test_batch_errors(pack: vpack.Pack) -> None:
    with pytest.raises(ValueError, match="2-D"):
        pack.search_batch(QUERIES[0], k=3)
    with pytest.raises(ValueError, match="2-D"):
        pack.search_batch(QUERIES[None], k=3)
    with pytest.raises(errors.DimensionMismatchError):
        pack.search_batch(QUERIES[:, :-1], k=3)
    bad = QUERIES[:4].copy()
    bad[2, 5] = np.nan
    with pytest.raises(errors.InvalidArgumentError, match="non-finite"):
        pack.search_batch(bad, k=3)
    bad[2] = 0.0
    with pytest.raises(errors.InvalidArgumentError, match="zero norm"):
        pack.search_batch(bad, k=3)
    with pytest.raises(errors.LimitExceededError):
        pack.search_batch(QUERIES[:2], k=vpack._native.MAX_K + 1)
    for bad_k in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="k must be"):
            pack.search_batch(QUERIES[:2], k=bad_k)  # type: ignore[arg-type]
    for bad_threads in (-1, 2.0, None):
        with pytest.raises(ValueError, match="threads must be"):
            pack.search_batch(QUERIES[:2], k=3, threads=bad_threads)  # type: ignore[arg-type]
    with pytest.raises(errors.InvalidArgumentError, match="ef"):
        pack.search_batch(QUERIES[:2], k=3, ef=-5)
    with pytest.raises(errors.InvalidArgumentError, match="ef must be in"):
        pack.search_batch(QUERIES[:2], k=3, ef=1 << 17)
    with pytest.raises(errors.InvalidJSONError):
        pack.search_batch(QUERIES[:2], k=3, filter={"n": {"$nope": 1}})
    with pytest.raises(errors.InvalidArgumentError):
        pack.search_batch(QUERIES[:2], k=3, filter={"i": {"$gt": "5"}})
    with pytest.raises(errors.InvalidJSONError):
        pack.search_batch(QUERIES[:2], k=3, filter=["group"])  # type: ignore[arg-type]


def test_batches_from_threads_and_close() -> None:
    """Concurrent batches equal the serial answer; a close during batches waits for
    them, and later batches raise ValueError (closed)."""
    b = PackBuilder(DIM, index="hnsw")
    b.add([f"t{i}" for i in range(N)], DATA, META)
    pack = b.finish()
    expected = pack.search_batch(QUERIES, k=10, threads=1)[0]
    results: List[np.ndarray] = []
    failures: List[BaseException] = []

    def run() -> None:
        try:
            for _ in range(5):
                results.append(pack.search_batch(QUERIES, k=10, threads=2)[0])
        except ValueError:
            pass  # closed
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads[:2]:
        t.join()
    pack.close()
    for t in threads[2:]:
        t.join()
    assert not failures
    assert len(results) >= 10
    assert all(np.array_equal(r, expected) for r in results)
    with pytest.raises(ValueError, match="closed"):
        pack.search_batch(QUERIES, k=3)
