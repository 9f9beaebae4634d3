"""Building C and C++ programs against an installed vpack: ``vpack config``.

The wheel carries everything a C or C++ program needs, inside the ``vpack`` package
folder (``vpack config --prefix``)::

    libvpack.so                        the library (SONAME libvpack.so)
    include/vpack.h                    the C header
    lib/pkgconfig/vpack.pc             pkg-config (relocatable: paths from ${pcfiledir})
    lib/cmake/vpack/vpack-config.cmake find_package(vpack) -> imported target vpack::vpack

``vpack config --cflags --libs`` prints compiler flags; ``--pkgconfig-dir`` and
``--cmake-dir`` print where the pkg-config and CMake files are; ``--runtime PACK`` prints
the environment a C program needs to embed text queries for that pack
(``ORT_DYLIB_PATH`` and ``VPACK_MODEL_PATH`` as ``export`` lines, for ``eval``).

This module is also loaded on its own by setup.py (to write the pkg-config and CMake
files into the wheel), so its top level imports nothing from the vpack package.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Dict, List

#: The library's file name inside the package (and its SONAME on Linux).
LIBRARY_NAME = "libvpack.dylib" if sys.platform == "darwin" else "libvpack.so"

_HERE = Path(__file__).resolve().parent

PC_TEMPLATE = """\
# vpack.pc: the VectorPack C library from the installed Python package (vpack-search).
# Relocatable: every path is taken from this file's own folder.
prefix=${{pcfiledir}}/../..
libdir=${{prefix}}
includedir=${{prefix}}/include

Name: vpack
Description: VectorPack: portable .vpack semantic-search packs (C ABI)
URL: https://pypi.org/project/vpack-search/
Version: {version}
Cflags: -I${{includedir}}
Libs: -L${{libdir}} -lvpack -Wl,-rpath,${{libdir}}
"""

CMAKE_CONFIG = """\
# CMake package config of the VectorPack C library, from the installed Python package
# (vpack-search). Relocatable: paths are taken from this file's own folder.
#
#   find_package(vpack 0.1 REQUIRED)   # with -Dvpack_DIR="$(vpack config --cmake-dir)"
#   target_link_libraries(app PRIVATE vpack::vpack)
get_filename_component(_vpack_prefix "${{CMAKE_CURRENT_LIST_DIR}}/../../.." ABSOLUTE)
if(NOT TARGET vpack::vpack)
  add_library(vpack::vpack SHARED IMPORTED)
  set_target_properties(vpack::vpack PROPERTIES
    IMPORTED_LOCATION "${{_vpack_prefix}}/{library}"
    IMPORTED_SONAME "{library}"
    INTERFACE_INCLUDE_DIRECTORIES "${{_vpack_prefix}}/include")
endif()
set(vpack_INCLUDE_DIR "${{_vpack_prefix}}/include")
set(vpack_LIBRARY "${{_vpack_prefix}}/{library}")
set(vpack_LIBRARY_DIR "${{_vpack_prefix}}")
unset(_vpack_prefix)
"""

CMAKE_VERSION = """\
# A request for version X is met when X <= {version} and, below 1.0, X has the same minor.
set(PACKAGE_VERSION "{version}")
if(PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif("{major}" STREQUAL "0" AND
       NOT "${{PACKAGE_FIND_VERSION_MAJOR}}.${{PACKAGE_FIND_VERSION_MINOR}}" STREQUAL "{major}.{minor}")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
elseif(NOT "${{PACKAGE_FIND_VERSION_MAJOR}}" STREQUAL "{major}")
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
if(CMAKE_SIZEOF_VOID_P AND NOT CMAKE_SIZEOF_VOID_P STREQUAL "8")
  set(PACKAGE_VERSION "{version} (64-bit)")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
endif()
"""


def write_build_files(package_dir: Path, version: str) -> None:
    """Writes vpack.pc and the CMake package config into a built package (setup.py)."""
    major, minor = [*version.split("."), "0", "0"][:2]
    pc = package_dir / "lib" / "pkgconfig"
    cmake = package_dir / "lib" / "cmake" / "vpack"
    pc.mkdir(parents=True, exist_ok=True)
    cmake.mkdir(parents=True, exist_ok=True)
    (pc / "vpack.pc").write_text(PC_TEMPLATE.format(version=version), encoding="utf-8")
    (cmake / "vpack-config.cmake").write_text(CMAKE_CONFIG.format(library=LIBRARY_NAME), encoding="utf-8")
    (cmake / "vpack-config-version.cmake").write_text(
        CMAKE_VERSION.format(version=version, major=major, minor=minor), encoding="utf-8"
    )


class ConfigError(OSError):
    """Something `vpack config` was asked for is not in this installation."""


def prefix() -> Path:
    """The installed package folder: the library, include/, lib/pkgconfig, lib/cmake."""
    return _HERE


def library() -> Path:
    path = _HERE / LIBRARY_NAME
    if not path.is_file():
        raise ConfigError(f"{path} is missing: install vpack from its wheel (pip install vpack-search)")
    return path


def include_dir() -> Path:
    """vpack/include (a wheel), else the source tree's include/ (an editable install)."""
    for candidate in (_HERE / "include", _HERE.parent / "include"):
        if (candidate / "vpack.h").is_file():
            return candidate
    raise ConfigError(f"vpack.h is missing from {_HERE / 'include'}: install vpack from its wheel")


def _built_dir(*parts: str) -> Path:
    path = _HERE.joinpath(*parts)
    if not path.is_dir():
        raise ConfigError(
            f"{path} is missing: it is written when the wheel is built (an editable or "
            "source-tree install has none; build and install the wheel: make wheel)"
        )
    return path


def pkgconfig_dir() -> Path:
    return _built_dir("lib", "pkgconfig")


def cmake_dir() -> Path:
    return _built_dir("lib", "cmake", "vpack")


def cflags() -> str:
    return f"-I{shlex.quote(str(include_dir()))}"


def libs() -> str:
    d = shlex.quote(str(library().parent))
    return f"-L{d} -lvpack -Wl,-rpath,{d}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_folder(recorded: Dict[str, Any]) -> Path:
    """A folder ``<dir>/<model_id>/`` holding the model a pack records, for
    VPACK_MODEL_PATH: an existing one found in VPACK_MODEL_PATH, else, for a packaged
    model, one made of symlinks to the installed files under the vpack cache folder."""
    from . import models
    from .cache import default_cache_dir

    model_id = str(recorded.get("model_id", ""))
    for d in os.environ.get(models.MODEL_PATH_ENV, "").split(os.pathsep):
        if d and model_id and (Path(d) / model_id / "model.onnx").is_file():
            return Path(d) / model_id
    packaged = models.PACKAGED.get(model_id)
    paths = models.packaged_paths(packaged) if packaged is not None else None
    if paths is None:
        hint = models.install_hint(recorded)
        raise ConfigError(f"model '{model_id}' is not installed here; {hint}")
    want = recorded.get("sha256")
    if want and _sha256(Path(paths["model_file"])) != str(want).lower():
        raise ConfigError(
            f"the installed {paths['model_file']} is not the model this pack records (sha256 {want})"
        )
    folder = default_cache_dir() / "models" / model_id
    folder.mkdir(parents=True, exist_ok=True)
    links = {"model.onnx": Path(paths["model_file"])}
    tokenizer_dir = Path(paths["tokenizer_dir"])
    for name in models.TOKENIZER_FILES:
        links[name] = tokenizer_dir / name
    for name, target in links.items():
        dest = folder / name
        if dest.is_symlink() and os.readlink(dest) == str(target):
            continue
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, dest)
    return folder


