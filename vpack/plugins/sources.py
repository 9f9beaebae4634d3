"""Built-in sources: a folder of files, a JSON Lines file, a CSV file, or any iterable.

Every source yields :class:`Document` objects and records what it passed over (with the
reason) in ``skipped`` instead of raising, so one bad file, line or row does not stop a
build. Record-based sources (JSON Lines, CSV) share these rules:

- the text comes from ``text_field``; a record whose text is missing, not a string, or
  only whitespace is skipped;
- the id is the value of ``id_field`` (a string or an integer) when given, otherwise
  ``"<path>:<line>"`` (``"<path>:<row>"`` for CSV);
- the metadata holds ``metadata_fields`` (default: every field but the text), minus
  values that cannot be stored as JSON, plus ``path`` (the file, as given) and ``line``
  (or ``row``), which replace record fields of the same name.
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Pattern, Sequence, Union

from .base import Document, Skipped

DEFAULT_INCLUDE = ("**/*.txt", "**/*.md", "**/*.markdown", "**/*.rst", "**/*.html", "**/*.htm")
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


def _json_safe(value: Any) -> bool:
    """Whether ``value`` is stored as JSON unchanged: null, booleans, integers, finite
    floats, strings, and lists and objects (string keys) of those."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_json_safe(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_safe(v) for k, v in value.items())
    return False


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _record_document(
    record: Mapping[str, Any],
    default_id: str,
    text_field: str,
    metadata_fields: Optional[Sequence[str]],
    id_field: Optional[str],
    location: Mapping[str, Any],
) -> Union[Document, str]:
    """The document for one record, or the reason it cannot be one."""
    if text_field not in record:
        return f"missing text field {text_field!r}"
    text = record[text_field]
    if not isinstance(text, str):
        return f"text field {text_field!r} is not a string ({_json_type(text)})"
    if not text.strip():
        return "empty text"
    doc_id = default_id
    if id_field is not None:
        if record.get(id_field) is None:
            return f"missing id field {id_field!r}"
        value = record[id_field]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return f"id field {id_field!r} is not a string or an integer ({_json_type(value)})"
        doc_id = str(value)
        if not doc_id.strip():
            return f"empty id field {id_field!r}"
    if metadata_fields is None:
        names: Iterable[str] = (k for k in record if k != text_field)
    else:
        names = (k for k in metadata_fields if k in record)
    meta = {k: record[k] for k in names if _json_safe(record[k])}
    meta.update(location)
    return Document(id=doc_id, text=text, metadata=meta)


def _existing_file(path: os.PathLike[str] | str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"source file {os.fspath(path)!r} does not exist or is not a file")
    return p


class _RecordFile:
    """What the record sources share: the file, and which fields hold the text, the
    metadata and the id."""

    kind = ""

    def __init__(
        self,
        path: os.PathLike[str] | str,
        text_field: str = "text",
        metadata_fields: Optional[Sequence[str]] = None,
        id_field: Optional[str] = None,
    ) -> None:
        self.path = _existing_file(path)
        self.name = os.fspath(path)
        self.text_field = text_field
        self.metadata_fields = None if metadata_fields is None else tuple(metadata_fields)
        self.id_field = id_field
        self.skipped: List[Skipped] = []

    def describe(self) -> Mapping[str, Any]:
        return {
            "kind": self.kind,
            "path": self.name,
            "text_field": self.text_field,
            "metadata_fields": None if self.metadata_fields is None else list(self.metadata_fields),
            "id_field": self.id_field,
        }


class JsonlSource(_RecordFile):
    """One document per line of a JSON Lines file: each line is a JSON object. Lines
    that are not valid UTF-8 or JSON, are not objects, or fail the record rules (see the
    module docstring) are skipped as ``"<path>:<line>"``; blank lines are ignored."""

    kind = "jsonl"

    def documents(self) -> Iterator[Document]:
        self.skipped = []
        with self.path.open("rb") as lines:
            for number, raw in enumerate(lines, 1):
                where = f"{self.name}:{number}"
                if number == 1:
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self.skipped.append(Skipped(where, f"not valid utf-8: {exc.reason} at byte {exc.start}"))
                    continue
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    self.skipped.append(Skipped(where, f"invalid JSON: {exc}"))
                    continue
                if not isinstance(record, dict):
                    self.skipped.append(Skipped(where, f"not a JSON object ({_json_type(record)})"))
                    continue
                doc = _record_document(
                    record,
                    where,
                    self.text_field,
                    self.metadata_fields,
                    self.id_field,
                    {"path": self.name, "line": number},
                )
                if isinstance(doc, str):
                    self.skipped.append(Skipped(where, doc))
                else:
                    yield doc


