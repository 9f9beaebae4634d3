"""Explicit structure through the real pipeline: HTML pages and Markdown files written to
disk, built with ``vpack.build`` (hash embedder, so chunk sizes are characters), and the
pack's chunks checked for their boundaries, titles, anchors and heading paths; pages
with ordinary headings chunk as they did before."""

# ruff: noqa: E501, RUF001

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

import vpack

# A Sphinx API page (python-docs shape): a function with a field list, a class whose
# methods are nested definition lists, text after them, a bare constant documented
# with the next one, a page footer.
API_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>shelf — Store objects &#8212; Demo 2.0 documentation</title></head>
<body>
<div class="related" role="navigation"><ul><li><a href="index.html">Demo 2.0 documentation</a></li></ul></div>
<div class="body" role="main">
<section id="module-shelf">
<h1>shelf — Store objects<a class="headerlink" href="#module-shelf">¶</a></h1>
<p>The shelf module keeps Python objects in a file, keyed by strings, so that a program can put things away and find them again the next time it runs.</p>
<section id="opening-a-shelf">
<h2>Opening a shelf<a class="headerlink" href="#opening-a-shelf">¶</a></h2>
<dl class="py function">
<dt class="sig sig-object py" id="shelf.open"><span class="sig-prename descclassname"><span class="pre">shelf.</span></span><span class="sig-name descname"><span class="pre">open</span></span><span class="sig-paren">(</span><em class="sig-param"><span class="n"><span class="pre">path</span></span></em>, <em class="sig-param"><span class="n"><span class="pre">flag</span></span><span class="o"><span class="pre">=</span></span><span class="default_value"><span class="pre">'c'</span></span></em><span class="sig-paren">)</span><a class="headerlink" href="#shelf.open" title="Permalink to this definition">¶</a></dt>
<dd><p>Open a persistent dictionary stored at <em>path</em>. The file is created when it does not exist yet and <em>flag</em> is <code>'c'</code>; with <code>'r'</code> it is opened read-only and writing raises an error.</p>
<dl class="field-list simple">
<dt class="field-odd">Parameters<span class="colon">:</span></dt>
<dd class="field-odd"><p><strong>path</strong> – where the shelf lives on disk, a string or a path-like object naming a file in a writable folder.</p></dd>
<dt class="field-even">Returns<span class="colon">:</span></dt>
<dd class="field-even"><p>a <a class="reference internal" href="#shelf.Shelf">Shelf</a> object.</p></dd>
</dl>
</dd></dl>

