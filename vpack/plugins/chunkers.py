"""Built-in chunkers.

Every chunker yields chunks whose ``start`` and ``end`` are character offsets into the
document's text, so that ``document.text[start:end] == chunk.text``; every character
of the text other than whitespace is in at least one chunk, and whitespace-only
stretches yield no chunk. A chunk's metadata is the document's (without the bulky
``sections`` list) plus ``chunk`` (its number), ``start`` and ``end``. Except for
:class:`FixedSizeChunker` in characters, which keeps its historical windows, chunks
neither begin nor end with whitespace.

Sizes are in characters, or in tokens when a ``token_counter`` is given: a callable
that takes a list of texts and returns their token counts, such as an embedder's
``token_counts``. Chunk ends are then found by a search that measures several
candidate windows per call, so a chunk costs O(log n) calls, each on a small batch.

Chunking takes time linear in the length of the text, whatever its shape (one line
of 50 MB without a space is no slower per character than prose), and streams: cut
points are found as the windows advance, a span is measured without copying it (in
characters only the whitespace at its ends is looked at; in tokens a long span is
first counted by a bounded prefix), and chunks are yielded one at a time. Beyond the
document itself, a chunker holds only the current window's cut points and chunk.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from .base import Chunk, Document

#: Texts -> token counts, one per text.
TokenCounter = Callable[[List[str]], Sequence[int]]

DEFAULT_SEPARATORS = ("\n\n", "\n", ". ", " ", "")

# Candidate windows measured per token-counter call while searching for a chunk end.
_PROBES = 4
# A rough number of characters per token, to guess where a window of tokens ends.
_CHARS_PER_TOKEN = 4.0
_WORD = re.compile(r"\S+")
# Spans up to this many characters are measured by copying them; longer ones are
# measured at their ends only.
_SHORT_SPAN = 256
# In tokens, spans longer than this many characters per token of the size (and at least
# _MIN_PREFIX) are first measured by a prefix of that length.
_PREFIX_CHARS_PER_TOKEN = 32
_MIN_PREFIX = 4096
# Spans per token-counter call when measuring the pieces a separator cuts a text into.
_MEASURE_BATCH = 256


def _check_sizes(size: int, overlap: int) -> None:
    if size <= 0:
        raise ValueError(f"chunk size must be positive, got {size}")
    if not 0 <= overlap < size:
        raise ValueError(f"chunk overlap must be in [0, size), got {overlap}")


def _chunk_metadata(document: Document, index: int, start: int, end: int) -> Dict[str, Any]:
    meta = {k: v for k, v in document.metadata.items() if k != "sections"}
    meta.update({"chunk": index, "start": start, "end": end})
    return meta


def _first_text(text: str, start: int, end: int) -> int:
    """The position of the first character of ``text[start:end]`` that is not whitespace
    (``end`` if there is none). Looks at the leading whitespace only, in growing steps,
    so the cost does not depend on the length of the span."""
    step = 64
    while start < end:
        stop = min(end, start + step)
        rest = text[start:stop].lstrip()
        if rest:
            return stop - len(rest)
        start = stop
        step *= 2
    return end


def _last_text(text: str, start: int, end: int) -> int:
    """The position just after the last character of ``text[start:end]`` that is not
    whitespace (``start`` if there is none); looks at the trailing whitespace only."""
    step = 64
    while start < end:
        low = max(start, end - step)
        rest = text[low:end].rstrip()
        if rest:
            return low + len(rest)
        end = low
        step *= 2
    return start


def _trim(text: str, start: int, end: int) -> Tuple[int, int]:
    """The span without its leading and trailing whitespace (empty if it is all
    whitespace)."""
    first = _first_text(text, start, end)
    if first == end:
        return start, start
    return first, _last_text(text, first, end)


def _stripped_length(text: str, start: int, end: int) -> int:
    """``len(text[start:end].strip())``, without copying a long span."""
    if end - start <= _SHORT_SPAN:
        return len(text[start:end].strip())
    first = _first_text(text, start, end)
    return 0 if first == end else _last_text(text, first, end) - first


def _leading_true(
    test: Callable[[List[int]], List[bool]], guess: int, probes: int, available: Callable[[int], int]
) -> int:
    """How many of the indices ``0, 1, 2, ...`` pass ``test``, for a test that passes a
    prefix of them and fails the rest. ``available(n)`` says how many of the first ``n``
    indices exist, so the number of indices can be discovered lazily (only a few past
    the last one tested are asked for). ``test`` gets a batch of up to ``probes`` indices
    at a time. It first gallops from ``guess`` (doubling the reach until some index
    fails), then narrows the bracket ``probes`` points at a time."""
    lo, hi = 0, -1  # indices < lo pass; indices >= hi fail or do not exist (-1: not known yet)
    reach = max(1, guess)
    bracketing = True
    while True:
        if hi < 0:
            wanted = lo + max(reach, probes + 1)
            have = available(wanted)
            if have < wanted:
                hi = have
        if 0 <= hi <= lo:
            break
        if hi >= 0 and hi - lo <= probes:
            batch = list(range(lo, hi))
        elif bracketing:
            top = lo + reach if hi < 0 else min(lo + reach, hi)
            batch = sorted({lo + max(0, (top - lo) * (k + 1) // probes - 1) for k in range(probes)})
        else:
            span = hi - lo
            batch = sorted({lo + span * (k + 1) // (probes + 1) for k in range(probes)})
        failed = False
        for index, ok in zip(batch, test(batch)):
            if not ok:
                hi = index if hi < 0 else min(hi, index)
                failed = True
                break
            lo = max(lo, index + 1)
        if failed:
            bracketing = False
        else:
            reach *= 2
    return lo


class _Cuts:
    """Ascending cut points read lazily from an iterable of lists of them, and addressed
    by their position in the whole sequence. Points before the current window are let go
    (:meth:`release`), so only the points of the window being packed (and a list or so
    past it) are held."""

    def __init__(self, blocks: Iterable[Sequence[int]]) -> None:
        self._blocks = iter(blocks)
        self._held = array("q")
        self._base = 0  # the index of _held[0]
        self._done = False

    def has(self, index: int) -> bool:
        """Whether point ``index`` exists (reading up to it)."""
        held = self._held
        while self._base + len(held) <= index:
            if self._done:
                return False
            block = next(self._blocks, None)
            if block is None:
                self._done = True
                return False
            held.extend(block)
        return True

    def __getitem__(self, index: int) -> int:
        return self._held[index - self._base]

    def available(self, lo: int, n: int) -> int:
        """How many of the points ``lo .. lo + n - 1`` exist."""
        if n <= 0 or self.has(lo + n - 1):
            return max(n, 0)
        return max(0, self._base + len(self._held) - lo)

    def count_upto(self, lo: int, position: float) -> int:
        """How many points from index ``lo`` on are at most ``position`` (reading up to
        the first point past it)."""
        held = self._held
        while not self._done and (not held or held[-1] <= position):
            self.has(self._base + len(held))
        start = lo - self._base
        return bisect_right(held, position, start) - start

    def bisect_left(self, position: float, lo: int, hi: int) -> int:
        """The first index in ``lo .. hi - 1`` (held points) whose point is at least
        ``position`` (``hi`` if none is)."""
        return self._base + bisect_left(self._held, position, lo - self._base, hi - self._base)

    def release(self, index: int) -> None:
        """Points before ``index`` will not be asked for again."""
        drop = index - self._base
        if drop >= 1024 and 2 * drop >= len(self._held):
            del self._held[:drop]
            self._base = index


class _Packer:
    """Measures spans of text in characters or tokens, and packs runs of pieces into
    windows that fit a size.

    Measuring never copies a long span in characters (only the whitespace at its ends is
    looked at). In tokens, a span longer than ``prefix`` characters is first measured by
    its first ``prefix`` characters: when those alone are over the size, so is the span
    (token counts grow with the text), and the span is not tokenized whole."""

    def __init__(self, size: int, counter: Optional[TokenCounter]) -> None:
        if counter is not None and not callable(counter):
            raise TypeError("token_counter must be a callable: list of texts -> token counts")
        self.size = size
        self.counter = counter
        self.probes = 1 if counter is None else _PROBES
        self.chars_per_unit = 1.0 if counter is None else _CHARS_PER_TOKEN
        self.prefix = max(size * _PREFIX_CHARS_PER_TOKEN, _MIN_PREFIX)

    @property
    def unit(self) -> str:
        return "chars" if self.counter is None else "tokens"

    def _count(self, pieces: List[str]) -> List[int]:
        assert self.counter is not None
        if not pieces:
            return []
        counts = self.counter(pieces)
        if len(counts) != len(pieces):
            raise ValueError(f"token_counter returned {len(counts)} counts for {len(pieces)} texts")
        return [int(c) for c in counts]

    def measure(self, text: str, spans: Iterable[Tuple[int, int]]) -> List[int]:
        """The size of each span of ``text``, leading and trailing whitespace excluded:
        exact when it is at most ``size``; for a bigger span, some number above ``size``
        (all that the chunkers compare sizes with)."""
        if self.counter is None:
            return [
                len(text[a:b].strip()) if b - a <= _SHORT_SPAN else _stripped_length(text, a, b)
                for a, b in spans
            ]
        pieces: List[str] = []
        long: List[Tuple[int, int, int]] = []  # (position in spans, start, end) of long spans
        for k, (a, b) in enumerate(spans):
            if b - a > self.prefix:
                a = _first_text(text, a, b)
                if b - a > self.prefix:
                    pieces.append(text[a : a + self.prefix].rstrip())
                    long.append((k, a, b))
                    continue
            pieces.append(text[a:b].strip())
        counts = self._count(pieces)
        whole = [(k, a, b) for k, a, b in long if counts[k] <= self.size]
        if whole:
            for (k, _, _), n in zip(whole, self._count([text[a:b].strip() for _, a, b in whole])):
                counts[k] = n
        return counts

    def _fitting_ends(self, text: str, start: int, cuts: _Cuts, lo: int) -> int:
        """How many of the points ``cuts[lo], cuts[lo + 1], ...`` end a span from
        ``start`` that fits."""

        def test(batch: List[int]) -> List[bool]:
            sizes = self.measure(text, [(start, cuts[lo + k]) for k in batch])
            return [n <= self.size for n in sizes]

        guess = cuts.count_upto(lo, start + self.size * self.chars_per_unit)
        return _leading_true(test, guess, self.probes, lambda n: cuts.available(lo, n))

    def _hard_cut(self, text: str, start: int, end: int) -> int:
        """A cut inside ``(start, end)``, a span too big to fit: the furthest character
        position that fits (at least one character, so a chunk always advances)."""
        count = end - start - 1

        def test(batch: List[int]) -> List[bool]:
            sizes = self.measure(text, [(start, start + 1 + k) for k in batch])
            return [n <= self.size for n in sizes]

        guess = bisect_right(range(start + 1, end), start + self.size * self.chars_per_unit)
        fitting = _leading_true(test, guess, self.probes, lambda n: min(n, count))
        return start + max(1, fitting)

    def _next_start(self, text: str, cuts: _Cuts, i: int, j: int, overlap: int) -> int:
        """Where the window after ``cuts[i..j]`` starts: the earliest cut point inside
        it from which the repeated text fits ``overlap`` and the next piece still fits
        ``size`` (so the next window reaches further); ``j`` (no overlap) otherwise."""
        if overlap == 0 or j - i < 2 or not cuts.has(j + 1):
            return j
        end, following = cuts[j], cuts[j + 1]

        def test(batch: List[int]) -> List[bool]:
            spans: List[Tuple[int, int]] = []
            for k in batch:
                spans += [(cuts[j - 1 - k], end), (cuts[j - 1 - k], following)]
            sizes = self.measure(text, spans)
            return [sizes[2 * q] <= overlap and sizes[2 * q + 1] <= self.size for q in range(len(batch))]

        guess = j - cuts.bisect_left(end - overlap * self.chars_per_unit, i + 1, j)
        return j - _leading_true(test, guess, self.probes, lambda n: min(n, j - i - 1))

    def windows(self, text: str, bounds: Iterable[Sequence[int]], overlap: int) -> Iterator[Tuple[int, int]]:
        """Greedy packing of the pieces between ascending cut points ``bounds``, given as
        lists of them read lazily (the first point is where the run starts, the last
        where it ends): each window
        runs from a cut point to the furthest later one that keeps its trimmed text
        within ``size``. A piece too big on its own is cut between characters (a single
        character too big is a window by itself). Yields raw (untrimmed) windows."""
        cuts = _Cuts(bounds)
        i = 0  # the window starts at cuts[i], or after a cut inside a piece too big,
        start = cuts[0] if cuts.has(0) else 0  # between cuts[i] and cuts[i + 1]
        while cuts.has(i + 1):
            fitting = self._fitting_ends(text, start, cuts, i + 1)
            if fitting == 0:
                following = cuts[i + 1]
                cut = self._hard_cut(text, start, following)
                if cut < following:
                    yield start, cut
                    start = cut
                    continue
                fitting = 1
            j = i + fitting
            yield start, cuts[j]
            if not cuts.has(j + 1):
                return
            i = self._next_start(text, cuts, i, j, overlap)
            start = cuts[i]
            cuts.release(i)


Window = Tuple[int, int]


def _numbered(document: Document, windows: Iterable[Tuple[Window, Mapping[str, Any]]]) -> Iterator[Chunk]:
    """Chunks for raw windows and their extra metadata: trimmed, numbered, and with
    whitespace-only windows left out."""
    text = document.text
    index = 0
    for (raw_start, raw_end), extra in windows:
        start, end = _trim(text, raw_start, raw_end)
        if start == end:
            continue
        meta = _chunk_metadata(document, index, start, end)
        meta.update(extra)
        yield Chunk(text=text[start:end], start=start, end=end, metadata=meta)
        index += 1


def _plain(windows: Iterable[Window]) -> Iterator[Tuple[Window, Mapping[str, Any]]]:
    for window in windows:
        yield window, {}


class FixedSizeChunker:
    """Windows of at most ``size`` characters, each starting ``size - overlap`` after the
    previous one. A window ends at the last whitespace in its final fifth when there is
    one, so words are not cut; offsets always refer to the document's text.

    With a ``token_counter``, ``size`` and ``overlap`` are in tokens: each window ends at
    the furthest whitespace that keeps it within ``size`` tokens (a word longer than that
    is cut between characters), and the next window starts at the earliest word that
    repeats at most ``overlap`` tokens."""

    def __init__(
        self, size: int = 1000, overlap: int = 200, token_counter: Optional[TokenCounter] = None
    ) -> None:
        _check_sizes(size, overlap)
        self.size = size
        self.overlap = overlap
        self.token_counter = token_counter
        self._packer = _Packer(size, token_counter)

    def describe(self) -> Mapping[str, Any]:
        return {"kind": "fixed", "size": self.size, "overlap": self.overlap, "unit": self._packer.unit}

    def chunks(self, document: Document) -> Iterator[Chunk]:
        if self.token_counter is not None:
            yield from self._token_chunks(document)
            return
        text = document.text
        n = len(text)
        start = 0
        index = 0
        while start < n:
            end = min(start + self.size, n)
            if end < n:
                floor = start + (self.size * 4) // 5
                cut = max(text.rfind(" ", floor, end), text.rfind("\n", floor, end))
                if cut > start:
                    end = cut
            piece = text[start:end]
            if piece.strip():
                meta = _chunk_metadata(document, index, start, end)
                yield Chunk(text=piece, start=start, end=end, metadata=meta)
                index += 1
            if end >= n:
                break
            start = max(end - self.overlap, start + 1)

    def _token_chunks(self, document: Document) -> Iterator[Chunk]:
        text = document.text
        words = _WORD.finditer(text)
        if next(words, None) is None:
            return
        starts = _batched((m.start() for m in words), _MEASURE_BATCH)
        bounds = chain(([0],), starts, ([len(text)],))
        yield from _numbered(document, _plain(self._packer.windows(text, bounds, self.overlap)))


class RecursiveChunker:
    """Chunks that keep text's structure: a text bigger than ``size`` is split at the
    first of ``separators`` it contains (each separator stays at the end of the piece
    before it), pieces still too big are split again with the next separators, and ""
    (also the last resort when the list lacks it) cuts between characters. Adjacent
    pieces, whatever separator cut them, are then merged greedily into chunks of at
    most ``size`` (so a short paragraph joins the start of a long one rather than
    standing alone); with ``overlap``, a chunk starts with the trailing pieces of the
    previous one that fit ``overlap``, as long as the next piece still fits after them.
    Sizes are characters, or tokens with a ``token_counter``."""

    def __init__(
        self,
        size: int = 1000,
        overlap: int = 0,
        separators: Sequence[str] = DEFAULT_SEPARATORS,
        token_counter: Optional[TokenCounter] = None,
    ) -> None:
        _check_sizes(size, overlap)
        if isinstance(separators, str) or not all(isinstance(s, str) for s in separators):
            raise TypeError("separators must be a sequence of strings")
        self.size = size
        self.overlap = overlap
        self.separators = tuple(separators)
        self.token_counter = token_counter
        self._packer = _Packer(size, token_counter)

    def describe(self) -> Mapping[str, Any]:
        return {
            "kind": "recursive",
            "size": self.size,
            "overlap": self.overlap,
            "unit": self._packer.unit,
            "separators": list(self.separators),
        }

    def chunks(self, document: Document) -> Iterator[Chunk]:
        text = document.text
        windows = self._packer.windows(text, self._pieces(text, 0, len(text)), self.overlap)
        yield from _numbered(document, _plain(windows))

    def _pieces(self, text: str, start: int, end: int, size: Optional[int] = None) -> Iterator[List[int]]:
        """Cut points from ``start`` to ``end`` such that every piece between two of them
        fits (except pieces that no separator splits, left for the packer to cut), found
        lazily and given in lists. ``size`` is the span's size when already measured."""
        if size is None:
            size = self._packer.measure(text, [(start, end)])[0]
        if size <= self.size:
            yield [start, end]
        else:
            yield [start]
            yield from self._split(text, start, end, 0)

    def _split(self, text: str, start: int, end: int, level: int) -> Iterator[List[int]]:
        for depth in range(level, len(self.separators)):
            sep = self.separators[depth]
            if not sep:
                break
            piece_start = start
            for ends in _cut_points(text, start, end, sep, _MEASURE_BATCH):
                starts = [piece_start, *ends[:-1]]
                fitting: List[int] = []
                for a, b, n in zip(starts, ends, self._packer.measure(text, zip(starts, ends))):
                    if n <= self.size:
                        fitting.append(b)
                        continue
                    if fitting:
                        yield fitting
                        fitting = []
                    yield from self._split(text, a, b, depth + 1)
                if fitting:
                    yield fitting
                piece_start = ends[-1]
            if piece_start != start:
                return
        yield [end]


