"""Incremental builds: unchanged documents skip the transformers and the chunker (their
chunks come from the build cache), the pack is the same bytes as a build without any
cache, any setting or plugin code that shapes chunks invalidates, and damaged cache rows
are misses."""

from __future__ import annotations

import importlib
import json
import sqlite3
import sys
import zlib
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import pytest

import vpack
from vpack import pipeline
from vpack.cache import EmbeddingCache
from vpack.incremental import DocumentCache, settings_fingerprint
from vpack.plugins import HashEmbedder, NormalizeWhitespace, SectionChunker
from vpack.plugins.base import Document

from .test_cli import ok

PAGE = """<html><head><title>{title}</title></head><body>
<h1 id="top">{title}</h1><p>{intro}</p>
<h2 id="use">Using {title}</h2><p>{body}</p>
<h2 id="more">More about {title}</h2><p>{more}</p>
</body></html>"""


def _page(title: str) -> str:
    words = f"{title} reads files line by line and writes them back again to disk."
    return PAGE.format(title=title, intro=words, body=" ".join([words] * 30), more=" ".join([words] * 3))


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    for k, name in enumerate(["alpha", "beta", "gamma", "delta", "eps/zeta"]):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / f"{name}.html").write_text(_page(f"Topic {k} {name}"), encoding="utf-8")
    (root / "notes.md").write_text(
        "# Notes\n\nShort notes.\n\n## Later\n\nMore notes here.\n", encoding="utf-8"
    )
    return root


class Recorder:
    """A transformer that passes documents through, noting the ids it was given."""

    def __init__(self, tag: str = "") -> None:
        self.tag = tag
        self.seen: List[str] = []

    def describe(self) -> Mapping[str, Any]:
        return {"kind": "recorder", "tag": self.tag}

    def transform(self, document: Document) -> Optional[Document]:
        self.seen.append(document.id)
        return document


class CountingHash(HashEmbedder):
    """The hash embedder, noting the texts whose tokens it counted."""

    def __init__(self, dimension: int = 64) -> None:
        super().__init__(dimension)
        self.counted: List[str] = []

    def token_counts(self, texts: Sequence[str]) -> List[int]:
        self.counted.extend(texts)
        return super().token_counts(texts)


def _build(root: Path, out: Path, cache: Any, **options: Any) -> vpack.BuildReport:
    options.setdefault("embedder", "hash")
    options.setdefault("chunk_size", 300)
    with vpack.build(root, out, cache=cache, **options) as r:
        return r.report


def _steps(recorder: Recorder) -> List[Any]:
    return [*pipeline.default_transformers(), recorder]


