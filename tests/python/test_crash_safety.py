"""A build killed at any moment leaves the previous pack or the new one, never a partial
file, and the next build removes what killed builds left behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import vpack

VPACK = Path(sys.executable).with_name("vpack")


def _write_docs(root: Path, files: int, extra: str = "") -> None:
    rng = random.Random(files)
    words = ["pack", "vector", "search", "block", "crash", "rename", "fsync", "chunk", "query"]
    for i in range(files):
        p = root / f"d{i % 20}" / f"f{i}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        body = " ".join(rng.choice(words) for _ in range(300))
        p.write_text(f"Document {i}. {body} {extra}\n", encoding="utf-8")


def _build_cmd(src: Path, out: Path) -> List[str]:
    return [str(VPACK), "build", str(src), "-o", str(out), "--embedder", "hash", "--no-progress"]


def _temps(out: Path) -> List[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def test_sigkill_during_build_never_leaves_a_partial_pack(tmp_path: Path) -> None:
    src = tmp_path / "docs"
    _write_docs(src, 1500)
    out = tmp_path / "out" / "docs.vpack"
    out.parent.mkdir()
    subprocess.run(_build_cmd(src, out), check=True, capture_output=True, timeout=300)
    old = out.read_bytes()

    # The new input differs in one file, so the new pack's bytes differ too.
    (src / "d0" / "f0.txt").write_text("A changed first document about rename.\n", encoding="utf-8")
    started = time.monotonic()
    subprocess.run(_build_cmd(src, out), check=True, capture_output=True, timeout=300)
    duration = time.monotonic() - started
    new = out.read_bytes()
    assert new != old
    out.write_bytes(old)

    rng = random.Random(1234)
    killed = 0
    seen = set()
    for _ in range(16):
        proc = subprocess.Popen(_build_cmd(src, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Spread the kills over the whole build, including its final write and rename.
        time.sleep(rng.uniform(0.05, duration * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if proc.returncode == -signal.SIGKILL:
            killed += 1
        data = out.read_bytes()
        assert data in (old, new), "the output is neither the previous pack nor the new one"
        seen.add("new" if data == new else "old")
        with vpack.open(out, verify=True) as pack:
            assert len(pack) > 0
        # Put the old pack back (by rename, as a writer would) for the next round.
        if data == new:
            tmp = out.with_name("restore.tmp")
            tmp.write_bytes(old)
            os.replace(tmp, out)
    assert killed >= 8, f"only {killed} of 16 builds were killed before they finished"

    # The next build completes and removes every temporary file killed builds left.
    subprocess.run(_build_cmd(src, out), check=True, capture_output=True, timeout=300)
    assert out.read_bytes() == new
    assert _temps(out) == []
