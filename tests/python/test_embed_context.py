"""Contextual embedding: the section chunker's heading path, ``embed_context`` (chunks
embedded as "title > headings\\ntext", stored clean, sized to leave room for the
context line) through the chunker, the pipeline, the config and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import List, Sequence

import numpy as np
import pytest

import vpack
from vpack import config
from vpack.cli import main
from vpack.pipeline import build_from_config
from vpack.plugins import HashEmbedder
from vpack.plugins.base import Document
from vpack.plugins.chunkers import SectionChunker, context_line
from vpack.plugins.transformers import HtmlToText, MarkdownToText

BODY = " ".join(f"word{i}" for i in range(120))
PAGE = f"""# Models

Intro to models.

## Fields

{BODY}

### Field options

null and blank are options of every field.

## Managers

Managers run queries. {" ".join(f"manager{i}" for i in range(30))}
"""


def words(texts: List[str]) -> List[int]:
    return [len(t.split()) for t in texts]


def markdown(text: str = PAGE, title: str = "Models") -> Document:
    converted = MarkdownToText().transform(Document("m.md", text, {"path": "m.md", "title": title}))
    assert converted is not None
    return converted


def test_context_line_joins_title_and_heading_path() -> None:
    assert context_line("Guide", ["Install", "Linux"]) == "Guide > Install > Linux"
    # The title repeating the first heading (with a site suffix) is left out, and so
    # is a heading equal to the part before it.
    assert context_line("Models — Django documentation", ["Models", "Fields"]) == "Models > Fields"
    assert context_line("Guide", ["Guide", "Guide", " ", "Usage"]) == "Guide > Usage"
    assert context_line(None, []) == ""
    assert context_line("Only a title", []) == "Only a title"


def test_chunks_record_the_heading_path() -> None:
    chunks = list(SectionChunker(60, 0, token_counter=words).chunks(markdown()))
    paths = {c.metadata["section"]: c.metadata["headings"] for c in chunks}
    assert paths["Models"] == ["Models"]
    assert paths["Fields"] == ["Models", "Fields"]
    assert paths["Field options"] == ["Models", "Fields", "Field options"]
    assert paths["Managers"] == ["Models", "Managers"]  # a level-2 heading closes the level 3
    assert all(c.embed_text is None for c in chunks)  # nothing extra without embed_context


def test_html_heading_path() -> None:
    page = (
        "<html><head><title>Demo — Site</title></head><body><h1>Demo</h1><p>{0}</p>"
        "<h2>Install</h2><p>{0}</p><h3>Linux</h3><p>apt install demo. {0}</p></body></html>"
    ).format("Some words about this part of the page.")
    document = HtmlToText().transform(Document("d.html", page, {"path": "d.html"}))
    assert document is not None
    chunks = list(SectionChunker(100, embed_context=True).chunks(document))
    assert chunks[-1].metadata["headings"] == ["Demo", "Install", "Linux"]
    assert chunks[-1].embed_text is not None
    assert chunks[-1].embed_text.startswith("Demo > Install")


@pytest.mark.parametrize("tokens", [False, True])
def test_embed_context_reserves_room_for_the_context_line(tokens: bool) -> None:
    size = 40 if tokens else 300
    counter = words if tokens else None
    measure = (lambda t: len(t.split())) if tokens else len
    document = markdown()
    chunks = list(SectionChunker(size, 5, token_counter=counter, embed_context=True).chunks(document))
    plain = list(SectionChunker(size, 5, token_counter=counter).chunks(document))
    # Without the reserve the context line would not fit with the longest chunks.
    title = document.metadata.get("title")
    assert any(measure(f"{context_line(title, c.metadata['headings'])}\n{c.text}") > size for c in plain)
    for c in chunks:
        assert c.embed_text is not None
        line = context_line(document.metadata.get("title"), c.metadata["headings"])
        assert c.embed_text == f"{line}\n{c.text}"
        assert document.text[c.start : c.end] == c.text
        # The context line and the text together fit the size (a newline is one
        # character; in words it counts nothing, and the line is reserved one more).
        assert measure(c.embed_text) <= size
    assert any(measure(c.text) > size // 2 for c in chunks)
    assert "_context" not in str(chunks[0].metadata) and "\x00" not in "".join(chunks[0].metadata)


def test_long_context_line_takes_at_most_half_the_size() -> None:
    deep = "# " + " ".join(["heading"] * 50) + "\n\n" + BODY + "\n"
    document = markdown(deep, title="T")
    chunks = list(SectionChunker(40, 0, token_counter=words, embed_context=True).chunks(document))
    assert chunks and all(len(c.text.split()) <= 20 for c in chunks)
    assert max(len(c.text.split()) for c in chunks) == 20


class Recording:
    """A hash embedder that records the texts it is given."""

    def __init__(self) -> None:
        self.inner = HashEmbedder(32)
        self.seen: List[str] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.extend(texts)
        return self.inner.embed(texts)

    def describe(self) -> dict:  # type: ignore[type-arg]
        return dict(self.inner.describe())


def test_pipeline_embeds_the_context_and_stores_the_clean_text() -> None:
    docs = [{"id": "m.md", "text": PAGE, "metadata": {"path": "m.md"}}]
    recording = Recording()
    with vpack.build(
        docs, transformers=[MarkdownToText()], embedder=recording, embed_context=True, chunk_size=300
    ) as result:
        pack = result.pack
        stored = [pack.chunk(i).text for i in range(len(pack))]
        assert pack.manifest["chunker"]["embed_context"] == "{title} > {heading} > {sub-heading}\n{text}"
        options = pack.chunk(len(pack) - 1)
        assert options.metadata["headings"] == ["Models", "Managers"]
        assert not any(t.startswith("Models >") for t in stored)
        assert recording.seen == [
            f"{context_line('Models', pack.chunk(i).metadata['headings'])}\n{stored[i]}"
            for i in range(len(pack))
        ]
        # The stored vectors are those of the embedded (contextual) texts.
        assert np.allclose(np.array(pack.vectors), HashEmbedder(32).embed(recording.seen), atol=1e-6)
    with vpack.build(
        docs, transformers=[MarkdownToText()], embedder=HashEmbedder(32), chunk_size=300
    ) as result:
        assert "embed_context" not in result.pack.manifest["chunker"]


def test_embed_context_needs_the_section_chunker() -> None:
    with pytest.raises(ValueError, match="section chunker"):
        vpack.build(["text"], embedder=HashEmbedder(8), chunker="recursive", embed_context=True)
    with pytest.raises(ValueError, match="SectionChunker"):
        vpack.build(["text"], embedder=HashEmbedder(8), chunker=SectionChunker(), embed_context=True)
    with pytest.raises(TypeError):
        SectionChunker(embed_context="yes")  # type: ignore[arg-type]


def test_config_and_cli(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "m.md").write_text(PAGE, encoding="utf-8")
    (tmp_path / "vpack.toml").write_text(
        '[chunker]\nname = "section"\noptions = { embed_context = true }\n'
        '[embedder]\nname = "hash"\noptions = { dimension = 16 }\n',
        encoding="utf-8",
    )
    cfg = config.load_config(tmp_path)
    assert cfg is not None and cfg.chunker.options == {"embed_context": True}
    with build_from_config(cfg, tmp_path / "docs") as result:
        manifest = result.pack.manifest
        assert "embed_context" in manifest["chunker"]
        assert manifest["config"]["chunker"]["options"]["embed_context"] is True
    out = tmp_path / "cli.vpack"
    assert (
        main(["build", str(tmp_path / "docs"), "-o", str(out), "--embedder", "hash", "--embed-context"]) == 0
    )
    with vpack.open(out) as pack:
        assert "embed_context" in pack.manifest["chunker"]
        assert pack.manifest["config"]["chunker"]["options"]["embed_context"] is True
    plain = tmp_path / "plain.vpack"
    assert main(["build", str(tmp_path / "docs"), "-o", str(plain), "--embedder", "hash"]) == 0
    with vpack.open(plain) as pack:
        assert "embed_context" not in pack.manifest["chunker"]