<dl class="py class">
<dt class="sig sig-object py" id="shelf.Shelf"><em class="property"><span class="pre">class</span> </em><span class="sig-prename descclassname"><span class="pre">shelf.</span></span><span class="sig-name descname"><span class="pre">Shelf</span></span><span class="sig-paren">(</span><em class="sig-param"><span class="pre">store</span></em><span class="sig-paren">)</span><a class="headerlink" href="#shelf.Shelf">¶</a></dt>
<dd><p>A dictionary-like object whose values are pickled into the underlying store when they are assigned, and unpickled again when they are read back.</p>
<dl class="py method">
<dt class="sig sig-object py" id="shelf.Shelf.sync"><span class="sig-name descname"><span class="pre">sync</span></span><span class="sig-paren">(</span><span class="sig-paren">)</span><a class="headerlink" href="#shelf.Shelf.sync">¶</a></dt>
<dd><p>Write back all entries in the cache and empty the cache, so that the store on disk holds every value assigned so far, even those that were only modified in place through a mutable object.</p></dd></dl>
<dl class="py method">
<dt class="sig sig-object py" id="shelf.Shelf.close"><span class="sig-name descname"><span class="pre">close</span></span><span class="sig-paren">(</span><span class="sig-paren">)</span><a class="headerlink" href="#shelf.Shelf.close">¶</a></dt>
<dd><p>Synchronize and close the persistent dict object. Operations on a closed shelf fail with a ValueError, whatever they are, reads included.</p></dd></dl>
<p>Shelf objects also support the context manager protocol: leaving the with block closes the shelf, writing back what the cache still holds.</p>
</dd></dl>
<p>Shelves opened by several processes at once are not safe: the store has no locking, so concurrent writers corrupt the file and concurrent readers may see half-written values.</p>
</section>
<section id="constants">
<h2>Constants<a class="headerlink" href="#constants">¶</a></h2>
<dl class="py data">
<dt class="sig sig-object py" id="shelf.READ_ONLY"><span class="sig-prename descclassname"><span class="pre">shelf.</span></span><span class="sig-name descname"><span class="pre">READ_ONLY</span></span></dt>
<dd></dd></dl>
<dl class="py data">
<dt class="sig sig-object py" id="shelf.READ_WRITE"><span class="sig-prename descclassname"><span class="pre">shelf.</span></span><span class="sig-name descname"><span class="pre">READ_WRITE</span></span></dt>
<dd><p>Flags for open(); their values are the strings 'r' and 'w'.</p></dd></dl>
<dl class="py data">
<dt class="sig sig-object py" id="shelf.PROTOCOL"><span class="sig-prename descclassname"><span class="pre">shelf.</span></span><span class="sig-name descname"><span class="pre">PROTOCOL</span></span></dt>
<dd><p>The pickle protocol used for values.</p></dd></dl>
</section>
</section>
</div>
<div class="footer">© Copyright 2024, Demo authors.</div>
</body></html>
"""


def _answer(topic: str) -> str:
    return (
        f"The answer about {topic} takes a few sentences, because it has to explain what happens, why it "
        f"happens, and what to do about it when {topic} goes wrong in practice on a real machine, and how "
        "to find out more from the log."
    )


# A page without headings: its units are section elements and a FAQ definition list.
HELP_PAGE = f"""<!DOCTYPE html><html><head><title>Help centre</title></head><body>
<main>
<p>Welcome to the help centre of the demo project.</p>
<article id="getting-started">
<p>Download the installer, run it, and follow the three screens it shows. Nothing else is needed on a fresh machine.</p>
<section id="upgrade_notes" aria-label="Upgrading from 1.x">
<p>Version 2 reads the old settings file and converts it on first start; keep a copy of it in case you go back.</p>
</section>
<p>Once installed, the program starts from the applications menu like any other one.</p>
</article>
<section id="faq" title="Frequently asked questions">
<dl>
<dt>Why does the program not start?</dt><dd><p>{_answer("starting")}</p></dd>
<dt>Where are my files kept?</dt><dd><p>{_answer("storage")}</p></dd>
<dt>Can I use it offline?</dt><dd><p>{_answer("offline use")}</p></dd>
</dl>
</section>
<dl><dt>Version</dt><dd>2.0</dd><dt>Licence</dt><dd>MIT</dd></dl>
<p>Last reviewed in March.</p>
</main></body></html>
"""

# A glossary whose terms carry ids and whose definitions are one line each.
GLOSSARY_PAGE = (
    '<html><head><title>Glossary</title></head><body><h1>Glossary</h1><dl class="glossary">\n'
    + "".join(
        f'<dt id="term-{w}">{w}</dt><dd><p>The {w} of a pack, in one short line.</p></dd>\n'
        for w in [
            "chunk",
            "vector",
            "anchor",
            "section",
            "manifest",
            "shard",
            "index",
            "embedder",
            "source",
            "heading",
        ]
    )
    + "</dl></body></html>\n"
)

HUGO_MD = """+++
title = "Deploying the service"
date = 2024-03-01T10:00:00Z
weight = 20
draft = false
tags = ["ops", "deploy"]
[params]
hidden = true
+++

Deploy with one command once the settings file is in place; the rest of this page explains the settings.

## Settings

Each setting has a default, so an empty file works for a first try on a laptop.

## Rollback

Run the previous release's binary again: the data format did not change between them.
"""

JEKYLL_MD = """---
title: Writing plugins
layout: page
---
# Plugins