def _cut_points(text: str, start: int, end: int, sep: str, size: int) -> Iterator[List[int]]:
    """Positions just after each occurrence of ``sep`` strictly inside ``(start, end)``,
    then ``end``, in lists of up to ``size``; nothing when ``sep`` does not occur inside."""
    points: List[int] = []
    found = False
    width = len(sep)
    at = text.find(sep, start, end)
    while at != -1:
        cut = at + width
        if cut < end:
            points.append(cut)
            found = True
            if len(points) >= size:
                yield points
                points = []
        at = text.find(sep, cut, end)
    if found:
        points.append(end)
        yield points


def _batched(items: Iterable[int], size: int) -> Iterator[List[int]]:
    batch: List[int] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class _Region:
    start: int
    end: int
    title: Optional[str]
    anchor: Optional[str]
    #: The titles of the sections that contain this one, outermost first, and its own.
    headings: List[str] = field(default_factory=list)
    level: float = 0
    #: A unit of explicit structure (a ``<section>`` or a definition's term), not a heading.
    unit: bool = False


#: What ``SectionChunker(embed_context=True)`` embeds: the context line, a newline, then
#: the chunk's text (recorded in the chunker's description, so in the pack's manifest).
CONTEXT_FORMAT = "{title} > {heading} > {sub-heading}\n{text}"
#: A context line never takes more than this share of the chunk size.
_MAX_CONTEXT_SHARE = 2


