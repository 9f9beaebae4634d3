"""Built-in sources."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Pattern, Sequence

from .base import Document, Skipped

DEFAULT_INCLUDE = ("**/*.txt", "**/*.md", "**/*.markdown", "**/*.rst")
_BINARY_SNIFF = 8192


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> Pattern[str]:
    """Translates a glob over '/'-separated relative paths: ``**`` spans directories,
    ``*`` and ``?`` stay within one path segment."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def glob_match(path: str, pattern: str) -> bool:
    return _glob_regex(pattern).match(path) is not None


def _markdown_title(text: str) -> str | None:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip() or None
    return None


class DirectorySource:
    """Every file under ``root`` whose path relative to ``root`` matches an ``include``
    glob and no ``exclude`` glob, in sorted order. Symlinks are not followed out of
    ``root``; binary and undecodable files are skipped with a reason."""

    def __init__(
        self,
        root: os.PathLike[str] | str,
        include: Sequence[str] = DEFAULT_INCLUDE,
        exclude: Sequence[str] = (),
        encoding: str = "utf-8",
    ) -> None:
        self.root = Path(root)
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.encoding = encoding
        self.skipped: List[Skipped] = []
        if not self.root.is_dir():
            raise NotADirectoryError(f"source folder {str(self.root)!r} is not a directory")

    def describe(self) -> Mapping[str, Any]:
        return {
            "kind": "directory",
            "include": list(self.include),
            "exclude": list(self.exclude),
        }

    def _selected(self, rel: str) -> bool:
        return any(glob_match(rel, p) for p in self.include) and not any(
            glob_match(rel, p) for p in self.exclude
        )

    def _paths(self) -> Iterator[Path]:
        """Selected files, streamed: each folder's files in name order, then its
        subfolders in name order. Only one folder's listing is held at a time."""
        root_real = self.root.resolve()
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath, name)
                rel = path.relative_to(self.root).as_posix()
                if not self._selected(rel):
                    continue
                if path.is_symlink() and root_real not in path.resolve().parents:
                    self.skipped.append(Skipped(rel, "symlink points outside the source folder"))
                    continue
                yield path

    def documents(self) -> Iterator[Document]:
        for path in self._paths():
            rel = path.relative_to(self.root).as_posix()
            try:
                raw = path.read_bytes()
            except OSError as exc:
                self.skipped.append(Skipped(rel, f"unreadable: {exc.strerror or exc}"))
                continue
            if b"\0" in raw[:_BINARY_SNIFF]:
                self.skipped.append(Skipped(rel, "binary file"))
                continue
            try:
                text = raw.decode(self.encoding)
            except UnicodeDecodeError as exc:
                self.skipped.append(
                    Skipped(rel, f"not valid {self.encoding}: {exc.reason} at byte {exc.start}")
                )
                continue
            text = text.lstrip("\ufeff")
            if not text.strip():
                self.skipped.append(Skipped(rel, "empty document"))
                continue
            meta: Dict[str, Any] = {"path": rel}
            title = _markdown_title(text) if path.suffix.lower() in (".md", ".markdown") else None
            meta["title"] = title or path.stem
            yield Document(id=rel, text=text, metadata=meta)
