"""Checkpoints of a training run, and the output folder it lives in.

What this is: :class:`RunState` (everything the loop needs to continue a run:
the weights, the optimiser's velocity, the random generators' states, the
epoch and step, the metrics so far), its one-file format ``checkpoint.npz``,
written atomically (a temporary file, then ``os.replace``: a reader sees the
previous checkpoint or the new one, never a mix), and :func:`prepare_out`, the
check of ``--out`` before the first step (a folder, writable, and not an earlier
run unless ``--force`` or ``--resume``).
What this is not: the training loop (:mod:`.loop`), which fills a ``RunState``
and calls back to save it, nor the final weights and metrics
(:func:`mnist_cnn.train.artifacts.commit_results`).

The checkpoint holds no pickle: arrays under ``param.<name>``, ``velocity.<name>``
and ``order`` (the current epoch's permutation, empty at an epoch boundary), and
the rest as UTF-8 JSON in a uint8 array ``state`` (numpy's
``bit_generator.state`` dicts are JSON: PCG64's 128-bit integers are Python ints).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from mnist_cnn.architecture import PARAM_NAMES, SEED
from mnist_cnn.tools.files import atomic_write, make_writable_folder
from mnist_cnn.tools.npz import NpzHeaderError, npz_headers

__all__ = [
    "CHECKPOINT",
    "CheckpointError",
    "RUN_FILES",
    "RunState",
    "load_checkpoint",
    "prepare_out",
    "check_resume",
    "save_checkpoint",
]

CHECKPOINT = "checkpoint.npz"
#: The files a run leaves in its folder; any of them marks the folder as an earlier run.
RUN_FILES = (CHECKPOINT, "weights.npz", "metrics.json", "manifest.json")
FORMAT = "mnist_cnn.checkpoint/1"
#: The largest array a checkpoint holds is w_fc1 (5.8 MB); anything far larger is not one.
MAX_ARRAY_BYTES = 64 * 2**20
#: Tests only: seconds to sleep half-way through writing a checkpoint (fault injection).
WRITE_DELAY_ENV = "MNIST_CNN_TEST_CHECKPOINT_WRITE_DELAY"


class CheckpointError(ValueError):
    """A checkpoint or an output folder that cannot be used; the message says why."""


@dataclass
class RunState:
    """Everything a training run needs to continue where it stopped.

    Attributes
    ----------
    params, velocity : dict str -> ndarray
        The weights and the momentum buffers ``v`` of Eq. (5.1).
    optimizer_steps : int
        Updates made so far.
    rng_order, rng_shift : dict
        ``bit_generator.state`` of the shuffling and the shift generators.
    epoch : int
        Epochs completed.
    batch : int
        Batches done in the current epoch (0 at an epoch boundary).
    step : int
        Steps done in total.
    order : ndarray of int64
        The current epoch's permutation (empty when ``batch == 0``).
    sums : dict str -> float
        Running sums of the current epoch and curve point (loss, correct, seen, ...).
    epochs, curve : list of dict
        The metrics of the finished epochs and the curve points so far.
    config : dict
        The run's ``TrainConfig`` as a dict: a resume must use the same one.
    """

    params: dict[str, np.ndarray]
    velocity: dict[str, np.ndarray]
    optimizer_steps: int
    rng_order: dict[str, Any]
    rng_shift: dict[str, Any]
    config: dict[str, Any]
    epoch: int = 0
    batch: int = 0
    step: int = 0
    order: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    sums: dict[str, float] = field(default_factory=dict)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    curve: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        """One line: what a checkpoint of this state holds."""
        where = (f"after epoch {self.epoch}" if self.batch == 0
                 else f"in epoch {self.epoch + 1} after batch {self.batch}")
        return (f"step {self.step} ({where}): weights, optimiser velocity, random-generator "
                f"states and the metrics of {len(self.epochs)} finished epoch(s)")


def _write_slowly(payload: bytes, stream: IO[bytes]) -> None:
    """Write ``payload``; under the test hook, sleep half-way (so a kill can land mid-write)."""
    delay = float(os.environ.get(WRITE_DELAY_ENV, "0") or 0)
    if delay > 0:
        stream.write(payload[: len(payload) // 2])
        stream.flush()
        time.sleep(delay)
        stream.write(payload[len(payload) // 2 :])
    else:
        stream.write(payload)


def save_checkpoint(out: str | os.PathLike[str], state: RunState) -> Path:
    """Write ``state`` to ``out/checkpoint.npz`` atomically.

    Parameters
    ----------
    out : path-like
        The run's folder.
    state : RunState

    Returns
    -------
    pathlib.Path
        The checkpoint's path.
    """
    path = Path(out) / CHECKPOINT
    meta = {k: v for k, v in dataclasses.asdict(state).items()
            if k not in ("params", "velocity", "order")}
    meta["format"] = FORMAT
    arrays = {f"param.{name}": state.params[name] for name in PARAM_NAMES}
    arrays.update({f"velocity.{name}": state.velocity[name] for name in PARAM_NAMES})
    arrays["order"] = np.asarray(state.order, dtype=np.int64)
    arrays["state"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    atomic_write(path, lambda stream: _write_slowly(payload, stream))
    return path


def load_checkpoint(out: str | os.PathLike[str]) -> RunState:
    """Read and check ``out/checkpoint.npz``.

    Parameters
    ----------
    out : path-like
        The run's folder.

    Returns
    -------
    RunState

    Raises
    ------
    CheckpointError
        If the file is missing, unreadable, of another format, or its arrays do
        not have the seed network's shapes.
    """
    path = Path(out) / CHECKPOINT
    if not path.is_file():
        raise CheckpointError(f"no checkpoint to resume from: {path} does not exist "
                              "(start the run without --resume)")
    try:
        npz_headers(path, max_bytes=MAX_ARRAY_BYTES)  # nothing allocated for a bad file
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = json.loads(arrays.pop("state").tobytes().decode("utf-8"))
    except NpzHeaderError as exc:
        raise CheckpointError(f"{path} is not a usable checkpoint: {exc}") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError,
            AttributeError, RuntimeError, NotImplementedError, RecursionError) as exc:
        raise CheckpointError(f"{path} is not a readable checkpoint ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: its state must be a JSON object; got "
                              f"{type(meta).__name__}")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {meta.get('format')!r}; expected {FORMAT!r}")
    params, velocity = {}, {}
    for name, shape in SEED.param_shapes.items():
        for prefix, target in (("param", params), ("velocity", velocity)):
            a = arrays.get(f"{prefix}.{name}")
            if a is None or a.shape != shape or a.dtype != np.float32:
                got = "missing" if a is None else f"{a.dtype} {a.shape}"
                raise CheckpointError(
                    f"{path}: {prefix}.{name} must be float32 {shape}; got {got}")
            if not np.isfinite(a).all():
                raise CheckpointError(f"{path}: {prefix}.{name} must be finite; got nan or inf")
            target[name] = np.ascontiguousarray(a)  # C order: the blocked update's layout
    del meta["format"]
    order = _check_state(path, meta, arrays.get("order"))
    return RunState(params=params, velocity=velocity, order=order, **meta)


def check_resume(state: RunState, images: int, steps_per_epoch: int, total_steps: int) -> None:
    """A loaded state fits the run it continues: its permutation covers the split, its
    step counts lie inside the run (the door of ``train(resume=...)``).

    Raises
    ------
    CheckpointError
        Naming the field, what the run expects and what the checkpoint holds.
    """
    if state.batch and len(state.order) != images:
        raise CheckpointError(f"the checkpoint's order permutes {len(state.order):,} images; "
                              f"the training split has {images:,}")
    if state.batch >= steps_per_epoch:
        raise CheckpointError(f"the checkpoint's batch {state.batch} must be < "
                              f"{steps_per_epoch} (the steps of an epoch)")
    if state.step > total_steps or state.step != state.epoch * steps_per_epoch + state.batch:
        raise CheckpointError(f"the checkpoint's step {state.step} must be epoch x steps per "
                              f"epoch + batch = {state.epoch} x {steps_per_epoch} + "
                              f"{state.batch}, at most {total_steps}")


#: The JSON fields of a checkpoint's state and what each must be.
_STATE_FIELDS = {"optimizer_steps": int, "rng_order": dict, "rng_shift": dict, "config": dict,
                 "epoch": int, "batch": int, "step": int, "sums": dict, "epochs": list,
                 "curve": list}


def _check_state(path: Path, meta: dict, order: object) -> np.ndarray:
    """The JSON state and ``order`` of a checkpoint, checked; a hand-edited one is named."""
    fields = set(_STATE_FIELDS)
    if set(meta) != fields:
        missing, extra = sorted(fields - set(meta)), sorted(set(meta) - fields)
        raise CheckpointError(f"{path}: the state must hold exactly {sorted(fields)}; "
                              f"missing {missing}, unexpected {extra}")
    for key, kind in _STATE_FIELDS.items():
        value = meta[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CheckpointError(f"{path}: state {key!r} must be a JSON "
                                  f"{'integer' if kind is int else kind.__name__}; got "
                                  f"{type(value).__name__} ({str(value)[:40]})")
        if kind is int and value < 0:
            raise CheckpointError(f"{path}: state {key!r} must be >= 0; got {value}")
    if meta["batch"] > meta["step"]:
        raise CheckpointError(f"{path}: state 'batch' ({meta['batch']}) cannot exceed 'step' "
                              f"({meta['step']})")
    for key in ("sums",):
        for name, value in meta[key].items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CheckpointError(f"{path}: state sums[{name!r}] must be a number; got "
                                      f"{type(value).__name__}")
    for key in ("epochs", "curve"):
        if not all(isinstance(item, dict) for item in meta[key]):
            raise CheckpointError(f"{path}: state {key!r} must be a list of JSON objects")
    if meta["optimizer_steps"] != meta["step"]:
        raise CheckpointError(f"{path}: state 'optimizer_steps' ({meta['optimizer_steps']}) "
                              f"must equal 'step' ({meta['step']})")
    for key in ("rng_order", "rng_shift"):
        try:
            np.random.default_rng().bit_generator.state = meta[key]
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise CheckpointError(f"{path}: state {key!r} is not a generator state ({exc})"
                                  ) from None
    if (not isinstance(order, np.ndarray) or order.ndim != 1
            or not np.issubdtype(order.dtype, np.integer)):
        got = (f"{order.dtype} {order.shape}" if isinstance(order, np.ndarray) else "missing")
        raise CheckpointError(f"{path}: order must be a 1-D integer array; got {got}")
    if (meta["batch"] == 0) != (order.size == 0):
        raise CheckpointError(f"{path}: order must be empty exactly at an epoch boundary "
                              f"(batch 0); got batch {meta['batch']} and {order.size} entries")
    if order.size and not np.array_equal(np.sort(order), np.arange(order.size)):
        raise CheckpointError(f"{path}: order must be a permutation of 0..{order.size - 1} "
                              f"(the epoch's shuffled images); it is not")
    return order.astype(np.int64)


def prepare_out(out: str | os.PathLike[str], *, force: bool = False,
                resume: bool = False) -> Path:
    """Check the output folder before the first step, and clear it for ``force``.

    The folder is created if needed and must be writable (a probe file is
    written and removed), so a bad ``--out`` is found before any training,
    not after it. A folder that holds an earlier run (:data:`RUN_FILES`) is
    refused unless ``resume`` (continue it) or ``force`` (its run files are
    removed now, so no stale checkpoint or weights survive beside the new run).

    Parameters
    ----------
    out : path-like
    force, resume : bool
        Mutually exclusive.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    CheckpointError
        With the folder and the problem: not a folder, not writable, an
        earlier run without ``--force``/``--resume``, or nothing to resume.
    """
    out = Path(out)
    if force and resume:
        raise CheckpointError("--force and --resume exclude each other: --force starts over, "
                              "--resume continues")
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"--out {out} exists and is not a folder")
    try:
        make_writable_folder(out)
    except OSError as exc:
        raise CheckpointError(f"--out {out} is not a writable folder ({exc.strerror or exc})"
                              ) from None
    earlier = [name for name in RUN_FILES if (out / name).exists()]
    if resume:
        if not (out / CHECKPOINT).is_file():
            raise CheckpointError(f"--resume: {out} holds no {CHECKPOINT} to continue from")
    elif earlier and not force:
        raise CheckpointError(
            f"--out {out} already holds a run ({', '.join(earlier)}); "
            "continue it with --resume, or replace it with --force")
    elif force:
        for name in sorted(earlier, key=lambda name: name != "manifest.json"):  # manifest first
            (out / name).unlink()
    # Temporary files of this package's writes cut short (a killed process cannot remove
    # its own): only names it writes, never any other ``.*.tmp`` a user keeps there.
    for stale in out.glob(".*.tmp"):
        if _OWN_TEMP.fullmatch(stale.name) and stale.is_file():
            stale.unlink(missing_ok=True)
    return out


#: The temporary names a run writes in its folder: ``mnist_cnn.tools.files.atomic_write``'s
#: ``.<run file>.<12 hex>.tmp`` and the write probe ``.write-probe.<pid>.tmp``.
_OWN_TEMP = re.compile(r"\.(?:" + "|".join(re.escape(name) for name in RUN_FILES)
                       + r")\.[0-9a-f]{12}\.tmp|\.write-probe\.[0-9]+\.tmp")
