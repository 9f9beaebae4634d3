"""A one-line progress display for builds: documents, chunks, embedding rate and ETA.
It draws only on a terminal; anywhere else it stays silent."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO


class Progress:
    def __init__(
        self,
        total_documents: Optional[int] = None,
        stream: Optional[TextIO] = None,
        enabled: Optional[bool] = None,
        interval: float = 0.2,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = enabled if enabled is not None else bool(isatty and isatty())
        self.total = total_documents
        self.interval = interval
        self.started = time.perf_counter()
        self._last = 0.0
        self._width = 0

    def update(self, documents: int, chunks: int, embedded: int, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        parts = [f"documents {documents}" + (f"/{self.total}" if self.total else ""), f"chunks {chunks}"]
        parts.append(f"{embedded / elapsed:.1f} chunks/s embedded")
        if self.total and documents:
            remaining = max(self.total - documents, 0) * elapsed / documents
            parts.append(f"ETA {_clock(remaining)}")
        parts.append(f"elapsed {_clock(elapsed)}")
        line = "  ".join(parts)
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = len(line)

    def finish(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    s = int(seconds + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
