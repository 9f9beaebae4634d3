"""Built-in transformers: document -> new document (the input is never modified).

:class:`HtmlToText` and :class:`MarkdownToText` record the document's structure in its
metadata as ``sections``: a list of ``{"title", "anchor", "level", "start", "end"}``
dicts in text order, where ``start`` is the offset of the heading in the new text and
``end`` the start of the next section (or the end of the text), and ``anchor`` is the
fragment that links to the heading (or None). Sections that are not headings say what
they are in ``kind``, and their title need not be in the text: ``"element"`` (an HTML
section element with an id and no heading), ``"term"`` (a definition list's term and
its description), ``"resumed"`` (the text after one of those, which belongs to the
section around it again: a copy of that section, or level 0 and no title outside
every section), ``"title"`` (Markdown: the front matter's title, heading a page
without a "# " heading). :class:`NormalizeWhitespace` keeps those offsets pointing at
the same text, and :class:`~vpack.plugins.chunkers.SectionChunker` chunks along them.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import re
import sys
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterator,
    List,
    Mapping,
    Match,
    Optional,
    Pattern,
    Sequence,
    Set,
    Tuple,
)
from urllib.parse import unquote

from ._structure import DefList, Event, Unit, decide, resolve
from .base import Document

if sys.version_info >= (3, 11):
    import tomllib
else:  # the tomli backport is a dependency before 3.11
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

Section = Dict[str, Any]

#: The revision of the rules that find sections, recorded in :class:`HtmlToText`'s and
#: :class:`MarkdownToText`'s description (so in a pack's manifest): bumped whenever the
#: same page gives other sections or text. 2: explicit structure (section elements
#: with an id, definition lists), TOML front matter, the front matter's title as the
#: first-level heading. 3: definition lists without ids are units only on a page without
#: a heading before them.
STRUCTURE_VERSION = 3


def _selected(document: Document, suffixes: Optional[Tuple[str, ...]]) -> bool:
    if suffixes is None:
        return True
    name = str(document.metadata.get("path") or document.id).lower()
    return name.endswith(suffixes)


def _copy(document: Document) -> Document:
    return Document(document.id, document.text, dict(document.metadata))


def _close_sections(sections: List[Section], length: int) -> List[Section]:
    """Sets each section's ``end`` to the next one's start (the last to ``length``)."""
    for here, after in zip(sections, sections[1:]):
        here["end"] = after["start"]
    if sections:
        sections[-1]["end"] = length
    return sections


# --------------------------------------------------------------------------- HTML


def _names(names: str) -> FrozenSet[str]:
    return frozenset(names.split())


# Elements whose content is never text.
_DROP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "nav", "aside"})
# Page chrome by ARIA role: navigation, site header, site footer.
_DROP_ROLES = frozenset({"navigation", "banner", "contentinfo"})
# Page chrome by class. A class matches when one of its parts split at "-" and "_"
# is listed, so "md-sidebar--primary" and "wy-nav-side" match, "toctree-wrapper" does
# not. "headerlink" is the pilcrow link Sphinx and MkDocs put in headings, "linenos"
# the line-number column of highlighted code, "skip" the "skip to content" link.
DROP_CLASSES = _names(
    "sidebar sphinxsidebar toc breadcrumb breadcrumbs nav navbar headerlink linenos skip"
    # DocBook (PostgreSQL) and Sphinx page navigation bars.
    " navheader navfooter related"
)
# Never chrome: docutils' link from a heading back to the table of contents, whose
# text is the heading's.
_KEEP_CLASSES = frozenset({"toc-backref"})
# <header> and <footer> are page chrome unless inside one of these.
_CONTENT_TAGS = frozenset({"article", "main", "section"})
_VOID = _names("area base br col embed hr img input link meta param source track wbr")
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
# Blocks separated by a blank line, and blocks that start on a new line.
_PARAGRAPHS = frozenset({"p", "pre", "table", "blockquote", "dl", "figure", "ul", "ol", "menu", "form"})
_LINES = _names(
    "div section article main header footer li tr dt dd address caption figcaption details"
    " summary fieldset legend body center option"
)
# Omitted end tags: a start tag of the key closes the innermost open element of the
# first set, looking no further out than an element of the second set.
_LIST_TAGS = frozenset({"ul", "ol", "menu"})
_CLOSES: Dict[str, Tuple[FrozenSet[str], FrozenSet[str]]] = {
    "p": (frozenset({"p"}), _PARAGRAPHS | _LINES),
    "li": (frozenset({"li"}), _LIST_TAGS),
    "dt": (frozenset({"dt", "dd"}), frozenset({"dl"})),
    "dd": (frozenset({"dt", "dd"}), frozenset({"dl"})),
    "tr": (frozenset({"tr"}), frozenset({"table", "thead", "tbody", "tfoot"})),
    "td": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "th": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "option": (frozenset({"option"}), frozenset({"select", "datalist"})),
}
# Start tags that end an unclosed heading.
_ENDS_HEADING = _PARAGRAPHS | _LINES | frozenset(_HEADINGS)
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
# Whitespace, zero-width characters and pilcrows that start or end a heading's text.
_INVISIBLE_ENDS = re.compile("^[\\s\u200b\u200c\u200d\u2060\ufeff]+|[\\s\u200b\u200c\u200d\u2060\ufeff¶§]+$")


def _is_chrome(tag: str, attrs: Mapping[str, str], in_content: bool) -> bool:
    if tag in _DROP_TAGS or "hidden" in attrs:
        return True
    if tag in ("header", "footer") and not in_content:
        return True
    if attrs.get("role", "").strip().lower() in _DROP_ROLES:
        return True
    for name in attrs.get("class", "").lower().split():
        if name in _KEEP_CLASSES:
            continue
        if name in DROP_CLASSES or any(part in DROP_CLASSES for part in re.split(r"[-_]+", name)):
            return True
    return False


class _Writer:
    """Builds plain text from a stream of inline text, verbatim text and break
    requests; breaks and spaces are written lazily, so none lead or pile up."""

    def __init__(self) -> None:
        self.parts: List[str] = []
        self.length = 0
        self.newlines = 0  # newlines at the end of the text so far
        self.pending_break = 0  # newlines wanted before the next text
        self.pending_space = False
        self.prefix = ""  # list marker for the next line
        self.spaced = False  # the text so far ends with a space or tab

    def _put(self, s: str) -> None:
        self.parts.append(s)
        self.length += len(s)
        stripped = s.rstrip("\n")
        trailing = len(s) - len(stripped)
        self.newlines = trailing if stripped else self.newlines + trailing
        self.spaced = s[-1:] in (" ", "\t")

    def brk(self, lines: int) -> None:
        self.pending_break = max(self.pending_break, lines)
        self.pending_space = False

    def space(self) -> None:
        if not self.pending_break:
            self.pending_space = True

    def line_break(self) -> None:
        """<br>: a new line, at most one blank line in a row."""
        self._flush()
        if self.length and self.newlines < 2:
            self._put("\n")

    def _flush(self) -> None:
        if self.length:
            if self.pending_break > self.newlines:
                self._put("\n" * (self.pending_break - self.newlines))
            elif self.pending_space and not (self.newlines or self.pending_break or self.spaced):
                self._put(" ")
        self.pending_break = 0
        self.pending_space = False
        if self.prefix and (self.newlines or not self.length):
            self._put(self.prefix)
        self.prefix = ""

    def inline(self, data: str) -> None:
        s = _HTML_SPACE.sub(" ", data)
        if not s.strip(" "):
            if s:
                self.space()
            return
        if s.startswith(" "):
            self.space()
        self.text(s.strip(" "))
        if s.endswith(" "):
            self.pending_space = True

    def text(self, s: str) -> int:
        """Writes ``s`` after any pending break; returns where it starts."""
        self._flush()
        start = self.length
        self._put(s)
        return start

    def verbatim(self, s: str) -> None:
        self._flush()
        self._put(s)

    def cell(self) -> None:
        """The tab before a table cell other than a row's first."""
        self.pending_space = False
        self.verbatim("\t")

    def value(self) -> str:
        return "".join(self.parts)


