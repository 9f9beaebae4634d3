"""``vpack serve``: the real server on a free port, its JSON API over real HTTP, its
search page (escaping, highlighting, links), its limits and refusals, the command
(Ctrl-C stops it cleanly), and the page in a real headless Chromium when one is
installed (its screenshot is kept as a test artifact)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest

import vpack
from vpack import cli, serve

DOCS = {
    "files.md": "# Reading files\n\nTo read a file line by line, open it and iterate over the file "
    "object; each iteration yields one line including its newline.\n",
    "birds.txt": "Many birds migrate south in autumn, flying thousands of kilometres to warmer places.\n",
    "guide/install.md": "# Installing\n\nRun pip install to set up the package, "
    "then run the command line tool.\n",
    "guide/deep/cooking.rst": "Bake the bread at two hundred degrees for forty minutes until golden.\n",
    "hostile.md": "---\ntitle: <b>bold</b> title\nurl: javascript:alert(1)\n---\n"
    '# <img src=x onerror="alert(1)">\n\nA <script>alert("text")</script> & "quotes" in the text.\n',
    "<i>odd</i> name.txt": "A file (in a folder '<i>odd<') whose name is markup: <i>odd</i>, & more.\n",
}

# Artifacts (the browser's screenshot and page) outlive the test's temporary folder.
ARTIFACTS = Path(os.environ.get("VPACK_TEST_ARTIFACTS") or Path(tempfile.gettempdir()) / "vpack-artifacts")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A source folder, a file beside it and a symlink out of it, and the pack built from
    the folder with the hash embedder, recording the folder (``--record-paths``)."""
    base = tmp_path_factory.mktemp("serve")
    root = base / "docs"
    for rel, text in DOCS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (base / "secret.txt").write_text("outside the source folder\n", encoding="utf-8")
    (root / ".env").write_text("TOKEN=not-in-the-pack\n", encoding="utf-8")
    (root / "escape.md").symlink_to(base / "secret.txt")
    status = cli.main(
        [
            "build",
            str(root),
            "-o",
            str(base / "docs.vpack"),
            "--embedder",
            "hash",
            "--record-paths",
            "--no-progress",
        ]
    )
    assert status == 0
    return base


