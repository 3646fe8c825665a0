"""Look inside an ``.npz`` before reading it: each array's shape and dtype from its header.

What this is: :func:`npz_headers`, which reads only the zip directory and the
few header bytes of every ``.npy`` member, so a caller can refuse a file whose
arrays have the wrong shape or dtype, hold Python objects, or would need more
memory than a limit, before one byte of array data is allocated (a 1 MB npz
can declare a 1 GB array of zeros). The callers (the data loader, the weights
and checkpoint readers) turn :class:`NpzHeaderError` into their own error class.
What this is not: a reader of the data itself (``numpy.load`` does that).
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

__all__ = ["NpzHeaderError", "npz_headers"]

_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
#: Zip compression methods Python's zipfile reads (numpy writes 0 and 8).
_READABLE_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                               zipfile.ZIP_LZMA})


class NpzHeaderError(ValueError):
    """The file is not an npz of plain numeric arrays; the message says what it is instead."""


def _what_it_is(path: Path) -> str:
    with open(path, "rb") as stream:
        head = stream.read(64)
    if head.startswith(_NPY_MAGIC):
        return "a single .npy array, not an .npz archive"
    if not head:
        return "empty"
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return f"a text file, not an .npz archive (it starts with {head[:20].decode()!r})"
    return f"not an .npz archive (no zip signature; it starts with {head[:8]!r})"


def npz_headers(
    path: str | os.PathLike[str], max_bytes: int | None = None
) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array in an npz, from the headers only.

    Parameters
    ----------
    path : path-like
    max_bytes : int, optional
        Refuse any array whose data would take more bytes than this.

    Returns
    -------
    dict str -> (tuple of int, numpy.dtype)
        Keyed by the array's name (the member name without ``.npy``).

    Raises
    ------
    NpzHeaderError
        If the file is not a zip, a member is not an ``.npy`` with a readable
        header, an array holds Python objects (would need pickle), the sizes
        in the header and in the zip directory disagree, or an array is
        larger than ``max_bytes``.
    """
    path = Path(path)
    with open(path, "rb") as stream:
        if stream.read(4) != _ZIP_MAGIC:
            raise NpzHeaderError(f"{path} is {_what_it_is(path)}")
    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                name = info.filename.removesuffix(".npy")
                if info.flag_bits & 0x1:
                    raise NpzHeaderError(f"{path}: {name} is encrypted; an npz holds plain "
                                         "(stored or deflated) members")
                if info.compress_type not in _READABLE_METHODS:
                    raise NpzHeaderError(
                        f"{path}: {name} uses zip compression method {info.compress_type}; "
                        f"expected one of {sorted(_READABLE_METHODS)} (stored, deflated, "
                        "bzip2, lzma)")
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read = {(1, 0): np.lib.format.read_array_header_1_0,
                            (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                    if read is None:
                        raise NpzHeaderError(f"{path}: {name} has .npy version {version}")
                    try:
                        shape, _, dtype = read(member)
                    except Exception as exc:  # numpy's header parser raises many kinds
                        raise NpzHeaderError(f"{path} is not a readable .npz archive: the "
                                             f"header of {name} is corrupt ({exc})") from None
                    header_bytes = member.tell()
                if dtype.hasobject:
                    raise NpzHeaderError(f"{path}: {name} holds Python objects ({dtype}), "
                                         "which only pickle can read; refused")
                count = 1
                for size in shape:
                    count *= int(size)  # Python ints: no overflow
                nbytes = count * dtype.itemsize
                if max_bytes is not None and nbytes > max_bytes:
                    raise NpzHeaderError(
                        f"{path}: {name} declares shape {shape} {dtype}, {nbytes:,} bytes; "
                        f"at most {max_bytes:,} are expected")
                if header_bytes + nbytes != info.file_size:
                    raise NpzHeaderError(
                        f"{path}: {name} declares shape {shape} {dtype} ({nbytes:,} bytes) "
                        f"but holds {info.file_size - header_bytes:,} bytes of data")
                headers[name] = (tuple(int(s) for s in shape), dtype)
    except NpzHeaderError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError,
            NotImplementedError, zlib.error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NpzHeaderError(f"{path} is not a readable .npz archive ({reason})") from None
    return headers
