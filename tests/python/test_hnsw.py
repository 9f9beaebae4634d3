"""HNSW packs from Python: index options (PackBuilder, vpack.build, vpack.toml, the CLI),
what the manifest records, recall against an exact pack of the same vectors, the search
effort ``ef``, filters, and the stored vectors read in place (``Pack.vectors``)."""

from __future__ import annotations

import gc
import json
import pickle
import re
import threading
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pytest

import vpack
from vpack import cli, config, errors
from vpack.builder import PackBuilder

from .conftest import RECORDED_LEXICAL

N, DIM, K = 2000, 32, 10


def clustered(n: int, dim: int, seed: int, clusters: int = 25, spread: float = 0.35) -> np.ndarray:
    """Points around random cluster centres (the shape real embeddings have); the same
    centres for every seed, so queries drawn with another seed fall among the data."""
    centres = np.random.default_rng(1234).standard_normal((clusters, dim))
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, clusters, n)
    return (centres[labels] + spread * rng.standard_normal((n, dim))).astype(np.float32)


DATA = clustered(N, DIM, seed=0)
QUERIES = clustered(100, DIM, seed=1)
META = [{"i": i, "group": i % 7, "rare": i % 200 == 0} for i in range(N)]


def make_pack(index: Any = None, data: np.ndarray = DATA, metric: str = "cosine", **kw: Any) -> vpack.Pack:
    b = PackBuilder(data.shape[1], metric=metric, index=index, **kw)
    b.add([f"chunk {i}" for i in range(len(data))], data, META[: len(data)])
    return b.finish({"title": "clustered"})


@pytest.fixture(scope="module")
def flat_pack() -> Iterator[vpack.Pack]:
    with make_pack("flat") as pack:
        yield pack


@pytest.fixture(scope="module")
def hnsw_pack() -> Iterator[vpack.Pack]:
    with make_pack("hnsw") as pack:
        yield pack


def ids_of(hits: List[vpack.Hit]) -> List[int]:
    return [h.id for h in hits]


def recall(pack: vpack.Pack, truth: List[List[int]], ef: Optional[int] = None, k: int = K) -> float:
    found = 0
    for q, true_ids in zip(QUERIES, truth):
        found += len(set(ids_of(pack.search(q, k=k, ef=ef))) & set(true_ids))
    return found / sum(len(t) for t in truth)


@pytest.fixture(scope="module")
def truth(flat_pack: vpack.Pack) -> List[List[int]]:
    return [ids_of(flat_pack.search(q, k=K)) for q in QUERIES]


def test_manifest_records_the_index(flat_pack: vpack.Pack, hnsw_pack: vpack.Pack) -> None:
    assert flat_pack.manifest["index"] == {"kind": "flat"}
    assert hnsw_pack.manifest["index"] == {"kind": "hnsw", "m": 16, "ef_construction": 200, "ef_search": 64}
    with make_pack({"kind": "hnsw", "m": 8, "ef_construction": 50, "ef_search": 30}, DATA[:300]) as pack:
        assert pack.manifest["index"] == {"kind": "hnsw", "m": 8, "ef_construction": 50, "ef_search": 30}
    with make_pack(None, DATA[:10]) as pack:  # the default
        assert pack.manifest["index"] == {"kind": config.DEFAULT_INDEX} == {"kind": "flat"}
    with make_pack({"m": 8}, DATA[:10]) as pack:  # a mapping without kind: the default kind
        assert pack.manifest["index"]["kind"] == "flat"


def test_auto_picks_flat_for_small_packs() -> None:
    with make_pack("auto", DATA[:500]) as pack:
        index = pack.manifest["index"]
        assert index["kind"] == "flat"
        assert "auto" in index["chosen_by"] and "50000" in index["chosen_by"]
        assert ids_of(pack.search(QUERIES[0], k=5)) == ids_of(pack.search(QUERIES[0], k=5, ef=1))


def test_recall_against_exact_search(hnsw_pack: vpack.Pack, truth: List[List[int]]) -> None:
    assert recall(hnsw_pack, truth) >= 0.9
    # Scores are the same similarities the exact pack computes.
    exact = make_pack("flat", DATA[:50])
    approx = make_pack("hnsw", DATA[:50])
    with exact, approx:
        a, b = exact.search(QUERIES[0], k=5), approx.search(QUERIES[0], k=5)
        assert ids_of(a) == ids_of(b)  # 50 chunks: the walk sees them all
        assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-5)


