"""Builds the Rust engine (rust/) as a cdylib into the vpack package.

The library does not link libpython and is loaded through cffi's ABI mode, so one
wheel serves every Python 3 interpreter on the platform (CPython and PyPy): it is
tagged py3-none-<platform>.
"""

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools_rust import Binding, RustExtension


class PlatformWheel(bdist_wheel):  # type: ignore[misc]
    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple:
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(
    rust_extensions=[
        RustExtension(
            "vpack._libvpack",
            path="rust/Cargo.toml",
            binding=Binding.NoBinding,
            py_limited_api=False,
        )
    ],
    cmdclass={"bdist_wheel": PlatformWheel},
)