A plugin is a Python class registered under an entry point.
"""

BROKEN_TOML_MD = """+++
title = "never closed string
+++

# Real heading

Body text.
"""


def _paragraphs(name: str, count: int) -> str:
    return "".join(
        f"<p>Paragraph {i} of {name} explains one more detail, with enough words that a few of them fill a chunk of a few hundred characters when they are packed together.</p>\n"
        for i in range(count)
    )


# Ordinary headings (Sphinx sections with ids, an old-style div.section, a label span,
# a short definition list without ids, text after the last section).
HEADINGS_PAGE = (
    "<html><head><title>Guide &#8212; Demo</title></head><body>\n"
    '<div class="sphinxsidebar" role="navigation"><h3>Contents</h3></div>\n'
    '<section id="guide"><h1>Guide<a class="headerlink" href="#guide">¶</a></h1>\n'
    + _paragraphs("the guide", 2)
    + '<section id="install"><h2>Install</h2>\n'
    + _paragraphs("install", 5)
    + '<section id="linux"><h3>Linux</h3><p>Tiny.</p></section>\n'
    + '<section id="mac"><h3>Mac</h3><p>Also tiny.</p></section>\n'
    + '</section>\n<div class="section" id="usage"><h2>Usage</h2>\n'
    + _paragraphs("usage", 3)
    + '<span id="label"></span><h3>Options</h3>\n<dl class="simple"><dt>-v</dt><dd>verbose</dd><dt>-q</dt><dd>quiet</dd></dl>\n'
    + "</div>\n<h2>Notes</h2>\n"
    + _paragraphs("notes", 1)
    + '</section>\n<div class="footer">Footer text after every section.</div></body></html>\n'
)

HEADINGS_MD = (
    "---\ntitle: Guide\n---\n# Guide\n\nIntro.\n\n## Install\n\n"
    + "\n\n".join(
        f"Step {i} of the installation, described in a sentence or two so that the section is long."
        for i in range(8)
    )
    + "\n\n### Tiny\n\nA.\n\n### Tiny too\n\nB.\n\n## Usage\n\nRun it.\n"
)

Row = Tuple[str, str, Any, List[str]]  # (text start, section, anchor, headings)


def build(tmp_path: Path, files: Dict[str, str], size: int = 400) -> List[Dict[str, Any]]:
    """Builds a pack of ``files`` with the hash embedder (chunks of ``size`` characters,
    no overlap) and returns its chunks' text and metadata, in pack order."""
    site = tmp_path / "site"
    site.mkdir(parents=True)
    for name, text in files.items():
        (site / name).write_text(text, encoding="utf-8")
    out = tmp_path / "site.vpack"
    vpack.build(site, out, embedder="hash", chunk_size=size, chunk_overlap=0).pack.close()
    with vpack.open(out) as pack:
        return [{"text": pack.chunk(i).text, **pack.chunk(i).metadata} for i in range(len(pack))]


def check_rows(chunks: List[Dict[str, Any]], path: str, expected: List[Row]) -> None:
    """The chunks of ``path`` begin with the expected text and carry the expected
    section, anchor and heading path."""
    got = [c for c in chunks if c["path"] == path]
    assert [(c["section"], c["anchor"], c["headings"]) for c in got] == [row[1:] for row in expected]
    for c, row in zip(got, expected):
        assert c["text"].startswith(row[0]), (c["text"][:60], row[0])


