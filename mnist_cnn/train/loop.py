"""The training loop of chapter 5: ``train_step`` and ``train``.

What this is: the loop around the functions the earlier chapters derived and
checked. Each step is :func:`mnist_cnn.reference.network.loss_and_grads` (im2col
forward, Eq. (3.3); delta-rule backward, Eqs. (4.3)-(4.15)) followed by the momentum update
of :class:`mnist_cnn.reference.optim.SGDMomentum`, Eq. (5.1), with the learning
rate of Eq. (5.2) and random shifts of the training images, Eq. (5.3). Around
it: seeded shuffling and evaluation (Eq. (5.4), :mod:`.metrics`). :func:`train`
runs the same step on the hot path of :mod:`mnist_cnn.fast` (threads of its own,
conv and pooling as one product, buffers kept between steps), tested equal to
these forms to rounding, and evaluates on the same threads.

What this is not: a second implementation of the network (there is none), the
files a run writes (:mod:`.artifacts`) or the command line (:mod:`.cli`). The
hyper-parameters are checked once, in :class:`TrainConfig`; the loop trusts them.

Reproducibility: one seed fixes everything random (the initial weights, the
order of the images in every epoch and every shift), through three independent
streams spawned from ``numpy.random.SeedSequence(seed)``. The arithmetic is
deterministic for a given machine, numpy/OpenBLAS build and number of
threads (``--threads``: the step cuts its work into the same shares every time,
adds their partial sums in a fixed order, and no reduction depends on timing),
so the same command gives the same weights bit for bit there. Another BLAS,
another CPU or another thread count may round differently and end a few
hundredths of a percent elsewhere.

The command line is :mod:`.cli`: ``python -m mnist_cnn.train --help``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from tqdm import tqdm

from mnist_cnn import validate
from mnist_cnn.architecture import SEED
from mnist_cnn.data import load_mnist
from mnist_cnn.fast.optim import BlockedSGDMomentum
from mnist_cnn.fast.step import Workspace, fast_train_step
from mnist_cnn.reference import network as net
from mnist_cnn.reference.optim import SGDMomentum, check_hyperparameters, learning_rate
from mnist_cnn.tools.runtime import environment, peak_rss_mib
from mnist_cnn.train.checkpoint import RunState, check_resume
from mnist_cnn.train.metrics import evaluate
from mnist_cnn.validate import checked, require_positive_int

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "random_shifts",
    "seed_streams",
    "shift_images",
    "train",
    "train_step",
]

#: Splits that can be trained on; ``train`` leaves ``val`` out for validation.
TRAIN_SPLITS = ("train", "train_full")
EVAL_SPLITS = ("test", "val", "train", "train_full")


# --------------------------------------------------------------------------- configuration

#: Upper bounds of the integer options, and why (checked by ``TrainConfig``).
LIMITS = {"epochs": 10_000, "batch_size": 10_000, "eval_batch_size": 10_000,
          "shift": (SEED.H - 1) // 2, "seed": 2**63 - 1}
LIMIT_REASONS = {
    "epochs": "a run of more epochs would take months",
    "batch_size": "a step on more images needs several GB",
    "eval_batch_size": "a forward pass on more images needs several GB",
    "shift": f"a shift of half the {SEED.H}-px image or more leaves no digit",
    "seed": "numpy seeds are 64-bit",
}


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
        for name in ("epochs", "batch_size", "shift", "seed", "eval_batch_size"):
            value, largest = getattr(self, name), LIMITS[name]
            if value > largest:
                raise ValueError(f"{name} must be <= {largest:,} ({LIMIT_REASONS[name]}); "
                                 f"got {value:,}")
        if self.max_steps is not None:
            require_positive_int("max_steps", self.max_steps)
        if self.limit is not None:
            require_positive_int("limit", self.limit)
        check_hyperparameters(self.lr, self.momentum, self.weight_decay)
        validate.require_real("warmup_epochs", self.warmup_epochs)
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
        The trained float32 parameters (keys :data:`mnist_cnn.reference.network.PARAM_NAMES`).
    metrics : dict
        JSON-ready: ``config``, ``seed``, ``epochs`` (per-epoch train loss and
        accuracy, and val loss and accuracy for ``split="train"``), ``test``,
        ``curve``, ``wall_time_s``, ``train_time_s``, ``data_path_s`` (the part of
        ``train_time_s`` spent shuffling, batching and shifting, Eq. (5.3)),
        ``images_per_s``, ``peak_rss_mib``, ``environment``.
    """

    params: dict[str, np.ndarray]
    metrics: dict[str, Any] = field(default_factory=dict)


