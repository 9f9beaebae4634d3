"""The reranker plugin kind: rerankers found through real ``vpack.plugins`` entry points
(a distribution's dist-info on sys.path), used by ``Pack.search(rerank=)`` on packs and
pack sets built from real files, and by ``vpack query --rerank``."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import numpy as np
import pytest

import vpack
from vpack import registry
from vpack.plugins import Reranker
from vpack.rerank import DEFAULT_RERANK_DEPTH, RerankedHit, RerankError

VPACK = Path(sys.executable).with_name("vpack")

# The plugin distribution: one module and its dist-info, as pip would install them.
PLUGIN_MODULE = '''\
"""Rerankers for vpack's tests."""

import math

import numpy as np

calls = []  # (class name, query, [hit ids]) per rerank call
made = []  # every reranker object created
closed = []


class _Recorded:
    def __init__(self):
        made.append(self)

    def rerank(self, query, hits):
        calls.append((type(self).__name__, query, [h.id for h in hits]))
        return self.scores(query, hits)


class PreferBread(_Recorded):
    """1 for a chunk that mentions bread, 0 otherwise."""

    def scores(self, query, hits):
        return [1 if "bread" in h.text.lower() else 0 for h in hits]


class Reverse(_Recorded):
    """The first stage's order, reversed (a numpy array of scores)."""

    def scores(self, query, hits):
        return np.arange(len(hits), dtype=np.float32)

    def close(self):
        closed.append(self)


class TooFew(_Recorded):
    def scores(self, query, hits):
        return [1.0] * (len(hits) - 1)


class NotANumber(_Recorded):
    def scores(self, query, hits):
        return [math.nan if i == 1 else 0.5 for i in range(len(hits))]


class Labels(_Recorded):
    def scores(self, query, hits):
        return ["good" for _ in hits]


class NoMethod:
    pass
