"""Finding plugins by name through the ``vpack.plugins`` entry-point group.

A distribution offers a plugin by declaring an entry point named ``<kind>.<name>``,
where kind is one of :data:`KINDS`, pointing at a class or factory::

    [project.entry-points."vpack.plugins"]
    "chunker.sentences" = "my_package.chunking:SentenceChunker"

Once that distribution is installed, ``create("chunker", "sentences", size=400)`` calls
``SentenceChunker(size=400)``. vpack registers its own plugins the same way (see its
``pyproject.toml``). Entry points are read afresh on every call, so plugins installed
while the process runs are found. When two installed distributions declare the same
name, the one found first on ``sys.path`` wins.

The kinds are the build's five stages (source, transformer, chunker, embedder, output)
and ``reranker``, the optional second stage of a search (``Pack.search(...,
rerank="<name>")``, ``vpack query --rerank <name>``); ``vpack plugins`` lists them all.
"""

from __future__ import annotations

import sys
from importlib import metadata
from typing import Any, Callable, Dict, Iterable, List

GROUP = "vpack.plugins"
KINDS = ("source", "transformer", "chunker", "embedder", "output", "reranker")


class PluginNotFoundError(LookupError):
    """No installed plugin of ``kind`` is called ``name``; ``available`` lists those that are."""

    def __init__(self, kind: str, name: str, available: List[str]) -> None:
        self.kind = kind
        self.name = name
        self.available = available
        names = ", ".join(available) if available else "none installed"
        super().__init__(f"no {kind} plugin named {name!r} (available: {names})")


class PluginLoadError(ImportError):
    """A plugin's entry point is declared but its target could not be imported, or is
    not callable. The original exception is chained as ``__cause__``."""


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown plugin kind {kind!r} (expected one of: {', '.join(KINDS)})")


def _group() -> Iterable[metadata.EntryPoint]:
    if sys.version_info >= (3, 10):
        return metadata.entry_points(group=GROUP)
    return metadata.entry_points().get(GROUP, ())  # 3.9: a dict of group -> entry points


def _entry_points(kind: str) -> Dict[str, metadata.EntryPoint]:
    """The entry points of ``kind`` by plugin name, first found first; names that are not
    ``<kind>.<name>`` are ignored."""
    found: Dict[str, metadata.EntryPoint] = {}
    for ep in _group():
        prefix, dot, name = ep.name.partition(".")
        if prefix == kind and dot and name:
            found.setdefault(name, ep)
    return found


def available(kind: str) -> Dict[str, str]:
    """Installed plugins of ``kind``: name -> ``"module:attribute"``, sorted by name."""
    _check_kind(kind)
    return {name: ep.value for name, ep in sorted(_entry_points(kind).items())}


def load(kind: str, name: str) -> Callable[..., Any]:
    """The class or factory registered as ``<kind>.<name>``. Raises
    :class:`PluginNotFoundError` (listing the available names) when there is none, and
    :class:`PluginLoadError` when its target cannot be imported."""
    _check_kind(kind)
    entry_points = _entry_points(kind)
    ep = entry_points.get(name)
    if ep is None:
        raise PluginNotFoundError(kind, name, sorted(entry_points))
    try:
        target: Callable[..., Any] = ep.load()
    except Exception as exc:
        raise PluginLoadError(f"{kind} plugin {name!r} ({ep.value}) could not be loaded: {exc}") from exc
    if not callable(target):
        raise PluginLoadError(f"{kind} plugin {name!r} ({ep.value}) is not callable")
    return target


def create(kind: str, name: str, **options: Any) -> Any:
    """An instance of the plugin ``<kind>.<name>``, made with ``options`` as keyword
    arguments."""
    return load(kind, name)(**options)


__all__ = ["GROUP", "KINDS", "PluginLoadError", "PluginNotFoundError", "available", "create", "load"]
