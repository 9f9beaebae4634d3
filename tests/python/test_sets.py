"""Pack sets from Python and the command line: a set of shards opens as one pack and
answers exactly as one pack of the same chunks (flat), and mixed, missing, damaged or
replaced shards are refused by name."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import pytest

import vpack
from vpack.builder import PackBuilder

from .conftest import random_vectors

VPACK = Path(sys.executable).with_name("vpack")

N, DIM = 300, 16


def _meta(i: int) -> Dict[str, object]:
    return {"group": i % 3, "path": f"dir{i % 4}/f{i}.md"}


def _write(path: Path, vectors: np.ndarray, ids: Sequence[int], **manifest: object) -> None:
    b = PackBuilder(vectors.shape[1])
    if len(ids):
        b.add([f"chunk {i}" for i in ids], vectors[list(ids)], [_meta(i) for i in ids])
    embedder = manifest.pop("embedder", {"kind": "hash", "dimension": vectors.shape[1]})
    b.finish({"embedder": embedder, **manifest}, output=path).close()


@pytest.fixture()
def sharded(tmp_path: Path) -> Tuple[Path, Path, List[Path], np.ndarray]:
    """One pack of N chunks, and the same chunks cut into 5 shards (one empty) + a set."""
    vectors = random_vectors(N, DIM, seed=3)
    vectors[50] = vectors[250]  # a tie across shards
    vectors[10] = vectors[11]  # and within one
    one = tmp_path / "one.vpack"
    _write(one, vectors, range(N))
    cuts = [0, 40, 120, 120, 200, N]
    (tmp_path / "shards").mkdir()
    shards = []
    for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
        p = tmp_path / "shards" / f"part-{i}.vpack"
        _write(p, vectors, range(a, b))
        shards.append(p)
    set_path = tmp_path / "all.vpackset"
    vpack.write_set(set_path, shards)
    return one, set_path, shards, vectors


def test_a_set_answers_as_one_pack(sharded: Tuple[Path, Path, List[Path], np.ndarray]) -> None:
    one_path, set_path, _, vectors = sharded
    queries = random_vectors(5, DIM, seed=9)
    queries[0] = vectors[250]
    with vpack.open(one_path) as one, vpack.open(set_path) as pack:
        assert len(pack) == N and pack.dimension == DIM
        assert pack.shards == [f"shards/part-{i}.vpack" for i in range(5)]
        assert one.shards is None
        for q in queries:
            for flt in (None, {"group": 1}, {"path": "dir2/*.md"}, {"group": 99}):
                for k in (0, 1, 2, 3, 7, 50, N, N + 5):
                    want = one.search(q, k=k, filter=flt)
                    got = pack.search(q, k=k, filter=flt)
                    assert [(h.id, h.score, h.text, h.metadata) for h in got] == [
                        (h.id, h.score, h.text, h.metadata) for h in want
                    ]
        ids_a, scores_a = one.search_batch(queries, k=20, filter={"group": 2}, threads=2)
        ids_b, scores_b = pack.search_batch(queries, k=20, filter={"group": 2}, threads=2)
        assert np.array_equal(ids_a, ids_b) and np.array_equal(scores_a, scores_b)
        for chunk_id in (0, 39, 40, 119, 120, 199, 200, N - 1):
            assert pack.chunk(chunk_id) == one.chunk(chunk_id)
        with pytest.raises(vpack.NotFoundError):
            pack.chunk(N)
        # Ties: the lower global id first, as in the one pack.
        top = pack.search(vectors[250], k=2)
        assert [h.id for h in top] == [50, 250]
        manifest = pack.manifest
        assert manifest["chunk_count"] == N
        assert manifest["set"]["shards"][2] == {"path": "shards/part-2.vpack", "chunk_count": 0}
        pack.verify()


def test_text_queries_use_the_recorded_embedder(sharded: Tuple[Path, Path, List[Path], np.ndarray]) -> None:
    one_path, set_path, _, _ = sharded
    with vpack.open(one_path) as one, vpack.open(set_path) as pack:
        assert pack.search("chunk 7", k=5) == one.search("chunk 7", k=5)


def test_what_a_set_cannot_do(sharded: Tuple[Path, Path, List[Path], np.ndarray], tmp_path: Path) -> None:
    _, set_path, shards, _ = sharded
    with vpack.open(set_path) as pack:
        with pytest.raises(vpack.NotFoundError, match="no contiguous vectors"):
            pack.vectors  # noqa: B018
        with pytest.raises(vpack.InvalidArgumentError, match="several files"):
            pack.to_bytes()
        with pytest.raises(vpack.InvalidArgumentError):
            pack.save(tmp_path / "x.vpack")
    single = tmp_path / "single.vpackset"
    vpack.write_set(single, [shards[1]])
    with vpack.open(single, verify=True) as pack:
        assert pack.vectors.shape == (80, DIM)


def test_the_folder_can_be_moved(sharded: Tuple[Path, Path, List[Path], np.ndarray], tmp_path: Path) -> None:
    _, set_path, _, _ = sharded
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.copytree(tmp_path / "shards", moved / "shards")
    shutil.copy(set_path, moved / "all.vpackset")
    with vpack.open(moved / "all.vpackset") as pack:
        assert len(pack) == N
    text = set_path.read_text(encoding="utf-8")
    assert str(tmp_path) not in text
    doc = json.loads(text)
    assert doc["format"] == "vpack-set" and doc["version"] == 1
    assert [s["chunk_count"] for s in doc["shards"]] == [40, 80, 0, 80, 100]
    assert all(s["fingerprint"].startswith("sha256:") for s in doc["shards"])


def test_mixed_shards_are_refused_by_name(tmp_path: Path) -> None:
    vectors = random_vectors(20, DIM)
    _write(tmp_path / "a.vpack", vectors, range(10))
    other_embedder = {"kind": "hash", "dimension": DIM, "char_ngram": 2}
    _write(tmp_path / "b.vpack", vectors, range(10, 20), embedder=other_embedder)
    other = random_vectors(5, 8)
    _write(tmp_path / "c.vpack", other, range(5))
    b = PackBuilder(DIM, metric="dot")
    b.add(["x"], vectors[:1])
    b.finish({"embedder": {"kind": "hash", "dimension": DIM}}, output=tmp_path / "d.vpack").close()
    for name, what in (("b.vpack", "embedder"), ("c.vpack", "dimension"), ("d.vpack", "metric")):
        with pytest.raises(vpack.InvalidArgumentError, match=rf"shard {name}.*{what}"):
            vpack.write_set(tmp_path / "s.vpackset", [tmp_path / "a.vpack", tmp_path / name])
    assert not (tmp_path / "s.vpackset").exists()
    with pytest.raises(vpack.InvalidArgumentError, match="at least one shard"):
        vpack.write_set(tmp_path / "s.vpackset", [])
    with pytest.raises(TypeError):
        vpack.write_set(tmp_path / "s.vpackset", str(tmp_path / "a.vpack"))  # type: ignore[arg-type]
    (tmp_path / "sub").mkdir()
    with pytest.raises(vpack.InvalidArgumentError, match="not inside"):
        vpack.write_set(tmp_path / "sub" / "s.vpackset", [tmp_path / "a.vpack"])


def test_missing_damaged_and_replaced_shards_are_named(
    sharded: Tuple[Path, Path, List[Path], np.ndarray],
) -> None:
    _, set_path, shards, vectors = sharded
    victim = shards[3]
    saved = victim.read_bytes()
    victim.unlink()
    with pytest.raises(vpack.PackIOError, match=r"shard 3 \(shards/part-3.vpack\)"):
        vpack.open(set_path)
    damaged = bytearray(saved)
    damaged[40] ^= 0xFF  # inside the header: caught by the O(1) open checks
    victim.write_bytes(bytes(damaged))
    with pytest.raises(vpack.CorruptPackError, match=r"part-3\.vpack"):
        vpack.open(set_path)
    damaged = bytearray(saved)
    damaged[-8] ^= 0x55  # inside the vectors: caught by the first search
    victim.write_bytes(bytes(damaged))
    with vpack.open(set_path) as pack, pytest.raises(vpack.CorruptPackError, match=r"part-3\.vpack"):
        pack.search(vectors[0], k=3)
    with pytest.raises(vpack.CorruptPackError, match=r"part-3\.vpack"):
        vpack.open(set_path, verify=True)
    _write(victim, vectors, range(5))  # a valid pack, but not the one the set names
    with pytest.raises(vpack.CorruptPackError, match=r"part-3\.vpack.*fingerprint"):
        vpack.open(set_path)
    victim.write_bytes(saved)
    with vpack.open(set_path, verify=True) as pack:
        assert len(pack) == N


def test_bad_set_files(tmp_path: Path) -> None:
    p = tmp_path / "bad.vpackset"
    for text, error in (
        ("{", vpack.CorruptPackError),
        ('{"format": "other"}', vpack.CorruptPackError),
        ('{"format": "vpack-set", "version": 9, "chunk_count": 0}', vpack.UnsupportedVersionError),
        ('{"format": "vpack-set", "version": 1, "chunk_count": 0, "shards": []}', vpack.CorruptPackError),
    ):
        p.write_text(text, encoding="utf-8")
        with pytest.raises(error):
            vpack.open(p)


def vpack_cli(*args: str) -> subprocess.CompletedProcess:
    assert VPACK.exists(), f"the vpack command is not installed at {VPACK}"
    return subprocess.run([str(VPACK), *args], capture_output=True, text=True, timeout=120)


def test_cli_set_create_query_info_verify(docs: Path, tmp_path: Path) -> None:
    # Two shards built from two halves of the docs with the hash embedder.
    halves = [tmp_path / "h0", tmp_path / "h1"]
    for i, half in enumerate(halves):
        for rel in sorted(p.relative_to(docs) for p in docs.rglob("*") if p.is_file())[i::2]:
            (half / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(docs / rel, half / rel)
    shards = []
    for i, half in enumerate(halves):
        out = tmp_path / f"part-{i}.vpack"
        proc = vpack_cli("build", str(half), "-o", str(out), "--embedder", "hash", "--no-progress")
        assert proc.returncode == 0, proc.stderr
        shards.append(str(out))
    set_file = str(tmp_path / "docs.vpackset")
    proc = vpack_cli("set", "create", set_file, *shards)
    assert proc.returncode == 0, proc.stderr
    assert "a pack set of 2 shards, 4 chunks" in proc.stdout
    proc = vpack_cli("query", set_file, "how do I read a file line by line", "-k", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert hits[0]["metadata"]["path"] == "files.md"
    proc = vpack_cli("query", set_file, "bread", "--where", "path=guide/**", "--json")
    assert proc.returncode == 0, proc.stderr
    guide = {"guide/install.md", "guide/deep/cooking.rst"}
    assert {h["metadata"]["path"] for h in json.loads(proc.stdout)} <= guide
    info = vpack_cli("info", set_file).stdout
    assert "a pack set of 2 shards" in info and "chunks: 4" in info and "documents: 4" in info
    assert "shard 0: part-0.vpack" in info
    manifest = json.loads(vpack_cli("info", set_file, "--json").stdout)
    assert manifest["set"]["shards"][1]["path"] == "part-1.vpack"
    assert "ok (4 chunks)" in vpack_cli("verify", set_file).stdout
    # A missing shard: one line naming it, status 1.
    Path(shards[1]).unlink()
    proc = vpack_cli("query", set_file, "bread")
    assert proc.returncode == 1
    assert "part-1.vpack" in proc.stderr and "[code 6]" in proc.stderr
    proc = vpack_cli("set", "create", set_file, shards[0], str(tmp_path / "nope.vpack"))
    assert proc.returncode == 1 and "nope.vpack" in proc.stderr


def test_lexical_and_hybrid_on_a_set_answer_as_one_pack(tmp_path: Path) -> None:
    words = ["alpha", "beta", "gamma", "os.scandir", "pg_dump", "socket", "delta", "shard", "merge", "kappa"]
    rng = np.random.default_rng(4)
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 8)))) for _ in range(N)]
    vectors = random_vectors(N, DIM, seed=5)
    index = {"kind": "flat", "lexical": {}}

    def write(path: Path, ids: Sequence[int]) -> None:
        b = PackBuilder(DIM, index=index)
        b.add([texts[i] for i in ids], vectors[list(ids)], [_meta(i) for i in ids])
        b.finish({"embedder": {"kind": "hash", "dimension": DIM}}, output=path).close()

    write(tmp_path / "one.vpack", range(N))
    cuts = [0, 70, 71, 200, N]
    shards = [tmp_path / f"part-{i}.vpack" for i in range(len(cuts) - 1)]
    for path, (a, b) in zip(shards, zip(cuts, cuts[1:])):
        write(path, range(a, b))
    vpack.write_set(tmp_path / "all.vpackset", shards)
    with vpack.open(tmp_path / "one.vpack") as one, vpack.open(tmp_path / "all.vpackset") as pack:
        for text in ("kappa", "os.scandir merge", "scandir", "no such words"):
            for flt in (None, {"group": 1}):
                for k in (1, 5, 40):
                    for mode in ("lexical", "hybrid"):
                        want = one.search(text, k=k, filter=flt, mode=mode)
                        got = pack.search(text, k=k, filter=flt, mode=mode)
                        assert [(h.id, h.score) for h in got] == [(h.id, h.score) for h in want]
        hits = pack.search("kappa", k=N, mode="lexical")
        assert hits and all("kappa" in h.text for h in hits)
        # The default mode (auto) is hybrid on a set whose shards all have a lexical index.
        want = [(h.id, h.score) for h in pack.search("kappa merge", k=7, mode="hybrid")]
        assert [(h.id, h.score) for h in pack.search("kappa merge", k=7)] == want
    # A shard without a lexical index is named.
    plain = tmp_path / "plain.vpack"
    _write(plain, vectors, range(10))
    vpack.write_set(tmp_path / "mixed.vpackset", [shards[0], plain])
    with vpack.open(tmp_path / "mixed.vpackset") as pack:
        with pytest.raises(vpack.NotFoundError, match=r"plain\.vpack"):
            pack.search("kappa", mode="lexical")
        # The default mode still answers, dense, and stays dense.
        dense = [(h.id, h.score) for h in pack.search("kappa", k=5, mode="dense")]
        for _ in range(2):
            assert [(h.id, h.score) for h in pack.search("kappa", k=5)] == dense
        assert len(pack.search(vectors[0], k=3)) == 3