@dataclass
class _Open:
    tag: str
    drop: bool = False
    content: bool = False  # article/main/section or role=main
    section_id: Optional[str] = None
    claimed: bool = False  # a section element whose first heading was seen
    unit: Optional[Unit] = None  # a section element with an id, as a unit
    deflist: Optional[DefList] = None  # a <dl>
    group: Optional[Unit] = None  # the term group of a <dt> or <dd>
    mark: int = 0  # where a <dd> started
    ordinal: int = 0  # next number in an <ol>
    cells: int = 0  # cells so far in a <tr>


@dataclass
class _Heading:
    level: int
    entry: _Open
    anchors: List[Optional[str]]  # candidates, best first; None where unknown
    parts: List[str] = field(default_factory=list)
    inner: Optional[str] = None  # id or name of an element inside the heading
    link: Optional[str] = None  # target of a headerlink inside the heading


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = _Writer()
        self.stack: List[_Open] = []
        self.open_count: Dict[str, int] = {}
        # The open lists, table rows and section elements with an id, innermost last.
        self.lists: List[_Open] = []
        self.rows: List[_Open] = []
        self.section_ids: List[_Open] = []
        self.deflists: List[DefList] = []
        self.term: Optional[Unit] = None  # the group of the open <dt>
        self.events: List[Event] = []
        self.dropping = 0
        self.content = 0
        self.cells = 0
        self.pre = 0
        self.pre_fresh = False
        self.title: Optional[str] = None
        self.title_parts: Optional[List[str]] = None
        self.heading: Optional[_Heading] = None
        self.sections: List[Section] = []
        self.first_h1: Optional[str] = None
        self.adjacent: Optional[str] = None  # id of an anchor element with no text since

    # -- structure

    def _push(self, entry: _Open) -> None:
        self.stack.append(entry)
        self.open_count[entry.tag] = self.open_count.get(entry.tag, 0) + 1
        self.dropping += entry.drop
        self.content += entry.content
        if entry.section_id is not None:
            self.section_ids.append(entry)
        if entry.deflist is not None:
            self.deflists.append(entry.deflist)
        elif entry.tag == "dt" and entry.group is not None:
            self.term = entry.group
        if entry.tag in _LIST_TAGS:
            self.lists.append(entry)
        elif entry.tag == "tr":
            self.rows.append(entry)
        elif entry.tag in ("td", "th"):
            self.cells += 1
        elif entry.tag == "pre":
            self.pre += 1
            self.pre_fresh = True

    def _pop(self) -> None:
        entry = self.stack.pop()
        self.open_count[entry.tag] -= 1
        self.dropping -= entry.drop
        self.content -= entry.content
        tag = entry.tag
        if entry.section_id is not None:
            self.section_ids.pop()
        self._structure_end(entry)
        if tag in _LIST_TAGS:
            self.lists.pop()
        elif tag == "tr":
            self.rows.pop()
        elif tag in ("td", "th"):
            self.cells -= 1
        elif tag == "pre":
            self.pre -= 1
        if self.heading is not None and self.heading.entry is entry:
            self._end_heading()
        elif tag == "title" and self.title_parts is not None:
            if self.title is None:
                self.title = _HTML_SPACE.sub(" ", "".join(self.title_parts)).strip() or None
            self.title_parts = None
        if not self.dropping:
            self._block_end(tag)

    def _close(self, tag: str) -> None:
        if self.open_count.get(tag):
            while self.stack and self.stack[-1].tag != tag:
                self._pop()
            self._pop()

    def _close_omitted(self, tag: str) -> None:
        rule = _CLOSES.get(tag)
        if rule is None:
            return
        closes, scope = rule
        for depth, entry in enumerate(reversed(self.stack)):
            if entry.tag in closes:
                for _ in range(depth + 1):
                    self._pop()
                return
            if entry.tag in scope or depth >= 64:
                return

    def _brk(self, lines: int) -> None:
        if self.dropping:
            return
        if self.cells:
            self.out.space()
        else:
            # Inside lists, blocks are lines: items stay together.
            self.out.brk(min(lines, 1) if self.lists else lines)

    def _block_end(self, tag: str) -> None:
        if tag in _PARAGRAPHS or tag in _HEADINGS:
            self._brk(2)
        elif tag in _LINES:
            self._brk(1)

    # -- parser callbacks

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag in _VOID:
            self._void(tag)
            return
        if self.heading is not None and tag in _ENDS_HEADING:
            self._close(self.heading.entry.tag)
        self.pre_fresh = False
        self._close_omitted(tag)
        ident = a.get("id", "").strip() or None
        content = tag in _CONTENT_TAGS or a.get("role", "").lower() == "main"
        entry = _Open(tag, drop=_is_chrome(tag, a, self.content > 0), content=content)
        if ident and (
            tag in ("section", "article") or (tag == "div" and "section" in a.get("class", "").split())
        ):
            entry.section_id = ident
        if tag == "ol":
            start = a.get("start", "1").strip()
            entry.ordinal = int(start) if re.fullmatch(r"-?\d{1,9}", start) else 1
        was_dropping = self.dropping > 0
        if not was_dropping:
            self._start(tag, a, ident, entry)
            if self.heading is None and not entry.drop:
                self._structure_start(tag, a, ident, entry)
        self._push(entry)

    def _structure_start(self, tag: str, a: Mapping[str, str], ident: Optional[str], entry: _Open) -> None:
        """Opens the unit a section element with an id or a <dt> starts; notes <dl>s
        and <dd>s."""
        at = self.out.length
        if entry.section_id is not None:
            label = a.get("aria-label", "").strip() or a.get("title", "").strip()
            entry.unit = Unit(at, anchor=entry.section_id, label=_HTML_SPACE.sub(" ", label) or None)
            self.events.append(("open", entry.unit))
        elif tag == "dl":
            excluded = "field-list" in a.get("class", "").lower().split()
            entry.deflist = DefList(
                nested=bool(self.deflists),
                anchor=ident,
                excluded=excluded,
                under_heading=any(kind == "heading" for kind, _ in self.events),
            )
        elif tag in ("dt", "dd") and self.deflists:
            deflist = self.deflists[-1]
            group = deflist.groups[-1] if deflist.groups else None
            if tag == "dd":
                if group is not None:
                    group.has_description = True
                    entry.group, entry.mark = group, at
                return
            if group is None or group.has_description:
                if group is not None:
                    self._close_unit(group)
                group = Unit(at, deflist=deflist)
                deflist.groups.append(group)
                self.events.append(("open", group))
            if ident:
                deflist.identified = True
                if group.anchor is None:
                    group.anchor = ident
            group.terms.append([at, at])
            entry.group = group

    def _structure_end(self, entry: _Open) -> None:
        if entry.unit is not None:
            self._close_unit(entry.unit)
        elif entry.deflist is not None:
            self.deflists.pop()
            if entry.deflist.groups:
                self._close_unit(entry.deflist.groups[-1])
            decide(entry.deflist)
        elif entry.group is not None:
            if entry.tag == "dt":
                entry.group.terms[-1][1] = self.out.length
                self.term = None
            else:
                entry.group.described += self.out.length - entry.mark

    def _close_unit(self, unit: Unit) -> None:
        if unit.end < 0:
            unit.end = self.out.length
            self.events.append(("close", unit))

    def _start(self, tag: str, a: Mapping[str, str], ident: Optional[str], entry: _Open) -> None:
        heading = self.heading
        if heading is not None:
            # Inside a heading: remember link targets, drop nothing else.
            if tag == "a" and "headerlink" in a.get("class", "").split():
                href = a.get("href", "")
                if href.startswith("#") and len(href) > 1 and heading.link is None:
                    heading.link = unquote(href[1:])
            target = ident or (a.get("name", "").strip() if tag == "a" else "") or None
            if target and heading.inner is None:
                heading.inner = target
            return
        if tag == "title":
            self.title_parts = []
            return
        if entry.drop:
            return
        if tag in _HEADINGS:
            self._brk(2)
            self.heading = _Heading(_HEADINGS[tag], entry, [ident, *self._enclosing_anchors()])
            return
        if tag in ("a", "span") and (ident or (tag == "a" and a.get("name", "").strip())):
            self.adjacent = ident or a.get("name", "").strip()
            if self.term is not None and self.term.anchor is None:
                self.term.anchor = self.adjacent
        if tag in _PARAGRAPHS:
            self._brk(1 if tag in _LIST_TAGS and self.lists else 2)
        elif tag in _LINES:
            self._brk(1)
        if tag == "li":
            self._list_item()
        elif tag in ("td", "th") and self.rows:
            row = self.rows[-1]
            if row.cells and not self.cells:
                self.out.cell()
            row.cells += 1

    def _enclosing_anchors(self) -> List[Optional[str]]:
        """The id of the innermost enclosing section element when this is its first
        heading, then the adjacent anchor, then the innermost section id anyway."""
        if not self.section_ids:
            return [None, self.adjacent, None]
        section = self.section_ids[-1]
        first = None if section.claimed else section.section_id
        section.claimed = True
        return [first, self.adjacent, section.section_id]

    def _list_item(self) -> None:
        if self.cells:
            return
        owner = self.lists[-1] if self.lists else None
        indent = "  " * max(0, len(self.lists) - 1)
        if owner is not None and owner.tag == "ol":
            marker = f"{owner.ordinal}. "
            owner.ordinal += 1
        else:
            marker = "- "
        self.out.prefix = indent + marker

    def _void(self, tag: str) -> None:
        if self.dropping:
            return
        if self.heading is not None:
            if tag == "br":
                self.heading.parts.append(" ")
            return
        if tag == "br":
            if self.cells:
                self.out.space()
            else:
                self.out.line_break()
        elif tag == "hr":
            self._brk(2)

    def handle_endtag(self, tag: str) -> None:
        self._close(tag)

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        # "<![name" with an unknown name raises in the standard library: read it as a
        # bogus comment instead, as browsers do.
        try:
            return int(super().parse_marked_section(i, report))
        except (AssertionError, NotImplementedError):
            return int(self.parse_bogus_comment(i))

    def handle_data(self, data: str) -> None:
        if self.title_parts is not None and not self.dropping:
            self.title_parts.append(data)
            return
        if self.dropping:
            return
        if self.heading is not None:
            self.heading.parts.append(data)
            return
        if self.pre:
            if self.pre_fresh and data:
                # As in browsers, a newline right after <pre> is not content.
                data = data[1:] if data[0] == "\n" else data
            self.pre_fresh = False
            if data:
                self.out.verbatim(data)
        else:
            self.out.inline(data)
        if data.strip():
            self.adjacent = None

    def _end_heading(self) -> None:
        heading = self.heading
        assert heading is not None
        self.heading = None
        title = _INVISIBLE_ENDS.sub("", _HTML_SPACE.sub(" ", "".join(heading.parts)))
        if not title:
            return
        own, *around = heading.anchors
        candidates = [own, heading.inner, heading.link, *around]
        anchor = next((c for c in candidates if c), None)
        start = self.out.text(title)
        self._brk(2)
        self.adjacent = None
        section = {"title": title, "anchor": anchor, "level": heading.level, "start": start, "end": start}
        self.sections.append(section)
        self.events.append(("heading", section))
        for open_section in self.section_ids:
            if open_section.unit is not None:
                open_section.unit.has_heading = True
        if heading.level == 1 and self.first_h1 is None:
            self.first_h1 = title

    def finish(self) -> str:
        while self.stack:
            self._pop()
        return self.out.value()


