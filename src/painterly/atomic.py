"""Writing a file whole or not at all: through a temporary name in the same folder, then a rename.

A killed process never leaves a half-written file under the output's name (and an existing file stays as it was
until the new one is complete).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import OutputError


def reason_of(error: BaseException) -> str:
    """The reason an exception gives, on one line."""
    text = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    text = " ".join(text.split())
    return text or type(error).__name__


def write_atomically(
    path: str | os.PathLike[str],
    write: Callable[[BinaryIO], object],
    *,
    durable: bool = True,
    errors: tuple[type[BaseException], ...] = (),
    reason: Callable[[BaseException], str] = reason_of,
) -> Path:
    """Create ``path``'s folder, call ``write`` with a binary handle on ``.{name}.{pid}-{thread}.partial{suffix}``
    beside it (the suffix kept for writers that look at it), ``fsync`` it when ``durable``, rename it to ``path``.

    An :class:`OSError` or one of ``errors`` becomes an :class:`OutputError` "cannot write PATH: reason" and the
    temporary file is removed.
    """
    file = Path(path)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot write {file}: cannot create folder {file.parent} ({reason(error)})") from error
    caught: tuple[type[BaseException], ...] = (OSError, *errors)
    partial = file.with_name(f".{file.name}.{os.getpid()}-{threading.get_ident()}.partial{file.suffix}")
    try:
        try:
            with open(partial, "wb") as handle:
                write(handle)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(partial, file)
        finally:
            partial.unlink(missing_ok=True)
    except caught as error:
        raise OutputError(f"cannot write {file}: {reason(error)}") from error
    return file
