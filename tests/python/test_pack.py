"""Packs built from vectors: exact search against a numpy reference, serialization,
files on disk, handles and threads."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import vpack
from vpack.builder import PackBuilder

from .conftest import random_vectors


def reference_top_k(vectors: np.ndarray, query: np.ndarray, k: int, metric: str) -> np.ndarray:
    v = vectors.astype(np.float64)
    q = query.astype(np.float64)
    if metric == "cosine":
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        q = q / np.linalg.norm(q)
        scores = v @ q
    elif metric == "dot":
        scores = v @ q
    else:
        scores = -((v - q) ** 2).sum(axis=1)
    return np.argsort(-scores, kind="stable")[:k]


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_search_matches_numpy_reference(metric: str) -> None:
    vectors = random_vectors(1000, 32, seed=1)
    queries = random_vectors(20, 32, seed=2)
    b = PackBuilder(32, metric=metric)
    b.add([str(i) for i in range(1000)], vectors)
    with b.finish() as pack:
        assert pack.manifest["metric"] == metric
        for q in queries:
            hits = pack.search(q, k=10)
            assert [h.id for h in hits] == list(reference_top_k(vectors, q, 10, metric))
            scores = [h.score for h in hits]
            assert scores == sorted(scores, reverse=True)


def test_identical_vector_scores_one_and_text_round_trips(vector_pack: vpack.Pack) -> None:
    vectors = random_vectors(200, 16)
    hit = vector_pack.search(vectors[42], k=1)[0]
    assert hit.id == 42
    assert hit.score == pytest.approx(1.0, abs=1e-5)
    assert hit.text == "chunk 42"
    assert hit.metadata == {"i": 42}


def test_k_bounds(vector_pack: vpack.Pack) -> None:
    q = random_vectors(1, 16, seed=9)[0]
    assert vector_pack.search(q, k=0) == []
    assert len(vector_pack.search(q, k=500)) == 200
    with pytest.raises(ValueError):
        vector_pack.search(q, k=-1)


def test_manifest_and_len(vector_pack: vpack.Pack) -> None:
    m = vector_pack.manifest
    assert m["title"] == "random"
    assert m["format_version"] == vpack.FORMAT_VERSION == 2
    assert m["chunk_count"] == len(vector_pack) == 200
    assert m["dimension"] == vector_pack.dimension == 16
    assert m["index"] == {"kind": "flat"}


def test_unicode_text_and_nested_metadata() -> None:
    b = PackBuilder(4)
    texts = ["naïve café ☕", "", "日本語のテキスト"]
    metas = [{"tags": ["a", "b"], "nested": {"x": 1.5}}, {}, {"emoji": "🙂"}]
    b.add(texts, np.eye(3, 4, dtype=np.float32), metas)
    with b.finish() as pack:
        for i in range(3):
            hit = pack.chunk(i)
            assert hit.text == texts[i]
            assert hit.metadata == metas[i]


def test_bytes_round_trip_is_deterministic(vector_pack: vpack.Pack) -> None:
    data = vector_pack.to_bytes()
    with vpack.Pack.from_bytes(data) as again:
        assert again.to_bytes() == data
    # Building the same input again, in different batches, gives the same bytes.
    vectors = random_vectors(200, 16)
    b = PackBuilder(16)
    for lo in range(0, 200, 64):
        hi = min(lo + 64, 200)
        b.add([f"chunk {i}" for i in range(lo, hi)], vectors[lo:hi], [{"i": i} for i in range(lo, hi)])
    with b.finish({"title": "random"}) as rebuilt:
        assert rebuilt.to_bytes() == data


def test_save_and_open(vector_pack: vpack.Pack, tmp_path: Path) -> None:
    path = tmp_path / "p.vpack"
    vector_pack.save(path)
    assert path.read_bytes() == vector_pack.to_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["p.vpack"]  # no temp file left
    q = random_vectors(1, 16, seed=5)[0]
    with vpack.open(path) as a, vpack.open(path, verify=True) as b:
        assert a.search(q, k=5) == b.search(q, k=5) == vector_pack.search(q, k=5)


def test_save_to_missing_directory_fails_cleanly(vector_pack: vpack.Pack, tmp_path: Path) -> None:
    with pytest.raises(vpack.PackIOError):
        vector_pack.save(tmp_path / "no" / "such" / "dir" / "p.vpack")
    assert list(tmp_path.iterdir()) == []


def test_open_verify_detects_damage_lazy_open_does_not(vector_pack: vpack.Pack, tmp_path: Path) -> None:
    path = tmp_path / "p.vpack"
    data = bytearray(vector_pack.to_bytes())
    data[-100] ^= 0x01  # inside the vector section
    path.write_bytes(bytes(data))
    with vpack.open(path) as pack, pytest.raises(vpack.CorruptPackError):  # O(1) open: structure only
        pack.verify()
    with pytest.raises(vpack.CorruptPackError):
        vpack.open(path, verify=True)


def test_concurrent_searches_agree(vector_pack: vpack.Pack) -> None:
    queries = random_vectors(50, 16, seed=3)
    expected = [[h.id for h in vector_pack.search(q, k=5)] for q in queries]
    results: dict = {}

    def worker(t: int) -> None:
        results[t] = [[h.id for h in vector_pack.search(q, k=5)] for q in queries]

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[t] == expected for t in range(4))


def test_builder_rejects_bad_input_and_keeps_state() -> None:
    b = PackBuilder(4)
    b.add(["a"], np.ones((1, 4), np.float32))
    with pytest.raises(vpack.InvalidArgumentError, match="non-finite"):
        b.add(["b"], np.full((1, 4), np.nan, np.float32))
    with pytest.raises(ValueError):
        b.add(["b", "c"], np.ones((1, 4), np.float32))
    with b.finish() as pack:
        assert len(pack) == 1
    with pytest.raises(ValueError, match="finished"):
        b.add(["late"], np.ones((1, 4), np.float32))


def test_reserved_manifest_keys_are_refused() -> None:
    b = PackBuilder(4)
    b.add(["a"], np.ones((1, 4), np.float32))
    with pytest.raises(vpack.InvalidArgumentError, match="chunk_count"):
        b.finish({"chunk_count": 99})


def test_finish_to_file_streams_the_same_bytes(tmp_path: Path) -> None:
    vectors = random_vectors(300, 16, seed=4)

    def builder() -> PackBuilder:
        b = PackBuilder(16, temp_dir=tmp_path)
        b.add([f"t{i}" for i in range(300)], vectors, [{"i": i} for i in range(300)])
        return b

    with builder().finish({"n": 1}) as in_memory:
        expected = in_memory.to_bytes()
    out = tmp_path / "streamed.vpack"
    with builder().finish({"n": 1}, output=out) as streamed:
        assert streamed.to_bytes() == expected
        assert streamed.search(vectors[7], k=1)[0].id == 7
    assert out.read_bytes() == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streamed.vpack"]  # spools unlinked


def test_filtered_search_runs_in_the_engine() -> None:
    vectors = random_vectors(100, 8, seed=11)
    metas = [
        {"path": f"{'guide' if i % 3 == 0 else 'api'}/p{i}.md", "n": i, "tags": ["t", str(i % 5)]}
        for i in range(100)
    ]
    b = PackBuilder(8, metric="dot")
    b.add([f"c{i}" for i in range(100)], vectors, metas)
    q = random_vectors(1, 8, seed=12)[0]
    scores = vectors @ q
    with b.finish() as pack:
        hits = pack.search(q, k=5, filter={"path": "guide/*.md"})
        want = [i for i in np.argsort(-scores, kind="stable") if i % 3 == 0][:5]
        assert [h.id for h in hits] == want
        assert all(h.metadata["path"].startswith("guide/") for h in hits)
        hits = pack.search(q, k=100, filter={"n": {"$gte": 10, "$lt": 20}, "tags": "3"})
        assert sorted(h.id for h in hits) == [13, 18]
        assert pack.search(q, k=5, filter={"path": "nowhere/*"}) == []
        with pytest.raises(vpack.InvalidJSONError, match="unknown operator"):
            pack.search(q, k=5, filter={"n": {"$regex": "x"}})
        # Ordering a number against a string is a mistake in the filter, not "no hits".
        with pytest.raises(vpack.InvalidArgumentError, match="field 'n'"):
            pack.search(q, k=5, filter={"n": {"$gt": "abc"}})


def test_hit_keeps_its_dataclass_shape() -> None:
    """Hit is built lazily by searches (metadata decoded on first access) but keeps the
    constructor, fields, equality and immutability of the frozen dataclass it was."""
    plain = vpack.Hit(3, 0.5, "text")
    assert (plain.id, plain.score, plain.text, plain.metadata, plain.source) == (3, 0.5, "text", {}, None)
    named = vpack.Hit(id=3, score=0.5, text="text", metadata={"path": "a.md"})
    assert named.source == "a.md"
    assert named != plain and plain == vpack.Hit(3, 0.5, "text", {})
    assert named.to_dict() == {"id": 3, "score": 0.5, "text": "text", "metadata": {"path": "a.md"}}
    for field in ("id", "score", "text", "metadata", "other"):
        with pytest.raises(AttributeError):
            setattr(named, field, 1)
    vectors = random_vectors(20, 8, seed=3)
    b = PackBuilder(8)
    metas = [{"path": f"p{i}.md", "n": [i, {"x": None}]} for i in range(20)]
    b.add([f"c{i}" for i in range(20)], vectors, metas)
    with b.finish() as pack:
        hit = pack.search(vectors[4], k=1)[0]
        assert hit == vpack.Hit(4, hit.score, "c4", {"path": "p4.md", "n": [4, {"x": None}]})
        assert hit.source == "p4.md"
        assert pack.chunk(4) == vpack.Hit(4, 0.0, "c4", {"path": "p4.md", "n": [4, {"x": None}]})
        assert vpack.Hit.__match_args__ == ("id", "score", "text", "metadata")
