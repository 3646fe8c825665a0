"""``python -m mnist_cnn.book.bench train``: the training step, layer by layer, and against PyTorch.

What this is: the training step (the hot path of :mod:`mnist_cnn.fast` that
``train`` runs), inference and a whole epoch of the network in images per
second; the readable step (:mod:`mnist_cnn.reference`) layer by layer and
the hot path phase by phase; and, if PyTorch is installed, the same network,
step and optimiser in PyTorch on the CPU with the same number of threads.
The two are checked to compute the same loss and gradients before they are
timed; then each runs in a worker process of its own (:mod:`.worker`),
rounds alternating between them, each round after a pause and
:data:`WARMUP` seconds of untimed calls. Beside them, the hardware limit
(:mod:`.limits`): the FLOPs of one image, the measured GEMM rate and
bandwidth, and each step's share of it.

Why separate processes: timed in one process, numpy and PyTorch slow each
other down. After numpy's BLAS calls, OpenBLAS's worker threads keep spinning
for a while, waiting for more work, and take the cores from PyTorch's threads;
on a 2-core machine that made PyTorch look up to twice as slow as it is.
What this is not: a claim about any machine but the one it runs on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mnist_cnn.architecture import SEED, Architecture
from mnist_cnn.book.bench.limits import (
    flops_per_image,
    inference_flops_per_image,
    parameter_count,
    update_bytes,
)
from mnist_cnn.book.bench.timing import time_call
from mnist_cnn.book.bench.worker import seed_batch as _seed_batch
from mnist_cnn.book.bench.worker import torch_errors, torch_network
from mnist_cnn.reference import layers
from mnist_cnn.reference import network as net
from mnist_cnn.reference.optim import SGDMomentum
from mnist_cnn.tools.runtime import blas_threads
from mnist_cnn.train.loop import train_step

#: Seconds of untimed calls at the start of each round of the step and of inference: after
#: the pause before a round, the first ~50 ms of work run slower (idle cores and threads wake
#: up, caches refill), in both frameworks alike.
WARMUP = 0.2

__all__ = [
    "LayerTiming",
    "Throughput",
    "check_against_torch",
    "format_layer_table",
    "format_limits",
    "format_phases",
    "format_throughput",
    "layer_timings",
    "throughput",
    "torch_network",
]


@dataclass(frozen=True)
class LayerTiming:
    """Milliseconds per batch of one layer in one training step.

    Attributes
    ----------
    name : str
        Layer and the equation of its forward pass.
    forward_ms, backward_ms, update_ms : float
        Forward (with what the backward pass keeps), backward (its deltas and
        gradients; the conv without ``dL/dx``) and the momentum update of its
        parameters, Eq. (5.1); 0 where there is nothing to do.
    """

    name: str
    forward_ms: float
    backward_ms: float
    update_ms: float

    @property
    def total_ms(self) -> float:
        return self.forward_ms + self.backward_ms + self.update_ms


def layer_timings(batch: int = 64, repeat: int = 5, number: int = 10,
                  seed: int = 0) -> tuple[list[LayerTiming], float]:
    """Time every layer of the readable numpy training step on its own, and the whole step.

    Each function is called with the inputs and caches of one real forward
    pass of the seed network (float32, He weights, random images), so it does
    exactly the work it does inside :func:`mnist_cnn.train.loop.train_step`
    without a workspace (the readable step; ``train`` runs the hot path, timed
    phase by phase by :func:`throughput`).

    Parameters
    ----------
    batch : int
        ``N``.
    repeat, number : int
        Best of ``repeat`` rounds of ``number`` calls (see :func:`time_call`).
    seed : int

    Returns
    -------
    rows : list of LayerTiming
        conv, max-pool, flatten, fc1, ReLU, fc2, softmax + cross-entropy.
    step_ms : float
        One whole :func:`mnist_cnn.train.loop.train_step` (forward, backward, update).
    """
    x, labels, params = _seed_batch(batch, seed)
    y, c = net.forward(params, x)  # the caches and, below, the deltas of one real step
    _, d = net.backward(layers.softmax_cross_entropy_backward(y, labels), c, need_dx=False)

    def ms(fn: Callable[[], object]) -> float:
        return 1e3 * time_call(fn, repeat=repeat, number=number)

    def update_ms(*names: str) -> float:
        # A private copy: the update runs in place, the parameters above must not move.
        own = {name: params[name].copy() for name in names}
        grads = {"d" + name: np.full_like(params[name], 1e-3) for name in names}
        opt = SGDMomentum(own, momentum=0.9, weight_decay=5e-4)
        return ms(lambda: opt.step(grads, 0.01))

    p = params
    rows = [
        LayerTiming("conv 20@5x5, im2col (3.3)",
                    ms(lambda: layers.conv_forward(x, p["w_conv"], p["b_conv"])),
                    ms(lambda: layers.conv_backward(d["delta_conv"], c["conv"], need_dx=False)),
                    update_ms("w_conv", "b_conv")),
        LayerTiming("max-pool 2x2 (2.5)", ms(lambda: layers.maxpool_forward(c["z_conv"])),
                    ms(lambda: layers.maxpool_backward(d["delta_pool"], c["pool"])), 0.0),
        LayerTiming("flatten (1.6)", ms(lambda: layers.flatten_forward(c["z_pool"])),
                    ms(lambda: layers.flatten_backward(d["delta_flat"], c["flat"])), 0.0),
        LayerTiming("fc1 2880 -> 500 (2.7)",
                    ms(lambda: layers.fc_forward(c["z_flat"], p["w_fc1"], p["b_fc1"])),
                    ms(lambda: layers.fc_backward(d["delta_fc1"], c["fc1"])),
                    update_ms("w_fc1", "b_fc1")),
        LayerTiming("ReLU (2.8)", ms(lambda: layers.relu_forward(c["z_fc1"])),
                    ms(lambda: layers.relu_backward(d["delta_relu"], c["relu"])), 0.0),
        LayerTiming("fc2 500 -> 10 (2.7)",
                    ms(lambda: layers.fc_forward(c["z_relu"], p["w_fc2"], p["b_fc2"])),
                    ms(lambda: layers.fc_backward(d["delta_fc2"], c["fc2"])),
                    update_ms("w_fc2", "b_fc2")),
        LayerTiming("softmax + cross-entropy (1.12, 4.1)",
                    ms(lambda: layers.cross_entropy(layers.softmax(c["z_fc2"]), labels)),
                    ms(lambda: layers.softmax_cross_entropy_backward(y, labels)), 0.0),
    ]
    step_params = {name: value.copy() for name, value in params.items()}
    opt = SGDMomentum(step_params, momentum=0.9, weight_decay=5e-4)
    step_ms = ms(lambda: train_step(step_params, opt, x, labels, 0.01))
    return rows, step_ms


def format_layer_table(rows: list[LayerTiming], step_ms: float, title: str = "") -> str:
    """Render :func:`layer_timings` as a table: forward, backward, update, total, share.

    Parameters
    ----------
    rows : list of LayerTiming
        Per-layer milliseconds per batch.
    step_ms : float
        The whole training step, measured on its own (it includes Python overhead
        that the per-layer sum misses).
    title : str, optional
        A first line above the header.

    Returns
    -------
    str
        The table with a "sum of the layers" and a "whole step" line.
    """
    width = max(len(r.name) for r in rows + [LayerTiming("whole step, measured", 0, 0, 0)])
    header = (f"{'layer':<{width}}  {'forward':>8}  {'backward':>8}  {'update':>8}  "
              f"{'total':>8}  {'share':>6}")
    lines = [title] if title else []
    lines += [header, "-" * len(header)]
    total = sum(r.total_ms for r in rows)
    for r in rows:
        lines.append(f"{r.name:<{width}}  {r.forward_ms:8.3f}  {r.backward_ms:8.3f}  "
                     f"{r.update_ms:8.3f}  {r.total_ms:8.3f}  {100 * r.total_ms / total:5.1f}%")
    lines.append("-" * len(header))
    fw, bw, up = (sum(getattr(r, f) for r in rows) for f in ("forward_ms", "backward_ms",
                                                              "update_ms"))
    lines.append(f"{'sum of the layers':<{width}}  {fw:8.3f}  {bw:8.3f}  {up:8.3f}  "
                 f"{total:8.3f}")
    lines.append(f"{'whole step, measured':<{width}}  {'':>8}  {'':>8}  {'':>8}  {step_ms:8.3f}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Throughput:
    """Images per second of the training step, inference and an epoch, numpy and PyTorch.

    Every figure comes from a worker process of its own (:mod:`.worker`), one
    for numpy and one for PyTorch, with the same number of threads; their
    rounds alternate and the best round of each is kept.

    Attributes
    ----------
    batch : int
    threads : int
        BLAS threads of numpy, and ``torch.set_num_threads`` of PyTorch.
    numpy_train, numpy_infer : float
        Images/s of :func:`mnist_cnn.train.loop.train_step` with a workspace (the
        hot path) and of :func:`mnist_cnn.fast.infer.predict_fast` (softmax included).
    numpy_epoch : float or None
        Images/s over an epoch of ``epoch_images`` real training images,
        shuffling, batching and shifts included; None if not measured.
    torch_train, torch_infer, torch_epoch : float or None
        The same in PyTorch (``zero_grad``, forward, ``cross_entropy``,
        ``backward``, ``SGD.step``; inference under ``torch.inference_mode``
        with softmax), or None without PyTorch.
    epoch_images : int
    numpy_blas : dict
        numpy's BLAS in its worker: ``library``, ``kernel``, ``threads``, ``override``.
    torch_version : str or None
    loss_error, grad_error : float or None
        Relative errors between numpy's and PyTorch's loss and (largest over
        the six tensors) gradients on the timed batch, checked before timing.
    gemm_numpy, gemm_torch : float or None
        float32 GEMM rate (FLOP/s) of each worker, 1024^3, best of rounds.
    bandwidth : float or None
        Bytes/s of a 64 MiB float32 copy in the numpy worker.
    torch_missing : str or None
        Why there are no PyTorch numbers (``"not installed"``, ``"skipped"``), or None.
    phases : dict str -> float or None
        Milliseconds per step of each parallel phase of numpy's hot path and of the
        whole step (``"step"``), in the round with the fastest step; None if not measured.
    """

    batch: int
    threads: int
    numpy_train: float
    numpy_infer: float
    numpy_epoch: float | None
    torch_train: float | None
    torch_infer: float | None
    torch_epoch: float | None
    epoch_images: int
    numpy_blas: dict
    torch_version: str | None
    loss_error: float | None
    grad_error: float | None
    gemm_numpy: float | None = None
    gemm_torch: float | None = None
    bandwidth: float | None = None
    torch_missing: str | None = None
    phases: dict | None = None


def check_against_torch(batch: int = 64, seed: int = 0) -> tuple[float, float]:
    """PyTorch's loss and gradients against :func:`mnist_cnn.reference.network.loss_and_grads`.

    Same He-initialised float32 weights and batch as the workers time. Runs in
    this process (it imports PyTorch); :func:`throughput` asks its PyTorch
    worker for the same numbers (:func:`mnist_cnn.book.bench.worker.torch_errors`)
    and asserts them the same way, so that PyTorch stays out of the caller.

    Returns
    -------
    loss_error, grad_error : float
        Relative error of the loss, and the largest over the six gradients.

    Raises
    ------
    AssertionError
        If they differ by more than :data:`LOSS_TOLERANCE` (loss) or
        :data:`GRAD_TOLERANCE` (gradients).
    ImportError
        Without PyTorch.
    """
    return _assert_agreement(*torch_errors(batch, seed))


#: Largest relative errors between numpy's and PyTorch's loss and gradients (float32).
LOSS_TOLERANCE, GRAD_TOLERANCE = 1e-5, 1e-4


def _assert_agreement(loss_error: float, grad_error: float) -> tuple[float, float]:
    assert loss_error < LOSS_TOLERANCE and grad_error < GRAD_TOLERANCE, (
        f"numpy and PyTorch disagree: loss {loss_error:.1e}, gradients {grad_error:.1e}")
    return loss_error, grad_error


class _Worker:
    """A :mod:`.worker` process: send one JSON request, read one JSON reply."""

    def __init__(self, framework: str, threads: int, batch: int, seed: int,
                 epoch_images: int) -> None:
        self.framework = framework
        # -c, not -m: the package is imported first, so runpy would warn about a re-import.
        command = [sys.executable, "-c",
                   "import sys; from mnist_cnn.book.bench.worker import main; "
                   "sys.exit(main(sys.argv[1:]))", framework,
                   "--threads", str(threads), "--batch", str(batch), "--seed", str(seed),
                   "--epoch-images", str(epoch_images)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        self._read()  # {"ready": true} after its warm-up

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.framework} worker stopped "
                               f"(exit code {self.process.wait()})")
        return json.loads(line)

    def ask(self, cmd: str, number: int = 1, warmup: float = 0.0):
        return self.ask_reply(cmd, number, warmup)["value"]

    def ask_reply(self, cmd: str, number: int = 1, warmup: float = 0.0) -> dict:
        self.process.stdin.write(json.dumps({"cmd": cmd, "number": number, "warmup": warmup})
                                 + "\n")
        self.process.stdin.flush()
        reply = self._read()
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)


def throughput(batch: int = 64, repeat: int = 5, number: int = 10, seed: int = 0,
               use_torch: bool = True, threads: int | None = None, epoch_images: int = 0,
               epoch_rounds: int = 2, limits: bool = False, settle: float = 0.5) -> Throughput:
    """Training-step, inference and epoch throughput, numpy and PyTorch each in its own process.

    Both sides start from the same He-initialised float32 weights, the same
    batch and the same optimiser (SGD, momentum 0.9, weight decay 5e-4,
    lr 0.01). Before anything is timed, PyTorch's loss and gradients are
    compared with numpy's (:func:`check_against_torch`); a mismatch raises
    ``AssertionError``. Then one :mod:`.worker` process per framework is
    started with the same thread count, and the timing rounds alternate
    between them (numpy first in even rounds, PyTorch first in odd ones), so
    that a burst of load on a shared machine hits both; the best round of
    each is kept. Nothing is cached: every timed call is a full step.

    Parameters
    ----------
    batch : int
        Images per step (64 in the seed).
    repeat, number : int
        Rounds and calls per round for the step and inference.
    seed : int
    use_torch : bool
        If False, or if PyTorch is not installed, only numpy is timed.
    threads : int, optional
        Threads for both workers; default numpy's current BLAS setting here.
    epoch_images : int, default 0
        If > 0, also time epochs over that many real training images (the
        issue's figure is 50,000), ``epoch_rounds`` rounds each.
    epoch_rounds : int, default 2
    limits : bool, default False
        Also measure each worker's GEMM rate and numpy's copy bandwidth.
    settle : float, default 0.5
        Seconds of pause before each timed request, so that the threads of the
        worker that ran last have stopped spinning (OpenBLAS and OpenMP keep
        their threads busy-waiting for a moment after a call). Each round of
        the step and of inference then starts with :data:`WARMUP` seconds of untimed calls.

    Returns
    -------
    Throughput
    """
    threads = threads or blas_threads() or 1
    torch_missing: str | None = "skipped"
    loss_error = grad_error = None
    if use_torch:  # only whether it is there: PyTorch is imported by its worker alone
        torch_missing = None if importlib.util.find_spec("torch") else "not installed"
    workers = [_Worker("numpy", threads, batch, seed, epoch_images)]
    try:
        if torch_missing is None:
            workers.append(_Worker("torch", threads, batch, seed, epoch_images))
            loss_error, grad_error = _assert_agreement(*workers[1].ask("check"))
        best: dict[tuple[str, str], float] = {}

        def timed(cmd: str, rounds: int, calls: int, warmup: float = 0.0) -> None:
            for r in range(rounds):
                for w in workers if r % 2 == 0 else workers[::-1]:
                    # A pause first: the other worker's BLAS/OpenMP threads spin for a while
                    # after its last call, even in another process; let them go to sleep.
                    time.sleep(settle)
                    reply = w.ask_reply(cmd, calls, warmup)
                    key = (w.framework, cmd)
                    if reply["value"] < best.get(key, float("inf")):
                        best[key] = reply["value"]
                        if "phases" in reply:  # numpy's hot path by phase, in its best round
                            phases.update(reply["phases"])

        phases: dict[str, float] = {}
        timed("train", repeat, number, WARMUP)
        timed("infer", repeat, number, WARMUP)
        if epoch_images:
            timed("epoch", epoch_rounds, 1)
        gemm = {w.framework: w.ask("gemm") for w in workers} if limits else {}
        bandwidth = workers[0].ask("copy") if limits else None
        numpy_blas = workers[0].ask("info")
        torch_version = workers[1].ask("info")["version"] if len(workers) > 1 else None
    finally:
        for w in workers:
            w.close()

    def rate(framework: str, cmd: str) -> float | None:
        seconds = best.get((framework, cmd))
        if seconds is None:
            return None
        return (epoch_images if cmd == "epoch" else batch) / seconds

    return Throughput(
        batch=batch, threads=threads,
        numpy_train=rate("numpy", "train"), numpy_infer=rate("numpy", "infer"),
        numpy_epoch=rate("numpy", "epoch"), torch_train=rate("torch", "train"),
        torch_infer=rate("torch", "infer"), torch_epoch=rate("torch", "epoch"),
        epoch_images=epoch_images, numpy_blas=numpy_blas, torch_version=torch_version,
        loss_error=loss_error, grad_error=grad_error, gemm_numpy=gemm.get("numpy"),
        gemm_torch=gemm.get("torch"), bandwidth=bandwidth, torch_missing=torch_missing,
        phases=phases or None,
    )


def format_phases(t: Throughput, title: str = "") -> str:
    """Render numpy's hot path by parallel phase (:data:`mnist_cnn.fast.step.PHASES`).

    Parameters
    ----------
    t : Throughput
        With ``phases`` measured.
    title : str, optional

    Returns
    -------
    str
        One row per phase, then "on the calling thread alone" (the rest of the step:
        ReLU, fc2, softmax, the loss, the small tensors' update, the checks) and the step.
    """
    p = dict(t.phases)
    step = p.pop("step")
    rest = step - sum(p.values())
    width = max(len(k) for k in [*p, "on the calling thread alone"])
    lines = [title] if title else []
    header = f"{'phase':<{width}}  {'ms':>7}  {'share':>6}"
    lines += [header, "-" * len(header)]
    for name, ms in [*p.items(), ("on the calling thread alone", rest)]:
        lines.append(f"{name:<{width}}  {ms:7.3f}  {100 * ms / step:5.1f}%")
    lines.append("-" * len(header))
    lines.append(f"{'whole step':<{width}}  {step:7.3f}")
    return "\n".join(lines)


def format_throughput(t: Throughput, title: str = "") -> str:
    """Render a :class:`Throughput` as a table: images/s for numpy and PyTorch, and their ratio.

    Parameters
    ----------
    t : Throughput
        Measured images per second; the PyTorch fields are None without PyTorch.
    title : str, optional
        A first line above the header.

    Returns
    -------
    str
        Rows for the training step, inference and (if measured) the epoch.
    """
    lines = [title] if title else []
    header = f"{'at batch ' + str(t.batch):<16}  {'numpy img/s':>12}  {'torch img/s':>12}  " \
             f"{'numpy/torch':>11}"
    lines += [header, "-" * len(header)]
    rows = [("training step", t.numpy_train, t.torch_train),
            ("inference", t.numpy_infer, t.torch_infer)]
    if t.numpy_epoch is not None:
        rows.append((f"epoch of {t.epoch_images:,}", t.numpy_epoch, t.torch_epoch))
    for label, mine, theirs in rows:
        if theirs is None:
            lines.append(f"{label:<16}  {mine:12,.0f}  {'-':>12}  {'-':>11}")
        else:
            lines.append(f"{label:<16}  {mine:12,.0f}  {theirs:12,.0f}  {mine / theirs:11.2f}")
    b = t.numpy_blas
    lines.append(f"numpy {b.get('version')}: BLAS {b.get('library')}, kernel {b.get('kernel')}, "
                 f"{b.get('threads')} threads; OpenBLAS override: {b.get('override')}")
    if t.torch_version is None and t.torch_missing == "skipped":
        lines.append("PyTorch comparison skipped on request.")
    elif t.torch_version is None:
        lines.append("PyTorch is not installed: no comparison "
                     "(pip install -e '.[bench]' installs the pinned CPU wheel).")
    else:
        lines.append(f"PyTorch {t.torch_version} with {t.threads} threads; before timing, its "
                     f"loss and gradients matched numpy's (relative error {t.loss_error:.0e} and "
                     f"at most {t.grad_error:.0e}).")
    lines.append("Each framework ran in a process of its own, rounds alternating between the "
                 "two; best round kept.")
    if hasattr(os, "getloadavg"):  # other work on the machine: the figures above depend on it
        lines.append("load average (1, 5, 15 min) after timing: "
                     + ", ".join(f"{v:.2f}" for v in os.getloadavg())
                     + f" on {os.cpu_count()} CPUs")
    return "\n".join(lines)


def format_limits(t: Throughput, arch: Architecture = SEED) -> str:
    """The hardware limit: FLOPs per image, GEMM rate, best possible images/s, shares, traffic.

    Parameters
    ----------
    t : Throughput
        Measured with ``limits=True``.
    arch : Architecture, default SEED

    Returns
    -------
    str
    """
    f = flops_per_image(arch)
    lines = ["FLOPs per training image, derived from the Architecture (multiply-add = 2):"]
    for name, value in f.items():
        if name != "total":
            lines.append(f"  {name:<14} {value / 1e6:7.3f} M")
    lines.append(f"  {'total':<14} {f['total'] / 1e6:7.3f} M  (pooling, ReLU, softmax, loss and "
                 "biases left out: < 0.2 %)")
    infer_flops = inference_flops_per_image(arch)
    gemm = max(g for g in (t.gemm_numpy, t.gemm_torch) if g is not None)
    lines.append("float32 GEMM 1024^3, best of 5: numpy " + f"{t.gemm_numpy / 1e9:.1f} GFLOP/s"
                 + ("" if t.gemm_torch is None else f", torch {t.gemm_torch / 1e9:.1f} GFLOP/s")
                 + f"; limit taken as {gemm / 1e9:.1f} GFLOP/s")
    best_train, best_infer = gemm / f["total"], gemm / infer_flops
    lines.append(f"hardware limit: {best_train:,.0f} training images/s, "
                 f"{best_infer:,.0f} inference images/s ({infer_flops / 1e6:.2f} MFLOP/image)")
    shares = [f"numpy {100 * t.numpy_train / best_train:.0f} %"]
    if t.torch_train is not None:
        shares.append(f"torch {100 * t.torch_train / best_train:.0f} %")
    lines.append("training step's share of the limit: " + ", ".join(shares))
    traffic = update_bytes(arch)
    lines.append(f"memory bandwidth (64 MiB float32 copy): {t.bandwidth / 1e9:.1f} GB/s; the "
                 f"update, Eq. (5.1), moves at least {traffic / 1e6:.1f} MB per step "
                 f"(read w, g, nu; write nu, w for {parameter_count(arch):,} parameters) "
                 f"= {1e3 * traffic / t.bandwidth:.2f} ms per step")
    return "\n".join(lines)