class HtmlToText:
    """HTML -> plain text, with the headings as ``sections``.

    Dropped: scripts, styles, ``noscript``, ``template``, ``svg``, and page chrome:
    ``nav``, ``aside``, ``header``/``footer`` outside ``article``/``main``/``section``,
    elements with role navigation, banner or contentinfo, with the ``hidden`` attribute,
    or with a class in :data:`DROP_CLASSES`. Headings are lines of their own, blocks
    are separated by newlines (paragraphs by a blank line), ``pre`` keeps its
    whitespace, list items read "- item" (or "1. item"), table rows are lines of
    tab-separated cells, entities are decoded.

    Metadata: ``title`` (the page's <title>, else its first <h1>) and ``sections``.
    A section's anchor is the heading's id, else an id or name inside it, else its
    headerlink's target, else the id of the enclosing ``section`` (or Sphinx's
    ``div.section``) it is the first heading of, else the id of an anchor element just
    before it, else the enclosing section's id.

    Explicit structure makes sections too (see :mod:`vpack.plugins._structure`): a
    ``section``, ``article`` or ``div.section`` with an id and no heading inside is a
    section titled with its ``aria-label``, ``title`` attribute or readable id; each
    term of a definition list whose ``<dt>`` (or the list itself) has an id (Sphinx API
    entries such as ``<dt id="os.scandir">``, glossaries, option lists), or of a
    top-level list of at least two terms whose descriptions average 200 characters or
    more (FAQs), is a section titled with the term, one level below the section it is
    in; the text after such a unit belongs to the section around it again. A term
    without description joins the term after it, or stays in the text around it.
    Broken markup gives best-effort text;
    a page without any text gives None. With ``suffixes``, only documents whose path
    ends with one of them are converted; others pass through unchanged."""

    def __init__(self, suffixes: Optional[Sequence[str]] = None) -> None:
        self.suffixes = None if suffixes is None else tuple(s.lower() for s in suffixes)

    def describe(self) -> Mapping[str, Any]:
        return {
            "kind": "html",
            "version": STRUCTURE_VERSION,
            "suffixes": None if self.suffixes is None else list(self.suffixes),
            "drop_classes": sorted(DROP_CLASSES),
        }

    def transform(self, document: Document) -> Optional[Document]:
        if not _selected(document, self.suffixes):
            return _copy(document)
        parser = _Extractor()
        # html.parser accepts any input; should it still raise, keep what was read.
        with contextlib.suppress(Exception):
            # Newlines are normalized first, as browsers do before parsing.
            parser.feed(document.text.replace("\r\n", "\n").replace("\r", "\n"))
            parser.close()
        raw = parser.finish()
        text = raw.rstrip()
        if not text.strip():
            return None
        sections = resolve(text, parser.events)
        meta = dict(document.metadata)
        title = parser.title or parser.first_h1
        if title:
            meta["title"] = title
        meta["sections"] = _close_sections(sections, len(text))
        return Document(document.id, text, meta)


