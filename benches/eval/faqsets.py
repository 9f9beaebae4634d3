"""Retrieval eval sets from real FAQs shipped by Debian packages (offline).

Each FAQ entry's question (its heading) is a query; the answer passage is the target:
the heading's section up to the next heading of the same or a higher level, except
for a question with sub-questions (subheadings), whose answer is its own text up to the
first subheading when that has at least 100 characters. The indexed
corpus is the whole manual the FAQ belongs to, with every eval question's text removed:
each question heading's text (and every other occurrence of the same HTML, e.g. in a
chapter's table of contents) is replaced by a neutral placeholder ``Q<n>``, so the
heading, its anchor and the section structure stay, but none of the question's words.

Sets (``SETS``):

- ``debian``: the Debian FAQ (package ``debian-faq``, /usr/share/doc/debian/FAQ/*.en.html);
  queries are the h2/h3 headings that contain a "?"; corpus: all 17 pages.
- ``django``: the Django 3.2 FAQ (package ``python-django-doc``, html/faq/*.html); queries
  are every h2/h3 heading with a permalink on the FAQ pages (some are problem
  statements such as "I can't log in..."); corpus: the whole Django HTML manual minus
  generated pages (genindex, search, py-modindex, _modules source listings).

``prepare(name, workdir)`` writes the modified corpus under ``workdir/<name>/corpus`` and
returns the questions with their answer spans, computed on the document text exactly as
vpack's default transformers produce it (so chunk ``start``/``end`` offsets compare
directly).
"""

from __future__ import annotations

