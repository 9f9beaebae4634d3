"""Plugin discovery through the ``vpack.plugins`` entry points: the built-ins declared in
pyproject.toml, lookups and errors, and a third-party plugin distribution built and
installed into this interpreter."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Dict, Iterable, List

import pytest

from vpack import registry
from vpack.plugins import Chunker, Document, HashEmbedder, Source
from vpack.plugins.sources import IterableSource

if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli")

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

BUILTINS = {
    "source.directory",
    "source.jsonl",
    "source.csv",
    "chunker.fixed",
    "chunker.recursive",
    "chunker.section",
    "transformer.html",
    "transformer.markdown",
    "transformer.normalize",
    "embedder.hash",
    "embedder.model",
    "embedder.onnx",
    "output.file",
    "output.bytes",
}


def declared() -> Dict[str, str]:
    with PYPROJECT.open("rb") as f:
        project = tomllib.load(f)["project"]
    return dict(project["entry-points"][registry.GROUP])


# The built-ins


def test_pyproject_declares_every_builtin_with_a_valid_name() -> None:
    eps = declared()
    assert set(eps) == BUILTINS
    for name in eps:
        kind, _, plugin = name.partition(".")
        assert kind in registry.KINDS
        assert plugin


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_declared_builtin_target_resolves(name: str) -> None:
    value = declared()[name]
    module = value.partition(":")[0]
    target = metadata.EntryPoint(name=name, value=value, group=registry.GROUP).load()
    assert callable(target)
    assert importlib.import_module(module) is sys.modules[module]


def test_installed_distribution_exposes_the_builtins() -> None:
    dist = metadata.distribution("vpack-search")  # the one the registry sees: first on sys.path
    installed = {ep.name: ep.value for ep in dist.entry_points if ep.group == registry.GROUP}
    if not installed:
        pytest.skip(
            f"the vpack distribution found first on sys.path ({dist.locate_file('')}) predates "
            "the vpack.plugins entry points; reinstall vpack-search to check them"
        )
    assert installed == declared()
    for full, value in installed.items():
        kind, _, name = full.partition(".")
        assert registry.available(kind)[name] == value
    assert isinstance(registry.create("source", "directory", root=PYPROJECT.parent), Source)
    assert registry.load("chunker", "fixed")(size=10, overlap=2).describe()["size"] == 10
    embedder = registry.create("embedder", "hash", dimension=32)
    try:
        assert embedder.dimension == 32
    finally:
        embedder.close()


# Lookups, against a fixed set of entry points


def fake_group(monkeypatch: pytest.MonkeyPatch, entries: Dict[str, str]) -> None:
    eps: List[metadata.EntryPoint] = [
        metadata.EntryPoint(name=name, value=value, group=registry.GROUP) for name, value in entries.items()
    ]

    def group() -> Iterable[metadata.EntryPoint]:
        return list(eps)

    monkeypatch.setattr(registry, "_group", group)


def test_available_lists_names_of_one_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_group(
        monkeypatch,
        {
            "chunker.zeta": "vpack.plugins.chunkers:FixedSizeChunker",
            "chunker.alpha": "vpack.plugins.chunkers:FixedSizeChunker",
            "embedder.hash": "vpack.plugins.embedders:HashEmbedder",
            "nodot": "x:y",
            "chunker.": "x:y",
            "bogus.kind": "x:y",
        },
    )
    assert registry.available("chunker") == {
        "alpha": "vpack.plugins.chunkers:FixedSizeChunker",
        "zeta": "vpack.plugins.chunkers:FixedSizeChunker",
    }
    assert list(registry.available("chunker")) == ["alpha", "zeta"]
    assert registry.available("output") == {}
    with pytest.raises(ValueError, match="unknown plugin kind 'bogus'"):
        registry.available("bogus")


def test_first_declaration_of_a_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [
        metadata.EntryPoint(name="chunker.same", value="vpack.plugins.chunkers:FixedSizeChunker", group="g"),
        metadata.EntryPoint(name="chunker.same", value="elsewhere:Other", group="g"),
    ]
    monkeypatch.setattr(registry, "_group", lambda: eps)
    assert registry.available("chunker") == {"same": "vpack.plugins.chunkers:FixedSizeChunker"}


def test_missing_name_lists_the_available_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_group(
        monkeypatch,
        {
            "chunker.fixed": "vpack.plugins.chunkers:FixedSizeChunker",
            "chunker.lines": "somewhere:Lines",
        },
    )
    with pytest.raises(registry.PluginNotFoundError) as caught:
        registry.load("chunker", "recursiv")
    err = caught.value
    assert isinstance(err, LookupError)
    assert (err.kind, err.name, err.available) == ("chunker", "recursiv", ["fixed", "lines"])
    assert str(err) == "no chunker plugin named 'recursiv' (available: fixed, lines)"
    with pytest.raises(registry.PluginNotFoundError, match=r"available: none installed"):
        registry.create("output", "parquet")


def test_load_and_create(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_group(
        monkeypatch,
        {
            "chunker.fixed": "vpack.plugins.chunkers:FixedSizeChunker",
            "source.iterable": "vpack.plugins.sources:IterableSource",
            "embedder.model": "vpack.plugins.embedders:OnnxEmbedder.packaged",  # a dotted attribute
        },
    )
    from vpack.plugins.chunkers import FixedSizeChunker
    from vpack.plugins.embedders import OnnxEmbedder

    assert registry.load("chunker", "fixed") is FixedSizeChunker
    assert registry.load("embedder", "model") == OnnxEmbedder.packaged
    chunker = registry.create("chunker", "fixed", size=50, overlap=10)
    assert isinstance(chunker, FixedSizeChunker)
    assert (chunker.size, chunker.overlap) == (50, 10)
    source = registry.create("source", "iterable", items=["one", "two"])
    assert [d.text for d in source.documents()] == ["one", "two"]


def test_unloadable_and_uncallable_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_group(
        monkeypatch,
        {
            "chunker.gone": "vpack_no_such_module_anywhere:Chunker",
            "chunker.typo": "vpack.plugins.chunkers:FixedSizeChunkr",
            "chunker.constant": "vpack.registry:GROUP",
        },
    )
    with pytest.raises(registry.PluginLoadError, match=r"chunker plugin 'gone' \(vpack_no_such") as caught:
        registry.load("chunker", "gone")
    assert isinstance(caught.value.__cause__, ImportError)
    with pytest.raises(registry.PluginLoadError, match="could not be loaded") as caught:
        registry.load("chunker", "typo")
    assert isinstance(caught.value.__cause__, AttributeError)
    with pytest.raises(registry.PluginLoadError, match="is not callable"):
        registry.load("chunker", "constant")


# A third-party plugin, installed for real

PLUGIN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "vpack-sentence-plugin"
version = "0.1.0"
description = "A vpack chunker plugin (test fixture): chunks of whole sentences"
requires-python = ">=3.9"
dependencies = ["vpack-search"]

[project.entry-points."vpack.plugins"]
"chunker.sentences" = "vpack_sentence_plugin:SentenceChunker"

[tool.setuptools]
py-modules = ["vpack_sentence_plugin"]
"""