# ----------------------------------------------------------------------- Markdown

_FRONT_OPEN = re.compile(r"---[ \t]*\r?\n")
_FRONT_CLOSE = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.MULTILINE)
_TOML_OPEN = re.compile(r"\+\+\+[ \t]*\r?\n")
_TOML_CLOSE = re.compile(r"^\+\+\+[ \t]*\r?$", re.MULTILINE)
# Integers a pack's metadata holds (JSON numbers the reader takes as 64-bit integers).
_INT_RANGE = range(-(2**63), 2**64)
_KEY = re.compile(r"([A-Za-z_][\w.-]*)[ \t]*:(?:[ \t]+(.*))?$")
_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][-+]?[0-9]+)?")
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/", "0": "\0", "r": "\r"}


class _Unparsed(Exception):
    """A front matter value this small parser does not understand."""


def _strip_comment(raw: str) -> str:
    """``raw`` without a trailing " # comment" outside quotes."""
    quote = ""
    for i, ch in enumerate(raw):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or raw[i - 1] in " \t"):
            return raw[:i].rstrip()
    return raw


def _quoted(raw: str) -> str:
    q = raw[0]
    out: List[str] = []
    i = 1
    while i < len(raw):
        ch = raw[i]
        if q == "'" and ch == "'":
            if raw.startswith("''", i):
                out.append("'")
                i += 2
                continue
            break
        if q == '"' and ch == "\\" and i + 1 < len(raw):
            out.append(_ESCAPES.get(raw[i + 1], "\\" + raw[i + 1]))
            i += 2
            continue
        if q == '"' and ch == '"':
            break
        out.append(ch)
        i += 1
    else:
        raise _Unparsed(raw)
    rest = raw[i + 1 :].strip()
    if rest and not rest.startswith("#"):
        raise _Unparsed(raw)
    return "".join(out)


