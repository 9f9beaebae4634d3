"""Diversity of search results (vpack/diversity.py): collapsing by section, document or
field, and MMR, through Pack.search, pack sets and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest

import vpack
from vpack.builder import PackBuilder
from vpack.diversity import Diversity, distinct_groups, parse, parse_spec

VPACK = Path(sys.executable).with_name("vpack")


def _meta(path: str, anchor: str, headings: List[str]) -> Dict[str, Any]:
    return {"path": path, "anchor": anchor, "headings": headings, "section": headings[-1]}


def _v(*xs: float) -> List[float]:
    return [*xs, *[0.0] * (4 - len(xs))]


# Cosine with the query e0 falls with the id: 0, 1, 2 share a section of a.md, 3 is
# another section of a.md, 4 of c.md; 5 has only a path, 6 and 7 are two records of one
# JSON Lines file, 8 has no metadata at all.
CHUNKS: List[Tuple[str, List[float], Dict[str, Any]]] = [
    ("alpha one", _v(1, 0.05), {**_meta("a.md", "a", ["A"]), "sec": {"level": 1}}),
    ("alpha two", _v(1, 0.10), {**_meta("a.md", "a", ["A"]), "sec": {"level": 1}}),
    ("alpha three", _v(1, 0.15), {**_meta("a.md", "a", ["A"]), "sec": {"level": 1}}),
    ("alpha bee", _v(1, 0, 0.4), {**_meta("a.md", "b", ["A", "B"]), "sec": {"level": 2}}),
    ("alpha sea", _v(1, 0, 0, 0.6), {**_meta("c.md", "c", ["C"]), "sec": {"level": 2}}),
    ("alpha dee", _v(1, 0.8), {"path": "d.txt"}),
    ("alpha rec one", _v(1, 0, 0.9), {"path": "r.jsonl", "line": 1}),
    ("alpha rec two", _v(1, 0, 0.95), {"path": "r.jsonl", "line": 2}),
    ("alpha none", _v(0, 1), {}),
]
QUERY = np.array(_v(1), dtype=np.float32)


class _Fixed:
    """A query embedder that gives one vector for any text."""

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector
        self.dimension = vector.shape[0]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(self.vector, (len(texts), 1))

    def describe(self) -> Dict[str, Any]:
        return {"kind": "fixed"}


def _write(path: Path, ids: Sequence[int], index: Optional[Dict[str, Any]] = None) -> Path:
    builder = PackBuilder(4, index=index if index is not None else {"lexical": {}})
    builder.add(
        [CHUNKS[i][0] for i in ids],
        np.array([CHUNKS[i][1] for i in ids], dtype=np.float32),
        [CHUNKS[i][2] for i in ids],
    )
    builder.finish(output=path).close()
    return path


@pytest.fixture()
def pack(tmp_path: Path) -> Any:
    with vpack.open(_write(tmp_path / "d.vpack", range(len(CHUNKS))), embedder=_Fixed(QUERY)) as p:
        yield p


def _ids(hits: Sequence[vpack.Hit]) -> List[int]:
    return [h.id for h in hits]


def test_collapse_keeps_the_best_hits_of_each_group(pack: vpack.Pack) -> None:
    plain = pack.search(QUERY, k=len(CHUNKS))
    assert _ids(plain) == list(range(len(CHUNKS)))
    score = {h.id: h.score for h in plain}
    cases: List[Tuple[Any, int, List[int]]] = [
        ("section", 4, [0, 3, 4, 5]),
        ({"collapse": "section", "per_group": 2}, 4, [0, 1, 3, 4]),
        ("document", 5, [0, 4, 5, 6, 7]),  # two JSON Lines records are two documents
        ({"collapse": "path"}, 5, [0, 4, 5, 6, 8]),  # a chunk without the field is alone
        ({"collapse": "headings"}, 4, [0, 3, 4, 5]),  # a list value is one group
        ({"collapse": "sec.level"}, 4, [0, 3, 5, 6]),  # dotted: a nested field
        ({"collapse": "section", "candidates": 2}, 4, [0, 3, 4, 5]),  # fetches deeper
        (Diversity(collapse="section"), 3, [0, 3, 4]),
    ]
    for setting, k, want in cases:
        hits = pack.search(QUERY, k=k, diversity=setting)
        assert _ids(hits) == want, setting
        assert all(h.score == score[h.id] for h in hits)
    assert pack.search(QUERY, k=0, diversity="section") == []
    for off in (None, "off", False):
        assert _ids(pack.search(QUERY, k=3, diversity=off)) == [0, 1, 2]


def test_collapse_with_filters_and_every_mode(pack: vpack.Pack) -> None:
    # Only two sections match: fewer than k hits, and no error.
    hits = pack.search(QUERY, k=3, filter={"path": "a.md"}, diversity="section")
    assert _ids(hits) == [0, 3]
    for mode in ("lexical", "hybrid", None):
        plain = pack.search("alpha", k=len(CHUNKS), mode=mode)
        want: List[int] = []
        seen = set()
        for h in plain:  # the first hit of each section (no metadata: alone), in the mode's order
            m = h.metadata
            key = (m.get("path"), m.get("line"), m.get("anchor"), str(m.get("headings")), m.get("section"))
            if not m or key not in seen:
                seen.add(key)
                want.append(h.id)
        hits = pack.search("alpha", k=4, mode=mode, diversity="section")
        assert _ids(hits) == want[:4], mode
        assert distinct_groups(hits) == 4
        assert [h.score for h in hits] == [h.score for h in plain if h.id in want[:4]]


def test_mmr_trades_relevance_for_novelty(tmp_path: Path) -> None:
    # 0 and 1 are the same vector; 2 is half as relevant and orthogonal to them.
    vectors = np.array([_v(1), _v(1), _v(0, 0, 1), _v(0, 1)], dtype=np.float32)
    builder = PackBuilder(4)
    builder.add(["a", "a again", "c", "d"], vectors, [{"path": f"{i}.md"} for i in range(4)])
    query = np.array(_v(1, 0, 0.5), dtype=np.float32)
    with builder.finish() as p:
        plain = p.search(query, k=3)
        assert _ids(plain) == [0, 1, 2]
        assert _ids(p.search(query, k=3, diversity={"mmr": 1.0})) == [0, 1, 2]
        assert _ids(p.search(query, k=3, diversity={"mmr": 0.9})) == [0, 1, 2]
        hits = p.search(query, k=3, diversity={"mmr": 0.5})
        assert _ids(hits) == [0, 2, 1]
        assert [h.score for h in hits] == [plain[0].score, plain[2].score, plain[1].score]
        assert _ids(p.search(query, k=2, diversity="mmr")) == [0, 1]  # lambda 0.7
        # Collapse first, then MMR over what is left.
        assert _ids(p.search(query, k=2, diversity={"collapse": "path", "mmr": 0.5})) == [0, 2]


def test_mmr_needs_stored_vectors_and_reads_a_sets_shards(tmp_path: Path) -> None:
    codes = _write(tmp_path / "codes.vpack", range(len(CHUNKS)), {"codes": "int8", "codes_only": True})
    with vpack.open(codes) as p:
        with pytest.raises(vpack.NotFoundError, match="diversity mmr needs the stored vectors"):
            p.search(QUERY, k=3, diversity="mmr")
        assert _ids(p.search(QUERY, k=3, diversity="section")) == [0, 3, 4]
    one = _write(tmp_path / "one.vpack", range(len(CHUNKS)))
    shards = [_write(tmp_path / "s0.vpack", range(4)), _write(tmp_path / "s1.vpack", range(4, len(CHUNKS)))]
    vpack.write_set(tmp_path / "all.vpackset", shards)
    settings: List[Any] = ["section", "document", {"mmr": 0.3}, {"mmr": 0.6, "collapse": "section"}]
    with vpack.open(one, embedder=_Fixed(QUERY)) as single:
        want = {str(s): single.search(QUERY, k=5, diversity=s) for s in settings}
        want_text = single.search("alpha rec", k=5, diversity={"mmr": 0.3})
    with vpack.open(tmp_path / "all.vpackset", embedder=_Fixed(QUERY)) as joined:
        for s in settings:
            got = joined.search(QUERY, k=5, diversity=s)
            assert [(h.id, h.score) for h in got] == [(h.id, h.score) for h in want[str(s)]], s
        got = joined.search("alpha rec", k=5, diversity={"mmr": 0.3})  # auto: hybrid on the set
        assert [(h.id, h.score) for h in got] == [(h.id, h.score) for h in want_text]
        assert _ids(want[str({"mmr": 0.3})]) != _ids(joined.search(QUERY, k=5))  # MMR did reorder


class _Reverse:
    """A reranker that puts the first stage's order upside down."""

    def rerank(self, query: str, hits: Sequence[vpack.Hit]) -> List[float]:
        return [float(i) for i in range(len(hits))]