def test_ef_trades_speed_for_recall(hnsw_pack: vpack.Pack, truth: List[List[int]]) -> None:
    low, default, high = (
        recall(hnsw_pack, truth, ef=1),
        recall(hnsw_pack, truth),
        recall(hnsw_pack, truth, ef=400),
    )
    assert low <= default <= high
    assert high >= 0.99
    assert low < high
    q = QUERIES[3]
    # None and 0 both mean the ef_search the pack records (64).
    assert ids_of(hnsw_pack.search(q, k=K)) == ids_of(hnsw_pack.search(q, k=K, ef=0))
    assert ids_of(hnsw_pack.search(q, k=K)) == ids_of(hnsw_pack.search(q, k=K, ef=64))
    assert ids_of(hnsw_pack.search(q, k=K, ef=np.int64(400))) == ids_of(hnsw_pack.search(q, k=K, ef=400))
    # k above ef still gives k hits.
    assert len(hnsw_pack.search(q, k=50, ef=5)) == 50


def test_ef_search_recorded_in_the_pack_is_the_default() -> None:
    with (
        make_pack({"kind": "hnsw", "ef_search": 1}) as low,
        make_pack({"kind": "hnsw", "ef_search": 300}) as high,
    ):
        for q in QUERIES[:20]:
            assert ids_of(low.search(q, k=K)) == ids_of(low.search(q, k=K, ef=1))
            assert ids_of(high.search(q, k=K)) == ids_of(high.search(q, k=K, ef=300))


def test_flat_packs_ignore_ef(flat_pack: vpack.Pack) -> None:
    q = QUERIES[0]
    assert ids_of(flat_pack.search(q, k=K, ef=1)) == ids_of(flat_pack.search(q, k=K))


@pytest.mark.parametrize(
    "flt",
    [{"group": 3}, {"rare": True}, {"i": {"$lt": 5}}, {"i": {"$in": [7, 1999, 1000]}}, {"i": -1}],
)
def test_filters_on_hnsw_packs(flat_pack: vpack.Pack, hnsw_pack: vpack.Pack, flt: Dict[str, Any]) -> None:
    """k hits whenever k chunks match, each matching; when fewer than k match, all of
    them (the walk falls back to an exact filtered scan)."""
    matching = [m["i"] for m in META if all(_matches(m, key, want) for key, want in flt.items())]
    for q in QUERIES[:10]:
        hits = hnsw_pack.search(q, k=K, filter=flt)
        assert len(hits) == min(K, len(matching))
        assert all(h.metadata["i"] in matching for h in hits)
        if len(matching) <= K:
            assert sorted(ids_of(hits)) == sorted(matching)
            assert ids_of(hits) == ids_of(flat_pack.search(q, k=K, filter=flt))
        # Best first, whatever path the search took.
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)


def _matches(meta: Dict[str, Any], key: str, want: Any) -> bool:
    value = meta[key]
    if isinstance(want, dict):
        if "$lt" in want:
            return bool(value < want["$lt"])
        return value in want["$in"]
    return bool(value == want)


def test_rare_filter_recall(flat_pack: vpack.Pack, hnsw_pack: vpack.Pack) -> None:
    flt = {"group": 3}  # 1 chunk in 7
    found = total = 0
    for q in QUERIES[:30]:
        true_ids = set(ids_of(flat_pack.search(q, k=K, filter=flt)))
        found += len(true_ids & set(ids_of(hnsw_pack.search(q, k=K, filter=flt))))
        total += len(true_ids)
    assert found / total >= 0.9


def test_other_metrics(truth: List[List[int]]) -> None:
    for metric in ("dot", "l2"):
        with make_pack("flat", metric=metric) as exact, make_pack("hnsw", metric=metric) as approx:
            true_ids = [ids_of(exact.search(q, k=K)) for q in QUERIES[:50]]
            found = sum(
                len(set(ids_of(approx.search(q, k=K))) & set(t)) for q, t in zip(QUERIES[:50], true_ids)
            )
            assert found / (50 * K) >= 0.9, metric