def _split_items(inner: str) -> List[str]:
    items: List[str] = []
    quote = ""
    current: List[str] = []
    for ch in inner:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[]{}":
            raise _Unparsed(inner)
        elif ch == ",":
            items.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    items.append("".join(current).strip())
    return [item for item in items if item]


def _scalar(raw: str) -> Any:
    """A YAML-ish value: quoted string, [inline, list], number, boolean, null, or plain
    string. Raises _Unparsed for what it does not handle (maps, anchors, tags...)."""
    raw = raw.strip()
    if not raw:
        return None
    if raw[0] in "\"'":
        return _quoted(raw)
    raw = _strip_comment(raw)
    if raw.startswith("["):
        if not raw.endswith("]"):
            raise _Unparsed(raw)
        return [_scalar(item) for item in _split_items(raw[1:-1])]
    if raw[0] in "{&*!|>@`%":
        raise _Unparsed(raw)
    lowered = raw.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered in ("null", "~"):
        return None
    if _INT.fullmatch(raw):
        return int(raw) if int(raw) in _INT_RANGE else raw
    if _FLOAT.fullmatch(raw):
        number = float(raw)
        return number if math.isfinite(number) else raw
    return raw


def parse_front_matter(block: str) -> Dict[str, Any]:
    """Top-level ``key: value`` pairs of a YAML-ish block: scalars, inline lists,
    "- item" lists and ``|``/``>`` block strings. Whatever else is skipped; nulls are
    left out. Never raises."""
    lines = block.splitlines()
    out: Dict[str, Any] = {}
    i = 0
    while i < len(lines):
        m = _KEY.match(lines[i])
        i += 1
        if not m:
            continue
        key, raw = m.group(1), (m.group(2) or "").strip()
        nested: List[str] = []
        while i < len(lines) and (not lines[i].strip() or lines[i][:1] in " \t-"):
            nested.append(lines[i])
            i += 1
        try:
            if raw in ("|", "|-", "|+", ">", ">-", ">+"):
                body = [line.strip() for line in nested]
                value: Any = ("\n" if raw[0] == "|" else " ").join(body).strip()
            elif raw:
                value = _scalar(raw)
            else:
                items = [line.strip() for line in nested if line.strip()]
                if not all(item == "-" or item.startswith("- ") for item in items):
                    raise _Unparsed(key)
                value = [_scalar(item[1:]) for item in items] if items else None
        except (_Unparsed, ValueError):
            continue
        if value is not None:
            out[key] = value
    return out


