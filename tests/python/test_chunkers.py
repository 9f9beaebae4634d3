"""FixedSizeChunker, RecursiveChunker and SectionChunker: exact offsets, coverage, size
limits in characters and tokens, overlap, and sections."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence

import pytest

from vpack.plugins.base import Chunk, Document
from vpack.plugins.chunkers import FixedSizeChunker, RecursiveChunker, SectionChunker
from vpack.plugins.transformers import HtmlToText, MarkdownToText

Measure = Callable[[str], int]


def words(texts: List[str]) -> List[int]:
    """A token counter: whitespace-separated words."""
    return [len(t.split()) for t in texts]


def word_count(text: str) -> int:
    return len(text.split())


class CountingCounter:
    """A word counter that records how it is called."""

    def __init__(self) -> None:
        self.calls = 0
        self.largest_batch = 0

    def __call__(self, texts: List[str]) -> List[int]:
        self.calls += 1
        self.largest_batch = max(self.largest_batch, len(texts))
        return words(texts)


VOCABULARY = [
    "a", "be", "sea", "word", "chunk", "vector", "embedding", "offsets",
    "extraordinarily", "supercalifragilisticexpialidocious", "naïve", "日本語",
    "end.", "stop.", "comma,", "(parens)", "x" * 45,
]  # fmt: skip
GLUE = [" ", " ", " ", " ", " ", "  ", "\n", "\n\n", "\n\n\n", ". ", "\t", " \n "]


def random_text(rng: random.Random, n_words: int) -> str:
    parts = [rng.choice([" ", "", "\n"]) if rng.random() < 0.2 else ""]
    for _ in range(n_words):
        parts.append(rng.choice(VOCABULARY))
        parts.append(rng.choice(GLUE))
    return "".join(parts)


def doc(text: str, **meta: Any) -> Document:
    return Document("d", text, {"path": "d.txt", "title": "Doc title", **meta})


def check(
    text: str,
    chunks: Sequence[Chunk],
    size: int,
    overlap: int,
    measure: Measure,
    trimmed: bool = True,
) -> None:
    """The properties every chunker keeps (``trimmed=False``: FixedSizeChunker in
    characters, whose windows may start or end with whitespace, and may end where the
    previous one ended)."""
    assert [c.metadata["chunk"] for c in chunks] == list(range(len(chunks)))
    covered = bytearray(len(text) + 1)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.text.strip()
        if trimmed:
            assert c.text == c.text.strip()
        assert measure(c.text) <= size, (measure(c.text), size, c.text)
        assert (c.metadata["start"], c.metadata["end"]) == (c.start, c.end)
        assert c.metadata["path"] == "d.txt"
        assert "sections" not in c.metadata
        covered[c.start : c.end] = b"\x01" * (c.end - c.start)
    missed = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missed, f"characters not in any chunk at {missed[:5]}"
    for a, b in zip(chunks, chunks[1:]):
        assert a.start < b.start and (a.end < b.end or (not trimmed and a.end == b.end))
        if b.start < a.end:
            assert measure(text[b.start : a.end]) <= overlap


# ---------------------------------------------------------------------- fixed size

KNOWN = (
    "The quick brown fox jumps over the lazy dog.\nPack my box with five dozen liquor jugs.  "
    "\n\n   Sphinx of black quartz, judge my vow."
)


def test_fixed_chars_behaviour_is_unchanged() -> None:
    chunker = FixedSizeChunker(24, 6)
    assert chunker.describe() == {"kind": "fixed", "size": 24, "overlap": 6, "unit": "chars"}
    chunks = list(chunker.chunks(doc(KNOWN, sections=[{"title": "x", "start": 0}])))
    assert [(c.start, c.end) for c in chunks] == [
        (0, 19), (13, 34), (28, 49), (43, 66), (60, 79), (73, 97), (91, 115), (109, 129),
    ]  # fmt: skip
    check(KNOWN, chunks, 24, 6, len, trimmed=False)


def test_fixed_chars_random() -> None:
    rng = random.Random(1)
    for _ in range(150):
        text = random_text(rng, rng.randint(0, 120))
        size = rng.randint(1, 120)
        overlap = rng.randint(0, size - 1)
        chunks = list(FixedSizeChunker(size, overlap).chunks(doc(text)))
        check(text, chunks, size, overlap, len, trimmed=False)


def test_fixed_tokens_random() -> None:
    rng = random.Random(2)
    overlapped = 0
    for _ in range(150):
        text = random_text(rng, rng.randint(0, 150))
        size = rng.randint(1, 40)
        overlap = rng.randint(0, size - 1)
        chunker = FixedSizeChunker(size, overlap, token_counter=words)
        chunks = list(chunker.chunks(doc(text)))
        check(text, chunks, size, overlap, word_count)
        for a, b in zip(chunks, chunks[1:]):
            # Windows are as long as allowed and repeat as much as allowed: whole words,
            # so exactly `size` words, and `overlap` of them again (if there are that many).
            assert word_count(a.text) == size
            repeated = word_count(text[b.start : a.end]) if b.start < a.end else 0
            assert repeated == min(overlap, size - 1)
            overlapped += repeated > 0
        if chunks:
            assert chunks[-1].end == len(text.rstrip())
    assert overlapped > 100
    assert FixedSizeChunker(10, 2, words).describe()["unit"] == "tokens"


def test_fixed_tokens_use_few_batched_counter_calls() -> None:
    rng = random.Random(3)
    text = " ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(20_000))
    counter = CountingCounter()
    chunks = list(FixedSizeChunker(200, 40, token_counter=counter).chunks(doc(text)))
    check(text, chunks, 200, 40, word_count)
    assert len(chunks) == math.ceil((20_000 - 40) / 160)
    # A few calls per chunk (O(log n) each for its end and its overlap), never one per
    # word or character.
    assert counter.largest_batch <= 8
    assert counter.calls <= len(chunks) * 2 * math.log2(20_000)
    assert counter.calls < 20_000 / 10


def test_fixed_tokens_cut_words_longer_than_a_chunk() -> None:
    def chars(texts: List[str]) -> List[int]:
        return [len(t) for t in texts]

    text = "short " + "y" * 50 + " tail\n" + "z" * 9
    chunks = list(FixedSizeChunker(8, 3, token_counter=chars).chunks(doc(text)))
    check(text, chunks, 8, 3, len)
    assert [c.text for c in chunks] == ["short", *["y" * 8] * 6, "yy tail", "z" * 8, "z"]

    def with_specials(texts: List[str]) -> List[int]:
        return [len(t.split()) + 2 for t in texts]

    chunks = list(FixedSizeChunker(5, 1, token_counter=with_specials).chunks(doc(KNOWN)))
    check(KNOWN, chunks, 5, 1, lambda t: word_count(t) + 2)
    assert {word_count(c.text) for c in chunks[:-1]} == {3}


@pytest.mark.parametrize("chunker", [FixedSizeChunker, RecursiveChunker, SectionChunker])
def test_bad_settings(chunker: Any) -> None:
    with pytest.raises(ValueError):
        chunker(0)
    with pytest.raises(ValueError):
        chunker(10, 10)
    with pytest.raises(ValueError):
        chunker(10, -1)


def test_counter_must_answer_every_text() -> None:
    chunker = RecursiveChunker(5, token_counter=lambda texts: [])
    with pytest.raises(ValueError, match="counts"):
        list(chunker.chunks(doc("one two three four five six seven\n\neight nine ten eleven")))
    with pytest.raises(TypeError):
        RecursiveChunker(5, separators="\n")
    with pytest.raises(TypeError):
        FixedSizeChunker(5, 0, token_counter=5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "chunker", [FixedSizeChunker(10, 2, words), RecursiveChunker(10), SectionChunker(10)]
)
def test_empty_and_blank_documents(chunker: Any) -> None:
    assert list(chunker.chunks(doc(""))) == []
    assert list(chunker.chunks(doc(" \n\t\n  "))) == []
    only = list(chunker.chunks(doc("\n\n  word  \n")))
    assert [(c.text, c.start) for c in only] == [("word", 4)]


# ----------------------------------------------------------------------- recursive


@pytest.mark.parametrize("tokens", [False, True])
def test_recursive_random(tokens: bool) -> None:
    rng = random.Random(4 + tokens)
    overlapped = 0
    for _ in range(150):
        text = random_text(rng, rng.randint(0, 150))
        size = rng.randint(1, 30) if tokens else rng.randint(1, 150)
        overlap = rng.randint(0, size - 1) if rng.random() < 0.7 else 0
        measure: Measure = word_count if tokens else len
        chunker = RecursiveChunker(size, overlap, token_counter=words if tokens else None)
        chunks = list(chunker.chunks(doc(text)))
        check(text, chunks, size, overlap, measure)
        overlapped += sum(b.start < a.end for a, b in zip(chunks, chunks[1:]))
    assert overlapped > 50


def test_recursive_keeps_paragraphs_whole_and_chunks_full() -> None:
    rng = random.Random(6)
    paragraphs = [" ".join(rng.choice(VOCABULARY[:9]) for _ in range(rng.randint(3, 15))) for _ in range(40)]
    text = "\n\n".join(paragraphs)
    starts = [text.index(p) for p in paragraphs]  # paragraphs are distinct enough
    ends = [s + len(p) for s, p in zip(starts, paragraphs)]
    size = max(len(p) for p in paragraphs) + 20
    chunks = list(RecursiveChunker(size).chunks(doc(text)))
    check(text, chunks, size, 0, len)
    for c in chunks:
        assert c.start in starts and c.end in ends
    for a, b in zip(chunks, chunks[1:]):
        # Greedy: the next paragraph would not have fitted.
        assert len(text[a.start : b.start + len(b.text.split("\n\n")[0])]) > size


def test_recursive_falls_back_to_sentences_words_and_characters() -> None:
    sentence = "This sentence has exactly eight words in it"
    text = f"{sentence}. {sentence}. {sentence}.\nShort line.\n\n" + "w" * 70 + " end"
    chunks = list(RecursiveChunker(50).chunks(doc(text)))
    check(text, chunks, 50, 0, len)
    assert [c.text for c in chunks] == [
        f"{sentence}.",
        f"{sentence}.",
        f"{sentence}.",
        "Short line.",
        "w" * 50,
        "w" * 20 + " end",
    ]
    by_words = list(RecursiveChunker(20).chunks(doc(sentence)))
    assert [c.text for c in by_words] == ["This sentence has", "exactly eight words", "in it"]


def test_recursive_overlap_carries_whole_trailing_pieces() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(30))
    chunker = RecursiveChunker(100, 40, separators=(". ", ""))
    chunks = list(chunker.chunks(doc(text)))
    check(text, chunks, 100, 40, len)
    assert chunker.describe() == {
        "kind": "recursive",
        "size": 100,
        "overlap": 40,
        "unit": "chars",
        "separators": [". ", ""],
    }
    for a, b in zip(chunks, chunks[1:]):
        assert b.text.startswith("Sentence number") and a.text.endswith(".")
        # One 27-28 character sentence is carried over; two would exceed the overlap.
        assert b.start < a.end
        assert text[b.start : a.end].count("Sentence") == 1


def test_recursive_tokens() -> None:
    text = "\n\n".join(" ".join(f"p{k}w{i}" for i in range(n)) for k, n in enumerate((3, 30, 4, 4, 12)))
    counter = CountingCounter()
    chunks = list(RecursiveChunker(10, 2, token_counter=counter).chunks(doc(text)))
    check(text, chunks, 10, 2, word_count)
    # Paragraphs that fit stay whole; the 30- and 12-word ones are split into words.
    # Pieces are merged across paragraphs up to 10 words, and two words are repeated
    # where the next piece still fits after them.
    assert [(c.text.split()[0], c.text.split()[-1]) for c in chunks] == [
        ("p0w0", "p1w6"),
        ("p1w5", "p1w14"),
        ("p1w13", "p1w22"),
        ("p1w21", "p1w29"),  # the whole next paragraph would not fit
        ("p1w28", "p3w3"),
        ("p4w0", "p4w9"),  # repeating p3 (4 words) would exceed the overlap
        ("p4w8", "p4w11"),
    ]
    assert counter.calls < len(text.split())


# ------------------------------------------------------------------------ sections


@dataclass
class Region:
    start: int
    end: int
    title: Optional[str]
    anchor: Optional[str]


def regions_of(document: Document) -> List[Region]:
    """The sections as the chunker's contract defines them."""
    text = document.text
    sections = sorted(document.metadata.get("sections", []), key=lambda s: s["start"])
    out: List[Region] = []
    first = sections[0]["start"] if sections else len(text)
    if text[:first].strip():
        out.append(Region(0, first, document.metadata.get("title"), None))
    for sec, following in zip(sections, [*sections[1:], None]):
        out.append(
            Region(sec["start"], following["start"] if following else len(text), sec["title"], sec["anchor"])
        )
    return out