@contextmanager
def serving(pack_path: Path, **options: Any) -> Iterator[serve.VPackServer]:
    """The real server on a free loopback port, in a thread."""
    pack = vpack.open(pack_path)
    server = serve.create_server(pack, pack_path, port=0, log=False, **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        assert server.wait_idle(5)
        thread.join(5)
        pack.close()


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[serve.VPackServer]:
    with serving(site / "docs.vpack") as s:
        yield s


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy


def fetch(
    url: str, method: str = "GET", headers: Optional[Dict[str, str]] = None
) -> Tuple[int, Dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=20) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def api(server: serve.VPackServer, route: str, **params: Any) -> Tuple[int, Any]:
    query = urllib.parse.urlencode(params, doseq=True)
    status, headers, body = fetch(server.url.rstrip("/") + route + ("?" + query if query else ""))
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"
    return status, json.loads(body)


def page(server: serve.VPackServer, route: str = "/", **params: Any) -> Tuple[int, str]:
    query = urllib.parse.urlencode(params, doseq=True)
    status, headers, body = fetch(server.url.rstrip("/") + route + ("?" + query if query else ""))
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in headers["content-security-policy"]
    return status, body.decode("utf-8")


def assert_error(result: Tuple[int, Any], status: int, code: int, kind: str, *words: str) -> None:
    got_status, data = result
    error = data["error"]
    assert (got_status, error["status"], error["code"], error["type"]) == (status, status, code, kind), data
    for word in words:
        assert word in error["message"], error["message"]


# ------------------------------------------------------------------------------ JSON API


def test_search_by_text_returns_hits_with_source_section_and_link(server: serve.VPackServer) -> None:
    status, data = api(server, "/search", q="how do I read a file line by line", k=3)
    assert status == 200
    assert (data["query"], data["k"], data["filter"]) == ("how do I read a file line by line", 3, None)
    assert data["took_ms"] >= 0 and len(data["hits"]) == 3
    top = data["hits"][0]
    assert set(top) == {"id", "score", "text", "metadata", "source", "section", "title", "anchor", "link"}
    assert top["source"] == "files.md" and top["metadata"]["path"] == "files.md"
    assert (top["section"], top["anchor"]) == ("Reading files", "reading-files")
    assert top["link"] == "/source/files.md#reading-files"
    assert "line by line" in top["text"]
    scores = [h["score"] for h in data["hits"]]
    assert scores == sorted(scores, reverse=True)
    with vpack.open(server.service.pack_path) as pack:  # the same answer as the Python API
        expected = pack.search("how do I read a file line by line", k=3)
    assert [h["id"] for h in data["hits"]] == [h.id for h in expected]
    assert [h["text"] for h in data["hits"]] == [h.text for h in expected]


def test_k_defaults_bounds_and_errors(server: serve.VPackServer) -> None:
    assert len(api(server, "/search", q="bread")[1]["hits"]) == len(DOCS)  # default 10 > chunks
    assert len(api(server, "/search", q="bread", k=1)[1]["hits"]) == 1
    assert_error(api(server, "/search", q="bread", k=0), 400, 2, "InvalidArgumentError", "k = 0")
    assert_error(api(server, "/search", q="bread", k="two"), 400, 2, "InvalidArgumentError", "whole number")
    assert_error(api(server, "/search", q="bread", k=-1), 400, 2, "InvalidArgumentError")
    assert_error(
        api(server, "/search", q="bread", k=serve.DEFAULT_MAX_K + 1),
        400,
        10,
        "LimitExceededError",
        "at most 100",
    )
    assert_error(api(server, "/search", q="bread", k=["1", "2"]), 400, 2, "InvalidArgumentError", "2 times")
    assert_error(
        api(server, "/search", k=3), 400, 2, "InvalidArgumentError", "q (the query text) is required"
    )
    assert_error(
        api(server, "/search", q="bread", kk=3), 400, 2, "InvalidArgumentError", "unknown parameter 'kk'"
    )


def test_where_takes_what_query_where_and_filter_take(server: serve.VPackServer) -> None:
    def sources(**params: Any) -> set:
        status, data = api(server, "/search", q="run the tool", **params)
        assert status == 200, data
        return {h["source"] for h in data["hits"]}

    assert sources(where="path=guide/**") == {"guide/install.md", "guide/deep/cooking.rst"}
    assert sources(where="path=guide/*") == {"guide/install.md"}
    assert sources(where='{"path": {"$glob": "guide/**"}}') == {"guide/install.md", "guide/deep/cooking.rst"}
    assert sources(where='{"path": {"$in": ["birds.txt", "files.md"]}}') == {"birds.txt", "files.md"}
    assert sources(where=["path=guide/**", "section=Installing"]) == {"guide/install.md"}
    assert sources(where=['{"chunk": 0}', "path=birds.txt"]) == {"birds.txt"}
    assert sources(where="path=nothing/*") == set()
    _, data = api(server, "/search", q="x", where=['{"chunk": 0}', "path=a*"])
    assert data["filter"] == {"chunk": 0, "path": "a*"}  # parsed as vpack query parses them
    assert cli.parse_filter('{"chunk": 0}', ["path=a*"]) == data["filter"]


def test_bad_filters_are_clear_json_errors(server: serve.VPackServer) -> None:
    assert_error(
        api(server, "/search", q="x", where='{"path": "a",}'),
        400,
        3,
        "InvalidJSONError",
        "where is not valid JSON at column 14",
        "<-- here",
    )
    assert_error(api(server, "/search", q="x", where="[1, 2]"), 400, 3, "InvalidJSONError", "JSON object")
    assert_error(
        api(server, "/search", q="x", where="no-equals-sign"), 400, 2, "InvalidArgumentError", "KEY=VALUE"
    )
    assert_error(
        api(server, "/search", q="x", where=["{}", "{}"]),
        400,
        3,
        "InvalidJSONError",
        "one JSON object at most",
    )
    assert_error(api(server, "/search", q="x", where='{"n": {"$nope": 1}}'), 400, 3, "InvalidJSONError")
    assert_error(
        api(server, "/search", q="x", where='{"chunk": {"$gt": "5"}}'), 400, 2, "InvalidArgumentError"
    )
    deep = '{"$and": [' * 100 + "{}" + "]}" * 100
    assert_error(api(server, "/search", q="x", where=deep), 400, 3, "InvalidJSONError", "nested deeper")


def test_chunk_and_info(server: serve.VPackServer, site: Path) -> None:
    status, data = api(server, "/search", q="birds migrate", k=1)
    hit = data["hits"][0]
    status, chunk = api(server, f"/chunk/{hit['id']}")
    assert status == 200
    assert chunk == {k: v for k, v in hit.items() if k != "score"}
    assert_error(api(server, "/chunk/999"), 404, 12, "NotFoundError", "out of range")
    assert_error(api(server, "/chunk/abc"), 400, 2, "InvalidArgumentError", "non-negative whole number")
    assert_error(api(server, "/chunk/-1"), 400, 2, "InvalidArgumentError")
    assert_error(api(server, "/chunk/1", x=1), 400, 2, "InvalidArgumentError", "unknown parameter")

    status, info = api(server, "/info")
    assert status == 200
    with vpack.open(site / "docs.vpack") as pack:
        assert info["manifest"] == pack.manifest
        assert info["chunks"] == len(pack) == len(DOCS)
    assert info["embedder"] == "hash / vpack-hash-v1"
    assert info["index"] == (
        "flat (exact); lexical BM25 (k1 1.5, b 0.9, text, hybrid weight 0.2, tokenizer words-ident-stop-v1)"
    )
    assert (info["dimension"], info["metric"], info["documents"], info["format_version"]) == (
        256,
        "cosine",
        6,
        2,
    )
    assert info["size_bytes"] == (site / "docs.vpack").stat().st_size
    assert info["server"]["source_root"] == str((site / "docs").resolve())
    assert info["server"]["max_k"] == serve.DEFAULT_MAX_K


def test_unknown_routes_are_404_html_or_json(server: serve.VPackServer) -> None:
    status, text = page(server, "/nope")
    assert status == 404 and "404 Not Found" in text and "NotFoundError, code 12" in text
    assert 'href="/"' in text
    status, _headers, _body = fetch(server.url + "static/other.js")
    assert status == 404


def test_only_get_and_head(server: serve.VPackServer) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"):
        status, headers, body = fetch(server.url + "search?q=x", method=method)
        assert status == 405, method
        assert headers["allow"] == "GET, HEAD"
        error = json.loads(body)["error"]
        assert (error["code"], error["type"]) == (2, "InvalidArgumentError")
        assert f"method {method} is not allowed" in error["message"]
    status, headers, body = fetch(server.url, method="POST")
    assert status == 405 and headers["content-type"].startswith("text/html") and b"405" in body
    status, headers, body = fetch(server.url + "search?q=bread", method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 100


def test_oversized_and_malformed_requests(server: serve.VPackServer) -> None:
    assert_error(api(server, "/search", q="word " * 300), 400, 10, "LimitExceededError", "at most 1,000")
    assert len(api(server, "/search", q="w" * serve.MAX_QUERY)[1]["hits"]) > 0
    status, data = api(server, "/search", q="x", where="path=" + "a" * serve.MAX_URL)
    assert_error((status, data), 414, 10, "LimitExceededError", "at most 8,192")
    params = "&".join(f"where=a{i}%3D1" for i in range(serve.MAX_PARAMS + 1))
    status, _headers, body = fetch(server.url + "search?q=x&" + params)
    assert_error((status, json.loads(body)), 400, 10, "LimitExceededError", "too many query parameters")
    status, _headers, body = fetch(server.url + "search?q=%ff%fe")
    assert_error((status, json.loads(body)), 400, 4, "InvalidUTF8Error")
    # A request line longer than http.server reads at all (64 KiB) is refused in the same format.
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=20)
    conn.request("GET", "/search?q=" + "a" * 70000)
    response = conn.getresponse()
    error = json.loads(response.read())["error"]
    assert (response.status, error["code"], error["type"]) == (414, 10, "LimitExceededError")
    conn.close()


def test_hosts_other_than_loopback_are_refused(server: serve.VPackServer) -> None:
    """A page on another site cannot reach the server by rebinding its DNS name to 127.0.0.1."""
    status, _headers, body = fetch(server.url + "info", headers={"Host": "evil.example:80"})
    assert status == 403 and json.loads(body)["error"]["code"] == 2
    for host in ("localhost", f"localhost:{server.server_address[1]}", "127.0.0.1", "[::1]:80"):
        assert fetch(server.url + "info", headers={"Host": host})[0] == 200, host


def test_concurrent_requests_match_serial_ones(server: serve.VPackServer) -> None:
    queries = ["bread", "birds", "install the tool", "read a file", "golden", "quotes"] * 8
    serial = [api(server, "/search", q=q, k=3)[1]["hits"] for q in queries]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(lambda q: api(server, "/search", q=q, k=3)[1]["hits"], queries))
    assert parallel == serial


