"""Lexical (BM25) and hybrid search through the Python API and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vpack
from vpack.builder import PackBuilder

VPACK = Path(sys.executable).with_name("vpack")

CHUNKS = [
    ("Open the file and loop over it with a for loop.", {"title": "Reading files", "section": "Lines"}),
    ("os.scandir lists a directory faster than os.listdir.", {"title": "Directories", "section": "Listing"}),
    ("pg_dump --jobs 4 dumps several tables at once.", {"title": "Backups", "section": "pg_dump"}),
    ("pg_restore reads what pg_dump wrote.", {"title": "Backups", "section": "Restore"}),
]


def _pack(index: object) -> vpack.Pack:
    builder = PackBuilder(4, index=index)  # type: ignore[arg-type]
    vectors = np.eye(4, dtype=np.float32) + 0.1
    builder.add([t for t, _ in CHUNKS], vectors, [m for _, m in CHUNKS])
    return builder.finish()


def test_lexical_search_finds_exact_names_and_titles() -> None:
    with _pack({"lexical": {}}) as pack:
        assert pack.manifest["index"]["lexical"] == {
            "tokenizer": "words-ident-stop-v1",
            "k1": 1.5,
            "b": 0.9,
            "fields": [],
            "hybrid_weight": 0.2,
        }
        assert pack.search("backups", k=5, mode="lexical") == []  # titles are not indexed
    with _pack({"lexical": {"fields": ["title", "section"]}}) as pack:
        assert pack.manifest["index"]["lexical"]["fields"] == ["title", "section"]
        assert [h.id for h in pack.search("scandir", k=3, mode="lexical")] == [1]
        assert pack.search("pg_dump --jobs", k=3, mode="lexical")[0].id == 2
        assert {h.id for h in pack.search("backups", k=5, mode="lexical")} == {2, 3}
        hits = pack.search("pg_dump", k=5, mode="lexical", filter={"section": "Restore"})
        assert [h.id for h in hits] == [3]
        assert pack.search("the of and", k=3, mode="lexical") == []


def test_hybrid_needs_text_and_a_lexical_index() -> None:
    with _pack({"lexical": {}}) as pack:
        with pytest.raises(ValueError, match="text query"):
            pack.search(np.ones(4, np.float32), k=2, mode="hybrid")
        with pytest.raises(ValueError, match="mode must be"):
            pack.search("x", k=2, mode="bm25")
    with _pack(None) as plain, pytest.raises(vpack.NotFoundError, match="--lexical"):
        plain.search("scandir", k=2, mode="lexical")


def _cli_hits(pack: Path, *flags: str) -> list:  # type: ignore[type-arg]
    run = subprocess.run(
        [str(VPACK), "query", str(pack), "read a file line by line", "-k", "3", "--json", *flags],
        check=True,
        capture_output=True,
        text=True,
    )
    hits: list = json.loads(run.stdout)  # type: ignore[type-arg]
    return hits


def test_hybrid_from_the_cli_and_info(docs: Path, tmp_path: Path) -> None:
    out = tmp_path / "l.vpack"
    cmd = [str(VPACK), "build", str(docs), "-o", str(out), "--embedder", "hash", "--lexical"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    info = subprocess.run([str(VPACK), "info", str(out)], check=True, capture_output=True, text=True)
    assert "lexical BM25 (k1 1.5, b 0.9" in info.stdout
    for mode in ("dense", "lexical", "hybrid"):
        hits = _cli_hits(out, "--mode", mode)
        assert hits, mode
        if mode != "dense":
            assert hits[0]["metadata"]["path"] == "files.md", (mode, hits[0])
    with vpack.open(out) as pack:
        hybrid = pack.search("read a file line by line", k=3, mode="hybrid")
        assert all(0.0 <= h.score <= 1.0 for h in hybrid)
    plain = tmp_path / "p.vpack"
    subprocess.run(
        [str(VPACK), "build", str(docs), "-o", str(plain), "--embedder", "hash", "--no-lexical"],
        check=True,
        capture_output=True,
    )
    info = subprocess.run([str(VPACK), "info", str(plain)], check=True, capture_output=True, text=True)
    assert "lexical" not in info.stdout
    bad = subprocess.run(
        [str(VPACK), "query", str(plain), "read", "--mode", "lexical"], capture_output=True, text=True
    )
    assert bad.returncode != 0 and "no lexical index" in bad.stderr


def test_the_default_build_stores_a_lexical_index_and_queries_hybrid(docs: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.vpack"
    subprocess.run(
        [str(VPACK), "build", str(docs), "-o", str(out), "--embedder", "hash"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with vpack.open(out) as pack:
        assert pack.manifest["index"]["lexical"]["tokenizer"] == "words-ident-stop-v1"
        assert pack.manifest["config"]["index"] == {"kind": "flat", "lexical": {}}
    default, hybrid, dense = (
        _cli_hits(out),
        _cli_hits(out, "--mode", "hybrid"),
        _cli_hits(out, "--mode", "dense"),
    )
    assert default == hybrid == _cli_hits(out, "--mode", "auto")
    assert [h["score"] for h in default] != [h["score"] for h in dense]
    plain = tmp_path / "p.vpack"
    subprocess.run(
        [str(VPACK), "build", str(docs), "-o", str(plain), "--embedder", "hash", "--no-lexical"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with vpack.open(plain) as pack:
        assert "lexical" not in pack.manifest["index"]
        assert pack.manifest["config"]["index"] == {"kind": "flat", "lexical": False}
    assert _cli_hits(plain) == _cli_hits(plain, "--mode", "dense")
    # vpack.toml can leave it out too; the flag overrides the file.
    (tmp_path / "vpack.toml").write_text("[index]\nlexical = false\n", encoding="utf-8")
    for flags, has in (((), False), (("--lexical",), True)):
        path = tmp_path / f"t{len(flags)}.vpack"
        subprocess.run(
            [str(VPACK), "build", str(docs), "-o", str(path), "--embedder", "hash", *flags],
            check=True,
            capture_output=True,
            timeout=120,
            cwd=tmp_path,
        )
        with vpack.open(path) as pack:
            assert ("lexical" in pack.manifest["index"]) is has


def test_auto_mode_is_hybrid_for_text_on_a_lexical_pack(docs: Path, tmp_path: Path) -> None:
    def ranked(hits: list) -> list:  # type: ignore[type-arg]
        return [(h.id, h.score) for h in hits]

    fixed = _Fixed(np.eye(4, dtype=np.float32)[2])  # any text embeds to the pg_dump chunk's axis
    for index in ({"lexical": {"fields": ["title"]}}, None):
        path = tmp_path / f"{index is None}.vpack"
        with _pack(index) as built:
            built.save(path)
        with vpack.open(path, embedder=fixed) as pack:
            dense = ranked(pack.search("backups", k=4, mode="dense"))
            auto = ranked(pack.search("backups", k=4))
            assert ranked(pack.search("backups", k=4, mode="auto")) == auto
            if index is None:
                assert auto == dense
            else:
                assert auto == ranked(pack.search("backups", k=4, mode="hybrid")) != dense
            vector = np.ones(4, np.float32)
            assert ranked(pack.search(vector, k=4)) == ranked(pack.search(vector, k=4, mode="dense"))
            # An empty text has no words: dense (the library's hybrid refuses it).
            assert ranked(pack.search("", k=4)) == ranked(pack.search("", k=4, mode="dense"))
    # vpack.build stores a lexical index unless told not to; an index kind keeps it.
    for kwargs, has in (({}, True), ({"lexical": False}, False), ({"index": "hnsw"}, True)):
        with vpack.build(docs, embedder="hash", progress=False, **kwargs) as result:  # type: ignore[arg-type]
            assert ("lexical" in result.pack.manifest["index"]) is has, kwargs
    with vpack.build(docs, embedder="hash", progress=False, lexical={"k1": 1.2}) as result:
        assert result.pack.manifest["index"]["lexical"]["k1"] == 1.2
    with vpack.build(docs, embedder="hash", progress=False, index={"lexical": None}) as result:
        assert "lexical" not in result.pack.manifest["index"]


class _Fixed:
    """A query embedder that gives one vector for any text."""

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector
        self.dimension = vector.shape[0]

    def embed(self, texts: list) -> np.ndarray:  # type: ignore[type-arg]
        return np.tile(self.vector, (len(texts), 1))

    def describe(self) -> dict:  # type: ignore[type-arg]
        return {"kind": "fixed"}


def test_config_reads_lexical() -> None:
    from vpack import config

    assert config.parse({"index": {"lexical": True}}).index.options() == {"kind": "flat", "lexical": {}}
    table = {"k1": 1.2, "fields": ["title"]}
    assert config.parse({"index": {"lexical": table}}).index.options()["lexical"] == table
    assert "lexical" not in config.parse({"index": {"lexical": False}}).index.options()
    # On by default, also with an index kind; false round-trips through the manifest's record.
    assert config.parse({}).index.options() == {"kind": "flat", "lexical": {}}
    assert config.parse({"index": "hnsw"}).index.options() == {"kind": "hnsw", "lexical": {}}
    off = config.merge(config.parse({}), {"index.lexical": False})
    assert off.index.lexical is None and config.effective(off)["index"] == {"kind": "flat", "lexical": False}
    assert config.parse(config.effective(off)).index.lexical is None
    assert config.merge(off, {"index": "hnsw"}).index.options() == {"kind": "hnsw"}
    with pytest.raises(config.ConfigError, match="stemmer"):
        config.parse({"index": {"lexical": {"stemmer": "porter"}}})


def test_stemming_is_an_option_recorded_in_the_manifest() -> None:
    from vpack import config

    index = config.parse({"index": {"lexical": {"stem": "english"}}}).index.options()
    with _pack(index) as stemmed, _pack({"lexical": {}}) as plain:
        assert stemmed.manifest["index"]["lexical"]["tokenizer"] == "words-ident-stop-v1+snowball-english"
        # "reading" and "reads" meet at "read" only when stemmed.
        assert plain.search("reading", k=3, mode="lexical") == []
        assert [h.id for h in stemmed.search("reading", k=3, mode="lexical")] == [3]
        assert stemmed.search("os.scandir", k=1, mode="lexical")[0].id == 1
    with pytest.raises(vpack.InvalidArgumentError, match="klingon"):
        _pack({"lexical": {"stem": "klingon"}})
