"""The build configuration: vpack.toml, [tool.vpack], overrides, the effective config."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from vpack import config, pipeline
from vpack.config import BuildConfig, ConfigError, PluginSpec, SourceSpec
from vpack.plugins.sources import DEFAULT_INCLUDE

FULL = """\
output = "docs.vpack"
metric = "dot"
batch_size = 64
strict = true
include = ["**/*.md"]
exclude = ["drafts/**"]

[source]
kind = "directory"
root = "docs"

[[transformers]]
name = "html"

[[transformers]]
name = "normalize"
options = { collapse = true }

[chunker]
name = "recursive"
options = { size = 800, overlap = 100 }

[embedder]
name = "hash"
options = { dimension = 128 }
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def expected_full(origin: Path) -> BuildConfig:
    return BuildConfig(
        source=SourceSpec("directory", {"root": "docs"}),
        include=["**/*.md"],
        exclude=["drafts/**"],
        transformers=[PluginSpec("html"), PluginSpec("normalize", {"collapse": True})],
        chunker=PluginSpec("recursive", {"size": 800, "overlap": 100}),
        embedder=PluginSpec("hash", {"dimension": 128}),
        metric="dot",
        batch_size=64,
        output="docs.vpack",
        strict=True,
        origin=origin,
    )


def test_vpack_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "vpack.toml", FULL)
    loaded = config.load_config(tmp_path)
    assert loaded == expected_full(path)
    assert loaded is not None and loaded.origin == path


def test_pyproject_tool_vpack(tmp_path: Path) -> None:
    body = re.sub(r"^\[(\[?)(\w+)", r"[\1tool.vpack.\2", FULL, flags=re.M)
    top, _, tables = body.partition("[tool.vpack.source]")
    text = '[project]\nname = "x"\n\n[tool.vpack]\n' + top + "[tool.vpack.source]" + tables
    path = write(tmp_path, "pyproject.toml", text)
    loaded = config.load_config(tmp_path)
    assert loaded == expected_full(path)
    assert loaded is not None and loaded.origin == path


def test_defaults_and_absence(tmp_path: Path) -> None:
    assert config.load_config(tmp_path) is None
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n[tool.other]\nk = 1\n')
    assert config.load_config(tmp_path) is None
    write(tmp_path, "vpack.toml", "")
    defaults = config.load_config(tmp_path)
    assert defaults == BuildConfig()
    assert defaults is not None
    assert defaults.include == list(DEFAULT_INCLUDE)
    assert defaults.source == SourceSpec("directory")
    assert (defaults.chunker, defaults.embedder) == (PluginSpec("section"), PluginSpec("model"))
    assert (defaults.metric, defaults.output, defaults.strict) == ("cosine", None, False)
    assert config.DEFAULT_BATCH_SIZE == pipeline.DEFAULT_BATCH_SIZE == defaults.batch_size


def test_vpack_toml_wins_over_pyproject(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[tool.vpack]\nmetric = "l2"\nbogus = 1\n')
    path = write(tmp_path, "vpack.toml", 'metric = "dot"\n')
    loaded = config.load_config(tmp_path)
    assert loaded is not None
    assert loaded.metric == "dot"  # and the invalid pyproject table is not even read
    assert loaded.origin == path


def test_plugins_by_name_alone(tmp_path: Path) -> None:
    names = 'source = "jsonl"\nchunker = "section"\ntransformers = ["html", "markdown"]\n'
    write(tmp_path, "vpack.toml", names)
    loaded = config.load_config(tmp_path)
    assert loaded is not None
    assert loaded.source == SourceSpec("jsonl")
    assert loaded.chunker == PluginSpec("section")
    assert loaded.transformers == [PluginSpec("html"), PluginSpec("markdown")]
    write(tmp_path, "vpack.toml", '[source]\npath = "data.csv"\n')
    loaded = config.load_config(tmp_path)
    assert loaded is not None
    assert loaded.source == SourceSpec("directory", {"path": "data.csv"})  # kind defaults


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chunk_size = 5\n", "unknown key 'chunk_size' (expected one of: source, include"),
        ('[chunker]\nname = "fixed"\nsize = 5\n', "unknown key 'chunker.size'"),
        ('[[transformers]]\nname = "a"\n[[transformers]]\nnam = "x"\n', "unknown key 'transformers[1].nam'"),
        ("[embedder]\noptions = {}\n", "'embedder' needs a 'name'"),
        ('batch_size = "big"\n', "'batch_size' must be a positive integer, got 'big' (str)"),
        ("batch_size = 0\n", "'batch_size' must be a positive integer, got 0"),
        ("batch_size = true\n", "'batch_size' must be a positive integer, got True (bool)"),
        ('strict = "yes"\n', "'strict' must be true or false, got 'yes' (str)"),
        ('include = "**/*.md"\n', "'include' must be a list of strings"),
        ("exclude = [1]\n", "'exclude' must be a list of strings"),
        ('metric = "cos"\n', "'metric' must be one of 'cosine', 'dot', 'l2', got 'cos'"),
        ("output = 3\n", "'output' must be a non-empty path string, got 3 (int)"),
        ("chunker = 3\n", "'chunker' must be a plugin name or a table"),
        ('[chunker]\nname = ""\n', "'chunker.name' must be a non-empty string"),
        ('[chunker]\nname = "x"\noptions = 3\n', "'chunker.options' must be a table, got 3"),
        ("transformers = 'html'\n", "'transformers' must be a list of plugin names or tables"),
        ("[source]\nkind = 4\n", "'source.kind' must be a non-empty string, got 4"),
        ('[source]\nkind = "csv"\noptions = { path = "a.csv" }\n', "'source.options': a source's options"),
    ],
)
def test_bad_vpack_toml_names_key_and_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, "vpack.toml", text)
    with pytest.raises(ConfigError) as caught:
        config.load_config(tmp_path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_bad_pyproject_table_names_the_table(tmp_path: Path) -> None:
    path = write(tmp_path, "pyproject.toml", "[tool.vpack]\nmetrik = 'dot'\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path} [tool.vpack]: unknown key 'metrik'")):
        config.load_config(tmp_path)
    write(tmp_path, "pyproject.toml", "[tool]\nvpack = 3\n")
    with pytest.raises(ConfigError, match=r"\[tool.vpack\]: must be a table"):
        config.load_config(tmp_path)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "vpack.toml", "metric = \n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}: invalid TOML")):
        config.load_config(tmp_path)
    path.write_bytes(b'metric = "\xff"\n')
    with pytest.raises(ConfigError, match=re.escape(f"{path}: ")):
        config.load_config(tmp_path)