def test_sphinx_api_page_chunks_by_object(tmp_path: Path) -> None:
    chunks = build(tmp_path, {"shelf.html": API_PAGE})
    module, opening = "shelf — Store objects", "Opening a shelf"
    shelf = "class shelf.Shelf(store)"
    check_rows(
        chunks,
        "shelf.html",
        [
            ("shelf — Store objects\n\nThe shelf", module, "module-shelf", [module]),
            # The heading alone is tiny: it goes with the first function, labelled with it.
            (
                "Opening a shelf\n\nshelf.open(path,",
                "shelf.open(path, flag='c')",
                "shelf.open",
                [module, opening, "shelf.open(path, flag='c')"],
            ),
            ("class shelf.Shelf(store)\n\nA dict", shelf, "shelf.Shelf", [module, opening, shelf]),
            (
                "sync()\n\nWrite back all entries i",
                "sync()",
                "shelf.Shelf.sync",
                [module, opening, shelf, "sync()"],
            ),
            (
                "close()\n\nSynchronize and close t",
                "close()",
                "shelf.Shelf.close",
                [module, opening, shelf, "close()"],
            ),
            # Text after the methods is the class's again, text after the class the section's.
            ("Shelf objects also support the c", shelf, "shelf.Shelf", [module, opening, shelf]),
            ("Shelves opened by several proces", opening, "opening-a-shelf", [module, opening]),
            # Tiny entries merge into one chunk; READ_ONLY, without description, joins READ_WRITE.
            ("Constants\n\nshelf.READ_ONLY\n\nshel", "Constants", "constants", [module, "Constants"]),
        ],
    )
    by_anchor = {c["anchor"]: c["text"] for c in chunks}
    # The field list stays in its function's chunk; the footer with the last section.
    assert "Parameters:\n\npath – where the shelf lives" in by_anchor["shelf.open"]
    assert by_anchor["constants"].endswith(
        "The pickle protocol used for values.\n\n© Copyright 2024, Demo authors."
    )


def test_page_without_headings_chunks_by_section_element_and_term(tmp_path: Path) -> None:
    chunks = build(tmp_path, {"help.html": HELP_PAGE})
    faq = "Frequently asked questions"
    check_rows(
        chunks,
        "help.html",
        [
            # The page's first line leads into the first unit.
            ("Welcome to the help centre of the", "Getting started", "getting-started", ["Getting started"]),
            (
                "Version 2 reads the old settings ",
                "Upgrading from 1.x",
                "upgrade_notes",
                ["Getting started", "Upgrading from 1.x"],
            ),
            ("Once installed, the program start", "Getting started", "getting-started", ["Getting started"]),
            (
                "Why does the program not start?\n\n",
                "Why does the program not start?",
                None,
                [faq, "Why does the program not start?"],
            ),
            (
                "Where are my files kept?\n\nThe ans",
                "Where are my files kept?",
                None,
                [faq, "Where are my files kept?"],
            ),
            (
                "Can I use it offline?\n\nThe answer",
                "Can I use it offline?",
                None,
                [faq, "Can I use it offline?"],
            ),
            # A short key/value list is no structure; text after every unit has the page's title.
            ("Version\n2.0\nLicence\nMIT\n\nLast rev", "Help centre", None, []),
        ],
    )


def test_glossary_of_one_line_terms_merges(tmp_path: Path) -> None:
    words = [
        "chunk",
        "vector",
        "anchor",
        "section",
        "manifest",
        "shard",
        "index",
        "embedder",
        "source",
        "heading",
    ]
    # Each term is under a quarter of the chunk size: they are packed together.
    chunks = [c for c in build(tmp_path, {"glossary.html": GLOSSARY_PAGE}) if c["path"] == "glossary.html"]
    assert [(c["section"], c["anchor"], c["headings"]) for c in chunks] == [
        ("Glossary", None, ["Glossary"]),
        ("embedder", "term-embedder", ["Glossary", "embedder"]),
    ]
    assert chunks[0]["text"].startswith(
        "Glossary\n\nchunk\n\nThe chunk of a pack, in one short line.\n\nvector"
    )
    assert chunks[1]["text"].endswith("The heading of a pack, in one short line.")
    # With smaller chunks each term is a chunk of its own, the heading going with the first.
    small = build(tmp_path / "small", {"glossary.html": GLOSSARY_PAGE}, size=160)
    assert [c["anchor"] for c in small] == [f"term-{w}" for w in words]
    assert small[0]["text"] == "Glossary\n\nchunk\n\nThe chunk of a pack, in one short line."
    assert small[1]["text"] == "vector\n\nThe vector of a pack, in one short line."


