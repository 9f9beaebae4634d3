"""Every status code surfaces as its own exception class with the library's code and
message, through the real native library."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import vpack
from vpack import _native, errors
from vpack.builder import PackBuilder

from .conftest import random_vectors


def test_codes_match_the_header() -> None:
    lib = _native.lib
    expected = {
        "VPACK_E_NULL_ARG": errors.NullArgumentError,
        "VPACK_E_INVALID_ARG": errors.InvalidArgumentError,
        "VPACK_E_INVALID_JSON": errors.InvalidJSONError,
        "VPACK_E_INVALID_UTF8": errors.InvalidUTF8Error,
        "VPACK_E_DIMENSION_MISMATCH": errors.DimensionMismatchError,
        "VPACK_E_IO": errors.PackIOError,
        "VPACK_E_CORRUPT": errors.CorruptPackError,
        "VPACK_E_UNSUPPORTED_VERSION": errors.UnsupportedVersionError,
        "VPACK_E_MODEL": errors.ModelError,
        "VPACK_E_LIMIT": errors.LimitExceededError,
        "VPACK_E_PANIC": errors.PanicError,
        "VPACK_E_NOT_FOUND": errors.NotFoundError,
        "VPACK_E_RUNTIME": errors.RuntimeLoadError,
    }
    for name, cls in expected.items():
        assert getattr(lib, name) == cls.code, name
        assert _native.status_name(cls.code) != "unknown status code"


def test_null_handle_is_reported_by_the_library() -> None:
    ffi, lib = _native.ffi, _native.lib
    n = ffi.new("size_t *")
    status = lib.vpack_index_len(ffi.NULL, n)
    assert status == lib.VPACK_E_NULL_ARG
    err = _native._error(status)
    assert isinstance(err, errors.NullArgumentError)
    assert err.code == 1 and "index is NULL" in err.message


def test_invalid_argument() -> None:
    with pytest.raises(errors.InvalidArgumentError) as info:
        PackBuilder(0)
    assert info.value.code == 2
    with pytest.raises(errors.InvalidArgumentError, match="unknown metric"):
        PackBuilder(4, metric="manhattan")


def test_invalid_json_and_utf8() -> None:
    with pytest.raises(errors.InvalidJSONError):
        _native.NativeEmbedder.create('{"kind": "hash",')
    emb = _native.NativeEmbedder.create('{"kind": "hash", "dimension": 8}')
    try:
        with pytest.raises(errors.InvalidUTF8Error, match=r"texts\[1\]"):
            emb.embed([b"fine", b"\xff\xfe"], 8)
    finally:
        emb.close()
    b = PackBuilder(4)
    with pytest.raises(errors.InvalidUTF8Error):
        b.add(["lone \ud800 surrogate"], np.ones((1, 4), np.float32))
    assert len(b) == 0
    b.close()


def test_dimension_mismatch(vector_pack: vpack.Pack) -> None:
    with pytest.raises(errors.DimensionMismatchError, match="expected 16, got 15") as info:
        vector_pack.search(np.ones(15, np.float32))
    assert isinstance(info.value, ValueError)
    b = PackBuilder(4)
    with pytest.raises(ValueError):
        b.add(["a"], np.ones((1, 5), np.float32))
    b.close()


def test_io_error(tmp_path: Path) -> None:
    with pytest.raises(errors.PackIOError) as info:
        vpack.open(tmp_path / "missing.vpack")
    assert isinstance(info.value, OSError)
    assert "missing.vpack" in info.value.message


def test_corrupt_and_version(vector_pack: vpack.Pack, tmp_path: Path) -> None:
    data = bytearray(vector_pack.to_bytes())
    with pytest.raises(errors.CorruptPackError):
        vpack.Pack.from_bytes(bytes(data[: len(data) // 2]))
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    with pytest.raises(errors.CorruptPackError, match="checksum"):
        vpack.Pack.from_bytes(bytes(flipped))
    garbage = tmp_path / "garbage.vpack"
    garbage.write_bytes(b"this is not a pack at all" * 10)
    with pytest.raises(errors.CorruptPackError, match="magic"):
        vpack.open(garbage)
    for version in (0x01, 0x03):
        old = bytearray(data)
        old[8] = version
        with pytest.raises(errors.UnsupportedVersionError, match=f"{version:#04x}"):
            vpack.Pack.from_bytes(bytes(old))


def test_model_error_names_the_missing_embedder() -> None:
    b = PackBuilder(8)
    b.add(["x"], random_vectors(1, 8))
    with b.finish({"embedder": {"kind": "tfidf", "model_id": "x", "dimension": 8}}) as pack:
        with pytest.raises(errors.ModelError, match="kind 'tfidf' is not available"):
            pack.search("a text query")
        # Vector queries still work without the model.
        assert len(pack.search(random_vectors(1, 8)[0], k=1)) == 1


def test_limit_and_not_found(vector_pack: vpack.Pack) -> None:
    with pytest.raises(errors.LimitExceededError):
        vector_pack.search(np.ones(16, np.float32), k=(1 << 20) + 1)
    with pytest.raises(errors.NotFoundError, match="out of range"):
        vector_pack.chunk(len(vector_pack))
    with pytest.raises(errors.NotFoundError, match="records no embedder"):
        vector_pack.search("text needs an embedder")


def test_last_error_is_cleared_by_success(vector_pack: vpack.Pack) -> None:
    with pytest.raises(errors.NotFoundError):
        vector_pack.chunk(10_000)
    assert _native.lib.vpack_last_error_code() == 12
    assert vector_pack.chunk(0).text == "chunk 0"
    assert _native.lib.vpack_last_error_code() == 0
    assert _native.lib.vpack_last_error_message(_native.ffi.NULL, 0) == 1


def test_closed_pack_refuses_use(vector_pack: vpack.Pack) -> None:
    data = vector_pack.to_bytes()
    pack = vpack.Pack.from_bytes(data)
    pack.close()
    pack.close()  # idempotent
    assert pack.closed
    with pytest.raises(ValueError, match="closed"):
        pack.search(np.ones(16, np.float32))


def test_huge_k_is_the_librarys_limit_error_not_a_memory_error(vector_pack: vpack.Pack) -> None:
    q = np.ones(16, np.float32)
    for k in (_native.lib.VPACK_MAX_K + 1, 10**12, 1 << 64, 1 << 200):
        with pytest.raises(errors.LimitExceededError, match=r"at most 1048576") as info:
            vector_pack.search(q, k=k)
        assert info.value.code == 10
        with pytest.raises(errors.LimitExceededError):
            vector_pack.search(q, k=k, filter={"i": 1})
        with pytest.raises(errors.LimitExceededError):  # checked before the text is embedded
            vector_pack.search("text", k=k)
    # The limit itself is allowed, and only as many results as chunks are allocated.
    assert len(vector_pack.search(q, k=_native.lib.VPACK_MAX_K)) == len(vector_pack)
    assert [h.id for h in vector_pack.search(q, k=_native.lib.VPACK_MAX_K, filter={"i": 7})] == [7]


def test_paths_with_a_nul_are_refused_like_open_does(vector_pack: vpack.Pack, tmp_path: Path) -> None:
    good = tmp_path / "a.vpack"
    vector_pack.save(good)
    with pytest.raises(ValueError, match="null byte"):
        open(str(good) + "\0junk")  # noqa: SIM115 (Python's own behaviour, for comparison)
    for bad in (str(good) + "\0junk", Path(str(good) + "\0junk"), os.fsencode(good) + b"\0junk"):
        with pytest.raises(ValueError, match="null byte"):
            vpack.open(bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="null byte"):
            vpack.open(bad, verify=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="null byte"):
        vector_pack.save(str(tmp_path / "b.vpack") + "\0junk")
    with pytest.raises(ValueError, match="null byte"):
        _native.runtime_init(str(tmp_path / "libonnxruntime.so") + "\0junk")
    with pytest.raises(ValueError, match="null byte"):
        PackBuilder(4, temp_dir=str(tmp_path) + "\0junk")
    b = PackBuilder(4)
    b.add(["a"], np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match="null byte"):
        b.finish(output=str(tmp_path / "c.vpack") + "\0junk")
    with b.finish(output=tmp_path / "c.vpack") as pack:  # the refused path did not consume the builder
        assert len(pack) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.vpack", "c.vpack"]


def test_json_arguments_with_a_nul_are_invalid_json() -> None:
    with pytest.raises(errors.InvalidJSONError, match="NUL"):
        _native.NativeEmbedder.create('{"kind": "hash", "dimension": 8}\0junk')
    # A NUL inside a JSON string value is escaped by json.dumps and is fine.
    b = PackBuilder(4)
    b.add(["a\0b"], np.ones((1, 4), np.float32), [{"k": "x\0y"}])
    with b.finish({"title": "t\0t"}) as pack:
        hit = pack.chunk(0)
        assert (hit.text, hit.metadata, pack.manifest["title"]) == ("a\0b", {"k": "x\0y"}, "t\0t")
        assert [h.id for h in pack.search(np.ones(4, np.float32), filter={"k": "x\0y"})] == [0]


def test_damaged_text_and_metadata_are_corrupt_pack_errors(
    vector_pack: vpack.Pack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever bytes the library hands back for a chunk, decoding them never raises
    anything but CorruptPackError (the library validates them too)."""
    q = np.ones(16, np.float32)
    cases = [
        (b"\xff\xfe broken", b'{"i":1}', "not valid UTF-8"),
        (b"fine", b'{"i":', "not valid JSON"),
        (b"fine", b'{"i":1}\xff', "not valid UTF-8"),
        (b"fine", b"[1,2]", "not a JSON object"),
        (b"fine", b'{"i":NaN}', "not valid JSON"),
        (b"fine", b"[" * 100_000, "not valid JSON"),
        (b"fine", b"\x00\x00\x00{", "not valid JSON"),
    ]
    for text, meta, message in cases:
        monkeypatch.setattr(vector_pack._index, "chunk", lambda i, t=text, m=meta: (t, m))
        monkeypatch.setattr(
            vector_pack._index,
            "search_records",
            lambda query, k, flt=None, ef=0, mode=0, qt=None, t=text, m=meta: ([3], [0.5], [(t, m)]),
        )
        with pytest.raises(errors.CorruptPackError, match=message) as info:
            hit = vector_pack.chunk(3)  # text and metadata on first read
            hit.text  # noqa: B018
            hit.metadata  # noqa: B018
        assert info.value.code == 7 and "chunk 3" in info.value.message
        with pytest.raises(errors.CorruptPackError, match=message) as info:
            for hit in vector_pack.search(q, k=2):  # text and metadata on first read
                hit.text  # noqa: B018
                hit.metadata  # noqa: B018
        assert "chunk 3" in info.value.message
    monkeypatch.setattr(vector_pack._index, "chunk", lambda i: (b"fine", b""))
    assert vector_pack.chunk(3).metadata == {}