'''

ENTRY_POINTS = """\
[vpack.plugins]
reranker.prefer-bread = vpack_test_rerankers:PreferBread
reranker.reverse = vpack_test_rerankers:Reverse
reranker.too-few = vpack_test_rerankers:TooFew
reranker.nan = vpack_test_rerankers:NotANumber
reranker.labels = vpack_test_rerankers:Labels
reranker.no-method = vpack_test_rerankers:NoMethod
"""

NAMES = ["labels", "nan", "no-method", "prefer-bread", "reverse", "too-few"]

# Chunks of real files: one per file (each is short). Several mention files and
# reading; one mentions bread among them, and the guide folder holds two.
CORPUS = {
    "read-lines.md": "Reading a file line by line: open the file and iterate over it.",
    "read-bytes.md": "Reading a file as bytes: open the file in binary mode and read it.",
    "read-csv.md": "Reading a CSV file: the csv module reads a file row by row.",
    "write-file.md": "Writing a file: open the file for writing and write the text.",
    "bread.md": "Sourdough bread needs flour, water, salt and a patient baker.",
    "birds.txt": "Many birds migrate south in autumn, flying thousands of kilometres.",
    "guide/install.md": "Installing: run pip install to set up the package, then read the guide file.",
    "guide/bake.md": "Bake the bread at two hundred degrees; read the oven's manual file first.",
    "notes/rivers.txt": "Rivers carry water from the mountains to the sea.",
    "notes/stars.txt": "Stars are suns, far away; their light is old when it reaches us.",
}
QUERY = "read a file"


@pytest.fixture()
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tuple[Path, ModuleType]]:
    """The test rerankers installed as a distribution on sys.path (its dist-info declares
    the entry points); yields its folder and its module."""
    site = tmp_path / "site"
    info = site / "vpack_test_rerankers-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: vpack-test-rerankers\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    (site / "vpack_test_rerankers.py").write_text(PLUGIN_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))  # (also invalidates the import caches)
    import vpack_test_rerankers

    yield site, vpack_test_rerankers
    sys.modules.pop("vpack_test_rerankers", None)


def _write_corpus(root: Path, files: Dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    return root


@pytest.fixture()
def pack_path(tmp_path: Path) -> Path:
    """A pack of the corpus, one chunk per file, with the hash embedder and BM25."""
    out = tmp_path / "corpus.vpack"
    source = _write_corpus(tmp_path / "corpus", CORPUS)
    vpack.build(source, out, embedder="hash", index={"kind": "flat", "lexical": {}}).pack.close()
    return out


def _paths(hits: Sequence[vpack.Hit]) -> List[str]:
    return [h.metadata["path"] for h in hits]


def test_rerankers_are_a_plugin_kind_found_through_entry_points(plugins: Tuple[Path, ModuleType]) -> None:
    assert "reranker" in registry.KINDS
    found = registry.available("reranker")
    assert sorted(found) == NAMES
    assert found["reverse"] == "vpack_test_rerankers:Reverse"
    made = registry.create("reranker", "prefer-bread")
    assert isinstance(made, Reranker)
    assert not isinstance(registry.create("reranker", "no-method"), Reranker)


def test_a_reranker_reorders_the_candidates(plugins: Tuple[Path, ModuleType], pack_path: Path) -> None:
    _, module = plugins
    with vpack.open(pack_path) as pack:
        plain = pack.search(QUERY, k=len(CORPUS))
        assert len(plain) == len(CORPUS) == len(pack)
        bread = [h for h in plain if "bread" in h.text.lower()]
        others = [h for h in plain if "bread" not in h.text.lower()]
        assert len(bread) == 2 and plain[0] not in bread  # so the order must change

        hits = pack.search(QUERY, k=4, rerank="prefer-bread")
        # The bread chunks first, then the rest; each group keeps the first stage's order.
        assert [h.id for h in hits] == [h.id for h in (bread + others)[:4]]
        assert [h.score for h in hits] == [1.0, 1.0, 0.0, 0.0]
        assert all(isinstance(h, RerankedHit) and isinstance(h, vpack.Hit) for h in hits)
        rank = {h.id: n for n, h in enumerate(plain, 1)}
        first = {h.id: h.score for h in plain}
        for h in hits:
            assert h.first_stage_rank == rank[h.id]
            assert h.first_stage_score == first[h.id]
            assert (h.text, h.metadata) == (pack.chunk(h.id).text, pack.chunk(h.id).metadata)
        # The reranker saw the query and every candidate (all 10: fewer than the default depth).
        assert module.calls == [("PreferBread", QUERY, [h.id for h in plain])]


def test_k_and_rerank_depth_are_honoured(plugins: Tuple[Path, ModuleType], pack_path: Path) -> None:
    _, module = plugins
    with vpack.open(pack_path) as pack:
        plain = [h.id for h in pack.search(QUERY, k=len(CORPUS))]
        # Reverse ranks the last candidate first: the depth decides which that is.
        hits = pack.search(QUERY, k=3, rerank="reverse", rerank_depth=6)
        assert [h.id for h in hits] == plain[5:2:-1]
        assert [h.first_stage_rank for h in hits] == [6, 5, 4]
        assert [h.score for h in hits] == [5.0, 4.0, 3.0]
        assert module.calls[-1][2] == plain[:6]
        # A depth below k fetches k.
        hits = pack.search(QUERY, k=4, rerank="reverse", rerank_depth=2)
        assert [h.id for h in hits] == plain[3::-1]
        assert module.calls[-1][2] == plain[:4]
        # The default depth is 50: every chunk of this pack.
        assert DEFAULT_RERANK_DEPTH == 50
        hits = pack.search(QUERY, k=2, rerank="reverse")
        assert [h.id for h in hits] == [plain[-1], plain[-2]]
        assert module.calls[-1][2] == plain
        # k = 0, or no candidate at all: nothing to rerank, and the reranker is not called.
        calls = len(module.calls)
        assert pack.search(QUERY, k=0, rerank="reverse") == []
        assert pack.search(QUERY, k=3, rerank="reverse", filter={"path": "nowhere/*"}) == []
        assert len(module.calls) == calls


def test_filters_and_modes_apply_to_the_first_stage(
    plugins: Tuple[Path, ModuleType], pack_path: Path
) -> None:
    _, module = plugins
    with vpack.open(pack_path) as pack:
        guide = {"path": "guide/**"}
        plain = pack.search(QUERY, k=10, filter=guide)
        assert sorted(_paths(plain)) == ["guide/bake.md", "guide/install.md"]
        hits = pack.search(QUERY, k=10, filter=guide, rerank="reverse")
        assert [h.id for h in hits] == [h.id for h in reversed(plain)]
        assert module.calls[-1][2] == [h.id for h in plain]

        for mode in ("lexical", "hybrid"):
            first = pack.search("bread oven", k=10, mode=mode)
            hits = pack.search("bread oven", k=10, mode=mode, rerank="reverse")
            assert [h.id for h in hits] == [h.id for h in reversed(first)]
            assert [h.first_stage_score for h in hits] == [h.score for h in reversed(first)]
        lexical = pack.search("bread", k=10, mode="lexical")
        assert sorted(_paths(lexical)) == ["bread.md", "guide/bake.md"]  # only chunks with the term


def test_pack_sets_rerank_like_one_pack(plugins: Tuple[Path, ModuleType], tmp_path: Path) -> None:
    names = sorted(CORPUS)
    shards = []
    for i in range(2):
        half = _write_corpus(tmp_path / f"half{i}", {rel: CORPUS[rel] for rel in names[i::2]})
        out = tmp_path / "set" / f"part-{i}.vpack"
        out.parent.mkdir(exist_ok=True)
        vpack.build(half, out, embedder="hash").pack.close()
        shards.append(out)
    set_path = tmp_path / "set" / "corpus.vpackset"
    vpack.write_set(set_path, shards)
    with vpack.open(set_path) as pack:
        assert pack.shards == ["part-0.vpack", "part-1.vpack"]
        plain = pack.search(QUERY, k=10)
        assert len(plain) == 10
        hits = pack.search(QUERY, k=3, rerank="prefer-bread", rerank_depth=10)
        assert sorted(_paths(hits[:2])) == ["bread.md", "guide/bake.md"]
        assert _paths(hits[2:]) == [p for p in _paths(plain) if "bake" not in p and "bread" not in p][:1]
        for h in hits:  # global ids across the shards
            assert pack.chunk(h.id).text == h.text
        reversed_ = pack.search(QUERY, k=10, rerank="reverse")
        assert [h.id for h in reversed_] == [h.id for h in reversed(plain)]


class Scores:
    """A reranker object (not registered) returning what it is given."""

    def __init__(self, make: Any) -> None:
        self.make = make

    def rerank(self, query: str, hits: Sequence[vpack.Hit]) -> Any:
        return self.make(len(hits))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda n: [1.0] * (n + 1), r"returned 11 scores for 10 hits; it must return one score per hit"),
        (lambda n: [], r"returned 0 scores for 10 hits"),
        (
            lambda n: [0.0] * (n - 1) + [math.nan],
            r"returned nan as the score of hit 9; scores must be finite",
        ),
        (lambda n: [math.inf] + [0.0] * (n - 1), r"returned inf as the score of hit 0"),
        (lambda n: np.full(n, -np.inf), r"returned -inf as the score of hit 0"),
        (lambda n: [1.0, "2.0"] + [0.0] * (n - 2), r"returned a str \('2.0'\) as the score of hit 1"),
        (lambda n: [None] * n, r"returned a NoneType \(None\) as the score of hit 0"),
        (lambda n: [True] * n, r"returned a bool \(True\) as the score of hit 0"),
        (lambda n: np.ones(n, dtype=bool), r"returned an array of bool; scores must be real numbers"),
        (lambda n: np.ones((n, 1)), r"returned an array of shape \(10, 1\)"),
        (lambda n: [complex(1, 1)] * n, r"returned a complex"),
        (lambda n: None, r"returned a NoneType; it must return a sequence of scores"),
        (lambda n: 1.0, r"returned a float; it must return a sequence of scores"),
        (lambda n: "1" * n, r"returned a str; it must return a sequence of scores"),
        (lambda n: {i: 1.0 for i in range(n)}, r"returned a dict; it must return a sequence"),
    ],
)
def test_a_broken_reranker_is_a_clear_error(pack_path: Path, make: Any, message: str) -> None:
    with (
        vpack.open(pack_path) as pack,
        pytest.raises(RerankError, match=f"^reranker Scores {message}") as caught,
    ):
        pack.search(QUERY, k=3, rerank=Scores(make), rerank_depth=10)
    err = caught.value
    assert err.code == 2 and isinstance(err, vpack.InvalidArgumentError) and isinstance(err, ValueError)
    assert str(err).endswith("[code 2]")


def test_good_scores_of_any_real_type_are_accepted(pack_path: Path) -> None:
    with vpack.open(pack_path) as pack:
        order = pack.search(QUERY, k=10)
        for make in (
            lambda n: list(range(n)),  # ints
            lambda n: tuple(float(i) for i in range(n)),
            lambda n: (i for i in range(n)),  # any iterable
            lambda n: np.arange(n, dtype=np.int64),
            lambda n: np.arange(n, dtype=np.float16),
            lambda n: [np.float32(i) for i in range(n)],
        ):
            hits = pack.search(QUERY, k=10, rerank=Scores(make))
            assert [h.id for h in hits] == [h.id for h in reversed(order)]
            assert [h.score for h in hits] == [float(i) for i in range(9, -1, -1)]
            assert all(type(h.score) is float for h in hits)


def test_registered_broken_rerankers_name_themselves(
    plugins: Tuple[Path, ModuleType], pack_path: Path
) -> None:
    with vpack.open(pack_path) as pack:
        with pytest.raises(RerankError, match=r"^reranker 'too-few' returned 9 scores for 10 hits"):
            pack.search(QUERY, rerank="too-few")
        with pytest.raises(RerankError, match=r"^reranker 'nan' returned nan as the score of hit 1"):
            pack.search(QUERY, rerank="nan")
        with pytest.raises(RerankError, match=r"^reranker 'labels' returned a str \('good'\)"):
            pack.search(QUERY, rerank="labels")
        with pytest.raises(
            registry.PluginLoadError, match=r"'no-method' made a NoMethod, which has no rerank"
        ):
            pack.search(QUERY, rerank="no-method")


def test_a_reranker_cannot_reorder_what_it_scores(pack_path: Path) -> None:
    class Meddler:
        def rerank(self, query: str, hits: Any) -> List[float]:
            with pytest.raises((TypeError, AttributeError)):
                hits.reverse()
            return [0.0] * len(hits)

    with vpack.open(pack_path) as pack:
        plain = pack.search(QUERY, k=5)
        assert [h.id for h in pack.search(QUERY, k=5, rerank=Meddler())] == [h.id for h in plain]


def test_a_reranker_failure_propagates_unchanged(pack_path: Path) -> None:
    class Failing:
        def rerank(self, query: str, hits: Sequence[vpack.Hit]) -> List[float]:
            raise ConnectionError("the reranking service is down")

    with vpack.open(pack_path) as pack, pytest.raises(ConnectionError, match="service is down"):
        pack.search(QUERY, rerank=Failing())


def test_bad_arguments_fail_before_anything_runs(plugins: Tuple[Path, ModuleType], pack_path: Path) -> None:
    _, module = plugins
    with vpack.open(pack_path) as pack:
        vector = np.ones(pack.dimension, np.float32)
        with pytest.raises(ValueError, match="reranking needs a text query"):
            pack.search(vector, rerank="reverse")
        with pytest.raises(ValueError, match="rerank_depth needs rerank="):
            pack.search(QUERY, rerank_depth=5)
        for bad in (0, -1, 2.5, True, "10"):
            with pytest.raises(vpack.InvalidArgumentError, match="rerank_depth must be a positive integer"):
                pack.search(QUERY, rerank="reverse", rerank_depth=bad)  # type: ignore[arg-type]
        with pytest.raises(vpack.LimitExceededError):
            pack.search(QUERY, rerank="reverse", rerank_depth=(1 << 20) + 1)
        with pytest.raises(registry.PluginNotFoundError) as caught:
            pack.search(QUERY, rerank="revers")
        assert str(caught.value) == f"no reranker plugin named 'revers' (available: {', '.join(NAMES)})"
        with pytest.raises(TypeError, match=r"rerank must be a reranker .* got int"):
            pack.search(QUERY, rerank=3)  # type: ignore[arg-type]
        assert module.calls == [] and module.made == []
        # A depth of numpy's integer type is an integer.
        assert len(pack.search(QUERY, k=2, rerank="reverse", rerank_depth=np.int64(3))) == 2


def test_a_named_reranker_is_made_once_per_pack_and_closed_with_it(
    plugins: Tuple[Path, ModuleType], pack_path: Path
) -> None:
    _, module = plugins
    with vpack.open(pack_path) as pack:
        pack.search(QUERY, rerank="reverse")
        pack.search("birds", rerank="reverse")
        pack.search(QUERY, rerank="prefer-bread")
        assert [type(m).__name__ for m in module.made] == ["Reverse", "PreferBread"]
        assert module.closed == []
    assert module.closed == [module.made[0]]  # PreferBread has no close(): not called
    with vpack.open(pack_path) as pack:
        pack.search(QUERY, rerank="reverse")
    assert len(module.made) == 3 and module.closed == [module.made[0], module.made[2]]
    with pytest.raises(ValueError, match="closed"):
        pack.search(QUERY, rerank="reverse")


def test_reranked_hits_carry_both_scores(pack_path: Path) -> None:
    with vpack.open(pack_path) as pack:
        hit = pack.search(QUERY, k=1, rerank=Scores(lambda n: [0.25] + [0.0] * (n - 1)))[0]
        plain = pack.search(QUERY, k=1)[0]
    assert (hit.id, hit.score, hit.first_stage_score, hit.first_stage_rank) == (
        plain.id,
        0.25,
        plain.score,
        1,
    )
    assert hit.to_dict() == {
        "id": plain.id,
        "score": 0.25,
        "text": plain.text,
        "metadata": plain.metadata,
        "first_stage_score": plain.score,
        "first_stage_rank": 1,
    }
    assert pickle.loads(pickle.dumps(hit)) == hit
    again = RerankedHit(plain.id, 0.25, plain.text, plain.metadata, plain.score, 1)
    assert again == hit and again != RerankedHit(plain.id, 0.25, plain.text, plain.metadata, plain.score, 2)
    assert hit != plain and plain != hit
    assert repr(hit).startswith(f"RerankedHit(id={plain.id}, score=0.25, ")
    assert repr(hit).endswith(f"first_stage_score={plain.score!r}, first_stage_rank=1)")
    assert RerankedHit.__match_args__ == (*vpack.Hit.__match_args__, "first_stage_score", "first_stage_rank")


# The command line


def _cli(site: Path, *args: str) -> subprocess.CompletedProcess:
    assert VPACK.exists(), f"the vpack command is not installed at {VPACK}"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    return subprocess.run([str(VPACK), *args], capture_output=True, text=True, timeout=120, env=env)


def test_cli_query_rerank(plugins: Tuple[Path, ModuleType], pack_path: Path) -> None:
    site, _ = plugins
    plain = _cli(site, "query", str(pack_path), QUERY, "-k", "10", "--json")
    assert plain.returncode == 0, plain.stderr
    first = json.loads(plain.stdout)
    proc = _cli(site, "query", str(pack_path), QUERY, "-k", "3", "--rerank", "prefer-bread", "--json")
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert sorted(h["metadata"]["path"] for h in hits[:2]) == ["bread.md", "guide/bake.md"]
    assert [h["score"] for h in hits] == [1.0, 1.0, 0.0]
    by_path = {h["metadata"]["path"]: (n, h["score"]) for n, h in enumerate(first, 1)}
    for h in hits:
        assert (h["first_stage_rank"], h["first_stage_score"]) == by_path[h["metadata"]["path"]]
    assert first[0]["metadata"]["path"] not in ("bread.md", "guide/bake.md")

    proc = _cli(site, "query", str(pack_path), QUERY, "-k", "2", "--rerank", "reverse", "--rerank-depth", "4")
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line[:1].isdigit()]
    assert len(lines) == 2
    for line, rank, place in zip(lines, (1, 2), (4, 3)):
        shown = first[place - 1]
        assert line.startswith(f"{rank}. {4 - rank:.4f}  {shown['metadata']['path']} ")
        assert line.endswith(f"]  (first stage: #{place}, {shown['score']:.4f})")
    proc = _cli(site, "query", str(pack_path), QUERY, "--rerank", "reverse", "--where", "path=guide/*")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("(first stage: #") == 2 and "guide/" in proc.stdout


def test_cli_rerank_errors(plugins: Tuple[Path, ModuleType], pack_path: Path) -> None:
    site, _ = plugins
    proc = _cli(site, "query", str(pack_path), QUERY, "--rerank", "nope")
    assert proc.returncode == 1
    assert proc.stderr == f"vpack: error: no reranker plugin named 'nope' (available: {', '.join(NAMES)})\n"
    proc = _cli(site, "query", str(pack_path), QUERY, "--rerank", "too-few")
    assert proc.returncode == 1
    assert proc.stderr.startswith("vpack: error: reranker 'too-few' returned 9 scores for 10 hits")
    assert proc.stderr.endswith("[code 2]\n") and proc.stdout == ""
    proc = _cli(site, "query", str(pack_path), QUERY, "--rerank-depth", "5")
    assert proc.returncode == 1 and proc.stderr == "vpack: error: --rerank-depth needs --rerank NAME\n"
    proc = _cli(site, "query", str(pack_path), QUERY, "--rerank", "reverse", "--rerank-depth", "0")
    assert proc.returncode == 2 and "must be a positive integer" in proc.stderr


def test_cli_plugins_lists_every_kind(plugins: Tuple[Path, ModuleType]) -> None:
    site, _ = plugins
    proc = _cli(site, "plugins")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line for line in lines if not line.startswith(" ")] == [f"{k}:" for k in registry.KINDS]
    rerankers = lines[lines.index("reranker:") + 1 :]
    assert rerankers[NAMES.index("reverse")].split() == ["reverse", "vpack_test_rerankers:Reverse"]
    assert len(rerankers) == len(NAMES)
    proc = _cli(site, "plugins", "reranker", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"reranker": registry.available("reranker")}
    proc = _cli(site, "plugins", "bogus")
    assert proc.returncode == 2 and "invalid choice: 'bogus'" in proc.stderr


def test_cli_plugins_with_no_reranker_installed(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "plugins", "reranker")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "reranker:\n  (none installed)\n"
