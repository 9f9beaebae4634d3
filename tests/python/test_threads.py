"""Packs, embedders and builders shared between threads: closing one while other threads
are inside native calls (cffi releases the GIL around every call) never crashes; the
calls in flight finish, later ones raise ValueError; and concurrent searches give exactly
the serial answers."""

from __future__ import annotations

import gc
import random
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import numpy as np
import pytest

import vpack
from vpack import _native
from vpack.builder import PackBuilder

from .conftest import random_vectors

ROUNDS = 30
N, DIM = 20_000, 64  # a search takes about a millisecond: long enough to be caught mid-call


@pytest.fixture(scope="module")
def pack_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("threads") / "random.vpack"
    b = PackBuilder(DIM)
    vectors = random_vectors(N, DIM, seed=21)
    metas = [{"group": i % 7, "path": f"{'even' if i % 2 == 0 else 'odd'}/{i}.txt"} for i in range(N)]
    b.add([f"chunk {i} ü" for i in range(N)], vectors, metas)
    b.finish({"title": "threads"}, output=path).close()
    return path


@pytest.fixture(scope="module")
def hash_pack_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("threads-hash") / "hash.vpack"
    docs = [f"document {i} about birds, bread, files and installing things" for i in range(50)]
    vpack.build(docs, path, embedder="hash", progress=False).pack.close()
    return path


class Workers:
    """Threads that run ``work`` until it raises; records what each one raised."""

    def __init__(self, count: int, work: Callable[[int], None]) -> None:
        self.started = threading.Barrier(count + 1)
        self.errors: List[BaseException] = []
        self.calls = [0] * count
        self._lock = threading.Lock()

        def run(t: int) -> None:
            self.started.wait()
            try:
                while True:
                    work(t)
                    self.calls[t] += 1
            except BaseException as exc:
                with self._lock:
                    self.errors.append(exc)

        self.threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(count)]
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a worker did not stop after close"


def assert_closed_errors(errors: List[BaseException], count: int) -> None:
    assert len(errors) == count
    for exc in errors:
        # Exactly the 'closed' error: not a crash, not a native error, not anything else.
        assert type(exc) is _native.ClosedError, repr(exc)
        assert isinstance(exc, ValueError)
        assert "closed" in str(exc)


def close_during(
    open_: Callable[[], Any], work: Callable[[Any, int], None], threads: int, closer: str
) -> int:
    """One round: ``threads`` workers call ``work`` on a fresh object until it is closed;
    the main thread or another thread closes it after a short random delay. Returns how
    many calls the workers completed."""
    obj = open_()
    workers = Workers(threads, lambda t: work(obj, t))
    workers.started.wait()
    time.sleep(random.uniform(0.0, 0.01))
    if closer == "main":
        obj.close()
    else:
        closing = threading.Thread(target=obj.close)
        closing.start()
        closing.join(timeout=60)
        assert not closing.is_alive()
    workers.join()
    assert_closed_errors(workers.errors, threads)
    obj.close()  # idempotent
    return sum(workers.calls)


@pytest.mark.parametrize(("threads", "closer"), [(1, "main"), (4, "main"), (3, "other")])
def test_close_while_searching(pack_path: Path, threads: int, closer: str) -> None:
    random.seed(threads)
    queries = random_vectors(16, DIM, seed=22)

    def search(pack: vpack.Pack, t: int) -> None:
        hits = pack.search(queries[t % len(queries)], k=10)
        assert len(hits) == 10

    calls = sum(close_during(lambda: vpack.open(pack_path), search, threads, closer) for _ in range(ROUNDS))
    assert calls > 0


def test_close_while_searching_filtered_and_reading_chunks(pack_path: Path) -> None:
    random.seed(5)
    queries = random_vectors(16, DIM, seed=23)

    def work(pack: vpack.Pack, t: int) -> None:
        hits = pack.search(queries[t], k=20, filter={"path": "even/*", "group": {"$in": [1, 2, 3]}})
        for hit in hits:
            assert hit.metadata["group"] in (1, 2, 3)
            assert pack.chunk(hit.id).text == hit.text
        assert len(pack) == N

    for _ in range(ROUNDS):
        close_during(lambda: vpack.open(pack_path), work, 4, "main")