def check_sections(document: Document, chunks: Sequence[Chunk], size: int, measure: Measure) -> int:
    """No chunk spans two sections unless they are all tiny; labels are those of the
    section a chunk starts in. Returns the number of merged chunks."""
    text = document.text
    regions = regions_of(document)
    merged = 0
    for c in chunks:
        touched = [r for r in regions if r.start < c.end and c.start < r.end]
        assert touched
        assert (c.metadata["section"], c.metadata["anchor"]) == (touched[0].title, touched[0].anchor)
        if len(touched) > 1:
            merged += 1
            for r in touched:
                assert measure(text[r.start : r.end].strip()) * 4 < size, "a big section was merged"
            assert c.start == touched[0].start + len(text[touched[0].start :]) - len(
                text[touched[0].start :].lstrip()
            )
            assert c.end == touched[-1].start + len(text[touched[-1].start : touched[-1].end].rstrip())
    return merged


GUIDE = """Preamble text before any heading.

# Guide

Welcome to the guide. It has a few sections of very different sizes.

## Install

Run the installer, then check that the command works from a new shell.

## Tiny one

A.

## Tiny two

B.

## Tiny three

C.

## Large

{large}

## Install

Again, with a duplicate title.
"""


def guide(large_paragraphs: int = 6) -> Document:
    large = "\n\n".join(
        f"Paragraph {i} of the large section talks about vectors, packs and chunks at some length."
        for i in range(large_paragraphs)
    )
    source = Document("guide.md", GUIDE.format(large=large), {"path": "d.txt", "title": "guide"})
    converted = MarkdownToText().transform(source)
    assert converted is not None
    return converted


