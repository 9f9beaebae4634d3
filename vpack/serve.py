"""``vpack serve PACK``: a small local HTTP server over one pack, with a JSON API and one
search page.

Routes (only GET and HEAD; every other method is 405):

- ``/search?q=TEXT&k=N&where=...&ef=N``: the ``k`` best chunks for a text query, as JSON.
  ``where`` takes what ``vpack query`` takes: ``KEY=VALUE`` (repeatable, as ``--where``)
  or one JSON filter object (as ``--filter``), parsed by the same code.
- ``/chunk/ID``: one chunk as JSON. ``/info``: what ``vpack info`` shows, as JSON.
- ``/``: the search page (query box, path glob, hits with score, source path, section,
  the query's words highlighted). ``/results`` is the page's list of hits alone, which
  the page's script fetches while you type. ``/source/PATH``: a file of the pack's
  source folder, read-only, when the folder is known (see :func:`source_root`) and PATH
  is a file the pack was built from.

Why the standard library (``http.server.ThreadingHTTPServer``) and no framework: the
server answers a handful of GET routes for one user on loopback, which the standard
library does in a few hundred lines with no new dependency (vpack's only runtime
dependencies are numpy and cffi, and it must install on PyPy). A framework (Flask,
Starlette + an ASGI server) would add several packages for routing we do not need. What
the standard library lacks here (bounded inputs, JSON errors, read-only methods,
graceful shutdown) is written out below. It is a local tool, not a production web
server: no TLS, no authentication; it listens on 127.0.0.1 unless told otherwise.

A ``Pack`` may be searched from many threads at once (the GIL is released in native
calls), so each request thread uses the one shared pack; the query embedder is created
once, at startup, so a text query costs milliseconds.
"""

from __future__ import annotations

import contextlib
import html
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, BinaryIO, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple, Type, Union
from urllib.parse import parse_qs, quote, unquote, urlsplit

from .cli import index_summary, parse_filter, plural
from .errors import (
    InvalidArgumentError,
    InvalidJSONError,
    InvalidUTF8Error,
    LimitExceededError,
    NotFoundError,
    VPackError,
)
from .pack import Hit, Pack
from .pack import open as open_pack

#: Longest request target (path and query string) accepted, in characters.
MAX_URL = 8192
#: Longest query text, in characters.
MAX_QUERY = 1000
#: Most query parameters in one request.
MAX_PARAMS = 64
#: Default and default maximum of ``k`` (``--max-k`` changes the maximum).
DEFAULT_K = 10
DEFAULT_MAX_K = 100
#: Seconds a connection may take to send its request before it is dropped.
REQUEST_TIMEOUT = 30.0
#: Seconds a stop waits for the requests in flight.
SHUTDOWN_GRACE = 5.0
#: A hit's text on the page is cut to about this many characters around the first match.
SNIPPET = 600

#: HTTP status of each vpack error code (the JSON error carries the code itself).
_STATUS = {
    1: 400,
    2: 400,
    3: 400,
    4: 400,
    5: 400,
    6: 500,
    7: 500,
    8: 500,
    9: 503,
    10: 400,
    11: 500,
    12: 404,
    13: 503,
}

_PARAMS = {
    "/search": frozenset({"q", "k", "where", "ef"}),
    "/": frozenset({"q", "k", "where", "ef", "path"}),
}
_PARAMS["/results"] = _PARAMS["/"]

_CSP_PAGE = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_CSP_DATA = "default-src 'none'; frame-ancestors 'none'; sandbox"
# A served HTML source page is untrusted: no scripts, its own opaque origin.
_CSP_SOURCE = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