class TrainingInterrupted(Exception):
    """:func:`train` stopped at a step boundary because ``stop()`` said so; state checkpointed.

    Attributes
    ----------
    state : RunState
        What was saved.
    """

    def __init__(self, state: RunState) -> None:
        super().__init__(f"stopped at {state.describe()}")
        self.state = state


# --------------------------------------------------------------------------- augmentation


def _check_shifts(rng, n, max_shift) -> None:
    validate.shift_args(rng, n, max_shift)


@checked(_check_shifts)
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
    return rng.integers(-max_shift, max_shift + 1, size=(n, 2))


def _check_shift_images(x, shifts) -> None:
    validate.shift_images_args(x, shifts)


@checked(_check_shift_images)
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
    shifts = np.asarray(shifts)
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
    workspace: Workspace | None = None,
) -> tuple[float, int]:
    """One SGD step: loss and gradients by the delta rule, then Eq. (5.1) in place.

    ``dL/dx`` of the first layer is skipped (``need_dx=False``): no parameter
    depends on it. The input is checked once, at the door of ``loss_and_grads``.
    With a ``workspace``, the step runs on the hot path instead
    (:func:`mnist_cnn.fast.step.fast_train_step`: the same sums on all cores,
    tested equal to rounding); then ``optimizer`` must be a
    :class:`mnist_cnn.fast.optim.BlockedSGDMomentum`.

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
    workspace : mnist_cnn.fast.step.Workspace, optional
        Threads and buffers kept between steps (what :func:`train` passes).

    Returns
    -------
    loss : float
        Eq. (4.1) on this batch, before the update.
    correct : int
        Images of the batch classified correctly, before the update.
    """
    if workspace is None:
        loss, grads, inter = net.loss_and_grads(params, x, labels, SEED, need_dx=False)
        y = inter["y"]
        optimizer.step(grads, lr)
    else:
        loss, y = fast_train_step(params, optimizer, x, labels, lr, workspace)
    correct = int(np.count_nonzero(y.argmax(axis=1) == labels))
    return float(loss), correct


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
    resume: RunState | None = None,
    checkpoint: Callable[[RunState], None] | None = None,
    stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Train the seed network with mini-batch SGD, Eqs. (5.1)-(5.3), and test it.

    Per epoch: a fresh seeded permutation of the training images, batches of
    ``config.batch_size``, each shifted at random by up to ``config.shift``
    pixels (Eq. (5.3)), one :func:`train_step` per batch with the rate of
    Eq. (5.2). After every epoch the ``val`` split is evaluated if the
    training split is ``train``; after the last one, the ``test`` split.

    Initialisation: He normal, ``w ~ N(0, 2/fan_in)`` and zero biases
    (:func:`mnist_cnn.reference.network.init_params`), which keeps the activations and
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
    resume : RunState, optional
        Continue from this state (:func:`mnist_cnn.train.checkpoint.load_checkpoint`)
        instead of starting; its ``config`` must equal ``config``. With the same
        BLAS threads, the result is bit for bit that of the uninterrupted run.
    checkpoint : callable, optional
        ``checkpoint(state)`` is called with the :class:`RunState` at the end of
        every epoch and before :class:`TrainingInterrupted` is raised.
    stop : callable, optional
        Asked after every step; if it returns True, the state is checkpointed and
        :class:`TrainingInterrupted` is raised (the command line's Ctrl-C).

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingInterrupted
        When ``stop()`` returned True; it carries the checkpointed state.
    """
    start_wall = time.perf_counter()
    rng_init, rng_order, rng_shift = seed_streams(config.seed)
    (images, labels), val, test = _load_splits(config)
    params, optimizer, state = _start(config, resume, rng_init, rng_order, rng_shift)
    plan = _plan(config, len(labels))
    if resume is not None:  # the checkpoint must fit this run's plan (steps, epochs, images)
        check_resume(state, plan.images, plan.steps_per_epoch, plan.total_steps)
    run = _Run(config, plan, images, labels, val, params, optimizer,
               state, Workspace(config.batch_size, np.float32), rng_order, rng_shift,
               log or (tqdm.write if progress else print), progress, curve_every,
               curve_images, checkpoint, stop)
    run.announce(resumed=resume is not None)
    for epoch in range(state.epoch + 1, run.plan.epochs + 1):
        run.epoch(epoch)
        if stop is not None and epoch < run.plan.epochs and stop():
            raise TrainingInterrupted(state)
    scores = evaluate(params, *test, config.eval_batch_size, run.workspace)
    return TrainResult(params, run.metrics(scores, time.perf_counter() - start_wall))


# --------------------------------------------------------------------------- train's parts


def _load_splits(config: TrainConfig):
    """``(images, labels)`` of the training split, of ``val`` (or None) and of ``test``."""
    images, labels = _subset(*load_mnist(config.split, np.float32), config.limit)
    val = _subset(*load_mnist("val", np.float32), config.limit) if config.split == "train" else None
    test = _subset(*load_mnist("test", np.float32), config.limit)
    if len(labels) == 0:
        raise ValueError(f"the {config.split} split is empty; nothing to train on")
    return (images, labels), val, test


def _start(config: TrainConfig, resume: RunState | None, rng_init, rng_order, rng_shift):
    """Fresh He weights and zero velocity, or the checkpointed run continued.

    Returns ``(params, optimizer, state)``; the optimiser is the hot path's
    :class:`mnist_cnn.fast.optim.BlockedSGDMomentum` (equal to the readable
    ``SGDMomentum`` bit for bit). On a resume the two generators are set to their
    checkpointed states.
    """
    if resume is None:
        params = net.init_params(rng_init, np.float32)
        optimizer = BlockedSGDMomentum(params, config.momentum, config.weight_decay)
        state = RunState(params=params, velocity=optimizer.velocity, optimizer_steps=0,
                         rng_order={}, rng_shift={}, config=dataclasses.asdict(config))
        return params, optimizer, state
    if resume.config != dataclasses.asdict(config):
        differ = sorted(k for k, v in dataclasses.asdict(config).items()
                        if resume.config.get(k) != v)
        raise ValueError(
            "--resume needs the options of the checkpointed run; these differ: "
            + ", ".join(f"{k} (checkpoint {resume.config.get(k)!r}, now "
                        f"{getattr(config, k)!r})" for k in differ))
    params = {name: np.array(a) for name, a in resume.params.items()}  # writable copies
    optimizer = BlockedSGDMomentum(params, config.momentum, config.weight_decay)
    optimizer.import_state(resume.velocity, resume.optimizer_steps)
    resume.params, resume.velocity = params, optimizer.velocity
    rng_order.bit_generator.state = resume.rng_order
    rng_shift.bit_generator.state = resume.rng_shift
    return params, optimizer, resume


@dataclass(frozen=True)
class _Plan:
    """The run's length: ``T`` and ``T_w`` of Eq. (5.2), and the epochs they span."""

    images: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int
    epochs: int


def _plan(config: TrainConfig, n: int) -> _Plan:
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps)
    warmup_steps = min(round(config.warmup_epochs * steps_per_epoch), total_steps - 1)
    return _Plan(n, steps_per_epoch, total_steps, warmup_steps,
                 math.ceil(total_steps / steps_per_epoch))


