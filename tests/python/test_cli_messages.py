"""The `vpack` command's edges, run as a user would (real subprocesses): --version, bare
`vpack`, a closed output pipe, messages that name the user's path or flag, plurals, and
empty builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vpack
from vpack.pipeline import EmptyBuildError

# The console script installed next to this interpreter: what a user runs.
VPACK = Path(sys.executable).with_name("vpack")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    assert VPACK.exists(), f"the vpack command is not installed at {VPACK}"
    return subprocess.run([str(VPACK), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def built(docs: Path, out: Path, *extra: str) -> Path:
    proc = run("build", str(docs), "-o", str(out), "--embedder", "hash", "--no-progress", *extra)
    assert proc.returncode == 0, proc.stderr
    return out


def test_version_names_the_package_library_and_format() -> None:
    proc = run("--version")
    assert proc.returncode == 0 and proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("vpack ") and lines[0] != "vpack "
    assert f"native library {vpack.VERSION} (ABI " in lines[1]
    assert f"pack format {vpack.FORMAT_VERSION}" in lines[1]
    assert lines[2].startswith("Python ")


def test_bare_vpack_prints_the_help_without_an_error() -> None:
    proc = run()
    assert proc.returncode == 2  # a usage error, as argparse reports them
    assert "error" not in proc.stderr.lower()
    assert proc.stderr.startswith("usage: vpack")
    for command in ("build", "query", "info", "verify"):
        assert command in proc.stderr
    assert proc.stdout == ""


@pytest.fixture()
def big_pack(tmp_path: Path) -> Path:
    """A pack whose query output is far larger than a pipe's buffer (64 KiB)."""
    root = tmp_path / "many"
    root.mkdir()
    for i in range(60):
        words = " ".join(f"word{i}x{j} file line read" for j in range(400))
        (root / f"doc{i:02d}.txt").write_text(words + "\n", encoding="utf-8")
    return built(root, tmp_path / "many.vpack", "--chunk-size", "4000", "--chunk-overlap", "0")


