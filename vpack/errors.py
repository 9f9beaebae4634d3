"""Exceptions raised by vpack. Every error from the native library carries its stable
status code (``.code``); each code has its own subclass, which also derives from the
closest built-in exception so ``except ValueError`` and friends work as expected."""

from __future__ import annotations

from typing import Dict, Type


class VPackError(Exception):
    """Base class. ``code`` is the library's stable status code, ``message`` its text."""

    code: int = -1

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message} [code {self.code}]"


class NullArgumentError(VPackError, ValueError):
    code = 1


class InvalidArgumentError(VPackError, ValueError):
    code = 2


class InvalidJSONError(VPackError, ValueError):
    code = 3


class InvalidUTF8Error(VPackError, ValueError):
    code = 4


class DimensionMismatchError(VPackError, ValueError):
    code = 5


class PackIOError(VPackError, OSError):
    code = 6


class CorruptPackError(VPackError):
    code = 7


class UnsupportedVersionError(VPackError):
    code = 8


class ModelError(VPackError):
    code = 9


class LimitExceededError(VPackError, ValueError):
    code = 10


class PanicError(VPackError):
    code = 11


class NotFoundError(VPackError, LookupError):
    code = 12


class RuntimeLoadError(VPackError):
    code = 13


_BY_CODE: Dict[int, Type[VPackError]] = {
    cls.code: cls
    for cls in (
        NullArgumentError,
        InvalidArgumentError,
        InvalidJSONError,
        InvalidUTF8Error,
        DimensionMismatchError,
        PackIOError,
        CorruptPackError,
        UnsupportedVersionError,
        ModelError,
        LimitExceededError,
        PanicError,
        NotFoundError,
        RuntimeLoadError,
    )
}


def from_last_error(status: int, text: str) -> VPackError:
    """Builds the exception for a failed call from the library's ``CODE|message`` text."""
    code_text, sep, message = text.partition("|")
    code = int(code_text) if sep and code_text.lstrip("-").isdigit() else status
    if not sep:
        message = text or "unknown error"
    cls = _BY_CODE.get(code, VPackError)
    return cls(message, code)
