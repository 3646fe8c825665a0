"""Train the seed network on MNIST with the book's own numpy code: ``python -m mnist_cnn.train``.

What this is: the training loop of chapter 5 around the functions the earlier
chapters derived and checked. Each step is :func:`mnist_cnn.network.loss_and_grads`
(im2col forward, Eq. (3.3); delta-rule backward, Eqs. (4.3)-(4.15)) followed by
the momentum update of :class:`mnist_cnn.optim.SGDMomentum`, Eq. (5.1), with the
learning rate of Eq. (5.2) and random shifts of the training images, Eq. (5.3).
Around it: seeded shuffling, evaluation (Eq. (5.4)), atomic saving of the
weights (npz) and of the metrics (JSON), and a command line with two
subcommands, ``train`` (the default) and ``evaluate``.

What this is not: a second implementation of the network (there is none: the
forward and backward passes are the chapters' own), nor a framework. The
architecture is the seed's, fixed: conv 20@5x5 -> max-pool 2x2 -> fc 500 ->
ReLU -> fc 10 -> softmax, float32.

Reproducibility: one seed fixes everything random (the initial weights, the
order of the images in every epoch and every shift), through three independent
streams spawned from ``numpy.random.SeedSequence(seed)``. The arithmetic is
deterministic for a given machine, numpy/OpenBLAS build and number of BLAS
threads (OpenBLAS splits a matrix product across threads in a fixed way, and
no reduction here depends on timing), so the same command gives the same
weights bit for bit there. Another BLAS, another CPU or another thread count
may round differently and end a few hundredths of a percent elsewhere.

Examples
--------
The full run (about 3 minutes on 2 idle cores, longer on a busy machine)::

    python -m mnist_cnn.train --epochs 15 --out runs/full

A smoke test, and evaluating saved weights::

    python -m mnist_cnn.train --epochs 1 --max-steps 20 --limit 512 --out runs/smoke
    python -m mnist_cnn.train evaluate runs/full/weights.npz
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import os
import platform
import resource
import shlex
import sys
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from . import layers
from . import network as net
from .checks import require_float_array, require_ndim, require_positive_int
from .data import MnistDataError, load_mnist
from .files import atomic_write_bytes, atomic_write_text
from .optim import SGDMomentum, learning_rate

__all__ = [
    "PARAM_SHAPES",
    "TrainConfig",
    "TrainResult",
    "WeightsFileError",
    "accuracy",
    "confusion_matrix",
    "evaluate",
    "load_weights",
    "main",
    "peak_rss_mib",
    "predict",
    "random_shifts",
    "save_weights",
    "seed_streams",
    "shift_images",
    "train",
    "train_step",
    "write_json",
]

#: The seed network's parameter shapes, Eq. (0.2): what a weights file must contain.
PARAM_SHAPES: dict[str, tuple[int, ...]] = {
    "w_conv": (20, 1, 5, 5),
    "b_conv": (20,),
    "w_fc1": (500, 2880),
    "b_fc1": (500,),
    "w_fc2": (10, 500),
    "b_fc2": (10,),
}
#: Splits that can be trained on; ``train`` leaves ``val`` out for validation.
TRAIN_SPLITS = ("train", "train_full")
EVAL_SPLITS = ("test", "val", "train", "train_full")


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run; stored in full in the metrics JSON.

    Attributes
    ----------
    epochs : int
        Passes over the training split, >= 1.
    batch_size : int
        ``N`` images per step (64 in the seed). The last batch of an epoch is
        smaller when ``N`` does not divide the split.
    lr : float
        Peak learning rate ``eta_0 > 0`` of Eq. (5.2).
    momentum : float
        ``mu`` in [0, 1), Eq. (5.1).
    weight_decay : float
        ``lambda >= 0``, Eq. (5.1).
    warmup_epochs : float
        Linear warm-up length ``T_w`` in epochs (may be fractional), Eq. (5.2).
    shift : int
        Largest random shift in pixels, 0 = no augmentation, Eq. (5.3).
    split : {"train", "train_full"}
        ``train`` (50,000 images; the 10,000 ``val`` images are evaluated after
        every epoch) or ``train_full`` (all 60,000; no validation).
    seed : int
        Seeds the initial weights, the shuffling and the shifts.
    max_steps : int or None
        Stop after this many steps in total (smoke tests); the learning-rate
        schedule is then laid out over these steps.
    limit : int or None
        Use only the first ``limit`` images of every split (smoke tests).
    eval_batch_size : int
        Images per forward pass when evaluating (memory, not results).
    """

    epochs: int = 15
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    shift: int = 2
    split: str = "train_full"
    seed: int = 0
    max_steps: int | None = None
    limit: int | None = None
    eval_batch_size: int = 1000

    def __post_init__(self) -> None:
        require_positive_int("epochs", self.epochs)
        require_positive_int("batch_size", self.batch_size)
        require_positive_int("shift", self.shift, minimum=0)
        require_positive_int("seed", self.seed, minimum=0)
        require_positive_int("eval_batch_size", self.eval_batch_size)
        if self.max_steps is not None:
            require_positive_int("max_steps", self.max_steps)
        if self.limit is not None:
            require_positive_int("limit", self.limit)
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a finite number > 0; got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1); got {self.momentum}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ValueError(f"weight_decay must be a finite number >= 0; got {self.weight_decay}")
        if not (0 <= self.warmup_epochs < self.epochs):
            raise ValueError(
                f"warmup_epochs must be in [0, epochs = {self.epochs}); got {self.warmup_epochs}"
            )
        if self.split not in TRAIN_SPLITS:
            raise ValueError(f"split must be one of {', '.join(TRAIN_SPLITS)}; got {self.split!r}")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    params : dict str -> ndarray
        The trained float32 parameters (keys :data:`mnist_cnn.network.PARAM_NAMES`).
    metrics : dict
        JSON-ready: ``config``, ``seed``, ``epochs`` (per-epoch train loss and
        accuracy, and val loss and accuracy for ``split="train"``), ``test``,
        ``curve``, ``wall_time_s``, ``train_time_s``, ``steps_per_s``,
        ``images_per_s``, ``peak_rss_mib``, ``environment``.
    """

    params: dict[str, np.ndarray]
    metrics: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- augmentation


def random_shifts(rng: np.random.Generator, n: int, max_shift: int) -> np.ndarray:
    """Draw ``n`` integer shifts ``(dy, dx)``, each uniform in ``[-s, s]``.

    Parameters
    ----------
    rng : numpy.random.Generator
    n : int
        Number of images.
    max_shift : int
        ``s >= 0``.

    Returns
    -------
    ndarray of int64, shape [n, 2]
    """
    max_shift = require_positive_int("max_shift", max_shift, minimum=0)
    return rng.integers(-max_shift, max_shift + 1, size=(n, 2))


def shift_images(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Move every image by its own whole-pixel shift, filling with 0, Eq. (5.3).

    ``x'_{n,c,m,l} = x_{n,c,m-dy_n,l-dx_n}`` if that pixel exists, else 0: a
    positive ``dy`` moves the digit down, a positive ``dx`` to the right.

    Vectorised, no loop over images: the batch is zero-padded by
    ``s = max |shift|`` on each side, :func:`numpy.lib.stride_tricks.sliding_window_view`
    gives every ``H x W`` crop of the padded image as a view, and one fancy
    index picks crop ``(s - dy_n, s - dx_n)`` for image ``n`` (one copy).

    Parameters
    ----------
    x : ndarray, shape [N, C, H, W], float32 or float64
    shifts : ndarray of int, shape [N, 2]
        ``(dy_n, dx_n)`` per image, e.g. from :func:`random_shifts`.

    Returns
    -------
    ndarray, shape [N, C, H, W], same dtype as ``x``
        A new array; ``x`` is not modified.
    """
    require_float_array("x", x)
    require_ndim("x", x, ("N", "C", "H", "W"))
    shifts = np.asarray(shifts)
    if not np.issubdtype(shifts.dtype, np.integer) or shifts.shape != (x.shape[0], 2):
        raise ValueError(
            f"shifts must be an integer array [N, 2] = ({x.shape[0]}, 2); "
            f"got {shifts.dtype} {shifts.shape}"
        )
    n, c, h, w = x.shape
    s = int(np.abs(shifts).max()) if n else 0
    if s == 0:
        return x.copy()
    padded = np.zeros((n, c, h + 2 * s, w + 2 * s), dtype=x.dtype)
    padded[:, :, s : s + h, s : s + w] = x
    crops = sliding_window_view(padded, (h, w), axis=(2, 3))  # [N, C, 2s+1, 2s+1, H, W]
    # Advanced indices on axes 0, 2, 3 around the slice on axis 1: the result is [N, C, H, W].
    return crops[np.arange(n), :, s - shifts[:, 0], s - shifts[:, 1]]


