"""Reproducible packs: the same inputs and settings give byte-identical packs whatever
the output path, the current folder or how the source was named, and no path of the
building machine (output, absolute source root, cache or model folder) is stored in the
pack unless asked for (``record_paths``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

import vpack

VPACK = Path(sys.executable).with_name("vpack")


def cli(*args: str, cwd: Path) -> None:
    proc = subprocess.run([str(VPACK), *args], capture_output=True, text=True, timeout=120, cwd=cwd)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture()
def places(tmp_path: Path) -> List[Path]:
    """Two unrelated working folders, at different depths."""
    first = tmp_path / "home" / "someone" / "private"
    second = tmp_path / "elsewhere"
    for p in (first, second):
        p.mkdir(parents=True)
    return [first, second]


def assert_no_machine_paths(pack_file: Path, tmp_path: Path) -> None:
    data = pack_file.read_bytes()
    assert str(tmp_path).encode() not in data
    assert pack_file.name.encode() not in data
    with vpack.open(pack_file) as pack:
        manifest = json.dumps(pack.manifest)
    assert str(tmp_path) not in manifest and "private" not in manifest


def test_cli_same_folder_two_names_two_cwds_same_bytes(
    docs: Path, tmp_path: Path, places: List[Path]
) -> None:
    first, second = places
    # Relative source and output from one folder; absolute ones, another cache folder
    # and a different output name from another.
    cli("build", os.path.relpath(docs, first), "-o", "one.vpack", "--embedder", "hash", cwd=first)
    cli(
        "build",
        str(docs),
        "-o",
        str(second / "renamed-pack.vpack"),
        "--embedder",
        "hash",
        "--cache-dir",
        str(tmp_path / "cache"),
        cwd=second,
    )
    one, two = first / "one.vpack", second / "renamed-pack.vpack"
    assert one.read_bytes() == two.read_bytes()
    assert_no_machine_paths(one, tmp_path)
    with vpack.open(one) as pack:
        assert pack.manifest["config"]["output"] is None
        assert pack.manifest["config"]["record_paths"] is False


def test_python_api_same_bytes_from_another_folder(
    docs: Path, tmp_path: Path, places: List[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = places
    monkeypatch.chdir(first)
    vpack.build(os.path.relpath(docs, first), "a.vpack", embedder="hash").pack.close()
    monkeypatch.chdir(second)
    vpack.build(docs, second / "b.vpack", embedder="hash").pack.close()
    assert (first / "a.vpack").read_bytes() == (second / "b.vpack").read_bytes()
    assert_no_machine_paths(first / "a.vpack", tmp_path)


def test_config_file_paths_are_not_recorded_unless_asked(
    docs: Path, tmp_path: Path, places: List[Path]
) -> None:
    first, second = places
    for place, output in ((first, "docs.vpack"), (second, str(second / "other.vpack"))):
        (place / "vpack.toml").write_text(
            f'output = "{output}"\n[source]\nroot = "{docs}"\n[embedder]\nname = "hash"\n', encoding="utf-8"
        )
        cli("build", cwd=place)
    recorded = (first / "docs.vpack").read_bytes()
    assert recorded == (second / "other.vpack").read_bytes()
    assert_no_machine_paths(first / "docs.vpack", tmp_path)
    with vpack.open(first / "docs.vpack") as pack:
        assert pack.manifest["config"]["source"] == {"kind": "directory"}  # the absolute root left out

    # Asked for: the paths are kept, and the pack then depends on them.
    cli("build", "--record-paths", "-o", "kept.vpack", cwd=first)
    with vpack.open(first / "kept.vpack") as pack:
        config = pack.manifest["config"]
    assert config["record_paths"] is True
    assert config["output"] == "kept.vpack" and config["source"]["root"] == str(docs)


def test_record_paths_keeps_the_source_folder_given_on_the_command_line(
    docs: Path, tmp_path: Path, places: List[Path]
) -> None:
    first, _ = places
    cli("build", os.path.relpath(docs, first), "-o", "plain.vpack", "--embedder", "hash", cwd=first)
    cli(
        "build",
        os.path.relpath(docs, first),
        "-o",
        "kept.vpack",
        "--embedder",
        "hash",
        "--record-paths",
        cwd=first,
    )
    with vpack.open(first / "plain.vpack") as pack:
        assert pack.manifest["config"]["source"] == {"kind": "directory"}
    assert_no_machine_paths(first / "plain.vpack", tmp_path)
    with vpack.open(first / "kept.vpack") as pack:
        assert pack.manifest["config"]["source"] == {"kind": "directory", "root": str(docs)}


def test_record_files_named_differently_give_the_same_pack(tmp_path: Path, places: List[Path]) -> None:
    first, second = places
    data = tmp_path / "data" / "faq.jsonl"
    data.parent.mkdir()
    data.write_text(
        '{"text": "How do I install it?", "topic": "setup"}\n{"text": "How do I search?"}\n', encoding="utf-8"
    )
    cli(
        "build",
        os.path.relpath(data, first),
        "--source-kind",
        "jsonl",
        "-o",
        "a.vpack",
        "--embedder",
        "hash",
        cwd=first,
    )
    cli("build", str(data), "--source-kind", "jsonl", "-o", "b.vpack", "--embedder", "hash", cwd=second)
    assert (first / "a.vpack").read_bytes() == (second / "b.vpack").read_bytes()
    assert_no_machine_paths(first / "a.vpack", tmp_path)
    with vpack.open(first / "a.vpack") as pack:
        assert pack.chunk(0).metadata["path"] == "faq.jsonl"
        assert pack.manifest["source"]["path"] == "faq.jsonl"