def _toml_value(value: Any) -> Any:
    """A TOML value as metadata: strings, booleans, 64-bit integers, finite floats,
    dates and times (as ISO 8601 strings), and arrays of those; None for the rest
    (tables, arrays of tables, other numbers)."""
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return value if value in _INT_RANGE else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime.date, datetime.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, list):
        items = [_toml_value(v) for v in value]
        return None if any(item is None for item in items) else items
    return None


def parse_toml_front_matter(block: str) -> Optional[Dict[str, Any]]:
    """The top-level keys of a TOML block (Hugo's ``+++`` front matter) whose values
    :func:`_toml_value` keeps; None when the block is not valid TOML."""
    try:
        data = tomllib.loads(block)
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        return None
    out: Dict[str, Any] = {}
    for key, value in data.items():
        kept = _toml_value(value)
        if kept is not None:
            out[key] = kept
    return out


def _after_line(text: str, at: int) -> str:
    """``text`` from ``at``, without the line break there."""
    rest = text[at:]
    if rest.startswith("\r\n"):
        return rest[2:]
    if rest.startswith(("\n", "\r")):
        return rest[1:]
    return rest


def split_front_matter(text: str) -> Tuple[Dict[str, Any], str]:
    """The front matter and the text after it: YAML (``---`` at the very top, up to a
    ``---`` or ``...`` line) or TOML (``+++`` at the very top, up to a ``+++`` line).
    Text without front matter, or whose TOML block does not parse, comes back
    unchanged, with {}."""
    toml = _TOML_OPEN.match(text)
    if toml:
        closing = _TOML_CLOSE.search(text, toml.end())
        if not closing:
            return {}, text
        parsed = parse_toml_front_matter(text[toml.end() : closing.start()].replace("\r\n", "\n"))
        if parsed is None:
            return {}, text
        return parsed, _after_line(text, closing.end())
    opening = _FRONT_OPEN.match(text)
    if not opening:
        return {}, text
    closing = _FRONT_CLOSE.search(text, opening.end())
    if not closing:
        return {}, text
    block = text[opening.end() : closing.start()]
    if block.strip() and not any(_KEY.match(line) for line in block.splitlines()):
        return {}, text  # two thematic breaks, not front matter
    return parse_front_matter(block), _after_line(text, closing.end())


_LINK = re.compile(r"!?\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])")
_TAG = re.compile(r"<[^>\n]+>")
_EMPHASIS = re.compile(r"(?<!\w)_+|_+(?!\w)|\*+|~~")
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def _inline_text(source: str) -> str:
    """Heading text as rendered: code spans verbatim; elsewhere links and images become
    their text, and tags, emphasis markers and backslash escapes go."""
    out: List[str] = []
    last = 0
    for m in _CODE_SPAN.finditer(source):
        out.append(_markup_text(source[last : m.start()]))
        out.append(m.group(2).strip())
        last = m.end()
    out.append(_markup_text(source[last:]))
    return " ".join("".join(out).split())