# ------------------------------------------------------------------------------- the page


def test_page_renders_hits_with_highlights_links_and_sections(server: serve.VPackServer) -> None:
    status, text = page(server, q="read a file line by line", k=3)
    assert status == 200
    assert text.count('<li class="hit"') == 3
    assert '<a class="source" href="/source/files.md#reading-files">files.md#reading-files</a>' in text
    assert '<span class="section">Reading files</span>' in text
    assert "To <mark>read</mark> a <mark>file</mark> <mark>line</mark> by <mark>line</mark>" in text
    assert "<mark>a</mark>" not in text and "<mark>by</mark>" not in text  # stop words stay plain
    assert 'value="read a file line by line"' in text
    assert '<link rel="stylesheet" href="/static/vpack.css">' in text
    status, text = page(server)  # no query: the form and a word about the pack
    assert status == 200 and 'id="q"' in text and "6 chunks" in text and '<li class="hit"' not in text
    status, text = page(server, q="install", path="guide/**")
    assert text.count('<li class="hit"') == 2 and 'value="guide/**"' in text


def test_page_and_results_escape_hostile_text_metadata_and_queries(server: serve.VPackServer) -> None:
    status, text = page(server, q='<script>alert("q")</script> quotes', k=10)
    assert status == 200
    for raw in ("<script>alert", "<img src=x", "<b>bold</b>", "<i>odd</i>", 'onerror="'):
        assert raw not in text, raw
    assert (
        "A &lt;<mark>script</mark>&gt;<mark>alert</mark>(&quot;text&quot;)&lt;/<mark>script</mark>&gt; "
        "&amp; &quot;<mark>quotes</mark>&quot; in the text." in text
    )
    assert "&lt;script&gt;alert(&quot;q&quot;)&lt;/script&gt;" in text  # the query, in the box and summary
    assert "&lt;b&gt;bold&lt;/b&gt; title" in text or "&lt;img src=x" in text
    assert "javascript:" not in text.split("<pre>")[0]  # a metadata url is never a link
    assert 'href="/source/%3Ci%3Eodd%3C/i%3E%20name.txt"' in text  # a markup file name, quoted
    assert "&lt;i&gt;odd&lt;/i&gt; name.txt</a>" in text
    status, fragment = page(server, "/results", q="quotes")
    assert status == 200 and "<mark>quotes</mark>" in fragment and "<script>" not in fragment
    assert not fragment.startswith("<!doctype")


