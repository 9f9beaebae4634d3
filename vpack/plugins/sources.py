"""Built-in sources: a folder of files, a JSON Lines file, a CSV file, or any iterable.

Every source yields :class:`Document` objects and records what it passed over (with the
reason) in ``skipped`` instead of raising, so one bad file, line or row does not stop a
build. Only a file that cannot be right as a whole raises: a CSV file without a header
or without its text (or id) column, and a JSON Lines file none of whose records has the
text field (:class:`~vpack.errors.InvalidArgumentError`, naming the field and the
fields found). Inputs larger than ``max_document_size`` bytes (default
:data:`~vpack.plugins.base.DEFAULT_MAX_DOCUMENT_SIZE`, 64 MiB) are skipped without
being read whole. Record-based sources (JSON Lines, CSV) share these rules:

- the text comes from ``text_field``; a record whose text is missing, not a string, or
  only whitespace is skipped;
- the id is the value of ``id_field`` (a string or an integer) when given, otherwise
  ``"<path>:<line>"`` (``"<path>:<row>"`` for CSV);
- the metadata holds ``metadata_fields`` (default: every field but the text), minus
  values that cannot be stored as JSON (see :func:`~vpack.plugins.base.unstorable`),
  plus ``path`` (the file's name, without its folder, so the pack does not depend on
  where the file was) and ``line`` (or ``row``), which replace record fields of the
  same name.
"""

from __future__ import annotations

import codecs
import csv
import errno
import json
import os
import re
import stat
import sys
from functools import lru_cache
from pathlib import Path
from typing import (
    IO,
    Any,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Pattern,
    Sequence,
    Set,
    Tuple,
    Union,
)

from ..errors import InvalidArgumentError, PackIOError
from .base import DEFAULT_MAX_DOCUMENT_SIZE, MAX_METADATA_DEPTH, Document, Skipped, unstorable

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
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def glob_match(path: str, pattern: str) -> bool:
    return _glob_regex(pattern).match(path) is not None


def check_max_document_size(value: Any) -> int:
    """``value`` as a maximum document size: a positive number of bytes."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"max_document_size must be a positive number of bytes, got {value!r}")
    return value


def too_large(size: int, limit: int, unit: str = "bytes", at_least: bool = False) -> str:
    """The skip reason for an input over the maximum document size."""
    more = "more than " if at_least else ""
    if size == 1 and unit.endswith("s"):
        unit = unit[:-1]
    return (
        f"larger than the maximum document size: {more}{size:,} {unit}, "
        f"the limit is {limit:,} (max_document_size)"
    )


# A line that starts a Markdown title ("# Title"); line boundaries as str.splitlines.
_LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_MARKDOWN_TITLE = re.compile(f"(?:^|(?<=[{_LINE_BREAKS}]))# ([^{_LINE_BREAKS}]*)")


def _markdown_title(text: str) -> Optional[str]:
    """The first line that starts with "# ", without it (None when it is empty)."""
    found = _MARKDOWN_TITLE.search(text)
    return (found.group(1).strip() or None) if found else None


def _shown(path: str) -> str:
    """A path for reports: bytes that are not UTF-8 appear as escapes (\\xff)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _os_reason(exc: OSError, what: str = "unreadable") -> str:
    if exc.errno == errno.ENAMETOOLONG:
        return f"path too long for this system ({exc.strerror})"
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    return f"{what}: {exc.strerror or exc}"


_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


