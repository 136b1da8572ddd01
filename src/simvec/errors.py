"""Every exception simvec raises on purpose, in one tree, so callers (the CLI, the server) can tell them from bugs.

    SimvecError                      anything simvec raises deliberately (HTTP 400)
    ├── InputError                   bad user input: texts, ids, metadata, vectors, options (HTTP 400)
    │   ├── InputTypeError           ... of the wrong Python type (also a TypeError)
    │   ├── InputFileError           ... in a file: names the file and the line
    │   ├── InvalidText              ... a text that is not valid Unicode (a lone surrogate) (HTTP 422)
    │   └── FilterError              ... a metadata filter that is malformed or too deep
    ├── ModelError                   a model cannot be found, loaded or used (HTTP 400)
    │   └── ModelLoadError           ... the model path is missing or not a model directory
    ├── CollectionError              a collection cannot do what was asked (HTTP 400)
    │   ├── CollectionNotFound       ... it does not exist (HTTP 404)
    │   └── CollectionExists         ... it exists already (HTTP 409)
    ├── CodecError                   a compression spec or codec is invalid or unfitted (HTTP 400)
    ├── MissingDependencyError       an optional package is not installed; names the pip package (HTTP 501)
    ├── LimitExceeded                a documented limit (size, count, k) was exceeded (HTTP 413 or 422)
    ├── StorageError                 a collection's files cannot be written now: disk full (HTTP 507), read-only
    │                                directory or I/O error (HTTP 503); names the collection and the real cause
    └── Unavailable                  the server cannot take the request now: its queue is full (HTTP 429, with
                                     Retry-After), its model worker is down, a collection's write lock is held
                                     past the busy timeout (HTTP 503), or an engine simvec must reach (a Ray
                                     cluster) does not answer

A `TypeError` or `KeyError` that is not in this tree is a bug in simvec: the CLI shows its traceback and the server
answers 500. Classes that replace a built-in error also subclass it (`InputError` is a `ValueError`), so code written
against the built-ins keeps working.
"""

from __future__ import annotations

import errno


class SimvecError(Exception):
    """Base class of every exception simvec raises on purpose."""

    http_status: int = 400


class InputError(SimvecError, ValueError):
    """Bad user input (texts, ids, metadata, vectors, options); the message names the item."""


class InputTypeError(InputError, TypeError):
    """User input of the wrong Python type."""


class InputFileError(InputError):
    """An input file cannot be read: names the file, and the line when there is one."""

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = str(path), line


class InvalidText(InputError):
    """A text that cannot be encoded as UTF-8 (a lone surrogate, e.g. from a JSON "\\ud800"); names the item."""

    http_status = 422


def check_unicode(text: str, where: str) -> None:
    """Refuse a text with a lone surrogate (no tokenizer, SQLite or JSON encoder accepts it), naming `where`."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidText(
                f"{where} contains a lone surrogate {text[exc.start]!r} at character {exc.start}: not valid Unicode"
            ) from None


class FilterError(InputError):
    """A metadata filter is malformed, uses an unknown operator, or nests too deeply."""


class ModelError(SimvecError):
    """A model cannot be found, loaded or used as asked."""


class ModelLoadError(ModelError, FileNotFoundError):
    """A model path is missing or is not a sentence-transformers model directory."""


class CollectionError(SimvecError, ValueError):
    """A collection cannot do what was asked: wrong encoder, bad settings, damaged files."""


class CollectionNotFound(CollectionError, LookupError):
    """The named collection does not exist."""

    http_status = 404


class CollectionExists(CollectionError):
    """A collection of that name exists already."""

    http_status = 409


class CodecError(SimvecError, ValueError):
    """A compression spec or codec is invalid, or a codec is used before it is fitted."""


class MissingDependencyError(SimvecError, ImportError):
    """An optional dependency is not installed; the message names the pip package."""

    http_status = 501


class LimitExceeded(SimvecError, ValueError):
    """A documented limit was exceeded; the message names the limit."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.http_status = status


class StorageError(SimvecError):
    """A collection's storage refused an operation: disk full (507), read-only or I/O error (503)."""

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.http_status = status


# OS errors that come from the machine, not from simvec: a full disk or quota, a read-only or forbidden
# directory, a failing device. The CLI and the server report them in one line (no traceback, no path in the server).
STORAGE_ERRNOS = {errno.ENOSPC: 507, errno.EDQUOT: 507, errno.EROFS: 503, errno.EACCES: 503, errno.EIO: 503}


class Unavailable(SimvecError):
    """The server cannot take the request now; `retry_after` (seconds) says when to try again, if known."""

    def __init__(self, message: str, status: int = 503, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.http_status = status
        self.retry_after = retry_after


__all__ = [
    "CodecError",
    "CollectionError",
    "CollectionExists",
    "CollectionNotFound",
    "FilterError",
    "InputError",
    "InputFileError",
    "InputTypeError",
    "InvalidText",
    "LimitExceeded",
    "MissingDependencyError",
    "ModelError",
    "ModelLoadError",
    "SimvecError",
    "StorageError",
    "Unavailable",
]
