"""Plugin kinds (Protocols) and the built-in plugins."""

from .base import Chunk, Chunker, Document, Embedder, Skipped, Source, Transformer
from .chunkers import FixedSizeChunker
from .embedders import HashEmbedder, OnnxEmbedder
from .sources import DirectorySource

__all__ = [
    "Chunk",
    "Chunker",
    "DirectorySource",
    "Document",
    "Embedder",
    "FixedSizeChunker",
    "HashEmbedder",
    "OnnxEmbedder",
    "Skipped",
    "Source",
    "Transformer",
]
