"""Compressed vectors (f16, int8) for the flat scan, through the Python API and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vpack
from vpack.builder import PackBuilder

VPACK = Path(sys.executable).with_name("vpack")


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((20, dim)).astype(np.float32)
    out: np.ndarray = centers[rng.integers(0, 20, n)] + 0.4 * rng.standard_normal((n, dim)).astype(np.float32)
    return out.astype(np.float32)


@pytest.mark.parametrize("codes", ["f16", "int8"])
def test_codes_answer_like_the_exact_scan(codes: str) -> None:
    base, queries = _clustered(1500, 24, 1), _clustered(40, 24, 2)
    texts = [f"c{i}" for i in range(len(base))]
    exact_b = PackBuilder(24)
    exact_b.add(texts, base)
    coded_b = PackBuilder(24, index={"kind": "flat", "codes": codes, "rescore": 4})
    coded_b.add(texts, base)
    with exact_b.finish() as exact, coded_b.finish() as coded:
        assert coded.manifest["index"] == {"kind": "flat", "codes": codes, "rescore": 4}
        found = 0
        for q in queries:
            want = {h.id for h in exact.search(q, k=10)}
            got = coded.search(q, k=10)
            found += len(want & {h.id for h in got})
        assert found / (10 * len(queries)) >= 0.99


def test_bad_codes_are_refused() -> None:
    with pytest.raises(vpack.InvalidArgumentError, match="codes"):
        PackBuilder(8, index={"codes": "int4"})


def test_cli_builds_and_shows_codes(docs: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.vpack"
    cmd = [str(VPACK), "build", str(docs), "-o", str(out), "--embedder", "hash", "--codes", "int8"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    info = subprocess.run([str(VPACK), "info", str(out)], check=True, capture_output=True, text=True)
    assert "int8 codes, rescore 4" in info.stdout
    with vpack.open(out) as pack:
        assert pack.manifest["index"]["codes"] == "int8"
        assert pack.search("reading files line by line", k=1)[0].source == "files.md"