def test_merge_applies_overrides_without_touching_the_config(tmp_path: Path) -> None:
    write(tmp_path, "vpack.toml", FULL)
    base = config.load_config(tmp_path)
    assert base is not None
    merged = config.merge(
        base,
        {
            "output": tmp_path / "other.vpack",
            "metric": None,  # not given
            "include": ("**/*.txt",),
            "batch_size": 8,
            "strict": False,
            "chunker.size": 400,
            "source.root": Path("elsewhere"),
            "embedder": None,
        },
    )
    assert merged.output == str(tmp_path / "other.vpack")
    assert merged.metric == "dot"
    assert merged.include == ["**/*.txt"]
    assert (merged.batch_size, merged.strict) == (8, False)
    assert merged.chunker == PluginSpec("recursive", {"size": 400, "overlap": 100})
    assert merged.source == SourceSpec("directory", {"root": "elsewhere"})
    assert merged.embedder == PluginSpec("hash", {"dimension": 128})
    assert merged.origin == base.origin
    assert base == expected_full(tmp_path / "vpack.toml")  # unchanged


def test_merge_plugin_names_and_options() -> None:
    base = BuildConfig(embedder=PluginSpec("model", {"max_tokens": 512}))
    same = config.merge(base, {"embedder": "model", "embedder.pooling": "cls"})
    assert same.embedder == PluginSpec("model", {"max_tokens": 512, "pooling": "cls"})
    other = config.merge(base, {"embedder": "hash", "embedder.dimension": 64})
    assert other.embedder == PluginSpec("hash", {"dimension": 64})
    table = config.merge(base, {"embedder": {"name": "onnx", "options": {"model_dir": "m"}}})
    assert table.embedder == PluginSpec("onnx", {"model_dir": "m"})
    source = config.merge(BuildConfig(), {"source": "jsonl", "source.path": "a.jsonl"})
    assert source.source == SourceSpec("jsonl", {"path": "a.jsonl"})
    chain = config.merge(BuildConfig(), {"transformers": ["html", {"name": "normalize"}]})
    assert chain.transformers == [PluginSpec("html"), PluginSpec("normalize")]
    assert config.merge(base, {}) == base


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"chunk_size": 3}, "overrides: unknown key 'chunk_size'"),
        ({"metric.x": 3}, "overrides: unknown key 'metric.x'"),
        ({"chunker.": 3}, "overrides: unknown key 'chunker.'"),
        ({"metric": "manhattan"}, "overrides: 'metric' must be one of"),
        ({"batch_size": -1}, "overrides: 'batch_size' must be a positive integer"),
        ({"chunker.size": object()}, "overrides: 'chunker.size' must be a string, number"),
    ],
)
def test_merge_rejects_bad_overrides(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.merge(BuildConfig(), overrides)


def test_effective_is_json_and_parses_back(tmp_path: Path) -> None:
    write(tmp_path, "vpack.toml", FULL)
    loaded = config.load_config(tmp_path)
    assert loaded is not None
    data = config.effective(loaded)
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data == {
        "source": {"kind": "directory", "root": "docs"},
        "include": ["**/*.md"],
        "exclude": ["drafts/**"],
        "transformers": [
            {"name": "html", "options": {}},
            {"name": "normalize", "options": {"collapse": True}},
        ],
        "chunker": {"name": "recursive", "options": {"size": 800, "overlap": 100}},
        "embedder": {"name": "hash", "options": {"dimension": 128}},
        "metric": "dot",
        "batch_size": 64,
        "output": "docs.vpack",
        "strict": True,
        "allow_empty": False,
        "max_document_size": 64 << 20,
        "record_paths": False,
        "index": {"kind": "flat", "lexical": {}},
    }
    assert config.parse(data) == loaded
    defaults = config.effective(BuildConfig())
    assert defaults["output"] is None
    assert config.parse(json.loads(json.dumps(defaults))) == BuildConfig()


def test_effective_turns_toml_only_values_into_json(tmp_path: Path) -> None:
    write(
        tmp_path,
        "vpack.toml",
        '[chunker]\nname = "x"\n[chunker.options]\nsince = 2024-05-01\nat = 07:30:00\n'
        "limit = inf\nodd = nan\nnested = [{ when = 2024-05-01T10:00:00Z }]\n",
    )
    loaded = config.load_config(tmp_path)
    assert loaded is not None
    options = config.effective(loaded)["chunker"]["options"]
    json.dumps(options, allow_nan=False)
    assert options == {
        "since": "2024-05-01",
        "at": "07:30:00",
        "limit": "inf",
        "odd": "nan",
        "nested": [{"when": "2024-05-01T10:00:00+00:00"}],
    }


def test_module_docstring_example_is_a_valid_config(tmp_path: Path) -> None:
    assert config.__doc__ is not None
    example = config.__doc__.split("::\n\n", 1)[1].split("\n\nIn ", 1)[0]
    write(tmp_path, "vpack.toml", textwrap.dedent(example))
    loaded = config.load_config(tmp_path)
    assert loaded is not None
    assert loaded.source == SourceSpec("directory", {"root": "docs"})
    assert [t.name for t in loaded.transformers] == ["html", "normalize"]
    assert loaded.chunker == PluginSpec("section", {"size": 1000, "overlap": 200})
    assert loaded.output == "docs.vpack"


@pytest.mark.parametrize(
    ("given", "size"),
    [
        (4096, 4096),
        ("4096", 4096),
        ("64MiB", 64 << 20),
        ("64M", 64 << 20),
        ("64 mib", 64 << 20),
        ("500KB", 500_000),
        ("500kb", 500_000),
        ("2G", 2 << 30),
        ("1.5GiB", 3 << 29),
        ("1GB", 10**9),
        ("10b", 10),
    ],
)
def test_sizes(given: object, size: int) -> None:
    assert config.parse_size(given) == size


@pytest.mark.parametrize("given", [0, -1, "0", "", "lots", "64 XB", "1e6", True, 2.5, None])
def test_bad_sizes(given: object) -> None:
    with pytest.raises(ValueError):
        config.parse_size(given)


def test_max_document_size_and_record_paths_keys(tmp_path: Path) -> None:
    write(tmp_path, "vpack.toml", 'max_document_size = "1MiB"\nrecord_paths = true\n')
    loaded = config.load_config(tmp_path)
    assert loaded is not None
    assert (loaded.max_document_size, loaded.record_paths) == (1 << 20, True)
    assert BuildConfig().max_document_size == 64 << 20 and BuildConfig().record_paths is False
    merged = config.merge(loaded, {"max_document_size": "2K", "record_paths": False})
    assert (merged.max_document_size, merged.record_paths) == (2048, False)
    write(tmp_path, "vpack.toml", 'max_document_size = "big"\n')
    with pytest.raises(ConfigError, match="'max_document_size' must be a positive number of bytes"):
        config.load_config(tmp_path)


def test_effective_without_paths_keeps_no_machine_path() -> None:
    cfg = BuildConfig(
        source=SourceSpec("jsonl", {"path": "/home/someone/private/data.jsonl", "text_field": "body"}),
        embedder=PluginSpec("model", {"model_dir": "~/models/mine", "pooling": "cls"}),
        chunker=PluginSpec("recursive", {"separators": ["\n\n", "/", "//", " "], "size": 100}),
        output="/home/someone/private/x.vpack",
    )
    data = config.effective(cfg, paths=False)
    assert "/home/someone" not in json.dumps(data) and "~/models" not in json.dumps(data)
    assert data["output"] is None
    assert data["source"] == {"kind": "jsonl", "text_field": "body"}
    assert data["embedder"] == {"name": "model", "options": {"pooling": "cls"}}
    assert data["chunker"]["options"]["separators"] == ["\n\n", "/", "//", " "]
    relative = BuildConfig(source=SourceSpec("directory", {"root": "docs"}), output="docs.vpack")
    kept = config.effective(relative, paths=False)
    assert kept["source"] == {"kind": "directory", "root": "docs"} and kept["output"] is None
    assert config.effective(cfg)["output"] == "/home/someone/private/x.vpack"  # paths=True: everything