def test_damaged_manifest_is_a_corrupt_pack_error(monkeypatch: pytest.MonkeyPatch) -> None:
    b = PackBuilder(4)
    b.add(["a"], np.ones((1, 4), np.float32))
    with b.finish() as pack:
        monkeypatch.setattr(pack._index, "manifest", lambda: b'{"dimension":4,')
        with pytest.raises(errors.CorruptPackError, match="manifest is not valid JSON"):
            pack.manifest  # noqa: B018
        with pytest.raises(errors.CorruptPackError, match="manifest"):
            pack.search("text")


def test_chunk_ids_out_of_range_are_not_found(vector_pack: vpack.Pack) -> None:
    for bad in (-1, len(vector_pack), 1 << 64):
        with pytest.raises(errors.NotFoundError, match="out of range"):
            vector_pack.chunk(bad)
    with pytest.raises(TypeError):
        vector_pack.chunk("0")  # type: ignore[arg-type]
    assert vector_pack.chunk(np.int64(3)).text == "chunk 3"  # type: ignore[arg-type]


def nested(depth: int, leaf: object) -> dict:
    value: object = leaf
    for _ in range(depth):
        value = {"$and": [value]}
    return value  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (nested(5_000, {"i": 1}), "filter is nested too deeply"),
        (nested(200, {"i": 1}), "filter"),  # serialisable, refused by the engine's parser
        ({"i": {1, 2}}, "filter is not JSON-serialisable.*set"),
        ({"i": b"1"}, "filter is not JSON-serialisable.*bytes"),
        ({"i": object()}, "filter is not JSON-serialisable"),
        ({"i": float("nan")}, "filter is not JSON-serialisable"),
        ({1.5j: 1}, "filter is not JSON-serialisable"),
        ([("i", 1)], "filter must be a mapping"),
        ("i=1", "filter must be a mapping"),
    ],
)
def test_filters_json_cannot_represent_are_invalid_json(
    vector_pack: vpack.Pack, bad: object, message: str
) -> None:
    with pytest.raises(errors.InvalidJSONError, match=message) as info:
        vector_pack.search(np.ones(16, np.float32), k=3, filter=bad)  # type: ignore[arg-type]
    assert info.value.code == 3


def test_builder_values_json_cannot_represent_are_invalid_json() -> None:
    b = PackBuilder(4)
    with pytest.raises(errors.InvalidJSONError, match=r"chunks .* not JSON-serialisable"):
        b.add(["a"], np.ones((1, 4), np.float32), [{"when": object()}])
    with pytest.raises(errors.InvalidJSONError, match="nested too deeply"):
        b.add(["a"], np.ones((1, 4), np.float32), [nested(5_000, 1)])
    with pytest.raises(errors.InvalidJSONError, match="manifest is not JSON-serialisable"):
        b.finish({"x": {1, 2}})
    assert len(b) == 0
    b.add(["a"], np.ones((1, 4), np.float32))  # still usable after every refusal
    with b.finish() as pack:
        assert len(pack) == 1
