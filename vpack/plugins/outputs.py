"""Built-in outputs: a .vpack file, or the pack's bytes in memory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional


class FileOutput:
    """The .vpack file at ``path``. The pipeline streams the pack into it atomically
    (temporary file in the same folder, fsync, rename); ``write`` saves a pack that
    already exists elsewhere the same way."""

    def __init__(self, path: os.PathLike[str] | str) -> None:
        self.path = Path(path)

    def write(self, pack: Any) -> None:
        pack.save(self.path)

    def describe(self) -> Mapping[str, Any]:
        return {"kind": "file"}


class BytesOutput:
    """Keeps the pack's complete bytes in ``data`` (for the Python API: send them over a
    network, store them in a database, load them with ``vpack.Pack.from_bytes``)."""

    def __init__(self) -> None:
        self.data: Optional[bytes] = None

    def write(self, pack: Any) -> None:
        self.data = pack.to_bytes()

    def describe(self) -> Mapping[str, Any]:
        return {"kind": "bytes"}