def test_page_shows_bad_parameters_as_an_error_in_place(server: serve.VPackServer) -> None:
    status, text = page(server, q="bread", where='{"oops"')
    assert status == 400 and 'role="alert"' in text and "InvalidJSONError, code 3" in text
    assert 'value="{&quot;oops&quot;"' in text  # the form keeps what was typed
    status, text = page(server, q="bread", k=1000)
    assert status == 400 and "LimitExceededError, code 10" in text
    status, text = page(server, "/results", q="bread", k="x")
    assert status == 400 and "InvalidArgumentError, code 2" in text


def test_source_files_are_served_read_only_from_the_pack_folder_only(
    server: serve.VPackServer, site: Path
) -> None:
    status, headers, body = fetch(server.url + "source/files.md")
    assert status == 200 and body == (site / "docs" / "files.md").read_bytes()
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["content-security-policy"].startswith("sandbox")
    status, headers, body = fetch(server.url + "source/guide/install.md", method="HEAD")
    assert status == 200 and body == b""
    for path in (
        ".env",  # in the folder, not in the pack
        "escape.md",  # a symlink out of the folder
        "../secret.txt",
        "%2e%2e/secret.txt",
        "guide/../../secret.txt",
        str(site / "secret.txt"),
        "missing.md",
    ):
        status, headers, body = fetch(server.url + "source/" + path)
        assert status == 404, path
        assert b"secret" not in body.replace(b"secret.txt", b"") and b"TOKEN" not in body
    assert fetch(server.url + "source/%ff")[0] == 400
    assert fetch(server.url + "source/files.md", method="POST")[0] == 405