def test_hnsw_pack_bytes_do_not_depend_on_threads_and_round_trip(tmp_path: Path) -> None:
    one = make_pack({"kind": "hnsw", "threads": 1}, DATA[:800])
    two = make_pack({"kind": "hnsw", "threads": 2}, DATA[:800])
    with one, two:
        data = one.to_bytes()
        assert data == two.to_bytes()
        one.save(tmp_path / "h.vpack")
    with vpack.open(tmp_path / "h.vpack", verify=True) as opened, vpack.Pack.from_bytes(data) as copy:
        q = QUERIES[5]
        assert ids_of(opened.search(q, k=K)) == ids_of(copy.search(q, k=K))
        assert opened.manifest["index"]["kind"] == "hnsw"


def test_tiny_and_empty_hnsw_packs() -> None:
    with make_pack("hnsw", DATA[:1]) as one:
        assert ids_of(one.search(QUERIES[0], k=5)) == [0]
    with PackBuilder(DIM, index="hnsw").finish() as empty:
        assert empty.search(QUERIES[0], k=5) == []
        assert empty.vectors.shape == (0, DIM)
        assert empty.manifest["index"]["kind"] == "hnsw"


@pytest.mark.parametrize(
    ("index", "error", "message"),
    [
        ("ivf", errors.InvalidArgumentError, "index kind"),
        ({"kind": "hnsw", "m": 1}, errors.InvalidArgumentError, "m must be in 2..=256"),
        ({"kind": "hnsw", "m": 257}, errors.InvalidArgumentError, "m must be in 2..=256"),
        ({"kind": "hnsw", "ef_construction": 0}, errors.InvalidArgumentError, "ef_construction"),
        ({"kind": "hnsw", "ef_construction": 70000}, errors.InvalidArgumentError, "ef_construction"),
        ({"kind": "hnsw", "ef_search": 0}, errors.InvalidArgumentError, "ef_search"),
        ({"kind": "auto", "ef_search": 65537}, errors.InvalidArgumentError, "ef_search"),
        ({"kind": "hnsw", "size": 3}, errors.InvalidJSONError, "size"),
        ({"kind": "hnsw", "m": "16"}, errors.InvalidJSONError, None),
        ({"kind": "hnsw", "m": 16.5}, errors.InvalidJSONError, None),
        ({"kind": "hnsw", "m": -2}, errors.InvalidJSONError, None),
        ({"kind": 3}, errors.InvalidJSONError, None),
        (5, errors.InvalidJSONError, "index must be a kind"),
        (["hnsw"], errors.InvalidJSONError, "index must be a kind"),
        ({"kind": "hnsw", "m": float("nan")}, errors.InvalidJSONError, None),
        ({"kind": "hnsw", "m": object()}, errors.InvalidJSONError, "not JSON-serialisable"),
    ],
)
def test_bad_index_options(index: Any, error: type, message: Optional[str]) -> None:
    with pytest.raises(error, match=message) as info:
        PackBuilder(DIM, index=index)
    assert isinstance(info.value, errors.VPackError)
    assert info.value.code == error.code  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("ef", "message"),
    [
        (-1, "non-negative"),
        (65537, "ef must be in 1..=65536"),
        (1.5, "integer"),
        ("64", "integer"),
        (True, None),
    ],
)
def test_bad_ef(hnsw_pack: vpack.Pack, flat_pack: vpack.Pack, ef: Any, message: Optional[str]) -> None:
    for pack in (hnsw_pack, flat_pack):
        with pytest.raises(errors.InvalidArgumentError, match=message) as info:
            pack.search(QUERIES[0], k=3, ef=ef)
        assert info.value.code == 2
        assert isinstance(info.value, ValueError)


# Pack.vectors


def test_vectors_are_the_stored_rows(flat_pack: vpack.Pack, hnsw_pack: vpack.Pack) -> None:
    normalised = DATA / np.linalg.norm(DATA, axis=1, keepdims=True)
    for pack in (flat_pack, hnsw_pack):
        rows = pack.vectors
        assert rows.shape == (N, DIM) and rows.dtype == np.float32
        assert np.allclose(rows, normalised, atol=1e-6)
        assert pack.vectors is rows  # one view per open pack
    with make_pack("flat", DATA[:100], metric="dot") as dot, make_pack("hnsw", DATA[:100], metric="l2") as l2:
        assert np.array_equal(dot.vectors, DATA[:100])  # stored as given
        assert np.array_equal(l2.vectors, DATA[:100])