def context_line(title: Optional[str], headings: Sequence[str]) -> str:
    """The context a chunk is embedded with: the page title and the heading path,
    joined by " > " ("Models > Fields > Field options"). A heading equal to the part
    before it is left out, and so is the title when the first heading begins it (a page
    whose ``<title>`` repeats its ``<h1>`` with a site suffix, "Models — Django
    documentation"). Empty when there is neither title nor heading."""
    parts: List[str] = []
    heads = [h.strip() for h in headings if isinstance(h, str) and h.strip()]
    page = title.strip() if isinstance(title, str) else ""
    if page and not (heads and page.startswith(heads[0])):
        parts.append(page)
    for h in heads:
        if not parts or parts[-1] != h:
            parts.append(h)
    return " > ".join(parts)


class SectionChunker:
    """Chunks that follow the document's sections: the ``sections`` metadata written by
    :class:`~vpack.plugins.transformers.HtmlToText` and
    :class:`~vpack.plugins.transformers.MarkdownToText` (dicts with ``title``,
    ``anchor`` and a ``start`` offset; each section runs to the next one's start). Text
    before the first section is a section of its own, titled with the document's title;
    a document without sections is one such section.

    Each section is chunked on its own, like :class:`RecursiveChunker` does, so a chunk
    never spans two sections, and overlap stays within a section. The exception is
    tiny sections (under ``size / 4``): consecutive tiny sections are merged into chunks
    of at most ``size``. Every chunk's metadata has ``section`` (the title) and
    ``anchor`` (the heading's link target, or None) of the section it starts in, and
    ``headings``: the titles of the enclosing sections by heading level, outermost
    first, ending with its own (``["Models", "Fields", "Field options"]``; empty before
    the first heading).

    Sections of explicit structure (``kind`` "element" or "term", see
    :mod:`vpack.plugins.transformers`) add one rule: when tiny sections that open
    ever deeper (a heading, a short intro) come right before such a unit nested in
    them, they go into the unit's first chunk, which is labelled with the unit, rather
    than standing alone. A section with level 0 (text after a unit, outside every
    section) is labelled like text before the first section. Of sections that start
    at the same offset the first counts, unless a later one has a higher level (a
    ``<section>`` whose first text is a term's: the innermost counts).

    With ``embed_context``, each chunk is also given an ``embed_text``: its
    :func:`context_line` (page title > heading path), a newline and its text, which the
    pipeline embeds instead of the text (the pack stores the clean text). The chunks of
    a section are then sized ``size`` minus the context line's size (at most half of
    ``size``), so that context and text together stay within ``size`` and a model's
    token limit does not cut the chunk's end."""

    def __init__(
        self,
        size: int = 1000,
        overlap: int = 0,
        token_counter: Optional[TokenCounter] = None,
        separators: Sequence[str] = DEFAULT_SEPARATORS,
        embed_context: bool = False,
    ) -> None:
        if not isinstance(embed_context, bool):
            raise TypeError(f"embed_context must be true or false, got {embed_context!r}")
        self._recursive = RecursiveChunker(size, overlap, separators, token_counter)
        self.size = size
        self.overlap = overlap
        self.token_counter = token_counter
        self.embed_context = embed_context
        self._packer = self._recursive._packer
        # Chunkers for sections whose context line takes ``reserve`` of the size.
        self._reserved: Dict[int, RecursiveChunker] = {0: self._recursive}

    def describe(self) -> Mapping[str, Any]:
        out: Dict[str, Any] = {
            "kind": "section",
            "size": self.size,
            "overlap": self.overlap,
            "unit": self._packer.unit,
            "separators": list(self._recursive.separators),
        }
        if self.embed_context:
            out["embed_context"] = CONTEXT_FORMAT
        return out

    def _sized(self, reserve: int) -> RecursiveChunker:
        """The recursive chunker for chunks of ``size - reserve``."""
        chunker = self._reserved.get(reserve)
        if chunker is None:
            size = self.size - reserve
            overlap = self.overlap if self.overlap < size else size // 8
            chunker = RecursiveChunker(size, overlap, self._recursive.separators, self.token_counter)
            self._reserved[reserve] = chunker
        return chunker

    def _contexts(self, title: Optional[str], regions: Sequence[_Region]) -> Tuple[List[str], List[int]]:
        """Each region's context line and the part of the size it reserves (its size
        plus one for the newline, at most half of ``size``); none without
        ``embed_context``."""
        if not self.embed_context:
            return [], []
        lines = [context_line(title, r.headings) for r in regions]
        distinct = sorted(set(lines) - {""})
        sizes: Dict[str, int] = {"": 0}
        for lo in range(0, len(distinct), _MEASURE_BATCH):
            part = distinct[lo : lo + _MEASURE_BATCH]
            sizes.update(zip(part, self._packer.measure("\n".join(part), _line_spans(part))))
        cap = self.size // _MAX_CONTEXT_SHARE
        return lines, [min(sizes[line] + 1, cap) if line else 0 for line in lines]

    def chunks(self, document: Document) -> Iterator[Chunk]:
        if not self.embed_context:
            yield from _numbered(document, self._windows(document, []))
            return
        lines: List[str] = []
        for chunk in _numbered(document, self._windows(document, lines)):
            line = lines[chunk.metadata.pop(_CONTEXT_KEY)]
            chunk.embed_text = f"{line}\n{chunk.text}" if line else chunk.text
            yield chunk

    def _windows(self, document: Document, lines: List[str]) -> Iterator[Tuple[Window, Mapping[str, Any]]]:
        """Raw windows and their section metadata; with ``embed_context``, ``lines`` is
        filled with the regions' context lines and each window's metadata names its line
        by position (under ``_CONTEXT_KEY``, taken out again by :meth:`chunks`)."""
        text = document.text
        regions = _regions(document)
        sizes: List[int] = []
        for lo in range(0, len(regions), _MEASURE_BATCH):
            part = regions[lo : lo + _MEASURE_BATCH]
            sizes += self._packer.measure(text, [(r.start, r.end) for r in part])
        title = document.metadata.get("title")
        found, reserves = self._contexts(title if isinstance(title, str) else None, regions)
        lines.extend(found)

        def labelled(
            lo: int, hi: int, windows: Iterable[Window], last: bool = False
        ) -> Iterator[Tuple[Window, Mapping[str, Any]]]:
            """Windows over ``regions[lo:hi]``, each labelled with the first of them
            that it has text of (with ``last``, the last one)."""
            run = regions[lo:hi]
            starts = [r.start for r in run]
            for window in windows:
                a = bisect_right(starts, window[0]) - 1
                b = bisect_left(starts, window[1])
                order = range(b - 1, a - 1, -1) if last else range(a, b)
                first = next(
                    (
                        k
                        for k in order
                        if _first_text(text, max(window[0], run[k].start), min(window[1], run[k].end))
                        < min(window[1], run[k].end)
                    ),
                    a,
                )
                yield window, _section_meta(run[first], lo + first if self.embed_context else None)

        i = 0
        while i < len(regions):
            if sizes[i] * 4 >= self.size:
                region = regions[i]
                meta = _section_meta(region, i if self.embed_context else None)
                sized = self._sized(reserves[i] if reserves else 0)
                cuts = sized._pieces(text, region.start, region.end, sizes[i])
                for window in sized._packer.windows(text, cuts, sized.overlap):
                    yield window, meta
                i += 1
                continue
            # A run of tiny sections: packed whole, without overlap, each chunk
            # labelled with the first section in it (and sized for the longest context).
            j = i
            while j < len(regions) and sizes[j] * 4 < self.size:
                j += 1
            # When the run ends with the start of a section (its heading, an intro)
            # whose first part is a unit of explicit structure (each one level deeper,
            # each on the unit's heading path), that start goes into the
            # unit's first chunk, labelled with the unit (whose heading path holds it),
            # rather than standing alone ("Random numbers" before its first function).
            k = j
            if j < len(regions) and regions[j].unit:
                path = regions[j].headings
                while (
                    k > i
                    and regions[k - 1].level < regions[k].level
                    and path[: len(regions[k - 1].headings)] == regions[k - 1].headings
                ):
                    k -= 1
            if k > i:
                packer = self._sized(max(reserves[i:k]) if reserves else 0)._packer
                yield from labelled(
                    i, k, packer.windows(text, [[*(r.start for r in regions[i:k]), regions[k - 1].end]], 0)
                )
            if k < j:
                sized = self._sized(max(reserves[k : j + 1]) if reserves else 0)
                start, end = regions[k].start, regions[j].end
                cuts = sized._pieces(text, start, end)
                yield from labelled(k, j + 1, sized._packer.windows(text, cuts, sized.overlap), last=True)
                j += 1
            i = j


