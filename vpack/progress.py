"""The progress display of a build: documents, chunks, embedding rate, ETA and elapsed
time, on stderr.

Two ways to show it:

- live (on a terminal): one line redrawn in place (``\\r``) at most every 0.2 s. The
  pipeline feeds it after every document and, for embedders that can report it
  (``embed_with_progress``), after every few chunks within an embedding batch, so the
  line moves during a long batch of a model;
- plain (anywhere else: a log file, CI): a whole line at most every 30 s, and a last
  one when the build finishes.

``enabled=None`` shows the live line on a terminal and nothing elsewhere (the library's
default); ``enabled=True`` shows it everywhere (live or plain; what ``vpack build`` does
unless ``--no-progress``). The clock is injectable (``clock``, seconds as a float), so
tests drive the display without sleeping.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, List, Optional, TextIO

#: Seconds between redraws of the live line, and between plain lines.
LIVE_INTERVAL = 0.2
PLAIN_INTERVAL = 30.0


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (OSError, ValueError):
        return False


class Progress:
    """Counts of one build, drawn on ``stream`` (default stderr). ``total_documents``
    (an estimate from the source, when it has one) gives the ETA; ``update`` takes
    the counts so far, ``stage`` names a step after embedding (writing the pack),
    ``finish`` draws the final state and ``close`` ends the line (also after a failure)."""

    def __init__(
        self,
        total_documents: Optional[int] = None,
        stream: Optional[TextIO] = None,
        enabled: Optional[bool] = None,
        interval: Optional[float] = None,
        *,
        live: Optional[bool] = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        tty = _isatty(self.stream)
        self.enabled = tty if enabled is None else bool(enabled)
        self.live = tty if live is None else bool(live)
        self.interval = interval if interval is not None else LIVE_INTERVAL if self.live else PLAIN_INTERVAL
        self.total = total_documents
        self.clock = clock
        self.started = clock()
        # The live line draws at once; the first plain line only after an interval.
        self._last: Optional[float] = None if self.live else self.started
        self._width = 0
        self._stage: Optional[str] = None
        self.documents = self.seen = self.chunks = self.embedded = 0

    def update(
        self,
        documents: int,
        chunks: int,
        embedded: int,
        force: bool = False,
        *,
        seen: Optional[int] = None,
    ) -> None:
        """The counts so far: documents read, chunks made, chunks embedded; ``seen``
        (default ``documents``) counts skipped inputs too, for the ETA. Draws when the
        interval has passed since the last drawing, or with ``force`` (the live line
        only: plain lines keep their interval, and :meth:`finish` writes the last)."""
        self.documents, self.chunks, self.embedded = documents, chunks, embedded
        self.seen = documents if seen is None else seen
        self._draw(force)

    def stage(self, text: str) -> None:
        """Names what the build does now that embedding is over (``writing the pack``)."""
        self._stage = text
        self._draw(force=True)

    def _draw(self, force: bool) -> None:
        if not self.enabled:
            return
        now = self.clock()
        due = self._last is None or now - self._last >= self.interval
        if not (due or (force and self.live)):
            return
        self._last = now
        self._emit(self.line(now))

    def _emit(self, line: str) -> None:
        if self.live:
            self.stream.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.stream.write(f"vpack: {line}\n")
        self.stream.flush()

    def rate(self, now: float) -> Optional[float]:
        """Chunks embedded per second since the start, or None before the first."""
        elapsed = now - self.started
        return self.embedded / elapsed if self.embedded and elapsed > 0 else None

    def eta(self, now: float) -> Optional[float]:
        """Seconds left: the chunks still to embed (those made so far, scaled up to the
        source's total documents) at the rate so far. None without a total or a rate."""
        rate = self.rate(now)
        if not self.total or not self.seen or rate is None:
            return None
        expected = max(self.chunks * max(self.total, self.seen) / self.seen, self.embedded)
        return (expected - self.embedded) / rate

    def line(self, now: float) -> str:
        docs = "document" if (self.total or self.documents) == 1 else "documents"
        parts: List[str] = [
            f"{self.seen:,}/{self.total:,} {docs}" if self.total else f"{self.documents:,} {docs}",
            f"{self.chunks:,} {'chunk' if self.chunks == 1 else 'chunks'}",
        ]
        rate = self.rate(now)
        embedded = f"{self.embedded:,} embedded"
        parts.append(f"{embedded} ({rate:,.1f}/s)" if rate is not None else embedded)
        eta = self.eta(now)
        if self._stage is None and eta is not None:
            parts.append(f"ETA {_clock(eta)}")
        parts.append(f"elapsed {_clock(now - self.started)}")
        if self._stage is not None:
            parts.append(self._stage)
        return ", ".join(parts)

    def finish(self) -> None:
        """Draws the final counts (the plain last line) and ends the live line."""
        if self.enabled:
            self._stage = "done"
            self._emit(self.line(self.clock()))
        self.close()

    def close(self) -> None:
        """Ends the live line, so what follows starts on a line of its own."""
        if self.enabled and self.live and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


def _clock(seconds: float) -> str:
    s = int(max(seconds, 0.0) + 0.5)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