def _markup_text(source: str) -> str:
    text = _LINK.sub(r"\1", source)
    text = _TAG.sub("", text)
    text = _EMPHASIS.sub("", text)
    return _ESCAPED.sub(r"\1", text)


def github_slug(title: str) -> str:
    """GitHub's heading anchor: lowercase; letters, marks, numbers, "_", "-" and spaces
    kept, everything else dropped; each space becomes "-"."""
    kept = (
        ch
        for ch in title.lower()
        if ch in " -_" or unicodedata.category(ch)[0] in "LMN" or unicodedata.category(ch) == "Pc"
    )
    return "".join(kept).replace(" ", "-")


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)?")


def markdown_sections(text: str) -> Iterator[Tuple[int, int, str]]:
    """(offset, level, heading source text) for each ATX heading outside fenced code."""
    fence: Optional[str] = None
    for m in _LINE.finditer(text):
        line = m.group(0).rstrip("\r\n")
        if not m.group(0):
            break
        if fence is not None:
            indent = len(line) - len(line.lstrip(" "))
            closing = line.strip()
            if indent <= 3 and len(closing) >= len(fence) and closing == fence[0] * len(closing):
                fence = None
            continue
        opening = _FENCE.match(line)
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence = opening.group(1)
            continue
        heading = _ATX.fullmatch(line)
        if heading:
            yield m.start(), len(heading.group(1)), heading.group(2) or ""


class MarkdownToText:
    """Markdown: front matter -> metadata, headings -> ``sections``; the text itself is
    kept as it is (code fences included) so offsets stay those of the source.

    Front matter (YAML: ``---`` ... ``---`` at the very top, parsed leniently, see
    :func:`parse_front_matter`; TOML: ``+++`` ... ``+++``, see
    :func:`parse_toml_front_matter`, left in the text when it is not valid TOML) is
    merged into the metadata (never replacing ``path``) and removed from the text.
    ``title`` comes from the front matter, else the first "# " heading. Sections come
    from ATX headings (# to ######) outside fenced code; anchors are GitHub's
    (``github_slug``, repeats suffixed -1, -2, ...). When the front matter has a title
    and the page no "# " heading, that title is a first-level section at the start
    (``kind`` "title", no anchor), so the page's "## " sections sit under it. A document
    with nothing but front matter gives None. With ``suffixes``, only documents whose
    path ends with one of them are converted; others pass through unchanged."""

    def __init__(self, suffixes: Optional[Sequence[str]] = None) -> None:
        self.suffixes = None if suffixes is None else tuple(s.lower() for s in suffixes)

    def describe(self) -> Mapping[str, Any]:
        return {
            "kind": "markdown",
            "version": STRUCTURE_VERSION,
            "suffixes": None if self.suffixes is None else list(self.suffixes),
        }

    def transform(self, document: Document) -> Optional[Document]:
        if not _selected(document, self.suffixes):
            return _copy(document)
        front, text = split_front_matter(document.text)
        if not text.strip():
            return None
        meta = dict(document.metadata)
        for key, value in front.items():
            if key not in ("path", "sections"):
                meta[key] = value
        sections: List[Section] = []
        used: Set[str] = set()
        repeats: Dict[str, int] = {}  # last suffix tried for each slug
        first_h1: Optional[str] = None
        for start, level, source in markdown_sections(text):
            title = _inline_text(source)
            slug = base = github_slug(title)
            n = repeats.get(base, 0)
            while slug in used:
                n += 1
                slug = f"{base}-{n}"
            repeats[base] = n
            used.add(slug)
            sections.append({"title": title, "anchor": slug, "level": level, "start": start, "end": start})
            if level == 1 and first_h1 is None:
                first_h1 = title
        title_value = front.get("title")
        if isinstance(title_value, (str, int, float)) and not isinstance(title_value, bool):
            meta["title"] = str(title_value)
            if first_h1 is None and str(title_value).strip():
                # The page's own title heads it, as the site renders it.
                title = str(title_value).strip()
                sections.insert(
                    0, {"title": title, "anchor": None, "level": 1, "start": 0, "end": 0, "kind": "title"}
                )
        elif first_h1:
            meta["title"] = first_h1
        meta["sections"] = _close_sections(sections, len(text))
        return Document(document.id, text, meta)


# --------------------------------------------------------------------- whitespace

# Zero-width characters removed: zero-width space, non-joiner and joiner, word joiner,
# zero-width no-break space (BOM), soft hyphen.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
# Every line boundary str.splitlines knows, besides "\n", becomes "\n".
_LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_CONTROLS = "".join(chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)] if chr(c) not in "\n\t" + _LINE_BREAKS)
_CLEAN = re.compile("(\r\n|[" + re.escape(_LINE_BREAKS) + "])|[" + re.escape(ZERO_WIDTH + _CONTROLS) + "]+")
_TRAILING = re.compile(r"[^\S\n]+(?=\n|\Z)")
_NON_ASCII_RUN = re.compile(r"[\x00-\x7f]?[^\x00-\x7f]+")


