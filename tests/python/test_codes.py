"""Compressed vectors (f16, int8) for the flat scan, through the Python API and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest

import vpack
from vpack.builder import PackBuilder

from .conftest import RECORDED_LEXICAL

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


@pytest.mark.parametrize("codes,share", [("f16", 0.5), ("int8", 0.25)])
def test_codes_only_drops_the_f32_vectors(codes: str, share: float, tmp_path: Path) -> None:
    base, queries = _clustered(1500, 24, 1), _clustered(40, 24, 2)
    texts = [f"c{i}" for i in range(len(base))]
    exact_b = PackBuilder(24)
    exact_b.add(texts, base)
    only_b = PackBuilder(24, index={"codes": codes, "codes_only": True})
    only_b.add(texts, base)
    exact = exact_b.finish(output=tmp_path / "exact.vpack")
    only = only_b.finish(output=tmp_path / "only.vpack")
    with exact, only:
        assert only.manifest["index"] == {"kind": "flat", "codes": codes, "codes_only": True}
        with pytest.raises(vpack.NotFoundError, match="codes_only"):
            _ = only.vectors
        found = 0
        for q in queries:
            want = {h.id for h in exact.search(q, k=10)}
            got = only.search(q, k=10)
            assert [h.score for h in got] == sorted((h.score for h in got), reverse=True)
            found += len(want & {h.id for h in got})
        assert found / (10 * len(queries)) >= (0.97 if codes == "f16" else 0.85)
        ids, _ = only.search_batch(queries, k=10)
        assert [list(r) for r in ids] == [[h.id for h in only.search(q, k=10)] for q in queries]
        only.verify()
    f32_bytes = base.nbytes
    saved = (tmp_path / "exact.vpack").stat().st_size - (tmp_path / "only.vpack").stat().st_size
    # The f32 rows go, the codes (share of their size) come in.
    assert abs(saved - (1 - share) * f32_bytes) < 0.05 * f32_bytes


@pytest.mark.parametrize(
    "index",
    [
        {"codes_only": True},
        {"codes": "int8", "codes_only": True, "kind": "hnsw"},
        {"codes": "int8", "codes_only": True, "rescore": 2},
    ],
)
def test_codes_only_needs_codes_and_a_flat_index(index: Dict[str, Any]) -> None:
    with pytest.raises(vpack.InvalidArgumentError, match=r"codes_only|rescore"):
        PackBuilder(8, index=index)


def test_cli_builds_codes_only(docs: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.vpack"
    cmd = [str(VPACK), "build", str(docs), "-o", str(out), "--embedder", "hash"]
    subprocess.run([*cmd, "--codes", "f16", "--codes-only"], check=True, capture_output=True, timeout=120)
    info = subprocess.run([str(VPACK), "info", str(out)], check=True, capture_output=True, text=True)
    assert "f16 codes only" in info.stdout
    with vpack.open(out) as pack:
        assert pack.manifest["index"]["codes_only"] is True
        assert pack.search("reading files line by line", k=1)[0].source == "files.md"
    bad = subprocess.run([*cmd, "--codes-only"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "codes_only needs codes" in bad.stderr
    with vpack.open(out) as pack:  # the refused build left the earlier pack as it was
        assert pack.manifest["index"] == {
            "kind": "flat",
            "codes": "f16",
            "codes_only": True,
            "lexical": RECORDED_LEXICAL,
        }


def test_config_reads_codes_only() -> None:
    from vpack import config

    parsed = config.parse({"index": {"kind": "flat", "codes": "int8", "codes_only": True}}, "vpack.toml")
    assert parsed.index.options() == {"kind": "flat", "codes": "int8", "codes_only": True, "lexical": {}}
    with pytest.raises(config.ConfigError, match="codes_only"):
        config.parse({"index": {"codes": "int8", "codes_only": "yes"}}, "vpack.toml")