def _undecodable(path: Path, encoding: str) -> Optional[str]:
    """Why ``path`` does not decode with ``encoding``, or None when it does. Reads the
    file in blocks, so memory does not grow with its size."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with path.open("rb") as f:
        while True:
            block = f.read(1 << 16)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return f"not valid {encoding}: {exc.reason} at byte {offset - pending + exc.start}"
            if not block:
                return None
            offset += len(block)


class CsvSource(_RecordFile):
    """One document per row of a CSV file with a header row (read with
    :class:`csv.DictReader`). Rows are numbered as a spreadsheet shows them: the header is
    row 1, so the first record is row 2. Rows that fail the record rules (see the module
    docstring) or have more fields than the header are skipped as ``"<path>:<row>"``;
    cells missing from a short row are left out of the metadata. A file that does not
    decode with ``encoding``, has no header, or has no ``text_field`` (or ``id_field``)
    column is one skipped entry. A UTF-8 byte order mark is ignored."""

    kind = "csv"

    def __init__(
        self,
        path: os.PathLike[str] | str,
        text_field: str = "text",
        metadata_fields: Optional[Sequence[str]] = None,
        id_field: Optional[str] = None,
        delimiter: str = ",",
        encoding: str = "utf-8",
    ) -> None:
        super().__init__(path, text_field, metadata_fields, id_field)
        self.delimiter = delimiter
        self.encoding = encoding

    def describe(self) -> Mapping[str, Any]:
        return {**super().describe(), "delimiter": self.delimiter, "encoding": self.encoding}

    def documents(self) -> Iterator[Document]:
        self.skipped = []
        reason = _undecodable(self.path, self.encoding)
        if reason is not None:
            self.skipped.append(Skipped(self.name, reason))
            return
        encoding = "utf-8-sig" if codecs.lookup(self.encoding).name == "utf-8" else self.encoding
        with self.path.open("r", encoding=encoding, newline="") as f:
            yield from self._rows(csv.DictReader(f, delimiter=self.delimiter))

    def _rows(self, reader: csv.DictReader[str]) -> Iterator[Document]:
        row = 1
        try:
            header = reader.fieldnames
            if not header:
                self.skipped.append(Skipped(self.name, "no header row"))
                return
            for column in (self.text_field, self.id_field):
                if column is not None and column not in header:
                    columns = ", ".join(repr(c) for c in header)
                    self.skipped.append(Skipped(self.name, f"no column {column!r} (columns: {columns})"))
                    return
            for record in reader:
                row += 1
                where = f"{self.name}:{row}"
                if None in record:
                    fields = len(header) + len(record[None])
                    self.skipped.append(Skipped(where, f"{fields} fields, the header has {len(header)}"))
                    continue
                doc = _record_document(
                    {k: v for k, v in record.items() if v is not None},
                    where,
                    self.text_field,
                    self.metadata_fields,
                    self.id_field,
                    {"path": self.name, "row": row},
                )
                if isinstance(doc, str):
                    self.skipped.append(Skipped(where, doc))
                else:
                    yield doc
        except csv.Error as exc:
            # The reader cannot resynchronise reliably after a parse error.
            self.skipped.append(Skipped(f"{self.name}:{row + 1}", f"CSV error: {exc}; rest of file not read"))
        except UnicodeDecodeError as exc:  # the file changed after it was checked
            self.skipped.append(Skipped(self.name, f"not valid {self.encoding}: {exc.reason}"))


class IterableSource:
    """Documents from any iterable of :class:`Document` objects (used as they are), of
    dicts ``{"text": ..., "id": ..., "metadata": {...}}`` (``id`` and ``metadata``
    optional), or of plain strings. Items without an id get their position (``"0"``,
    ``"1"``, ...); dicts and strings also get their id as ``metadata["id"]`` unless the
    metadata has one. Invalid items are skipped as ``"item <position>"``. The iterable is
    read once per :meth:`documents` call, so an iterator gives its documents only once."""

    _DICT_KEYS = frozenset({"text", "id", "metadata"})

    def __init__(self, items: Iterable[Union[Document, Mapping[str, Any], str]]) -> None:
        self.items = items
        self.skipped: List[Skipped] = []

    def describe(self) -> Mapping[str, Any]:
        return {"kind": "iterable"}

    def documents(self) -> Iterator[Document]:
        self.skipped = []
        for index, item in enumerate(self.items):
            doc = self._document(index, item)
            if isinstance(doc, str):
                self.skipped.append(Skipped(f"item {index}", doc))
            else:
                yield doc

    def _document(self, index: int, item: object) -> Union[Document, str]:
        if isinstance(item, Document):
            if not isinstance(item.text, str):
                return f"text is not a string ({type(item.text).__name__})"
            if not item.text.strip():
                return "empty text"
            if not isinstance(item.id, str) or not item.id:
                return "Document id is not a non-empty string"
            return item
        if isinstance(item, str):
            return self._build(str(index), item, {})
        if isinstance(item, Mapping):
            unknown = sorted(str(k) for k in item if k not in self._DICT_KEYS)
            if unknown:
                return f"unexpected keys {', '.join(map(repr, unknown))} (expected text, id, metadata)"
            if "text" not in item:
                return "missing 'text'"
            if not isinstance(item["text"], str):
                return f"'text' is not a string ({type(item['text']).__name__})"
            doc_id = item.get("id", index)
            if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)) or str(doc_id) == "":
                return f"'id' is not a non-empty string or an integer ({doc_id!r})"
            metadata = item.get("metadata", {})
            if not isinstance(metadata, Mapping):
                return f"'metadata' is not a mapping ({type(metadata).__name__})"
            meta = {k: v for k, v in metadata.items() if isinstance(k, str) and _json_safe(v)}
            return self._build(str(doc_id), item["text"], meta)
        return f"expected a Document, a dict or a str, got {type(item).__name__}"

    @staticmethod
    def _build(doc_id: str, text: str, meta: Dict[str, Any]) -> Union[Document, str]:
        if not text.strip():
            return "empty text"
        meta.setdefault("id", doc_id)
        return Document(id=doc_id, text=text, metadata=meta)
