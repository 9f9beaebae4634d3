"""Explicit structure in HTML: section elements with an id, and the terms of definition
lists, as section units beside the headings.

While parsing, :class:`~vpack.plugins.transformers.HtmlToText` records events in text
order: a heading became a section, a unit opened, a unit closed (each with its
position in the text being written). Once the text is known, :func:`resolve` turns
them into the flat ``sections`` list the section chunker reads:

- a section element (``section``, ``article``, Sphinx's ``div.section``) with an id and
  no heading anywhere inside is a section of its own, from its first text, titled with
  its ``aria-label``, else its ``title`` attribute, else its id made readable
  ("getting-started" -> "Getting started"); its anchor is the id. One with a heading
  inside is left to its headings, as before (the heading takes its id as anchor, and
  the text after it stays with its last heading);
- each group of ``<dt>`` terms and the ``<dd>`` descriptions after them in a
  *structural* definition list (see :func:`decide`) is a section, from its first term,
  titled with the terms' text (joined with " / "), anchored at the first term's id (or
  the first id or name inside a term);
- a unit's level is one below the section it opens in (the last heading or unit before
  it inside the same enclosing unit), so nested units give a correct heading path;
- text after a unit closes belongs to the section it opened in again: a copy of that
  section (title, anchor, level) starts there, or, when it opened outside every
  section, an entry with level 0 and no title (text outside every section, which the
  chunker labels with the document's title). Copies that no text follows are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

Section = Dict[str, Any]

#: Characters of description per term, on average, that make a definition list whose
#: terms carry no id structural (FAQ answers, glossary entries; not key/value lists).
MIN_DESCRIPTION = 200

_NON_SPACE = re.compile(r"\S")
_SEPARATORS = re.compile(r"[-_.:/]+")
_ENDS = re.compile("^[\\s\u200b\u200c\u200d\u2060\ufeff]+|[\\s\u200b\u200c\u200d\u2060\ufeff¶§]+$")
_VIEWCODE = re.compile(r"\s*\[source\]$")


@dataclass
class DefList:
    """A ``<dl>`` being read: its term groups, and what decides whether it is structural."""

    nested: bool  # inside another definition list
    anchor: Optional[str]  # the list's own id (Sphinx's index targets)
    excluded: bool  # a field list (Sphinx's "Parameters:", "Returns:")
    under_heading: bool = False  # the page has a heading before the list
    identified: bool = False  # a <dt> has an id of its own
    groups: List[Unit] = field(default_factory=list)
    structural: bool = False


@dataclass
class Unit:
    """A section element with an id, or a group of terms and descriptions in a ``<dl>``.
    Positions are offsets in the text being written."""

    start: int
    anchor: Optional[str] = None
    label: Optional[str] = None  # a section element's aria-label or title attribute
    deflist: Optional[DefList] = None  # the list of a term group; None: a section element
    has_heading: bool = False  # a section element with a heading inside
    has_description: bool = False  # a term group whose <dd> has started
    described: int = 0  # characters written inside the group's <dd>s
    terms: List[List[int]] = field(default_factory=list)  # [start, end] of each <dt>
    end: int = -1


#: ("heading", section), ("open", unit) or ("close", unit).
Event = Tuple[str, Any]


def decide(deflist: DefList) -> None:
    """Whether a definition list's term groups become sections: when a ``<dt>`` has an
    id of its own, or the list itself has one (its first term takes it): Sphinx and
    other API references, glossaries, option lists, Sphinx's indexed lists (an id on an
    element inside a term, such as the index target of a PEP reference in a "See also"
    list, does not count); or, on a page with no heading before the list (whose headings
    are missing), when the list is not inside another one, is not a field list, has at
    least two terms, and its descriptions average :data:`MIN_DESCRIPTION` characters
    (FAQ-style pages). Under a heading such a list stays whole: on the FAQ evaluation,
    splitting answers written as definition lists into one chunk per term cost dense
    recall@5 0.033 (benches/eval/results/structure). Short key/value lists and Sphinx's
    "Parameters:" field lists stay in the text around them."""
    groups = deflist.groups
    if deflist.anchor and groups and groups[0].anchor is None:
        groups[0].anchor = deflist.anchor
    if deflist.identified or deflist.anchor:
        deflist.structural = True
    elif deflist.nested or deflist.excluded or deflist.under_heading or len(groups) < 2:
        deflist.structural = False
    else:
        deflist.structural = sum(g.described for g in groups) >= MIN_DESCRIPTION * len(groups)


def readable(anchor: str) -> str:
    """An id as a title: separators become spaces, the first letter a capital."""
    words = " ".join(_SEPARATORS.sub(" ", anchor).split())
    return words[:1].upper() + words[1:]


def _clean(s: str) -> str:
    return _VIEWCODE.sub("", _ENDS.sub("", " ".join(s.split())))


def _title(unit: Unit, text: str) -> Optional[str]:
    if unit.deflist is not None:
        n = len(text)
        terms = [_clean(text[min(a, n) : min(max(a, b), n)]) for a, b in unit.terms]
        title = " / ".join(t for t in terms if t)
        if title:
            return title
    elif unit.label:
        return unit.label
    return readable(unit.anchor) if unit.anchor else None


def _first_text(text: str, position: int) -> int:
    m = _NON_SPACE.search(text, position)
    return m.start() if m else len(text)


def _active(unit: Unit, text: str) -> bool:
    """Whether a unit counts: it has text, and is a section element without a heading
    or a term group of a structural list."""
    if unit.has_heading if unit.deflist is None else not unit.deflist.structural:
        return False
    return _first_text(text, unit.start) < min(unit.end, len(text))


@dataclass
class _Scope:
    current: Optional[Section]  # the section text belongs to here, None before any
    level: int  # the level of the unit itself (0 outside every unit)
    own: Optional[Section] = None  # the unit's own section


@dataclass
class _Bare:
    """A term group without description that just closed. The group after it, with
    nothing between them, joins it (Sphinx's ``.. function:: a()`` with no body before
    ``.. function:: b()``, which documents both); without one, it is no section (a term
    alone would be a chunk of one line), and its text stays with what is before it."""

    unit: Unit
    section: Section
    resumed: Section  # the copy of its parent after it, to take back
    depth: int


def resolve(text: str, events: List[Event]) -> List[Section]:
    """The ``sections`` of ``text`` (offsets into it; ``end`` is left for the caller)."""
    n = len(text)
    entries: List[Tuple[Section, bool]] = []  # (section, is the copy after a unit)
    stack = [_Scope(None, 0)]
    bare: Optional[_Bare] = None

    def settle() -> None:
        if bare is not None:
            entries[:] = [e for e in entries if e[0] is not bare.section and e[0] is not bare.resumed]

    for kind, obj in events:
        if kind == "heading":
            settle()
            bare = None
            entries.append((obj, False))
            stack[-1].current = obj
            continue
        unit: Unit = obj
        if not _active(unit, text):
            continue
        if kind == "open":
            if (
                bare is not None
                and unit.deflist is not None
                and bare.depth == len(stack)
                and entries[-1][0] is bare.resumed
                and _first_text(text, bare.unit.end) >= _first_text(text, unit.start)
            ):
                entries.pop()
                sec = bare.section
                sec["title"] = " / ".join(t for t in (sec["title"], _title(unit, text)) if t) or None
                stack.append(_Scope(sec, sec["level"], sec))
                bare = None
                continue
            settle()
            bare = None
            top = stack[-1]
            level = (top.current["level"] if top.current is not None else top.level) + 1
            sec = {
                "title": _title(unit, text),
                "anchor": unit.anchor,
                "level": level,
                "start": unit.start,
                "kind": "element" if unit.deflist is None else "term",
            }
            entries.append((sec, False))
            stack.append(_Scope(sec, level, sec))
        elif len(stack) > 1:
            own = stack.pop().own
            parent = stack[-1].current
            if parent is None:
                again: Section = {"title": None, "anchor": None, "level": 0}
            else:
                again = {"title": parent["title"], "anchor": parent["anchor"], "level": parent["level"]}
            again.update(start=unit.end, kind="resumed")
            settle()
            entries.append((again, True))
            bare = None
            if unit.deflist is not None and unit.described == 0 and own is not None:
                bare = _Bare(unit, own, again, len(stack))
    settle()
    for sec, _ in entries:
        sec["start"] = _first_text(text, min(sec["start"], n))
        sec["end"] = sec["start"]
    out: List[Section] = []
    for k, (sec, resumed) in enumerate(entries):
        following = entries[k + 1][0]["start"] if k + 1 < len(entries) else n
        if sec["start"] >= n or (resumed and following <= sec["start"]):
            continue
        out.append(sec)
    return out