def test_sections_from_markdown() -> None:
    document = guide()
    chunker = SectionChunker(240, 100)
    chunks = list(chunker.chunks(document))
    check(document.text, chunks, 240, 100, len)
    assert check_sections(document, chunks, 240, len) >= 1
    labels = [(c.metadata["section"], c.metadata["anchor"]) for c in chunks]
    assert labels[0] == ("Guide", None)  # the preamble takes the document's title
    assert chunks[0].text == "Preamble text before any heading."
    assert ("Tiny one", "tiny-one") in labels
    assert ("Tiny two", "tiny-two") not in labels  # merged into the chunk of "Tiny one"
    tiny = next(c for c in chunks if c.metadata["section"] == "Tiny one")
    assert tiny.text == "## Tiny one\n\nA.\n\n## Tiny two\n\nB.\n\n## Tiny three\n\nC."
    large = [c for c in chunks if c.metadata["section"] == "Large"]
    assert len(large) > 2 and all(c.metadata["anchor"] == "large" for c in large)
    assert any(b.start < a.end for a, b in zip(large, large[1:])), "overlap within a section"
    assert labels[-1] == ("Install", "install-1")
    assert chunker.describe()["kind"] == "section"


def test_sections_from_sphinx_html() -> None:
    page = """<html><head><title>Demo</title></head><body>
    <div class="sphinxsidebar" role="navigation"><h3>Contents</h3></div>
    <section id="usage"><h1>Usage<a class="headerlink" href="#usage">¶</a></h1>
    <p>Intro paragraph about usage.</p>
    <section id="reading"><h2>Reading<a class="headerlink" href="#reading">¶</a></h2>
    <p>{body}</p></section>
    <section id="writing"><h2>Writing<a class="headerlink" href="#writing">¶</a></h2>
    <p>Write with care.</p></section></section></body></html>"""
    body = " ".join(["Open the pack and read it."] * 12)
    document = HtmlToText().transform(Document("u.html", page.format(body=body), {"path": "d.txt"}))
    assert document is not None
    chunks = list(SectionChunker(120, 30).chunks(document))
    check(document.text, chunks, 120, 30, len)
    check_sections(document, chunks, 120, len)
    assert chunks[0].metadata["anchor"] == "usage"
    assert {c.metadata["anchor"] for c in chunks} == {"usage", "reading", "writing"}
    assert chunks[-1].text == "Writing\n\nWrite with care."