def test_vectors_are_read_only_and_not_copied(flat_pack: vpack.Pack) -> None:
    rows = flat_pack.vectors
    assert not rows.flags.writeable and not rows.flags.owndata
    with pytest.raises(ValueError, match="read-only"):
        rows[0, 0] = 1.0
    with pytest.raises(ValueError):
        rows.flags.writeable = True
    view = rows[10:20]
    with pytest.raises(ValueError):
        view.flags.writeable = True
    again = flat_pack.vectors[5:6]
    assert np.shares_memory(again, rows)
    # The rows search with: the best hit for a stored row is that row.
    assert flat_pack.search(rows[123], k=1)[0].id == 123


def test_vectors_outlive_close(tmp_path: Path) -> None:
    """A view that outlives close() reads valid data, and the native pack is freed
    when the last view is collected (not before, not never)."""
    for source in ("memory", "file"):
        pack = make_pack("hnsw", DATA[:300])
        if source == "file":
            pack.save(tmp_path / "v.vpack")
            pack.close()
            pack = vpack.open(tmp_path / "v.vpack")
        rows = pack.vectors
        part = rows[100:110]
        column = rows[:, 3]
        expected = np.array(rows)  # a copy
        del rows
        pack.close()  # returns at once: close never waits for views
        assert pack.closed
        with pytest.raises(ValueError, match="closed"):
            pack.vectors  # noqa: B018
        with pytest.raises(ValueError, match="closed"):
            pack.search(QUERIES[0], k=1)
        native = pack._index
        assert native._ptr is not None  # still viewed: not freed
        _collect()
        assert np.array_equal(part, expected[100:110])
        assert np.array_equal(column, expected[:, 3])
        assert float(part.sum()) == float(expected[100:110].sum())
        del part
        _collect()
        assert native._ptr is not None  # `column` still views it
        assert np.array_equal(column, expected[:, 3])
        del column
        _collect(native)
        assert native._ptr is None, "the last view's collection frees the pack"


def test_vectors_of_a_pack_dropped_without_close() -> None:
    pack = make_pack("flat", DATA[:50])
    rows = pack.vectors
    native = pack._index
    del pack
    _collect()
    assert native._ptr is not None
    assert np.allclose(rows[0], DATA[0] / np.linalg.norm(DATA[0]), atol=1e-6)
    del rows
    _collect()


def _views_while_closing(pack: vpack.Pack) -> List[np.ndarray]:
    """Slices of ``pack.vectors`` taken on three threads while this one closes the pack."""
    got: List[np.ndarray] = []
    failures: List[BaseException] = []

    def take() -> None:
        try:
            for _ in range(50):
                got.append(pack.vectors[::37])
        except ValueError:
            pass  # closed
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=take) for _ in range(3)]
    for t in threads:
        t.start()
    pack.close()
    for t in threads:
        t.join()
    assert not failures
    return got


def test_vectors_and_close_from_threads() -> None:
    """Views taken on several threads while another closes: every view that was handed
    out reads the right rows; none reads freed memory; the last one frees the pack."""
    for _ in range(10):
        pack = make_pack("flat", DATA[:200])
        expected = np.array(pack.vectors)
        got = _views_while_closing(pack)
        assert all(np.array_equal(view, expected[::37]) for view in got)
        native = pack._index
        del got
        _collect(native)
        assert native._ptr is None


def _collect(native: Optional[Any] = None) -> None:
    """A full collection. PyPy releases the C-level proxies numpy holds one level per
    pass (each view of a view takes one more), so with ``native`` this collects until
    that handle's pointer is freed, at most 20 passes."""
    for _ in range(20):
        gc.collect()
        if native is None or native._ptr is None:
            return


# Hits


