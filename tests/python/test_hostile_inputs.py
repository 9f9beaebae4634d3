"""Inputs a hostile (or unlucky) user gives a build or a query: each one is a skipped
entry with a clear reason, or, where the whole build cannot be right, a clear error with
a vpack error code; never a traceback, a hang or an unbounded allocation. One bad input
never costs the rest of the build, unless the build is strict."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

import vpack
from vpack import cli as vpack_cli
from vpack.errors import InvalidArgumentError, InvalidJSONError
from vpack.plugins import sources
from vpack.plugins.base import Document
from vpack.plugins.chunkers import FixedSizeChunker, RecursiveChunker, SectionChunker

VPACK = Path(sys.executable).with_name("vpack")


def cli(*args: str, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    """The installed command, as a user runs it; a hang fails the test instead of
    stopping the suite."""
    proc = subprocess.run(
        [str(VPACK), *args], capture_output=True, text=True, timeout=120, cwd=cwd, stdin=subprocess.DEVNULL
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def cli_report(*args: str) -> Dict[str, Any]:
    proc = cli(*args, "--embedder", "hash", "--json")
    assert proc.returncode == 0, proc.stderr
    report: Dict[str, Any] = json.loads(proc.stdout)
    return report


def reasons(report: Any) -> Dict[str, str]:
    skipped = report["skipped"] if isinstance(report, dict) else report.skipped
    return (
        {s["path"]: s["reason"] for s in skipped}
        if isinstance(report, dict)
        else {s.path: s.reason for s in skipped}
    )


def build(source: Any, **options: Any) -> vpack.BuildReport:
    with vpack.build(source, embedder="hash", **options) as result:
        return result.report


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    root.mkdir()
    (root / "good.txt").write_text("a perfectly ordinary document about birds", encoding="utf-8")
    (root / "other.md").write_text("# Other\n\nanother ordinary document about bread", encoding="utf-8")
    return root


def assert_strict_fails(source: Any, match: str, **options: Any) -> None:
    with pytest.raises(vpack.StrictBuildError, match=match) as info:
        build(source, strict=True, **options)
    assert info.value.code == InvalidArgumentError.code
    assert isinstance(info.value, (vpack.VPackError, ValueError))


# ---------------------------------------------------------------- symlinks


def test_symlink_loops_and_dangling_links_are_skipped(folder: Path, tmp_path: Path) -> None:
    os.symlink("self.txt", folder / "self.txt")  # self.txt -> self.txt
    os.symlink("pong.txt", folder / "ping.txt")
    os.symlink("ping.txt", folder / "pong.txt")
    os.symlink("nowhere.txt", folder / "dangling.txt")
    os.symlink(".", folder / "here")  # a folder symlink (to its own folder): not followed
    report = build(folder)
    assert report.documents == 2
    r = reasons(report)
    assert r["self.txt"] == "symlink loop"
    assert r["ping.txt"] == r["pong.txt"] == "symlink loop"
    assert r["dangling.txt"] == "broken symlink (its target does not exist)"
    assert r["here/"] == "symlink to a folder (not followed)"
    assert_strict_fails(folder, r"dangling\.txt: broken symlink")

    out = tmp_path / "x.vpack"
    proc = cli("build", str(folder), "-o", str(out), "--embedder", "hash")
    assert proc.returncode == 0, proc.stderr
    assert "skipped self.txt: symlink loop" in proc.stdout
    proc = cli("build", str(folder), "-o", str(out), "--embedder", "hash", "--strict")
    assert proc.returncode == 1
    assert "vpack: error: dangling.txt: broken symlink" in proc.stderr and "[code 2]" in proc.stderr


# ---------------------------------------------------------- special files


def test_fifo_socket_and_device_are_skipped_without_blocking(folder: Path, tmp_path: Path) -> None:
    os.mkfifo(folder / "pipe.txt")  # opening it for reading would wait for a writer forever
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(folder / "sock.txt"))
        devices = True
        try:
            os.mknod(folder / "null.txt", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        except (PermissionError, OSError):
            devices = False
        report = cli_report("build", str(folder), "-o", str(tmp_path / "s.vpack"))
    finally:
        sock.close()
    assert report["documents"] == 2
    r = reasons(report)
    assert r["pipe.txt"] == "not a regular file: a named pipe (FIFO)"
    assert r["sock.txt"] == "not a regular file: a socket"
    if devices:
        assert r["null.txt"] == "not a regular file: a character device"


def test_a_fifo_swapped_in_after_the_check_is_not_waited_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "late.txt"
    os.mkfifo(fifo)
    # The last line of defence: the file is opened without blocking and checked again.
    real_stat = os.stat

    def regular_first(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if os.fspath(path) == str(fifo):
            return real_stat(__file__)  # looks like a regular file at the first check
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", regular_first)
    assert sources._read_file(str(fifo), 1 << 20) == "not a regular file: a named pipe (FIFO)"


# -------------------------------------------------------- unreadable inputs


def _denied(path: str) -> OSError:
    return PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)


def test_unreadable_folders_and_files_are_reported(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "locked").mkdir()
    (folder / "locked" / "inside.txt").write_text("never read", encoding="utf-8")
    (folder / "secret.txt").write_text("never read either", encoding="utf-8")
    real_scandir, real_open = os.scandir, os.open

    def scandir(path: Any) -> Any:
        if os.fspath(path).endswith("locked"):
            raise _denied(os.fspath(path))
        return real_scandir(path)

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fspath(path).endswith("secret.txt"):
            raise _denied(os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    # The test runs as root in CI, where permissions do not stop reads: the errors the
    # system would give are simulated (test_unreadable_for_real covers the real thing).
    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "open", open_)
    report = build(folder)
    assert report.documents == 2
    r = reasons(report)
    assert r["locked/"] == "unreadable folder: Permission denied"
    assert r["secret.txt"] == "unreadable: Permission denied"
    # A folder's files come before its subfolders.
    assert_strict_fails(folder, r"secret\.txt: unreadable: Permission denied")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads everything")
def test_unreadable_for_real(folder: Path) -> None:
    locked = folder / "locked"
    locked.mkdir()
    (locked / "inside.txt").write_text("never read", encoding="utf-8")
    secret = folder / "secret.txt"
    secret.write_text("never read either", encoding="utf-8")
    locked.chmod(0)
    secret.chmod(0)
    try:
        r = reasons(build(folder))
    finally:
        locked.chmod(0o755)
        secret.chmod(0o644)
    assert r["locked/"] == "unreadable folder: Permission denied"
    assert r["secret.txt"] == "unreadable: Permission denied"


def test_an_unreadable_source_folder_is_an_error(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if os.fspath(path) == str(folder):
            raise _denied(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(vpack.PackIOError, match=r"cannot read source folder .*Permission denied"):
        build(folder)


def _make_chain(base: Path, names: List[str], leaf: Optional[str] = None) -> None:
    """Folders ``base/names[0]/names[1]/...`` made relative to open folders, so paths
    longer than the system allows can be made; each gets a ``f<level>.txt``."""
    fd = os.open(base, os.O_RDONLY)
    try:
        for level, name in enumerate(names):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
            if leaf is None or level == len(names) - 1:
                text = leaf or f"text at level {level}"
                f = os.open(f"f{level}.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.write(f, text.encode())
                os.close(f)
    finally:
        os.close(fd)


def _remove_tree(top: Path) -> None:
    """Deletes a tree of any depth without recursion (shutil.rmtree, which pytest uses
    to clean its temporary folders, recurses once per level)."""
    fds = [os.open(top, os.O_RDONLY)]
    names: List[str] = []
    while fds:
        sub = None
        with os.scandir(fds[-1]) as listing:
            for entry in listing:
                if entry.is_dir(follow_symlinks=False):
                    sub = entry.name
                    break
                os.unlink(entry.name, dir_fd=fds[-1])
        if sub is None:
            os.close(fds.pop())
            if names:
                os.rmdir(names.pop(), dir_fd=fds[-1])
        else:
            fds.append(os.open(sub, os.O_RDONLY, dir_fd=fds[-1]))
            names.append(sub)
    os.rmdir(top)


def test_folders_deeper_than_path_max_are_reported(folder: Path) -> None:
    _make_chain(folder, ["x" * 250] * 20)  # about 5,000 characters deep
    report = build(folder)
    too_long = {p: r for p, r in reasons(report).items() if "too long" in r}
    assert len(too_long) == 1
    ((path, reason),) = too_long.items()
    assert reason.startswith("path too long for this system")
    assert path.endswith("/") and len(os.path.join(str(folder), path)) > 4096
    read = report.documents - 2
    assert read == path.count("/") - 1  # every level above the long path was read
    assert_strict_fails(folder, "path too long")


def test_deeply_nested_folders_do_not_overflow_the_stack(folder: Path) -> None:
    _make_chain(folder, ["d"] * 1500, leaf="found at the bottom")  # os.walk recursed per level
    try:
        report = build(folder)
    finally:
        _remove_tree(folder / "d")
    assert report.documents == 3 and report.skipped == []


def test_file_names_that_are_not_utf8_are_reported(folder: Path) -> None:
    name = os.fsdecode(b"caf\xe9.txt")
    try:
        (folder / name).write_text("latin-1 named", encoding="utf-8")
    except (UnicodeEncodeError, OSError):
        pytest.skip("this file system refuses names that are not UTF-8")
    (folder / os.fsdecode(b"dir\xff")).mkdir()
    r = reasons(build(folder))
    assert r["caf\\xe9.txt"] == "file name is not valid UTF-8"
    assert r["dir\\xff/"] == "folder name is not valid UTF-8 (not read)"


# ------------------------------------------------------------- JSON Lines


def nested(depth: int, leaf: str = "1") -> str:
    return '{"a": ' * depth + leaf + "}" * depth


def test_jsonl_nested_5000_deep_is_one_skipped_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    lines = [
        json.dumps({"text": "first record"}),
        nested(5000),
        '{"text": "deep metadata", "m": ' + nested(200) + "}",  # parses, but too deep to store
        '{"text": "strings do not count", "s": "' + "[{" * 5000 + '"}',
        json.dumps({"text": "last record"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = build(sources.JsonlSource(path))
    assert report.documents == 3
    assert reasons(report) == {
        f"{path}:2": "JSON nested deeper than 64 levels",
        f"{path}:3": "JSON nested deeper than 64 levels",
    }
    assert_strict_fails(sources.JsonlSource(path), r"deep\.jsonl:2: JSON nested deeper than 64 levels")
    report_json = cli_report("build", str(path), "--source-kind", "jsonl", "-o", str(tmp_path / "j.vpack"))
    assert report_json["documents"] == 3


def test_jsonl_lone_surrogates_and_huge_numbers(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text(
        '{"text": "bad \\ud800 text"}\n'
        '{"text": "fine", "meta": "x\\udc00", "big": 123456789012345678901234567890}\n'
        '{"text": "x", "n": ' + "9" * 5000 + "}\n"
        '{"text": "last"}\n',
        encoding="utf-8",
    )
    with vpack.build(sources.JsonlSource(path), embedder="hash") as result:
        report = result.report
        metas = [result.pack.chunk(i).metadata for i in range(len(result.pack))]
    assert report.documents == 2
    r = reasons(report)
    assert r[f"{path}:1"] == "text has a lone surrogate U+D800 at character 4, not valid Unicode"
    assert r[f"{path}:3"].startswith("invalid JSON")
    # Values that cannot be stored (as NaN) are dropped: the record is kept.
    assert metas[0]["line"] == 2 and "meta" not in metas[0] and "big" not in metas[0]


def test_jsonl_line_over_the_maximum_document_size(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_text(
        json.dumps({"text": "short"}) + "\n" + json.dumps({"text": "y" * 5000}) + "\n" + '{"text": "after"}',
        encoding="utf-8",
    )
    report = build(sources.JsonlSource(path), max_document_size=1000)
    assert report.documents == 2
    assert reasons(report) == {
        f"{path}:2": "line larger than the maximum document size: 5,013 bytes, the limit is 1,000 "
        "(max_document_size)"
    }


def test_jsonl_without_the_text_field_anywhere_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "body.jsonl"
    path.write_text('{"body": "a", "n": 1}\n{"body": "b"}\n', encoding="utf-8")
    with pytest.raises(
        InvalidArgumentError, match=r"no record has the text field 'text' \(fields found: 'body', 'n'\)"
    ):
        build(sources.JsonlSource(path))
    proc = cli(
        "build", str(path), "--source-kind", "jsonl", "-o", str(tmp_path / "b.vpack"), "--embedder", "hash"
    )
    assert proc.returncode == 1
    assert "no record has the text field 'text'" in proc.stderr and "[code 2]" in proc.stderr
    assert not (tmp_path / "b.vpack").exists()
    assert build(sources.JsonlSource(path, text_field="body")).documents == 2


# -------------------------------------------------------------------- CSV


def test_csv_unterminated_quote_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "open.csv"
    path.write_text('text,n\nfirst,1\n"second, never closed,2\nthird,3\nfourth,4\n', encoding="utf-8")
    report = build(sources.CsvSource(path))
    assert report.documents == 1
    assert reasons(report) == {
        f"{path}:3": "a quoted field opened on line 3 is never closed; "
        "lines 3 to 5 (the end of the file) not read"
    }
    # A quoted field that spans lines but is closed is fine.
    path.write_text('text,n\n"two\nlines",1\nlast,2\n', encoding="utf-8")
    report = build(sources.CsvSource(path))
    assert report.documents == 2 and report.skipped == []


def test_csv_without_its_text_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("title,body\nA,first body\nB,second body\n", encoding="utf-8")
    with pytest.raises(
        InvalidArgumentError, match=r"no column 'text' for the text \(columns: 'title', 'body'\)"
    ):
        build(sources.CsvSource(path))
    out = tmp_path / "cols.vpack"
    proc = cli("build", str(path), "--source-kind", "csv", "-o", str(out), "--embedder", "hash")
    assert proc.returncode == 1
    assert proc.stderr.startswith("vpack: error: ") and proc.stderr.rstrip().endswith("[code 2]")
    assert "no column 'text'" in proc.stderr and "'title', 'body'" in proc.stderr
    assert not out.exists()
    ok = cli(
        "build",
        str(path),
        "--source-kind",
        "csv",
        "--text-field",
        "body",
        "-o",
        str(out),
        "--embedder",
        "hash",
    )
    assert ok.returncode == 0 and "2 documents" in ok.stdout


def test_csv_line_and_field_over_the_maximum_document_size(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("text\nfine\n" + "z" * 3000 + "\nnever\n", encoding="utf-8")
    source = sources.CsvSource(path, max_document_size=1000)
    assert [d.text for d in source.documents()] == ["fine"]
    assert reasons(source) == {
        f"{path}:3": "line 3 is larger than the maximum document size: more than 1,000 characters, "
        "the limit is 1,000 (max_document_size); rest of file not read"
    }


# ------------------------------------------------------------ query filter


def test_query_filter_nested_5000_deep(tmp_path: Path, folder: Path) -> None:
    out = tmp_path / "f.vpack"
    assert cli("build", str(folder), "-o", str(out), "--embedder", "hash").returncode == 0
    deep = '{"$and": [' * 5000 + "{}" + "]}" * 5000
    proc = cli("query", str(out), "birds", "--filter", deep)
    assert proc.returncode == 1
    assert proc.stderr == "vpack: error: --filter is nested deeper than 80 levels [code 3]\n"
    proc = cli("query", str(out), "birds", "--filter", '{"path": ')
    assert proc.returncode == 1 and "--filter is not valid JSON" in proc.stderr and "[code 3]" in proc.stderr
    proc = cli("query", str(out), "birds", "--filter", "[1, 2]")
    assert proc.returncode == 1 and "--filter must be a JSON object ({...}), got list [code 3]" in proc.stderr
    ok = cli("query", str(out), "birds", "--filter", '{"path": "good.txt"}', "--json")
    assert ok.returncode == 0 and [h["metadata"]["path"] for h in json.loads(ok.stdout)] == ["good.txt"]
    with pytest.raises(InvalidJSONError):
        vpack_cli._filter_json(deep)


# ------------------------------------------------------ document size limit


def test_files_over_the_maximum_document_size_are_skipped_unread(folder: Path, tmp_path: Path) -> None:
    (folder / "huge.txt").write_text("w" * 5000, encoding="utf-8")
    report = build(folder, max_document_size=1000)
    assert report.documents == 2
    assert reasons(report) == {
        "huge.txt": "larger than the maximum document size: 5,000 bytes, "
        "the limit is 1,000 (max_document_size)"
    }
    assert build(folder, max_document_size="5000").documents == 3
    assert build(folder).documents == 3  # the default is 64 MiB
    assert_strict_fails(folder, r"huge\.txt: larger than the maximum document size", max_document_size="1K")
    # The same through the command line and vpack.toml.
    out = str(tmp_path / "m.vpack")
    report_json = cli_report("build", str(folder), "-o", out, "--max-document-size", "1KB")
    assert report_json["documents"] == 2 and "huge.txt" in reasons(report_json)
    (tmp_path / "vpack.toml").write_text('max_document_size = "4KiB"\n', encoding="utf-8")
    proc = cli("build", str(folder), "-o", out, "--embedder", "hash", "--json", cwd=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["documents"] == 2
    with vpack.open(out) as pack:
        assert pack.manifest["config"]["max_document_size"] == 4096
    proc = cli("build", str(folder), "-o", out, "--embedder", "hash", "--max-document-size", "lots")
    assert proc.returncode == 2 and "--max-document-size" in proc.stderr


def test_documents_from_other_sources_over_the_limit(tmp_path: Path) -> None:
    items = ["short text", "é" * 600, Document("big", "x" * 2000, {})]
    report = build(items, max_document_size=1000)
    assert report.documents == 1
    assert reasons(report) == {
        "1": "larger than the maximum document size: 1,200 bytes, the limit is 1,000 (max_document_size)",
        "big": "larger than the maximum document size: 2,000 bytes, the limit is 1,000 (max_document_size)",
    }


# -------------------------------------------------- metadata and transformers


def test_unstorable_metadata_is_a_skipped_document_not_a_failed_build() -> None:
    deep: Dict[str, Any] = {}
    inner = deep
    for _ in range(5000):
        inner["a"] = {}
        inner = inner["a"]
    items = [
        Document("deep", "some text", {"tree": deep}),
        Document("nan", "more text", {"x": float("nan")}),
        Document("ok", "fine text", {"n": 1}),
        {"text": "dict item", "metadata": {"tree": deep, "kept": True}},
    ]
    with vpack.build(items, embedder="hash") as result:
        report = result.report
        kept = [result.pack.chunk(i).metadata for i in range(len(result.pack))]
    assert report.documents == 2
    r = reasons(report)
    assert r["deep"] == "metadata cannot be stored: field 'tree': nested deeper than 64 levels"
    assert r["nan"] == "metadata cannot be stored: field 'x': nan is not a finite number"
    assert kept[1]["kept"] is True and "tree" not in kept[1]  # a dict item's bad value is dropped


class Fragile:
    """A transformer plugin that fails on one document."""

    def transform(self, document: Document) -> Optional[Document]:
        if "poison" in document.text:
            raise RecursionError("maximum recursion depth exceeded")
        return document


def test_a_transformer_failing_on_one_document_skips_only_that_document() -> None:
    report = build(["good one", "poison pill", "good two"], transformers=[Fragile()])
    assert report.documents == 2
    assert reasons(report) == {"1": "Fragile failed: RecursionError: maximum recursion depth exceeded"}
    with pytest.raises(vpack.StrictBuildError, match="Fragile failed"):
        build(["good one", "poison pill"], transformers=[Fragile()], strict=True)


# --------------------------------------------- chunking text without whitespace


def test_chunking_text_without_whitespace_is_linear() -> None:
    """A long line without a space used to be re-measured from the chunk start to the
    end of the text at every size check (quadratic). Counted, not timed: the characters
    the chunkers hand to a token counter grow linearly with the text."""
    text = "".join(chr(ord("a") + (i * 7) % 26) for i in range(200_000))
    counted = [0]

    def counter(texts: List[str]) -> List[int]:
        counted[0] += sum(len(t) for t in texts)
        return [len(t) // 4 for t in texts]

    for chunker in (
        SectionChunker(256, 32, token_counter=counter),
        RecursiveChunker(256, 32, token_counter=counter),
        FixedSizeChunker(256, 32, token_counter=counter),
    ):
        counted[0] = 0
        chunks = list(chunker.chunks(Document("d", text, {})))
        assert "".join(c.text for c in chunks) == text  # no overlap inside one word
        assert counted[0] < 100 * len(text)  # quadratic would be about 200_000 / 1024 times more
    chunks = list(SectionChunker(1000, 200).chunks(Document("d", text, {})))
    assert [len(c.text) for c in chunks] == [1000] * 200


def test_a_long_line_without_whitespace_builds(tmp_path: Path) -> None:
    root = tmp_path / "one"
    root.mkdir()
    (root / "line.txt").write_text("q" * 2_000_000, encoding="utf-8")
    report = build(root)
    assert report.chunks == 2000 and report.characters == 2_000_000
