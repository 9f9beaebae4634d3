"""HtmlToText, MarkdownToText and NormalizeWhitespace on pages shaped like real ones."""

# The HTML samples keep the long lines that documentation generators write.
# ruff: noqa: E501

from __future__ import annotations

import copy
import random
from typing import Any, Dict, List

import pytest

from vpack.plugins.base import Document
from vpack.plugins.transformers import (
    HtmlToText,
    MarkdownToText,
    NormalizeWhitespace,
    github_slug,
    parse_front_matter,
    parse_toml_front_matter,
    split_front_matter,
)

# Modelled on a Sphinx (basic/alabaster theme) page: relbar and sidebar with
# role=navigation, <section id> per heading, headerlink pilcrows, a span target
# before a section, a highlighted code block, a docutils table and lists.
SPHINX_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" /><meta name="viewport" content="width=device-width" />
    <title>Installing &#8212; Demo 1.0 documentation</title>
    <link rel="stylesheet" href="_static/alabaster.css" type="text/css" />
    <script data-url_root="./" id="documentation_options" src="_static/doctools.js"></script>
    <script>var DOCUMENTATION_OPTIONS = {VERSION: "1.0"};</script>
    <style>div.body { min-width: 450px; }</style>
  </head><body>
    <div class="related" role="navigation" aria-label="related navigation">
      <h3>Navigation</h3>
      <ul><li class="right"><a href="genindex.html" title="General Index">index</a></li>
        <li class="nav-item nav-item-0"><a href="index.html">Demo 1.0 documentation</a> &#187;</li></ul>
    </div>
    <div class="document">
      <div class="documentwrapper"><div class="bodywrapper"><div class="body" role="main">
  <section id="installing">
<h1>Installing<a class="headerlink" href="#installing" title="Permalink to this heading">¶</a></h1>
<p>Run <code class="docutils literal notranslate"><span class="pre">pip</span> <span class="pre">install</span>
<span class="pre">demo</span></code> to set up the package &amp; its   tools.</p>
<span id="build-label"></span><section id="building-from-source">
<h2>Building from source<a class="headerlink" href="#building-from-source" title="Permalink to this heading">¶</a></h2>
<p>Clone the repository, then:</p>
<div class="highlight-python notranslate"><div class="highlight"><pre><span></span><span class="kn">import</span> <span class="nn">demo</span>
<span class="k">if</span> <span class="n">demo</span><span class="o">.</span><span class="n">ready</span><span class="p">:</span>
    <span class="n">demo</span><span class="o">.</span><span class="n">build</span><span class="p">()</span>
</pre></div></div>
<table class="docutils align-default">
<thead><tr class="row-odd"><th class="head"><p>Option</p></th><th class="head"><p>Meaning</p></th></tr></thead>
<tbody>
<tr class="row-even"><td><p><code class="docutils literal notranslate"><span class="pre">-v</span></code></p></td>
<td><p>verbose output</p></td></tr>
<tr class="row-odd"><td><p><code class="docutils literal notranslate"><span class="pre">-q</span></code></p></td>
<td><p>quiet</p></td></tr>
</tbody></table>
<ul class="simple">
<li><p>first item</p></li>
<li><p>second item</p><ul><li><p>nested item</p></li></ul></li>
</ul>
<ol class="arabic simple"><li><p>one</p></li><li><p>two</p></li></ol>
</section>
</section>
      </div></div></div>
      <div class="sphinxsidebar" role="navigation" aria-label="main navigation">
        <div class="sphinxsidebarwrapper">
<h3><a href="index.html">Table of Contents</a></h3>
<ul><li><a class="reference internal" href="#">Installing</a></li></ul>
<div id="searchbox" style="display: none" role="search">
  <h3 id="searchlabel">Quick search</h3>
    <form class="search" action="search.html" method="get"><input type="text" name="q" /></form>
</div>
<script>document.getElementById('searchbox').style.display = "block"</script>
        </div>
      </div>
      <div class="clearer"></div>
    </div>
    <div class="footer" role="contentinfo">&#169;2024, Someone. Created using Sphinx 7.2.6.</div>
  </body>