def test_without_a_recorded_folder_paths_are_shown_not_linked(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "plain.vpack"
    assert cli.main(["build", str(site / "docs"), "-o", str(out), "--embedder", "hash", "--no-progress"]) == 0
    with serving(out) as server:
        status, data = api(server, "/search", q="read a file line by line", k=1)
        assert data["hits"][0]["link"] is None and data["hits"][0]["source"] == "files.md"
        status, text = page(server, q="read a file line by line", k=1)
        assert '<span class="source">files.md#reading-files</span>' in text and "/source/" not in text
        status, _headers, body = fetch(server.url + "source/files.md")
        assert status == 404 and b"records no source folder" in body
    with serving(out, root=site / "docs") as server:  # named by --root
        hit = api(server, "/search", q="read a file line by line", k=1)[1]["hits"][0]
        assert hit["link"] == "/source/files.md#reading-files"


def test_metadata_urls_and_odd_values(tmp_path: Path) -> None:
    docs = [
        {
            "text": "alpha beta gamma",
            "id": "a",
            "metadata": {"url": "https://example.org/a", "anchor": "x y"},
        },
        {"text": "alpha delta", "id": "b", "metadata": {"url": "javascript:alert(1)", "section": 7}},
        {"text": "alpha epsilon", "id": "c", "metadata": {"path": "p.md", "odd": "\u2028<>"}},
    ]
    with vpack.build(docs, tmp_path / "m.vpack", embedder="hash", chunker="fixed"):
        pass
    with serving(tmp_path / "m.vpack") as server:
        hits = {h["text"]: h for h in api(server, "/search", q="alpha", k=3)[1]["hits"]}
        assert hits["alpha beta gamma"]["link"] == "https://example.org/a#x%20y"
        assert hits["alpha delta"]["link"] is None and hits["alpha delta"]["section"] is None
        assert hits["alpha epsilon"]["link"] is None
        _status, text = page(server, q="alpha", k=3)
        assert 'href="https://example.org/a#x%20y" rel="noopener noreferrer"' in text
        assert "javascript:alert" not in text.split("<pre>")[0]


def test_highlight_and_terms() -> None:
    assert serve.query_terms("How do I read THE files?") == ["files", "read"]
    assert serve.highlight("Read <files> & reading", ["read"]) == (
        "<mark>Read</mark> &lt;files&gt; &amp; <mark>reading</mark>"
    )
    assert serve.highlight("a <b>", []) == "a &lt;b&gt;"
    assert serve.highlight("xx.*yy", serve.query_terms(".* (xx|yy)")) == "<mark>xx</mark>.*<mark>yy</mark>"


# ------------------------------------------------------------------------------ the command


def test_vpack_serve_command_prints_the_url_and_stops_on_ctrl_c(site: Path) -> None:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "vpack", "serve", str(site / "docs.vpack"), "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("vpack: serving ") and "6 chunks" in line, line + proc.stderr.read()
        url = line.rsplit(" at ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0/")
        assert proc.stdout.readline() == "vpack: press Ctrl-C to stop\n"
        start = time.perf_counter()
        status, _headers, body = fetch(url + "search?q=bread&k=1")
        assert status == 200 and json.loads(body)["hits"][0]["source"] == "guide/deep/cooking.rst"
        assert time.perf_counter() - start < 5
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert out == "vpack: stopped\n" and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_vpack_serve_refuses_what_it_cannot_serve(site: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "vpack", "serve", *args], capture_output=True, text=True, timeout=60
        )

    proc = run(str(tmp_path / "missing.vpack"))
    assert proc.returncode == 1 and "missing.vpack: no such file [code 6]" in proc.stderr
    proc = run(str(site / "docs.vpack"), "--root", str(tmp_path / "nowhere"), "--port", "0")
    assert proc.returncode == 1 and "not a folder" in proc.stderr
    proc = run(str(site / "docs.vpack"), "--port", "-1")
    assert proc.returncode == 2


# ------------------------------------------------------------------------------ the browser