import html
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from vpack.pipeline import default_transformers
from vpack.plugins.sources import DirectorySource, glob_match

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def html_text(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed."""
    return _SPACE.sub(" ", html.unescape(_TAGS.sub("", fragment))).strip()


@dataclass
class Question:
    qid: str  # "<set>:<n>"
    query: str  # the question text (numbering stripped)
    path: str  # the page, relative to the corpus root (= chunk metadata "path")
    anchor: str  # the heading's anchor
    level: int  # heading level
    start: int = -1  # answer span in the transformed document text
    end: int = -1
    answer: str = ""  # the answer text (that span, placeholder heading included)


@dataclass
class FaqSet:
    name: str
    root: Path  # the installed HTML
    include: Tuple[str, ...]
    exclude: Tuple[str, ...]
    faq_pages: Tuple[str, ...]  # globs (relative) of pages holding questions
    heading: re.Pattern[str]  # groups: level, anchor, inner html (the question)
    keep: Callable[[str], bool]  # which heading texts are queries
    strip_number: bool  # "1.2. What..." / "(3) What..." -> "What..."
    skip_groups: bool  # leave out headings whose next heading is a subheading
    package: str
    # Optional: (relative path, html) -> html, applied to every page first.
    rewrite: Optional[Callable[[str, str], str]] = None
    # Optional: the corpus pages (relative paths), instead of include/exclude alone.
    pages: Optional[Callable[[Path], List[str]]] = None


def _debian_keep(text: str) -> bool:
    return "?" in text


def _django_keep(text: str) -> bool:
    return True


_SQLITE_Q = re.compile(r'<a name="(q\d+)"></a>\s*<p><b>(.*?)</b></p>', re.S)


def _sqlite_rewrite(rel: str, page: str) -> str:
    """The SQLite FAQ marks a question as a bold paragraph after an anchor; it becomes
    a heading (same anchor, same text) so that it starts a section, as in the others."""
    if rel != "faq.html":
        return page
    return _SQLITE_Q.sub(lambda m: f'<h2 id="{m.group(1)}">{m.group(2)}</h2>', page)


def _sqlite_pages(root: Path) -> List[str]:
    """faq.html and every local page it links to (one hop): the pages its answers
    point into. The whole SQLite manual (766 pages) would take too long to embed here."""
    faq = (root / "faq.html").read_text(encoding="utf-8")
    rels = {"faq.html"}
    for href in re.findall(r'href="([^"#:]+\.html)', faq):
        if (root / href).is_file():
            rels.add(href)
    return sorted(rels)


SETS: Dict[str, FaqSet] = {
    "debian": FaqSet(
        name="debian",
        root=Path("/usr/share/doc/debian/FAQ"),
        include=("*.en.html",),
        exclude=(),
        faq_pages=("*.en.html",),
        # <h2 class="title"><a id="whatisfaq"></a>1.1. What is this FAQ?</h2>
        heading=re.compile(r'<h([23]) class="title"><a id="([^"]+)"></a>(.*?)</h\1>', re.S),
        keep=_debian_keep,
        strip_number=True,
        skip_groups=False,
        package="debian-faq",
    ),
    "django": FaqSet(
        name="django",
        root=Path("/usr/share/doc/python-django-doc/html"),
        include=("**/*.html",),
        exclude=(
            "_modules/**",
            "_static/**",
            "_images/**",
            "genindex.html",
            "search.html",
            "py-modindex.html",
        ),
        faq_pages=("faq/*.html",),
        # <h2>Is Django stable?<a class="headerlink" href="#is-django-stable" ...>¶</a></h2>
        heading=re.compile(
            r'<h([23])>(?P<inner>.*?)<a class="headerlink" href="#([^"]+)"[^>]*>¶</a></h\1>', re.S
        ),
        keep=_django_keep,
        strip_number=False,
        skip_groups=True,
        package="python-django-doc",
    ),
    "sqlite": FaqSet(
        name="sqlite",
        root=Path("/usr/share/doc/sqlite3"),
        include=("**/*.html",),
        exclude=(),
        faq_pages=("faq.html",),
        # after _sqlite_rewrite: <h2 id="q1">(1) How do I create an AUTOINCREMENT field?</h2>
        heading=re.compile(r'<h(2) id="(q\d+)">(.*?)</h2>', re.S),
        keep=_django_keep,
        strip_number=True,
        skip_groups=False,
        package="sqlite3-doc",
        rewrite=_sqlite_rewrite,
        pages=_sqlite_pages,
    ),
}

_NUMBER = re.compile(r"^(\d+(\.\d+)*\.|\(\d+\))\s+")


def _headings(spec: FaqSet, page: str) -> List[Tuple[int, str, str]]:
    """(level, anchor, inner html) of each candidate question heading of a page."""
    out = []
    for m in spec.heading.finditer(page):
        if "inner" in spec.heading.groupindex:
            level, inner, anchor = int(m.group(1)), m.group("inner"), m.group(3)
        else:
            level, anchor, inner = int(m.group(1)), m.group(2), m.group(3)
        out.append((level, anchor, inner))
    return out


def _corpus_pages(spec: FaqSet) -> List[str]:
    """The corpus pages (relative paths; symlinked duplicates such as index.html ->
    index.en.html left out)."""
    if spec.pages is not None:
        return spec.pages(spec.root)
    rels = []
    for path in sorted(spec.root.rglob("*.html")):
        rel = path.relative_to(spec.root).as_posix()
        if path.is_symlink():
            continue
        if any(glob_match(rel, p) for p in spec.include) and not any(
            glob_match(rel, p) for p in spec.exclude
        ):
            rels.append(rel)
    return rels


def _faq_pages(spec: FaqSet, corpus: Sequence[str]) -> List[str]:
    return [
        r for r in corpus if any(glob_match(r, g) for g in spec.faq_pages) and not r.endswith("index.html")
    ]


def prepare(name: str, workdir: Path) -> Tuple[Path, List[Question], Dict[str, Any]]:
    """Writes the question-free corpus for set ``name`` and returns (corpus root,
    questions with answer spans, extraction statistics)."""
    spec = SETS[name]
    if not spec.root.is_dir():
        raise SystemExit(f"{spec.root} is missing: apt-get install {spec.package}")
    corpus = workdir / name / "corpus"
    if corpus.exists():
        shutil.rmtree(corpus)
    # Copy the selected pages (real files; symlinked duplicates such as index.html ->
    # index.en.html are left out).
    selected = _corpus_pages(spec)
    texts = {rel: (spec.root / rel).read_text(encoding="utf-8") for rel in selected}
    if spec.rewrite is not None:
        texts = {rel: spec.rewrite(rel, page) for rel, page in texts.items()}

    questions: List[Question] = []
    replacements: List[Tuple[str, str]] = []  # (inner html, placeholder)
    for rel in _faq_pages(spec, selected):
        heads = _headings(spec, texts[rel])
        for i, (level, anchor, inner) in enumerate(heads):
            text = html_text(inner)
            if spec.strip_number:
                text = _NUMBER.sub("", text)
            if not text or not spec.keep(text):
                continue
            if spec.skip_groups and i + 1 < len(heads) and heads[i + 1][0] > level:
                continue  # a heading that only groups sub-questions ("Miscellaneous")
            n = len(questions) + 1
            questions.append(Question(f"{name}:{n}", text, rel, anchor, level))
            replacements.append((inner, f"Q{n}"))
    # Longest first, so a question that contains another is replaced whole.
    for inner, placeholder in sorted(replacements, key=lambda r: -len(r[0])):
        for rel in selected:
            if inner in texts[rel]:
                texts[rel] = texts[rel].replace(inner, placeholder)
    # Links to a question (tables of contents, "see section 4.1, <question>"): their
    # text is the question, possibly with other markup; it becomes the placeholder too.
    for q in questions:
        page = q.path.rsplit("/", 1)[-1]
        link = re.compile(
            r'(<a\b[^>]*\bhref="(?:[^"#]*/)?(?:'
            + re.escape(page)
            + r")?#"
            + re.escape(q.anchor)
            + r'"[^>]*>)(.*?)(</a>)',
            re.S,
        )
        placeholder = "Q" + q.qid.split(":")[1]
        for rel in selected:
            if q.anchor in texts[rel]:
                texts[rel] = link.sub(lambda m, p=placeholder: m.group(1) + p + m.group(3), texts[rel])
    for rel, text in texts.items():
        out = corpus / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")

    # Answer spans on the transformed text (the same transformers vpack.build uses).
    by_path: Dict[str, List[Question]] = {}
    for q in questions:
        by_path.setdefault(q.path, []).append(q)
    docs = transformed_documents(corpus, by_path)
    leaks = 0
    for rel, qs in by_path.items():
        doc_text, sections = docs[rel]
        # Headings only: the spans follow the FAQ's headings, whatever else the
        # transformer records as sections (definition-list terms, section elements and
        # the text after them, kind "term" / "element" / "resumed"), so that the targets
        # do not move with the chunker's structure.
        headings = [s for s in sections if "kind" not in s]
        for q in qs:
            idx = next((i for i, s in enumerate(headings) if s.get("anchor") == q.anchor), None)
            if idx is None:
                raise RuntimeError(f"{rel}#{q.anchor}: heading not found after transformation")
            sec = headings[idx]
            end = len(doc_text)
            for s in headings[idx + 1 :]:
                if s["level"] <= sec["level"]:
                    end = s["start"]
                    break
            # A question with sub-questions: its answer is its own text up to the first
            # subheading, unless that is (almost) empty; then the whole subtree.
            own = headings[idx + 1]["start"] if idx + 1 < len(headings) else len(doc_text)
            if (
                own < end
                and len(doc_text[sec["start"] : own].strip()) - len(f"Q{q.qid.split(':')[1]}") >= 100
            ):
                end = own
            q.start, q.end = sec["start"], end
            q.answer = doc_text[q.start : q.end].strip()
    # Leak check: no question text may remain anywhere in the corpus text.
    all_docs = transformed_documents(corpus, None)
    norm_docs = [_norm(t) for t, _ in all_docs.values()]
    leaked = []
    for q in questions:
        nq = _norm(q.query)
        if any(nq in d for d in norm_docs):
            leaks += 1
            leaked.append(q.qid)
    stats = {
        "set": name,
        "package": spec.package,
        "source": str(spec.root),
        "documents": len(all_docs),
        "corpus_characters": sum(len(t) for t, _ in all_docs.values()),
        "questions": len(questions),
        "answer_characters_median": sorted(q.end - q.start for q in questions)[len(questions) // 2],
        "questions_still_in_corpus": leaks,
        "leaked": leaked,
    }
    return corpus, questions, stats


def _norm(text: str) -> str:
    return _SPACE.sub(" ", text.casefold()).strip()


def transformed_documents(
    corpus: Path, only: Optional[Dict[str, Any]]
) -> Dict[str, Tuple[str, List[Dict[str, Any]]]]:
    """{path: (text, sections)} after vpack's default transformers."""
    src = DirectorySource(corpus, ("**/*.html",))
    steps = default_transformers()
    out = {}
    for doc in src.documents():
        path = doc.metadata.get("path", doc.id)
        if only is not None and path not in only:
            continue
        for t in steps:
            doc = t.transform(doc)
        out[path] = (doc.text, list(doc.metadata.get("sections") or []))
    return out


def save(questions: Sequence[Question], stats: Dict[str, Any], path: Path) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"stats": stats, "questions": [asdict(q) for q in questions]}
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
