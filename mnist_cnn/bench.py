"""Timing of the book's implementations: ``python -m mnist_cnn.bench``.

What this is: a small benchmark runner with one subcommand per question.

* ``conv``: the forward convolution of one batch in the four forms of the
  book (loops, per-channel im2col, channel-parallel im2col, tensordot/einsum),
  checked against each other before they are timed.
* ``train``: the training step and inference of the whole network at batch 64
  in images per second, a per-layer breakdown of the step (forward and
  backward), and, if PyTorch is installed, the same network, step and
  optimiser in PyTorch on the CPU with the same number of threads, in the same
  run, and the ratio numpy / PyTorch. The two are checked to compute the same
  loss and gradients before they are timed.

What this is not: a profiler, or a claim about any machine but the one it runs
on. Timings on a shared or busy machine vary by tens of percent from run to
run; the ratios are more stable than the absolute numbers.

Adding a benchmark
------------------
Write ``_add_<name>_arguments(parser)`` and ``_run_<name>(args) -> str`` and add
one :class:`Benchmark` entry to :data:`BENCHMARKS`; ``--help`` and the command
line pick it up. :func:`time_call`, :class:`TimingRow` and :func:`format_table`
are meant to be reused. PyTorch is optional and pinned in the ``bench`` extra
(``pip install -e '.[bench]'``, the CPU wheel).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import layers
from . import network as net
from .gradcheck import relative_error
from .optim import SGDMomentum
from .shapes import output_size

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "LayerTiming",
    "Throughput",
    "TimingRow",
    "blas_threads",
    "conv_forward_timings",
    "format_layer_table",
    "format_table",
    "format_throughput",
    "layer_timings",
    "machine_summary",
    "main",
    "set_blas_threads",
    "throughput",
    "time_call",
    "torch_network",
]


@dataclass(frozen=True)
class TimingRow:
    """One line of a timing table.

    Attributes
    ----------
    name : str
        The implementation, e.g. ``"channel-parallel im2col, Eq. (3.3)"``.
    ms_per_batch : float
        Milliseconds for one whole batch (best of the repeats).
    speedup : float
        ``time(reference) / time(this)``; the reference (first row) has 1.
    note : str
        How it was measured, e.g. ``"2 images, scaled x32"``.
    """

    name: str
    ms_per_batch: float
    speedup: float
    note: str = ""


def time_call(fn: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Best wall time of ``fn()`` in seconds: ``repeat`` rounds of ``number`` calls each.

    The minimum, not the mean: noise from other processes only ever adds time.
    One untimed warm-up call comes first (allocations, BLAS thread start).

    Parameters
    ----------
    fn : callable
        Called with no arguments.
    repeat, number : int
        Rounds and calls per round.

    Returns
    -------
    float
        Seconds per call.
    """
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def machine_summary() -> str:
    """One line naming Python, numpy, the CPU count and the BLAS thread settings."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    threads = ", ".join(f"{k}={os.environ[k]}" for k in names if k in os.environ)
    return (
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, BLAS threads: {threads or 'library default'}"
    )


def conv_forward_timings(
    batch: int = 64,
    channels_in: int = 1,
    channels_out: int = 20,
    size: int = 28,
    kernel: int = 5,
    loop_batch: int = 2,
    repeat: int = 5,
    dtype: type = np.float32,
    seed: int = 0,
    loops: bool = True,
) -> list[TimingRow]:
    """Time one conv forward pass of a batch in each of the book's forms.

    The forms are ``scalar.conv_forward_loops`` (Eq. (1.3)),
    :func:`mnist_cnn.layers.conv_forward_per_channel` (Eqs. (2.3)/(2.4)),
    :func:`mnist_cnn.layers.conv_forward` (Eq. (3.3)) and
    :func:`mnist_cnn.layers.conv_forward_einsum`. Before timing, every form is
    run on the first ``loop_batch`` images and compared with the loops; a
    mismatch raises ``AssertionError`` (a fast wrong answer is not a result).

    The loops are too slow for the whole batch: they are timed once on
    ``loop_batch`` images and scaled linearly by ``batch / loop_batch`` (the
    work is exactly proportional to N). The data are seeded random numbers of
    the real shape; the time does not depend on the values.

    Parameters
    ----------
    batch : int
        ``N`` of the timed batch (64 in the seed).
    channels_in, channels_out, size, kernel : int
        ``C_in``, ``C_out``, ``H_in = W_in`` and ``K`` (1, 20, 28, 5 in the seed;
        20, 50, 12, 5 for LeNet's second conv).
    loop_batch : int
        Images given to the loop version.
    repeat : int
        Rounds for the vectorised forms (best one kept).
    dtype : numpy float type
        float32 (training) or float64.
    seed : int
        Seed of the random input and weights.
    loops : bool
        If False, skip the loop version; the speed-up is then relative to the
        per-channel form.

    Returns
    -------
    list of TimingRow
        Reference first (loops, or per-channel when ``loops=False``).
    """
    from .scalar import conv_forward_loops  # imported here: only this benchmark needs it

    if loop_batch > batch:
        raise ValueError(f"loop_batch must be <= batch; got {loop_batch} > {batch}")
    rng = np.random.default_rng(seed)
    x = rng.random((batch, channels_in, size, size)).astype(dtype)
    w = (rng.standard_normal((channels_out, channels_in, kernel, kernel)) * 0.1).astype(dtype)
    b = (rng.standard_normal(channels_out) * 0.1).astype(dtype)
    forms: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = [
        ("per-channel im2col, Eq. (2.4)", lambda a: layers.conv_forward_per_channel(a, w, b)),
        ("channel-parallel im2col, Eq. (3.3)", lambda a: layers.conv_forward(a, w, b)[0]),
        ("tensordot over windows", lambda a: layers.conv_forward_einsum(a, w, b)),
    ]

    # Correctness first, on the sub-batch the loops can afford.
    small = x[:loop_batch]
    reference = conv_forward_loops(small, w, b) if loops else forms[0][1](small)
    tol = 1e-4 if np.dtype(dtype) == np.float32 else 1e-10
    for name, form in forms:
        err = float(np.max(np.abs(form(small) - reference)))
        assert err < tol, f"{name} differs from the reference by {err:.1e}"

    rows: list[tuple[str, float, str]] = []
    if loops:
        seconds = time_call(lambda: conv_forward_loops(small, w, b), repeat=1)
        scale = batch / loop_batch
        rows.append(
            ("loops, Eq. (1.3)", seconds * scale, f"{loop_batch} images timed, scaled x{scale:g}")
        )
    for name, form in forms:
        rows.append((name, time_call(lambda f=form: f(x), repeat=repeat), f"best of {repeat}"))
    reference_seconds = rows[0][1]
    return [TimingRow(n, s * 1e3, reference_seconds / s, note) for n, s, note in rows]


def format_table(rows: list[TimingRow], title: str = "") -> str:
    """Render timing rows as a fixed-width table (ms per batch, speed-up, note).

    Parameters
    ----------
    rows : list of TimingRow
        One row per implementation, e.g. from :func:`conv_forward_timings`.
    title : str, optional
        A first line above the header.

    Returns
    -------
    str
        The table, one line per row.
    """
    width = max(len(r.name) for r in rows)
    header = f"{'implementation':<{width}}  {'ms / batch':>11}  {'speed-up':>9}  note"
    lines = [title] if title else []
    lines += [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r.name:<{width}}  {r.ms_per_batch:11.2f}  {r.speedup:8.1f}x  {r.note}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- BLAS threads


def _numpy_blas() -> dict | None:
    """threadpoolctl's record of the BLAS library numpy calls, or None if there is none.

    Other BLAS libraries may be loaded too (scipy's, PyTorch's); numpy's is the one
    that lives inside numpy's own folder (``numpy.libs``, ``numpy/.dylibs``) or, for a
    numpy linked against a system BLAS, the first one loaded.
    """
    from pathlib import Path

    from threadpoolctl import threadpool_info

    blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
    numpy_dir = Path(np.__file__).resolve().parent
    bundled = {numpy_dir.parent / "numpy.libs", numpy_dir / ".dylibs"}
    for info in blas:
        if Path(info["filepath"]).resolve().parent in bundled:
            return info
    return blas[0] if blas else None


def blas_threads() -> int | None:
    """Threads numpy's BLAS uses for matrix products, or None if that cannot be read."""
    info = _numpy_blas()
    return None if info is None else int(info["num_threads"])


def set_blas_threads(threads: int) -> int:
    """Set the threads of every BLAS library in this process (like ``OPENBLAS_NUM_THREADS``).

    Uses threadpoolctl, so numpy's and scipy's BLAS get the same limit.

    Parameters
    ----------
    threads : int
        ``>= 1``.

    Returns
    -------
    int
        The number now in effect for numpy's BLAS.

    Raises
    ------
    ValueError
        If ``threads < 1``.
    RuntimeError
        If no BLAS library is loaded that threadpoolctl can control.
    """
    from threadpoolctl import threadpool_limits

    threads = int(threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1; got {threads}")
    if _numpy_blas() is None:
        raise RuntimeError(
            "cannot find numpy's BLAS to set its threads; set OPENBLAS_NUM_THREADS "
            "(or MKL_NUM_THREADS) before starting Python instead"
        )
    threadpool_limits(limits=threads, user_api="blas")  # stays in force: not used as a context
    return blas_threads() or threads


# --------------------------------------------------------------------------- training step


def _seed_batch(batch: int, seed: int):
    """Seeded random images in [0, 1), labels and He-initialised float32 parameters."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, batch)
    params = net.init_params(rng, np.float32)
    return x, labels, params


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
    """Time every layer of the numpy training step on its own, and the whole step.

    Each function is called with the inputs and caches of one real forward
    pass of the seed network (float32, He weights, random images), so it does
    exactly the work it does inside :func:`mnist_cnn.train.train_step`.

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
        One whole :func:`mnist_cnn.train.train_step` (forward, backward, update).
    """
    from .train import train_step

    x, labels, params = _seed_batch(batch, seed)
    y, c = net.forward(params, x)
    delta_fc2 = layers.softmax_cross_entropy_backward(y, labels)
    delta_relu = layers.fc_backward(delta_fc2, c["fc2"])[0]
    delta_fc1 = layers.relu_backward(delta_relu, c["relu"])
    delta_flat = layers.fc_backward(delta_fc1, c["fc1"])[0]
    delta_pool = layers.flatten_backward(delta_flat, c["flat"])
    delta_conv = layers.maxpool_backward(delta_pool, c["pool"])

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
                    ms(lambda: layers.conv_backward(delta_conv, c["conv"], need_dx=False)),
                    update_ms("w_conv", "b_conv")),
        LayerTiming("max-pool 2x2 (2.5)", ms(lambda: layers.maxpool_forward(c["z_conv"])),
                    ms(lambda: layers.maxpool_backward(delta_pool, c["pool"])), 0.0),
        LayerTiming("flatten (1.6)", ms(lambda: layers.flatten_forward(c["z_pool"])),
                    ms(lambda: layers.flatten_backward(delta_flat, c["flat"])), 0.0),
        LayerTiming("fc1 2880 -> 500 (2.7)",
                    ms(lambda: layers.fc_forward(c["z_flat"], p["w_fc1"], p["b_fc1"])),
                    ms(lambda: layers.fc_backward(delta_fc1, c["fc1"])),
                    update_ms("w_fc1", "b_fc1")),
        LayerTiming("ReLU (2.8)", ms(lambda: layers.relu_forward(c["z_fc1"])),
                    ms(lambda: layers.relu_backward(delta_relu, c["relu"])), 0.0),
        LayerTiming("fc2 500 -> 10 (2.7)",
                    ms(lambda: layers.fc_forward(c["z_relu"], p["w_fc2"], p["b_fc2"])),
                    ms(lambda: layers.fc_backward(delta_fc2, c["fc2"])),
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


def torch_network(params: dict[str, np.ndarray]):
    """The seed network in PyTorch, with a copy of ``params`` as its weights.

    ``nn.Sequential(Conv2d(1, 20, 5), MaxPool2d(2), Flatten(), Linear(2880, 500),
    ReLU(), Linear(500, 10))``; the loss is ``F.cross_entropy`` (softmax and
    Eq. (4.1) in one). PyTorch's weight layouts are the book's:
    ``[C_out, C_in, K, K]`` and ``[D_out, D_in]``.

    Parameters
    ----------
    params : dict of numpy.ndarray
        ``w_conv [20, 1, 5, 5], b_conv [20], w_fc1 [500, 2880], b_fc1 [500],
        w_fc2 [10, 500], b_fc2 [10]`` as from :func:`mnist_cnn.network.init_params`.

    Returns
    -------
    torch.nn.Sequential
        The model, float32, with copies of the parameters.

    Raises
    ------
    ImportError
        If PyTorch is not installed (``pip install -e '.[bench]'``).
    """
    import torch
    from torch import nn

    model = nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(2880, 500), nn.ReLU(), nn.Linear(500, 10))
    with torch.no_grad():
        for layer, (w, b) in zip((model[0], model[3], model[5]),
                                 (("w_conv", "b_conv"), ("w_fc1", "b_fc1"),
                                  ("w_fc2", "b_fc2")), strict=True):
            layer.weight.copy_(torch.from_numpy(params[w]))
            layer.bias.copy_(torch.from_numpy(params[b]))
    return model


@dataclass(frozen=True)
class Throughput:
    """Images per second of the training step and of inference, numpy and PyTorch.

    Attributes
    ----------
    batch : int
    numpy_train, numpy_infer : float
        Images/s of :func:`mnist_cnn.train.train_step` and of
        :func:`mnist_cnn.network.forward` (softmax included).
    torch_train, torch_infer : float or None
        The same in PyTorch (``zero_grad``, forward, ``cross_entropy``,
        ``backward``, ``SGD.step``; inference under ``torch.inference_mode``
        with softmax), or None without PyTorch.
    threads : int or None
        BLAS threads of numpy, also given to ``torch.set_num_threads``.
    torch_version : str or None
    loss_error, grad_error : float or None
        Relative errors between numpy's and PyTorch's loss and (largest over
        the six tensors) gradients on the timed batch, checked before timing.
    torch_missing : str or None
        Why there are no PyTorch numbers (``"not installed"``, ``"skipped"``),
        or None.
    """

    batch: int
    numpy_train: float
    numpy_infer: float
    torch_train: float | None
    torch_infer: float | None
    threads: int | None
    torch_version: str | None
    loss_error: float | None
    grad_error: float | None
    torch_missing: str | None = None


def throughput(batch: int = 64, repeat: int = 5, number: int = 10, seed: int = 0,
               use_torch: bool = True, threads: int | None = None) -> Throughput:
    """Training-step and inference throughput at one batch size, numpy against PyTorch.

    Both sides start from the same He-initialised float32 weights, the same
    batch and the same optimiser (SGD, momentum 0.9, weight decay 5e-4,
    lr 0.01). Before anything is timed, PyTorch's loss and gradients are
    compared with :func:`mnist_cnn.network.loss_and_grads`; a mismatch raises
    ``AssertionError``. The timing rounds alternate numpy and PyTorch, so that a
    burst of load on a shared machine hits both, and the best round of each
    is kept. Nothing is cached: every timed call is a full step.

    Parameters
    ----------
    batch : int
        Images per step (64 in the seed).
    repeat, number : int
        Rounds and calls per round.
    seed : int
    use_torch : bool
        If False, or if PyTorch is not installed, only numpy is timed.
    threads : int, optional
        Set numpy's BLAS threads first (:func:`set_blas_threads`); PyTorch gets
        the same number either way.

    Returns
    -------
    Throughput
    """
    from .train import train_step

    if threads is not None:
        set_blas_threads(threads)
    threads = blas_threads()
    x, labels, params = _seed_batch(batch, seed)
    np_params = {name: value.copy() for name, value in params.items()}
    np_opt = SGDMomentum(np_params, momentum=0.9, weight_decay=5e-4)
    calls: dict[str, Callable[[], object]] = {
        "numpy_train": lambda: train_step(np_params, np_opt, x, labels, 0.01),
        "numpy_infer": lambda: net.forward(params, x),
    }
    torch, torch_missing = None, "skipped"
    if use_torch:
        try:
            import torch
        except ImportError:
            torch, torch_missing = None, "not installed"
    loss_error = grad_error = None
    if torch is not None:
        import torch.nn.functional as F

        if threads is not None:
            torch.set_num_threads(threads)
        model = torch_network(params)
        xt, lt = torch.from_numpy(x), torch.from_numpy(labels)
        loss_t = F.cross_entropy(model(xt), lt)
        loss_t.backward()
        loss_n, grads, _ = net.loss_and_grads(params, x, labels, need_dx=False)
        loss_error = abs(loss_t.item() - float(loss_n)) / abs(float(loss_n))
        torch_grads = {"dw_conv": model[0].weight.grad, "db_conv": model[0].bias.grad,
                       "dw_fc1": model[3].weight.grad, "db_fc1": model[3].bias.grad,
                       "dw_fc2": model[5].weight.grad, "db_fc2": model[5].bias.grad}
        grad_error = max(relative_error(grads[k], torch_grads[k].numpy()) for k in torch_grads)
        assert loss_error < 1e-5 and grad_error < 1e-4, (
            f"numpy and PyTorch disagree: loss {loss_error:.1e}, gradients {grad_error:.1e}")
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        infer_model = torch_network(params).eval()

        def torch_train() -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(xt), lt).backward()
            opt.step()

        def torch_infer() -> None:
            with torch.inference_mode():
                F.softmax(infer_model(xt), dim=1)

        calls.update(torch_train=torch_train, torch_infer=torch_infer)

    for fn in calls.values():  # warm-up: allocations, thread pools, lazy initialisation
        fn()
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(repeat):
        for name, fn in calls.items():
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / number)
    rate = {name: batch / seconds for name, seconds in best.items()}
    return Throughput(
        batch=batch, numpy_train=rate["numpy_train"], numpy_infer=rate["numpy_infer"],
        torch_train=rate.get("torch_train"), torch_infer=rate.get("torch_infer"),
        threads=threads, torch_version=None if torch is None else torch.__version__,
        loss_error=loss_error, grad_error=grad_error,
        torch_missing=None if torch is not None else torch_missing,
    )


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
        Two rows (training step, inference).
    """
    lines = [title] if title else []
    header = f"{'at batch ' + str(t.batch):<16}  {'numpy img/s':>12}  {'torch img/s':>12}  " \
             f"{'numpy/torch':>11}"
    lines += [header, "-" * len(header)]
    for label, mine, theirs in (("training step", t.numpy_train, t.torch_train),
                                ("inference", t.numpy_infer, t.torch_infer)):
        if theirs is None:
            lines.append(f"{label:<16}  {mine:12,.0f}  {'-':>12}  {'-':>11}")
        else:
            lines.append(f"{label:<16}  {mine:12,.0f}  {theirs:12,.0f}  {mine / theirs:11.2f}")
    if t.torch_version is None and t.torch_missing == "skipped":
        lines.append("PyTorch comparison skipped on request.")
    elif t.torch_version is None:
        lines.append("PyTorch is not installed: no comparison "
                     "(pip install -e '.[bench]' installs the pinned CPU wheel).")
    else:
        lines.append(f"PyTorch {t.torch_version} with {t.threads} threads; before timing, its "
                     f"loss and gradients matched numpy's (relative error {t.loss_error:.0e} and "
                     f"at most {t.grad_error:.0e}).")
    return "\n".join(lines)


# --------------------------------------------------------------------------- subcommands


def _add_conv_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=64, help="images per batch N (default 64)")
    parser.add_argument("--channels-in", type=int, default=1, help="C_in (default 1)")
    parser.add_argument("--channels-out", type=int, default=20, help="C_out (default 20)")
    parser.add_argument("--size", type=int, default=28, help="H_in = W_in (default 28)")
    parser.add_argument("--kernel", type=int, default=5, help="K (default 5)")
    parser.add_argument(
        "--loop-batch", type=int, default=2,
        help="images given to the slow loop version, whose time is scaled to --batch (default 2)",
    )
    parser.add_argument("--no-loops", action="store_true", help="skip the loop version")
    parser.add_argument(
        "--repeat", type=int, default=5, help="timing rounds, best one kept (default 5)"
    )
    parser.add_argument(
        "--dtype", choices=["float32", "float64"], default="float32", help="default float32"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")


def _run_conv(args: argparse.Namespace) -> str:
    rows = conv_forward_timings(
        batch=args.batch,
        channels_in=args.channels_in,
        channels_out=args.channels_out,
        size=args.size,
        kernel=args.kernel,
        loop_batch=args.loop_batch,
        repeat=args.repeat,
        dtype=np.dtype(args.dtype).type,
        seed=args.seed,
        loops=not args.no_loops,
    )
    out = output_size(args.size, args.kernel)
    title = (
        f"conv forward, x [{args.batch}, {args.channels_in}, {args.size}, {args.size}] * "
        f"w [{args.channels_out}, {args.channels_in}, {args.kernel}, {args.kernel}] -> "
        f"z [{args.batch}, {args.channels_out}, {out}, {out}], {args.dtype}"
    )
    footer = (
        f"\n{machine_summary()}\n"
        "All forms were checked against the reference on the first "
        f"{args.loop_batch} images before timing."
    )
    if not args.no_loops:
        footer += (
            f"\nThe loop time is measured on {args.loop_batch} images and scaled linearly "
            f"to {args.batch}."
        )
    return format_table(rows, title) + footer


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=64, help="images per step N (default 64)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timing rounds, best one kept (default 5)")
    parser.add_argument("--number", type=int, default=10,
                        help="calls per round (default 10)")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads for numpy, and the same for PyTorch "
                             "(default: numpy's current setting)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer breakdown")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")