def test_hits_decode_metadata_lazily_and_behave_like_values(hnsw_pack: vpack.Pack) -> None:
    hits = hnsw_pack.search(QUERIES[0], k=3)
    first = hits[0]
    assert first.text == f"chunk {first.id}"
    assert first.metadata == META[first.id]
    assert first.metadata is first.metadata  # decoded once
    assert first.source is None
    same = hnsw_pack.search(QUERIES[0], k=3)[0]
    assert same == first
    assert not same != first  # noqa: SIM202 (the != operator itself)
    assert first == vpack.Hit(first.id, first.score, first.text, dict(META[first.id]))
    assert first != hits[1]
    assert pickle.loads(pickle.dumps(first)) == first
    assert first.to_dict() == {
        "id": first.id,
        "score": first.score,
        "text": first.text,
        "metadata": META[first.id],
    }
    assert repr(first).startswith(f"Hit(id={first.id}, score=")
    with pytest.raises(AttributeError):
        first.id = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        hash(first)


def test_hits_stay_readable_after_close() -> None:
    with make_pack("hnsw", DATA[:100]) as pack:
        hits = pack.search(QUERIES[0], k=5)
    assert [h.metadata["i"] for h in hits] == [h.id for h in hits]  # decoded after close


# vpack.build, vpack.toml and the command line


def _docs(tmp_path: Path, n: int = 60) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    for i in range(n):
        topic = ["bread and baking", "birds migrating", "reading files", "rivers and boats"][i % 4]
        (root / f"d{i:03}.txt").write_text(
            f"Note {i} about {topic}, with detail number {i}.\n", encoding="utf-8"
        )
    return root


def test_build_with_an_index(tmp_path: Path) -> None:
    docs = _docs(tmp_path)
    with vpack.build(docs, tmp_path / "h.vpack", embedder="hash", index="hnsw") as result:
        assert result.pack.manifest["index"]["kind"] == "hnsw"
    options = {"kind": "hnsw", "m": 8, "ef_search": 16}
    with (
        vpack.build(docs, embedder="hash", index=options) as result,
        vpack.open(tmp_path / "h.vpack") as pack,
    ):
        assert result.pack.manifest["index"] == {
            "kind": "hnsw",
            "m": 8,
            "ef_construction": 200,
            "ef_search": 16,
            "lexical": RECORDED_LEXICAL,
        }
        hits = pack.search("birds migrating", k=3)
        assert all("birds" in h.text for h in hits)
    with vpack.build(docs, embedder="hash") as result:
        assert result.pack.manifest["index"] == {"kind": "flat", "lexical": RECORDED_LEXICAL}
    with vpack.build(docs, embedder="hash", lexical=False) as result:
        assert result.pack.manifest["index"] == {"kind": "flat"}
    with pytest.raises(errors.InvalidArgumentError, match="m must be"):
        vpack.build(docs, embedder="hash", index={"kind": "hnsw", "m": 0})


