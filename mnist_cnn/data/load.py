"""Load the shipped MNIST file: what readers use.

:func:`load_mnist` reads ``data/mnist.npz``, checks it against its recorded
sha256 once per process, checks the arrays' headers before reading them (and
the labels' range after), and caches the arrays in memory. Every failure of
the file raises a subclass of :class:`MnistDataError`, whose message says what
went wrong, where, and what to do about it; a bad argument (split, dtype)
raises ``ValueError``/``TypeError``.

What this is not: the builder of that file (:mod:`mnist_cnn.book.data_build`, a
maintainer's tool), nor a data-loader framework: no batching, shuffling or
augmentation, which belong to the training code. Nothing is downloaded here.

Where the file is looked for: the ``path`` argument, else ``$MNIST_CNN_DATA``,
else ``data/mnist.npz`` in the current directory or the nearest parent that
has one (so notebooks in ``notebooks/`` and commands at the repository root
both find it), else next to the package's source tree.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from mnist_cnn.tools.npz import NpzHeaderError, npz_headers
from mnist_cnn.validate import FLOAT_DTYPES

__all__ = [
    "ChecksumMismatchError",
    "DataFileMissingError",
    "FormatError",
    "MnistDataError",
    "SPLITS",
    "TruncatedFileError",
    "default_data_path",
    "load_mnist",
    "sha256_of_file",
]

DATA_PATH_ENV_VAR = "MNIST_CNN_DATA"
REBUILD_COMMAND = "python -m mnist_cnn.book.data_build build"
#: Where the file lives, relative to the repository root.
DATA_RELATIVE_PATH = Path("data") / "mnist.npz"

IMAGE_SIDE = 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10

SPLITS = ("train", "val", "train_full", "test")
_STORED_SPLITS = ("train", "val", "test")


def default_data_path() -> Path:
    """``data/mnist.npz`` in the current directory or its nearest parent, else the source tree's.

    Returns
    -------
    pathlib.Path
        The first candidate that exists, or the source tree's path (whose
        absence :func:`load_mnist` then reports).
    """
    here = Path.cwd().resolve()
    for directory in (here, *here.parents):
        candidate = directory / DATA_RELATIVE_PATH
        if candidate.is_file():
            return candidate
    return Path(__file__).resolve().parents[2] / DATA_RELATIVE_PATH


# --- Errors ----------------------------------------------------------------

class MnistDataError(Exception):
    """Base class of every error raised by :mod:`mnist_cnn.data`."""


class DataFileMissingError(MnistDataError, FileNotFoundError):
    """A data file (or its ``.sha256`` record) does not exist.

    Parameters
    ----------
    path : path-like
        Where the file was looked for.
    hint : str, optional
        Extra context, e.g. which environment variable chose the path.
    """

    def __init__(self, path: str | os.PathLike[str], hint: str = "") -> None:
        self.path = Path(path)
        message = (
            f"MNIST data file not found: {self.path}. "
            f"Rebuild it with `{REBUILD_COMMAND}` (run from the repository root)."
        )
        if hint:
            message += f" {hint}"
        super().__init__(message)


class ChecksumMismatchError(MnistDataError):
    """A file's sha256 differs from the recorded one.

    Parameters
    ----------
    path : path-like
        The file that was hashed.
    expected, actual : str
        Hex sha256 digests.
    """

    def __init__(self, path: str | os.PathLike[str], expected: str, actual: str) -> None:
        self.path = Path(path)
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"sha256 mismatch for {self.path}: expected {expected}, got {actual}. "
            f"The file is corrupt or not the pinned one; rebuild it with `{REBUILD_COMMAND}`."
        )


class TruncatedFileError(MnistDataError):
    """A file ends before the data its header (or format) promises."""


class FormatError(MnistDataError):
    """A file is readable but its content is not what MNIST should be.

    Examples: a wrong IDX magic number, images that are not 28x28, an
    unsupported IDX dtype code, or a pickle with the wrong structure.
    """


# --- Small helpers -----------------------------------------------------------


def sha256_of_file(path: str | os.PathLike[str]) -> str:
    """Return the hex sha256 digest of a file.

    Parameters
    ----------
    path : path-like
        File to hash. It is read in chunks, so large files are fine.

    Returns
    -------
    str
        64 lowercase hex digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256_record_path(npz_path: Path) -> Path:
    return npz_path.with_name(npz_path.name + ".sha256")


# --- Load the shipped npz ------------------------------------------------------

# Keys are (resolved path, mtime_ns, size): a file rewritten in place is
# checked and loaded again.
_verified_files: set[tuple[str, int, int]] = set()
_array_cache: dict[tuple[str, int, int], dict[str, np.ndarray]] = {}