@dataclass
class _Run:
    """A run under way: what its steps, curve points and epoch ends read and update.

    The running sums live in ``state.sums``, so a checkpoint between two steps holds them.
    """

    config: TrainConfig
    plan: _Plan
    images: np.ndarray
    labels: np.ndarray
    val: tuple[np.ndarray, np.ndarray] | None
    params: dict[str, np.ndarray]
    optimizer: BlockedSGDMomentum
    state: RunState
    workspace: Workspace
    rng_order: np.random.Generator
    rng_shift: np.random.Generator
    emit: Callable[[str], None]
    progress: bool
    curve_every: int
    curve_images: int | None
    checkpoint: Callable[[RunState], None] | None
    stop: Callable[[], bool] | None

    def announce(self, resumed: bool) -> None:
        """Three short lines (they must not wrap in a notebook, <= 90); the sums set up."""
        config, plan = self.config, self.plan
        self.emit(f"training on {config.split}: {plan.images:,} images, {plan.epochs} epoch(s) "
                  f"of up to {plan.steps_per_epoch} steps of {config.batch_size} "
                  f"({plan.total_steps} steps)")
        self.emit(f"lr {config.lr} (warm-up {plan.warmup_steps} steps, then cosine), momentum "
                  f"{config.momentum}, weight decay {config.weight_decay},")
        self.emit(f"shifts up to {config.shift} px, seed {config.seed}"
                  + (f"; resumed at step {self.state.step}" if resumed else ""))
        for key in ("loss", "correct", "seen", "curve_loss", "curve_correct", "curve_seen",
                    "images_seen", "train_seconds", "data_seconds", "lr"):
            self.state.sums.setdefault(key, 0.0)

    def save_state(self) -> None:
        """Copy the optimiser's and generators' positions into the state; checkpoint it."""
        state = self.state
        state.optimizer_steps = self.optimizer.steps
        state.rng_order = self.rng_order.bit_generator.state
        state.rng_shift = self.rng_shift.bit_generator.state
        if self.checkpoint is not None:
            self.checkpoint(state)

    def epoch(self, epoch: int) -> None:
        """One epoch (or the rest of it, on a resume): its steps under a progress bar, its end."""
        state, sums = self.state, self.state.sums
        epoch_start = time.perf_counter()
        if state.batch == 0:
            state.order = self.rng_order.permutation(self.plan.images)
            sums.update(loss=0.0, correct=0.0, seen=0.0)
            sums["data_seconds"] += time.perf_counter() - epoch_start
        steps = min(self.plan.steps_per_epoch,
                    self.plan.total_steps - (state.step - state.batch))
        bar = tqdm(total=steps, initial=state.batch, desc=f"epoch {epoch}/{self.plan.epochs}",
                   unit="step", disable=not self.progress, leave=True, mininterval=0.5,
                   file=sys.stderr)
        for b in range(state.batch, steps):
            self.step(b, epoch, steps, bar)
            if self.stop is not None and b < steps - 1 and self.stop():
                bar.close()
                sums["train_seconds"] += time.perf_counter() - epoch_start
                self.save_state()
                raise TrainingInterrupted(state)
        bar.close()
        sums["train_seconds"] += time.perf_counter() - epoch_start
        self.end_epoch(epoch, steps, epoch_start)

    def step(self, b: int, epoch: int, steps: int, bar) -> None:
        """Batch ``b``: shifted (5.3), one :func:`train_step` at the rate of (5.2), the sums."""
        config, state, sums = self.config, self.state, self.state.sums
        data_start = time.perf_counter()
        idx = state.order[b * config.batch_size : (b + 1) * config.batch_size]
        x, t = self.images[idx], self.labels[idx]
        if config.shift:  # the config was checked once: the bare bodies trust it
            x = shift_images.unchecked(
                x, random_shifts.unchecked(self.rng_shift, len(idx), config.shift))
        sums["data_seconds"] += time.perf_counter() - data_start
        lr = learning_rate.unchecked(state.step, self.plan.total_steps, config.lr,
                                     self.plan.warmup_steps)
        loss, hits = train_step(self.params, self.optimizer, x, t, lr, self.workspace)
        if not math.isfinite(loss):
            bar.close()
            raise FloatingPointError(
                f"the loss became {loss} at step {state.step + 1} (epoch {epoch}); "
                f"try a smaller --lr than {config.lr}"
            )
        sums["loss"] += loss * len(idx)
        sums["correct"] += hits
        sums["seen"] += len(idx)
        sums["curve_loss"] += loss * len(idx)
        sums["curve_correct"] += hits
        sums["curve_seen"] += len(idx)
        sums["images_seen"] += len(idx)
        sums["lr"] = lr
        state.step += 1
        state.batch = b + 1
        bar.update(1)
        if b % 20 == 0 or b == steps - 1:
            bar.set_postfix(loss=f"{sums['loss'] / sums['seen']:.4f}",
                            acc=f"{100 * sums['correct'] / sums['seen']:.2f}%",
                            lr=f"{lr:.2g}", refresh=False)
        if self.curve_every and state.step % self.curve_every == 0:
            self.curve_point()

    def curve_point(self) -> None:
        """The mean train loss and accuracy since the last point, and the val scores."""
        state, sums = self.state, self.state.sums
        point = {"step": state.step, "epoch": state.step / self.plan.steps_per_epoch,
                 "train_loss": sums["curve_loss"] / sums["curve_seen"],
                 "train_acc": sums["curve_correct"] / sums["curve_seen"]}
        sums.update(curve_loss=0.0, curve_correct=0.0, curve_seen=0.0)
        if self.val is not None:
            images, labels = (a[: self.curve_images] for a in self.val)
            ev = evaluate(self.params, images, labels, self.config.eval_batch_size,
                          self.workspace)
            point.update(val_loss=ev["loss"], val_acc=ev["accuracy"])
        state.curve.append(point)

    def end_epoch(self, epoch: int, steps: int, epoch_start: float) -> None:
        """The epoch's record (with the val scores), the state at the boundary, its checkpoint."""
        state, sums = self.state, self.state.sums
        record: dict[str, Any] = {"epoch": epoch, "steps": steps, "lr_last": sums["lr"],
                                  "train_loss": sums["loss"] / sums["seen"],
                                  "train_acc": sums["correct"] / sums["seen"]}
        line = (f"epoch {epoch}/{self.plan.epochs}: train loss {record['train_loss']:.4f} "
                f"acc {100 * record['train_acc']:.2f}%")
        if self.val is not None:
            ev = evaluate(self.params, *self.val, self.config.eval_batch_size, self.workspace)
            record.update(val_loss=ev["loss"], val_acc=ev["accuracy"])
            line += f", val loss {ev['loss']:.4f} acc {100 * ev['accuracy']:.2f}%"
        record["seconds"] = time.perf_counter() - epoch_start
        state.epochs.append(record)
        state.epoch, state.batch = epoch, 0
        state.order = np.zeros(0, dtype=np.int64)
        self.save_state()
        self.emit(line + f" ({record['seconds']:.1f} s)")

    def metrics(self, test: dict[str, Any], wall: float) -> dict[str, Any]:
        """The JSON-ready metrics of :class:`TrainResult`."""
        state, sums = self.state, self.state.sums
        return {
            "config": dataclasses.asdict(self.config),
            "seed": self.config.seed,
            "steps": state.step,
            "images_per_epoch": self.plan.images,
            "epochs": state.epochs,
            "curve": state.curve,
            "test": test,
            "wall_time_s": wall,
            "train_time_s": sums["train_seconds"],
            "data_path_s": sums["data_seconds"],
            "images_per_s": sums["images_seen"] / max(sums["train_seconds"], 1e-9),
            "peak_rss_mib": peak_rss_mib(),
            "environment": environment(),
        }
