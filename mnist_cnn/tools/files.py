"""Atomic file writes: readers see the old file or the complete new one, never half of one.

What this is: the package's one writer for files it produces (the MNIST npz and
its checksum, executed notebooks, trained weights, metrics).
What this is not: a general I/O layer; reading stays with the modules that own a format.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO


def _create_temp(folder: Path, name: str) -> tuple[int, Path]:
    """A new file ``.<name>.<random>.tmp`` in ``folder``, created with mode 0666 & ~umask.

    ``os.open`` with mode 0o666 lets the kernel apply the umask, so the process
    umask is never read or changed (reading it with ``os.umask`` would set it
    for a moment, for every thread of the process).
    """
    while True:
        path = folder / f".{name}.{secrets.token_hex(6)}.tmp"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:  # pragma: no cover - 48 random bits collided
            continue


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
    was. The new file gets the usual ``0666 & ~umask`` mode, applied by the
    kernel when the temporary file is created (the process umask is not touched).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_path = _create_temp(target.parent, target.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
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


def make_writable_folder(folder: str | os.PathLike[str]) -> Path:
    """Create ``folder`` (and its parents) if needed and prove a file can be written in it.

    The proof is a real write: an empty ``.write-probe.<pid>.tmp``, removed at once
    (permissions alone do not tell about read-only mounts or a full disk).

    Parameters
    ----------
    folder : path-like

    Returns
    -------
    Path
        ``folder``.

    Raises
    ------
    OSError
        If the folder cannot be made or written into; callers add what it was for.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".write-probe.{os.getpid()}.tmp"
    probe.write_bytes(b"")
    probe.unlink()
    return folder