def test_sections_without_sections_fall_back_to_recursive() -> None:
    rng = random.Random(8)
    text = random_text(rng, 300)
    plain = list(RecursiveChunker(100, 20).chunks(doc(text)))
    sectioned = list(SectionChunker(100, 20).chunks(doc(text)))
    assert [(c.start, c.end) for c in sectioned] == [(c.start, c.end) for c in plain]
    assert all(c.metadata["section"] == "Doc title" and c.metadata["anchor"] is None for c in sectioned)


def test_sections_metadata_from_elsewhere() -> None:
    text = "An intro that is not tiny.\n\n   \n\nAlpha heading\nalpha body\nBeta heading\nbeta body"
    alpha, beta = text.index("Alpha"), text.index("Beta")
    sections = [
        {"title": "Beta", "anchor": "b", "start": beta},  # out of order
        {"title": "Blank", "anchor": "", "start": 26},  # only whitespace in it
        {"title": "Alpha", "anchor": "a", "start": alpha},
        {"title": "Again", "anchor": "again", "start": alpha},  # same start: first wins
        {"title": "Broken", "start": "12"},
        "not a section",
        {"title": "Past the end", "anchor": "end", "start": 10_000},
    ]
    chunks = list(SectionChunker(100).chunks(doc(text, sections=sections)))
    assert [(c.text, c.metadata["section"], c.metadata["anchor"]) for c in chunks] == [
        ("An intro that is not tiny.", "Doc title", None),
        # Tiny sections merged; the label is that of the first one with text.
        ("Alpha heading\nalpha body\nBeta heading\nbeta body", "Alpha", "a"),
    ]