</html>
"""

# Modelled on an MkDocs (Material theme) page: header with search, skip link, primary
# and secondary sidebars (navigation and table of contents), ids on the headings with
# headerlinks, a highlighted code block with a line-number column, a hidden
# back-to-top button and a footer.
MKDOCS_PAGE = """<!doctype html>
<html lang="en" class="no-js">
  <head>
    <meta charset="utf-8"><title>Configuration - Demo</title>
    <link rel="stylesheet" href="assets/stylesheets/main.css">
    <script>__md_scope=new URL(".",location)</script>
  </head>
  <body dir="ltr">
    <input class="md-toggle" data-md-toggle="drawer" type="checkbox" id="__drawer" autocomplete="off">
    <label class="md-overlay" for="__drawer"></label>
    <div data-md-component="skip"><a href="#configuration" class="md-skip">Skip to content</a></div>
    <header class="md-header" data-md-component="header">
      <nav class="md-header__inner md-grid" aria-label="Header">
        <div class="md-header__title"><span class="md-ellipsis">Demo</span></div>
      </nav>
      <div class="md-search" data-md-component="search" role="dialog">
        <div class="md-search-result__meta">Initializing search</div>
      </div>
    </header>
    <div class="md-container" data-md-component="container">
      <main class="md-main" data-md-component="main">
        <div class="md-main__inner md-grid">
          <div class="md-sidebar md-sidebar--primary" data-md-component="sidebar" data-md-type="navigation">
            <div class="md-sidebar__scrollwrap"><div class="md-sidebar__inner">
              <nav class="md-nav md-nav--primary" aria-label="Navigation">
                <ul class="md-nav__list"><li class="md-nav__item"><a href=".." class="md-nav__link">Home</a></li></ul>
              </nav>
            </div></div>
          </div>
          <div class="md-sidebar md-sidebar--secondary" data-md-component="sidebar" data-md-type="toc">
            <div class="md-sidebar__scrollwrap"><div class="md-sidebar__inner">
              <nav class="md-nav md-nav--secondary" aria-label="Table of contents">
                <label class="md-nav__title" for="__toc">Table of contents</label>
              </nav>
            </div></div>
          </div>
          <div class="md-content" data-md-component="content">
            <article class="md-content__inner md-typeset">
<h1 id="configuration">Configuration<a class="headerlink" href="#configuration" title="Permanent link">&para;</a></h1>
<p>Settings live in <code>mkdocs.yml</code>, next to the <code>docs</code> folder.</p>
<h2 id="options">Options<a class="headerlink" href="#options" title="Permanent link">&para;</a></h2>
<div class="language-yaml highlight"><table class="highlighttable"><tr><td class="linenos">
<div class="linenodiv"><pre><span></span><span class="normal">1</span>
<span class="normal">2</span></pre></div></td><td class="code"><div><pre><span></span><code><span class="nt">site_name</span><span class="p">:</span><span class="w"> </span><span class="l l-Scalar l-Scalar-Plain">demo</span>
<span class="nt">theme</span><span class="p">:</span><span class="w"> </span><span class="l l-Scalar l-Scalar-Plain">material</span>
</code></pre></div></td></tr></table></div>
<h2 id="options_1">Options<a class="headerlink" href="#options_1" title="Permanent link">&para;</a></h2>
<p>A second section with the same title.</p>
<aside class="md-source-file">Last update: 2024-01-01</aside>
            </article>
          </div>
        </div>
        <button type="button" class="md-top md-icon" data-md-component="top" hidden>Back to top</button>
      </main>
      <footer class="md-footer">
        <div class="md-footer-meta md-typeset"><div class="md-copyright">Made with Material for MkDocs</div></div>
      </footer>
    </div>
    <script src="assets/javascripts/bundle.js"></script>
  </body>