def test_config_index_table(tmp_path: Path) -> None:
    (tmp_path / "vpack.toml").write_text(
        '[index]\nkind = "hnsw"\nm = 12\nef_construction = 100\nef_search = 40\nthreads = 2\n',
        encoding="utf-8",
    )
    loaded = config.load_config(tmp_path)
    assert loaded is not None
    assert loaded.index == config.IndexSpec("hnsw", 12, 100, 40, 2)
    assert loaded.index.options() == {
        "kind": "hnsw",
        "m": 12,
        "ef_construction": 100,
        "ef_search": 40,
        "threads": 2,
        "lexical": {},
    }
    data = config.effective(loaded)
    assert data["index"] == loaded.index.options()
    assert config.parse(json.loads(json.dumps(data))) == loaded
    assert config.parse({"index": "auto"}).index == config.IndexSpec("auto")
    assert config.BuildConfig().index == config.IndexSpec("flat")
    # Overrides: a kind keeps the configured parameters; single parameters apply on top.
    merged = config.merge(loaded, {"index": "auto", "index.m": 24})
    assert merged.index == config.IndexSpec("auto", 24, 100, 40, 2)
    assert config.merge(config.BuildConfig(), {"index.ef_search": 10}).index == config.IndexSpec(
        "flat", ef_search=10
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('index = "ivf"', "'index' must be one of 'flat', 'hnsw', 'auto'"),
        ('[index]\nkind = "ivf"', "'index.kind' must be one of"),
        ("[index]\nm = 1", "'index.m' must be an integer in 2..256"),
        ("[index]\nm = 300", "'index.m' must be an integer in 2..256"),
        ('[index]\nm = "16"', "'index.m' must be an integer"),
        ("[index]\nm = true", "'index.m' must be an integer"),
        ("[index]\nef_search = 0", "'index.ef_search' must be an integer in 1..65536"),
        ("[index]\nef_construction = 65537", "'index.ef_construction' must be an integer in 1..65536"),
        ("[index]\nthreads = 0", "'index.threads' must be a positive integer"),
        ("[index]\nsize = 3", "unknown key 'index.size'"),
        ("index = 3", "'index' must be an index kind or a table"),
    ],
)
def test_config_index_errors(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / "vpack.toml").write_text(table + "\n", encoding="utf-8")
    with pytest.raises(config.ConfigError, match=re.escape(message)) as info:
        config.load_config(tmp_path)
    assert "vpack.toml" in str(info.value)
    with pytest.raises(config.ConfigError, match=re.escape("unknown key 'index.size'")):
        config.merge(config.BuildConfig(), {"index.size": 3})


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> Tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_build_info_query(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = _docs(tmp_path)
    out = str(tmp_path / "h.vpack")
    code, _, err = run_cli(
        capsys, "build", str(docs), "-o", out, "--embedder", "hash", "--no-progress",
        "--index", "hnsw", "--hnsw-m", "8", "--ef-construction", "64", "--ef-search", "20",
    )  # fmt: skip
    assert code == 0, err
    code, info, _ = run_cli(capsys, "info", out)
    assert "index: hnsw (m 8, ef_construction 64, ef_search 20)" in info
    code, text, _ = run_cli(capsys, "info", out, "--json")
    manifest = json.loads(text)
    hnsw = {"kind": "hnsw", "m": 8, "ef_construction": 64, "ef_search": 20}
    assert manifest["index"] == {**hnsw, "lexical": RECORDED_LEXICAL}
    assert manifest["config"]["index"] == {**hnsw, "lexical": {}}
    code, text, _ = run_cli(capsys, "query", out, "rivers and boats", "-k", "3", "--ef", "50", "--json")
    hits = json.loads(text)
    assert len(hits) == 3 and all("rivers" in h["text"] for h in hits)
    code, text, _ = run_cli(capsys, "query", out, "rivers and boats", "-k", "3", "--ef", "0", "--json")
    assert code == 0
    code, _, err = run_cli(capsys, "query", out, "rivers", "--ef", "70000")
    assert code == 1 and "ef must be in 1..=65536" in err and "[code 2]" in err
    with pytest.raises(SystemExit):
        run_cli(capsys, "query", out, "rivers", "--ef", "-1")
    with pytest.raises(SystemExit):
        run_cli(capsys, "build", str(docs), "-o", out, "--index", "ivf")

    flat = str(tmp_path / "f.vpack")
    code, _, err = run_cli(capsys, "build", str(docs), "-o", flat, "--embedder", "hash", "--no-progress")
    assert code == 0, err
    assert "index: flat (exact)" in run_cli(capsys, "info", flat)[1]
    auto = str(tmp_path / "a.vpack")
    code, _, err = run_cli(
        capsys, "build", str(docs), "-o", auto, "--embedder", "hash", "--no-progress", "--index", "auto"
    )
    assert code == 0, err
    line = next(x for x in run_cli(capsys, "info", auto)[1].splitlines() if "index:" in x)
    assert "flat (exact); chosen by auto" in line
    code, _, err = run_cli(
        capsys, "build", str(docs), "-o", out, "--embedder", "hash", "--no-progress", "--hnsw-m", "1"
    )
    assert code == 1 and "'index.m' must be an integer in 2..256" in err


def test_cli_uses_the_config_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = _docs(tmp_path)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('[index]\nkind = "hnsw"\nm = 10\n', encoding="utf-8")
    out = str(tmp_path / "c.vpack")
    args = ["build", str(docs), "-o", out, "--embedder", "hash", "--no-progress", "--config", str(cfg)]
    code, _, err = run_cli(capsys, *args, "--ef-search", "33")
    assert code == 0, err
    with vpack.open(out) as pack:
        assert pack.manifest["index"] == {
            "kind": "hnsw",
            "m": 10,
            "ef_construction": 200,
            "ef_search": 33,
            "lexical": RECORDED_LEXICAL,
        }
    code, _, err = run_cli(capsys, *args, "--index", "flat", "--no-lexical")
    assert code == 0, err
    with vpack.open(out) as pack:
        assert pack.manifest["index"] == {"kind": "flat"}