def random_markdown(rng: random.Random) -> str:
    parts = []
    if rng.random() < 0.5:
        parts.append(random_text(rng, rng.randint(0, 20)) + "\n")
    for k in range(rng.randint(0, 12)):
        title = rng.choice(["Intro", "Setup", "Usage", f"Part {k}"])
        parts.append(f"{'#' * rng.randint(1, 3)} {title}\n")
        body_words = rng.choice([0, 1, 2, 3, rng.randint(5, 30), rng.randint(30, 150)])
        parts.append(random_text(rng, body_words).replace("#", "") + "\n")
    return "".join(parts)


@pytest.mark.parametrize("tokens", [False, True])
def test_sections_random(tokens: bool) -> None:
    rng = random.Random(9 + tokens)
    merged = 0
    for _ in range(120):
        converted = MarkdownToText().transform(Document("r.md", random_markdown(rng), {"path": "d.txt"}))
        if converted is None:
            continue
        size = rng.randint(4, 40) if tokens else rng.randint(20, 400)
        overlap = rng.randint(0, size // 3)
        measure: Measure = word_count if tokens else len
        chunker = SectionChunker(size, overlap, token_counter=words if tokens else None)
        chunks = list(chunker.chunks(converted))
        check(converted.text, chunks, size, overlap, measure)
        merged += check_sections(converted, chunks, size, measure)
        for a, b in zip(chunks, chunks[1:]):
            if b.start < a.end:  # overlap only within one section
                assert (a.metadata["section"], a.metadata["anchor"]) == (
                    b.metadata["section"],
                    b.metadata["anchor"],
                )
    assert merged > 10


def test_sections_metadata_is_a_copy() -> None:
    document = guide(2)
    before = {k: v for k, v in document.metadata.items()}
    chunks = list(SectionChunker(200).chunks(document))
    assert document.metadata == before
    chunks[0].metadata["extra"] = 1
    assert "extra" not in document.metadata and "extra" not in chunks[1].metadata


# ------------------------------------------------------------- explicit structure


def labels(chunks: Sequence[Chunk]) -> List[Any]:
    return [(c.text, c.metadata["section"], c.metadata["anchor"], c.metadata["headings"]) for c in chunks]


def test_level_zero_is_text_outside_every_section() -> None:
    text = "Lead text.\nUnit text.\nOutside again."
    sections = [
        {"title": "Unit", "anchor": "u", "level": 1, "start": 11, "kind": "element"},
        {"title": None, "anchor": None, "level": 0, "start": 22, "kind": "resumed"},
    ]
    chunks = list(SectionChunker(40).chunks(doc(text, sections=sections)))
    assert labels(chunks) == [
        ("Lead text.", "Doc title", None, []),
        ("Unit text.", "Unit", "u", ["Unit"]),
        ("Outside again.", "Doc title", None, []),
    ]


def test_same_start_keeps_the_first_unless_a_later_is_nested() -> None:
    text = "Shared start of the text, long enough not to be tiny at all."
    outer = {"title": "Outer", "anchor": "o", "level": 1, "start": 0}
    inner = {"title": "Inner", "anchor": "i", "level": 2, "start": 0}
    chunks = list(SectionChunker(100).chunks(doc(text, sections=[outer, inner])))
    assert labels(chunks)[0][1:] == ("Inner", "i", ["Outer", "Inner"])
    chunks = list(SectionChunker(100).chunks(doc(text, sections=[inner, {**outer, "level": 2}])))
    assert labels(chunks)[0][1:] == ("Inner", "i", ["Inner"])


UNIT_BODY = "The unit's own text runs on for a while, long enough to fill most of a chunk by itself."


def unit_doc(kind: Optional[str]) -> Document:
    """A heading with nothing under it but a nested section (a unit when ``kind``)."""
    text = f"Intro paragraph of the page, not tiny at all: {UNIT_BODY}\n\nFunctions\n\nscan()\n\n{UNIT_BODY}"
    nested = {"title": "scan()", "anchor": "m.scan", "level": 3, "start": text.index("scan()")}
    if kind:
        nested["kind"] = kind
    sections = [
        {"title": "Page", "anchor": "page", "level": 1, "start": 0},
        {"title": "Functions", "anchor": "functions", "level": 2, "start": text.index("Functions")},
        nested,
    ]
    return doc(text, sections=sections)


def test_a_tiny_section_start_goes_into_its_first_unit() -> None:
    chunks = list(SectionChunker(200).chunks(unit_doc("term")))
    assert labels(chunks)[1] == (
        f"Functions\n\nscan()\n\n{UNIT_BODY}",
        "scan()",
        "m.scan",
        ["Page", "Functions", "scan()"],
    )
    assert len(chunks) == 2
    # Headings alone keep their rule: the tiny section stands alone.
    plain = list(SectionChunker(200).chunks(unit_doc(None)))
    assert [c.text for c in plain][1:] == ["Functions", f"scan()\n\n{UNIT_BODY}"]
    # A sibling's tail is not the unit's start: it stays a chunk of its own.
    sibling = unit_doc("term")
    for sec in sibling.metadata["sections"]:
        if sec["title"] == "Functions":
            sec["title"] = "Other"
            sec["level"] = 3
    assert [c.text for c in SectionChunker(200).chunks(sibling)][1] == "Functions"


def random_structured_html(rng: random.Random) -> str:
    def body() -> str:
        return "<p>" + random_text(rng, rng.choice([0, 1, 3, 12, 40, 120])).replace("<", "") + "</p>"

    def block(depth: int) -> str:
        choice = rng.random()
        if depth > 3 or choice < 0.3:
            return body()
        if choice < 0.5:
            return f"<h{depth + 1}>Heading {rng.randint(0, 9)}</h{depth + 1}>" + body()
        if choice < 0.7:
            inner = "".join(block(depth + 1) for _ in range(rng.randint(0, 3)))
            return f'<section id="s{rng.randint(0, 99)}">{inner}</section>'
        described = [block(depth + 1) if rng.random() < 0.7 else "" for _ in range(rng.randint(1, 4))]
        terms = "".join(
            f'<dt id="t{rng.randint(0, 99)}">term {k}</dt><dd>{d}' for k, d in enumerate(described)
        )
        return f"<dl>{terms}</dl>" + (body() if rng.random() < 0.5 else "")

    return "<html><body>" + "".join(block(0) for _ in range(rng.randint(1, 6))) + "</body></html>"


@pytest.mark.parametrize("tokens", [False, True])
def test_sections_random_html_structure(tokens: bool) -> None:
    rng = random.Random(31 + tokens)
    merged_forward = 0
    for _ in range(150):
        converted = HtmlToText().transform(Document("r.html", random_structured_html(rng), {"path": "d.txt"}))
        if converted is None:
            continue
        size = rng.randint(4, 40) if tokens else rng.randint(20, 400)
        overlap = rng.randint(0, size // 3)
        measure: Measure = word_count if tokens else len
        chunker = SectionChunker(size, overlap, token_counter=words if tokens else None)
        chunks = list(chunker.chunks(converted))
        check(converted.text, chunks, size, overlap, measure)
        regions = regions_of(converted)
        for c in chunks:
            touched = [
                r
                for r in regions
                if r.start < c.end
                and c.start < r.end
                and converted.text[max(r.start, c.start) : min(r.end, c.end)].strip()
            ]
            assert (c.metadata["section"], c.metadata["anchor"]) in {
                (r.title or "Doc title", r.anchor) for r in touched
            } | {(converted.metadata.get("title"), None)}
            big = [r for r in touched if measure(converted.text[r.start : r.end].strip()) * 4 >= size]
            # A chunk spans at most one section that is not tiny (a unit its tiny start went into).
            assert len(big) <= 1
            if big and len(touched) > 1:
                merged_forward += 1
                assert (c.metadata["section"], c.metadata["anchor"]) == (big[0].title, big[0].anchor)
    assert merged_forward > 5