def runtime_lines(pack_path: str) -> List[str]:
    """``export`` lines that let a C program embed text queries for this pack: where
    libonnxruntime is (ORT_DYLIB_PATH) and a model folder (VPACK_MODEL_PATH)."""
    from . import models
    from .pack import open as open_pack

    with open_pack(pack_path) as pack:
        recorded = pack.manifest.get("embedder")
    if not isinstance(recorded, dict) or recorded.get("kind") != "onnx":
        kind = recorded.get("kind") if isinstance(recorded, dict) else None
        return [f"# {pack_path}: its embedder ({kind}) needs no ONNX Runtime and no model folder"]
    ort = models.onnxruntime_library()
    if ort is None or not ort.is_file():
        where = f" ({models.ORT_ENV}={ort} is not a file)" if ort is not None else ""
        raise ConfigError(f"no libonnxruntime found{where}; {models.runtime_hint()}")
    folder = model_folder(recorded)
    return [
        f"export {models.ORT_ENV}={shlex.quote(str(ort.resolve()))}",
        f"export {models.MODEL_PATH_ENV}={shlex.quote(str(folder.parent))}",
    ]


def add_parser(sub: Any) -> None:
    """The ``config`` subcommand of vpack.cli."""
    c = sub.add_parser(
        "config",
        help="print compiler flags and paths for C/C++ programs using libvpack",
        description="Flags and paths for building C and C++ programs against this installed vpack. "
        'Example: cc app.c $(vpack config --cflags --libs); eval "$(vpack config --runtime PACK)".',
    )
    c.add_argument("--cflags", action="store_true", help="compiler flags (-I for vpack.h)")
    c.add_argument("--libs", action="store_true", help="linker flags (-L, -lvpack and an rpath)")
    c.add_argument("--prefix", action="store_true", help="the package folder (for CMAKE_PREFIX_PATH)")
    c.add_argument("--include-dir", action="store_true", help="the folder holding vpack.h")
    c.add_argument("--library", action="store_true", help="the library file")
    c.add_argument(
        "--pkgconfig-dir", action="store_true", help="the folder holding vpack.pc (for PKG_CONFIG_PATH)"
    )
    c.add_argument(
        "--cmake-dir", action="store_true", help="the folder holding vpack-config.cmake (vpack_DIR)"
    )
    c.add_argument(
        "--runtime",
        metavar="PACK",
        help="print export lines for ORT_DYLIB_PATH and VPACK_MODEL_PATH that let a C program "
        "embed text queries for PACK",
    )


def run(args: argparse.Namespace) -> int:
    """Prints what was asked for, in the order of the options above; flags on one line."""
    flags: List[str] = []
    if args.cflags:
        flags.append(cflags())
    if args.libs:
        flags.append(libs())
    lines: List[str] = [" ".join(flags)] if flags else []
    for wanted, get in (
        (args.prefix, prefix),
        (args.include_dir, include_dir),
        (args.library, library),
        (args.pkgconfig_dir, pkgconfig_dir),
        (args.cmake_dir, cmake_dir),
    ):
        if wanted:
            lines.append(str(get()))
    if args.runtime:
        lines += runtime_lines(args.runtime)
    if not lines:
        raise ValueError(
            "vpack config: name what to print: --cflags, --libs, --prefix, --include-dir, --library, "
            "--pkgconfig-dir, --cmake-dir or --runtime PACK"
        )
    print("\n".join(lines))
    return 0
