"""The files a training run leaves: the weights (npz) and the metrics (JSON), written atomically.

What this is: the weights file format (six named arrays, checked against the
architecture when read) and the JSON writer.
What this is not: the training loop (:mod:`.loop`) or the command line (:mod:`.cli`).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mnist_cnn.architecture import PARAM_NAMES, SEED, Architecture
from mnist_cnn.tools.files import atomic_write_bytes, atomic_write_text
from mnist_cnn.tools.npz import NpzHeaderError, npz_headers
from mnist_cnn.validate import FLOAT_DTYPES

__all__ = [
    "MANIFEST",
    "WeightsFileError",
    "commit_results",
    "load_weights",
    "save_weights",
    "verify_results",
    "write_json",
]

#: Written last by :func:`commit_results`: the sha256 of the weights and the metrics.
MANIFEST = "manifest.json"


class WeightsFileError(ValueError):
    """A weights file is missing, unreadable, or does not hold the seed network."""


def save_weights(path: str | os.PathLike[str], params: Mapping[str, np.ndarray]) -> Path:
    """Write the six parameter arrays to an ``.npz`` file atomically.

    The file is written to a temporary name in the same folder and renamed
    over ``path``, so a reader never sees half a file. Parent folders are
    created.

    Parameters
    ----------
    path : path-like
        Target, e.g. ``runs/full/weights.npz``.
    params : mapping str -> ndarray
        Keys :data:`mnist_cnn.architecture.PARAM_NAMES`.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(params[name]) for name in PARAM_NAMES})
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _check_weight_headers(path: Path, arch: Architecture) -> None:
    """Names, shapes and dtypes from the npy headers: nothing is allocated for a bad file."""
    largest = max(math.prod(shape) for shape in arch.param_shapes.values()) * 8
    try:
        headers = npz_headers(path, max_bytes=largest)
    except NpzHeaderError as exc:
        raise WeightsFileError(str(exc)) from None
    missing = [name for name in PARAM_NAMES if name not in headers]
    if missing:
        present = ", ".join(sorted(headers)) or "no arrays"
        raise WeightsFileError(f"{path} lacks {', '.join(missing)}; it has {present}")
    for name, expected in arch.param_shapes.items():
        shape, dtype = headers[name]
        if dtype not in FLOAT_DTYPES:
            raise WeightsFileError(f"{path}: {name} must be float32 or float64; got {dtype}")
        if shape != expected:
            raise WeightsFileError(f"{path}: {name} must have shape {expected}; got {shape}")


def load_weights(
    path: str | os.PathLike[str], arch: Architecture = SEED
) -> dict[str, np.ndarray]:
    """Read and check a weights file written by :func:`save_weights`.

    Parameters
    ----------
    path : path-like
    arch : Architecture, default SEED
        The network the file must hold.

    Returns
    -------
    dict str -> ndarray
        The six parameters, all float32 or all float64, of the shapes
        ``arch.param_shapes``.

    Raises
    ------
    WeightsFileError
        With a one-line message naming the file and the problem: missing,
        not an npz (e.g. a corrupt or truncated zip), a missing key, a wrong
        shape or dtype, or a non-finite value.
    """
    path = Path(path)
    if not path.exists():
        raise WeightsFileError(f"weights file not found: {path}")
    if not path.is_file():
        raise WeightsFileError(f"weights path is not a file: {path}")
    _check_weight_headers(path, arch)  # before any array is read
    try:
        loaded = np.load(path, allow_pickle=False)
        with loaded as npz:
            files = set(npz.files)
            missing = [name for name in PARAM_NAMES if name not in files]
            if missing:
                present = ", ".join(sorted(files)) or "no arrays"
                raise WeightsFileError(f"{path} lacks {', '.join(missing)}; it has {present}")
            params = {name: npz[name] for name in PARAM_NAMES}
    except WeightsFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError,
            NotImplementedError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsFileError(f"{path} is not a readable .npz file ({reason})") from None
    dtypes = {params[name].dtype for name in PARAM_NAMES}
    for name, expected in arch.param_shapes.items():
        a = params[name]
        if a.dtype not in FLOAT_DTYPES:
            raise WeightsFileError(f"{path}: {name} must be float32 or float64; got {a.dtype}")
        if a.shape != expected:
            raise WeightsFileError(f"{path}: {name} must have shape {expected}; got {a.shape}")
    if len(dtypes) != 1:
        raise WeightsFileError(f"{path}: the arrays mix dtypes {sorted(map(str, dtypes))}")
    bad = [name for name in PARAM_NAMES if not np.isfinite(params[name]).all()]
    if bad:
        raise WeightsFileError(f"{path}: non-finite values (nan or inf) in {', '.join(bad)}")
    return params


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically (temporary file, then rename).

    Parameters
    ----------
    path : path-like
        The target file; parent folders are created.
    obj : object
        Anything ``json.dumps`` accepts.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    text = json.dumps(obj, indent=2, sort_keys=False) + "\n"
    atomic_write_text(path, text)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def commit_results(
    out: str | os.PathLike[str], params: Mapping[str, np.ndarray], metrics: Mapping[str, Any]
) -> dict[str, Path]:
    """Write ``weights.npz`` and ``metrics.json`` as one unit: the manifest comes last.

    Order: remove ``manifest.json``; write the weights, then the metrics (each
    atomically); then write ``manifest.json`` with both files' sha256. So a
    manifest that exists always names the pair beside it; a reader that finds
    none (or one that does not match, :func:`verify_results`) knows the pair
    is incomplete, e.g. a run killed between the two writes.

    Parameters
    ----------
    out : path-like
        The run's folder.
    params : mapping str -> ndarray
    metrics : mapping
        JSON-ready.

    Returns
    -------
    dict str -> pathlib.Path
        ``weights``, ``metrics`` and ``manifest`` paths.
    """
    out = Path(out)
    (out / MANIFEST).unlink(missing_ok=True)
    weights = save_weights(out / "weights.npz", params)
    metrics_path = write_json(out / "metrics.json", metrics)
    manifest = write_json(out / MANIFEST, {
        "weights.npz": _sha256(weights), "metrics.json": _sha256(metrics_path)})
    return {"weights": weights, "metrics": metrics_path, "manifest": manifest}


def verify_results(out: str | os.PathLike[str]) -> bool:
    """True if ``out`` holds a complete, committed pair of weights and metrics.

    Parameters
    ----------
    out : path-like

    Returns
    -------
    bool
        The manifest exists and both files match its sha256.
    """
    out = Path(out)
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        return all(_sha256(out / name) == manifest[name]
                   for name in ("weights.npz", "metrics.json"))
    except (OSError, ValueError, KeyError, TypeError):
        return False
