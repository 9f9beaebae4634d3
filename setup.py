"""Builds the Rust engine (rust/) as a cdylib into the vpack package, plus what C and C++
programs need to use it from the installed wheel.

The library does not link libpython and is loaded through cffi's ABI mode, so one
wheel serves every Python 3 interpreter on the platform (CPython and PyPy): it is
tagged py3-none-<platform>, and the library has a plain name, ``vpack/libvpack.so``
(SONAME ``libvpack.so``, set in rust/build.rs), not an interpreter-tagged one.

Beside it the wheel carries ``vpack/include/vpack.h`` (copied from include/), and
relocatable ``vpack/lib/pkgconfig/vpack.pc`` and ``vpack/lib/cmake/vpack/`` (a CMake
package config with the imported target ``vpack::vpack``), written by vpack/cconfig.py.
"""

import importlib.util
import os
import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools_rust import Binding, RustExtension
from setuptools_rust.build import build_rust

ROOT = Path(__file__).resolve().parent


def _cconfig():
    """vpack/cconfig.py, loaded on its own: importing the vpack package needs the
    library this build is about to make."""
    spec = importlib.util.spec_from_file_location("_vpack_cconfig", ROOT / "vpack" / "cconfig.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PlatformWheel(bdist_wheel):  # type: ignore[misc]
    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


class PlainNameBuildRust(build_rust):  # type: ignore[misc]
    """Installs the cdylib as vpack/libvpack.so (libvpack.dylib on macOS) instead of
    setuptools-rust's interpreter-tagged extension name."""

    def get_dylib_ext_path(self, ext: RustExtension, target_fname: str) -> str:
        tagged = super().get_dylib_ext_path(ext, target_fname)
        return os.path.join(os.path.dirname(tagged), _cconfig().LIBRARY_NAME)


class BuildPyWithCFiles(build_py):  # type: ignore[misc]
    """Adds the C header, vpack.pc and the CMake package config to the built package."""

    def run(self) -> None:
        super().run()
        cconfig = _cconfig()
        version = self.distribution.get_version()
        pkg = Path(self.build_lib) / "vpack"
        (pkg / "include").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / "include" / "vpack.h", pkg / "include" / "vpack.h")
        cconfig.write_build_files(pkg, version)


if sys.platform == "win32":  # pragma: no cover
    raise SystemExit("vpack builds on Linux and macOS")

setup(
    rust_extensions=[
        RustExtension(
            "vpack.libvpack",
            path="rust/Cargo.toml",
            binding=Binding.NoBinding,
            py_limited_api=False,
        )
    ],
    cmdclass={"bdist_wheel": PlatformWheel, "build_rust": PlainNameBuildRust, "build_py": BuildPyWithCFiles},
)
