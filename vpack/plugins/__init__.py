"""Plugin kinds (Protocols) and the built-in plugins."""

from .base import Chunk, Chunker, Document, Embedder, Skipped, Source, Transformer
from .chunkers import FixedSizeChunker, RecursiveChunker, SectionChunker
from .embedders import HashEmbedder, OnnxEmbedder
from .sources import CsvSource, DirectorySource, IterableSource, JsonlSource
from .transformers import HtmlToText, MarkdownToText, NormalizeWhitespace

__all__ = [
    "Chunk",
    "Chunker",
    "CsvSource",
    "DirectorySource",
    "Document",
    "Embedder",
    "FixedSizeChunker",
    "HashEmbedder",
    "HtmlToText",
    "IterableSource",
    "JsonlSource",
    "MarkdownToText",
    "NormalizeWhitespace",
    "OnnxEmbedder",
    "RecursiveChunker",
    "SectionChunker",
    "Skipped",
    "Source",
    "Transformer",
]
