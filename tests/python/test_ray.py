"""Distributed builds on a real local Ray cluster (vpack.distributed).

Run inside a network namespace that has only loopback (tests/tools/loopback.sh, as the
`ray` tox environment does): the tests skip elsewhere, and fail instead with
VPACK_REQUIRE_RAY=1, so no test sends a packet beyond 127.0.0.0/8. Small corpora and the
hash embedder keep them short; one Ray cluster (2 CPUs) serves the module, and the
multi-node test starts its own two-node cluster last.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator, List, Tuple

import numpy as np
import pytest

import vpack
from vpack import cli

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from vpack import distributed  # noqa: E402
from vpack.plugins.embedders import HashEmbedder  # noqa: E402
from vpack.plugins.sources import IterableSource  # noqa: E402

# Ray's workers cannot import this test module: its functions (embedder factories) are
# pickled by value instead.
ray.cloudpickle.register_pickle_by_value(__import__("sys").modules[__name__])

REQUIRE = os.environ.get("VPACK_REQUIRE_RAY") == "1"
SHARDS = 3
DIM = 64
QUERIES = [
    "birds migrate south",
    "read a file line by line",
    "bake bread",
    "install the package",
    "topic 7 rivers",
    "mountains and snow",
]


def _only_loopback() -> bool:
    """Whether this process's network namespace has no interface but loopback
    (/proc/net/dev is per namespace; /sys/class/net is the mount's, not ours)."""
    try:
        with open("/proc/net/dev") as f:
            names = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    except OSError:
        return False
    return names == ["lo"]


if not _only_loopback():
    reason = "Ray tests run only in a loopback-only network namespace (tests/tools/loopback.sh)"
    if REQUIRE:
        raise RuntimeError(reason + "; VPACK_REQUIRE_RAY=1 is set")
    pytest.skip(reason, allow_module_level=True)


def _init(**kw: Any) -> None:
    ray.init(
        include_dashboard=False,
        log_to_driver=False,
        _node_ip_address="127.0.0.1",
        **kw,
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    # address="local": always a new cluster, never one another run left behind.
    _init(address="local", num_cpus=2, object_store_memory=80 * 2**20)
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    subjects = ["birds migrate south", "rivers flow to the sea", "mountains and snow", "bread and ovens"]
    for i in range(24):
        folder = root / ("guide" if i % 3 == 0 else "notes")
        folder.mkdir(exist_ok=True)
        body = " ".join(f"Topic {i} {subjects[i % 4]} sentence {j}." for j in range(12))
        suffix = ".md" if i % 2 else ".txt"
        head = f"# Page {i}\n\n" if suffix == ".md" else ""
        (folder / f"doc{i:02d}{suffix}").write_text(head + body + "\n\n" + body[::-1] + "\n")
    (root / "notes" / "empty.txt").write_text("   \n")  # skipped: empty
    (root / "notes" / "blob.txt").write_bytes(b"\0\1\2binary")  # skipped: binary
    (root / "files.md").write_text("# Reading files\n\nTo read a file line by line, iterate over it.\n")
    return root


SETTINGS = {"embedder": "hash", "chunk_size": 200, "chunk_overlap": 40, "batch_size": 16}


def _hash_embedder() -> Any:
    return HashEmbedder(DIM)


def _local_shard(corpus: Path, out: Path, shard: int, shards: int = SHARDS) -> bytes:
    part = distributed.partition(corpus, shard, shards)
    path = out / f"local-{shard}-of-{shards}.vpack"
    with vpack.build(part, path, allow_empty=True, **{**SETTINGS, "embedder": _hash_embedder()}):
        pass
    return path.read_bytes()


def _hits(pack: vpack.Pack, query: str) -> List[Tuple[str, str, float]]:
    """The top 5 (text, path, score), ties in score ordered by text: the set numbers its
    chunks shard by shard, the single pack in walk order."""
    hits = [(h.text, str(h.metadata.get("path")), round(h.score, 5)) for h in pack.search(query, k=5)]
    return sorted(hits, key=lambda h: (-h[2], h[0]))


@pytest.fixture(scope="module")
def ray_build(cluster: None, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("ray-out")
    result = vpack.build(
        corpus,
        out / "docs.vpackset",
        engine="ray",
        shards=SHARDS,
        **{**SETTINGS, "embedder": _hash_embedder},
    )
    yield result
    result.pack.close()


def test_shards_are_byte_identical_to_local_builds_of_their_partitions(
    ray_build: Any, corpus: Path, tmp_path: Path
) -> None:
    report = ray_build.report
    assert len(report.shards) == SHARDS
    for i, shard in enumerate(report.shards):
        assert Path(shard).name == f"docs-{i:05d}-of-{SHARDS:05d}.vpack"
        assert Path(shard).read_bytes() == _local_shard(corpus, tmp_path, i), f"shard {i}"


def test_same_top_k_as_a_local_build(ray_build: Any, corpus: Path, tmp_path: Path) -> None:
    with vpack.build(corpus, tmp_path / "one.vpack", **{**SETTINGS, "embedder": _hash_embedder()}) as local:
        assert ray_build.report.chunks == local.report.chunks == len(local.pack)
        assert ray_build.report.documents == local.report.documents
        assert ray_build.report.characters == local.report.characters
        assert sorted((s.path, s.reason) for s in ray_build.report.skipped) == sorted(
            (s.path, s.reason) for s in local.report.skipped
        )
        with vpack.open(ray_build.report.output) as merged:
            assert len(merged) == len(local.pack)
            for q in QUERIES:
                assert _hits(merged, q) == _hits(local.pack, q), q


def test_same_inputs_same_shards(ray_build: Any, corpus: Path, tmp_path: Path) -> None:
    """A second build of the same folder writes the same bytes (no timestamps, no
    dependence on which worker did what)."""
    with vpack.build(
        corpus, tmp_path / "again.vpackset", engine="ray", shards=SHARDS, **{**SETTINGS, "embedder": "hash"}
    ) as again:
        # embedder="hash" is the registry's 256-d hash: a different embedder, so compare
        # shard by shard against local builds with the same one.
        for i, shard in enumerate(again.report.shards):
            part = distributed.partition(corpus, i, SHARDS)
            with vpack.build(part, tmp_path / f"l{i}.vpack", allow_empty=True, **SETTINGS):
                pass
            assert Path(shard).read_bytes() == (tmp_path / f"l{i}.vpack").read_bytes()


def _crashing_factory(marker: Path) -> Callable[[], Any]:
    """An embedder factory whose embedder kills its actor's process (os._exit) at its
    first batch while ``marker`` exists, removing the marker first: one crash."""

    def make() -> Any:
        inner = HashEmbedder(DIM)

        class CrashOnce:
            dimension = inner.dimension

            def describe(self) -> Any:
                return inner.describe()

            def embed(self, texts: Any) -> Any:
                try:
                    marker.unlink()
                except FileNotFoundError:
                    return inner.embed(texts)
                os._exit(1)

        return CrashOnce()

    return make


def test_a_killed_actor_is_restarted_and_nothing_is_lost(
    ray_build: Any, corpus: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "crash-once"
    marker.write_text("")
    with vpack.build(
        corpus,
        tmp_path / "crash.vpackset",
        engine="ray",
        shards=SHARDS,
        **{**SETTINGS, "embedder": _crashing_factory(marker)},
    ) as result:
        assert not marker.exists(), "the embedder never crashed"
        assert result.report.chunks == ray_build.report.chunks == len(result.pack)
        for mine, theirs in zip(result.report.shards, ray_build.report.shards):
            assert Path(mine).read_bytes() == Path(theirs).read_bytes()


def test_cli_engine_ray(
    ray_build: Any, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli.vpackset"
    args = ["build", str(corpus), "-o", str(out), "--engine", "ray", "--shards", "2"]
    assert cli.main([*args, "--embedder", "hash", "--dimension", "64", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "shards: 2 packs beside it (cli-00000-of-00002.vpack" in printed
    assert sorted(p.name for p in tmp_path.glob("cli-*.vpack")) == [
        "cli-00000-of-00002.vpack",
        "cli-00001-of-00002.vpack",
    ]
    assert cli.main(["query", str(out), "birds migrate south", "-k", "1"]) == 0
    assert "birds migrate south" in capsys.readouterr().out


def test_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    with pytest.raises(ImportError, match=r'pip install "vpack-search\[ray\]"'):
        distributed.import_ray()


def test_records_are_partitioned_by_id(ray_build: Any, tmp_path: Path) -> None:
    """Any source (here an iterable of records) is partitioned by document id; each shard
    is byte-identical to a local build of its partition."""
    records = [
        {"id": f"rec-{i}", "text": f"Record {i} about rivers and birds number {i}."} for i in range(20)
    ]
    settings = {**SETTINGS, "embedder": _hash_embedder}
    with vpack.build(records, tmp_path / "recs.vpackset", engine="ray", shards=2, **settings) as result:
        assert result.report.documents == 20 == len(result.pack)
        for i, shard in enumerate(result.report.shards):
            part = distributed.partition(IterableSource(records), i, 2)
            local = tmp_path / f"recs-local-{i}.vpack"
            with vpack.build(part, local, allow_empty=True, **{**SETTINGS, "embedder": HashEmbedder(DIM)}):
                pass
            assert Path(shard).read_bytes() == local.read_bytes(), f"shard {i}"


def _stat(path: Path) -> Tuple[int, int]:
    """The file's inode and modification time ((0, 0) when it is missing)."""
    if not path.exists():
        return 0, 0
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def _ray_build(corpus: Path, output: Path, shards: int = SHARDS, **settings: Any) -> vpack.BuildResult:
    kwargs = {**SETTINGS, "embedder": _hash_embedder, **settings}
    return vpack.build(corpus, output, engine="ray", shards=shards, **kwargs)


def test_a_rebuild_rewrites_only_the_shards_whose_inputs_changed(
    cluster: None, corpus: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    shutil.copytree(corpus, src)
    out = tmp_path / "out" / "docs.vpackset"
    out.parent.mkdir()
    cache = tmp_path / "cache"
    with _ray_build(src, out, cache=cache) as first:
        assert first.report.kept == []
        shards = [Path(p) for p in first.report.shards]
    record = json.loads(distributed.record_path(out).read_text())
    listed = json.loads(out.read_text())["shards"]
    # The record names each shard with the set file's fingerprint, which Python reads
    # back from the file in O(1).
    assert [e["path"] for e in record["shards"]] == [p.name for p in shards]
    for entry, in_set, shard in zip(record["shards"], listed, shards):
        assert entry["fingerprint"] == in_set["fingerprint"] == distributed.file_fingerprint(shard)
    before = [_stat(p) for p in shards]

    # Nothing changed: every shard kept, not one file written.
    with _ray_build(src, out, cache=cache) as again:
        assert again.report.kept == [str(p) for p in shards]
        assert again.report.chunks == first.report.chunks
        assert again.report.documents == first.report.documents
        assert again.report.cache_misses == again.report.cache_hits == 0
    assert [_stat(p) for p in shards] == before

    # One file edited: only its shard is written again, its unchanged chunks from the
    # embedding cache.
    edited = "notes/doc04.txt"
    which = distributed.shard_of(edited, SHARDS)
    (src / edited).write_text((src / edited).read_text() + "\nA new closing line about comets.\n")
    with _ray_build(src, out, cache=cache) as rebuilt:
        assert rebuilt.report.kept == [str(p) for i, p in enumerate(shards) if i != which]
        assert rebuilt.report.cache_misses >= 1
        assert rebuilt.report.cache_hits >= 1
        report = rebuilt.report
    after = [_stat(p) for p in shards]
    assert [i for i in range(SHARDS) if after[i] != before[i]] == [which]

    # The same as a fresh build of the edited folder: the same bytes and answers.
    fresh_out = tmp_path / "fresh" / "docs.vpackset"
    fresh_out.parent.mkdir()
    with _ray_build(src, fresh_out) as fresh:
        for mine, theirs in zip(shards, fresh.report.shards):
            assert mine.read_bytes() == Path(theirs).read_bytes(), mine.name
        for key in ("documents", "chunks", "characters"):
            assert getattr(report, key) == getattr(fresh.report, key), key
        assert sorted(report.skipped, key=str) == sorted(fresh.report.skipped, key=str)
        with vpack.open(out) as pack:
            for q in [*QUERIES, "comets"]:
                assert _hits(pack, q) == _hits(fresh.pack, q), q

    # A file added, another removed: their shards only.
    (src / "notes" / "added.txt").write_text("An added page about lighthouses and the sea.\n")
    (src / "guide" / "doc06.txt").unlink()
    touched = {distributed.shard_of(rel, SHARDS) for rel in ("notes/added.txt", "guide/doc06.txt")}
    before = [_stat(p) for p in shards]
    with _ray_build(src, out) as rebuilt:
        assert len(rebuilt.report.kept) == SHARDS - len(touched)
        assert "lighthouses" in rebuilt.pack.search("lighthouses and the sea", k=1)[0].text
    after = [_stat(p) for p in shards]
    assert {i for i in range(SHARDS) if after[i] != before[i]} == touched

    # Another setting: every shard written again.
    with _ray_build(src, out, chunk_size=300) as changed:
        assert changed.report.kept == []
    assert all(_stat(p) != b for p, b in zip(shards, after))

    # Another shard count: new shard files, the old ones removed.
    with _ray_build(src, out, shards=2, chunk_size=300) as two:
        assert two.report.kept == []
    assert sorted(p.name for p in out.parent.glob("*.vpack")) == [
        "docs-00000-of-00002.vpack",
        "docs-00001-of-00002.vpack",
    ]


def test_missing_and_damaged_shards_are_named_and_rebuilt(
    cluster: None, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Ray-built set with a shard deleted, or damaged in its header or in its vectors:
    vpack.open, `vpack query`, `vpack info` and `vpack verify` name the shard; the next
    build writes that shard again and keeps the others."""
    out = tmp_path / "docs.vpackset"
    build = ["build", str(corpus), "-o", str(out), "--engine", "ray", "--shards", str(SHARDS)]
    build += ["--embedder", "hash", "--dimension", "64", "--no-progress", "--no-cache"]
    assert cli.main(build) == 0
    capsys.readouterr()
    with vpack.open(out) as pack:
        expected = {q: _hits(pack, q) for q in QUERIES}
    shards = [tmp_path / f"docs-{i:05d}-of-{SHARDS:05d}.vpack" for i in range(SHARDS)]

    def replace(path: Path, data: bytes) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # never rewrite a mapped file in place

    def named(i: int, code: int, *commands: List[str]) -> None:
        name = f"shard {i} ({shards[i].name}) of pack set {out}"
        for command in commands:
            assert cli.main(command) == 1, command
            err = capsys.readouterr().err
            assert name in err and f"[code {code}]" in err, (command, err)

    def rebuilt_only(i: int) -> None:
        before = [_stat(p) for p in shards]
        assert cli.main(build) == 0
        assert f"kept {SHARDS - 1} shards as they were" in capsys.readouterr().out
        after = [_stat(p) for p in shards]
        assert [j for j in range(SHARDS) if after[j] != before[j]] == [i]
        with vpack.open(out, verify=True) as pack:
            assert {q: _hits(pack, q) for q in QUERIES} == expected

    query, info = ["query", str(out), "bread"], ["info", str(out)]
    saved = shards[1].read_bytes()
    shards[1].unlink()
    with pytest.raises(vpack.PackIOError, match=rf"shard 1 \({shards[1].name}\) of pack set"):
        vpack.open(out)
    named(1, 6, query, info, ["verify", str(out)])
    rebuilt_only(1)
    assert shards[1].read_bytes() == saved

    damaged = bytearray(shards[2].read_bytes())
    damaged[40] ^= 0xFF  # in the header: found when the set opens
    replace(shards[2], bytes(damaged))
    with pytest.raises(vpack.CorruptPackError, match=rf"shard 2 \({shards[2].name}\) of pack set"):
        vpack.open(out)
    named(2, 7, query, info)
    rebuilt_only(2)

    damaged = bytearray(shards[0].read_bytes())
    with vpack.open(shards[0]) as one:
        last_row = np.asarray(one.vectors[-1]).tobytes()
    at = bytes(damaged).rfind(last_row)
    assert at > 0
    damaged[at + 4] ^= 0x55  # in the last vector: found by the first search that reads it
    replace(shards[0], bytes(damaged))
    with vpack.open(out) as pack, pytest.raises(vpack.CorruptPackError, match=shards[0].name):
        pack.search("bread", k=3)
    for command in (query, ["verify", str(out)]):
        assert cli.main(command) == 1
        err = capsys.readouterr().err
        assert shards[0].name in err and "[code 7]" in err, (command, err)
    rebuilt_only(0)


def test_two_node_cluster(ray_build: Any, corpus: Path, tmp_path: Path) -> None:
    """Last: leaves the module's cluster for a two-node one (one CPU each, on 127.0.0.1)."""
    from ray.cluster_utils import Cluster

    ray.shutdown()
    nodes = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "object_store_memory": 80 * 2**20, "include_dashboard": False},
    )
    try:
        nodes.add_node(num_cpus=1, object_store_memory=80 * 2**20)
        ray.init(address=nodes.address, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2
        with distributed.build(
            corpus,
            tmp_path / "two.vpackset",
            shards=SHARDS,
            actors=1,  # the other CPU stays free for the read and write tasks
            **{**SETTINGS, "embedder": _hash_embedder},
        ) as result:
            for mine, theirs in zip(result.report.shards, ray_build.report.shards):
                assert Path(mine).read_bytes() == Path(theirs).read_bytes()
    finally:
        ray.shutdown()
        nodes.shutdown()


def test_embed_context_reaches_the_ray_build(
    cluster: None, corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """vpack.build(engine="ray", embed_context=True) embeds each chunk with its heading
    path as a local build does: each shard equals the local build of its partition."""
    out = tmp_path_factory.mktemp("ray-context")
    settings = {**SETTINGS, "embed_context": True}
    result = vpack.build(
        corpus, out / "ctx.vpackset", engine="ray", shards=2, **{**settings, "embedder": _hash_embedder}
    )
    try:
        for i, shard in enumerate(result.report.shards):
            part = distributed.partition(corpus, i, 2)
            local = out / f"local-{i}.vpack"
            kwargs = {**settings, "embedder": _hash_embedder()}
            with vpack.build(part, local, allow_empty=True, **kwargs) as built:
                assert "embed_context" in built.pack.manifest["chunker"]
            assert Path(shard).read_bytes() == local.read_bytes(), f"shard {i}"
    finally:
        result.pack.close()
