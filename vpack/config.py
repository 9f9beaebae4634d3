"""The build configuration: ``vpack.toml``, or ``[tool.vpack]`` in ``pyproject.toml``.

:func:`load_config` looks in one folder (it does not search upwards). A ``vpack.toml``
there holds the settings as top-level keys; without one, the ``[tool.vpack]`` table of
a ``pyproject.toml`` is used. When both exist, ``vpack.toml`` wins and ``pyproject.toml``
is not read at all. Every key is optional; an unknown key or a value of the wrong type
is a :class:`ConfigError` naming the key and the file. A complete ``vpack.toml``, with
the default values where there is one::

    output = "docs.vpack"         # the pack to write (default: none, the CLI's -o)
    metric = "cosine"             # "cosine", "dot" or "l2"
    batch_size = 256              # chunks per embedding batch in the pipeline
    strict = false                # true: a skipped document fails the build
    allow_empty = false           # true: a build that finds no document writes an empty pack
    max_document_size = "64MiB"   # larger documents are skipped (bytes, or 500KB, 64MiB, 1G...)
    record_paths = false          # true: keep this machine's paths in the manifest's config
    include = ["**/*.txt", "**/*.md", "**/*.markdown", "**/*.rst", "**/*.html", "**/*.htm"]
    exclude = []                  # globs over paths relative to the source folder

    [source]                      # a source plugin ("source.<kind>" in the registry)
    kind = "directory"            # directory, jsonl, csv, or an installed plugin
    root = "docs"                 # every other key goes to the plugin as an option

    [[transformers]]              # applied in order; default: none
    name = "html"

    [[transformers]]
    name = "normalize"
    options = { }

    [chunker]                     # a chunker plugin: fixed, recursive, section, ...
    name = "section"
    options = { size = 1000, overlap = 200 }   # section also takes embed_context = true

    [embedder]                    # an embedder plugin: model, onnx, hash, ...
    name = "model"
    options = { max_tokens = 256 }

    [index]                       # the search structure stored in the pack
    kind = "flat"                 # "flat" (exact), "hnsw" (approximate graph), or "auto"
                                  # (hnsw from 50,000 chunks on, else flat)
    m = 16                        # hnsw: links per node (2..256)
    ef_construction = 200         # hnsw: build effort (1..65536)
    ef_search = 64                # hnsw: default search effort recorded in the pack (1..65536)
    threads = 4                   # hnsw: build threads (default: all cores; same bytes on any)
    codes = "int8"                # compressed vectors for the flat scan: "f32" (none), "f16", "int8"
    rescore = 4                   # with codes: candidates scored exactly per hit (1..1024)
    codes_only = false            # true (flat, f16/int8, no rescore): drop the f32 vectors
    lexical = true                # a BM25 index for lexical and hybrid queries (false: none),
                                  # or a table {k1, b, fields, hybrid_weight, stem}

In ``pyproject.toml`` the same keys sit under ``[tool.vpack]`` (``[tool.vpack.source]``,
``[[tool.vpack.transformers]]``, ``[tool.vpack.chunker]`` and so on). ``chunker``,
``embedder``, ``source`` and each transformer may also be given as just a name:
``chunker = "recursive"``, and ``index`` as just a kind: ``index = "hnsw"``. Options
are passed to the plugin's constructor as keyword arguments
(``vpack.registry.create(kind, name, **options)``). ``batch_size`` is the
pipeline's batch; a model's own batch size is an embedder option. Relative paths are
relative to the folder holding the file (``BuildConfig.origin``) and are kept as written.

:func:`merge` applies command-line overrides, and :func:`effective` gives the resulting
settings as JSON-able data for the pack's manifest; :func:`parse` reads that data (or
any mapping shaped like the file) back. The manifest gets ``effective(config,
paths=False)`` unless ``record_paths`` is true: without ``output`` and without any
plugin option whose value is an absolute path (such as a source ``root`` or an
embedder ``model_dir``), so a pack does not depend on where it was written or built
from, and does not carry this machine's paths.

Sizes (``max_document_size``) are a number of bytes or a string: a number with a
suffix ``K``, ``M``, ``G`` or ``KiB``, ``MiB``, ``GiB`` (powers of 1024) or ``KB``,
``MB``, ``GB`` (powers of 1000), case-insensitive: ``"64MiB"``, ``"500KB"``, ``"1.5G"``.
"""