def test_a_reranker_reads_the_diversified_candidates(pack: vpack.Pack) -> None:
    candidates = pack.search("alpha", k=4, mode="dense", diversity="section")
    assert _ids(candidates) == [0, 3, 4, 5]
    hits = pack.search("alpha", k=4, mode="dense", diversity="section", rerank=_Reverse(), rerank_depth=4)
    assert _ids(hits) == [5, 4, 3, 0]
    assert [h.first_stage_rank for h in hits] == [4, 3, 2, 1]  # type: ignore[attr-defined]


def test_bad_settings_are_invalid_arguments(pack: vpack.Pack) -> None:
    for bad, message in (
        ("sections", "expected 'off', 'section'"),
        ({"mmr": 1.5}, "lambda"),
        ({"collapse": "section", "per_group": 0}, "per_group"),
        ({"collapse": "section", "bogus": 1}, "unknown key 'bogus'"),
        ({"per_group": 2}, "needs collapse or mmr"),
        ({"mmr": 0.5, "candidates": True}, "candidates"),
        (3, "expected 'off'"),
    ):
        with pytest.raises(vpack.InvalidArgumentError, match=message) as info:
            pack.search(QUERY, k=3, diversity=bad)
        assert info.value.code == 2


def test_command_line_spec() -> None:
    assert parse_spec("off") is None
    assert parse_spec("section") == Diversity(collapse="section")
    assert parse_spec("mmr") == Diversity(mmr=0.7)
    assert parse_spec("section, mmr=0.5") == Diversity(collapse="section", mmr=0.5)
    assert parse_spec("collapse=path,per_group=2,candidates=80") == Diversity("path", 2, None, 80)
    assert parse_spec('{"collapse": "document", "mmr": 1}') == Diversity("document", 1, 1)
    assert parse({"mmr": 0.2}) == Diversity(mmr=0.2)
    for bad in ("mmr=x", "lambda=0.5", "sections", "{bad json", "per_group=2"):
        with pytest.raises(vpack.InvalidArgumentError, match="diversity"):
            parse_spec(bad)