class _OffsetMap:
    """Maps offsets in a text to offsets in an edited copy of it. Edits are recorded in
    order as (start, end) spans of the source replaced by text of a given length; an
    offset inside an edit maps into its replacement, clamped."""

    def __init__(self) -> None:
        self.starts: List[int] = []
        self.ends: List[int] = []
        self.new_starts: List[int] = []
        self.new_lengths: List[int] = []
        self.shift = 0

    def edit(self, start: int, end: int, length: int) -> None:
        self.starts.append(start)
        self.ends.append(end)
        self.new_starts.append(start + self.shift)
        self.new_lengths.append(length)
        self.shift += length - (end - start)

    def __call__(self, offset: int) -> int:
        k = bisect_right(self.starts, offset) - 1
        if k < 0:
            return offset
        if offset < self.ends[k]:
            return self.new_starts[k] + min(offset - self.starts[k], self.new_lengths[k])
        return self.new_starts[k] + self.new_lengths[k] + offset - self.ends[k]


def _substitute(
    pattern: Pattern[str], repl: Callable[[Match[str]], str], text: str
) -> Tuple[str, _OffsetMap]:
    """re.sub that also records where everything moved. ``repl`` takes the match."""
    mapping = _OffsetMap()
    out: List[str] = []
    last = 0
    for m in pattern.finditer(text):
        new = repl(m)
        if new == m.group(0):
            continue
        out.append(text[last : m.start()])
        out.append(new)
        mapping.edit(m.start(), m.end(), len(new))
        last = m.end()
    out.append(text[last:])
    return "".join(out), mapping


class NormalizeWhitespace:
    """Cleans text without changing what it says: Unicode normalization (``form``,
    NFC by default, or NFKC...); "\\r\\n", "\\r" and the other line separators become
    "\\n"; zero-width characters (:data:`ZERO_WIDTH`) and control characters other
    than "\\n" and "\\t" are removed; trailing whitespace is stripped from every line;
    runs of more than ``max_blank_lines`` blank lines are cut to that many. Section
    offsets in the metadata are moved with the text, so they still point at their
    headings. A document left without text gives None."""

    def __init__(self, form: str = "NFC", max_blank_lines: int = 2) -> None:
        if form not in ("NFC", "NFKC", "NFD", "NFKD"):
            raise ValueError(f"unknown normalization form {form!r}")
        if max_blank_lines < 0:
            raise ValueError(f"max_blank_lines must be >= 0, got {max_blank_lines}")
        self.form = form
        self.max_blank_lines = max_blank_lines
        self._blank_run = re.compile("\n" * (max_blank_lines + 1) + "\n+")

    def describe(self) -> Mapping[str, Any]:
        return {"kind": "normalize", "form": self.form, "max_blank_lines": self.max_blank_lines}

    def _normalize(self, text: str) -> Tuple[str, _OffsetMap]:
        if unicodedata.is_normalized(self.form, text):  # type: ignore[arg-type]
            return text, _OffsetMap()
        # ASCII is never changed by normalization nor combines with what precedes it,
        # so runs of other characters (with the ASCII character before them) can be
        # normalized on their own.
        return _substitute(
            _NON_ASCII_RUN,
            lambda m: unicodedata.normalize(self.form, m.group(0)),  # type: ignore[arg-type]
            text,
        )

    def _clean_title(self, title: str) -> str:
        cleaned = _CLEAN.sub(lambda m: " " if m.group(1) else "", title)
        return unicodedata.normalize(self.form, cleaned).strip()  # type: ignore[arg-type]

    def transform(self, document: Document) -> Optional[Document]:
        text, cleaned = _substitute(_CLEAN, lambda m: "\n" if m.group(1) else "", document.text)
        text, normalized = self._normalize(text)
        text, trimmed = _substitute(_TRAILING, lambda m: "", text)
        keep = "\n" * (self.max_blank_lines + 1)
        text, collapsed = _substitute(self._blank_run, lambda m: keep, text)
        if not text.strip():
            return None
        meta = dict(document.metadata)
        sections = meta.get("sections")
        if isinstance(sections, list):
            steps = (cleaned, normalized, trimmed, collapsed)
            moved: List[Any] = []
            for original in sections:
                if not isinstance(original, Mapping):
                    moved.append(original)
                    continue
                sec = dict(original)
                for key in ("start", "end"):
                    offset = sec.get(key)
                    if isinstance(offset, int) and not isinstance(offset, bool):
                        for step in steps:
                            offset = step(offset)
                        sec[key] = min(offset, len(text))
                if isinstance(sec.get("title"), str):
                    sec["title"] = self._clean_title(sec["title"])
                moved.append(sec)
            meta["sections"] = moved
        return Document(document.id, text, meta)