class HTTPError(Exception):
    """A request's failure: the HTTP status, vpack's stable error code and the name of
    its exception class, and a message for a person."""

    def __init__(self, status: int, code: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.kind = kind
        self.message = message

    @classmethod
    def of(cls, exc: BaseException) -> HTTPError:
        if isinstance(exc, HTTPError):
            return exc
        if isinstance(exc, VPackError):
            return cls(_STATUS.get(exc.code, 500), exc.code, type(exc).__name__, exc.message)
        if isinstance(exc, ValueError):  # a parameter of the wrong form (cli's --where check)
            return cls(400, InvalidArgumentError.code, InvalidArgumentError.__name__, str(exc))
        return cls(500, -1, "InternalError", f"unexpected {type(exc).__name__}: {exc}")

    def to_dict(self) -> Dict[str, Any]:
        return {
            "error": {"status": self.status, "code": self.code, "type": self.kind, "message": self.message}
        }


def _bad(message: str, error: Type[VPackError] = InvalidArgumentError, status: int = 400) -> HTTPError:
    return HTTPError(status, error.code, error.__name__, message)


# ---------------------------------------------------------------------------- parameters


def parse_params(query: str, allowed: FrozenSet[str]) -> Dict[str, List[str]]:
    """The query string's parameters (percent-decoded as UTF-8); an unknown name, too
    many parameters or bytes that are not UTF-8 are errors."""
    try:
        params = parse_qs(query, keep_blank_values=True, errors="strict", max_num_fields=MAX_PARAMS)
    except UnicodeDecodeError:
        raise _bad("the query string is not valid UTF-8 once percent-decoded", InvalidUTF8Error) from None
    except ValueError:  # parse_qs: more than max_num_fields
        raise _bad(f"too many query parameters (at most {MAX_PARAMS})", LimitExceededError) from None
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise _bad(f"unknown parameter {unknown[0]!r} (this route takes {', '.join(sorted(allowed))})")
    return params


def _one(params: Dict[str, List[str]], name: str) -> Optional[str]:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise _bad(f"{name} given {len(values)} times (once at most)")
    return values[0]


def _int_param(params: Dict[str, List[str]], name: str, default: int, low: int, high: int) -> int:
    raw = _one(params, name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw):
        raise _bad(f"{name} must be a whole number, got {raw[:40]!r}")
    value = int(raw)
    if value > high:
        raise _bad(f"{name} = {value} (at most {high})", LimitExceededError)
    if value < low:
        raise _bad(f"{name} = {value} (at least {low})")
    return value


def query_text(params: Dict[str, List[str]], required: bool = True) -> str:
    q = (_one(params, "q") or "").strip()
    if not q and required:
        raise _bad("q (the query text) is required")
    if len(q) > MAX_QUERY:
        raise _bad(f"q is {len(q):,} characters (at most {MAX_QUERY:,})", LimitExceededError)
    return q


def where_filter(values: Sequence[str], path_glob: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The filter of the ``where`` parameters, parsed by the CLI's own code: each is
    ``KEY=VALUE`` (as ``--where``) or, when it starts with ``{`` or ``[``, a JSON filter
    object (as ``--filter``; one at most). ``path_glob`` (the page's path box) adds
    ``path=GLOB``."""
    objects = [v for v in values if v.lstrip()[:1] in ("{", "[")]
    pairs = [v for v in values if v.strip() and v not in objects]
    if len(objects) > 1:
        raise _bad(
            "where: one JSON object at most (combine conditions inside it, or with $and)", InvalidJSONError
        )
    if path_glob:
        pairs.append(f"path={path_glob}")
    return parse_filter(objects[0] if objects else None, pairs, flags=("where", "where"))


# -------------------------------------------------------------------------- the service


def source_root(pack_path: Union[str, os.PathLike[str]], manifest: Dict[str, Any]) -> Optional[Path]:
    """The pack's source folder, when the pack records one: the directory source's
    ``root`` in the manifest's config (recorded by ``--record-paths``, or a relative
    ``[source] root`` of vpack.toml, taken relative to the pack's folder). None when the
    pack records no folder or it does not exist here."""
    cfg = manifest.get("config")
    src = cfg.get("source") if isinstance(cfg, dict) else None
    if not isinstance(src, dict) or src.get("kind") != "directory":
        return None
    root = src.get("root")
    if not isinstance(root, str) or not root or "\0" in root:
        return None
    path = Path(os.path.expanduser(root))
    if not path.is_absolute():
        path = Path(os.path.abspath(pack_path)).parent / path
    return path if path.is_dir() else None


class Service:
    """What the request handlers share: the open pack, its manifest, the source folder
    (or None) and the limits. Thread-safe."""

    def __init__(
        self,
        pack: Pack,
        pack_path: Union[str, os.PathLike[str]],
        root: Optional[Path] = None,
        max_k: int = DEFAULT_MAX_K,
    ) -> None:
        self.pack = pack
        self.pack_path = str(pack_path)
        self.manifest = pack.manifest
        self.root = Path(os.path.realpath(root)) if root is not None else None
        self.max_k = max_k
        self._paths: Optional[FrozenSet[str]] = None
        self._paths_lock = threading.Lock()

    # The files that may be served: those the pack has chunks of, found once.
    def pack_paths(self) -> FrozenSet[str]:
        with self._paths_lock:
            if self._paths is None:
                found = set()
                for i in range(len(self.pack)):
                    path = self.pack.chunk(i).metadata.get("path")
                    if isinstance(path, str):
                        found.add(path)
                self._paths = frozenset(found)
            return self._paths

    def source_file(self, rel: str) -> Optional[Path]:
        """The file ``rel`` (a chunk's ``path``) in the source folder, when the pack has
        chunks of it and it is a regular file inside the folder (symlinks resolved);
        None otherwise."""
        if self.root is None or not rel or "\0" in rel or rel not in self.pack_paths():
            return None
        full = Path(os.path.realpath(self.root / rel))
        try:
            if os.path.commonpath([str(full), str(self.root)]) != str(self.root):
                return None
        except ValueError:
            return None
        return full if full.is_file() else None

    def link(self, meta: Dict[str, Any]) -> Optional[str]:
        """Where a hit's source can be opened: ``/source/PATH#ANCHOR`` when the file is
        served, else the metadata's own ``url`` when it is http(s); None otherwise."""
        anchor = meta.get("anchor")
        fragment = "#" + quote(anchor, safe="") if isinstance(anchor, str) and anchor else ""
        path = meta.get("path")
        if isinstance(path, str) and self.source_file(path) is not None:
            return "/source/" + quote(path, safe="/") + fragment
        url = meta.get("url")
        if isinstance(url, str) and re.match(r"https?://[^\s]+\Z", url, re.IGNORECASE):
            return url if "#" in url else url + fragment
        return None

    def hit_json(self, hit: Hit, score: bool = True) -> Dict[str, Any]:
        meta = hit.metadata
        out: Dict[str, Any] = {"id": hit.id}
        if score:
            out["score"] = hit.score
        out.update(
            text=hit.text,
            metadata=meta,
            source=hit.source,
            section=_text_or_none(meta.get("section")),
            title=_text_or_none(meta.get("title")),
            anchor=_text_or_none(meta.get("anchor")),
            link=self.link(meta),
        )
        return out

    def search(self, params: Dict[str, List[str]], path_glob: Optional[str] = None) -> Dict[str, Any]:
        q = query_text(params)
        k = _int_param(params, "k", min(DEFAULT_K, self.max_k), 1, self.max_k)
        ef = _int_param(params, "ef", 0, 0, 65536)
        flt = where_filter(params.get("where", []), path_glob)
        start = time.perf_counter()
        hits = self.pack.search(q, k=k, filter=flt, ef=ef or None)
        took = (time.perf_counter() - start) * 1000
        return {
            "query": q,
            "k": k,
            "filter": flt,
            "took_ms": round(took, 3),
            "hits": [self.hit_json(h) for h in hits],
        }

    def chunk(self, raw_id: str) -> Dict[str, Any]:
        if not re.fullmatch(r"[0-9]{1,20}", raw_id):
            raise _bad(f"a chunk id is a non-negative whole number, got {raw_id[:40]!r}")
        return self.hit_json(self.pack.chunk(int(raw_id)), score=False)

    def info(self) -> Dict[str, Any]:
        m = self.manifest
        emb = m.get("embedder")
        emb = emb if isinstance(emb, dict) else {}
        try:
            size: Optional[int] = os.path.getsize(self.pack_path)
        except OSError:
            size = None
        return {
            "file": self.pack_path,
            "size_bytes": size,
            "format_version": m.get("format_version"),
            "embedder": f"{emb.get('kind')} / {emb.get('model_id')}",
            "dimension": m.get("dimension"),
            "metric": m.get("metric"),
            "index": index_summary(m.get("index")),
            "documents": m.get("documents"),
            "chunks": len(self.pack),
            "chunker": m.get("chunker"),
            "built_by": m.get("builder"),
            "manifest": m,
            "server": {
                "max_k": self.max_k,
                "max_query_chars": MAX_QUERY,
                "max_url_chars": MAX_URL,
                "source_root": None if self.root is None else str(self.root),
            },
        }


def _text_or_none(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


# ------------------------------------------------------------------------------ the page

_WORD = re.compile(r"\w+")
# Words not worth highlighting.
_STOP = frozenset(
    _WORD.findall(
        "a an and are as at be but by can do does for from has have how i if in into is it its "
        "me my no not of on or so than that the their then there these this to was what when "
        "where which who why will with you your"
    )
)


def query_terms(q: str) -> List[str]:
    """The query's words worth highlighting: lower-cased, two letters or more, no stop
    words, at most 32, longest first."""
    terms = {w.lower() for w in _WORD.findall(q) if len(w) >= 2 and w.lower() not in _STOP}
    return sorted(terms, key=lambda t: (-len(t), t))[:32]


def highlight(text: str, terms: Sequence[str]) -> str:
    """``text`` as HTML (escaped), the words that start with a query term in ``<mark>``."""
    if not terms:
        return html.escape(text)
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in terms) + r")\w*", re.IGNORECASE)
    out: List[str] = []
    at = 0
    for m in pattern.finditer(text):
        out.append(html.escape(text[at : m.start()]))
        out.append(f"<mark>{html.escape(m.group())}</mark>")
        at = m.end()
    out.append(html.escape(text[at:]))
    return "".join(out)


def snippet(text: str, terms: Sequence[str], size: int = SNIPPET) -> Tuple[str, bool]:
    """About ``size`` characters of ``text`` from a little before the first query term
    (whole words), and whether it was cut."""
    text = text.strip()
    if len(text) <= size:
        return text, False
    start = 0
    if terms:
        m = re.search(r"\b(?:" + "|".join(re.escape(t) for t in terms) + ")", text, re.IGNORECASE)
        if m and m.start() > size // 4:
            start = text.rfind(" ", 0, m.start() - size // 4) + 1
    if start + size >= len(text):
        return "… " + text[start:], True
    end = text.rfind(" ", start, start + size)
    end = end if end > start + size // 2 else start + size
    return ("… " if start else "") + text[start:end] + " …", True


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{_e(title)}</title><link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/static/vpack.css"><script src="/static/vpack.js" defer></script>'
        f"</head><body>{body}</body></html>\n"
    )


def _header(service: Service) -> str:
    emb = service.manifest.get("embedder")
    model = emb.get("model_id") if isinstance(emb, dict) else None
    about = f"{plural(len(service.pack), 'chunk')}" + (f" · {_e(model)}" if model else "")
    return (
        f'<header><a class="home" href="/">vpack</a> <span class="pack">'
        f"{_e(os.path.basename(service.pack_path))} · {about}</span></header>"
    )


def _form(service: Service, q: str, k: int, path: str, wheres: Sequence[str]) -> str:
    where_inputs = "".join(
        f'<input name="where" value="{_e(w)}" placeholder="KEY=VALUE or a JSON filter" '
        f'aria-label="filter" spellcheck="false">'
        for w in (list(wheres) or [""])
    )
    return (
        '<form id="search" action="/" method="get" role="search">'
        f'<input id="q" type="search" name="q" value="{_e(q)}" maxlength="{MAX_QUERY}" '
        'placeholder="Ask a question…" aria-label="query" autofocus>'
        f'<input id="path" name="path" value="{_e(path)}" placeholder="path glob, e.g. guide/**" '
        'aria-label="path glob" spellcheck="false">'
        f'<input id="k" type="number" name="k" value="{k}" min="1" max="{service.max_k}" aria-label="hits">'
        "<button>Search</button>"
        f"<details{' open' if wheres else ''}><summary>More filters</summary>{where_inputs}"
        '<p class="hint"><code>lang=en</code>, <code>n=2</code>, or '
        '<code>{"n": {"$gte": 2}}</code>, as <code>vpack query --where/--filter</code> take them.</p>'
        "</details></form>"
    )


def render_results(service: Service, data: Dict[str, Any]) -> str:
    """The list of hits (the page's ``<main>`` content)."""
    hits: List[Dict[str, Any]] = data["hits"]
    terms = query_terms(data["query"])
    found = "no hits" if not hits else plural(len(hits), "hit")
    parts = [f'<p class="summary">{found} for <q>{_e(data["query"])}</q> in {data["took_ms"]:.1f} ms</p>']
    parts.append('<ol class="hits">')
    for hit in hits:
        where = hit["source"] or f"chunk {hit['id']}"
        shown = where + (f"#{hit['anchor']}" if hit["anchor"] else "")
        if hit["link"]:
            external = "" if hit["link"].startswith("/") else ' rel="noopener noreferrer"'
            source = f'<a class="source" href="{_e(hit["link"])}"{external}>{_e(shown)}</a>'
        else:
            source = f'<span class="source">{_e(shown)}</span>'
        section = hit["section"] or hit["title"]
        text, cut = snippet(hit["text"], terms)
        body = highlight(text, terms)
        full = (
            f'<details class="full"><summary>whole chunk</summary><p class="text">'
            f"{highlight(hit['text'], terms)}</p></details>"
            if cut
            else ""
        )
        meta = _e(json.dumps(hit["metadata"], indent=1, sort_keys=True, ensure_ascii=False))
        parts.append(
            f'<li class="hit" data-id="{hit["id"]}"><div class="where">'
            f'<span class="score" title="score">{hit["score"]:.3f}</span> {source}'
            + (f' <span class="section">{_e(section)}</span>' if section else "")
            + f'</div><p class="text">{body}</p>{full}'
            f'<details class="meta"><summary>metadata of chunk {hit["id"]}</summary>'
            f"<pre>{meta}</pre></details></li>"
        )
    parts.append("</ol>")
    return "".join(parts)


def render_error(error: HTTPError) -> str:
    return (
        f'<div class="error" role="alert"><strong>{error.status} {_e(_reason(error.status))}</strong>: '
        f'{_e(error.message)} <span class="code">({_e(error.kind)}, code {error.code})</span></div>'
    )


def render_page(service: Service, params: Dict[str, List[str]]) -> Tuple[int, str]:
    """The search page for these parameters: status and HTML. Bad parameters give the
    page with the error in place of the hits."""
    q = path = ""
    k = min(DEFAULT_K, service.max_k)
    wheres: List[str] = []
    status = 200
    try:
        q = query_text(params, required=False)
        path = (_one(params, "path") or "").strip()
        wheres = [w for w in params.get("where", []) if w.strip()]
        k = _int_param(params, "k", k, 1, service.max_k)
        main = render_results(service, service.search(params, path or None)) if q else _welcome(service)
    except Exception as exc:
        error = HTTPError.of(exc)
        status = error.status
        main = render_error(error)
    title = f"{q} · vpack" if q else "vpack search"
    body = f'{_header(service)}{_form(service, q, k, path, wheres)}<main id="results">{main}</main>'
    return status, _page(title, body + _footer())


def _welcome(service: Service) -> str:
    files = "linked" if service.root is not None else "shown by path (the pack records no source folder)"
    return (
        f'<p class="summary">Search {_e(os.path.basename(service.pack_path))}: '
        f"{plural(len(service.pack), 'chunk')}; source files are {files}.</p>"
    )


def _footer() -> str:
    return (
        '<footer>JSON API: <a href="/search?q=example">/search?q=&amp;k=&amp;where=</a> · '
        '<a href="/info">/info</a> · <a href="/chunk/0">/chunk/ID</a></footer>'
    )


def error_page(error: HTTPError) -> str:
    return _page(
        f"{error.status} {_reason(error.status)} · vpack",
        f'<header><a class="home" href="/">vpack</a></header><main>{render_error(error)}'
        '<p><a href="/">Back to the search page</a></p></main>',
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


CSS = """
:root { color-scheme: light dark; --fg: #1d232a; --muted: #5b6670; --bg: #fff; --line: #d9dee3;
  --mark: #ffe58a; --accent: #1f5fbf; --bad: #a4161a; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ec; --muted: #9aa5b1; --bg: #14171a;
  --line: #2c3238; --mark: #6b5300; --accent: #7fb0ff; --bad: #ff8a8a; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 60rem; padding: 1rem 1.25rem 3rem; font: 16px/1.5 system-ui,
  -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: .75rem; align-items: baseline; margin-bottom: .75rem; }
.home { font-weight: 700; font-size: 1.3rem; color: var(--fg); text-decoration: none; }
.pack, .summary, .hint, footer, .code { color: var(--muted); font-size: .9rem; }
form { display: flex; flex-wrap: wrap; gap: .5rem; margin-bottom: 1rem; }
input, button { font: inherit; padding: .45rem .6rem; border: 1px solid var(--line); border-radius: 6px;
  background: var(--bg); color: var(--fg); }
#q { flex: 1 1 22rem; } #path { flex: 0 1 14rem; } #k { width: 5rem; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
form details { flex-basis: 100%; } form details input { width: 100%; margin-top: .35rem; }
summary { cursor: pointer; color: var(--muted); }
.hits { list-style: none; padding: 0; margin: 0; }
.hit { padding: .75rem 0; border-top: 1px solid var(--line); }
.where { display: flex; flex-wrap: wrap; gap: .6rem; align-items: baseline; }
.score { font-variant-numeric: tabular-nums; font-weight: 600; }
.source { color: var(--accent); word-break: break-all; }
span.source { color: var(--fg); }
.section { color: var(--muted); }
.text { margin: .35rem 0; white-space: pre-wrap; overflow-wrap: anywhere; }
mark { background: var(--mark); color: inherit; border-radius: 2px; padding: 0 1px; }
pre { font-size: .8rem; overflow-x: auto; }
.error { border: 1px solid var(--bad); color: var(--bad); padding: .6rem .8rem; border-radius: 6px; }
footer { margin-top: 2rem; }
"""

JS = """
// vpack serve: search as you type (the server renders the hits, already escaped).
(function () {
  "use strict";
  document.documentElement.setAttribute("data-js", "on");
  var form = document.getElementById("search");
  var results = document.getElementById("results");
  if (!form || !results || !window.fetch || !window.URLSearchParams) return;
  var timer = 0, latest = 0;
  function params() {
    var p = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      var skip = String(value).trim() === "" || (key === "k" && value === form.k.defaultValue);
      if (!skip) p.append(key, value);
    });
    return p;
  }
  function run() {
    var p = params(), mine = ++latest;
    history.replaceState(null, "", p.toString() ? "/?" + p : "/");
    fetch("/results?" + p, { headers: { Accept: "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (text) { if (mine === latest) results.innerHTML = text; })
      .catch(function () {});
  }
  form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, 200); });
  document.addEventListener("keydown", function (e) {
    var tag = document.activeElement ? document.activeElement.tagName : "";
    if (e.key === "/" && tag !== "INPUT" && tag !== "TEXTAREA") { e.preventDefault(); form.q.focus(); }
  });
})();
"""


# ---------------------------------------------------------------------------- the server


class Handler(BaseHTTPRequestHandler):
    """One request: routes GET and HEAD, refuses other methods, renders errors as JSON
    (API routes) or HTML (pages)."""

    server: VPackServer
    server_version = "vpack-serve"
    timeout = REQUEST_TIMEOUT  # an idle or slow client cannot hold its thread forever

    # ---- plumbing
    def version_string(self) -> str:
        return self.server_version  # not the Python version

    def handle(self) -> None:
        self.server.enter()
        try:
            super().handle()
        except (ConnectionError, socket.timeout):  # (socket.timeout: TimeoutError from 3.10 on)
            pass  # the client went away or stalled: nothing to answer
        finally:
            self.server.leave()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.log:
            super().log_message(format, *args)

    def _api(self) -> bool:
        path = urlsplit(getattr(self, "path", "") or "").path
        return path in ("/search", "/info") or path.startswith("/chunk/")

    def _send(
        self,
        status: int,
        body: Union[bytes, BinaryIO],
        ctype: str,
        csp: str = _CSP_DATA,
        extra: Sequence[Tuple[str, str]] = (),
    ) -> None:
        """Sends a response: ``body`` is bytes, or a file streamed to the client."""
        size = len(body) if isinstance(body, bytes) else os.fstat(body.fileno()).st_size
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(size))
        self.send_header("Content-Security-Policy", csp)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        if isinstance(body, bytes):
            self.wfile.write(body)
        else:
            shutil.copyfileobj(body, self.wfile, 1 << 16)

    def _json(self, status: int, data: Any, extra: Sequence[Tuple[str, str]] = ()) -> None:
        body = json.dumps(data, ensure_ascii=True, allow_nan=False).encode("ascii")
        self._send(status, body, "application/json; charset=utf-8", extra=extra)

    def _html(self, status: int, text: str, extra: Sequence[Tuple[str, str]] = ()) -> None:
        # errors="replace": a lone surrogate in metadata cannot stop the page.
        self._send(status, text.encode("utf-8", "replace"), "text/html; charset=utf-8", _CSP_PAGE, extra)

    def _error(self, error: HTTPError, extra: Sequence[Tuple[str, str]] = ()) -> None:
        if error.status >= 500:
            self.log_error("%s: %s", error.kind, error.message)
        if self._api():
            self._json(error.status, error.to_dict(), extra)
        else:
            self._html(error.status, error_page(error), extra)

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """http.server's own refusals (a malformed or oversized request line, too many
        headers, an unknown method) in vpack's error format."""
        extra: List[Tuple[str, str]] = [("Connection", "close")]
        if code == 501:  # http.server: no do_<METHOD>; for this read-only server, 405
            code, message = 405, f"method {self.command} is not allowed (only GET and HEAD)"
            extra.append(("Allow", "GET, HEAD"))
        if code in (413, 414, 431):
            err: Type[VPackError] = LimitExceededError
        elif code == 404:
            err = NotFoundError
        else:
            err = InvalidArgumentError
        self.close_connection = True
        if not getattr(self, "path", None):  # refused before parsing: the target, if any
            words = getattr(self, "raw_requestline", b"").split()
            self.path = words[1].decode("latin-1") if len(words) > 1 else ""
        if not getattr(self, "command", None):
            self.command = "GET"
        if not hasattr(self, "request_version"):
            self.request_version = "HTTP/1.0"
        self._error(HTTPError(code, err.code, err.__name__, message or _reason(code)), extra)

    def _not_allowed(self) -> None:
        self.close_connection = True  # any body it sent is not read
        self._error(
            HTTPError(
                405,
                InvalidArgumentError.code,
                InvalidArgumentError.__name__,
                f"method {self.command} is not allowed (only GET and HEAD)",
            ),
            [("Allow", "GET, HEAD")],
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    def do_HEAD(self) -> None:
        self.do_GET()

    # ---- routes
    def do_GET(self) -> None:
        try:
            self._route()
        except (ConnectionError, socket.timeout):
            raise
        except Exception as exc:
            if not isinstance(exc, (VPackError, HTTPError, ValueError)) and self.server.log:
                import traceback

                traceback.print_exc()
            self._error(HTTPError.of(exc))

    def _route(self) -> None:
        if len(self.path) > MAX_URL:
            raise _bad(
                f"the URL is {len(self.path):,} characters (at most {MAX_URL:,})", LimitExceededError, 414
            )
        self._check_host()
        url = urlsplit(self.path)
        path, query = url.path, url.query
        service = self.server.service
        if path == "/search":
            self._json(200, service.search(parse_params(query, _PARAMS["/search"])))
        elif path.startswith("/chunk/"):
            parse_params(query, frozenset())
            self._json(200, service.chunk(path[len("/chunk/") :]))
        elif path == "/info":
            parse_params(query, frozenset())
            self._json(200, service.info())
        elif path == "/":
            status, page = render_page(service, parse_params(query, _PARAMS["/"]))
            self._html(status, page)
        elif path == "/results":
            params = parse_params(query, _PARAMS["/results"])
            try:
                text = (
                    render_results(
                        service, service.search(params, (_one(params, "path") or "").strip() or None)
                    )
                    if query_text(params, required=False)
                    else _welcome(service)
                )
                self._html(200, text)
            except Exception as exc:
                error = HTTPError.of(exc)
                self._html(error.status, render_error(error))
        elif path.startswith("/source/"):
            self._source(path[len("/source/") :])
        elif path == "/static/vpack.css":
            self._send(200, CSS.encode("utf-8"), "text/css; charset=utf-8")
        elif path == "/static/vpack.js":
            self._send(200, JS.encode("utf-8"), "text/javascript; charset=utf-8")
        else:
            raise _bad(f"no such page: {path[:200]}", NotFoundError, 404)

    def _check_host(self) -> None:
        """On a loopback address, a request must name a loopback host: a web page
        elsewhere cannot reach the server through a DNS name rebound to 127.0.0.1."""
        if not self.server.loopback:
            return
        host = (self.headers.get("Host") or "").strip().lower()
        if not host:
            return
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]")
        if name == "localhost" or name.endswith(".localhost") or _is_loopback(name):
            return
        raise _bad(f"host {host[:100]!r} is not this server's (loopback only)", InvalidArgumentError, 403)

    def _source(self, quoted: str) -> None:
        try:
            rel = unquote(quoted, errors="strict")
        except UnicodeDecodeError:
            raise _bad("the path is not valid UTF-8 once percent-decoded", InvalidUTF8Error) from None
        service = self.server.service
        full = service.source_file(rel)
        if full is None:
            why = (
                "the pack records no source folder (vpack serve --root DIR names one)"
                if service.root is None
                else "not a file of this pack in its source folder"
            )
            raise _bad(f"{rel[:200]}: {why}", NotFoundError, 404)
        html_page = full.suffix.lower() in (".html", ".htm")
        with open(full, "rb") as f:  # read-only, streamed
            self._send(200, f, f"text/{'html' if html_page else 'plain'}; charset=utf-8", _CSP_SOURCE)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class VPackServer(ThreadingHTTPServer):
    """The HTTP server: one thread per connection over one shared :class:`Service`.
    ``url`` is where it listens; :meth:`stop` ends :meth:`serve_forever` from another
    thread, closes the socket and waits (up to ``grace`` seconds) for requests in
    flight."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: Tuple[str, int], service: Service, log: bool = True) -> None:
        self.address_family = _family(address[0])
        self.service = service
        self.log = log
        self.loopback = _is_loopback(address[0])
        self._busy = 0
        self._idle = threading.Condition()
        super().__init__(address, Handler)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), self.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def enter(self) -> None:
        with self._idle:
            self._busy += 1

    def leave(self) -> None:
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (socket.getfqdn), which can wait
        # on DNS; the name is not needed.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def wait_idle(self, grace: float = SHUTDOWN_GRACE) -> bool:
        """Waits until no request is in flight (at most ``grace`` seconds)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, grace)


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def create_server(
    pack: Pack,
    pack_path: Union[str, os.PathLike[str]],
    host: str = "127.0.0.1",
    port: int = 0,
    root: Optional[Path] = None,
    max_k: int = DEFAULT_MAX_K,
    log: bool = True,
) -> VPackServer:
    """A server for ``pack`` (which stays the caller's to close), listening on ``host``
    and ``port`` (0: a free port; see ``.url``). ``root`` is the source folder whose
    files the page links to (default: the one the pack records, if any). Call
    ``serve_forever()``, and ``shutdown()`` then ``server_close()`` to stop."""
    service = Service(
        pack, pack_path, root if root is not None else source_root(pack_path, pack.manifest), max_k
    )
    return VPackServer((host, port), service, log)


def run(
    pack_path: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    model_dir: Optional[str] = None,
    root: Optional[str] = None,
    max_k: int = DEFAULT_MAX_K,
    log: bool = True,
    out: Callable[[str], None] = print,
) -> int:
    """``vpack serve``: opens the pack, creates its query embedder (once: a failure here,
    such as a missing model, is reported before anything listens), serves until Ctrl-C
    or SIGTERM, then stops accepting, lets the requests in flight finish and closes the
    pack."""
    if root is not None and not os.path.isdir(root):
        raise NotADirectoryError(f"--root {root}: not a folder")
    if not 1 <= max_k <= 1_000_000:
        raise ValueError(f"--max-k must be 1..1000000, got {max_k}")
    with open_pack(pack_path, model_dir=model_dir) as pack:
        if len(pack) and isinstance(pack.manifest.get("embedder"), dict):
            pack.embed_query("warm up")  # loads the model now, not on the first query
        server = create_server(pack, pack_path, host, port, Path(root) if root else None, max_k, log)
        if server.service.root is not None:  # list the pack's files now, not on the first query
            threading.Thread(target=_quietly, args=(server.service.pack_paths,), daemon=True).start()
        stopping = threading.Event()

        def on_term(signum: int, frame: Optional[FrameType]) -> None:
            if not stopping.is_set():
                stopping.set()
                threading.Thread(target=server.shutdown, daemon=True).start()

        previous = signal.signal(signal.SIGTERM, on_term) if _main_thread() else None
        try:
            files = f"; source files from {server.service.root}" if server.service.root is not None else ""
            out(f"vpack: serving {pack_path} ({plural(len(pack), 'chunk')}{files}) at {server.url}")
            if not server.loopback:
                out(f"vpack: warning: listening on {host}, reachable from other machines; no authentication")
            out("vpack: press Ctrl-C to stop")
            sys.stdout.flush()
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stop as SIGTERM does
                server.serve_forever(poll_interval=0.25)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            server.server_close()  # no new connections
            server.wait_idle()
    out("vpack: stopped")
    return 0


def _quietly(work: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):  # the first request that needs it will report the error
        work()


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


__all__ = [
    "DEFAULT_MAX_K",
    "MAX_QUERY",
    "MAX_URL",
    "HTTPError",
    "Service",
    "VPackServer",
    "create_server",
    "highlight",
    "query_terms",
    "run",
    "source_root",
    "where_filter",
]