# --------------------------------------------------------------------------- one step


def train_step(
    params: dict[str, np.ndarray],
    optimizer: SGDMomentum,
    x: np.ndarray,
    labels: np.ndarray,
    lr: float,
) -> tuple[float, int]:
    """One SGD step: loss and gradients by the delta rule, then Eq. (5.1) in place.

    ``dL/dx`` of the first layer is skipped (``need_dx=False``): no parameter
    depends on it.

    Parameters
    ----------
    params : dict str -> ndarray
        Updated in place.
    optimizer : SGDMomentum
        Built on ``params``.
    x : ndarray, shape [N, 1, 28, 28], float32
    labels : ndarray of int, shape [N]
    lr : float
        ``eta_t``.

    Returns
    -------
    loss : float
        Eq. (4.1) on this batch, before the update.
    correct : int
        Images of the batch classified correctly, before the update.
    """
    loss, grads, inter = net.loss_and_grads(params, x, labels, need_dx=False)
    correct = int(np.count_nonzero(inter["y"].argmax(axis=1) == labels))
    optimizer.step(grads, lr)
    return float(loss), correct


# --------------------------------------------------------------------------- evaluation


def predict(params: Mapping[str, np.ndarray], images: np.ndarray,
            batch_size: int = 1000) -> np.ndarray:
    """Softmax outputs ``y`` for many images, in batches, Eqs. (3.3)-(1.12).

    Parameters
    ----------
    params : mapping str -> ndarray
        Same dtype as ``images``.
    images : ndarray, shape [N, 1, 28, 28]
    batch_size : int
        Images per forward pass (bounds the memory of im2col).

    Returns
    -------
    ndarray, shape [N, 10], dtype of ``images``
    """
    batch_size = require_positive_int("batch_size", batch_size)
    out = np.empty((images.shape[0], params["w_fc2"].shape[0]), dtype=images.dtype)
    for start in range(0, images.shape[0], batch_size):
        out[start : start + batch_size] = net.forward(params, images[start : start + batch_size])[0]
    return out