def test_unchanged_documents_skip_transform_and_chunking(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = Recorder()
    report = _build(site, tmp_path / "a.vpack", cache, transformers=_steps(first), embed_context=True)
    assert (report.documents, report.documents_cached) == (6, 0)
    assert len(first.seen) == 6
    chunks = report.chunks
    assert chunks > 6  # the long sections are cut into several chunks
    page = site / "eps" / "zeta.html"
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", "<p>Added.</p></body>"), "utf-8")
    second = Recorder()
    report = _build(site, tmp_path / "b.vpack", cache, transformers=_steps(second), embed_context=True)
    assert second.seen == ["eps/zeta.html"]
    assert (report.documents, report.documents_cached) == (6, 5)
    assert report.cache_misses >= 1 and report.cache_hits + report.cache_misses == report.chunks
    # The same bytes as a build that used no cache at all.
    fresh = _build(site, tmp_path / "c.vpack", False, transformers=_steps(Recorder()), embed_context=True)
    assert fresh.documents_cached == 0 and fresh.chunks == report.chunks
    assert (tmp_path / "b.vpack").read_bytes() == (tmp_path / "c.vpack").read_bytes()
    third = Recorder()
    report = _build(site, tmp_path / "d.vpack", cache, transformers=_steps(third), embed_context=True)
    assert third.seen == [] and report.documents_cached == 6
    assert (tmp_path / "d.vpack").read_bytes() == (tmp_path / "c.vpack").read_bytes()


def test_cached_token_counts_are_not_counted_again(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = CountingHash()
    a = _build(site, tmp_path / "a.vpack", cache, embedder=first)
    assert len(first.counted) >= a.chunks  # the report's counts (and the chunker's, in tokens)
    second = CountingHash()
    b = _build(site, tmp_path / "b.vpack", cache, embedder=second)
    assert second.counted == [] and b.documents_cached == 6
    assert (b.tokens, b.chunks) == (a.tokens, a.chunks)


@pytest.mark.parametrize(
    "change",
    [
        {"chunk_size": 200},
        {"chunk_overlap": 10},
        {"embed_context": True},
        {"chunk_unit": "tokens"},
        {"transformers": [*pipeline.default_transformers()[:2], NormalizeWhitespace(max_blank_lines=0)]},
        {"transformers": [*pipeline.default_transformers(), Recorder("other")]},
    ],
    ids=["size", "overlap", "context", "unit", "transformer-setting", "transformer-added"],
)
def test_a_changed_setting_invalidates(site: Path, tmp_path: Path, change: Dict[str, Any]) -> None:
    cache = tmp_path / "cache"
    _build(site, tmp_path / "a.vpack", cache, transformers=[*pipeline.default_transformers(), Recorder()])
    changed = {"transformers": [*pipeline.default_transformers(), Recorder()], **change}
    report = _build(site, tmp_path / "b.vpack", cache, **changed)
    assert report.documents_cached == 0
    # the embedding cache still answers whatever chunks did not change
    fresh = _build(site, tmp_path / "c.vpack", False, **changed)
    assert (tmp_path / "b.vpack").read_bytes() == (tmp_path / "c.vpack").read_bytes()
    assert fresh.chunks == report.chunks


def test_the_tokenizer_is_part_of_the_settings() -> None:
    steps = pipeline.default_transformers()
    small, big = HashEmbedder(32), HashEmbedder(64)
    try:
        by_small = pipeline.make_chunker("section", small, unit="tokens", size=50)
        by_big = pipeline.make_chunker("section", big, unit="tokens", size=50)
        in_chars = pipeline.make_chunker("section", small, size=50)
        prints = {settings_fingerprint(steps, c) for c in (by_small, by_big, in_chars)}
        assert len(prints) == 3 and None not in prints
        assert settings_fingerprint(steps, by_small) == settings_fingerprint(
            pipeline.default_transformers(), pipeline.make_chunker("section", small, unit="tokens", size=50)
        )
        # A token counter that is not an embedder's method cannot be identified: no cache.
        anonymous = SectionChunker(50, token_counter=lambda texts: [len(t.split()) for t in texts])
        assert settings_fingerprint(steps, anonymous) is None
    finally:
        small.close()
        big.close()


def test_plugins_that_cannot_be_fingerprinted_are_never_cached(site: Path, tmp_path: Path) -> None:
    class Opaque:
        def transform(self, document: Document) -> Optional[Document]:
            return document

    class Volatile(Recorder):
        cacheable = False

    for plugin in (Opaque(), Volatile()):
        cache = tmp_path / type(plugin).__name__
        steps = [*pipeline.default_transformers(), plugin]
        _build(site, tmp_path / "a.vpack", cache, transformers=steps)
        report = _build(site, tmp_path / "b.vpack", cache, transformers=steps)
        assert report.documents_cached == 0
        assert report.cache_hits == report.chunks  # the embedding cache still works
        with sqlite3.connect(cache / "embeddings.sqlite3") as db:
            assert db.execute("SELECT count(*) FROM documents").fetchone() == (0,)


def test_editing_a_plugins_code_invalidates(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    module = folder / "incr_upper_plugin.py"
    module.write_text(
        "class Upper:\n"
        "    def describe(self):\n        return {'kind': 'upper'}\n"
        "    def transform(self, document):\n        document.text = document.text.upper()\n"
        "        return document\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(folder))
    upper = importlib.import_module("incr_upper_plugin")
    try:
        cache = tmp_path / "cache"
        steps = [*pipeline.default_transformers(), upper.Upper()]
        assert _build(site, tmp_path / "a.vpack", cache, transformers=steps).documents_cached == 0
        assert _build(site, tmp_path / "a.vpack", cache, transformers=steps).documents_cached == 6
        module.write_text(module.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
        assert _build(site, tmp_path / "a.vpack", cache, transformers=steps).documents_cached == 0
    finally:
        sys.modules.pop("incr_upper_plugin", None)


def _documents(cache: Path) -> List[Any]:
    with sqlite3.connect(cache / "embeddings.sqlite3") as db:
        return db.execute("SELECT document, payload FROM documents").fetchall()


def _set_payload(cache: Path, document: bytes, payload: bytes, digest: Optional[bytes] = None) -> None:
    import hashlib

    with sqlite3.connect(cache / "embeddings.sqlite3") as db:
        db.execute(
            "UPDATE documents SET payload = ?, payload_sha256 = ? WHERE document = ?",
            (payload, digest if digest is not None else hashlib.sha256(payload).digest(), document),
        )


def test_damaged_rows_are_misses(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _build(site, tmp_path / "a.vpack", cache)
    _build(site, tmp_path / "fresh.vpack", False)
    rows = _documents(cache)
    assert len(rows) == 6
    (k0, p0), (k1, p1), (k2, p2), (k3, _) = rows[:4]
    _set_payload(cache, k0, p0[:-3] + b"xyz")  # the digest matches, zlib does not
    _set_payload(cache, k1, p1, digest=b"\0" * 32)  # the digest does not match
    wrong = json.loads(zlib.decompress(p2))
    wrong[0][1] = "not an offset"
    _set_payload(cache, k2, zlib.compress(json.dumps(wrong).encode()))  # valid JSON, wrong shape
    _set_payload(cache, k3, zlib.compress(b"{not json"))
    with sqlite3.connect(cache / "embeddings.sqlite3") as db:
        db.execute("UPDATE token_counts SET tokens = 'many'")  # every count unreadable
    report = _build(site, tmp_path / "b.vpack", cache)
    assert report.documents_cached == 2
    assert (tmp_path / "b.vpack").read_bytes() == (tmp_path / "fresh.vpack").read_bytes()
    # The damaged rows were written again.
    assert _build(site, tmp_path / "c.vpack", cache).documents_cached == 6
    assert (tmp_path / "c.vpack").read_bytes() == (tmp_path / "fresh.vpack").read_bytes()


def test_a_cache_that_fails_turns_document_reuse_off(site: Path, tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    _build(site, tmp_path / "a.vpack", folder)
    embedder = HashEmbedder(256)  # as embedder="hash": the vectors are in the cache
    try:
        chunker = pipeline.make_chunker("section", embedder, size=300)
        steps = pipeline.default_transformers()
        with EmbeddingCache(folder) as store:
            with sqlite3.connect(folder / "embeddings.sqlite3") as db:
                db.execute("DROP TABLE documents")
            with pipeline.run(
                pipeline.DirectorySource(site, pipeline.FOLDER_INCLUDE),
                chunker=chunker,
                embedder=embedder,
                transformers=steps,
                cache=store,
                output=tmp_path / "b.vpack",
                index=pipeline.with_lexical(None, True),  # as vpack.build stores by default
            ) as r:
                assert (r.report.documents, r.report.documents_cached) == (6, 0)
                assert r.report.cache_hits == r.report.chunks
    finally:
        embedder.close()
    _build(site, tmp_path / "c.vpack", False)
    assert (tmp_path / "b.vpack").read_bytes() == (tmp_path / "c.vpack").read_bytes()


def test_document_cache_open_needs_a_store() -> None:
    steps = pipeline.default_transformers()
    assert DocumentCache.open(None, steps, SectionChunker(100)) is None


def test_cli_reports_documents_reused_and_stages(site: Path, tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    out = str(tmp_path / "d.vpack")
    args = ("build", str(site), "-o", out, "--embedder", "hash", "--cache-dir", cache)
    ok(*args)
    text = ok(*args)
    assert "cache: 6 of 6 documents unchanged (not re-chunked)" in text
    report = json.loads(ok(*args, "--json"))
    assert report["documents_cached"] == 6
    assert list(report["seconds"]) == [*pipeline.STAGES, "total"]
    assert report["seconds"]["transform"] == 0.0 and report["seconds"]["chunk"] == 0.0
    report = json.loads(ok(*args, "--no-cache", "--json"))
    assert report["documents_cached"] == 0 and report["seconds"]["transform"] > 0


def _model_or_skip() -> None:
    from vpack import models

    if models.packaged_paths(models.DEFAULT_MODEL) is None or models.onnxruntime_library() is None:
        pytest.skip("default model or onnxruntime not installed")


def test_model_chunks_in_tokens_are_reused_bit_for_bit(tmp_path: Path) -> None:
    _model_or_skip()
    root = tmp_path / "docs"
    root.mkdir()
    words = "Open the file and iterate over it to read it line by line; each line keeps its newline. "
    (root / "a.md").write_text("# Files\n\n" + words * 12 + "\n\n## More\n\n" + words * 2, encoding="utf-8")
    (root / "b.md").write_text("# Birds\n\nBirds migrate south in autumn.\n", encoding="utf-8")
    cache = tmp_path / "cache"
    emb = vpack.make_embedder("model")
    try:
        opts: Dict[str, Any] = {"embedder": emb, "chunk_size": 64}
        first = _build(root, tmp_path / "a.vpack", cache, **opts)
        assert first.chunks >= 3 and first.documents_cached == 0
        second = _build(root, tmp_path / "b.vpack", cache, **opts)
        assert (second.documents_cached, second.cache_misses) == (2, 0)
        assert second.tokens == first.tokens
        _build(root, tmp_path / "c.vpack", False, **opts)
    finally:
        emb.close()
    # Chunks, token counts and vectors from the cache: the same bytes as without one.
    packs = [(tmp_path / f"{name}.vpack").read_bytes() for name in "abc"]
    assert packs[0] == packs[1] == packs[2]


def test_a_cache_from_before_the_document_table_keeps_its_vectors(site: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _build(site, tmp_path / "a.vpack", cache)
    with sqlite3.connect(cache / "embeddings.sqlite3") as db:  # as an older vpack left it
        db.execute("DROP TABLE documents")
        db.execute("DROP TABLE token_counts")
    report = _build(site, tmp_path / "b.vpack", cache)
    assert report.documents_cached == 0 and report.cache_hits == report.chunks
    assert _build(site, tmp_path / "c.vpack", cache).documents_cached == 6
    assert (tmp_path / "b.vpack").read_bytes() == (tmp_path / "c.vpack").read_bytes()
