"""One framework in a process of its own, timed on request: the other half of ``bench train``.

What this is: ``python -m mnist_cnn.book.bench.worker {numpy,torch} --threads T ...``
builds the seed network, its optimiser and a batch, warms up, and then
answers one JSON request per line on stdin with one JSON line on stdout:

* ``{"cmd": "train", "number": n, "warmup": s}`` -> seconds per training step
  (one round: untimed steps for ``s`` seconds first, then ``n`` timed); numpy's
  reply also has ``"phases"``: milliseconds per step in each parallel phase of
  the hot path (:data:`mnist_cnn.fast.step.PHASES`) in the same round;
* ``{"cmd": "infer", "number": n, "warmup": s}`` -> seconds per inference batch (softmax included);
* ``{"cmd": "epoch"}`` -> seconds for one epoch of the first ``--epoch-images``
  training images: shuffling, batching, random shifts (Eq. (5.3)) and the steps;
* ``{"cmd": "gemm"}`` -> this framework's float32 matrix-product rate (FLOP/s);
* ``{"cmd": "copy"}`` -> memory bandwidth (bytes/s, numpy only);
* ``{"cmd": "info"}`` -> the library, its kernel, its threads and the OpenBLAS override;
* ``{"cmd": "check"}`` -> PyTorch only: :func:`torch_errors` on a fresh copy of the network.

Why a process of its own: after numpy's BLAS calls, OpenBLAS's worker
threads keep spinning for a while, waiting for the next call; in a shared
process they take the cores from PyTorch's threads (and the other way round),
so whichever runs second looks slower than it is. The parent
(:func:`mnist_cnn.book.bench.step.throughput`) alternates rounds between a numpy
worker and a PyTorch worker and keeps each one's best.
What this is not: a public API; it trusts its parent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

import numpy as np

from mnist_cnn.architecture import SEED
from mnist_cnn.book.bench.limits import blas_description, copy_bandwidth, gemm_rate
from mnist_cnn.data import load_mnist
from mnist_cnn.fast.infer import predict_fast
from mnist_cnn.fast.optim import BlockedSGDMomentum
from mnist_cnn.fast.step import Workspace
from mnist_cnn.reference import network as net
from mnist_cnn.tools.runtime import set_blas_threads
from mnist_cnn.train.loop import random_shifts, shift_images, train_step
from mnist_cnn.verify.gradcheck import relative_error

LR, MOMENTUM, WEIGHT_DECAY = 0.01, 0.9, 5e-4


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
    import torch  # optional (pip install -e '.[bench]'): only the PyTorch side needs it
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


def _warm_up(fn: Callable[[], object], seconds: float) -> None:
    """Call ``fn`` untimed for ``seconds``: after a pause, the first ~50 ms of work run
    slower on these machines (idle cores and threads wake up, caches refill)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        fn()


def torch_errors(batch: int, seed: int) -> tuple[float, float]:
    """PyTorch's loss and gradients against :func:`mnist_cnn.reference.network.loss_and_grads`.

    On a fresh network with the seeded He weights and batch that the workers time.

    Parameters
    ----------
    batch, seed : int

    Returns
    -------
    loss_error, grad_error : float
        Relative error of the loss, and the largest over the six gradients.
    """
    import torch  # optional (pip install -e '.[bench]'): only the PyTorch side needs it
    import torch.nn.functional as F

    x, labels, params = seed_batch(batch, seed)
    model = torch_network(params)
    loss_t = F.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(labels))
    loss_t.backward()
    loss_n, grads, _ = net.loss_and_grads(params, x, labels, need_dx=False)
    loss_error = abs(loss_t.item() - float(loss_n)) / abs(float(loss_n))
    torch_grads = {"dw_conv": model[0].weight.grad, "db_conv": model[0].bias.grad,
                   "dw_fc1": model[3].weight.grad, "db_fc1": model[3].bias.grad,
                   "dw_fc2": model[5].weight.grad, "db_fc2": model[5].bias.grad}
    grad_error = max(relative_error(grads[k], torch_grads[k].numpy()) for k in torch_grads)
    return float(loss_error), float(grad_error)