def _chromium() -> Optional[str]:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_page_in_headless_chromium(server: serve.VPackServer, tmp_path: Path) -> None:
    """Chromium loads the page with a query in its URL: the hits are rendered with their
    highlights and links, the page's script ran, and nothing hostile became markup. The
    screenshot is kept in the artifacts folder."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium)")
    url = server.url + "?" + urllib.parse.urlencode({"q": "read a file line by line quotes", "k": 4})
    common = [
        browser,
        "--headless",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1100,900",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        common.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    dom = subprocess.run(
        [*common, "--virtual-time-budget=3000", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'data-js="on"' in html  # the page's script ran (served under its CSP)
    assert html.count('class="hit"') == 4
    assert '<a class="source" href="/source/files.md#reading-files">files.md#reading-files</a>' in html
    assert "<mark>read</mark>" in html and "<mark>quotes</mark>" in html
    assert "<script>alert" not in html and "<img src" not in html

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "vpack-serve-page.png"
    shot.unlink(missing_ok=True)
    done = subprocess.run([*common, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    (ARTIFACTS / "vpack-serve-page.html").write_text(html, encoding="utf-8")
    print(f"\nvpack serve page artifacts: {shot} and {ARTIFACTS / 'vpack-serve-page.html'}")


class DevTools:
    """A minimal client of Chromium's DevTools protocol over its WebSocket (standard
    library only): enough to load a page, type into it and read the DOM back."""

    def __init__(self, ws_url: str) -> None:
        url = urllib.parse.urlsplit(ws_url)
        self.sock = socket.create_connection((url.hostname, url.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert b" 101 " in head.split(b"\r\n")[0], head
        self.last = 0

    def _recv(self) -> bytes:
        data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError("DevTools closed the connection")
        return data

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.buf += self._recv()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _message(self) -> bytes:
        payload = b""
        while True:
            first, second = self._exact(2)
            size = second & 0x7F
            if size == 126:
                size = struct.unpack(">H", self._exact(2))[0]
            elif size == 127:
                size = struct.unpack(">Q", self._exact(8))[0]
            payload += self._exact(size)
            if first & 0x80:  # FIN
                return payload

    def call(self, method: str, **params: Any) -> Dict[str, Any]:
        self.last += 1
        data = json.dumps({"id": self.last, "method": method, "params": params}).encode()
        mask = os.urandom(4)
        size = len(data)
        length = bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + struct.pack(">H", size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(bytes([0x81]) + length + mask + masked)
        while True:
            message = json.loads(self._message())
            if message.get("id") == self.last:
                assert "error" not in message, message
                result: Dict[str, Any] = message["result"]
                return result

    def js(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")


def test_page_searches_as_you_type_in_headless_chromium(server: serve.VPackServer, tmp_path: Path) -> None:
    """In a real Chromium, typing into the boxes runs the page's script: the hits are
    fetched from /results and drawn, the address bar follows, the path glob narrows the
    hits, and a bad value shows the server's error in place."""
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium)")
    profile = tmp_path / "profile"
    args = [browser, "--headless", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")
    proc = subprocess.Popen(
        [*args, "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert time.monotonic() < deadline and proc.poll() is None, "Chromium did not start"
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = json.loads(fetch(f"http://127.0.0.1:{port}/json/list")[2])
        tab = DevTools(next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page"))
        tab.call("Page.navigate", url=server.url)
        tab.wait_for("document.documentElement.dataset.js === 'on' && !!document.getElementById('q')")
        assert tab.js("document.querySelectorAll('.hit').length") == 0

        def type_into(box: str, value: str) -> None:
            element = f"document.getElementById({json.dumps(box)})"
            tab.js(
                f"(() => {{ const e = {element}; e.value = {json.dumps(value)}; "
                "e.dispatchEvent(new Event('input', {bubbles: true})); })()"
            )

        type_into("q", "read a file line by line")
        tab.wait_for("document.querySelectorAll('.hit').length === 6")
        assert tab.js("document.querySelector('.hit .source').textContent") == "files.md#reading-files"
        assert tab.js("document.querySelector('.hit mark').textContent") == "Reading"
        assert tab.js("location.search") == "?q=read+a+file+line+by+line"
        type_into("path", "guide/**")
        tab.wait_for("document.querySelectorAll('.hit').length === 2")
        sources = tab.js(
            "[...document.querySelectorAll('.hit .source')].map(e => e.textContent).sort().join()"
        )
        assert sources == "guide/deep/cooking.rst,guide/install.md#installing"
        assert tab.js("location.search") == "?q=read+a+file+line+by+line&path=guide%2F**"
        type_into("k", "1000")
        error = tab.wait_for(
            "document.querySelector('.error') && document.querySelector('.error').textContent"
        )
        assert "LimitExceededError, code 10" in error
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