</html>
"""


def html(text: str, **meta: Any) -> Document:
    return Document("page.html", text, {"path": "page.html", "title": "page", **meta})


def convert(text: str) -> Document:
    doc = HtmlToText().transform(html(text))
    assert doc is not None
    return doc


def check_sections(doc: Document) -> List[Dict[str, Any]]:
    """Each section starts at its heading and ends where the next one starts."""
    sections: List[Dict[str, Any]] = doc.metadata["sections"]
    for sec, following in zip(sections, [*sections[1:], None]):
        if sec.get("kind") is None:  # a heading
            assert doc.text[sec["start"] :].startswith(sec["title"])
        else:  # explicit structure, or the text after it: starts at text
            assert not doc.text[sec["start"]].isspace()
            assert sec["kind"] != "resumed" or sec["start"] < sec["end"]
        assert sec["end"] == (following["start"] if following else len(doc.text))
    return sections


# ---------------------------------------------------------------------------- HTML


def test_sphinx_page_text() -> None:
    doc = convert(SPHINX_PAGE)
    text = doc.text
    for chrome in (
        "Navigation",
        "General Index",
        "Demo 1.0 documentation",  # relbar link (the <title> goes to metadata only)
        "Table of Contents",
        "Quick search",
        "Created using Sphinx",
        "DOCUMENTATION_OPTIONS",
        "min-width",
        "searchbox",
        "¶",
    ):
        assert chrome not in text, chrome
    assert text.startswith("Installing\n\nRun pip install demo to set up the package & its tools.\n\n")
    assert "\nBuilding from source\n" in text
    # <pre> keeps its lines and indentation.
    assert "import demo\nif demo.ready:\n    demo.build()\n" in text
    # Tables: one line per row, cells separated by tabs.
    assert "\nOption\tMeaning\n-v\tverbose output\n-q\tquiet\n" in text
    assert "\n- first item\n- second item\n  - nested item\n" in text
    assert text.endswith("\n1. one\n2. two")
    assert "\n\n\n" not in text


def test_sphinx_page_metadata() -> None:
    doc = convert(SPHINX_PAGE)
    assert doc.metadata["title"] == "Installing \u2014 Demo 1.0 documentation"
    assert doc.metadata["path"] == "page.html"
    sections = check_sections(doc)
    assert [(s["title"], s["anchor"], s["level"]) for s in sections] == [
        ("Installing", "installing", 1),
        ("Building from source", "building-from-source", 2),
    ]
    assert sections[0]["start"] == 0
    first = doc.text[sections[0]["start"] : sections[0]["end"]]
    assert first.rstrip().endswith("its tools.")
    assert "verbose output" in doc.text[sections[1]["start"] : sections[1]["end"]]


def test_mkdocs_page() -> None:
    doc = convert(MKDOCS_PAGE)
    text = doc.text
    for chrome in (
        "Skip to content",
        "Initializing search",
        "Home",
        "Table of contents",
        "Back to top",
        "Made with Material",
        "Last update",
        "__md_scope",
        "¶",
    ):
        assert chrome not in text, chrome
    assert text == (
        "Configuration\n\n"
        "Settings live in mkdocs.yml, next to the docs folder.\n\n"
        "Options\n\n"
        "site_name: demo\ntheme: material\n\n"
        "Options\n\n"
        "A second section with the same title."
    )
    assert doc.metadata["title"] == "Configuration - Demo"
    sections = check_sections(doc)
    assert [(s["title"], s["anchor"], s["level"]) for s in sections] == [
        ("Configuration", "configuration", 1),
        ("Options", "options", 2),
        ("Options", "options_1", 2),
    ]


def test_title_falls_back_to_first_h1_then_keeps_the_existing_one() -> None:
    doc = convert("<body><h2>Intro</h2><h1>Main <em>title</em></h1><h1>Other</h1></body>")
    assert doc.metadata["title"] == "Main title"
    doc = convert("<p>no headings</p>")
    assert doc.metadata["title"] == "page"
    # An SVG icon's <title> is not the page's.
    doc = convert("<body><svg><title>icon</title></svg><h1>Real</h1></body>")
    assert doc.metadata["title"] == "Real"


@pytest.mark.parametrize(
    ("markup", "anchor"),
    [
        ('<h2 id="own">T</h2>', "own"),
        ('<section id="sec"><h2 id="own">T</h2></section>', "own"),
        ('<h2><a id="inner"></a>T</h2>', "inner"),
        ('<h2>T<a class="headerlink" href="#caf%C3%A9">¶</a></h2>', "café"),
        ('<h2>T <a class="headerlink" href="#t" title="Permanent link">#</a></h2>', "t"),
        ('<section id="sec"><h2>T</h2></section>', "sec"),
        ('<div class="section" id="old-sphinx"><h2>T</h2></div>', "old-sphinx"),
        ('<a name="named"></a>\n<h2>T</h2>', "named"),
        ('<span id="label"></span><h2>T</h2>', "label"),
        ('<a name="far"></a><p>text between</p><h2>T</h2>', None),
        ("<h2>T</h2>", None),
    ],
)
def test_heading_anchor(markup: str, anchor: str) -> None:
    doc = convert(f"<body>{markup}<p>body</p></body>")
    start = doc.text.index("T\n")
    assert doc.metadata["sections"] == [
        {"title": "T", "anchor": anchor, "level": 2, "start": start, "end": len(doc.text)}
    ]


def test_second_heading_in_a_section_gets_the_section_id_last() -> None:
    doc = convert('<section id="s"><h2>First</h2><p>a</p><span id="lbl"></span><h3>Second</h3></section>')
    assert [s["anchor"] for s in doc.metadata["sections"]] == ["s", "lbl"]
    doc = convert('<section id="s"><h2>First</h2><p>a</p><h3>Second</h3></section>')
    assert [s["anchor"] for s in doc.metadata["sections"]] == ["s", "s"]


def test_entities_whitespace_and_breaks() -> None:
    doc = convert(
        "<p>a &lt;tag&gt; &amp; &quot;q&quot; &#233;&#x74;&eacute; &unknown; caf\u00e9</p>"
        "<p>  spread\n   over\tlines  </p><p>line<br>break<br/>again</p>"
        "<div>x</div><div>y</div><header><h1>Kept?</h1></header>"
    )
    assert doc.text == ('a <tag> & "q" été &unknown; café\n\nspread over lines\n\nline\nbreak\nagain\n\nx\ny')


def test_pre_keeps_its_whitespace() -> None:
    doc = convert("<p>before</p><pre>\n  x = 1\n\n\n  y  =  2\n</pre><p>after</p>")
    assert doc.text == "before\n\n  x = 1\n\n\n  y  =  2\n\nafter"
    assert convert("<pre>\r\n\r\ncode\rmore</pre>").text == "\ncode\nmore"


def test_header_and_footer_inside_content_are_kept() -> None:
    doc = convert(
        "<body><header>Site name</header><article><header><h1>Post</h1></header>"
        "<p>text</p><footer>Posted by me</footer></article><footer>Site footer</footer></body>"
    )
    assert doc.text == "Post\n\ntext\n\nPosted by me"


def test_broken_html_gives_best_effort_text() -> None:
    broken = (
        "<html><head><title>Broken</head><body>"
        "<h2 id=x>Unclosed <b>heading<p>first para<p>second para</i></span></td>"
        "<div class='sidebar'>side</div> <![weird[ declaration ]> after"
        "<table><tr><td>a<td>b<tr><td>c</table>"
        "<ul><li>one<li>two</ul>"
        "</div></div></section> stray &bogus; &#xZZ; <<>> <h3>Last</h3>tail <p"
    )
    doc = HtmlToText().transform(html(broken))
    assert doc is not None
    text = doc.text
    assert text.startswith("Unclosed heading\n\nfirst para\n\nsecond para\n")
    assert "side" not in text
    assert "after" in text
    assert "\na\tb\nc\n" in text
    assert "\n- one\n- two\n" in text
    assert "stray &bogus; &#xZZ;" in text
    assert [(s["title"], s["anchor"]) for s in check_sections(doc)] == [
        ("Unclosed heading", "x"),
        ("Last", None),
    ]


def test_garbage_never_raises() -> None:
    pieces = [
        "<", ">", "</", "<!", "<![", "<![CDATA[", "]]>", "<!--", "-->", "<?", "<div>", "</div>",
        "<p>", "<h2 id='a'>", "</h2>", "<h1>", "<script>", "</script>", "<pre>", "</pre>",
        "<table>", "<tr>", "<td>", "<li>", "<ul>", "</ul>", "<nav>", "</nav>", "&amp;", "&#",
        "&", ";", "text", " ", "\n", "\r", "\t", "\u00e9", "\u200b", "'", '"', "/>", "<br>",
        "<section id=s>", "</section>", "<svg><title>t</title>", "</svg>", "<![if x]>",
        "<![endif]>", "<![foo", "<!x", "<header>", "<article>", "<article id=b aria-label=B>",
        "</article>", "<dl>", "<dl id=l>", "</dl>", "<dt>", "<dt id=t>", "</dt>", "<dd>", "</dd>",
        "<a id=i>",
    ]  # fmt: skip
    rng = random.Random(7)
    converted = 0
    for _ in range(500):
        page = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
        doc = HtmlToText().transform(html(page))
        if doc is None:
            continue
        converted += 1
        assert doc.text.strip()
        check_sections(doc)
    assert converted > 100


@pytest.mark.parametrize(
    "page",
    [
        "",
        "   \n\t ",
        "<html><head><title>Only a title</title><script>x()</script></head><body></body></html>",
        "<nav>menu</nav><aside>ad</aside><style>p {}</style><!-- comment -->",
        "<p>   </p><div>\u00a0</div>".replace("\u00a0", " "),
    ],
)
def test_page_without_text_is_none(page: str) -> None:
    assert HtmlToText().transform(html(page)) is None


def test_suffixes_select_documents() -> None:
    md = Document("a.md", "<p>not html</p>", {"path": "a.md"})
    out = HtmlToText(suffixes=(".html", ".htm")).transform(md)
    assert out is not None and out is not md
    assert out.text == md.text and out.metadata == md.metadata
    page = HtmlToText(suffixes=(".HTML",)).transform(html("<p>yes</p>"))
    assert page is not None and page.text == "yes"


def test_describe() -> None:
    assert HtmlToText().describe()["kind"] == "html"
    assert MarkdownToText().describe()["kind"] == "markdown"
    # The revision of the structure rules, so that packs record what made their sections.
    assert HtmlToText().describe()["version"] == MarkdownToText().describe()["version"] == 3
    assert NormalizeWhitespace("NFKC").describe() == {
        "kind": "normalize",
        "form": "NFKC",
        "max_blank_lines": 2,
    }


# ------------------------------------------------------------- explicit structure


def outline(doc: Document) -> List[Any]:
    """(kind, level, title, anchor, the first words of the section's text)."""
    return [
        (s.get("kind"), s["level"], s["title"], s["anchor"], doc.text[s["start"] : s["end"]].split("\n")[0])
        for s in check_sections(doc)
    ]


def test_section_elements_without_heading() -> None:
    doc = convert(
        "<h1>Top</h1><p>intro</p>"
        '<section id="getting-started"><p>Start here.</p>'
        '<section id="sub" aria-label="Sub  part"><p>deeper</p></section>'
        '<article id="x2" title="By title"><p>titled</p></article>'
        "<p>after sub</p></section><p>after all</p>"
        '<section id="empty"> </section><div class="section" id="old_style.name"><p>old</p></div>'
    )
    assert outline(doc) == [
        (None, 1, "Top", None, "Top"),
        ("element", 2, "Getting started", "getting-started", "Start here."),
        ("element", 3, "Sub part", "sub", "deeper"),
        ("element", 3, "By title", "x2", "titled"),
        ("resumed", 2, "Getting started", "getting-started", "after sub"),
        ("resumed", 1, "Top", None, "after all"),
        ("element", 2, "Old style name", "old_style.name", "old"),
    ]


def test_section_elements_with_headings_are_left_to_them() -> None:
    # A heading anywhere inside (even in a nested element) makes an element a heading's
    # section, as before: no unit, no text handed back after it.
    doc = convert(
        '<article id="content"><section id="a"><p>lead</p><h2>A</h2><p>a</p></section>'
        "<p>after a</p></article><p>footer</p>"
    )
    assert outline(doc) == [(None, 2, "A", "a", "A")]
    assert doc.text.endswith("after a\n\nfooter")


def test_text_outside_every_unit_is_level_zero() -> None:
    doc = convert('<p>lead</p><section id="only"><p>inside</p></section><p>outside</p>')
    assert outline(doc) == [
        ("element", 1, "Only", "only", "inside"),
        ("resumed", 0, None, None, "outside"),
    ]


def test_nested_headingless_sections_share_a_start() -> None:
    # Both start at "text"; the chunker keeps the innermost (the deeper level).
    doc = convert('<section id="outer"><section id="inner"><p>text</p></section></section>')
    assert [(s["title"], s["level"], s["start"]) for s in doc.metadata["sections"]] == [
        ("Outer", 1, 0),
        ("Inner", 2, 0),
    ]


SPHINX_API = """<section id="files"><h2>Files</h2><p>Intro to files.</p>
<dl class="py function"><dt class="sig" id="m.scan"><span class="pre">m.</span><span class="pre">scan</span>(<em>path</em>)<a class="headerlink" href="#m.scan">¶</a></dt>
<dd><p>Scan a folder.</p><dl class="field-list simple"><dt>Parameters<span class="colon">:</span></dt><dd><p>path - the folder</p></dd></dl></dd></dl>
<dl class="py class"><dt id="m.Entry">class m.Entry</dt><dd><p>An entry.</p>
<dl class="py method"><dt id="m.Entry.stat">stat()</dt><dd><p>Its stat.</p></dd></dl>
<dl class="py method"><dt id="m.Entry.name">name</dt><dd></dd></dl>
<dl class="py method"><dt id="m.Entry.path">path</dt><dd><p>Its name and path.</p></dd></dl>
<p>Entries are cached.</p></dd></dl>
<dl class="py data"><dt id="m.LAST">m.LAST</dt><dd></dd></dl>
<p>More about files.</p></section>"""


def test_sphinx_api_entries_are_terms() -> None:
    doc = convert(SPHINX_API)
    assert outline(doc) == [
        (None, 2, "Files", "files", "Files"),
        ("term", 3, "m.scan(path)", "m.scan", "m.scan(path)"),
        ("term", 3, "class m.Entry", "m.Entry", "class m.Entry"),
        ("term", 4, "stat()", "m.Entry.stat", "stat()"),
        # A term without description joins the next one.
        ("term", 4, "name / path", "m.Entry.name", "name"),
        ("resumed", 3, "class m.Entry", "m.Entry", "Entries are cached."),
        # ... or, with no term after it, stays in the text around it.
        ("resumed", 2, "Files", "files", "m.LAST"),
    ]
    # The field list is no structure: it stays in its function's section.
    scan = doc.metadata["sections"][1]
    assert "Parameters:\n\npath - the folder" in doc.text[scan["start"] : scan["end"]]


@pytest.mark.parametrize(
    ("markup", "titles"),
    [
        # On a page without headings, FAQ-sized term groups are its units, from two terms
        # on, outside other lists only; an id inside a term is the unit's anchor.
        (
            "<dl><dt>Q1?</dt><dd>{long}</dd><dt>Q2?</dt><dt>Q2b?</dt><dd>{long}</dd></dl>",
            ["Q1?", "Q2? / Q2b?"],
        ),
        ('<dl><dt><a name="q1"></a>Q1?</dt><dd>{long}</dd><dt>Q2?</dt><dd>{long}</dd></dl>', ["Q1?", "Q2?"]),
        ("<dl><dt>Q1?</dt><dd>{long}</dd></dl>", []),
        ("<dl><dt>a</dt><dd>one</dd><dt>b</dt><dd>two</dd></dl>", []),
    ],
)
def test_faq_lists_are_the_units_of_a_page_without_headings(markup: str, titles: List[str]) -> None:
    doc = convert("<p>intro</p>" + markup.format(long="word " * 50) + "<p>after</p>")
    terms = [s for s in check_sections(doc) if s.get("kind") == "term"]
    assert [s["title"] for s in terms] == titles


@pytest.mark.parametrize(
    ("markup", "titles"),
    [
        # Terms without ids: short descriptions are no structure ...
        ("<dl><dt>a</dt><dd>one</dd><dt>b</dt><dd>two</dd></dl>", []),
        # ... nor are FAQ-sized ones under a heading (see the headingless page below).
        ("<dl><dt>Q1?</dt><dd>{long}</dd><dt>Q2?</dt><dt>Q2b?</dt><dd>{long}</dd></dl>", []),
        ("<dl><dt>Q1?</dt><dd>{long}</dd></dl>", []),
        ("<dl><dt>Q</dt><dd><dl><dt>a</dt><dd>{long}</dd><dt>b</dt><dd>{long}</dd></dl></dd></dl>", []),
        ('<dl class="field-list"><dt>a</dt><dd>{long}</dd><dt>b</dt><dd>{long}</dd></dl>', []),
        # An id on the list (a Sphinx index target) or on a term makes a list structural.
        ('<dl id="index-3"><dt>\\d</dt><dd>A digit.</dd></dl>', ["\\d"]),
        ('<dl><dt id="t-a">a</dt><dd>one</dd><dt>b</dt><dd>two</dd></dl>', ["a", "b"]),
        # An id inside a term (a PEP reference's index target) does not; it is an anchor.
        ('<dl><dt><span id="index-1"></span>PEP 8</dt><dd>Style.</dd></dl>', []),
        ('<dl><dt><a name="q1"></a>Q1?</dt><dd>{long}</dd><dt>Q2?</dt><dd>{long}</dd></dl>', []),
    ],
)
def test_which_definition_lists_are_structure(markup: str, titles: List[str]) -> None:
    doc = convert("<h1>T</h1>" + markup.format(long="word " * 50) + "<p>after</p>")
    terms = [s for s in check_sections(doc) if s.get("kind") == "term"]
    assert [s["title"] for s in terms] == titles
    assert all(s["level"] == 2 for s in terms)
    if titles:
        assert doc.metadata["sections"][-1]["kind"] == "resumed"
        assert doc.text[doc.metadata["sections"][-1]["start"] :] == "after"


def test_term_anchors() -> None:
    doc = convert(
        '<dl id="lst"><dt>first</dt><dd>1</dd><dt><a name="two"></a>second</dt><dd>2</dd>'
        '<dt id="own"><span id="inner"></span>third</dt><dd>3</dd></dl>'
    )
    assert [(s["title"], s["anchor"]) for s in doc.metadata["sections"]] == [
        ("first", "lst"),  # the list's id
        ("second", "two"),
        ("third", "own"),
    ]


def test_toc_backref_headings_are_kept() -> None:
    # docutils links a heading back to the table of contents; the link's text is the heading.
    doc = convert(
        '<section id="why"><h2><a class="toc-backref" href="#id4" role="doc-backlink">Why?</a>'
        '<a class="headerlink" href="#why">¶</a></h2><p>Because.</p></section><div class="toc">x</div>'
    )
    assert outline(doc) == [(None, 2, "Why?", "why", "Why?")]
    assert doc.text == "Why?\n\nBecause."


# ------------------------------------------------------------------------ Markdown

GUIDE_MD = """---
title: "The Guide: part 1"
tags: [alpha, "beta, gamma", 3]
draft: false
weight: 10
ratio: 0.5
empty:
path: not/this.md
aliases:
  - /old/
  - '/older/'
summary: >
  folded over
  two lines
nested:
  key: value
broken: {a: 1}
unterminated: "oops
# a comment
---
Intro before any heading.

# Guide

Some text with a #hashtag.

## Setup
```sh
# not a heading
## neither
```
## Setup
#not-a-heading-either
### `__init__` & *friends* [link](x.md) ###
    # indented code, not a heading
## Setup
"""


def test_markdown_front_matter_and_sections() -> None:
    source = Document("guide.md", GUIDE_MD, {"path": "guide.md", "title": "guide"})
    before = copy.deepcopy(source)
    doc = MarkdownToText().transform(source)
    assert doc is not None
    assert source == before
    body = GUIDE_MD[GUIDE_MD.index("Intro") :]
    assert doc.text == body
    meta = doc.metadata
    assert meta["path"] == "guide.md"
    assert meta["title"] == "The Guide: part 1"
    assert meta["tags"] == ["alpha", "beta, gamma", 3]
    assert meta["draft"] is False and meta["weight"] == 10 and meta["ratio"] == 0.5
    assert meta["aliases"] == ["/old/", "/older/"]
    assert meta["summary"] == "folded over two lines"
    for skipped in ("empty", "nested", "key", "broken", "unterminated"):
        assert skipped not in meta
    sections = meta["sections"]
    assert [(s["title"], s["anchor"], s["level"]) for s in sections] == [
        ("Guide", "guide", 1),
        ("Setup", "setup", 2),
        ("Setup", "setup-1", 2),
        ("__init__ & friends link", "__init__--friends-link", 3),
        ("Setup", "setup-2", 2),
    ]
    for sec, following in zip(sections, [*sections[1:], None]):
        line = doc.text[sec["start"] :].split("\n", 1)[0]
        assert line.startswith("#" * sec["level"] + " ")
        assert sec["end"] == (following["start"] if following else len(doc.text))
    assert "# not a heading" in doc.text[sections[1]["start"] : sections[1]["end"]]


def test_markdown_title_from_first_h1_and_no_front_matter() -> None:
    text = "Intro\n\n## Sub\n\n# Real title #\n\ntext\n"
    doc = MarkdownToText().transform(Document("a.md", text, {"path": "a.md", "title": "a"}))
    assert doc is not None
    assert doc.text == text
    assert doc.metadata["title"] == "Real title"
    assert [s["anchor"] for s in doc.metadata["sections"]] == ["sub", "real-title"]
    untitled = MarkdownToText().transform(Document("b.md", "just text", {"path": "b.md", "title": "b"}))
    assert untitled is not None
    assert untitled.metadata["title"] == "b" and untitled.metadata["sections"] == []


@pytest.mark.parametrize(
    "text",
    [
        "---\nJust a thematic break\n---\n\ntext\n",  # no key: not front matter
        "---\ntitle: never closed\n\n# Heading\n",
        "Text first\n---\ntitle: no\n---\n",
        "----\ntitle: four dashes\n----\n",
    ],
)
def test_text_without_front_matter_is_kept(text: str) -> None:
    assert split_front_matter(text) == ({}, text)
    doc = MarkdownToText().transform(Document("a.md", text, {"path": "a.md"}))
    assert doc is not None and doc.text == text


def test_front_matter_crlf_and_dots() -> None:
    meta, rest = split_front_matter("---\r\ntitle: 'It''s'\r\nn: -3\r\n...\r\nbody\r\n")
    assert meta == {"title": "It's", "n": -3}
    assert rest == "body\r\n"


def test_front_matter_parser_is_lenient() -> None:
    block = "\n".join(
        [
            "a: 1e3",
            "b: 1e999",
            "c: yes",
            "d: ~",
            "e: 'unterminated",
            "f: [1, [2]]",
            'g: "esc\\"aped\\n" # trailing comment',
            "h: plain # comment",
            "- stray item",
            ": no key",
            "i: &anchor value",
            "j: 2024-01-05",
            "k: True",
        ]
    )
    assert parse_front_matter(block) == {
        "a": 1000.0,
        "b": "1e999",
        "c": "yes",
        "g": 'esc"aped\n',
        "h": "plain",
        "j": "2024-01-05",
        "k": True,
    }


def test_toml_front_matter() -> None:
    text = (
        '+++\ntitle = "Deploy"\nweight = 3\nratio = 0.5\nnan = nan\nbig = 99999999999999999999\n'
        "when = 2024-03-01\nat = 10:30:00\ntags = ['a', \"b\"]\nmixed = [1, {x = 1}]\n"
        "[params]\nkey = 1\n+++\r\n\n## Step\n\nbody\n"
    )
    meta, rest = split_front_matter(text)
    assert meta == {
        "title": "Deploy",
        "weight": 3,
        "ratio": 0.5,
        "when": "2024-03-01",
        "at": "10:30:00",
        "tags": ["a", "b"],
    }
    assert rest == "\n## Step\n\nbody\n"
    assert parse_toml_front_matter("x = 1\nx = 2") is None  # invalid TOML


@pytest.mark.parametrize(
    "text",
    [
        '+++\ntitle = "unterminated\n+++\n\n# H\n',  # invalid TOML: left as text
        '+++\ntitle = "never closed"\n\n# H\n',
        '++++\ntitle = "x"\n++++\n',
    ],
)
def test_text_without_toml_front_matter_is_kept(text: str) -> None:
    assert split_front_matter(text) == ({}, text)
    doc = MarkdownToText().transform(Document("a.md", text, {"path": "a.md"}))
    assert doc is not None and doc.text == text


def test_front_matter_title_heads_a_page_without_h1() -> None:
    text = "---\ntitle: Deploying\nid: 123456789012345678901234567890\n---\nLead.\n\n## Settings\n\nx\n"
    doc = MarkdownToText().transform(Document("a.md", text, {"path": "a.md"}))
    assert doc is not None
    assert doc.metadata["id"] == "123456789012345678901234567890"  # beyond 64 bits: kept as text
    assert [
        (s.get("kind"), s["title"], s["anchor"], s["level"], s["start"]) for s in doc.metadata["sections"]
    ] == [
        ("title", "Deploying", None, 1, 0),
        (None, "Settings", "settings", 2, doc.text.index("## Settings")),
    ]
    # With a "# " heading, or without a title, nothing is added.
    for other in ("---\ntitle: T\n---\n## A\n\n# B\n", "---\nlayout: page\n---\n## A\n"):
        converted = MarkdownToText().transform(Document("b.md", other, {"path": "b.md"}))
        assert converted is not None
        assert all("kind" not in s for s in converted.metadata["sections"])


def test_front_matter_only_is_none() -> None:
    doc = Document("a.md", "---\ntitle: nothing else\n---\n\n", {"path": "a.md"})
    assert MarkdownToText().transform(doc) is None


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Hello, World!", "hello-world"),
        ("API v2 \u2014 \u00dcberblick", "api-v2--\u00fcberblick"),
        ("snake_case and kebab-case", "snake_case-and-kebab-case"),
        ("What's new in 3.11?", "whats-new-in-311"),
        ("\u65e5\u672c\u8a9e\u306e\u898b\u51fa\u3057", "\u65e5\u672c\u8a9e\u306e\u898b\u51fa\u3057"),
    ],
)
def test_github_slug(title: str, slug: str) -> None:
    assert github_slug(title) == slug