def seed_batch(batch: int, seed: int):
    """Seeded random images in [0, 1), labels and He-initialised float32 parameters."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, SEED.C_in, SEED.H, SEED.W), dtype=np.float32)
    labels = rng.integers(0, SEED.D_2, batch)
    params = net.init_params(rng, np.float32)
    return x, labels, params


def _epoch_batches(images: np.ndarray, labels: np.ndarray, batch: int, seed: int):
    """The training loop's data path: a seeded permutation, batches, random shifts of 2 px."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        x = shift_images.unchecked(images[idx], random_shifts.unchecked(rng, len(idx), 2))
        yield x, labels[idx]


def _numpy_calls(args) -> tuple[dict[str, Callable[[], object]], dict[str, float]]:
    # What mnist_cnn.train.loop.train runs: the hot path of mnist_cnn.fast on --threads threads.
    x, labels, params = seed_batch(args.batch, args.seed)
    opt = BlockedSGDMomentum(params, MOMENTUM, WEIGHT_DECAY)
    ws = Workspace(args.batch, np.float32, threads=args.threads)
    infer_params = {k: v.copy() for k, v in params.items()}
    calls = {
        "train": lambda: train_step(params, opt, x, labels, LR, ws),
        "infer": lambda: predict_fast(infer_params, x, ws),
        "gemm": lambda: gemm_rate(),
        "copy": lambda: copy_bandwidth(),
        "info": lambda: dict(blas_description().__dict__, version=np.__version__),
    }
    if args.epoch_images:
        images, targets = load_mnist("train", np.float32)
        images, targets = images[: args.epoch_images], targets[: args.epoch_images]

        def epoch() -> None:
            for xb, tb in _epoch_batches(images, targets, args.batch, args.seed):
                train_step(params, opt, xb, tb, LR, ws)

        calls["epoch"] = epoch
    return calls, ws.phase_seconds  # the hot path's live record of its phases


def _torch_calls(args) -> tuple[dict[str, Callable[[], object]], None]:
    import torch  # optional (pip install -e '.[bench]'): only the PyTorch worker needs it
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    x, labels, params = seed_batch(args.batch, args.seed)
    model = torch_network(params)
    infer_model = torch_network(params).eval()
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    xt, lt = torch.from_numpy(x), torch.from_numpy(labels)

    def step(xb, tb) -> None:
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), tb).backward()
        opt.step()

    def infer() -> None:
        with torch.inference_mode():
            F.softmax(infer_model(xt), dim=1)

    def matmul(a, b, out) -> None:
        torch.matmul(torch.from_numpy(a), torch.from_numpy(b), out=torch.from_numpy(out))

    calls = {
        "train": lambda: step(xt, lt),
        "infer": infer,
        "gemm": lambda: gemm_rate(matmul=matmul),
        "info": lambda: {"library": f"torch {torch.__version__}",
                         "threads": torch.get_num_threads(), "version": torch.__version__},
        "check": lambda: torch_errors(args.batch, args.seed),
    }
    if args.epoch_images:
        images, targets = load_mnist("train", np.float32)
        images, targets = images[: args.epoch_images], targets[: args.epoch_images]

        def epoch() -> None:
            for xb, tb in _epoch_batches(images, targets, args.batch, args.seed):
                step(torch.from_numpy(xb), torch.from_numpy(tb))

        calls["epoch"] = epoch
    return calls, None


def main(argv: list[str] | None = None) -> int:
    """Serve timing requests, one JSON line in, one JSON line out, until stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.bench.worker")
    parser.add_argument("framework", choices=["numpy", "torch"])
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epoch-images", type=int, default=0)
    args = parser.parse_args(argv)
    set_blas_threads(args.threads)
    calls, phases = (_numpy_calls if args.framework == "numpy" else _torch_calls)(args)
    for name in ("train", "infer"):  # warm-up: allocations, thread pools, lazy initialisation
        calls[name]()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        cmd, number = request["cmd"], int(request.get("number", 1))
        warmup = float(request.get("warmup", 0))
        fn = calls.get(cmd)
        if fn is None:
            reply = {"error": f"{args.framework} worker cannot {cmd!r}"}
        elif cmd in ("gemm", "copy", "info", "check"):
            reply = {"value": fn()}
        else:
            _warm_up(fn, warmup)
            by_phase = phases is not None and cmd == "train"
            if by_phase:
                phases.clear()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            seconds = (time.perf_counter() - start) / number
            reply = {"value": seconds}
            if by_phase:  # ms per step of each phase of the hot path, and in all
                reply["phases"] = dict({k: 1e3 * v / number for k, v in phases.items()},
                                       step=1e3 * seconds)
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