def test_close_while_embedding_a_text_query(hash_pack_path: Path) -> None:
    random.seed(6)
    question = "how do I bake bread with files " * 4000  # ~120 kB: embedding takes milliseconds

    def work(pack: vpack.Pack, t: int) -> None:
        assert len(pack.search(question, k=3)) == 3

    for _ in range(ROUNDS // 2):
        close_during(lambda: vpack.open(hash_pack_path), work, 3, "main")
    for _ in range(ROUNDS // 2):
        close_during(lambda: vpack.open(hash_pack_path), work, 2, "other")


def test_close_native_embedder_while_embedding() -> None:
    random.seed(7)
    texts = [("some words to hash " * 2000).encode()] * 4

    def work(embedder: _native.NativeEmbedder, t: int) -> None:
        assert embedder.embed(texts, 64).shape == (4, 64)

    for _ in range(ROUNDS):
        close_during(
            lambda: _native.NativeEmbedder.create('{"kind": "hash", "dimension": 64}'), work, 3, "main"
        )


def test_close_builder_while_adding() -> None:
    random.seed(8)
    vectors = random_vectors(500, 32, seed=24)
    texts = [f"text {i}" for i in range(500)]

    def work(builder: PackBuilder, t: int) -> None:
        builder.add(texts, vectors)

    for _ in range(ROUNDS // 3):
        b = PackBuilder(32)
        workers = Workers(3, lambda t, b=b: work(b, t))  # type: ignore[misc]  # concurrent adds take turns
        workers.started.wait()
        time.sleep(random.uniform(0.0, 0.01))
        b.close()
        workers.join()
        assert len(workers.errors) == 3
        for exc in workers.errors:
            assert isinstance(exc, ValueError) and "closed" in str(exc), repr(exc)


def test_finish_while_another_thread_adds() -> None:
    vectors = random_vectors(200, 16, seed=25)
    b = PackBuilder(16)
    adding = Workers(2, lambda t: b.add([f"t{t}"] * 200, vectors))
    adding.started.wait()
    time.sleep(0.005)
    with b.finish() as pack:
        adding.join()
        assert len(pack) == sum(adding.calls) * 200
    assert len(adding.errors) == 2
    assert all(isinstance(exc, ValueError) for exc in adding.errors)


def test_every_call_after_close_raises_value_error(pack_path: Path, tmp_path: Path) -> None:
    pack = vpack.open(pack_path)
    manifest = pack.manifest
    pack.close()
    assert pack.closed
    assert repr(pack) == "<vpack.Pack closed>"
    assert pack.manifest == manifest  # read at open: still available, like a closed file's name
    q = np.ones(DIM, np.float32)
    calls: List[Callable[[], Any]] = [
        lambda: pack.search(q),
        lambda: pack.search(q, k=3, filter={"group": 1}),
        lambda: pack.search("text"),
        lambda: pack.chunk(0),
        lambda: len(pack),
        lambda: pack.dimension,
        lambda: pack.verify(),
        lambda: pack.to_bytes(),
        lambda: pack.save(tmp_path / "x.vpack"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="pack is closed"):
            call()
    assert not (tmp_path / "x.vpack").exists()

    emb = _native.NativeEmbedder.create('{"kind": "hash", "dimension": 8}')
    emb.close()
    for call in (lambda: emb.embed([b"x"], 8), emb.dimension, emb.describe, lambda: emb.token_counts([b"x"])):
        with pytest.raises(ValueError, match="embedder is closed"):
            call()


def test_closing_a_hash_pack_closes_its_embedder(hash_pack_path: Path) -> None:
    pack = vpack.open(hash_pack_path)
    assert len(pack.search("bread", k=1)) == 1
    embedder = pack._embedder
    assert embedder is not None and not embedder.closed
    pack.close()
    assert embedder.closed
    with pytest.raises(ValueError, match="pack is closed"):
        pack.search("bread")


def test_text_queries_from_many_threads_share_one_embedder(hash_pack_path: Path) -> None:
    with vpack.open(hash_pack_path) as pack:
        expected = [(h.id, h.score) for h in pack.search("installing birds", k=5)]
    with vpack.open(hash_pack_path) as pack:
        barrier = threading.Barrier(8)
        results: Dict[int, Any] = {}
        embedders: Dict[int, Any] = {}

        def worker(t: int) -> None:
            barrier.wait()
            results[t] = [(h.id, h.score) for h in pack.search("installing birds", k=5)]
            embedders[t] = pack._embedder

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(results[t] == expected for t in range(8))
        assert len({id(e) for e in embedders.values()}) == 1


def test_unclosed_handles_are_freed_by_the_collector(pack_path: Path) -> None:
    for _ in range(20):
        pack = vpack.open(pack_path)
        pack.search(np.ones(DIM, np.float32), k=1)
        b = PackBuilder(4)
        b.add(["a"], np.ones((1, 4), np.float32))
        del pack, b
    gc.collect()
    gc.collect()


Answer = List[Tuple[int, float, str, Dict[str, Any]]]


def answers(pack: vpack.Pack, query: np.ndarray, flt: Any) -> Answer:
    return [(h.id, h.score, h.text, h.metadata) for h in pack.search(query, k=10, filter=flt)]


@pytest.fixture(scope="module")
def shared_pack(pack_path: Path) -> Iterator[vpack.Pack]:
    with vpack.open(pack_path) as pack:
        yield pack


def test_eight_threads_give_exactly_the_serial_results(shared_pack: vpack.Pack) -> None:
    queries = random_vectors(24, DIM, seed=26)
    filters: List[Any] = [
        None,
        {"path": "odd/*"},
        {"group": {"$gte": 2, "$lt": 5}},
        {"$or": [{"group": 0}, {"path": "even/1*"}]},
    ]
    jobs = [(qi, fi) for qi in range(len(queries)) for fi in range(len(filters))]
    serial = {(qi, fi): answers(shared_pack, queries[qi], filters[fi]) for qi, fi in jobs}
    assert all(len(a) == 10 for a in serial.values())
    barrier = threading.Barrier(8)
    results: Dict[int, Dict[Tuple[int, int], Answer]] = {}
    failures: List[BaseException] = []

    def worker(t: int) -> None:
        order = list(jobs)
        random.Random(t).shuffle(order)  # each thread its own order: calls overlap differently
        mine: Dict[Tuple[int, int], Answer] = {}
        barrier.wait()
        try:
            for _ in range(3):
                for qi, fi in order:
                    got = answers(shared_pack, queries[qi], filters[fi])
                    assert mine.setdefault((qi, fi), got) == got
        except BaseException as exc:
            failures.append(exc)
        results[t] = mine

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for t in range(8):
        assert results[t] == serial


def test_close_from_inside_the_threads_own_call_does_not_deadlock(pack_path: Path) -> None:
    """A signal handler runs on the main thread between bytecodes, possibly while that
    thread holds a use of the handle; a close() from there must not wait for itself: the
    last release frees instead."""
    pack = vpack.open(pack_path)
    index = pack._index
    index._acquire()  # as if interrupted inside a call
    pack.close()  # returns at once
    assert pack.closed
    assert index._ptr is not None  # still in use: not freed yet
    index._release()
    assert index._ptr is None  # the last release freed it
    with pytest.raises(ValueError, match="closed"):
        len(pack)
    b = _native.NativeBuilder.create('{"dimension": 4, "metric": "cosine"}')
    b._acquire()
    with pytest.raises(RuntimeError, match="from inside"):
        b.finish("{}")
    b._release()
    assert not b.closed
    b.finish("{}").close()