from __future__ import annotations

import copy
import datetime
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from .plugins.base import DEFAULT_MAX_DOCUMENT_SIZE
from .plugins.sources import DEFAULT_INCLUDE

if sys.version_info >= (3, 11):
    import tomllib
else:  # the tomli backport is a dependency before 3.11
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

#: The pipeline's default batch (``vpack.pipeline.DEFAULT_BATCH_SIZE``).
DEFAULT_BATCH_SIZE = 256
METRICS = ("cosine", "dot", "l2")
#: The index kind of a pack when none is asked for (``PackBuilder``, ``vpack.build``,
#: ``vpack build``).
DEFAULT_INDEX = "flat"
INDEX_KINDS = ("flat", "hnsw", "auto")
#: The library's limits for the HNSW parameters (``m``; ``ef_construction`` and
#: ``ef_search``).
MAX_M = 256
MAX_EF = 1 << 16
FILE_NAME = "vpack.toml"


class ConfigError(ValueError):
    """A configuration file or override that cannot be used, naming the key and file."""


_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([kmgt])(i?)b?|b)?\s*", re.IGNORECASE)
_SIZE_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4}


def parse_size(value: Any, key: str = "size") -> int:
    """A positive number of bytes from an integer or a string such as ``"64MiB"``,
    ``"500KB"``, ``"1.5G"`` or ``"4096"``: ``K``/``M``/``G``/``T`` and ``KiB``... are
    powers of 1024, ``KB``/``MB``... powers of 1000. Raises ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{key} must be a positive number of bytes or a size like '64MiB', got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and _SIZE.fullmatch(value):
        found = _SIZE.fullmatch(value)
        assert found is not None
        number, unit, binary = found.groups()
        if unit is None:
            scale = 1
        else:
            power = _SIZE_POWERS[unit.lower()]
            decimal = not binary and value.strip().lower().endswith("b")
            scale = 1000**power if decimal else 1024**power
        size = int(float(number) * scale) if "." in number else int(number) * scale
    else:
        raise ValueError(f"{key} must be a positive number of bytes or a size like '64MiB', got {value!r}")
    if size <= 0:
        raise ValueError(f"{key} must be positive, got {value!r}")
    return size


@dataclass
class PluginSpec:
    """A plugin by registry name, and the keyword arguments to create it with."""

    name: str
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceSpec:
    """The source plugin (``source.<kind>``) and its options."""

    kind: str = "directory"
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class IndexSpec:
    """The pack's index: ``kind`` and the HNSW parameters (None: the library's
    default, see :class:`vpack.PackBuilder`); ``lexical`` the BM25 index's parameters
    (``{}``, the default: the library's; None: no lexical index)."""

    kind: str = DEFAULT_INDEX
    m: Optional[int] = None
    ef_construction: Optional[int] = None
    ef_search: Optional[int] = None
    threads: Optional[int] = None
    codes: Optional[str] = None
    rescore: Optional[int] = None
    codes_only: Optional[bool] = None
    lexical: Optional[Dict[str, Any]] = field(default_factory=dict)

    def settings(self) -> Dict[str, Any]:
        """The settings as ``vpack.toml``'s ``[index]`` table holds them: the builder's
        options, plus ``lexical = false`` when there is no lexical index (so that parsing
        them gives this spec back; the default has one)."""
        out = self.options()
        if self.lexical is None:
            out["lexical"] = False
        return out

    def options(self) -> Dict[str, Any]:
        """The builder's ``index`` option: the kind and every parameter that is set."""
        out: Dict[str, Any] = {"kind": self.kind}
        if self.codes is not None:
            out["codes"] = self.codes
        if self.codes_only is not None:
            out["codes_only"] = self.codes_only
        if self.lexical is not None:
            out["lexical"] = dict(self.lexical)
        for key in _INDEX_PARAMS:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@dataclass
class BuildConfig:
    """Every build setting; the defaults are those of ``vpack build`` without flags.
    ``origin`` is the file the settings were read from (None when none was)."""

    source: SourceSpec = field(default_factory=SourceSpec)
    include: List[str] = field(default_factory=lambda: list(DEFAULT_INCLUDE))
    exclude: List[str] = field(default_factory=list)
    transformers: List[PluginSpec] = field(default_factory=list)
    chunker: PluginSpec = field(default_factory=lambda: PluginSpec("section"))
    embedder: PluginSpec = field(default_factory=lambda: PluginSpec("model"))
    metric: str = "cosine"
    batch_size: int = DEFAULT_BATCH_SIZE
    output: Optional[str] = None
    strict: bool = False
    allow_empty: bool = False
    max_document_size: int = DEFAULT_MAX_DOCUMENT_SIZE
    record_paths: bool = False
    index: IndexSpec = field(default_factory=IndexSpec)
    origin: Optional[Path] = field(default=None, compare=False)


# Checking values. Each checker takes (value, where, key) and returns the value to store.


def _type_name(value: Any) -> str:
    return type(value).__name__


def _fail(where: str, key: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{where}: {key!r} must be {expected}, got {value!r} ({_type_name(value)})")


def _check_keys(table: Mapping[str, Any], allowed: List[str], where: str, prefix: str = "") -> None:
    for key in table:
        if key not in allowed:
            hint = f"; plugin settings go under '{prefix}options'" if prefix else ""
            raise ConfigError(
                f"{where}: unknown key {prefix + str(key)!r} (expected one of: {', '.join(allowed)}{hint})"
            )


def _name(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, key, "a non-empty string", value)
    return value


def _option_value(value: Any, where: str, key: str) -> Any:
    """A plugin option as stored: paths become strings and tuples lists; anything TOML
    cannot express (other than None) is refused."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (bool, int, float, str, datetime.date, datetime.time)):
        return value
    if isinstance(value, (list, tuple)):
        return [_option_value(v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _fail(where, f"{key}", "a table with string keys", value)
            out[k] = _option_value(v, where, f"{key}.{k}")
        return out
    raise _fail(where, key, "a string, number, boolean, date, list or table", value)


def _options(value: Any, where: str, key: str) -> Dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, key, "a table", value)
    return {str(k): _option_value(v, where, f"{key}.{k}") for k, v in value.items()}


def _plugin(value: Any, where: str, key: str) -> PluginSpec:
    if isinstance(value, str):
        return PluginSpec(_name(value, where, key))
    if not isinstance(value, Mapping):
        raise _fail(where, key, "a plugin name or a table with 'name' and 'options'", value)
    _check_keys(value, ["name", "options"], where, prefix=f"{key}.")
    if "name" not in value:
        raise ConfigError(f"{where}: {key!r} needs a 'name'")
    return PluginSpec(
        _name(value["name"], where, f"{key}.name"),
        _options(value.get("options", {}), where, f"{key}.options"),
    )


def _source(value: Any, where: str, key: str) -> SourceSpec:
    if isinstance(value, str):
        return SourceSpec(_name(value, where, key))
    if not isinstance(value, Mapping):
        raise _fail(where, key, "a source kind or a table with 'kind' and options", value)
    if isinstance(value.get("options"), Mapping):
        raise ConfigError(
            f"{where}: {key + '.options'!r}: a source's options are keys of its own table, "
            f"next to 'kind' (for example root = \"docs\")"
        )
    options = _options(value, where, key)
    kind = options.pop("kind", "directory")
    return SourceSpec(_name(kind, where, f"{key}.kind"), options)


def _transformers(value: Any, where: str, key: str) -> List[PluginSpec]:
    if not isinstance(value, (list, tuple)):
        raise _fail(where, key, "a list of plugin names or tables", value)
    return [_plugin(v, where, f"{key}[{i}]") for i, v in enumerate(value)]


def _globs(value: Any, where: str, key: str) -> List[str]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _fail(where, key, "a list of strings", value)
    return list(value)


def _metric(value: Any, where: str, key: str) -> str:
    if value not in METRICS:
        raise _fail(where, key, f"one of {', '.join(repr(m) for m in METRICS)}", value)
    return str(value)


def _batch_size(value: Any, where: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail(where, key, "a positive integer", value)
    return value


def _output(value: Any, where: str, key: str) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value:
        raise _fail(where, key, "a non-empty path string", value)
    return value


def _strict(value: Any, where: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, key, "true or false", value)
    return value


def _size(value: Any, where: str, key: str) -> int:
    try:
        return parse_size(value, key)
    except ValueError:
        raise _fail(where, key, "a positive number of bytes or a size such as '64MiB'", value) from None


_INDEX_PARAMS = {
    "m": (2, MAX_M),
    "ef_construction": (1, MAX_EF),
    "ef_search": (1, MAX_EF),
    "threads": (1, None),
    "rescore": (1, 1024),
}

#: Compressed vector kinds the library stores (``f32``: none).
CODE_KINDS = ("f32", "f16", "int8")
#: Index keys that are not integer parameters.
_INDEX_NAMED = ("kind", "codes", "codes_only", "lexical")
#: Keys of the ``[index.lexical]`` table (the library checks their values).
_LEXICAL_KEYS = ("k1", "b", "fields", "hybrid_weight", "stem")


def _index_kind(value: Any, where: str, key: str) -> str:
    if value not in INDEX_KINDS:
        raise _fail(where, key, f"one of {', '.join(repr(k) for k in INDEX_KINDS)}", value)
    return str(value)


def _lexical(value: Any, where: str, key: str) -> Optional[Dict[str, Any]]:
    """``lexical = true`` (the defaults), ``false`` (none) or a table of parameters."""
    if isinstance(value, bool):
        return {} if value else None
    if not isinstance(value, Mapping):
        raise _fail(where, key, f"true, false or a table of {', '.join(_LEXICAL_KEYS)}", value)
    for name in value:
        if name not in _LEXICAL_KEYS:
            expected = ", ".join(_LEXICAL_KEYS)
            raise ConfigError(f"{where}: unknown key {key + '.' + str(name)!r} (expected one of: {expected})")
    return dict(value)


def _index(value: Any, where: str, key: str) -> IndexSpec:
    if isinstance(value, IndexSpec):
        value = value.settings()
    if isinstance(value, str):
        return IndexSpec(_index_kind(value, where, key))
    if not isinstance(value, Mapping):
        raise _fail(where, key, "an index kind or a table with 'kind' and its parameters", value)
    for name in value:
        if name not in _INDEX_NAMED and name not in _INDEX_PARAMS:
            raise ConfigError(
                f"{where}: unknown key {key + '.' + str(name)!r} "
                f"(expected one of: {', '.join([*_INDEX_NAMED, *_INDEX_PARAMS])})"
            )
    spec = IndexSpec()
    for name, item in value.items():
        if item is None:
            continue
        if name == "kind":
            spec.kind = _index_kind(item, where, f"{key}.kind")
            continue
        if name == "codes":
            if item not in CODE_KINDS:
                raise _fail(where, f"{key}.codes", f"one of {', '.join(repr(c) for c in CODE_KINDS)}", item)
            spec.codes = str(item)
            continue
        if name == "codes_only":
            if not isinstance(item, bool):
                raise _fail(where, f"{key}.codes_only", "true or false", item)
            spec.codes_only = item
            continue
        if name == "lexical":
            spec.lexical = _lexical(item, where, f"{key}.lexical")
            continue
        low, high = _INDEX_PARAMS[name]
        if (
            isinstance(item, bool)
            or not isinstance(item, int)
            or item < low
            or (high is not None and item > high)
        ):
            expected = f"an integer in {low}..{high}" if high is not None else "a positive integer"
            raise _fail(where, f"{key}.{name}", expected, item)
        setattr(spec, name, item)
    return spec


_FIELDS: Dict[str, Callable[[Any, str, str], Any]] = {
    "source": _source,
    "include": _globs,
    "exclude": _globs,
    "transformers": _transformers,
    "chunker": _plugin,
    "embedder": _plugin,
    "metric": _metric,
    "batch_size": _batch_size,
    "output": _output,
    "strict": _strict,
    "allow_empty": _strict,
    "max_document_size": _size,
    "record_paths": _strict,
    "index": _index,
}
_PLUGIN_FIELDS = ("source", "chunker", "embedder")


def parse(data: Mapping[str, Any], where: str = "config") -> BuildConfig:
    """A :class:`BuildConfig` from a mapping shaped like ``vpack.toml`` (or like the
    output of :func:`effective`; a None value, which TOML cannot hold, keeps the
    default). ``where`` names the origin in error messages."""
    _check_keys(data, list(_FIELDS), where)
    config = BuildConfig()
    for key, value in data.items():
        if value is not None:
            setattr(config, key, _FIELDS[key](value, where, key))
    return config


def _read_toml(path: Path) -> Dict[str, Any]:
    try:
        with path.open("rb") as f:
            data: Dict[str, Any] = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8: {exc.reason} at byte {exc.start}") from exc
    return data


def load_file(path: os.PathLike[str] | str) -> Optional[BuildConfig]:
    """The configuration in one file: a ``pyproject.toml``'s ``[tool.vpack]`` table (None
    when it has none), or any other file's top-level keys (``vpack.toml``)."""
    path = Path(path)
    if path.name == "pyproject.toml":
        tool = _read_toml(path).get("tool", {})
        section = tool.get("vpack") if isinstance(tool, dict) else None
        if section is None:
            return None
        where = f"{path} [tool.vpack]"
        if not isinstance(section, dict):
            raise ConfigError(f"{where}: must be a table, got {_type_name(section)}")
        config = parse(section, where)
    else:
        config = parse(_read_toml(path), str(path))
    config.origin = path
    return config


def load_config(start_dir: os.PathLike[str] | str = ".") -> Optional[BuildConfig]:
    """The configuration in ``start_dir``: its ``vpack.toml`` if there is one, else the
    ``[tool.vpack]`` table of its ``pyproject.toml``, else None."""
    folder = Path(start_dir)
    if (folder / FILE_NAME).is_file():
        return load_file(folder / FILE_NAME)
    if (folder / "pyproject.toml").is_file():
        return load_file(folder / "pyproject.toml")
    return None


def merge(config: BuildConfig, overrides: Mapping[str, Any]) -> BuildConfig:
    """A copy of ``config`` with ``overrides`` applied; a None value means "not given".

    Keys are the config's keys (``"output"``, ``"metric"``, ``"include"``, ...) plus
    ``"<plugin>.<option>"`` for one option of ``source``, ``chunker`` or ``embedder``
    (``{"chunker.size": 500, "embedder.dimension": 128, "source.root": "docs"}``) and
    ``"index.<parameter>"`` for one index parameter (``{"index": "hnsw", "index.m": 32}``).
    A plugin given by name keeps its configured options when the name is unchanged and
    starts without options when it changes; single options are applied after that. An
    index given by kind keeps its configured parameters (they apply to hnsw and auto)."""
    where = "overrides"
    out = copy.deepcopy(config)
    options = []
    index_params: List[Tuple[str, Any]] = []
    for key, value in overrides.items():
        if value is None:
            continue
        head, dot, option = key.partition(".")
        if dot and head == "index":
            if option not in _INDEX_PARAMS and option not in _INDEX_NAMED:
                raise ConfigError(
                    f"{where}: unknown key {key!r} (expected one of: "
                    f"{', '.join('index.' + p for p in [*_INDEX_NAMED, *_INDEX_PARAMS])})"
                )
            index_params.append((option, value))
        elif dot:
            if head not in _PLUGIN_FIELDS or not option:
                raise ConfigError(
                    f"{where}: unknown key {key!r} (a single option is "
                    f"'source.<option>', 'chunker.<option>', 'embedder.<option>' or 'index.<parameter>')"
                )
            options.append((head, option, _option_value(value, where, key)))
        elif key not in _FIELDS:
            raise ConfigError(f"{where}: unknown key {key!r} (expected one of: {', '.join(_FIELDS)})")
        else:
            new = _FIELDS[key](value, where, key)
            current = getattr(out, key)
            if isinstance(value, str) and isinstance(new, IndexSpec):
                new = _index({**current.settings(), "kind": new.kind}, where, key)
            elif (isinstance(value, str) and isinstance(new, SourceSpec) and new.kind == current.kind) or (
                isinstance(value, str) and isinstance(new, PluginSpec) and new.name == current.name
            ):
                new = current
            setattr(out, key, new)
    for head, option, value in options:
        getattr(out, head).options[option] = value
    if index_params:
        out.index = _index({**out.index.settings(), **dict(index_params)}, where, "index")
    return out


def _json(value: Any) -> Any:
    """TOML values as JSON: dates and times become ISO 8601 strings, and infinite or NaN
    floats the strings "inf", "-inf" and "nan"."""
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def _plugin_json(spec: PluginSpec) -> Dict[str, Any]:
    return {"name": spec.name, "options": _json(spec.options)}


def _machine_path(value: Any) -> bool:
    """Whether an option value is a path that only means something on this machine: an
    absolute path, or one from a home folder (``~``), naming more than a root."""
    if not isinstance(value, str) or "\n" in value or not value.strip("/\\~"):
        return False
    return os.path.isabs(value) or value.startswith("~")


def _without_paths(value: Any) -> Any:
    """Options without the entries whose value is an absolute path (at any depth)."""
    if isinstance(value, dict):
        return {k: _without_paths(v) for k, v in value.items() if not _machine_path(v)}
    if isinstance(value, list):
        return [_without_paths(v) for v in value if not _machine_path(v)]
    return value


def effective(config: BuildConfig, paths: bool = True) -> Dict[str, Any]:
    """The settings as JSON-able data (for the pack's manifest), shaped like
    ``vpack.toml``, so ``parse(effective(config))`` gives the same settings back.

    With ``paths=False`` (what the manifest gets unless ``record_paths`` is set) the
    settings that name places on this machine are left out: ``output`` (None), and
    every plugin option whose value is an absolute path (``/...``, ``~...``), such as
    a source ``root`` or an embedder ``model_dir``; relative paths, which mean the same
    wherever the project is, are kept."""
    data: Dict[str, Any] = {
        "source": {"kind": config.source.kind, **_json(config.source.options)},
        "include": list(config.include),
        "exclude": list(config.exclude),
        "transformers": [_plugin_json(t) for t in config.transformers],
        "chunker": _plugin_json(config.chunker),
        "embedder": _plugin_json(config.embedder),
        "metric": config.metric,
        "batch_size": config.batch_size,
        "output": config.output,
        "strict": config.strict,
        "allow_empty": config.allow_empty,
        "max_document_size": config.max_document_size,
        "record_paths": config.record_paths,
        "index": config.index.settings(),
    }
    if not paths:
        data["output"] = None
        for key in ("source", "transformers", "chunker", "embedder"):
            data[key] = _without_paths(data[key])
    return data


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_INDEX",
    "FILE_NAME",
    "INDEX_KINDS",
    "METRICS",
    "BuildConfig",
    "ConfigError",
    "IndexSpec",
    "PluginSpec",
    "SourceSpec",
    "effective",
    "load_config",
    "merge",
    "parse",
    "parse_size",
]