PLUGIN_MODULE = '''\
"""Chunks of ``per_chunk`` whole sentences."""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from vpack.plugins.base import Chunk, Document

_SENTENCE = re.compile(r"[^.!?\\s][^.!?]*[.!?]*")


class SentenceChunker:
    def __init__(self, per_chunk: int = 1) -> None:
        self.per_chunk = per_chunk

    def describe(self) -> Mapping[str, Any]:
        return {"kind": "sentences", "per_chunk": self.per_chunk}

    def chunks(self, document: Document) -> Iterator[Chunk]:
        spans = [m.span() for m in _SENTENCE.finditer(document.text)]
        for index, i in enumerate(range(0, len(spans), self.per_chunk)):
            start, end = spans[i][0], spans[min(i + self.per_chunk, len(spans)) - 1][1]
            meta = dict(document.metadata, chunk=index, start=start, end=end)
            yield Chunk(document.text[start:end], start, end, meta)
'''


def _can_build_here() -> None:
    """pip --no-build-isolation builds with this interpreter's setuptools, which needs
    the wheel package before setuptools 70.1."""
    if importlib.util.find_spec("pip") is None:
        pytest.skip("pip is not installed in this interpreter")
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed in this interpreter (needed with --no-build-isolation)")
    version = tuple(int(p) for p in metadata.version("setuptools").split(".")[:2] if p.isdigit())
    if version < (70, 1) and importlib.util.find_spec("wheel") is None:
        pytest.skip(
            f"setuptools {metadata.version('setuptools')} needs the wheel package to build a wheel "
            "and it is not installed here (--no-build-isolation uses this interpreter's packages)"
        )


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_installed_third_party_plugin_is_found_and_used(tmp_path: Path) -> None:
    _can_build_here()
    project = tmp_path / "vpack-sentence-plugin"
    project.mkdir()
    (project / "pyproject.toml").write_text(PLUGIN_PYPROJECT, encoding="utf-8")
    (project / "vpack_sentence_plugin.py").write_text(PLUGIN_MODULE, encoding="utf-8")
    assert "sentences" not in registry.available("chunker")

    installed = pip("install", "--no-build-isolation", "--no-deps", "--no-index", str(project))
    try:
        assert installed.returncode == 0, installed.stdout + installed.stderr
        importlib.invalidate_caches()
        assert registry.available("chunker")["sentences"] == "vpack_sentence_plugin:SentenceChunker"

        chunker = registry.create("chunker", "sentences", per_chunk=2)
        assert isinstance(chunker, Chunker)
        assert type(chunker).__module__ == "vpack_sentence_plugin"
        text = "Birds fly south. Bread bakes slowly!  Files are read line by line. Done?"
        chunks = list(chunker.chunks(Document("d", text, {"path": "d.txt"})))
        assert [c.text for c in chunks] == [
            "Birds fly south. Bread bakes slowly!",
            "Files are read line by line. Done?",
        ]
        assert all(text[c.start : c.end] == c.text for c in chunks)
        assert chunks[1].metadata == {"path": "d.txt", "chunk": 1, "start": chunks[1].start, "end": len(text)}

        # The plugin works in the pipeline next to the built-ins.
        import vpack

        embedder = HashEmbedder(64)
        try:
            source = IterableSource([text, "One sentence only."])
            with vpack.run(source, chunker=chunker, embedder=embedder) as result:
                assert result.report.chunks == 3
                assert result.pack.manifest["chunker"] == {"kind": "sentences", "per_chunk": 2}
        finally:
            embedder.close()
    finally:
        removed = pip("uninstall", "-y", "vpack-sentence-plugin")
        sys.modules.pop("vpack_sentence_plugin", None)
        importlib.invalidate_caches()
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "sentences" not in registry.available("chunker")
    with pytest.raises(registry.PluginNotFoundError, match="'sentences'"):
        registry.load("chunker", "sentences")
