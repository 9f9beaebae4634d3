"""Plugin kinds (Protocols) and the built-in plugins."""

from .base import Chunk, Chunker, Document, Embedder, Output, Reranker, Skipped, Source, Transformer
from .chunkers import FixedSizeChunker, RecursiveChunker, SectionChunker
from .embedders import HashEmbedder, OnnxEmbedder
from .outputs import BytesOutput, FileOutput
from .sources import CsvSource, DirectorySource, IterableSource, JsonlSource
from .transformers import HtmlToText, MarkdownToText, NormalizeWhitespace

__all__ = [
    "BytesOutput",
    "Chunk",
    "Chunker",
    "CsvSource",
    "DirectorySource",
    "Document",
    "Embedder",
    "FileOutput",
    "FixedSizeChunker",
    "HashEmbedder",
    "HtmlToText",
    "IterableSource",
    "JsonlSource",
    "MarkdownToText",
    "NormalizeWhitespace",
    "OnnxEmbedder",
    "Output",
    "RecursiveChunker",
    "Reranker",
    "SectionChunker",
    "Skipped",
    "Source",
    "Transformer",
]