def accuracy(y: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose most probable class is the label, Eq. (5.4).

    ``acc = (1/N) sum_n 1[argmax_k y_{n,k} = label_n]``.

    Parameters
    ----------
    y : ndarray, shape [N, D_2]
        Probabilities (or logits: the argmax is the same).
    labels : ndarray of int, shape [N]

    Returns
    -------
    float in [0, 1]
    """
    require_ndim("y", y, ("N", "D_2"))
    if labels.shape != (y.shape[0],):
        raise ValueError(f"labels must have shape [N] = ({y.shape[0]},); got {labels.shape}")
    return float(np.mean(y.argmax(axis=1) == labels))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """Counts of (true class, predicted class) pairs, Eq. (5.5).

    ``C_{a,b} = #{n : label_n = a, argmax_k y_{n,k} = b}``; row ``a`` sums to the
    number of images of class ``a``, and the trace over ``N`` is the accuracy.

    Parameters
    ----------
    labels, predicted : ndarray of int, shape [N]
        Classes ``0..classes-1``.
    classes : int, default 10

    Returns
    -------
    ndarray of int64, shape [classes, classes]
    """
    classes = require_positive_int("classes", classes)
    if labels.shape != predicted.shape or labels.ndim != 1:
        raise ValueError(f"labels and predicted must both be [N]; got {labels.shape} and "
                         f"{predicted.shape}")
    for name, a in (("labels", labels), ("predicted", predicted)):
        if a.size and (a.min() < 0 or a.max() >= classes):
            raise ValueError(f"{name} must lie in [0, {classes - 1}]")
    flat = np.bincount(labels * classes + predicted, minlength=classes * classes)
    return flat.reshape(classes, classes)


def evaluate(params: Mapping[str, np.ndarray], images: np.ndarray, labels: np.ndarray,
             batch_size: int = 1000) -> dict[str, float | int]:
    """Loss (Eq. (4.1)) and accuracy (Eq. (5.4)) of ``params`` on a whole split.

    Parameters
    ----------
    params : mapping str -> ndarray
        The six parameter tensors of the seed network (:data:`network.PARAM_NAMES`).
    images : ndarray, shape [N, 1, 28, 28], float32 or float64
    labels : ndarray of int, shape [N]
        Classes ``0..D_2-1``.
    batch_size : int, default 1000
        Images per forward pass; bounds the memory of im2col, not the result.

    Returns
    -------
    dict
        ``loss`` (mean cross-entropy), ``accuracy`` (fraction), ``correct`` and
        ``images`` (counts).
    """
    y = predict(params, images, batch_size)
    loss = float(layers.cross_entropy(y, labels))  # also checks the labels' shape and range
    correct = int(np.count_nonzero(y.argmax(axis=1) == labels))
    return {"loss": loss, "accuracy": correct / len(labels), "correct": correct,
            "images": int(len(labels))}


# --------------------------------------------------------------------------- files


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
        Keys :data:`mnist_cnn.network.PARAM_NAMES`.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(params[name]) for name in net.PARAM_NAMES})
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_weights(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Read and check a weights file written by :func:`save_weights`.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    dict str -> ndarray
        The six parameters, all float32 or all float64, of the shapes in
        :data:`PARAM_SHAPES`.

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
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise WeightsFileError(f"{path} is a single .npy array, not an .npz of weights")
        with loaded as npz:
            files = set(npz.files)
            missing = [name for name in net.PARAM_NAMES if name not in files]
            if missing:
                present = ", ".join(sorted(files)) or "no arrays"
                raise WeightsFileError(f"{path} lacks {', '.join(missing)}; it has {present}")
            params = {name: npz[name] for name in net.PARAM_NAMES}
    except WeightsFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsFileError(f"{path} is not a readable .npz file ({reason})") from None
    dtypes = {params[name].dtype for name in net.PARAM_NAMES}
    for name, expected in PARAM_SHAPES.items():
        a = params[name]
        if a.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise WeightsFileError(f"{path}: {name} must be float32 or float64; got {a.dtype}")
        if a.shape != expected:
            raise WeightsFileError(f"{path}: {name} must have shape {expected}; got {a.shape}")
    if len(dtypes) != 1:
        raise WeightsFileError(f"{path}: the arrays mix dtypes {sorted(map(str, dtypes))}")
    bad = [name for name in net.PARAM_NAMES if not np.isfinite(params[name]).all()]
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


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB.

    On Linux this is ``VmHWM`` from ``/proc/self/status``, the high-water mark of
    the process's own memory. ``resource.getrusage(...).ru_maxrss`` is the
    fallback elsewhere; on Linux it is not used because it survives ``exec``,
    so a process started from a large parent (say, from pytest) would report
    the parent's peak.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)  # macOS: bytes; Linux: KiB


def _environment() -> dict[str, Any]:
    from .bench import blas_threads  # here, not at the top: bench imports this module

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "blas_threads": blas_threads(),
    }


# --------------------------------------------------------------------------- the loop


def seed_streams(seed: int) -> tuple[np.random.Generator, ...]:
    """The three independent random streams of a run: initial weights, order, shifts.

    Spawned from ``numpy.random.SeedSequence(seed)``, so changing how many
    shifts are drawn (say ``--shift 0``) does not change the initial weights
    or the order of the images.

    Parameters
    ----------
    seed : int
        ``>= 0``.

    Returns
    -------
    tuple of numpy.random.Generator
        ``(rng_init, rng_order, rng_shift)``.
    """
    seed = require_positive_int("seed", seed, minimum=0)
    return tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))


def _subset(images: np.ndarray, labels: np.ndarray, limit: int | None):
    return (images, labels) if limit is None else (images[:limit], labels[:limit])


def train(
    config: TrainConfig,
    *,
    progress: bool = True,
    curve_every: int = 0,
    curve_images: int | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train the seed network with mini-batch SGD, Eqs. (5.1)-(5.3), and test it.

    Per epoch: a fresh seeded permutation of the training images, batches of
    ``config.batch_size``, each shifted at random by up to ``config.shift``
    pixels (Eq. (5.3)), one :func:`train_step` per batch with the rate of
    Eq. (5.2). After every epoch the ``val`` split is evaluated if the
    training split is ``train``; after the last one, the ``test`` split.

    Initialisation: He normal, ``w ~ N(0, 2/fan_in)`` and zero biases
    (:func:`mnist_cnn.network.init_params`), which keeps the activations and
    the logits of order 1 at the start, so the softmax is neither saturated
    nor flat and the first gradients are of a useful size.

    Parameters
    ----------
    config : TrainConfig
    progress : bool, default True
        Show a tqdm progress bar per epoch (loss, accuracy and rate so far).
    curve_every : int, default 0
        If > 0, every ``curve_every`` steps append a point to
        ``metrics["curve"]``: the mean train loss and accuracy since the last
        point and the val loss and accuracy (``split="train"`` only).
    curve_images : int, optional
        Evaluate the curve points on the first ``curve_images`` val images only
        (faster); default all.
    log : callable, optional
        Receives one summary line per epoch and at the end (default: print,
        or ``tqdm.write`` with a progress bar).

    Returns
    -------
    TrainResult
    """
    from tqdm import tqdm  # imported here: only the loop needs it

    start_wall = time.perf_counter()
    emit = log or (tqdm.write if progress else print)
    rng_init, rng_order, rng_shift = seed_streams(config.seed)

    images, labels = _subset(*load_mnist(config.split, np.float32), config.limit)
    val = _subset(*load_mnist("val", np.float32), config.limit) if config.split == "train" else None
    test_images, test_labels = _subset(*load_mnist("test", np.float32), config.limit)

    params = net.init_params(rng_init, np.float32)
    optimizer = SGDMomentum(params, config.momentum, config.weight_decay)
    n = len(labels)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    warmup_steps = min(round(config.warmup_epochs * steps_per_epoch), total_steps - 1)
    epochs_run = math.ceil(total_steps / steps_per_epoch)

    emit(f"training on {config.split}: {n:,} images, {epochs_run} epoch(s) of up to "
         f"{steps_per_epoch} steps of {config.batch_size} ({total_steps} steps); lr {config.lr} "
         f"(warm-up {warmup_steps} steps, then cosine), momentum {config.momentum}, weight decay "
         f"{config.weight_decay}, shifts up to {config.shift} px, seed {config.seed}")
    epochs: list[dict[str, Any]] = []
    curve: list[dict[str, Any]] = []
    curve_loss = curve_correct = curve_seen = 0.0
    step = images_seen = 0
    train_seconds = 0.0
    for epoch in range(1, epochs_run + 1):
        epoch_start = time.perf_counter()
        order = rng_order.permutation(n)
        steps = min(steps_per_epoch, total_steps - step)
        loss_sum = 0.0
        correct = seen = 0
        bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs_run}", unit="step",
                   disable=not progress, leave=True, mininterval=0.5, file=sys.stderr)
        for b in range(steps):
            idx = order[b * config.batch_size : (b + 1) * config.batch_size]
            x, t = images[idx], labels[idx]
            if config.shift:
                x = shift_images(x, random_shifts(rng_shift, len(idx), config.shift))
            lr = learning_rate(step, total_steps, config.lr, warmup_steps)
            loss, hits = train_step(params, optimizer, x, t, lr)
            if not math.isfinite(loss):
                bar.close()
                raise FloatingPointError(
                    f"the loss became {loss} at step {step + 1} (epoch {epoch}); "
                    f"try a smaller --lr than {config.lr}"
                )
            loss_sum += loss * len(idx)
            correct += hits
            seen += len(idx)
            curve_loss += loss * len(idx)
            curve_correct += hits
            curve_seen += len(idx)
            images_seen += len(idx)
            step += 1
            bar.update(1)
            if b % 20 == 0 or b == steps - 1:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{100 * correct / seen:.2f}%",
                                lr=f"{lr:.2g}", refresh=False)
            if curve_every and step % curve_every == 0:
                point = {"step": step, "epoch": step / steps_per_epoch,
                         "train_loss": curve_loss / curve_seen,
                         "train_acc": curve_correct / curve_seen}
                curve_loss = curve_correct = curve_seen = 0.0
                if val is not None:
                    ev = evaluate(params, val[0][:curve_images], val[1][:curve_images],
                                  config.eval_batch_size)
                    point.update(val_loss=ev["loss"], val_acc=ev["accuracy"])
                curve.append(point)
        bar.close()
        train_seconds += time.perf_counter() - epoch_start
        record: dict[str, Any] = {"epoch": epoch, "steps": steps, "lr_last": lr,
                                  "train_loss": loss_sum / seen, "train_acc": correct / seen}
        line = (f"epoch {epoch}/{epochs_run}: train loss {record['train_loss']:.4f} "
                f"acc {100 * record['train_acc']:.2f}%")
        if val is not None:
            ev = evaluate(params, *val, config.eval_batch_size)
            record.update(val_loss=ev["loss"], val_acc=ev["accuracy"])
            line += f", val loss {ev['loss']:.4f} acc {100 * ev['accuracy']:.2f}%"
        record["seconds"] = time.perf_counter() - epoch_start
        epochs.append(record)
        emit(line + f" ({record['seconds']:.1f} s)")

    test = evaluate(params, test_images, test_labels, config.eval_batch_size)
    wall = time.perf_counter() - start_wall
    metrics: dict[str, Any] = {
        "config": dataclasses.asdict(config),
        "seed": config.seed,
        "steps": step,
        "images_per_epoch": n,
        "epochs": epochs,
        "curve": curve,
        "test": test,
        "wall_time_s": wall,
        "train_time_s": train_seconds,
        "images_per_s": images_seen / train_seconds,
        "peak_rss_mib": peak_rss_mib(),
        "environment": _environment(),
    }
    return TrainResult(params, metrics)