def test_markdown_front_matter(tmp_path: Path) -> None:
    chunks = build(
        tmp_path, {"hugo.md": HUGO_MD, "jekyll.md": JEKYLL_MD, "broken.md": BROKEN_TOML_MD}, size=200
    )
    hugo = [c for c in chunks if c["path"] == "hugo.md"]
    title = "Deploying the service"
    assert [(c["section"], c["anchor"], c["headings"]) for c in hugo] == [
        (title, None, [title]),  # the front matter's title heads the page
        ("Settings", "settings", [title, "Settings"]),
        ("Rollback", "rollback", [title, "Rollback"]),
    ]
    assert hugo[0]["text"].startswith("Deploy with one command")  # the block is not text
    assert not any("+++" in c["text"] or "weight" in c["text"] for c in chunks if c["path"] != "broken.md")
    meta = hugo[0]
    assert (meta["title"], meta["date"], meta["weight"], meta["draft"], meta["tags"]) == (
        title,
        "2024-03-01T10:00:00+00:00",
        20,
        False,
        ["ops", "deploy"],
    )
    assert "params" not in meta and "hidden" not in meta  # tables are not metadata
    jekyll = [c for c in chunks if c["path"] == "jekyll.md"]
    assert [(c["title"], c["layout"], c["section"], c["headings"]) for c in jekyll] == [
        ("Writing plugins", "page", "Plugins", ["Plugins"])  # a "# " heading: no extra level
    ]
    broken = [c for c in chunks if c["path"] == "broken.md"]
    assert broken[0]["text"].startswith('+++\ntitle = "never closed string\n+++')  # left as text
    assert broken[0]["title"] == "Real heading"


def test_manifest_records_the_structure_version(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "a.md").write_text("# A\n\ntext\n", encoding="utf-8")
    with vpack.build(site, embedder="hash") as result:
        recorded = {t["kind"]: t.get("version") for t in result.pack.manifest["transformers"]}
    assert recorded == {"html": 3, "markdown": 3, "normalize": None}


# The chunks of HEADINGS_PAGE and HEADINGS_MD at size 400 before explicit structure was
# read (main at 0c33215, with the section chunker): (start, end, section, anchor, headings).
HEADINGS_BEFORE: Dict[str, List[Tuple[int, int, str, Any, List[str]]]] = {
    "guide.html": [
        (0, 327, "Guide", "guide", ["Guide"]),
        (329, 654, "Install", "install", ["Guide", "Install"]),
        (656, 972, "Install", "install", ["Guide", "Install"]),
        (974, 1131, "Install", "install", ["Guide", "Install"]),
        (1133, 1162, "Linux", "linux", ["Guide", "Install", "Linux"]),
        (1164, 1483, "Usage", "usage", ["Guide", "Usage"]),
        (1485, 1640, "Usage", "usage", ["Guide", "Usage"]),
        (1642, 1670, "Options", "label", ["Guide", "Usage", "Options"]),
        (1672, 1868, "Notes", "guide", ["Guide", "Notes"]),
    ],
    "guide.md": [
        (0, 15, "Guide", "guide", ["Guide"]),
        (17, 383, "Install", "install", ["Guide", "Install"]),
        (385, 739, "Install", "install", ["Guide", "Install"]),
        (741, 790, "Tiny", "tiny", ["Guide", "Install", "Tiny"]),
    ],
}


@pytest.mark.parametrize("name", ["guide.html", "guide.md"])
def test_ordinary_headings_chunk_as_before(tmp_path: Path, name: str) -> None:
    page = HEADINGS_PAGE if name.endswith(".html") else HEADINGS_MD
    chunks = build(tmp_path, {name: page})
    got = [(c["start"], c["end"], c["section"], c["anchor"], c["headings"]) for c in chunks]
    assert got == HEADINGS_BEFORE[name]