def test_query_into_a_closed_pipe_exits_quietly(big_pack: Path) -> None:
    # The reading end is closed before vpack writes anything: every write fails (EPIPE).
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [str(VPACK), "query", str(big_pack), "read a file line", "-k", "50"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode == 0


def test_query_piped_into_head_exits_quietly(big_pack: Path) -> None:
    script = '"$0" query "$1" "read a file line" -k 50 | head -1; echo "status=${PIPESTATUS[0]}" >&2'
    proc = subprocess.run(
        ["bash", "-c", script, str(VPACK), str(big_pack)], capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.startswith("1. ") and proc.stdout.count("\n") == 1
    assert proc.stderr == "status=0\n"


def test_a_directory_given_as_a_pack_is_named(tmp_path: Path) -> None:
    for command in (["info"], ["verify"], ["query"]):
        args = [*command, str(tmp_path)] + (["question"] if command == ["query"] else [])
        proc = run(*args)
        assert proc.returncode == 1
        expected = f"vpack: error: {tmp_path} is a directory, not a pack (a .vpack file) [code 6]\n"
        assert proc.stderr == expected


def test_a_missing_output_folder_is_named_before_the_build(docs: Path, tmp_path: Path) -> None:
    out = tmp_path / "missing" / "dir" / "x.vpack"
    proc = run("build", str(docs), "-o", str(out), "--embedder", "hash")
    assert proc.returncode == 1
    assert proc.stderr.endswith(
        f"vpack: error: cannot write {out}: its folder {out.parent} does not exist [code 6]\n"
    )
    assert ".tmp" not in proc.stderr
    afile = tmp_path / "afile"
    afile.write_text("x")
    proc = run("build", str(docs), "-o", str(afile / "x.vpack"), "--embedder", "hash")
    assert proc.returncode == 1 and f"{afile} is not a folder" in proc.stderr
    proc = run("build", str(docs), "-o", str(tmp_path), "--embedder", "hash")
    assert proc.returncode == 1 and f"cannot write the pack to {tmp_path}: it is a directory" in proc.stderr


def test_bad_filter_json_names_the_flag_and_the_position(docs: Path, tmp_path: Path) -> None:
    pack = built(docs, tmp_path / "d.vpack")
    proc = run("query", str(pack), "x", "--filter", '{"a": 1,, "b": 2}')
    assert proc.returncode == 1
    # The reason in brackets is the json module's own words (CPython and PyPy differ).
    assert proc.stderr.startswith("vpack: error: --filter is not valid JSON at column 9 ("), proc.stderr
    assert proc.stderr.endswith('): {"a": 1, <-- here [code 3]\n'), proc.stderr
    proc = run("query", str(pack), "x", "--filter", '{"a":\n  [1, }')
    assert proc.returncode == 1 and "--filter is not valid JSON at line 2, column 7" in proc.stderr
    proc = run("query", str(pack), "x", "--filter", "")
    assert proc.returncode == 1 and "--filter is not valid JSON at column 1" in proc.stderr


def test_where_values_are_numbers_only_in_ascii(docs: Path, tmp_path: Path) -> None:
    pack = built(docs, tmp_path / "d.vpack")
    # Arabic-Indic digits pass str.isdigit() but are not JSON: text, not a raw JSON error.
    proc = run("query", str(pack), "x", "--where", "chunk=\u0661", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    # An exponent is a JSON number: equality with 0.
    proc = run("query", str(pack), "read", "--where", "chunk=0e0", "--json", "-k", "10")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 4


def test_counts_agree_with_their_nouns(tmp_path: Path) -> None:
    root = tmp_path / "one"
    root.mkdir()
    (root / "a.txt").write_text("One short document about birds.\n", encoding="utf-8")
    proc = run("build", str(root), "-o", str(tmp_path / "one.vpack"), "--embedder", "hash", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"wrote {tmp_path / 'one.vpack'}: 1 document, 1 chunk, ")
    assert "1 documents" not in proc.stdout and "1 chunks" not in proc.stdout
    proc = run("verify", str(tmp_path / "one.vpack"))
    assert proc.stdout == f"{tmp_path / 'one.vpack'}: ok (1 chunk)\n"
    (root / "b.txt").write_bytes(b"\x00binary")
    proc = run("build", str(root), "-o", str(tmp_path / "two.vpack"), "--embedder", "hash", "--no-progress")
    assert "skipped: 1 input (listed above)" in proc.stdout


def test_an_empty_build_fails_naming_the_folder_and_globs(tmp_path: Path) -> None:
    root = tmp_path / "notes"
    root.mkdir()
    (root / "readme.pdf").write_bytes(b"%PDF")
    out = tmp_path / "e.vpack"
    proc = run("build", str(root), "-o", str(out), "--embedder", "hash", "--include", "**/*.md")
    assert proc.returncode == 1
    assert f"no files matching **/*.md in {root}" in proc.stderr
    assert "--allow-empty" in proc.stderr and "[code 2]" in proc.stderr
    assert not out.exists()
    proc = run("build", str(root), "-o", str(out), "--embedder", "hash", "--allow-empty", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "0 documents, 0 chunks" in proc.stdout
    with vpack.open(out) as pack:
        assert len(pack) == 0


def test_an_empty_build_lists_what_was_skipped(tmp_path: Path) -> None:
    root = tmp_path / "notes"
    root.mkdir()
    (root / "a.txt").write_bytes(b"\x00\x01")
    (root / "b.md").write_text("   \n")
    proc = run("build", str(root), "-o", str(tmp_path / "e.vpack"), "--embedder", "hash")
    assert proc.returncode == 1
    skipped = "every input was skipped (2 inputs skipped: a.txt: binary file; b.md: empty document)"
    assert skipped in proc.stderr


def test_allow_empty_in_vpack_toml(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    (tmp_path / "vpack.toml").write_text(
        'output = "e.vpack"\nallow_empty = true\n[source]\nroot = "src"\n[embedder]\nname = "hash"\n'
    )
    proc = run("build", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "e.vpack").is_file()


def test_allow_empty_in_the_python_api(tmp_path: Path) -> None:
    with pytest.raises(EmptyBuildError, match=r"no documents to pack: no documents from the iterable source"):
        vpack.build([], embedder="hash")
    with pytest.raises(EmptyBuildError, match=r"no files matching \*\*/\*\.txt"):
        vpack.build(tmp_path, tmp_path / "x.vpack", embedder="hash", include=["**/*.txt"])
    assert not (tmp_path / "x.vpack").exists()
    with vpack.build([], embedder="hash", allow_empty=True) as result:
        assert result.report.chunks == 0 and len(result.pack) == 0


def test_size_reasons_agree_with_their_nouns() -> None:
    from vpack.plugins.sources import too_large

    assert "more than 1 byte, the limit is 1 " in too_large(1, 1, at_least=True)
    assert "2 bytes, the limit is 1 " in too_large(2, 1)
