"""Distributed builds on a real local Ray cluster (vpack.distributed).

Run inside a network namespace that has only loopback (tests/tools/loopback.sh, as the
`ray` tox environment does): the tests skip elsewhere, and fail instead with
VPACK_REQUIRE_RAY=1, so no test sends a packet beyond 127.0.0.0/8. Small corpora and the
hash embedder keep them short; one Ray cluster (2 CPUs) serves the module, and the
multi-node test starts its own two-node cluster last.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator, List, Tuple

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
