"""Puts a libonnxruntime at DEST, for interpreters that have no onnxruntime wheel (PyPy).

    python tests/tools/ort_library.py DEST

Downloads the onnxruntime wheel for CPython 3.11 on this platform with pip (no install,
no dependencies), and copies its onnxruntime/capi/libonnxruntime.so.* to DEST. The
library is plain C++ with a C API: it does not link libpython, so any process may load it
(ORT_DYLIB_PATH=DEST). tox.ini's PyPy environment runs this once; the README's PyPy
section shows the same steps by hand. Does nothing when DEST exists.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "onnxruntime>=1.24"


def main(dest: Path) -> int:
    if dest.is_file():
        return 0
    machine = platform.machine()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--implementation", "cp", "--python-version", "3.11", "--abi", "cp311",
               "--platform", f"manylinux_2_28_{machine}", "--platform", f"manylinux_2_27_{machine}",
               "--platform", f"manylinux2014_{machine}", "-d", tmp, VERSION]  # fmt: skip
        subprocess.run(cmd, check=True)
        wheel = next(Path(tmp).glob("onnxruntime-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            names = [n for n in zf.namelist() if n.startswith("onnxruntime/capi/libonnxruntime.so")]
            if not names:
                print(f"{wheel.name} has no onnxruntime/capi/libonnxruntime.so*", file=sys.stderr)
                return 1
            dest.parent.mkdir(parents=True, exist_ok=True)
            part = dest.with_name(dest.name + ".part")
            with zf.open(sorted(names)[-1]) as src, part.open("wb") as out:
                shutil.copyfileobj(src, out)
            part.replace(dest)
    print(f"{dest}: {sorted(names)[-1]} from {wheel.name}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
