"""The installed `vpack` command, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import List

# The console script installed next to this interpreter: what a user runs.
VPACK = Path(sys.executable).with_name("vpack")


def vpack_cli(*args: str) -> subprocess.CompletedProcess:
    assert VPACK.exists(), f"the vpack command is not installed at {VPACK}"
    return subprocess.run([str(VPACK), *args], capture_output=True, text=True, timeout=120)


def ok(*args: str) -> str:
    proc = vpack_cli(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_build_query_info_verify(docs: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "docs.vpack")
    assert "4 documents, 4 chunks" in ok("build", str(docs), "-o", out, "--embedder", "hash")
    text = ok("query", out, "how do I read a file line by line", "-k", "2")
    assert text.splitlines()[0].startswith("1. ")
    assert "files.md" in text.splitlines()[0]
    hits: List[dict] = json.loads(ok("query", out, "birds flying south", "-k", "3", "--json"))
    assert len(hits) == 3
    assert hits[0]["metadata"]["path"] == "birds.txt"
    assert set(hits[0]) == {"id", "score", "text", "metadata"}
    info = ok("info", out)
    for field in ("format version: 2", "dimension: 256", "metric: cosine", "chunks: 4", "documents: 4"):
        assert field in info
    manifest = json.loads(ok("info", out, "--json"))
    assert manifest["embedder"]["model_id"] == "vpack-hash-v1"
    assert "ok (4 chunks)" in ok("verify", out)


def test_build_report_json(docs: Path, tmp_path: Path) -> None:
    report = json.loads(
        ok("build", str(docs), "-o", str(tmp_path / "d.vpack"), "--embedder", "hash", "--json")
    )
    assert report["documents"] == 4
    assert {"read", "chunk", "embed", "index", "write", "total"} <= set(report["seconds"])


def test_errors_exit_nonzero_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.vpack"
    bad.write_bytes(b"\x89VPACK\r\n" + b"\x02" + b"\x00" * 100)
    proc = vpack_cli("query", str(bad), "anything")
    assert proc.returncode == 1
    assert "corrupt pack" in proc.stderr and "[code 7]" in proc.stderr
    proc = vpack_cli("info", str(tmp_path / "missing.vpack"))
    assert proc.returncode == 1 and "[code 6]" in proc.stderr
    proc = vpack_cli("build", str(tmp_path / "nope"), "-o", str(tmp_path / "x.vpack"), "--embedder", "hash")
    assert proc.returncode == 1 and "not a directory" in proc.stderr


def test_query_where_filters_by_metadata(docs: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "docs.vpack")
    ok("build", str(docs), "-o", out, "--embedder", "hash")
    hits = json.loads(ok("query", out, "read a file", "-k", "10", "--json", "--where", "path=guide/**"))
    assert {h["metadata"]["path"] for h in hits} == {"guide/install.md", "guide/deep/cooking.rst"}
    hits = json.loads(
        ok("query", out, "read a file", "--json", "--where", "path=guide/*.md", "--where", "chunk=0")
    )
    assert [h["metadata"]["path"] for h in hits] == ["guide/install.md"]
    proc = vpack_cli("query", out, "x", "--where", "novalue")
    assert proc.returncode == 1 and "KEY=VALUE" in proc.stderr