def test_vpack_query_diversity(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    long = " ".join(f"Reading a file line {i} means looping over the file object." for i in range(12))
    (docs / "files.md").write_text(f"# Reading files\n\n{long}\n\n# Writing files\n\nWrite a file.\n")
    (docs / "other.md").write_text("# Lines\n\nA file has lines; read each line of the file.\n")
    out = tmp_path / "d.vpack"
    build = [str(VPACK), "build", str(docs), "-o", str(out), "--embedder", "hash", "--chunk-size", "120"]
    subprocess.run(build, check=True, capture_output=True, timeout=120)

    def query(*flags: str) -> List[Dict[str, Any]]:
        cmd = [str(VPACK), "query", str(out), "read a file line by line", "-k", "3", "--json", *flags]
        hits: List[Dict[str, Any]] = json.loads(subprocess.run(cmd, check=True, capture_output=True).stdout)
        return hits

    def sections(hits: List[Dict[str, Any]]) -> List[Tuple[str, str]]:
        return [(h["metadata"]["path"], h["metadata"]["section"]) for h in hits]

    plain = sections(query())
    assert len(set(plain)) < 3  # the long section crowds the top 3
    spread = sections(query("--diversity", "section"))
    assert len(set(spread)) == 3 and spread[0] == plain[0]
    assert len(query("--diversity", "collapse=path")) == 2  # two files, two hits
    assert len(set(sections(query("--diversity", "section,mmr=0.5")))) == 3
    bad = subprocess.run(
        [str(VPACK), "query", str(out), "x", "--diversity", "mmr=2"], capture_output=True, text=True
    )
    assert bad.returncode == 1 and "lambda" in bad.stderr and "[code 2]" in bad.stderr