# ---------------------------------------------------------------------- whitespace


def test_normalize_text() -> None:
    raw = (
        "Title\u200b\r\n\r\nCaf\u0065\u0301 \ufb01le  \r\n"
        "zero\u200dwidth\u2060 and\u00adsoft\x07bell\x00nul\ttab\x1b[0m\r"
        "old mac\x0cpage\u2028sep \t \n\n\n\n\n\nend \u00a0"
    )
    doc = NormalizeWhitespace().transform(Document("n", raw, {"path": "n.txt"}))
    assert doc is not None
    assert doc.text == (
        "Title\n\nCaf\u00e9 \ufb01le\nzerowidth andsoftbellnul\ttab[0m\nold mac\npage\nsep\n\n\nend"
    )
    nfkc = NormalizeWhitespace("NFKC", max_blank_lines=1).transform(Document("n", raw, {}))
    assert nfkc is not None
    assert "Caf\u00e9 file\n" in nfkc.text
    assert "sep\n\nend" in nfkc.text
    assert NormalizeWhitespace().transform(Document("z", "\u200b\r\n \u200d\t", {})) is None
    with pytest.raises(ValueError):
        NormalizeWhitespace("NFX")


MESSY_MD = (
    "\ufeff---\r\ntitle: Messy\r\n---\r\n"
    "Pre\u200bamble   \r\n\r\n\r\n\r\n\r\n"
    "# Caf\u0065\u0301 \u200bheading\r\n"
    "text\u00ad with soft hyphen \t\r\n"
    "## Second\u200b\r\r\r\r\rbody\x07\r\n"
    "```\r\n# in code\r\n```\r\n"
    "### Third \ufb01\r\n   \r\nend\u2029"
)


