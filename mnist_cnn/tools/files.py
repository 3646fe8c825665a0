"""Atomic file writes: readers see the old file or the complete new one, never half of one.

What this is: the package's one writer for files it produces (the MNIST npz and
its checksum, executed notebooks, trained weights, metrics).
What this is not: a general I/O layer; reading stays with the modules that own a format.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def atomic_write(target: str | os.PathLike[str], write: Callable[[IO[bytes]], None]) -> None:
    """Write ``target`` via a temporary file in the same folder and ``os.replace``.

    Parameters
    ----------
    target : path-like
        The file to create or replace; missing parent folders are created.
    write : callable
        ``write(stream)`` writes the content to a binary stream.

    Notes
    -----
    On any failure the temporary file is removed and ``target`` is left as it
    was. The new file gets the usual ``0666 & ~umask`` mode (temporary files are
    created ``0600``).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
    )
    temp_path = Path(handle.name)
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_path, 0o666 & ~_current_umask())
        os.replace(temp_path, target)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(target: str | os.PathLike[str], payload: bytes) -> None:
    """Write ``payload`` to ``target`` atomically (see :func:`atomic_write`).

    Parameters
    ----------
    target : path-like
        The file to create or replace.
    payload : bytes
        The complete content.
    """
    atomic_write(target, lambda stream: stream.write(payload))


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` as UTF-8 to ``target`` atomically (see :func:`atomic_write`).

    Parameters
    ----------
    target : path-like
        The file to create or replace.
    text : str
        The complete content.
    """
    atomic_write_bytes(target, text.encode("utf-8"))
