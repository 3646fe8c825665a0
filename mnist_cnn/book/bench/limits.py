"""The hardware limit of the training step: its FLOPs, the machine's GEMM rate and bandwidth.

What this is: the arithmetic of one training image, derived from an
:class:`mnist_cnn.architecture.Architecture` (never typed in), and two
measurements of this machine -- the float32 matrix-product rate and the
memory bandwidth -- from which the bench derives the best possible images/s
and the memory-traffic floor of the parameter update. Also: which BLAS
library and kernel numpy runs, and whether ``OPENBLAS_CORETYPE`` overrides it.
What this is not: a roofline model of every layer; pooling, ReLU, softmax and
the loss are counted as negligible (a few thousand operations per image
against millions in the products), and said so.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from mnist_cnn.architecture import SEED, Architecture
from mnist_cnn.tools.runtime import _numpy_blas

__all__ = [
    "OVERRIDE_VARIABLES",
    "blas_description",
    "copy_bandwidth",
    "flops_per_image",
    "gemm_rate",
    "inference_flops_per_image",
    "parameter_count",
    "update_bytes",
]

#: Environment variables that make OpenBLAS use another kernel or cache size than it detects.
OVERRIDE_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def flops_per_image(arch: Architecture = SEED) -> dict[str, int]:
    """Floating-point operations of one training image, per product (multiply + add = 2).

    * conv forward, Eq. (3.3): ``2 C_out (C_in K^2) H_c W_c``;
    * conv backward, ``dW`` only, Eq. (4.15) (training skips ``dL/dx``): the same;
    * fc1 forward, Eq. (2.7): ``2 D_0 D_1``; fc1 backward, ``dW`` and ``dA``
      (Eqs. (4.8), (4.9)): twice that;
    * fc2 forward ``2 D_1 D_2``, backward twice that (``dW`` and ``delta_relu``).

    Pooling, ReLU, softmax, the loss and the biases are left out: together
    they are under 0.2 % of the total for the seed network.

    Parameters
    ----------
    arch : Architecture, default SEED

    Returns
    -------
    dict str -> int
        ``conv forward, conv backward, fc1 forward, fc1 backward, fc2 forward,
        fc2 backward`` and ``total``.

    Examples
    --------
    >>> f = flops_per_image()
    >>> f["conv forward"], f["fc1 forward"], f["fc1 backward"], f["total"]
    (576000, 2880000, 5760000, 9822000)
    """
    conv = 2 * arch.C_out * arch.C_in * arch.K * arch.K * arch.H_c * arch.W_c
    fc1 = 2 * arch.D_0 * arch.D_1
    fc2 = 2 * arch.D_1 * arch.D_2
    parts = {"conv forward": conv, "conv backward": conv, "fc1 forward": fc1,
             "fc1 backward": 2 * fc1, "fc2 forward": fc2, "fc2 backward": 2 * fc2}
    parts["total"] = sum(parts.values())
    return parts


def inference_flops_per_image(arch: Architecture = SEED) -> int:
    """Forward-only FLOPs of one image: conv, fc1 and fc2 forward (see :func:`flops_per_image`)."""
    f = flops_per_image(arch)
    return f["conv forward"] + f["fc1 forward"] + f["fc2 forward"]


def parameter_count(arch: Architecture = SEED) -> int:
    """Number of trainable numbers, Eq. (0.2) summed: 1,446,030 for the seed network."""
    return sum(int(np.prod(shape)) for shape in arch.param_shapes.values())


def update_bytes(arch: Architecture = SEED, itemsize: int = 4) -> int:
    """Bytes the momentum update, Eq. (5.1), must move at least, per step.

    Per parameter it must read ``w``, ``dL/dw`` and ``v`` and write ``v`` and
    ``w``: five numbers, however the passes are arranged.
    """
    return 5 * itemsize * parameter_count(arch)


def _best(fn, repeat: int) -> float:
    fn()  # warm-up: thread start, page faults
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_rate(size: int = 1024, repeat: int = 5, matmul=None) -> float:
    """The machine's float32 matrix-product rate in FLOP/s: ``size^3`` products, best of rounds.

    Parameters
    ----------
    size : int
        Square matrices ``size x size`` (1024: big enough for a BLAS to reach
        its peak, small enough to take well under a second).
    repeat : int
        Rounds; the fastest one counts (load only ever slows a round down).
    matmul : callable, optional
        ``matmul(a, b, out)`` to time; default ``numpy.matmul`` with the
        threads numpy's BLAS has now.

    Returns
    -------
    float
        ``2 size^3 / seconds``.
    """
    rng = np.random.default_rng(0)
    a = rng.random((size, size), dtype=np.float32)
    b = rng.random((size, size), dtype=np.float32)
    out = np.empty((size, size), dtype=np.float32)
    call = matmul or (lambda p, q, o: np.matmul(p, q, out=o))
    return 2.0 * size**3 / _best(lambda: call(a, b, out), repeat)


def copy_bandwidth(mebibytes: int = 64, repeat: int = 5) -> float:
    """Memory bandwidth in bytes/s: one float32 array copied into another, best of rounds.

    A copy reads and writes every byte once, so the traffic is twice the
    array's size; 64 MiB is far larger than any cache.
    """
    n = mebibytes * 2**20 // 4
    src = np.ones(n, dtype=np.float32)
    dst = np.empty_like(src)
    return 2.0 * src.nbytes / _best(lambda: np.copyto(dst, src), repeat)


@dataclass(frozen=True)
class BlasDescription:
    """numpy's BLAS as threadpoolctl sees it, and the OpenBLAS override variables.

    Attributes
    ----------
    library : str
        e.g. ``"openblas 0.3.31"``.
    kernel : str
        The kernel OpenBLAS runs (threadpoolctl's ``architecture``), e.g. ``"SkylakeX"``.
    threads : int or None
    override : str
        ``"OPENBLAS_CORETYPE=Haswell, ..."`` or ``"none"``.
    """

    library: str
    kernel: str
    threads: int | None
    override: str

    def line(self) -> str:
        return (f"numpy BLAS: {self.library}, kernel {self.kernel}, {self.threads} threads; "
                f"override: {self.override}")


def blas_description() -> BlasDescription:
    """Describe numpy's BLAS in this process (call it in the process being measured)."""
    info = _numpy_blas() or {}
    override = ", ".join(f"{k}={os.environ[k]}" for k in OVERRIDE_VARIABLES if k in os.environ)
    return BlasDescription(
        library=f"{info.get('internal_api', 'unknown')} {info.get('version', '')}".strip(),
        kernel=str(info.get("architecture", "unknown")),
        threads=info.get("num_threads"),
        override=override or "none (OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset)",
    )
