"""``python -m mnist_cnn.bench train``: the training step, layer by layer, and against PyTorch.

What this is: the training step and inference of the whole network in images
per second, a per-layer breakdown of the step (forward and backward), and, if
PyTorch is installed, the same network, step and optimiser in PyTorch on the
CPU with the same number of threads, in the same run. The two are checked to
compute the same loss and gradients before they are timed.
What this is not: a claim about any machine but the one it runs on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..architecture import SEED
from ..fast.pool import maxpool_backward_fast, maxpool_forward_fast
from ..reference import layers
from ..reference import network as net
from ..tools.runtime import blas_threads, set_blas_threads
from ..train.loop import train_step
from ..train.optim import SGDMomentum
from ..verify.gradcheck import relative_error
from .timing import time_call

__all__ = [
    "LayerTiming",
    "Throughput",
    "format_layer_table",
    "format_throughput",
    "layer_timings",
    "throughput",
    "torch_network",
]


def _seed_batch(batch: int, seed: int):
    """Seeded random images in [0, 1), labels and He-initialised float32 parameters."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, SEED.C_in, SEED.H, SEED.W), dtype=np.float32)
    labels = rng.integers(0, SEED.D_2, batch)
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
    exactly the work it does inside :func:`mnist_cnn.train.loop.train_step`.

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
    y, c = net.forward(params, x, fast=True)
    delta_fc2 = layers.softmax_cross_entropy_backward(y, labels)
    delta_relu = layers.fc_backward(delta_fc2, c["fc2"])[0]
    delta_fc1 = layers.relu_backward(delta_relu, c["relu"])
    delta_flat = layers.fc_backward(delta_fc1, c["fc1"])[0]
    delta_pool = layers.flatten_backward(delta_flat, c["flat"])
    pool = c["pool"]
    delta_conv = maxpool_backward_fast(delta_pool, pool.argmax, pool.z_shape, pool.pool)

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
        LayerTiming("max-pool 2x2 (2.5), fast form", ms(lambda: maxpool_forward_fast(c["z_conv"])),
                    ms(lambda: maxpool_backward_fast(delta_pool, pool.argmax, pool.z_shape)),
                    0.0),
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
        w_fc2 [10, 500], b_fc2 [10]`` as from :func:`mnist_cnn.reference.network.init_params`.

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

    a = SEED
    model = nn.Sequential(nn.Conv2d(a.C_in, a.C_out, a.K, a.S, a.P), nn.MaxPool2d(a.K_p, a.S_p),
                          nn.Flatten(), nn.Linear(a.D_0, a.D_1), nn.ReLU(), nn.Linear(a.D_1, a.D_2))
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
        Images/s of :func:`mnist_cnn.train.loop.train_step` and of
        :func:`mnist_cnn.reference.network.forward` (softmax included).
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
    compared with :func:`mnist_cnn.reference.network.loss_and_grads`; a mismatch raises
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
    if threads is not None:
        set_blas_threads(threads)
    threads = blas_threads()
    x, labels, params = _seed_batch(batch, seed)
    np_params = {name: value.copy() for name, value in params.items()}
    np_opt = SGDMomentum(np_params, momentum=0.9, weight_decay=5e-4)
    calls: dict[str, Callable[[], object]] = {
        "numpy_train": lambda: train_step(np_params, np_opt, x, labels, 0.01),
        "numpy_infer": lambda: net.forward(params, x, fast=True),
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
        loss_n, grads, _ = net.loss_and_grads(params, x, labels, need_dx=False, fast=True)
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
