"""Built-in chunkers."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from .base import Chunk, Document


class FixedSizeChunker:
    """Windows of at most ``size`` characters, each starting ``size - overlap`` after the
    previous one. A window ends at the last whitespace in its final fifth when there is
    one, so words are not cut; offsets always refer to the document's text."""

    def __init__(self, size: int = 1000, overlap: int = 200) -> None:
        if size <= 0:
            raise ValueError(f"chunk size must be positive, got {size}")
        if not 0 <= overlap < size:
            raise ValueError(f"chunk overlap must be in [0, size), got {overlap}")
        self.size = size
        self.overlap = overlap

    def describe(self) -> Mapping[str, Any]:
        return {"kind": "fixed", "size": self.size, "overlap": self.overlap, "unit": "chars"}

    def chunks(self, document: Document) -> Iterator[Chunk]:
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
                meta = dict(document.metadata)
                meta.update({"chunk": index, "start": start, "end": end})
                yield Chunk(text=piece, start=start, end=end, metadata=meta)
                index += 1
            if end >= n:
                break
            start = max(end - self.overlap, start + 1)
