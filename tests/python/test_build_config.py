"""Whole builds driven by plugin names, a vpack.toml and command-line flags."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import vpack

VPACK = Path(sys.executable).with_name("vpack")

PAGE = """<!DOCTYPE html><html><head><title>File guide</title><script>var x = 1;</script></head>
<body><nav class="sidebar"><a href="/">Home</a> navigation links everywhere</nav>
<main><h1 id="files">Working with files</h1><p>Files hold bytes on disk.</p>
<section id="reading"><h2>Reading lines<a class="headerlink" href="#reading">¶</a></h2>
<p>Iterate over the file object to read it line by line.</p></section>
<section id="writing"><h2>Writing</h2><p>Open the file in write mode and call write.</p></section>
</main><footer>Copyright footer</footer></body></html>"""


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(VPACK), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_html_pages_become_sectioned_chunks(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "files.html").write_text(PAGE, encoding="utf-8")
    with vpack.build(site, embedder="hash", chunk_size=200, chunk_overlap=0) as result:
        pack = result.pack
        texts = [pack.chunk(i).text for i in range(len(pack))]
        assert not any("navigation links" in t or "var x" in t or "Copyright" in t for t in texts)
        hit = pack.search("read it line by line", k=1)[0]
        assert hit.metadata["section"] == "Reading lines"
        assert hit.metadata["anchor"] == "reading"
        assert hit.metadata["title"] == "File guide"
        assert "¶" not in hit.text
        kinds = [t["kind"] for t in pack.manifest["transformers"]]
        assert kinds == ["html", "markdown", "normalize"]
        assert pack.manifest["chunker"]["kind"] == "section"


def test_vpack_toml_and_flag_overrides(docs: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "vpack.toml").write_text(
        f"""
output = "docs.vpack"
exclude = ["guide/deep/**"]
[source]
kind = "directory"
root = {json.dumps(str(docs))}
[chunker]
name = "recursive"
options = {{ size = 300, overlap = 0 }}
[embedder]
name = "hash"
options = {{ dimension = 64 }}
""",
        encoding="utf-8",
    )
    built = run_cli("build", "--json", cwd=project)
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["documents"] == 3
    with vpack.open(project / "docs.vpack") as pack:
        cfg = pack.manifest["config"]
        assert cfg["chunker"] == {"name": "recursive", "options": {"size": 300, "overlap": 0}}
        assert pack.dimension == 64
        assert pack.manifest["chunker"]["kind"] == "recursive"
    # Flags win over the file.
    built = run_cli("build", "-o", "other.vpack", "--chunk-size", "120", "--dimension", "32", cwd=project)
    assert built.returncode == 0, built.stderr
    with vpack.open(project / "other.vpack") as pack:
        assert pack.manifest["config"]["chunker"]["options"]["size"] == 120
        assert pack.dimension == 32


def test_jsonl_source_by_name(tmp_path: Path) -> None:
    data = tmp_path / "records.jsonl"
    rows = [
        {"id": "a", "body": "Penguins swim in cold seas.", "lang": "en"},
        {"id": "b", "body": "Les manchots nagent dans les mers froides.", "lang": "fr"},
        {"id": "c", "lang": "en"},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n", encoding="utf-8")
    out = tmp_path / "records.vpack"
    built = run_cli(
        "build", str(data), "--source-kind", "jsonl", "--text-field", "body", "-o", str(out),
        "--embedder", "hash", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["documents"] == 2
    assert len(report["skipped"]) == 2
    with vpack.open(out) as pack:
        hits = pack.search("penguins swim", k=5, filter={"lang": "fr"})
        assert [h.metadata["lang"] for h in hits] == ["fr"]
    strict = run_cli(
        "build", str(data), "--source-kind", "jsonl", "--text-field", "body", "-o", str(out),
        "--embedder", "hash", "--strict", cwd=tmp_path,
    )  # fmt: skip
    assert strict.returncode == 1 and "strict" in strict.stderr


def test_unknown_plugin_lists_the_available_ones(docs: Path, tmp_path: Path) -> None:
    built = run_cli(
        "build", str(docs), "-o", "x.vpack", "--chunker", "nonesuch", "--embedder", "hash", cwd=tmp_path
    )
    assert built.returncode == 1
    assert "nonesuch" in built.stderr and "section" in built.stderr


def test_cli_reads_html_folders_by_default(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "files.html").write_text(PAGE, encoding="utf-8")
    built = run_cli(
        "build",
        str(site),
        "-o",
        "site.vpack",
        "--embedder",
        "hash",
        "--chunk-size",
        "80",
        "--json",
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    assert json.loads(built.stdout)["documents"] == 1
    with vpack.open(tmp_path / "site.vpack") as pack:
        assert pack.manifest["chunker"]["kind"] == "section"
        assert pack.search("write mode", k=1)[0].metadata["anchor"] == "writing"
