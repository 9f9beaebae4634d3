"""Building packs from folders on disk through the real pipeline."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

import vpack
from vpack.plugins import Document, FixedSizeChunker, HashEmbedder
from vpack.plugins.sources import DirectorySource, glob_match


def test_build_and_query_finds_the_right_document(docs: Path, tmp_path: Path) -> None:
    out = tmp_path / "docs.vpack"
    with vpack.build(docs, out, embedder="hash") as result:
        report = result.report
    assert report.documents == 4
    assert report.chunks == 4
    assert report.output == str(out)
    assert report.size_bytes == out.stat().st_size
    with vpack.open(out) as pack:
        assert pack.manifest["documents"] == 4
        assert pack.manifest["embedder"]["kind"] == "hash"
        top = pack.search("read a file line by line", k=2)
        assert top[0].source == "files.md"
        assert top[0].metadata["title"] == "Reading files"
        assert pack.search("bread baking degrees", k=1)[0].source == "guide/deep/cooking.rst"
        assert pack.search("migrating birds", k=1)[0].source == "birds.txt"


def test_same_input_gives_identical_files(docs: Path, tmp_path: Path) -> None:
    vpack.build(docs, tmp_path / "a.vpack", embedder="hash").pack.close()
    vpack.build(docs, tmp_path / "b.vpack", embedder="hash").pack.close()
    assert (tmp_path / "a.vpack").read_bytes() == (tmp_path / "b.vpack").read_bytes()


def test_include_and_exclude_globs(docs: Path) -> None:
    with vpack.build(docs, include=["**/*.md"], exclude=["guide/**"], embedder="hash") as result:
        sources = {result.pack.chunk(i).source for i in range(len(result.pack))}
    assert sources == {"files.md"}


def test_glob_semantics() -> None:
    assert glob_match("a.md", "**/*.md")
    assert glob_match("x/y/a.md", "**/*.md")
    assert not glob_match("x/a.md", "*.md")
    assert glob_match("guide/a/b.txt", "guide/**")
    assert not glob_match("guides/a.txt", "guide/**")
    assert glob_match("a1.txt", "a?.txt")
    assert not glob_match("a/1.txt", "a?.txt")


def test_bad_files_are_skipped_with_reasons(docs: Path, tmp_path: Path) -> None:
    (docs / "image.txt").write_bytes(b"\x89PNG\x00\x00binary")
    (docs / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (docs / "empty.md").write_text("   \n")
    outside = tmp_path / "secret.txt"
    outside.write_text("outside the root")
    os.symlink(outside, docs / "link.txt")
    with vpack.build(docs, embedder="hash") as result:
        reasons = {s.path: s.reason for s in result.report.skipped}
        assert result.report.documents == 4
    assert reasons["image.txt"] == "binary file"
    assert reasons["latin1.txt"].startswith("not valid utf-8")
    assert reasons["empty.md"] == "empty document"
    assert "outside" in reasons["link.txt"]


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError):
        vpack.build(tmp_path / "nope", embedder="hash")


class ExplodingEmbedder:
    """Fails on its second batch, to interrupt a build midway."""

    def __init__(self) -> None:
        self.inner = HashEmbedder(32)
        self.calls = 0

    @property
    def dimension(self) -> int:
        return 32

    def describe(self) -> dict:
        return dict(self.inner.describe())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("embedder died")
        return self.inner.embed(texts)


def test_interrupted_build_leaves_existing_output_untouched(docs: Path, tmp_path: Path) -> None:
    out = tmp_path / "docs.vpack"
    out.write_bytes(b"previous pack")
    with pytest.raises(RuntimeError, match="embedder died"):
        vpack.build(docs, out, embedder=ExplodingEmbedder(), batch_size=1)
    assert out.read_bytes() == b"previous pack"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "docs.vpack"]


def test_chunk_offsets_point_into_the_document() -> None:
    text = " ".join(f"word{i}" for i in range(600))
    doc = Document("d", text, {"path": "d.txt"})
    chunks = list(FixedSizeChunker(size=200, overlap=50).chunks(doc))
    assert len(chunks) > 5
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert len(c.text) <= 200
        assert c.metadata["path"] == "d.txt"
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start < a.end, "neighbours overlap"
        assert b.start > a.start


def test_chunker_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        FixedSizeChunker(size=0)
    with pytest.raises(ValueError):
        FixedSizeChunker(size=10, overlap=10)


def test_custom_source_object(tmp_path: Path) -> None:
    class ListSource:
        def __init__(self) -> None:
            self.skipped: list = []

        def describe(self) -> dict:
            return {"kind": "list"}

        def documents(self):  # type: ignore[no-untyped-def]
            yield Document("one", "alpha beta gamma", {"path": "one"})
            yield Document("two", "delta epsilon", {"path": "two"})

    with vpack.build(ListSource(), tmp_path / "l.vpack", embedder="hash") as result:
        assert result.pack.search("epsilon", k=1)[0].source == "two"
        assert result.pack.manifest["source"] == {"kind": "list"}


def test_directory_source_order_is_sorted(docs: Path) -> None:
    ids = [d.id for d in DirectorySource(docs).documents()]
    # Each folder's files by name, then its subfolders by name.
    assert ids == ["birds.txt", "files.md", "guide/install.md", "guide/deep/cooking.rst"]


def test_strict_build_stops_at_the_first_bad_file(docs: Path, tmp_path: Path) -> None:
    (docs / "zz-binary.txt").write_bytes(b"\x00\x01binary")
    out = tmp_path / "strict.vpack"
    with pytest.raises(vpack.StrictBuildError, match=r"zz-binary\.txt: binary file"):
        vpack.build(docs, out, embedder="hash", strict=True)
    assert not out.exists()
    with vpack.build(docs, out, embedder="hash") as result:  # not strict: skipped, listed
        assert [s.path for s in result.report.skipped] == ["zz-binary.txt"]


def test_progress_line_draws_on_a_terminal_only() -> None:
    import io

    from vpack.progress import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, plain = Tty(), io.StringIO()
    for stream in (tty, plain):
        meter = Progress(total_documents=10, stream=stream)
        meter.update(5, 20, 20, force=True)
        meter.finish()
    assert plain.getvalue() == ""
    line = tty.getvalue()
    assert line.startswith("\r") and line.endswith("\n")
    assert "5/10 documents" in line and "20 chunks" in line and "ETA" in line


def test_outputs_bytes_and_custom(docs: Path, tmp_path: Path) -> None:
    from vpack.plugins import BytesOutput, FileOutput

    memory = BytesOutput()
    with vpack.build(docs, memory, embedder="hash") as result:
        assert memory.data == result.pack.to_bytes()
        assert result.report.output is None
    with vpack.Pack.from_bytes(memory.data) as again:
        assert len(again) == result.report.chunks

    class Recorder:
        def __init__(self) -> None:
            self.sizes: list = []

        def describe(self) -> dict:
            return {"kind": "recorder"}

        def write(self, pack: vpack.Pack) -> None:
            self.sizes.append(len(pack))

    rec = Recorder()
    vpack.build(docs, rec, embedder="hash").pack.close()
    assert rec.sizes == [result.report.chunks]
    target = tmp_path / "via-output.vpack"
    vpack.build(docs, FileOutput(target), embedder="hash").pack.close()
    assert target.read_bytes() == memory.data


class LetterEmbedder:
    """A Python-only embedder plugin: letter frequencies (no Rust handler)."""

    dimension = 26

    def describe(self) -> dict:
        return {"kind": "python", "name": "letters", "dimension": 26}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), 26), np.float32)
        for row, text in zip(out, texts):
            for ch in text.lower():
                if "a" <= ch <= "z":
                    row[ord(ch) - 97] += 1
        return out + 1e-3


def test_python_only_embedder_plugin_end_to_end(tmp_path: Path) -> None:
    docs = [
        {"id": "z", "text": "zzz zebra buzz", "metadata": {"topic": "z"}},
        {"id": "a", "text": "banana aardvark", "metadata": {"topic": "a"}},
        "qqq quiz",
    ]
    out = tmp_path / "letters.vpack"
    with vpack.build(docs, out, embedder=LetterEmbedder()) as result:
        assert result.report.documents == 3
    with vpack.open(out) as pack, pytest.raises(vpack.ModelError, match="kind 'python'"):
        pack.search("zigzag")
    with vpack.open(out, embedder=LetterEmbedder()) as pack:
        assert pack.search("pizza fizz", k=1)[0].metadata["topic"] == "z"
        assert pack.search("a banana", k=1)[0].metadata["topic"] == "a"