#: A chunk's metadata key, while it is being made, for the position of its context line.
_CONTEXT_KEY = "\x00context"


def _line_spans(lines: Sequence[str]) -> List[Tuple[int, int]]:
    """The spans of ``lines`` in ``"\n".join(lines)``."""
    spans = []
    at = 0
    for line in lines:
        spans.append((at, at + len(line)))
        at += len(line) + 1
    return spans


def _section_meta(region: _Region, context: Optional[int] = None) -> Dict[str, Any]:
    meta: Dict[str, Any] = {
        "section": region.title,
        "anchor": region.anchor,
        "headings": list(region.headings),
    }
    if context is not None:
        meta[_CONTEXT_KEY] = context
    return meta


def _regions(document: Document) -> List[_Region]:
    """The document's text cut at the start of each section (malformed entries are
    ignored; offsets are clamped to the text)."""
    text = document.text
    n = len(text)
    title = document.metadata.get("title")
    page = title if isinstance(title, str) else None
    # start -> (its region, to be given its end, and the level the list gave or None)
    starts: Dict[int, Tuple[_Region, Optional[float]]] = {}
    sections = document.metadata.get("sections")
    # The open sections (level, title), outermost first, in the order the list gives
    # them (a section without a valid level is taken as one level below the last).
    stack: List[Tuple[float, str]] = []
    if isinstance(sections, (list, tuple)):
        for sec in sections:
            if not isinstance(sec, Mapping):
                continue
            start = sec.get("start")
            if not isinstance(start, int) or isinstance(start, bool):
                continue
            start = min(max(start, 0), n)
            sec_title = sec.get("title")
            anchor = sec.get("anchor")
            level = given = sec.get("level")
            if isinstance(level, bool) or not isinstance(level, (int, float)):
                level = stack[-1][0] + 1 if stack else 1
                given = None
            if level == 0:
                # Text outside every section: labelled like the text before the first.
                stack.clear()
                region = _Region(start, n, page, None)
            else:
                while stack and stack[-1][0] >= level:
                    stack.pop()
                stack.append((level, sec_title.strip() if isinstance(sec_title, str) else ""))
                region = _Region(
                    start,
                    n,
                    sec_title if isinstance(sec_title, str) else None,
                    anchor if isinstance(anchor, str) and anchor else None,
                    [t for _, t in stack if t],
                    level,
                    sec.get("kind") in ("element", "term"),
                )
            known = starts.get(start)
            # At one start the first section wins, unless a later one is nested in it
            # (a higher level given): a <section> whose first text is a term's.
            if known is None or (given is not None and known[1] is not None and given > known[1]):
                starts[start] = (region, given)
    regions: List[_Region] = []
    ordered = sorted(starts)
    first = ordered[0] if ordered else n
    if first > 0 and text[:first].strip():
        regions.append(_Region(0, first, page, None))
    for k, start in enumerate(ordered):
        end = ordered[k + 1] if k + 1 < len(ordered) else n
        if end > start:
            region = starts[start][0]
            region.end = end
            regions.append(region)
    if regions and regions[0].start > 0:
        # Whitespace before the first section belongs to it.
        regions[0].start = 0
    return regions