def _not_regular(mode: int) -> Optional[str]:
    """Why a file of this mode is not read (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "a special file")
    return f"not a regular file: {kind}"


# Opening never blocks (a FIFO swapped in after the check) nor takes a terminal.
_OPEN_FLAGS = os.O_RDONLY
for _flag in ("O_NONBLOCK", "O_NOCTTY", "O_CLOEXEC"):
    _OPEN_FLAGS |= getattr(os, _flag, 0)


def _read_file(path: str, limit: int) -> Union[bytes, str]:
    """The bytes of the regular file at ``path``, or why they were not read: not a
    regular file, larger than ``limit``, or an OS error. Never reads more than
    ``limit + 1`` bytes and never opens a FIFO, socket or device for reading."""
    try:
        info = os.stat(path)
        reason = _not_regular(info.st_mode)
        if reason is not None:
            return reason
        if info.st_size > limit:
            return too_large(info.st_size, limit)
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        return _os_reason(exc)
    try:
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            reason = _not_regular(info.st_mode)  # replaced after the first check
            if reason is not None:
                return reason
            wanted = min(info.st_size, limit) + 1
            raw = f.read(wanted)
            if len(raw) == wanted <= limit:  # it grew since it was measured
                raw += f.read(limit + 1 - wanted)
    except OSError as exc:
        return _os_reason(exc)
    if len(raw) > limit:
        return too_large(limit, limit, at_least=True)
    return raw


class DirectorySource:
    """Every file under ``root`` whose path relative to ``root`` matches an ``include``
    glob and no ``exclude`` glob: each folder's files in name order, then its subfolders
    in name order. Nothing stops the walk: these are skipped, each with a reason (one
    entry per folder for a folder): files that are binary, undecodable, empty, larger
    than ``max_document_size`` bytes, not regular files (FIFOs, sockets, devices: never
    opened), or unreadable; symlinks that loop, dangle, point outside ``root``, or point
    to a folder (folders are not followed through symlinks); folders that cannot be
    listed (permissions, a path longer than the system allows) or were already walked
    (a filesystem loop); names that are not valid UTF-8. Folders that an exclude glob
    ending in ``/**`` covers whole are not walked at all."""

    def __init__(
        self,
        root: os.PathLike[str] | str,
        include: Sequence[str] = DEFAULT_INCLUDE,
        exclude: Sequence[str] = (),
        encoding: str = "utf-8",
        max_document_size: int = DEFAULT_MAX_DOCUMENT_SIZE,
    ) -> None:
        self.root = Path(root)
        self.include = tuple(include)
        self.exclude = tuple(exclude)
        self.encoding = encoding
        self.max_document_size = check_max_document_size(max_document_size)
        self.skipped: List[Skipped] = []
        if not self.root.is_dir():
            raise NotADirectoryError(f"source folder {str(self.root)!r} is not a directory")

    def describe(self) -> Mapping[str, Any]:
        return {
            "kind": "directory",
            "include": list(self.include),
            "exclude": list(self.exclude),
        }

    def estimate(self) -> int:
        """How many files :meth:`documents` will look at (for a progress display's
        total): the selected files, listed without being read."""
        kept = self.skipped
        try:
            return sum(1 for _ in self._paths())
        finally:
            self.skipped = kept

    def _selected(self, rel: str) -> bool:
        return any(glob_match(rel, p) for p in self.include) and not any(
            glob_match(rel, p) for p in self.exclude
        )

    def _pruned(self, rel: str) -> bool:
        """Whether every path under folder ``rel`` is excluded: an exclude glob is
        ``**``, or ends in ``/**`` after a part that matches the folder."""
        return any(p == "**" or (p.endswith("/**") and glob_match(rel, p[:-3])) for p in self.exclude)

    def _skip(self, rel: str, reason: str) -> None:
        self.skipped.append(Skipped(_shown(rel), reason))

    def _paths(self) -> Iterator[Tuple[str, str, bool]]:
        """Selected files as (path, path relative to the root, is a symlink), streamed:
        each folder's files in name order, then its subfolders in name order. Only the
        listings of the folders on the way down are held."""
        root = os.fspath(self.root)
        seen: Set[Tuple[int, int]] = set()
        pending: List[Tuple[str, str]] = [(root, "")]  # (folder, its relative path + "/")
        while pending:
            folder, prefix = pending.pop()
            try:
                info = os.stat(folder)
                if (info.st_dev, info.st_ino) in seen:
                    self._skip(prefix, "folder already read (a filesystem loop)")
                    continue
                seen.add((info.st_dev, info.st_ino))
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                if not prefix:
                    raise PackIOError(f"cannot read source folder {root!r}: {_os_reason(exc)}") from exc
                self._skip(prefix, _os_reason(exc, "unreadable folder"))
                continue
            folders: List[str] = []
            for entry in entries:
                rel = prefix + entry.name
                try:
                    link = entry.is_symlink()
                    is_folder = entry.is_dir(follow_symlinks=False)
                    if link and not is_folder:
                        try:
                            is_folder = stat.S_ISDIR(os.stat(entry.path).st_mode)
                        except OSError:
                            is_folder = False  # reported below if its name is selected
                except OSError as exc:
                    if self._selected(rel):
                        self._skip(rel, _os_reason(exc))
                    continue
                if is_folder:
                    if self._pruned(rel):
                        continue
                    if link:
                        self._skip(rel + "/", "symlink to a folder (not followed)")
                    elif not _utf8(entry.name):
                        self._skip(rel + "/", "folder name is not valid UTF-8 (not read)")
                    else:
                        folders.append(entry.name)
                    continue
                if not self._selected(rel):
                    continue
                if not _utf8(entry.name):
                    self._skip(rel, "file name is not valid UTF-8")
                    continue
                yield entry.path, rel, link
            for name in reversed(folders):
                pending.append((os.path.join(folder, name), prefix + name + "/"))

    def _read(self, path: str, link: bool, root_real: str) -> Union[bytes, str]:
        if link:
            try:
                os.stat(path)
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    return "broken symlink (its target does not exist)"
                return _os_reason(exc)
            target = os.path.realpath(path)
            if os.path.commonpath([root_real, target]) != root_real or target == root_real:
                return "symlink points outside the source folder"
        return _read_file(path, self.max_document_size)

    def documents(self) -> Iterator[Document]:
        self.skipped = []
        root_real = os.path.realpath(self.root)
        for path, rel, link in self._paths():
            raw = self._read(path, link, root_real)
            if isinstance(raw, str):
                self._skip(rel, raw)
                continue
            if b"\0" in raw[:_BINARY_SNIFF]:
                self._skip(rel, "binary file")
                continue
            try:
                text = raw.decode(self.encoding)
            except UnicodeDecodeError as exc:
                self._skip(rel, f"not valid {self.encoding}: {exc.reason} at byte {exc.start}")
                continue
            except LookupError as exc:
                raise ValueError(f"unknown encoding {self.encoding!r}") from exc
            del raw  # only the text is held while the document goes down the pipeline
            if text.startswith("\ufeff"):
                text = text.lstrip("\ufeff")
            if not text or text.isspace():
                self._skip(rel, "empty document")
                continue
            meta: Dict[str, Any] = {"path": rel}
            suffix = os.path.splitext(rel)[1].lower()
            title = _markdown_title(text) if suffix in (".md", ".markdown") else None
            meta["title"] = title or Path(rel).stem
            yield Document(id=rel, text=text, metadata=meta)


def _utf8(name: str) -> bool:
    """Whether a file name (as os gives it, undecodable bytes escaped) is valid UTF-8."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_safe(value: Any) -> bool:
    """Whether ``value`` is stored as JSON unchanged as a metadata field (see
    :func:`~vpack.plugins.base.unstorable`; one level is the metadata object's)."""
    return unstorable(value, MAX_METADATA_DEPTH - 1) is None


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
    if not text or text.isspace():
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
    """What the record sources share: the file, which fields hold the text, the
    metadata and the id, and the maximum document size."""

    kind = ""

    def __init__(
        self,
        path: os.PathLike[str] | str,
        text_field: str = "text",
        metadata_fields: Optional[Sequence[str]] = None,
        id_field: Optional[str] = None,
        max_document_size: int = DEFAULT_MAX_DOCUMENT_SIZE,
    ) -> None:
        self.path = _existing_file(path)
        self.name = os.fspath(path)
        self.text_field = text_field
        self.metadata_fields = None if metadata_fields is None else tuple(metadata_fields)
        self.id_field = id_field
        self.max_document_size = check_max_document_size(max_document_size)
        self.skipped: List[Skipped] = []

    @property
    def file_name(self) -> str:
        """The file's name without its folder: what the pack records as ``path``."""
        return self.path.name

    def describe(self) -> Mapping[str, Any]:
        return {
            "kind": self.kind,
            "path": self.file_name,
            "text_field": self.text_field,
            "metadata_fields": None if self.metadata_fields is None else list(self.metadata_fields),
            "id_field": self.id_field,
        }


#: Nesting allowed in a JSON Lines record: the metadata depth (the record is the
#: metadata object).
MAX_JSON_DEPTH = MAX_METADATA_DEPTH
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_OPENERS = frozenset(b"[{")


def json_depth_over(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects deeper than ``limit``,
    found without parsing it (so a hostile nesting never reaches a recursive parser)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    # Drop escaped backslashes, then escaped quotes: the quotes left delimit strings.
    outside = raw.replace(b"\\\\", b"").replace(b'\\"', b"").split(b'"')[0::2]
    depth = 0
    for part in outside:
        for byte in part.translate(None, _NOT_BRACKETS):
            if byte in _OPENERS:
                depth += 1
                if depth > limit:
                    return True
            else:
                depth -= 1
    return False


def _parse_int(digits: str) -> int:
    """Integers in JSON Lines: refuses thousands of digits (converting them takes time
    quadratic in their length where the interpreter does not limit it itself)."""
    if len(digits) > 4300:
        raise ValueError(f"an integer with {len(digits):,} digits")
    return int(digits)


def _json_loads(line: str) -> Any:
    if getattr(sys, "get_int_max_str_digits", lambda: 0)() > 0:
        return json.loads(line)
    return json.loads(line, parse_int=_parse_int)


def _discard_line(f: IO[bytes]) -> int:
    """Reads the rest of a line without keeping it; returns how many bytes it had."""
    size = 0
    while True:
        part = f.readline(1 << 20)
        size += len(part)
        if not part or part.endswith(b"\n"):
            return size


class JsonlSource(_RecordFile):
    """One document per line of a JSON Lines file: each line is a JSON object. Lines
    that are not valid UTF-8 or JSON, are not objects, nest deeper than
    :data:`MAX_JSON_DEPTH` levels, are longer than ``max_document_size`` bytes (never
    read whole), or fail the record rules (see the module docstring) are skipped as
    ``"<path>:<line>"``; blank lines are ignored. When no record has the text field at
    all, reading the file raises :class:`~vpack.errors.InvalidArgumentError` naming the
    fields that were found."""

    kind = "jsonl"

    def documents(self) -> Iterator[Document]:
        self.skipped = []
        limit = self.max_document_size
        records = without_text = 0
        fields: Dict[str, None] = {}  # some fields of records without the text field
        number = 0
        with self.path.open("rb") as lines:
            while True:
                raw = lines.readline(limit + 1)
                if not raw:
                    break
                number += 1
                where = f"{self.name}:{number}"
                if len(raw) > limit and not raw.endswith(b"\n"):
                    size = len(raw) + _discard_line(lines)
                    self.skipped.append(Skipped(where, "line " + too_large(size, limit)))
                    continue
                if number == 1:
                    raw = raw.removeprefix(codecs.BOM_UTF8)
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self.skipped.append(Skipped(where, f"not valid utf-8: {exc.reason} at byte {exc.start}"))
                    continue
                if not line or line.isspace():
                    continue
                if json_depth_over(raw, MAX_JSON_DEPTH):
                    self.skipped.append(Skipped(where, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"))
                    continue
                try:
                    record = _json_loads(line)
                except (ValueError, RecursionError) as exc:
                    self.skipped.append(Skipped(where, f"invalid JSON: {exc}"))
                    continue
                if not isinstance(record, dict):
                    self.skipped.append(Skipped(where, f"not a JSON object ({_json_type(record)})"))
                    continue
                records += 1
                if self.text_field not in record:
                    without_text += 1
                    for key in record:
                        if len(fields) < 20:
                            fields[key] = None
                doc = _record_document(
                    record,
                    where,
                    self.text_field,
                    self.metadata_fields,
                    self.id_field,
                    {"path": self.file_name, "line": number},
                )
                if isinstance(doc, str):
                    self.skipped.append(Skipped(where, doc))
                else:
                    yield doc
        if records and without_text == records:
            found = ", ".join(repr(k) for k in fields) or "none"
            raise InvalidArgumentError(
                f"{self.name}: no record has the text field {self.text_field!r} (fields found: {found}); "
                "name the field that holds the text (--text-field, or the source's text_field option)",
                InvalidArgumentError.code,
            )


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


class _LineTooLong(Exception):
    def __init__(self, number: int) -> None:
        super().__init__(number)
        self.number = number


# Fed to the CSV reader after the file's last line: a reader still inside a quoted
# field swallows it; otherwise it comes back as a row of its own.
_END = "\ue000vpack: end of file\ue000"


class _CsvLines:
    """The lines of a CSV file for :func:`csv.reader`: each read with at most ``limit``
    characters (a longer one raises :class:`_LineTooLong` instead of being read whole),
    then the :data:`_END` line."""

    def __init__(self, f: IO[str], limit: int) -> None:
        self.f = f
        self.limit = limit
        self.number = 0  # lines read
        self.ended = False  # the _END line was given

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.ended:
            raise StopIteration
        line = self.f.readline(self.limit + 1)
        if not line:
            self.ended = True
            return _END + "\n"
        self.number += 1
        if len(line) > self.limit and not line.endswith(("\n", "\r")):
            raise _LineTooLong(self.number)
        return line


class CsvSource(_RecordFile):
    """One document per row of a CSV file with a header row. Rows are numbered as a
    spreadsheet shows them: the header is row 1, so the first record is row 2 (blank
    lines are not rows). Rows that fail the record rules (see the module docstring) or
    have more fields than the header are skipped as ``"<path>:<row>"``; cells missing
    from a short row are left out of the metadata. A file that does not decode with
    ``encoding`` is one skipped entry; one without a header row or without the
    ``text_field`` (or ``id_field``) column raises
    :class:`~vpack.errors.InvalidArgumentError` naming the columns it has. After a
    parse error the reader cannot find its place again: the row is skipped with the
    reason and the rest of the file is not read. The same goes for a quoted field that
    is never closed (it would swallow the rest of the file), a line or field longer than
    ``max_document_size`` (never read whole). A UTF-8 byte order mark is ignored."""

    kind = "csv"

    def __init__(
        self,
        path: os.PathLike[str] | str,
        text_field: str = "text",
        metadata_fields: Optional[Sequence[str]] = None,
        id_field: Optional[str] = None,
        delimiter: str = ",",
        encoding: str = "utf-8",
        max_document_size: int = DEFAULT_MAX_DOCUMENT_SIZE,
    ) -> None:
        super().__init__(path, text_field, metadata_fields, id_field, max_document_size)
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
        # The csv module's field limit is process-wide: raised to ours while reading.
        previous = csv.field_size_limit()
        csv.field_size_limit(self.max_document_size)
        try:
            with self.path.open("r", encoding=encoding, newline="") as f:
                lines = _CsvLines(f, self.max_document_size)
                yield from self._rows(csv.reader(lines, delimiter=self.delimiter), lines)
        finally:
            csv.field_size_limit(previous)

    def _header(self, reader: Iterator[List[str]], lines: _CsvLines) -> List[str]:
        header = next(reader, None)
        if header is None or lines.ended or not header:
            raise InvalidArgumentError(
                f"{self.name}: no header row (the first line must name the columns)",
                InvalidArgumentError.code,
            )
        for column, role in ((self.text_field, "text"), (self.id_field, "id")):
            if column is not None and column not in header:
                columns = ", ".join(repr(c) for c in header)
                raise InvalidArgumentError(
                    f"{self.name}: no column {column!r} for the {role} (columns: {columns}); "
                    f"name the column that holds the {role} (the source's {role}_field option"
                    + (", --text-field)" if role == "text" else ")"),
                    InvalidArgumentError.code,
                )
        return header

    def _rows(self, reader: Iterator[List[str]], lines: _CsvLines) -> Iterator[Document]:
        row = 1
        started = 1  # the line the current record starts on
        limit = self.max_document_size
        try:
            header = self._header(reader, lines)
            width = len(header)
            while True:
                started = lines.number + 1
                cells = next(reader, None)
                if cells is None:
                    return
                if lines.ended:
                    if cells != [_END]:
                        self.skipped.append(
                            Skipped(
                                f"{self.name}:{row + 1}",
                                f"a quoted field opened on line {started} is never closed; "
                                f"lines {started} to {lines.number} (the end of the file) not read",
                            )
                        )
                    return
                if not cells:
                    continue
                row += 1
                where = f"{self.name}:{row}"
                if len(cells) > width:
                    self.skipped.append(Skipped(where, f"{len(cells)} fields, the header has {width}"))
                    continue
                doc = _record_document(
                    dict(zip(header, cells)),
                    where,
                    self.text_field,
                    self.metadata_fields,
                    self.id_field,
                    {"path": self.file_name, "row": row},
                )
                if isinstance(doc, str):
                    self.skipped.append(Skipped(where, doc))
                else:
                    yield doc
        except _LineTooLong as exc:
            self.skipped.append(
                Skipped(
                    f"{self.name}:{row + 1}",
                    f"line {exc.number} is {too_large(limit, limit, 'characters', at_least=True)}; "
                    "rest of file not read",
                )
            )
        except csv.Error as exc:
            # The reader cannot resynchronise reliably after a parse error.
            detail = str(exc)
            if "field larger than field limit" in detail:
                detail = f"a field is {too_large(limit, limit, 'characters', at_least=True)}"
            where = f"{self.name}:{row + 1}"
            self.skipped.append(Skipped(where, f"CSV error: {detail}; rest of file not read"))
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
            if not item.text or item.text.isspace():
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
        if not text or text.isspace():
            return "empty text"
        meta.setdefault("id", doc_id)
        return Document(id=doc_id, text=text, metadata=meta)
