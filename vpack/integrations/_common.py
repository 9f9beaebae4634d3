"""What the framework adapters share: opening a pack given as a path, reading chunks in
batches, and the ImportError for a missing extra. Imports nothing outside vpack."""

from __future__ import annotations

import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from ..pack import Hit, Pack, _hits
from ..pack import open as open_pack

#: Metadata key under which a pack built by an adapter keeps each chunk's document id
#: (a string given by the framework, or generated). Adapters strip it from the
#: metadata they return and use it as the document's / node's id.
DOC_ID_KEY = "langchain_id"

#: Chunks read per native call when a whole pack is scanned.
READ_BATCH = 1024

PackLike = Union[Pack, str, "os.PathLike[str]"]


def missing_extra(module: str, extra: str, packages: str) -> ImportError:
    """The ImportError raised by ``vpack.integrations.<module>`` when ``packages`` are
    not installed."""
    return ImportError(
        f"vpack.integrations.{module} needs {packages}, which is not installed; "
        f'install it with: pip install "vpack-search[{extra}]"'
    )


def as_pack(
    pack: PackLike,
    model_dir: Union[str, os.PathLike[str], None] = None,
) -> Tuple[Pack, bool]:
    """``pack`` itself when it is an open :class:`~vpack.Pack` (the caller keeps owning
    it), else the pack at that path, opened (and owned by the adapter: ``True``)."""
    if isinstance(pack, Pack):
        if model_dir is not None:
            raise ValueError("model_dir applies to a pack given by path; open the Pack with it instead")
        return pack, False
    if isinstance(pack, (str, os.PathLike)):
        return open_pack(pack, model_dir=model_dir), True
    raise TypeError(f"pack must be a vpack.Pack or a path, got {type(pack).__name__}")


def read_chunks(pack: Pack, ids: Sequence[int]) -> List[Hit]:
    """The chunks with these ids (score 0.0), read with one native call per
    :data:`READ_BATCH` ids."""
    out: List[Hit] = []
    for start in range(0, len(ids), READ_BATCH):
        batch = [int(i) for i in ids[start : start + READ_BATCH]]
        # Same package: the batched reader behind Pack.search (Pack.chunk reads one).
        out.extend(_hits(batch, [0.0] * len(batch), pack._index.chunks(batch)))
    return out


def all_chunks(pack: Pack) -> Iterator[Hit]:
    """Every chunk of ``pack`` in id order, read in batches."""
    for start in range(0, len(pack), READ_BATCH):
        yield from read_chunks(pack, range(start, min(len(pack), start + READ_BATCH)))


def doc_id(hit: Hit) -> str:
    """The document id of a chunk: the id an adapter stored with it, else its position
    in the pack as a string."""
    stored = hit.metadata.get(DOC_ID_KEY)
    return stored if isinstance(stored, str) else str(hit.id)


def public_metadata(hit: Hit) -> Dict[str, Any]:
    """A copy of the chunk's metadata without the adapters' reserved id key."""
    meta = dict(hit.metadata)
    meta.pop(DOC_ID_KEY, None)
    return meta


def manifest_embedder(pack: Optional[Pack]) -> Optional[Dict[str, Any]]:
    """The embedder the pack records (None for a pack of bring-your-own vectors)."""
    if pack is None:
        return None
    recorded = pack.manifest.get("embedder")
    return recorded if isinstance(recorded, dict) else None
