"""Every status code surfaces as its own exception class with the library's code and
message, through the real native library."""

from __future__ import annotations

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