@pytest.mark.parametrize("form", ["NFC", "NFKC"])
def test_normalize_moves_markdown_sections(form: str) -> None:
    source = MarkdownToText().transform(Document("m.md", MESSY_MD.lstrip("\ufeff"), {"path": "m.md"}))
    assert source is not None
    before = copy.deepcopy(source)
    normalizer = NormalizeWhitespace(form)
    doc = normalizer.transform(source)
    assert doc is not None
    assert source == before  # the input is untouched
    # Sections found on the normalized text are the moved ones.
    again = MarkdownToText().transform(Document("m.md", doc.text, {"path": "m.md"}))
    assert again is not None
    assert [(s["start"], s["end"]) for s in doc.metadata["sections"]] == [
        (s["start"], s["end"]) for s in again.metadata["sections"]
    ]
    assert [s["title"] for s in doc.metadata["sections"]] == [s["title"] for s in again.metadata["sections"]]
    # Anchors link to the published page, so they stay those of the source text.
    assert [s["anchor"] for s in doc.metadata["sections"]] == ["cafe\u0301-heading", "second", "third-\ufb01"]
    assert doc.text[doc.metadata["sections"][0]["start"] :].startswith("# Caf\u00e9 heading\ntext with")


def test_normalize_moves_html_sections() -> None:
    page = (
        "<h1>Intro\u200b</h1><p>a\u00a0b\u200b\u200b\u200b c</p><pre>code   \r\n\r\n\r\n\r\n\r\nmore</pre>"
        "<h2 id='x'>\u0041\u030a ring</h2><p>tail\x07</p>"
    )
    doc = NormalizeWhitespace().transform(convert(page))
    assert doc is not None
    sections = check_sections(doc)
    assert [(s["title"], s["anchor"]) for s in sections] == [("Intro", None), ("\u00c5 ring", "x")]
    assert doc.text == "Intro\n\na\u00a0b c\n\ncode\n\n\nmore\n\n\u00c5 ring\n\ntail"


