"""VectorPack: build one portable .vpack file from a folder of documents and answer
meaning-based queries in-process.

    >>> import vpack
    >>> with vpack.build("docs/", "docs.vpack") as result:   # doctest: +SKIP
    ...     print(result.report.chunks)
    >>> with vpack.open("docs.vpack") as pack:               # doctest: +SKIP
    ...     for hit in pack.search("how do I read a file", k=5):
    ...         print(hit.score, hit.source, hit.text[:80])
"""

from ._native import FORMAT_VERSION, VERSION
from .builder import PackBuilder
from .errors import (
    CorruptPackError,
    DimensionMismatchError,
    InvalidArgumentError,
    InvalidJSONError,
    InvalidUTF8Error,
    LimitExceededError,
    ModelError,
    NotFoundError,
    NullArgumentError,
    PackIOError,
    PanicError,
    RuntimeLoadError,
    UnsupportedVersionError,
    VPackError,
)
from .pack import Hit, Pack, open, write_set  # noqa: A004 (vpack.open, like gzip.open)
from .pipeline import BuildReport, BuildResult, StrictBuildError, build, make_embedder, run
from .rerank import RerankedHit, RerankError

__version__ = VERSION

__all__ = [
    "FORMAT_VERSION",
    "BuildReport",
    "BuildResult",
    "CorruptPackError",
    "DimensionMismatchError",
    "Hit",
    "InvalidArgumentError",
    "InvalidJSONError",
    "InvalidUTF8Error",
    "LimitExceededError",
    "ModelError",
    "NotFoundError",
    "NullArgumentError",
    "Pack",
    "PackBuilder",
    "PackIOError",
    "PanicError",
    "RerankError",
    "RerankedHit",
    "StrictBuildError",
    "RuntimeLoadError",
    "UnsupportedVersionError",
    "VPackError",
    "build",
    "make_embedder",
    "open",
    "run",
    "write_set",
    "__version__",
]