def _resolve_data_path(path: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """Pick the npz path: argument, then environment variable, then the default."""
    if path is not None:
        return Path(path), ""
    from_env = os.environ.get(DATA_PATH_ENV_VAR)
    if from_env:
        return Path(from_env), f"(The path came from the environment variable {DATA_PATH_ENV_VAR}.)"
    return default_data_path(), ""


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def _verify_sha256(path: Path, key: tuple[str, int, int]) -> None:
    """Check ``path`` against ``<path>.sha256``, once per file version per process."""
    if key in _verified_files:
        return
    record = _sha256_record_path(path)
    if not record.is_file():
        raise DataFileMissingError(record, "(It records the sha256 the data file must have.)")
    fields = record.read_text(encoding="ascii", errors="replace").split()
    expected = fields[0].lower() if fields else ""
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise FormatError(f"{record} does not start with a hex sha256 digest")
    actual = sha256_of_file(path)
    if actual != expected:
        raise ChecksumMismatchError(path, expected, actual)
    _verified_files.add(key)


#: The most images a split may declare (the real ones hold 50,000 and 10,000).
MAX_SPLIT_IMAGES = 100_000


def _check_headers(path: Path) -> None:
    """Names, shapes and dtypes from the npy headers, before any array is read."""
    try:
        headers = npz_headers(path, max_bytes=MAX_SPLIT_IMAGES * IMAGE_PIXELS)
    except NpzHeaderError as exc:
        raise FormatError(str(exc)) from None
    for split in _STORED_SPLITS:
        images, labels = headers.get(f"{split}_images"), headers.get(f"{split}_labels")
        if images is None or labels is None:
            raise FormatError(f"{path} lacks {split}_images/_labels; it has {sorted(headers)}")
        (shape, dtype), (label_shape, label_dtype) = images, labels
        if dtype != np.uint8 or shape[1:] != (IMAGE_SIDE, IMAGE_SIDE) or len(shape) != 3:
            raise FormatError(
                f"{path}: {split}_images must be uint8 [n, 28, 28], got {dtype} {shape}")
        if shape[0] == 0:
            raise FormatError(f"{path}: the {split} split is empty (0 images)")
        if shape[0] > MAX_SPLIT_IMAGES:
            raise FormatError(f"{path}: {split}_images declares {shape[0]:,} images; "
                              f"at most {MAX_SPLIT_IMAGES:,} are expected")
        if label_dtype.kind not in "iu":
            raise FormatError(f"{path}: {split}_labels must be integers; got {label_dtype} "
                              "(float labels would be truncated)")
        if label_shape != (shape[0],):
            raise FormatError(
                f"{path}: {split}_labels has shape {label_shape}, expected ({shape[0]},)")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Check the headers, read the six arrays and the label range; read-only for the cache."""
    _check_headers(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise TruncatedFileError(f"{path} cannot be read to the end: {exc}") from exc
    except (ValueError, OSError, RuntimeError, NotImplementedError) as exc:
        raise FormatError(f"{path} cannot be read: {exc}") from exc
    for split in _STORED_SPLITS:
        labels = arrays[f"{split}_labels"]
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= NUM_CLASSES:
            raise FormatError(f"{path}: {split}_labels must lie in 0..{NUM_CLASSES - 1}; "
                              f"got values from {low} to {high}")
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


def _stored_arrays(path: Path, hint: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataFileMissingError(path, hint)
    try:
        key = _file_key(path)
        if key not in _array_cache:
            _verify_sha256(path, key)
            _array_cache[key] = _read_npz(path)
    except MnistDataError:
        raise
    except OSError as exc:  # e.g. no permission: still one documented error class
        raise MnistDataError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    return _array_cache[key]


def load_mnist(
    split: str = "train",
    dtype: Any = np.float32,
    path: str | os.PathLike[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Load one MNIST split from the shipped ``data/mnist.npz``.

    The file is checked against its ``.sha256`` record the first time it is
    used in a process, and its arrays are then cached in memory. Every call
    returns new arrays, so callers may modify them freely.

    Parameters
    ----------
    split : {"train", "val", "train_full", "test"}
        ``train`` is the first 50,000 original training images, ``val`` the
        last 10,000, ``train_full`` all 60,000 (``train`` then ``val``), and
        ``test`` the 10,000 original test images.
    dtype : {numpy.float32, numpy.float64}
        Float dtype of the returned images.
    path : path-like, optional
        The npz to read. Defaults to ``$MNIST_CNN_DATA`` if that is set, else
        ``data/mnist.npz`` found by :func:`default_data_path`.

    Returns
    -------
    images : ndarray, shape [N, 1, 28, 28], dtype ``dtype``
        Pixels scaled to [0, 1] as ``uint8 / 255``, computed in ``dtype``.
    labels : ndarray, shape [N], int64
        Digit classes 0..9.

    Raises
    ------
    ValueError
        If ``split`` is not one of :data:`SPLITS`.
    TypeError
        If ``dtype`` is not float32 or float64.
    DataFileMissingError
        If the npz or its ``.sha256`` record does not exist.
    ChecksumMismatchError
        If the npz does not match its recorded sha256.
    FormatError
        If the npz (even with a matching sha256, e.g. after a rebuilt record)
        is not an archive of the six arrays: its headers are checked before any
        data is read (names, uint8 [n, 28, 28] images with 1 <= n <= 100,000,
        integer labels [n]), then the labels' range 0..9.
    TruncatedFileError
        If an array's data ends early.

    Examples
    --------
    >>> images, labels = load_mnist("test")
    >>> images.shape, images.dtype, labels.dtype
    ((10000, 1, 28, 28), dtype('float32'), dtype('int64'))
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits are {', '.join(SPLITS)}")
    # np.dtype(None) means float64 and `dtype == None` can be True: reject None first.
    try:
        float_dtype = None if dtype is None else np.dtype(dtype)
    except TypeError:
        float_dtype = None
    if float_dtype is None or float_dtype not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")

    data_path, hint = _resolve_data_path(path)
    arrays = _stored_arrays(data_path, hint)
    parts = ("train", "val") if split == "train_full" else (split,)
    pixels = np.concatenate([arrays[f"{part}_images"] for part in parts])
    labels = np.concatenate([arrays[f"{part}_labels"] for part in parts])

    images = pixels.astype(float_dtype)  # a new array: the cache stays untouched
    images /= 255
    return images.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE), labels.astype(np.int64)