def test_normalize_random_texts_keep_sections_on_their_headings() -> None:
    rng = random.Random(11)
    pieces = [
        "word", " ", "  ", "\t", "\r\n", "\n", "\r", "\u200b", "\u00ad", "e\u0301", "\ufb01",
        "\x07", "\u2028", "\u00e9", "\ud55c", "\u1100\u1161", "\n\n\n\n",
    ]  # fmt: skip
    for _ in range(200):
        parts: List[str] = []
        headings: List[Dict[str, Any]] = []
        offset = 0
        for k in range(rng.randint(1, 6)):
            body = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
            heading = f"\n# Heading {k}\n"
            parts.append(body)
            offset += len(body)
            headings.append({"title": f"Heading {k}", "anchor": f"h{k}", "level": 1, "start": offset + 1})
            parts.append(heading)
            offset += len(heading)
        text = "".join(parts)
        for sec, following in zip(headings, [*headings[1:], None]):
            sec["end"] = following["start"] if following else len(text)
        doc = NormalizeWhitespace(rng.choice(["NFC", "NFKC"])).transform(
            Document("r", text, {"sections": headings})
        )
        assert doc is not None
        moved = doc.metadata["sections"]
        assert len(moved) == len(headings)
        for sec, following in zip(moved, [*moved[1:], None]):
            assert doc.text[sec["start"] :].startswith(f"# {sec['title']}\n")
            assert sec["end"] == (following["start"] if following else len(doc.text))