def _run_train(args: argparse.Namespace) -> str:
    for name in ("batch", "repeat", "number"):
        if getattr(args, name) < 1:
            raise SystemExit(f"python -m mnist_cnn.bench train: error: --{name} must be >= 1")
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit("python -m mnist_cnn.bench train: error: --threads must be >= 1")
        set_blas_threads(args.threads)
    parts = [f"seed network, float32, batch {args.batch}; {machine_summary()}; "
             f"OpenBLAS threads in use: {blas_threads() or 'unknown'}"]
    if not args.no_layers:
        rows, step_ms = layer_timings(args.batch, args.repeat, args.number, args.seed)
        parts.append(format_layer_table(
            rows, step_ms,
            f"numpy training step by layer, ms per batch (best of {args.repeat} x {args.number}); "
            "conv backward without dL/dx"))
    t = throughput(args.batch, args.repeat, args.number, args.seed, use_torch=not args.no_torch)
    parts.append(format_throughput(
        t, f"throughput, images/s (best of {args.repeat} rounds x {args.number} calls, "
           "numpy and PyTorch interleaved)"))
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Benchmark:
    """A subcommand: its help line, its options and what it runs (returns the report)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], str]


#: Subcommands of ``python -m mnist_cnn.bench``; the first one is the default.
BENCHMARKS: dict[str, Benchmark] = {
    "conv": Benchmark(
        help="conv forward per batch: loops vs per-channel vs channel-parallel im2col vs einsum",
        add_arguments=_add_conv_arguments,
        run=_run_conv,
    ),
    "train": Benchmark(
        help="training step and inference in images/s at batch 64, per-layer breakdown, "
             "and PyTorch CPU on the same network if installed",
        add_arguments=_add_train_arguments,
        run=_run_train,
    ),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_cnn.bench",
        description=(
            "Time the book's implementations on this machine. With no subcommand, runs "
            f"'{next(iter(BENCHMARKS))}' (options may follow directly); its defaults are the "
            "seed network: a batch of 64 MNIST-sized images, 20 filters 5x5."
        ),
        epilog="'python -m mnist_cnn.bench SUBCOMMAND --help' lists the options of one benchmark.",
    )
    sub = parser.add_subparsers(dest="what", metavar="SUBCOMMAND")
    for name, bench in BENCHMARKS.items():
        p = sub.add_parser(name, help=bench.help, description=bench.help)
        bench.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``python -m mnist_cnn.bench``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``. With no
        subcommand the first registered benchmark (``conv``) runs.

    Returns
    -------
    int
        The process exit code.
    """
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    # No subcommand (only options, or nothing): the default benchmark.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = [next(iter(BENCHMARKS)), *argv]
    args = parser.parse_args(argv)
    print(BENCHMARKS[args.what].run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