# --------------------------------------------------------------------------- command line


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: ...)`` only where there is a default worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False \
                or action.default is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= minimum."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer; got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}; got {value}")
        return value

    return parse


def _float_in(low: float, high: float | None, low_open: bool = False,
              high_open: bool = True) -> Callable[[str], float]:
    """An argparse type: a finite float in [low, high) (ends open or closed as asked)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
        too_low = value <= low if low_open else value < low
        too_high = high is not None and (value >= high if high_open else value > high)
        if not math.isfinite(value) or too_low or too_high:
            lo = f"> {low}" if low_open else f">= {low}"
            hi = "" if high is None else (f" and < {high}" if high_open else f" and <= {high}")
            raise argparse.ArgumentTypeError(f"must be {lo}{hi}; got {text}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    defaults = TrainConfig()
    parser = _Parser(
        prog="python -m mnist_cnn.train",
        description=(
            "Train the seed CNN (conv 20@5x5, max-pool 2x2, fc 500, ReLU, fc 10) on MNIST with "
            "the book's numpy code, or evaluate saved weights. With no subcommand, 'train' runs "
            "and its options may follow directly."
        ),
        epilog=(
            "examples:\n"
            "  python -m mnist_cnn.train --epochs 15 --out runs/full\n"
            "  python -m mnist_cnn.train --max-steps 20 --limit 512 --out runs/smoke\n"
            "  python -m mnist_cnn.train evaluate runs/full/weights.npz\n"
            "'python -m mnist_cnn.train SUBCOMMAND --help' lists the options of one subcommand."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", parser_class=_Parser)

    t = sub.add_parser(
        "train", help="train, then test; save weights.npz and metrics.json",
        description=(
            "Mini-batch SGD with momentum and weight decay (Eq. 5.1), linear warm-up then cosine "
            "learning rate (Eq. 5.2) and random shifts of the training images (Eq. 5.3). Prints "
            "a progress bar per epoch, then the test accuracy, the wall time and the peak memory; "
            "writes OUT/weights.npz and OUT/metrics.json atomically."
        ),
        formatter_class=_HelpFormatter,
    )
    t.add_argument("--epochs", type=_int_at_least(1), default=defaults.epochs,
                   metavar="N",
                   help="passes over the training split")
    t.add_argument("--batch-size", type=_int_at_least(1), metavar="N",
                   default=defaults.batch_size, help="images per SGD step")
    t.add_argument("--lr", type=_float_in(0, None, low_open=True), default=defaults.lr,
                   help="peak learning rate eta_0")
    t.add_argument("--momentum", type=_float_in(0, 1), default=defaults.momentum,
                   metavar="MU",
                   help="momentum mu, in [0, 1)")
    t.add_argument("--weight-decay", type=_float_in(0, None), metavar="LAMBDA",
                   default=defaults.weight_decay, help="L2 weight decay lambda")
    t.add_argument("--warmup-epochs", type=_float_in(0, None), metavar="E",
                   default=defaults.warmup_epochs,
                   help="linear warm-up length in epochs (may be fractional), then cosine decay")
    t.add_argument("--shift", type=_int_at_least(0), default=defaults.shift,
                   metavar="PX",
                   help="largest random shift of a training image in pixels (0: none)")
    t.add_argument("--split", choices=TRAIN_SPLITS, default=defaults.split,
                   help="train: 50,000 images and validation on the other 10,000 after each "
                        "epoch; train_full: all 60,000, no validation")
    t.add_argument("--seed", type=_int_at_least(0), default=defaults.seed, metavar="N",
                   help="seed of the initial weights, the shuffling and the shifts")
    t.add_argument("--out", type=Path, default=Path("runs/train"), metavar="DIR",
                   help="folder for weights.npz and metrics.json (created if needed)")
    t.add_argument("--max-steps", type=_int_at_least(1), default=None,
                   metavar="N",
                   help="stop after this many steps in total (smoke tests)")
    t.add_argument("--limit", type=_int_at_least(1), default=None, metavar="N",
                   help="use only the first N images of every split (smoke tests)")
    t.add_argument("--eval-batch-size", type=_int_at_least(1), metavar="N",
                   default=defaults.eval_batch_size, help="images per forward pass when evaluating")
    t.add_argument("--threads", type=_int_at_least(1), default=None, metavar="N",
                   help="BLAS threads (default: the library's own choice, usually one per "
                        "core; 1 can be faster on a busy machine)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser(
        "evaluate", help="accuracy and loss of saved weights on a split",
        description="Load WEIGHTS (an npz written by 'train'), check it, and report its "
                    "accuracy and mean cross-entropy on one MNIST split.",
        formatter_class=_HelpFormatter,
    )
    e.add_argument("weights", type=Path, metavar="WEIGHTS", help="path to weights.npz")
    e.add_argument("--split", choices=EVAL_SPLITS, default="test", help="split to evaluate on")
    e.add_argument("--limit", type=_int_at_least(1), default=None, metavar="N",
                   help="use only the first N images")
    e.add_argument("--batch-size", type=_int_at_least(1), default=1000,
                   metavar="N",
                   help="images per forward pass")
    e.add_argument("--threads", type=_int_at_least(1), default=None, metavar="N",
                   help="BLAS threads (default: the library's own choice)")
    return parser


def _run_train(args: argparse.Namespace, prog: str, argv: list[str]) -> int:
    try:
        config = TrainConfig(
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, momentum=args.momentum,
            weight_decay=args.weight_decay, warmup_epochs=args.warmup_epochs, shift=args.shift,
            split=args.split, seed=args.seed, max_steps=args.max_steps, limit=args.limit,
            eval_batch_size=args.eval_batch_size,
        )
    except ValueError as exc:  # what one option alone cannot show, e.g. warm-up >= epochs
        print(f"{prog}: error: {exc} (see --help)", file=sys.stderr)
        return 2
    result = train(config, progress=not args.no_progress)
    metrics = result.metrics
    weights_path = save_weights(args.out / "weights.npz", result.params)
    metrics["weights"] = str(weights_path)
    metrics["command"] = shlex.join(["python", "-m", "mnist_cnn.train", *argv])
    metrics_path = write_json(args.out / "metrics.json", metrics)
    test = metrics["test"]
    print(f"test accuracy {100 * test['accuracy']:.2f}% ({test['correct']}/{test['images']}), "
          f"test loss {test['loss']:.4f}")
    print(f"wall time {metrics['wall_time_s']:.1f} s ({metrics['images_per_s']:.0f} training "
          f"images/s), peak RSS {metrics['peak_rss_mib']:.0f} MiB")
    print(f"saved {weights_path} and {metrics_path}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    params = load_weights(args.weights)
    images, labels = _subset(*load_mnist(args.split, params["w_fc1"].dtype), args.limit)
    start = time.perf_counter()
    result = evaluate(params, images, labels, args.batch_size)
    seconds = time.perf_counter() - start
    print(f"{args.split} accuracy {100 * result['accuracy']:.2f}% "
          f"({result['correct']}/{result['images']}), loss {result['loss']:.4f}, "
          f"{seconds:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``python -m mnist_cnn.train``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``. Without a
        subcommand, ``train`` is assumed.

    Returns
    -------
    int
        0 on success, 1 on a failure, 2 on bad input (arguments or weight file).
    """
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in ("train", "evaluate", "-h", "--help"):
        argv = ["train", *argv]
    args = parser.parse_args(argv)
    prog = parser.prog
    try:
        if args.threads is not None:
            from .bench import set_blas_threads  # here: bench imports this module

            set_blas_threads(args.threads)
        if args.command == "evaluate":
            return _run_evaluate(args)
        return _run_train(args, prog, argv)
    except WeightsFileError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except (MnistDataError, FloatingPointError, OSError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing was saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
