"""The record sources: JSON Lines, CSV and in-memory iterables."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Dict, Iterator, List

import pytest

from vpack.errors import InvalidArgumentError
from vpack.plugins import Document, Source
from vpack.plugins.sources import CsvSource, IterableSource, JsonlSource


def reasons(source: Source) -> Dict[str, str]:
    return {s.path: s.reason for s in source.skipped}


# JSON Lines


def write_lines(path: Path, lines: List[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_documents_ids_and_metadata(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "faq.jsonl",
        [
            json.dumps({"text": "How to install", "topic": "setup", "tags": ["a", "b"], "n": 1.5}),
            "",
            json.dumps({"text": "How to query", "topic": "search", "extra": {"k": None}}),
        ],
    )
    source = JsonlSource(path)
    docs = list(source.documents())
    assert source.skipped == []
    assert [d.id for d in docs] == [f"{path}:1", f"{path}:3"]
    assert docs[0].text == "How to install"
    # The metadata (and so the pack) has the file's name, not where it was on this machine.
    assert docs[0].metadata == {
        "topic": "setup",
        "tags": ["a", "b"],
        "n": 1.5,
        "path": "faq.jsonl",
        "line": 1,
    }
    assert docs[1].metadata == {"topic": "search", "extra": {"k": None}, "path": "faq.jsonl", "line": 3}
    assert source.describe()["kind"] == "jsonl"
    assert source.describe()["path"] == "faq.jsonl"
    assert isinstance(source, Source)


def test_jsonl_bad_lines_are_skipped_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = [
        b'{"text": "good one"}',
        b"{not json",
        b"[1, 2]",
        b'{"body": "no text field"}',
        b'{"text": 42}',
        b'{"text": null}',
        b'{"text": "   "}',
        b'{"text": "caf\xe9"}',  # Latin-1, not UTF-8
        b'{"text": "good two"}',
    ]
    path.write_bytes(b"\n".join(lines))  # no final newline
    source = JsonlSource(path)
    docs = list(source.documents())
    assert [d.text for d in docs] == ["good one", "good two"]
    assert [d.metadata["line"] for d in docs] == [1, 9]
    r = reasons(source)
    assert list(r) == [f"{path}:{n}" for n in range(2, 9)]
    assert r[f"{path}:2"].startswith("invalid JSON")
    assert r[f"{path}:3"] == "not a JSON object (array)"
    assert r[f"{path}:4"] == "missing text field 'text'"
    assert r[f"{path}:5"] == "text field 'text' is not a string (number)"
    assert r[f"{path}:6"] == "text field 'text' is not a string (null)"
    assert r[f"{path}:7"] == "empty text"
    assert r[f"{path}:8"].startswith("not valid utf-8")


def test_jsonl_id_field(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "ids.jsonl",
        [
            json.dumps({"doc": "a", "text": "first"}),
            json.dumps({"doc": 7, "text": "second"}),
            json.dumps({"text": "no id"}),
            json.dumps({"doc": [1], "text": "list id"}),
            json.dumps({"doc": True, "text": "bool id"}),
            json.dumps({"doc": "", "text": "empty id"}),
        ],
    )
    source = JsonlSource(path, id_field="doc")
    docs = list(source.documents())
    assert [d.id for d in docs] == ["a", "7"]
    assert docs[1].metadata["doc"] == 7  # the id field stays in the metadata
    r = reasons(source)
    assert r[f"{path}:3"] == "missing id field 'doc'"
    assert r[f"{path}:4"] == "id field 'doc' is not a string or an integer (array)"
    assert r[f"{path}:5"] == "id field 'doc' is not a string or an integer (boolean)"
    assert r[f"{path}:6"] == "empty id field 'doc'"


def test_jsonl_metadata_selection_and_unstorable_values(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "m.jsonl",
        [
            '{"body": "the text", "keep": 1, "drop": 2, "nan": NaN, "deep": [1, {"x": Infinity}], '
            '"path": "theirs", "line": 99}'
        ],
    )
    everything = next(iter(JsonlSource(path, text_field="body").documents()))
    # NaN and Infinity parse but are not JSON: those values are dropped. The file's path
    # and line replace the record's own fields of those names.
    assert everything.metadata == {"keep": 1, "drop": 2, "path": "m.jsonl", "line": 1}
    chosen = list(JsonlSource(path, text_field="body", metadata_fields=["keep", "nan", "absent"]).documents())
    assert chosen[0].metadata == {"keep": 1, "path": "m.jsonl", "line": 1}
    none = list(JsonlSource(path, text_field="body", metadata_fields=()).documents())
    assert none[0].metadata == {"path": "m.jsonl", "line": 1}
    assert none[0].text == "the text"


def test_jsonl_byte_order_mark_and_line_separators(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    # U+2028 is a line break for str.splitlines but legal inside a JSON string.
    line = json.dumps({"text": "a\u2028b"}, ensure_ascii=False).encode()
    path.write_bytes(b"\xef\xbb\xbf" + line + b"\r\n")
    source = JsonlSource(path)
    docs = list(source.documents())
    assert source.skipped == []
    assert docs[0].text == "a\u2028b"


def test_jsonl_rereading_resets_skipped(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "r.jsonl", ['{"text": "ok"}', "oops"])
    source = JsonlSource(path)
    assert len(list(source.documents())) == 1
    assert len(list(source.documents())) == 1
    assert len(source.skipped) == 1


def test_jsonl_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.jsonl"):
        JsonlSource(tmp_path / "missing.jsonl")


# CSV


def test_csv_rows_ids_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_bytes(b'id,text,author\r\n1,"Quoted, with a comma",ann\r\n2,"Two\nlines",bob\r\n')
    source = CsvSource(path)
    docs = list(source.documents())
    assert source.skipped == []
    assert [d.id for d in docs] == [f"{path}:2", f"{path}:3"]
    assert [d.text for d in docs] == ["Quoted, with a comma", "Two\nlines"]
    assert docs[0].metadata == {"id": "1", "author": "ann", "path": "notes.csv", "row": 2}
    by_id = list(CsvSource(path, id_field="id", metadata_fields=["author"]).documents())
    assert [d.id for d in by_id] == ["1", "2"]
    assert by_id[1].metadata == {"author": "bob", "path": "notes.csv", "row": 3}
    assert CsvSource(path).describe()["kind"] == "csv"


def test_csv_bad_rows_are_skipped_with_reasons(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("text,tag,id\nfine,a,x\n,b,y\n  ,c,z\nshort\nlong,d,w,extra\nlast,e,\n", encoding="utf-8")
    source = CsvSource(path, id_field="id")
    docs = list(source.documents())
    assert [(d.id, d.text) for d in docs] == [("x", "fine")]
    assert reasons(source) == {
        f"{path}:3": "empty text",
        f"{path}:4": "empty text",
        f"{path}:5": "missing id field 'id'",
        f"{path}:6": "4 fields, the header has 3",
        f"{path}:7": "empty id field 'id'",
    }
    # Without an id field, the short row is used; its missing cells are left out.
    short = next(d for d in CsvSource(path).documents() if d.text == "short")
    assert short.metadata == {"path": "bad.csv", "row": 5}


def test_csv_delimiter_encoding_and_bom(tmp_path: Path) -> None:
    latin = tmp_path / "latin.tsv"
    latin.write_bytes("body\tlang\ncrème brûlée\tfr\n".encode("latin-1"))
    docs = list(CsvSource(latin, text_field="body", delimiter="\t", encoding="latin-1").documents())
    assert docs[0].text == "crème brûlée"
    assert docs[0].metadata["lang"] == "fr"
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbftext,k\nhello,v\n")
    docs = list(CsvSource(bom).documents())
    assert docs[0].text == "hello"
    assert docs[0].metadata["k"] == "v"


def test_csv_undecodable_file_is_one_skipped_entry(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    rows = "".join(f"row {i},x\n" for i in range(9000))  # the bad byte is past the first block
    path.write_bytes(("text,k\n" + rows).encode() + "crème,x\n".encode("latin-1"))
    source = CsvSource(path)
    assert list(source.documents()) == []
    assert len(source.skipped) == 1
    skipped = source.skipped[0]
    assert skipped.path == str(path)
    with pytest.raises(UnicodeDecodeError) as whole:
        path.read_bytes().decode("utf-8")
    assert whole.value.start > 1 << 16
    assert skipped.reason == f"not valid utf-8: invalid continuation byte at byte {whole.value.start}"


def test_csv_character_split_across_read_blocks_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "split.csv"
    head = b"text\n" + b"a" * ((1 << 16) - 6) + b"\xc3"  # the first block ends inside "\xc3\xa9"
    path.write_bytes(head + b"\xa9\nnext\n")
    source = CsvSource(path)
    assert [len(d.text) for d in source.documents()] == [(1 << 16) - 5, 4]
    assert source.skipped == []


def test_csv_missing_columns_and_empty_file_are_errors(tmp_path: Path) -> None:
    # Nothing in such a file can be read: an error naming the column and the columns
    # found, not an empty pack.
    path = tmp_path / "cols.csv"
    path.write_text("body,k\nhello,v\n", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match=r"no column 'text' for the text \(columns: 'body', 'k'\)"):
        list(CsvSource(path).documents())
    with pytest.raises(InvalidArgumentError, match=r"no column 'key' for the id \(columns: 'body', 'k'\)"):
        list(CsvSource(path, text_field="body", id_field="key").documents())
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InvalidArgumentError, match="no header row") as info:
        list(CsvSource(empty).documents())
    assert info.value.code == 2


def test_csv_parse_error_stops_the_file(tmp_path: Path) -> None:
    # A field over the maximum document size is a parse error after which the reader
    # cannot be trusted: the row is reported and the rest of the file is not read.
    path = tmp_path / "huge.csv"
    path.write_text('text\nfine\n"' + "x\n" * 600 + '"\nnever\n', encoding="utf-8")
    source = CsvSource(path, max_document_size=1000)
    before = csv.field_size_limit()
    assert [d.text for d in source.documents()] == ["fine"]
    assert len(source.skipped) == 1
    assert source.skipped[0].path == f"{path}:3"
    assert "a field is larger than the maximum document size" in source.skipped[0].reason
    assert source.skipped[0].reason.endswith("rest of file not read")
    assert csv.field_size_limit() == before  # the process-wide setting is restored


# Iterables


def test_iterable_of_strings_dicts_and_documents() -> None:
    doc = Document("mine", "a document", {"k": 1})
    items = [
        "plain text",
        {"text": "with id", "id": "x1", "metadata": {"lang": "en", "obj": object()}},
        {"text": "numeric id", "id": 5},
        {"text": "no id", "metadata": {"id": "kept"}},
        doc,
    ]
    source = IterableSource(items)
    docs = list(source.documents())
    assert source.skipped == []
    assert [d.id for d in docs] == ["0", "x1", "5", "3", "mine"]
    assert docs[0].metadata == {"id": "0"}
    assert docs[1].metadata == {"lang": "en", "id": "x1"}  # the object is not storable
    assert docs[3].metadata == {"id": "kept"}
    assert docs[4] is doc
    assert source.describe() == {"kind": "iterable"}


def test_iterable_invalid_items_are_skipped_with_reasons() -> None:
    items = [
        "",
        {"txt": "typo"},
        {"metadata": {}},
        {"text": 3},
        {"text": "t", "id": 1.5},
        {"text": "t", "metadata": ["not", "a", "dict"]},
        Document("d", "  "),
        None,
        "fine",
    ]
    source = IterableSource(items)
    assert [d.text for d in source.documents()] == ["fine"]
    assert reasons(source) == {
        "item 0": "empty text",
        "item 1": "unexpected keys 'txt' (expected text, id, metadata)",
        "item 2": "missing 'text'",
        "item 3": "'text' is not a string (int)",
        "item 4": "'id' is not a non-empty string or an integer (1.5)",
        "item 5": "'metadata' is not a mapping (list)",
        "item 6": "empty text",
        "item 7": "expected a Document, a dict or a str, got NoneType",
    }


def test_iterable_generator_is_read_lazily() -> None:
    seen: List[int] = []

    def gen() -> Iterator[str]:
        for i in range(3):
            seen.append(i)
            yield f"text {i}"

    docs = IterableSource(gen()).documents()
    assert next(docs).text == "text 0"
    assert seen == [0]
