"""Check the typeset equations of the chapters against the package, entry by entry.

What this is: the machine check of the LaTeX the reader reads. For every ``\\tag``ged
display in the notebooks' markdown, :mod:`mnist_cnn.book.equations.latex` parses the equation
as written, evaluates its right-hand side from the inputs the equation names (``Twin.inputs``:
never its own target, never an array computed after it) on tiny float64 instances (five
networks in which no two sizes are equal in every instance, with ``S = 2``, ``P = 1`` and 2,
``C_in > 1``, tied pool windows and a pre-activation at exactly 0), and compares it with what
the package computes for the left-hand side. Change an index, a limit, a factor or a sign in
the markdown and the check fails. No clause is skipped. A chapter must typeset all its tags
(a deleted tag fails, an unknown one fails), and every display without a number is either
checked (a LaTeX comment ``% check: (1.3)`` names its twin) or marked
``% not an equation: <why>``.

What this is not: a check of the code (the tests do that) or of the prose around the
equations. The package is reached only through :data:`PACKAGE`, one table.

Command line::

    python -m mnist_cnn.book.equations check notebooks/*.ipynb

prints one line per equation, ``(1.3) ok, max error 2e-16``, and exits 1 on any mismatch,
unread clause or untied tag. :func:`typeset_results` gives the same as data, tag -> result,
for the equation ledger (``--json`` prints it).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import json
import re
import sys
import textwrap
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnist_cnn import architecture
from mnist_cnn.book.equations.latex import (
    Display,
    Evaluator,
    LatexError,
    MatrixEvaluator,
    Node,
    Shape,
    Tensor,
    parse_display,
)
from mnist_cnn.book.nbfile import NotebookError, read_notebook
from mnist_cnn.reference import im2col, layers, loops, network, optim
from mnist_cnn.train import loop, metrics

__all__ = ["PACKAGE", "TWINS", "UNTAGGED", "EXEMPT", "untagged_results", "untagged_displays",
           "Result", "extract_displays", "book_notebooks",
           "check_display", "typeset_results", "typeset_results_of", "ledger_summary", "main"]

# --------------------------------------------------------------------------- the package
# Every function of the package the check calls, in one table: re-point here if a module moves.
PACKAGE: dict[str, Callable] = {
    "output_size": architecture.output_size,                   # (0.1)
    "conv_parameter_count": architecture.conv_parameter_count,  # (0.2)
    "fc_parameter_count": architecture.fc_parameter_count,      # (0.2)
    "conv_output_hw": im2col.conv_output_hw,             # (1.4)
    "pad": im2col.pad,                                   # (1.2)
    "conv_forward": layers.conv_forward,                 # (1.3)
    "maxpool_forward": layers.maxpool_forward,           # (1.5), (2.5), (2.6)
    "flatten_forward": layers.flatten_forward,           # (1.6)
    "unflatten_index": loops.unflatten_index,           # (1.7)
    "fc_forward": layers.fc_forward,                     # (1.8), (1.10)
    "relu_forward": layers.relu_forward,                 # (1.9)
    "softmax": layers.softmax,                           # (1.11), (1.12)
    "im2col_per_channel": im2col.im2col_per_channel,     # (2.1), (2.6)
    "im2col": im2col.im2col,                             # (3.1)
    "one_hot": layers.one_hot,                           # t in chapter 4
    "cross_entropy": layers.cross_entropy,               # (4.1)
    "softmax_cross_entropy_backward": layers.softmax_cross_entropy_backward,  # (4.3)
    "fc_backward": layers.fc_backward,                   # (4.5), (4.6), (4.8), (4.9)
    "relu_backward": layers.relu_backward,               # (4.7)
    "flatten_backward": layers.flatten_backward,         # (4.10)
    "maxpool_backward": layers.maxpool_backward,         # (4.11)
    "conv_backward": layers.conv_backward,               # (4.12)-(4.14)
    "forward": network.forward,                          # the chain, (3.3)-(1.12)
    "backward": network.backward,                        # the chain, (4.5)-(4.15)
    "sgd_momentum": optim.SGDMomentum,                   # (5.1)
    "learning_rate": optim.learning_rate,                # (5.2)
    "shift_images": loop.shift_images,                  # (5.3)
    "seed": architecture.SEED,                   # the seed network's sizes
    "accuracy": metrics.accuracy,                          # (5.4), (5.5)
    "confusion_matrix": metrics.confusion_matrix,          # (5.5)
}

# --------------------------------------------------------------------------- instances


@dataclass
class World:
    """One tiny instance: sizes and tensors under their LaTeX names, all from the package."""

    sizes: dict[str, float]
    tensors: dict[str, Tensor]
    ranges: dict[str, tuple[int, int]] = field(default_factory=dict)
    label: str = ""
    count: int = 1  # instances it stands for: a grid of sizes is one per grid point


# Shapes of the conv/pool/fc instances: S = 2, P = 1 and 2, C_in > 1, overlapping pools,
# a stride that drops border rows (floor), and integer data with ties in the pool windows.
# No two sizes are equal in every instance (tests/test_equations.py asserts it), so a sum
# to N written as a sum to D_2, or 1/N written 1/D_2, changes a number somewhere; the last
# instance has its thirteen tensor sizes pairwise different. The integer instance has a
# pre-activation of fc1 at exactly 0 (so > 0 and \ge 0 differ) and tied pool windows.
CNN_CASES = [
    dict(N=3, C_in=1, C_out=4, H_in=6, W_in=7, K=3, S=1, P=0, K_p=2, S_p=2, D_1=6, D_2=5),
    dict(N=4, C_in=2, C_out=3, H_in=7, W_in=8, K=3, S=2, P=1, K_p=2, S_p=1, D_1=5, D_2=6),
    dict(N=5, C_in=3, C_out=2, H_in=8, W_in=6, K=2, S=1, P=2, K_p=3, S_p=2, D_1=4, D_2=3),
    dict(N=2, C_in=2, C_out=4, H_in=9, W_in=7, K=3, S=2, P=1, K_p=2, S_p=2, D_1=6, D_2=5,
         ties=True),
    dict(N=3, C_in=4, C_out=5, H_in=7, W_in=10, K=2, S=1, P=1, K_p=3, S_p=1, D_1=13, D_2=12),
]


def _fd_jacobian(f: Callable[[np.ndarray], np.ndarray], z: np.ndarray, h: float = 1e-6):
    """Centred finite differences of ``f`` at ``z``: shape ``f(z).shape + z.shape``."""
    out = np.empty(np.shape(f(z)) + z.shape)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += h
        zm[idx] -= h
        out[(...,) + idx] = (f(zp) - f(zm)) / (2 * h)
    return out


def _cnn_world(case: dict, seed: int = 0, dense_conv_delta: bool = False) -> World:
    """The network's forward and backward pass on one tiny instance, by the package.

    Every delta is the one the backward pass computes from the loss, except that with
    ``dense_conv_delta`` the convolution's upstream delta is random and dense (the one the
    max-pool routes is three quarters zero, too weak a test of (4.12)-(4.14)).
    """
    P_ = PACKAGE
    rng = np.random.default_rng(seed)
    c = {k: v for k, v in case.items() if k != "ties"}
    N, C_in, C_out, K, S, P = c["N"], c["C_in"], c["C_out"], c["K"], c["S"], c["P"]
    K_p, S_p, D_1, D_2 = c["K_p"], c["S_p"], c["D_1"], c["D_2"]
    if case.get("ties"):  # small integers: equal entries in the pool windows
        x = rng.integers(-1, 2, (N, C_in, c["H_in"], c["W_in"])).astype(np.float64)
        w = rng.integers(-1, 2, (C_out, C_in, K, K)).astype(np.float64)
        b = np.zeros(C_out)
    else:
        x = rng.standard_normal((N, C_in, c["H_in"], c["W_in"]))
        w = rng.standard_normal((C_out, C_in, K, K))
        b = rng.standard_normal(C_out)
    arch = architecture.Architecture(C_in=C_in, H=c["H_in"], W=c["W_in"], C_out=C_out, K=K,
                                     S=S, P=P, K_p=K_p, S_p=S_p, D_1=D_1, D_2=D_2)
    D_0 = arch.D_0
    # z^(flat) does not depend on the fc weights: one forward pass gives it, and the fc weights
    # are then drawn to suit it (the order of the draws is x, w, b, w_fc1, b_fc1, w_fc2, b_fc2)
    params = dict(w_conv=w, b_conv=b, w_fc1=np.zeros((D_1, D_0)), b_fc1=np.zeros(D_1),
                  w_fc2=np.zeros((D_2, D_1)), b_fc2=np.zeros(D_2))
    z_flat = P_["forward"](params, x, arch)[1]["z_flat"]
    if case.get("ties"):  # integers again: z^(fc1) exact, and z^(fc1)_{1,1} exactly 0
        w_fc1 = rng.integers(-1, 2, (D_1, D_0)).astype(np.float64)
        b_fc1 = rng.integers(-2, 3, D_1).astype(np.float64)
        b_fc1[0] = -float(z_flat[0] @ w_fc1[0])
    else:
        # scaled by 1/sqrt(D_in): pre-activations of order 1, some of them in (0, 1), so
        # that a wrong threshold in 1[z > 0] shows
        w_fc1 = rng.standard_normal((D_1, D_0)) / np.sqrt(D_0 * float(np.mean(z_flat**2)))
        b_fc1 = rng.standard_normal(D_1) / 4
    w_fc2 = rng.standard_normal((D_2, D_1)) / (np.sqrt(D_1) if case.get("ties") else 1)
    b_fc2 = rng.standard_normal(D_2) / 4
    params.update(w_fc1=w_fc1, b_fc1=b_fc1, w_fc2=w_fc2, b_fc2=b_fc2)
    y, caches = P_["forward"](params, x, arch)
    z_conv, z_pool, z_flat, z_fc1, z_relu, z_fc2 = (caches[k] for k in network.Z_NAMES[:-1])
    H_c, W_c = z_conv.shape[2:]
    H_p, W_p = z_pool.shape[2:]
    pool_cache = caches["pool"]
    labels = rng.integers(0, D_2, N)
    labels[:2] = 0, D_2 - 1  # the first and the last class occur: a sum from k = 2 shows
    t = P_["one_hot"](labels, D_2)
    L = P_["cross_entropy"](y, labels)
    delta_fc2 = P_["softmax_cross_entropy_backward"](y, labels)
    grads, deltas = P_["backward"](delta_fc2, caches)
    delta_relu, delta_fc1, delta_flat, delta_pool, delta_conv, dx = (
        deltas[k] for k in network.DELTA_NAMES[1:])
    dw_conv, db_conv, dw_fc1, db_fc1, dw_fc2, db_fc2 = (grads[k] for k in network.GRAD_NAMES)
    if dense_conv_delta:
        delta_conv = rng.standard_normal(delta_conv.shape)
        dx, dw_conv, db_conv = P_["conv_backward"](delta_conv, caches["conv"])

    def squared_error(z):
        return ((P_["softmax"](z) - t) ** 2).sum() / (2 * N)

    def softmax_flat(z):
        return P_["softmax"](z)

    offset = pool_cache.argmax  # 0-based row-major offset i*K_p + j of each window's maximum
    sizes = dict(N=N, C_in=C_in, C_out=C_out, H_in=c["H_in"], W_in=c["W_in"], K=K, S=S, P=P,
                 H_c=H_c, W_c=W_c, K_p=K_p, S_p=S_p, H_p=H_p, W_p=W_p, D_0=D_0, D_1=D_1,
                 D_2=D_2)
    T = Tensor
    tensors = {
        "x": T(x), r"\tilde x": T(P_["pad"](x, P)), "w^(conv)": T(w), "b^(conv)": T(b),
        "z^(conv)": T(z_conv), "z^(pool)": T(z_pool), "z^(flat)": T(z_flat),
        "w^(fc1)": T(w_fc1), "b^(fc1)": T(b_fc1), "z^(fc1)": T(z_fc1), "z^(relu)": T(z_relu),
        "w^(fc2)": T(w_fc2), "b^(fc2)": T(b_fc2), "z^(fc2)": T(z_fc2), "y": T(y),
        # the stabiliser of (1.12): numpy's row maximum (softmax is shift-invariant, so
        # only this comparison can see a wrong M_n)
        "M": T(z_fc2.max(axis=1)),
        # im2col matrices X_c^{(n)} [N, C_in, K^2, H_c W_c] and X_col^{(n)}
        "X": T(P_["im2col_per_channel"](x, K, S, P)), "X_col": T(P_["im2col"](x, K, S, P)),
        # the filter matrices F_c as layers.conv_forward{,_per_channel} form them (a reshape)
        "F": T(np.ascontiguousarray(w.transpose(1, 0, 2, 3)).reshape(C_in, C_out, K * K)),
        "W_mat": T(w.reshape(C_out, C_in * K * K)),
        "t": T(t), "label": T(labels + 1.0),  # class index k = digit + 1, as every index
        "L": T(np.asarray(L)), "dL/dz^(fc2)": T(delta_fc2), "\\delta^(fc2)": T(delta_fc2),
        "dy/dz^(fc2)": T(_fd_jacobian(softmax_flat, z_fc2)),
        "dL^(SE)/dz^(fc2)": T(_fd_jacobian(squared_error, z_fc2)),
        "\\delta^(fc2),SE": T(_fd_jacobian(squared_error, z_fc2)),
        "dL/dw^(fc2)": T(dw_fc2), "dL/db^(fc2)": T(db_fc2),
        "\\delta^(relu)": T(delta_relu), "dL/dz^(relu)": T(delta_relu),
        "\\delta^(fc1)": T(delta_fc1),
        "dL/dw^(fc1)": T(dw_fc1), "dL/db^(fc1)": T(db_fc1), "\\delta^(flat)": T(delta_flat),
        "\\delta^(pool)": T(delta_pool), "\\delta^(conv)": T(delta_conv),
        "i^*": T(offset // K_p + 1.0), "j^*": T(offset % K_p + 1.0),
        "dL/dw^(conv)": T(dw_conv), "dL/db^(conv)": T(db_conv), "dL/dx": T(dx),
    }
    # matrix forms, chapters 2-4: the same arrays, as the matrices the equations multiply
    HW = H_c * W_c
    tensors.update({
        "Z": T(z_conv.reshape(N, C_out, HW)), r"\mathsf{Z}": T(z_conv.reshape(N, C_out, HW)),
        r"\mathsf{X}": tensors["X"], "Z^(flat)": T(z_flat), "Z^(fc1)": T(z_fc1),
        "Z^(relu)": T(z_relu), "Z^(fc2)": T(z_fc2), "W^(fc1)": T(w_fc1), "W^(fc2)": T(w_fc2),
        "Y": T(y), r"\mathbf{M}": T(z_fc2.max(axis=1)),
        # U of (2.8) by numpy: Y does not change if U is scaled, so only this sees a wrong U
        "U": T(np.exp(z_fc2 - z_fc2.max(axis=1, keepdims=True))),
        "dL/dW_mat": T(dw_conv.reshape(C_out, C_in * K * K)), "dL/db": T(db_conv),
        r"\Delta": T(delta_conv.reshape(N, C_out, HW)),
    })
    if dense_conv_delta:
        # dL/dX_col^(n) for L = sum <Delta, W_mat X_col + b 1^T>, by centred differences of
        # that loss in X_col (the package forms this product inside conv_backward only)
        W_mat, Delta, X_col = (tensors[k].values for k in ("W_mat", r"\Delta", "X_col"))

        def loss_of(X, n):
            return float(np.sum(Delta[n] * (W_mat @ X)))

        tensors["dL/dX_col"] = T(np.stack([
            _fd_jacobian(functools.partial(loss_of, n=n), X_col[n]) for n in range(N)]))
    # (2.6): the pooling windows as the im2col columns of z^(conv), Eq. (2.1) with K_p, S_p
    tensors["X_pool"] = T(P_["im2col_per_channel"](z_conv, K_p, S_p, 0))
    label = ", ".join(f"{k}={v}" for k, v in case.items())
    return World(sizes, tensors, label=label)


@functools.cache
def _cnn_worlds(dense_conv_delta: bool = False) -> list[World]:
    """:func:`_cnn_world` on every case of :data:`CNN_CASES` (computed once)."""
    return [_cnn_world(case, seed, dense_conv_delta) for seed, case in enumerate(CNN_CASES)]


@functools.cache
def _stable_softmax_worlds() -> list[World]:
    """The instances of :func:`_cnn_worlds`, and logits of order 800 that only a softmax
    shifted by the row maximum survives in float64 (Eq. (1.12) is about that)."""
    z = np.array([[800.0, 799.0, -800.0, 0.5], [-799.0, -800.0, -801.0, -798.5],
                  [3.0, 800.0, 800.0, -2.0]])
    y = PACKAGE["softmax"](z)
    big = World({"N": 3, "D_2": 4}, {"z^(fc2)": Tensor(z), "y": Tensor(y),
                                     "M": Tensor(z.max(axis=1))}, label="logits of +-800")
    return [*_cnn_worlds(), big]


def _pool_size_worlds() -> list[World]:
    """H_p, W_p as the package's max-pool makes them, on a grid of sizes."""
    axes = {"H_c": range(4, 8), "W_c": range(5, 9), "K_p": range(1, 4), "S_p": range(1, 4)}

    def shape(H_c, W_c, K_p, S_p):
        return PACKAGE["maxpool_forward"](np.zeros((1, 1, H_c, W_c)), K_p, S_p)[0].shape[2:]

    return [_grid_world(axes, {"H_p": lambda **a: shape(**a)[0],
                               "W_p": lambda **a: shape(**a)[1]})]


def _grid_world(axes: dict[str, range], targets: dict[str, Callable[..., float]]) -> World:
    """Sizes as free variables: every target tabulated on the grid of ``axes``."""
    names = list(axes)
    grid_shape = tuple(len(r) for r in axes.values())
    tensors = {}
    for target, fn in targets.items():
        out = np.empty(grid_shape)
        for idx in np.ndindex(grid_shape):
            out[idx] = fn(**{n: axes[n][i] for n, i in zip(names, idx, strict=True)})
        # indexed by the sizes themselves: entry [0, ...] is the first value of each axis
        tensors[target] = Tensor(out, base=tuple(r[0] for r in axes.values()))
    return World({}, tensors, ranges={n: (r[0], r[-1]) for n, r in axes.items()},
                 label="grid " + ", ".join(f"{n}={r[0]}..{r[-1]}" for n, r in axes.items()),
                 count=int(np.prod(grid_shape)))


def _output_size_world() -> list[World]:
    # (0.1) is written with H_in, H_out: S is the stride, so sizes are not called S_in, S_out
    axes = {"H_in": range(6, 10), "K": range(1, 6), "P": range(0, 3), "S": range(1, 4)}

    def output_size(H_in, K, P, S):
        return PACKAGE["output_size"](H_in, K, S, P)

    return [_grid_world(axes, {"H_out": output_size})]


def _parameter_count_worlds() -> list[World]:
    conv = _grid_world({"C_out": range(1, 4), "C_in": range(1, 4), "K": range(1, 6)},
                      {"#conv": lambda C_out, C_in, K:
                       PACKAGE["conv_parameter_count"](C_in, C_out, K)})
    fc = _grid_world({"D_out": range(1, 5), "D_in": range(1, 6)},
                    {"#fc": lambda D_out, D_in: PACKAGE["fc_parameter_count"](D_in, D_out)})
    return [_merge(conv, fc)]


def _conv_size_worlds() -> list[World]:
    axes = {"H_in": range(5, 8), "W_in": range(6, 10), "K": range(1, 5), "P": range(0, 3),
            "S": range(1, 4)}

    def hw(H_in, W_in, K, P, S):
        return PACKAGE["conv_output_hw"](H_in, W_in, K, S, P)

    return [_grid_world(axes, {"H_c": lambda **a: hw(**a)[0], "W_c": lambda **a: hw(**a)[1]})]


def _merge(a: World, b: World) -> World:
    return World({**a.sizes, **b.sizes}, {**a.tensors, **b.tensors}, {**a.ranges, **b.ranges},
                 a.label + "; " + b.label, a.count + b.count)


def _flat_index_worlds() -> list[World]:
    worlds = []
    for C, H_p, W_p in ((2, 3, 4), (3, 2, 5), (1, 4, 3)):
        D_0 = C * H_p * W_p
        opq = np.array([PACKAGE["unflatten_index"](r, H_p, W_p) for r in range(1, D_0 + 1)],
                       dtype=np.float64)
        worlds.append(World(dict(C_out=C, H_p=H_p, W_p=W_p, D_0=D_0),
                            {v: Tensor(opq[:, i]) for i, v in enumerate("opq")},
                            label=f"C_out={C}, H_p={H_p}, W_p={W_p}"))
    return worlds


def _sgd_worlds() -> list[World]:
    """Run the package's SGD for T steps on random gradients; one world per parameter entry."""
    worlds = []
    for seed, (mu, lam, T) in enumerate(((0.9, 5e-4, 5), (0.5, 0.1, 4))):
        rng = np.random.default_rng(seed)
        params = {"w": rng.standard_normal(3)}
        opt = PACKAGE["sgd_momentum"](params, momentum=mu, weight_decay=lam)
        w_seq, v_seq = [params["w"].copy()], [opt.velocity["w"].copy()]
        g_seq, eta_seq = [np.full(3, np.nan)], [np.nan]
        for _ in range(T):
            g, eta = rng.standard_normal(3), float(rng.uniform(0.01, 0.5))
            opt.step({"dw": g}, eta)
            w_seq.append(params["w"].copy())
            v_seq.append(opt.velocity["w"].copy())
            g_seq.append(g)
            eta_seq.append(eta)
        for d in range(3):
            worlds.append(World(
                {r"\mu": mu, r"\lambda": lam},
                {"w": Tensor(np.array(w_seq)[:, d], 0), r"\nu": Tensor(np.array(v_seq)[:, d], 0),
                 "g": Tensor(np.array(g_seq)[:, d], 0), r"\eta": Tensor(np.array(eta_seq), 0)},
                ranges={"t": (1, T)}, label=f"mu={mu}, lambda={lam}, entry {d}"))
    return worlds


def _schedule_worlds() -> list[World]:
    worlds = []
    for T, T_w, eta_0 in ((12, 0, 0.05), (12, 4, 0.3), (7, 6, 1.0)):
        eta = np.array([PACKAGE["learning_rate"](t, T, eta_0, T_w) for t in range(T)])
        worlds.append(World({"T": T, "T_w": T_w, r"\eta_0": eta_0}, {r"\eta": Tensor(eta, 0)},
                            ranges={"t": (0, T - 1)}, label=f"T={T}, T_w={T_w}"))
    return worlds


def _shift_worlds() -> list[World]:
    worlds = []
    for seed, (N, C, H, W, s) in enumerate(((4, 1, 5, 6, 2), (3, 2, 6, 5, 3))):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((N, C, H, W))
        shifts = rng.integers(-s, s + 1, (N, 2))
        moved = PACKAGE["shift_images"](x, shifts)
        worlds.append(World(
            {"H_in": H, "W_in": W},
            {"x": Tensor(x), "x'": Tensor(moved), r"\Delta y": Tensor(shifts[:, 0] * 1.0),
             r"\Delta x": Tensor(shifts[:, 1] * 1.0)},
            ranges={"n": (1, N), "c": (1, C), "m": (1, H), "l": (1, W)},
            label=f"N={N}, C={C}, H={H}, W={W}, max shift {s}"))
    return worlds


def _accuracy_worlds() -> list[World]:
    worlds = []
    for seed, (N, D) in enumerate(((20, 4), (30, 3))):
        rng = np.random.default_rng(seed)
        y = rng.random((N, D))
        labels = np.where(rng.random(N) < 0.6, y.argmax(axis=1), rng.integers(0, D, N))
        C = PACKAGE["confusion_matrix"](labels, y.argmax(axis=1), D).astype(np.float64)
        worlds.append(World(
            {"N": N, "D_2": D},
            {"y": Tensor(y), "label": Tensor(labels + 1.0),  # class index = digit + 1
             "acc": Tensor(np.asarray(PACKAGE["accuracy"](y, labels))), "C": Tensor(C)},
            ranges={"n": (1, N), "k": (1, D), "a": (1, D), "b": (1, D)},
            label=f"N={N}, D_2={D}"))
    return worlds


@functools.cache
def seed_sizes() -> dict[str, int]:
    """The seed network's sizes, for shape statements such as ``R^{20 x 25}`` in (2.2).

    Read from the one source of sizes, :data:`mnist_cnn.architecture.SEED`.

    Returns
    -------
    dict of str to int
        ``C_in, H_in, W_in, C_out, K, S, P, H_c, W_c, K_p, S_p, H_p, W_p, D_0, D_1, D_2``.
    """
    seed = PACKAGE["seed"]
    names = ("C_in", "C_out", "K", "S", "P", "H_c", "W_c", "K_p", "S_p", "H_p", "W_p",
             "D_0", "D_1", "D_2")
    return {"H_in": seed.H, "W_in": seed.W, **{name: getattr(seed, name) for name in names}}


# Jacobians of the package's forward layers by centred differences, for the local derivatives
# and the delta rule of chapter 4 (displays without a number). h = 1e-6 as in _fd_jacobian.
_KINK = 1e-4  # a max or a ReLU closer than this to its kink has no derivative to compare


def _layer_maps(world: World) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Each forward layer of the world as a function of one of its arguments (the package's)."""
    P_, s, t = PACKAGE, world.sizes, world.tensors
    S, P, K_p, S_p = int(s["S"]), int(s["P"]), int(s["K_p"]), int(s["S_p"])
    x, w, b = (t[k].values for k in ("x", "w^(conv)", "b^(conv)"))
    z_conv, z_pool, z_flat, z_relu = (t[k].values for k in
                                      ("z^(conv)", "z^(pool)", "z^(flat)", "z^(relu)"))
    w1, b1, w2, b2 = (t[k].values for k in ("w^(fc1)", "b^(fc1)", "w^(fc2)", "b^(fc2)"))
    return {
        "conv/x": lambda v: P_["conv_forward"](v, w, b, S, P)[0],
        # the padded input as the variable: the same layer with no padding of its own
        "conv/x~": lambda v: P_["conv_forward"](v, w, b, S, 0)[0],
        "conv/w": lambda v: P_["conv_forward"](x, v, b, S, P)[0],
        "conv/b": lambda v: P_["conv_forward"](x, w, v, S, P)[0],
        "pool/z": lambda v: P_["maxpool_forward"](v, K_p, S_p)[0],
        "flat/z": lambda v: P_["flatten_forward"](v)[0],
        "fc1/z": lambda v: P_["fc_forward"](v, w1, b1)[0],
        "fc1/w": lambda v: P_["fc_forward"](z_flat, v, b1)[0],
        "fc1/b": lambda v: P_["fc_forward"](z_flat, w1, v)[0],
        "relu/z": lambda v: P_["relu_forward"](v)[0],
        "fc2/z": lambda v: P_["fc_forward"](v, w2, b2)[0],
        "fc2/w": lambda v: P_["fc_forward"](z_relu, v, b2)[0],
        "fc2/b": lambda v: P_["fc_forward"](z_relu, w2, v)[0],
        "_at": lambda: {"conv/x": x, "conv/x~": t[r"\tilde x"].values, "conv/w": w,
                        "conv/b": b, "pool/z": z_conv, "flat/z": z_pool, "fc1/z": z_flat,
                        "fc1/w": w1, "fc1/b": b1, "relu/z": t["z^(fc1)"].values,
                        "fc2/z": z_relu, "fc2/w": w2, "fc2/b": b2},
    }


def _pool_windows(world: World) -> np.ndarray:
    """The pooling windows of z^(conv) by numpy: [N, C_out, H_p, W_p, K_p * K_p], row-major."""
    from numpy.lib.stride_tricks import sliding_window_view

    K_p, S_p = int(world.sizes["K_p"]), int(world.sizes["S_p"])
    z = world.tensors["z^(conv)"].values
    win = sliding_window_view(z, (K_p, K_p), axis=(2, 3))[:, :, ::S_p, ::S_p]
    return win.reshape(win.shape[:4] + (K_p * K_p,))


def _smooth_pool(world: World) -> bool:
    """Every window's maximum is unique by more than _KINK (no tie, no kink within reach)."""
    win = np.sort(_pool_windows(world), axis=-1)
    return win.shape[-1] == 1 or bool(np.min(win[..., -1] - win[..., -2]) > _KINK)


def _smooth_relu(world: World) -> bool:
    return bool(np.min(np.abs(world.tensors["z^(fc1)"].values)) > _KINK)


@functools.cache
def _local_derivative_worlds() -> list[World]:
    """The local derivatives of (4.11), (4.12) and (4.14) by centred differences.

    On the instances with a dense conv delta; the max-pool's only where no window has a tie
    (the display is about a unique maximum), with the winners (i*, j*) found by numpy's
    argmax over the windows, not the package's.
    """
    worlds = []
    for world in _cnn_worlds(dense_conv_delta=True):
        maps, s = _layer_maps(world), world.sizes
        at = maps["_at"]()
        t = dict(world.tensors)
        t["dz^(conv)/dw^(conv)"] = Tensor(_fd_jacobian(maps["conv/w"], at["conv/w"]))
        t[r"dz^(conv)/d\tilde x"] = Tensor(_fd_jacobian(maps["conv/x~"], at["conv/x~"]))
        if _smooth_pool(world):
            K_p = int(s["K_p"])
            best = np.argmax(_pool_windows(world), axis=-1)  # first maximum, row-major
            t["i^*"], t["j^*"] = Tensor(best // K_p + 1.0), Tensor(best % K_p + 1.0)
            t["dz^(pool)/dz^(conv)"] = Tensor(_fd_jacobian(maps["pool/z"], at["pool/z"]))
        ranges = {"u": (1, int(s["H_in"] + 2 * s["P"])), "v": (1, int(s["W_in"] + 2 * s["P"]))}
        worlds.append(dataclasses.replace(world, tensors=t, ranges=ranges))
    return worlds


# The pairs (lower layer's output, upper layer) of the delta rule, with the parameters of the
# upper layer: (delta of the lower output, delta of the upper output, the map, the params)
_DELTA_RULE_PAIRS = (
    ("dL/dx", r"\delta^(conv)", "conv/x", ("w", "b"), "dL/d{}^(conv)"),
    (r"\delta^(conv)", r"\delta^(pool)", "pool/z", (), ""),
    (r"\delta^(pool)", r"\delta^(flat)", "flat/z", (), ""),
    (r"\delta^(flat)", r"\delta^(fc1)", "fc1/z", ("w", "b"), "dL/d{}^(fc1)"),
    (r"\delta^(fc1)", r"\delta^(relu)", "relu/z", (), ""),
    (r"\delta^(relu)", r"\delta^(fc2)", "fc2/z", ("w", "b"), "dL/d{}^(fc2)"),
)


@functools.cache
def _delta_rule_worlds() -> list[World]:
    """The delta rule on every layer of the chain, flattened to alpha, beta.

    One world per (instance, layer, parameter array theta of the layer; none for pool,
    flatten, ReLU): delta^(low) and dL/dtheta are the package's backward pass, delta^(up)
    its upstream delta, and the local derivatives dz^(up)/dz^(low), dz^(up)/dtheta are
    centred differences of the package's forward layer. The conv uses the dense conv
    delta; the max-pool and the ReLU only instances away from their kinks.
    """
    worlds = []
    for dense, plain in zip(_cnn_worlds(True), _cnn_worlds(), strict=True):
        for low, up, layer, params, grad in _DELTA_RULE_PAIRS:
            world = dense if layer.startswith("conv") else plain
            if (layer == "pool/z" and not _smooth_pool(world)) or (
                    layer == "relu/z" and not _smooth_relu(world)):
                continue
            maps = _layer_maps(world)
            at = maps["_at"]()
            d_low = world.tensors[low].values.ravel()
            d_up = world.tensors[up].values.ravel()
            jac = _fd_jacobian(maps[layer], at[layer]).reshape(d_up.size, d_low.size)
            base = {r"\delta^(low)": Tensor(d_low), r"\delta^(up)": Tensor(d_up),
                    "dz^(up)/dz^(low)": Tensor(jac)}
            ranges = {r"\alpha": (1, d_low.size), r"\beta": (1, d_up.size)}
            name = layer.split("/")[0]
            for p in params or (None,):
                tensors = dict(base)
                if p is not None:
                    theta = at[f"{name}/{p}"]
                    tensors[r"dL/d\theta"] = Tensor(world.tensors[grad.format(p)].values.ravel())
                    tensors[r"dz^(up)/d\theta"] = Tensor(_fd_jacobian(
                        maps[f"{name}/{p}"], theta).reshape(d_up.size, theta.size))
                worlds.append(World(world.sizes, tensors, ranges,
                                    f"{world.label}; {name}" + (f", theta = {p}" if p else "")))
    return worlds


# --------------------------------------------------------------------------- the twins


@dataclass
class Twin:
    """How to check one numbered equation from its typeset form.

    Attributes
    ----------
    targets : tuple of str
        The left-hand sides compared with the package (LaTeX names as :mod:`latex` reads
        them: ``z^(conv)``, ``dL/dw^(conv)``, ``H_out``). Any other name defined in the
        display is a helper (``M_n``, ``r(o,p,q)``) used where it appears.
    worlds : callable
        The tiny instances: sizes and tensors computed by :data:`PACKAGE`.
    ranges : dict
        Ranges of free indices the display does not write (``n``, ``c`` in (2.1));
        the ranges the display writes always win.
    axes : dict
        For a target written without indices (``o`` in (1.7), ``H_out`` in (0.1)),
        the free variables that index its table.
    tol : float
        Largest accepted error, relative to the largest entry (finite differences: 1e-7).
    cover : bool
        Also require the left-hand sides to hit every entry of the target exactly once.
    when : callable
        Which worlds the equation holds in (``K_p = S_p`` for (2.5)).
    rename : dict
        A LaTeX name that means another array of the world in this display (``X`` in
        (2.6) is the im2col matrix of ``z^(conv)``, not of ``x``).
    inputs : tuple of str
        The only arrays of the world a right-hand side may read: the quantities the
        equation is a function of. Anything else on the right (the target itself, an array
        computed after it) is an unknown symbol and fails the check.
    aliases : tuple of str
        Other names of a target in a chain (``dL/dz^(fc2)`` beside ``delta^(fc2)``):
        notation, not a value to compare.
    recurrence : bool
        The targets are recurrences (``\\nu_t`` from ``\\nu_{t-1}``): they may appear on their own
        right-hand side, at another index, and are then read from the package.
    optional : tuple of str
        Targets that only some worlds hold (``dL/dtheta`` of the delta rule: only a layer
        with parameters has one); each must still be checked in at least one world.
    """

    targets: tuple[str, ...]
    worlds: Callable[[], list[World]]
    ranges: dict[str, str] = field(default_factory=dict)
    axes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tol: float = 1e-12
    cover: bool = True
    when: Callable[[World], bool] | None = None
    rename: dict[str, str] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    recurrence: bool = False
    optional: tuple[str, ...] = ()


_FD = 1e-7  # centred differences with h = 1e-6 in float64
_NCHW_IN = {"n": "N", "c": "C_in"}
_POOLED = {"n": "N", "o": "C_out", "p": "H_p", "q": "W_p"}
_SIZE_GRID = ("H_in", "W_in", "K", "P", "S")

_CONV_IN = (r"\tilde x", "b^(conv)", "w^(conv)")
_DENSE = functools.partial(_cnn_worlds, dense_conv_delta=True)

# One twin per numbered equation. ``inputs`` is what the equation is a function of: the
# right-hand side is evaluated from these arrays alone (and from the display's own helpers).
TWINS: dict[str, Twin] = {
    # (1.1) defines no value: its shape and index ranges are checked against the array
    "1.1": Twin(("x",), _cnn_worlds, inputs=("x",)),
    "0.1": Twin(("H_out",), _output_size_world, axes={"H_out": ("H_in", "K", "P", "S")}),
    "0.2": Twin(("#conv", "#fc"), _parameter_count_worlds,
                axes={"#conv": ("C_out", "C_in", "K"), "#fc": ("D_out", "D_in")}),
    "1.2": Twin((r"\tilde x",), _cnn_worlds, inputs=("x",)),
    "1.3": Twin(("z^(conv)",), _cnn_worlds, inputs=_CONV_IN),
    "1.4": Twin(("H_c", "W_c"), _conv_size_worlds,
                axes={"H_c": _SIZE_GRID, "W_c": _SIZE_GRID}),
    "1.5": Twin(("z^(pool)",), _cnn_worlds, inputs=("z^(conv)",)),
    "1.6": Twin(("z^(flat)",), _cnn_worlds, inputs=("z^(pool)",)),
    "1.7": Twin(("o", "p", "q"), _flat_index_worlds, axes={"o": ("r",), "p": ("r",), "q": ("r",)}),
    "1.8": Twin(("z^(fc1)",), _cnn_worlds, inputs=("z^(flat)", "w^(fc1)", "b^(fc1)")),
    "1.9": Twin(("z^(relu)",), _cnn_worlds, inputs=("z^(fc1)",)),
    "1.10": Twin(("z^(fc2)",), _cnn_worlds, inputs=("z^(relu)", "w^(fc2)", "b^(fc2)")),
    "1.11": Twin(("y",), _cnn_worlds, inputs=("z^(fc2)",)),
    # with logits of +-800 too: a stabiliser of the wrong sign overflows there
    "1.12": Twin(("y", "M"), _stable_softmax_worlds, ranges={"n": "N", "k": "D_2"},
                 inputs=("z^(fc2)",)),
    "2.1": Twin(("X",), _cnn_worlds, ranges=_NCHW_IN, inputs=(r"\tilde x",)),
    "2.2": Twin(("F",), _cnn_worlds, ranges={"c": "C_in"}, inputs=("w^(conv)",)),
    "2.5": Twin(("z^(pool)",), _cnn_worlds, ranges=_POOLED,
                when=lambda w: w.sizes["K_p"] == w.sizes["S_p"], inputs=("z^(conv)",)),
    # X is the im2col matrix of z^(conv) (its clause is checked), the max reads it
    "2.6": Twin(("z^(pool)", "X"), _cnn_worlds, ranges=_POOLED, rename={"X": "X_pool"},
                inputs=("z^(conv)", "X")),
    "2.3": Twin(("Z",), _cnn_worlds, ranges={"n": "N", "o": "C_out", "m": "H_c", "l": "W_c"},
                inputs=("F", "X", "b^(conv)", "z^(conv)")),
    "2.4": Twin((r"\mathsf{Z}",), _cnn_worlds, inputs=("F", r"\mathsf{X}", "b^(conv)")),
    "2.7": Twin(("Z^(fc1)", "Z^(fc2)"), _cnn_worlds,
                inputs=("Z^(flat)", "W^(fc1)", "b^(fc1)", "Z^(relu)", "W^(fc2)", "b^(fc2)")),
    "2.8": Twin(("Z^(relu)", "Y", "U"), _cnn_worlds,
                inputs=("Z^(fc1)", "Z^(fc2)", r"\mathbf{M}")),
    "3.1": Twin(("X_col",), _cnn_worlds, ranges={"n": "N", "c": "C_in", "i": "K", "j": "K",
                                                 "m": "H_c", "l": "W_c"},
                inputs=(r"\tilde x", "X")),
    "3.2": Twin(("W_mat",), _cnn_worlds, ranges={"o": "C_out", "c": "C_in", "i": "K", "j": "K"},
                inputs=("w^(conv)", "F")),
    "3.3": Twin(("Z",), _cnn_worlds, ranges={"n": "N"},
                inputs=("W_mat", "X_col", "b^(conv)", "F", "X")),
    "4.1": Twin(("L",), _cnn_worlds, inputs=("y", "t", "label")),
    "4.2": Twin(("dy/dz^(fc2)",), _cnn_worlds, tol=_FD, inputs=("y",)),
    "4.3": Twin(("\\delta^(fc2)",), _cnn_worlds, inputs=("y", "t"), aliases=("dL/dz^(fc2)",)),
    "4.4": Twin(("\\delta^(fc2),SE",), _cnn_worlds, ranges={"n": "N", "k": "D_2"}, tol=_FD,
                inputs=("y", "t"), aliases=("dL^(SE)/dz^(fc2)",)),
    "4.5": Twin(("dL/dw^(fc2)", "dL/db^(fc2)"), _cnn_worlds,
                inputs=("\\delta^(fc2)", "z^(relu)")),
    "4.6": Twin(("\\delta^(relu)",), _cnn_worlds, inputs=("\\delta^(fc2)", "w^(fc2)"),
                aliases=("dL/dz^(relu)",)),
    "4.7": Twin(("\\delta^(fc1)",), _cnn_worlds, inputs=("\\delta^(relu)", "z^(fc1)")),
    "4.8": Twin(("dL/dw^(fc1)", "dL/db^(fc1)"), _cnn_worlds,
                inputs=("\\delta^(fc1)", "z^(flat)")),
    "4.9": Twin(("\\delta^(flat)",), _cnn_worlds, inputs=("\\delta^(fc1)", "w^(fc1)")),
    "4.10": Twin(("\\delta^(pool)",), _cnn_worlds, inputs=("\\delta^(flat)",)),
    # the tie rule is the display's: i*, j* are its helpers, not the package's argmax
    "4.11": Twin(("\\delta^(conv)",), _cnn_worlds,
                 inputs=("\\delta^(pool)", "z^(conv)", "z^(pool)")),
    "4.12": Twin(("dL/dw^(conv)",), _DENSE, inputs=("\\delta^(conv)", r"\tilde x")),
    "4.13": Twin(("dL/db^(conv)",), _DENSE, inputs=("\\delta^(conv)",)),
    "4.14": Twin(("dL/dx",), _DENSE, ranges={"n": "N", "c": "C_in"},
                 inputs=("\\delta^(conv)", "w^(conv)")),
    "4.15": Twin(("dL/dW_mat", "dL/db^(conv)", "dL/dX_col", "dL/dx"), _DENSE,
                 ranges={"n": "N", "c": "C_in"}, tol=_FD,
                 inputs=("X_col", r"\Delta", "W_mat", "dL/dX_col")),
    "5.1": Twin((r"\nu", "w"), _sgd_worlds, cover=False, recurrence=True,
                inputs=(r"\nu", "w", "g", r"\eta")),
    "5.2": Twin((r"\eta",), _schedule_worlds),
    "5.3": Twin(("x'",), _shift_worlds, inputs=("x", r"\Delta x", r"\Delta y")),
    "5.4": Twin(("acc",), _accuracy_worlds, inputs=("y", "label")),
    "5.5": Twin(("C", "acc"), _accuracy_worlds, inputs=("y", "label")),
}

# Displays without a number that state an equation of the book: checked like the numbered
# ones. A display names its twin in a LaTeX comment, ``% check: (1.3)`` (a numbered twin)
# or ``% check: (1.5 sizes)``; a display that is not one of the book's equations says so,
# ``% not an equation: <why>`` (a diagram, a quoted wrong form).
UNTAGGED: dict[str, Twin] = {
    "1.5 sizes": Twin(("H_p", "W_p"), _pool_size_worlds,
                      axes={"H_p": ("H_c", "W_c", "K_p", "S_p"),
                            "W_p": ("H_c", "W_c", "K_p", "S_p")}),
    "1.3 padded": Twin(("z^(conv)",), _cnn_worlds, inputs=_CONV_IN,
                       ranges={"n": "N", "o": "C_out", "m": "H_c", "l": "W_c"}),
    "4.3 derivation": Twin(("dL/dz^(fc2)",), _cnn_worlds, inputs=("y", "t"),
                           ranges={"n": "N", "k": "D_2"}),
    # chapter 4's delta rule, on every layer of the chain flattened to alpha, beta: the
    # package's backward deltas and gradients against upstream delta times the Jacobian of
    # the package's forward layer by centred differences
    "delta rule": Twin((r"\delta^(low)", r"dL/d\theta"), _delta_rule_worlds, tol=_FD,
                       inputs=(r"\delta^(up)", "dz^(up)/dz^(low)", r"dz^(up)/d\theta"),
                       aliases=("dL/dz^(low)",), optional=(r"dL/d\theta",)),
    # the local derivatives of chapter 4 as Kronecker deltas, against the Jacobians of the
    # package's forward layers by centred differences (the max-pool where no window ties)
    "4.11 local": Twin(("dz^(pool)/dz^(conv)",), _local_derivative_worlds, tol=_FD,
                       ranges={"n'": "N", "o'": "C_out", "p": "H_p", "q": "W_p", "n": "N",
                               "o": "C_out", "m": "H_c", "l": "W_c"},
                       when=lambda w: "dz^(pool)/dz^(conv)" in w.tensors,
                       inputs=("i^*", "j^*")),
    "4.12 local": Twin(("dz^(conv)/dw^(conv)",), _local_derivative_worlds, tol=_FD,
                       ranges={"n": "N", "o'": "C_out", "m": "H_c", "l": "W_c",
                               "o": "C_out", "c": "C_in", "i": "K", "j": "K"},
                       inputs=(r"\tilde x",)),
    "4.14 local": Twin((r"dz^(conv)/d\tilde x",), _local_derivative_worlds, tol=_FD,
                       ranges={"n'": "N", "o": "C_out", "m": "H_c", "l": "W_c",
                               "n": "N", "c": "C_in"},
                       inputs=("w^(conv)",)),
}

# Numbered displays that define no value: accounted for, with the reason.
EXEMPT: dict[str, str] = {}

# --------------------------------------------------------------------------- notebooks

_DISPLAY = re.compile(r"\$\$(.*?)\$\$", re.S)
_TAG = re.compile(r"\\tag\{([^}]*)\}")


def extract_displays(notebook: str | Path) -> dict[str, list[str]]:
    """Tag -> LaTeX of every ``\\tag``ged ``$$...$$`` display in a notebook's markdown.

    A tag typeset twice (say, again in a summary) gives two displays; both are checked.

    Parameters
    ----------
    notebook : str or pathlib.Path
        An ``.ipynb`` file.

    Returns
    -------
    dict of str to list of str
        ``"1.3"`` -> the text between the ``$$`` of each display tagged ``(1.3)``.
    """
    nb = read_notebook(notebook)  # NotebookError, one line, for anything but a notebook
    out: dict[str, list[str]] = {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell.get("source", ""))
        for m in _DISPLAY.finditer(source):
            for tag in _TAG.findall(m.group(1)):
                out.setdefault(tag, []).append(m.group(1))
    return out


def book_notebooks() -> list[Path]:
    """The chapters: ``notebooks/*.ipynb`` of the repository this package sits in.

    Returns
    -------
    list of pathlib.Path
        Sorted by name, i.e. by chapter.

    Raises
    ------
    FileNotFoundError
        If no folder above the package has a ``notebooks/`` folder (an installed wheel).
    """
    for parent in Path(__file__).resolve().parents:
        if (parent / "notebooks").is_dir():
            return sorted((parent / "notebooks").glob("*.ipynb"))
    # an installed package (the students' hand-out): the chapters beside the running notebook
    for folder in (Path.cwd(), *Path.cwd().parents):
        for candidate in (folder, folder / "notebooks"):
            if any(candidate.glob("0*_*.ipynb")):
                return sorted(candidate.glob("*.ipynb"))
    raise FileNotFoundError("no notebooks/ folder above the package or the current folder")


# --------------------------------------------------------------------------- the check


@dataclass
class Result:
    """The outcome for one tag: ``status`` is "ok", "fail" or "exempt"."""

    tag: str
    status: str
    max_error: float = 0.0
    message: str = ""
    instances: int = 0
    skipped: tuple[str, ...] = ()

    def line(self) -> str:
        if self.status == "ok":
            extra = f"; {'; '.join(self.skipped)}" if self.skipped else ""
            return (f"({self.tag}) ok, max error {self.max_error:.0e} "
                    f"({self.instances} instances){extra}")
        if self.status == "exempt":
            return f"({self.tag}) exempt: {self.message}"
        return f"({self.tag}) FAIL: {self.message}"


def _free_ranges(display: Display, twin: Twin, world: World, ev: Evaluator) -> dict:
    ranges: dict[str, tuple[int, int]] = {}
    for name, expr in twin.ranges.items():
        ranges[name] = (1, int(world.sizes[expr]))
    ranges.update(world.ranges)
    for clause in display.clauses:
        for var, lo, hi in clause.ranges:
            ranges[var] = ev.bounds(var, lo, hi, {})
    return ranges


def _lets(display: Display, twin: Twin) -> dict[str, tuple[list[str], Node]]:
    """Names defined by a clause of the display that are not targets: ``M_n``, ``r``."""
    lets = {}
    for clause in display.clauses:
        if clause.kind != "chain" or len(clause.terms) < 2:
            continue
        lhs = clause.terms[0]
        if lhs.kind != "sym":
            continue
        if _target_name(lhs, twin) in twin.targets:
            # a target another clause reads (M_n in (1.12), U in (2.8)) is read through its
            # definition here, not from the package; a recurrence reads the package
            if (twin.recurrence or _target_name(lhs, twin) != lhs.name
                    or not all(a.kind == "sym" for a in lhs.args)
                    or lhs.name in _names(clause.terms[-1])):
                continue
            lets[lhs.name] = ([a.name for a in lhs.args], clause.terms[-1])
            continue
        params = [a.name for a in lhs.args if a.kind == "sym"]
        args = lhs.args
        for term in clause.terms[1:-1]:
            if term.kind == "apply" and term.name == lhs.name:  # r = r(o,p,q) = ...
                params, args = [a.name for a in term.args], term.args
        if len(params) != len(args) or not all(a.kind == "sym" for a in args):
            raise LatexError(f"helper {lhs.name} must be indexed by plain indices")
        lets[lhs.name] = (params, clause.terms[-1])
    return lets


def _names(node) -> set[str]:
    """Every symbol name an expression mentions (indices and sizes included)."""
    out: set[str] = set()
    if isinstance(node, Node):
        if node.kind in ("sym", "apply"):
            out.add(node.name)
        for part in node.args:
            out |= _names(part)
        if node.kind == "cases":
            for value, cond in node.extra:
                out |= _names(value) | _names(cond)
        elif isinstance(node.extra, tuple):
            for part in node.extra:
                out |= _names(part)
    return out


def _mentions(node, name: str, sizes: dict, lhs: Node | None = None) -> bool:
    """Whether ``node`` reads the array ``name`` (a size spelled alike, ``eta_0``, does not;
    with ``lhs``, only a read of the same entry counts: ``\\nu_{t-1}`` beside ``\\nu_t``
    does not)."""
    if not isinstance(node, Node):
        return False
    if node.kind == "sym":
        full = f"{node.name}_{node.extra}" if node.extra is not None else node.name
        if node.extra is not None and full in sizes:
            return False  # a size such as H_p: its subscript is part of its name
        if node.name == name and full not in sizes and (
                lhs is None or repr(node.args) == repr(lhs.args)):
            return True
    parts = list(node.args)
    if node.kind == "cases":
        for value, cond in node.extra:
            parts += [value, cond]
    elif isinstance(node.extra, tuple):
        parts += [p for p in node.extra if isinstance(p, Node)]
    return any(_mentions(p, name, sizes, lhs) for p in parts)


def _target_name(lhs: Node, twin: Twin) -> str:
    if lhs.extra is not None and f"{lhs.name}_{lhs.extra}" in twin.targets:
        return f"{lhs.name}_{lhs.extra}"
    return lhs.name


def _check_clause(lhs: Node, rhs_terms: list[Node], name: str, tensor: Tensor, twin: Twin,
                  ev: Evaluator, env: dict, depth: int) -> float:
    """Max error of one clause on one world; raises AssertionError on a mismatch."""
    if name in twin.axes:  # a table indexed by its free variables
        idx = [Node("sym", name=v) for v in twin.axes[name]]
    else:
        idx = list(lhs.args)
        if lhs.extra is not None and name == f"{lhs.name}_{lhs.extra}":
            idx = []
    if len(idx) != tensor.values.ndim:
        raise AssertionError(f"{name} has {tensor.values.ndim} indices, "
                             f"the equation gives {len(idx)}")
    if idx:
        ints, valid = ev.index_of(tensor, idx, env, depth)
        if not valid.all():
            raise AssertionError(f"{name}: a left-hand index lies outside the array")
        got = tensor.values[tuple(ints)]
        if twin.cover:
            counts = np.zeros(tensor.values.shape, dtype=np.int64)
            np.add.at(counts, tuple(ints), 1)
            if not (counts == 1).all():
                raise AssertionError(
                    f"{name}: the index ranges do not hit every entry exactly once "
                    f"({int((counts == 0).sum())} missed, {int((counts > 1).sum())} repeated)")
    else:
        got = tensor.values
    scale = max(1.0, float(np.max(np.abs(tensor.values))))
    worst = 0.0
    for rhs in rhs_terms:
        value = np.asarray(ev.value(rhs, env, depth), dtype=np.float64)
        a, b = np.broadcast_arrays(np.asarray(got, dtype=np.float64), value)
        if not np.isfinite(b).all():
            raise AssertionError(f"{name}: the right-hand side is undefined (an index out of "
                                 "range, a non-integer index or no case applies)")
        err = float(np.max(np.abs(a - b))) if a.size else 0.0
        if err > twin.tol * scale:
            raise AssertionError(f"{name}: max error {err:.2e} > {twin.tol * scale:.0e}")
        worst = max(worst, err)
    return worst


def _check_matrix_clause(lhs: Node, rhs_terms: list[Node], name: str, tensor: Tensor,
                         twin: Twin, mev: MatrixEvaluator, ranges: dict) -> float:
    """A matrix-form clause: one matrix per value of the LHS's own indices (``n``)."""
    if not all(a.kind == "sym" for a in lhs.args):
        raise AssertionError(f"{name}: a matrix is indexed by plain indices")
    free = [a.name for a in lhs.args]
    if any(v not in ranges for v in free):
        raise AssertionError(f"{name}: the range of {free} is not known")
    if twin.cover:
        for axis, v in enumerate(free):
            if ranges[v] != (1, tensor.values.shape[axis]):
                raise AssertionError(f"{name}: {v} = {ranges[v]} does not run over the matrices")
    scale = max(1.0, float(np.max(np.abs(tensor.values))))
    worst = 0.0
    for values in itertools.product(*(range(ranges[v][0], ranges[v][1] + 1) for v in free)):
        env = dict(zip(free, values, strict=True))
        got = mev.slice(tensor, name, list(values))
        for rhs in rhs_terms:
            value = mev.dense(mev.value(rhs, env))
            if np.shape(value) != got.shape:
                raise AssertionError(f"{name}: the right-hand side is {np.shape(value)}, "
                                     f"the matrix is {got.shape}")
            if not np.isfinite(value).all():
                raise AssertionError(f"{name}: the right-hand side is not finite")
            err = float(np.max(np.abs(got - value)))
            if err > twin.tol * scale:
                raise AssertionError(f"{name}: max error {err:.2e} > {twin.tol * scale:.0e}")
            worst = max(worst, err)
    return worst


def _expand(entries: list[Node], mev: MatrixEvaluator, env: dict) -> list[Node]:
    """``X_1, \\vdots, X_{C_in}``: the blocks between the first and the last, one per value
    of the one index in which they differ."""
    out: list[Node] = []
    drop_next = False
    for k, node in enumerate(entries):
        if drop_next:  # X_1, ..., X_{C_in} with C_in = 1 is the one block X_1
            drop_next = False
            continue
        if node.kind != "ellipsis":
            out.append(node)
            continue
        if not 0 < k < len(entries) - 1:
            raise LatexError("an ellipsis must stand between two blocks")
        first, last = entries[k - 1], entries[k + 1]
        differ = [i for i, (a, b) in enumerate(zip(first.args, last.args, strict=True))
                  if repr(a) != repr(b)]
        if first.kind != "sym" or first.name != last.name or len(differ) != 1:
            raise LatexError("the blocks around an ellipsis must differ in one index")
        i = differ[0]
        lo = int(mev.value(first.args[i], env)) + 1
        hi = int(mev.value(last.args[i], env))
        if hi < lo - 1:
            raise LatexError("the blocks around an ellipsis count down")
        drop_next = hi == lo - 1
        for v in range(lo, hi):
            args = list(first.args)
            args[i] = Node("num", extra=float(v))
            out.append(Node("sym", tuple(args), name=first.name))
    return out


def _check_shape(shape: Shape, mev: MatrixEvaluator, ranges: dict) -> float:
    """``A \\in R^{d_1 x d_2}``: the bound array's shape; the seed's numbers; the blocks."""
    subject = shape.subject
    if subject.kind != "sym" or subject.name not in mev.tensors:
        raise AssertionError(f"shape statement about an unknown array {subject!r}")
    tensor = mev.tensors[subject.name]
    own = tensor.values.shape[len(subject.args):]
    dims = tuple(int(mev.value(d, {})) for d in shape.dims)
    if dims != own:
        raise AssertionError(f"{subject.name} is {own}, the statement says {dims}")
    if shape.seed_dims is not None:
        seed = MatrixEvaluator(seed_sizes(), {})
        stated = tuple(int(seed.value(d, {})) for d in shape.seed_dims)
        derived = tuple(int(seed.value(d, {})) for d in shape.dims)
        if stated != derived:
            raise AssertionError(f"{subject.name}: the seed network gives {derived}, "
                                 f"the statement says {stated}")
    if shape.blocks is None:
        return 0.0
    free = [a.name for a in subject.args]
    worst = 0.0
    for values in itertools.product(*(range(ranges[v][0], ranges[v][1] + 1) for v in free)):
        env = dict(zip(free, values, strict=True))
        rows = [row for row in shape.blocks if row != [Node("ellipsis")]]
        if len(rows) < len(shape.blocks):  # a column of blocks with a vertical ellipsis
            column = _expand([row[0] if row else Node("ellipsis") for row in shape.blocks],
                             mev, env)
            grid = [[mev.dense(mev.value(node, env))] for node in column]
        else:
            grid = [[mev.dense(mev.value(node, env)) for node in _expand(row, mev, env)]
                    for row in shape.blocks]
        got = mev.slice(tensor, subject.name, list(values))
        built = np.block(grid)
        if built.shape != got.shape:
            raise AssertionError(f"{subject.name}: the blocks make {built.shape}, "
                                 f"the matrix is {got.shape}")
        worst = max(worst, float(np.max(np.abs(built - got))))
        if worst > 0:
            raise AssertionError(f"{subject.name}: the blocks differ from the matrix")
    return worst


def check_display(display: Display, twin: Twin) -> Result:
    """Evaluate every clause of one display on every instance of its twin.

    Parameters
    ----------
    display : mnist_cnn.book.equations.latex.Display
        The parsed equation, :func:`mnist_cnn.book.equations.latex.parse_display`.
    twin : Twin
        Its entry in :data:`TWINS`.

    Returns
    -------
    Result
        ``"ok"`` with the largest error over all instances, or ``"fail"`` with the first
        mismatch, unread clause or undefined entry and the instance it happened on.
    """
    tag = display.tag
    chains = []
    shape_clauses = [c for c in display.clauses if c.kind == "shape"]
    for i, clause in enumerate(display.clauses):
        if clause.kind == "error":
            return Result(tag, "fail", message=f"cannot read clause {i + 1} "
                          f"({clause.text!r}): {clause.error}")
        if clause.kind == "chain":
            if len(clause.terms) < 2:
                return Result(tag, "fail", message=f"clause {i + 1} is not an equation")
            chains.append(clause)
    try:
        lets = _lets(display, twin)
    except LatexError as err:
        return Result(tag, "fail", message=str(err))
    checked = {_target_name(c.terms[0], twin) for c in chains} & set(twin.targets)
    if checked != set(twin.targets):
        missing = ", ".join(sorted(set(twin.targets) - checked))
        return Result(tag, "fail", message=f"no clause defines {missing}")
    worlds = [w for w in twin.worlds() if twin.when is None or twin.when(w)]
    if not worlds:
        return Result(tag, "fail", message="no instance to check on")
    worst = 0.0
    seen: set[str] = set()
    for world in worlds:
        tensors = {**world.tensors, **{k: world.tensors[v] for k, v in twin.rename.items()}}
        # the right-hand sides see the inputs only: never the target, never a later array
        # (an optional target's inputs may be missing where the target is: dz/dtheta)
        inputs = {k: tensors[k] for k in twin.inputs if k in tensors or not twin.optional}
        ev = Evaluator(world.sizes, inputs, lets)
        try:
            ranges = _free_ranges(display, twin, world, ev)
            ev.default_ranges = ranges
            env = {v: ev.axis_values(np.arange(lo, hi + 1), axis)
                   for axis, (v, (lo, hi)) in enumerate(ranges.items())}
            for clause in shape_clauses:
                for shape in clause.shapes:
                    own = {shape.subject.name: tensors[shape.subject.name]} if (
                        shape.subject.kind == "sym" and shape.subject.name in tensors) else {}
                    mev = MatrixEvaluator(world.sizes, {**inputs, **own}, lets, ranges)
                    _check_shape(shape, mev, ranges)
            for clause in chains:
                name = _target_name(clause.terms[0], twin)
                if name not in twin.targets or (name in twin.optional and name not in tensors):
                    continue
                seen.add(name)
                lhs = clause.terms[0]
                rhs = [t for t in clause.terms[1:]
                       if not (t.kind == "sym" and t.name == name and not t.args)
                       and not (t.kind == "sym" and t.name in twin.aliases
                                and repr(t.args) == repr(lhs.args))]
                if (len(rhs) == 1 and not lhs.args and rhs[0].kind == "sym"
                        and rhs[0].name == name and rhs[0].args):
                    lhs = rhs[0]  # x = (x_{n,c,m,l}): the entries over the ranges, once each
                    rhs_ev = Evaluator(world.sizes, {name: tensors[name]}, {}, ranges)
                else:
                    rhs_ev = ev
                    for term in rhs:
                        if _mentions(term, name, world.sizes,
                                     lhs if twin.recurrence else None):
                            raise AssertionError(f"{name}: the right-hand side reads its own "
                                                 "target (a definition cannot use itself)")
                if name not in twin.axes and tensors[name].values.ndim > len(lhs.args):
                    mev = MatrixEvaluator(world.sizes, inputs, lets, ranges)
                    err = _check_matrix_clause(lhs, rhs, name, tensors[name], twin, mev,
                                               ranges)
                else:
                    err = _check_clause(lhs, rhs, name, tensors[name], twin, rhs_ev, env,
                                        len(ranges))
                worst = max(worst, err)
        except (AssertionError, LatexError, KeyError, IndexError, ValueError) as err:
            return Result(tag, "fail", message=f"{err} [instance {world.label}]")
    if set(twin.targets) - seen:
        missing = ", ".join(sorted(set(twin.targets) - seen))
        return Result(tag, "fail", message=f"no instance holds {missing}")
    return Result(tag, "ok", worst, instances=sum(w.count for w in worlds))


def typeset_results(notebooks: Iterable[str | Path]) -> dict[str, Result]:
    """Tag -> :class:`Result` for every tagged display of the notebooks (for the ledger).

    A tag with neither a twin nor an exemption is a failure ("untied").

    Parameters
    ----------
    notebooks : iterable of str or pathlib.Path
        The chapters to check, e.g. :func:`book_notebooks`.

    Returns
    -------
    dict of str to Result
        ``status`` is ``"ok"`` (checked from its typeset form), ``"exempt"`` (with the
        reason) or ``"fail"``; a tag typeset twice reports its worse display.
    """
    results: dict[str, Result] = {}
    chapters: set[int] = set()
    for nb in notebooks:
        found = extract_displays(nb)
        chapters |= _chapters_of(Path(nb), found)
        for tag, texts in found.items():
            for latex_text in texts:
                result = typeset_results_of(tag, latex_text)
                if tag not in results or result.status == "fail":
                    results[tag] = result
    # the set of equations is fixed: a chapter that no longer typesets a tag fails
    for tag in sorted({*TWINS, *EXEMPT} - set(results), key=_tag_key):
        if _tag_key(tag)[0] in chapters:
            results[tag] = Result(tag, "fail", message=f"missing: chapter {_tag_key(tag)[0]} "
                                  f"no longer typesets \\tag{{{tag}}}")
    return results


def _chapters_of(notebook: Path, found: dict) -> set[int]:
    """The chapters a notebook holds: its number (``04_...``) and those of its tags."""
    out = {_tag_key(tag)[0] for tag in found if isinstance(_tag_key(tag)[0], int)}
    m = re.match(r"(\d\d)_", notebook.name)
    return out | ({int(m.group(1))} if m else set())


_MARK = re.compile(r"%\s*(check|not an equation):\s*(.*?)\s*$", re.M)


def untagged_displays(notebook: str | Path) -> list[tuple[str, str]]:
    """The displays without a ``\\tag`` of a notebook's markdown: ``(where, LaTeX)``."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    out = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for m in _DISPLAY.finditer("".join(cell["source"])):
            if not _TAG.search(m.group(1)):
                out.append((f"{Path(notebook).name[:2]}, cell {index + 1}", m.group(1)))
    return out


def untagged_results(notebooks: Iterable[str | Path]) -> list[Result]:
    """Every display without a number: checked against the twin its marker names, or
    accounted for as not one of the book's equations. An unmarked display fails.

    Parameters
    ----------
    notebooks : iterable of str or pathlib.Path

    Returns
    -------
    list of Result
        ``tag`` is ``"<chapter>, cell <k>"``; ``status`` "ok", "exempt" (not an equation,
        with the reason) or "fail".
    """
    out = []
    for nb in notebooks:
        for where, text in untagged_displays(nb):
            marks = _MARK.findall(text)
            if len(marks) != 1:
                out.append(Result(where, "fail", message="a display without a number must "
                                  "say % check: (twin) or % not an equation: <why>"))
                continue
            kind, what = marks[0]
            if kind == "not an equation":
                out.append(Result(where, "exempt" if what else "fail",
                                  message=what or "no reason given"))
                continue
            key = what.strip("()")
            twin = TWINS.get(key) or UNTAGGED.get(key)
            if twin is None:
                out.append(Result(where, "fail", message=f"no twin {what}"))
                continue
            try:
                result = check_display(parse_display(where, text), twin)
            except LatexError as err:
                result = Result(where, "fail", message=f"cannot read: {err}")
            out.append(dataclasses.replace(result, tag=f"{where} as ({key})"))
    return out


def typeset_results_of(tag: str, latex_text: str) -> Result:
    """The check of one display given as text (what :func:`typeset_results` does per tag).

    Parameters
    ----------
    tag : str
        The equation number, e.g. ``"1.3"``.
    latex_text : str
        The display without its ``$$``.

    Returns
    -------
    Result
    """
    if tag in EXEMPT:
        return Result(tag, "exempt", message=EXEMPT[tag])
    if tag not in TWINS:
        return Result(tag, "fail", message="untied: no twin and no exemption")
    try:
        display = parse_display(tag, latex_text)
    except LatexError as err:
        return Result(tag, "fail", message=f"cannot read: {err}")
    except RecursionError:
        return Result(tag, "fail", message="cannot read: the display nests too deeply")
    return check_display(display, TWINS[tag])


def ledger_summary(results: dict[str, Result]) -> str:
    """A short text for the book: which tags are checked from their typeset form, and why
    any part is not.

    Parameters
    ----------
    results : dict of str to Result
        From :func:`typeset_results`.

    Returns
    -------
    str
        The checked tags, then one line per exempt tag or skipped clause with its reason.
    """
    tags = sorted(results, key=_tag_key)
    ok = [t for t in tags if results[t].status == "ok"]
    lines = [f"checked from their typeset form: {len(ok)} of {len(tags)} numbered equations"]
    for start in range(0, len(ok), 12):  # lines of at most 90 characters
        lines.append("  " + " ".join(f"({t})" for t in ok[start : start + 12]))
    for t in tags:
        if results[t].status != "ok":
            lines += textwrap.wrap(f"{results[t].status}: ({t}) {results[t].message}", 88,
                                   subsequent_indent="    ")
        for skipped in results[t].skipped:
            lines += textwrap.wrap(f"({t}) {skipped}", 88, subsequent_indent="    ")
    return "\n".join(lines)


def _tag_key(tag: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in tag.split("."))


def main(argv: list[str] | None = None) -> int:
    """``python -m mnist_cnn.book.equations check NOTEBOOK...``.

    Prints one line per equation (``(1.3) ok, max error 4e-15 (4 instances)``) and a
    count with the time taken.

    Parameters
    ----------
    argv : list of str, optional
        The arguments; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        0 if every tag is checked or exempt, 1 on any mismatch, unread clause or untied tag.
    """
    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.equations",
                                     description="Check the typeset equations of notebooks.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check every tagged display of the notebooks")
    check.add_argument("notebooks", nargs="+", type=Path)
    check.add_argument("--json", action="store_true",
                       help="print tag -> result as JSON (for the equation ledger)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        results = typeset_results(args.notebooks)
    except NotebookError as exc:
        print(f"{parser.prog} check: error: {exc}", file=sys.stderr)
        return 2
    if not results:
        print(f"{parser.prog} check: error: expected numbered displays ($$ ... \\tag{{k.n}} $$ "
              f"in markdown cells); found none in {', '.join(map(str, args.notebooks))}",
              file=sys.stderr)
        return 1
    failed = any(r.status == "fail" for r in results.values())
    if args.json:
        print(json.dumps({tag: dataclasses.asdict(results[tag])
                          for tag in sorted(results, key=_tag_key)}, indent=1))
        return 1 if failed else 0
    for tag in sorted(results, key=_tag_key):
        print(results[tag].line())
    counts = {s: sum(r.status == s for r in results.values()) for s in ("ok", "exempt", "fail")}
    untagged = untagged_results(args.notebooks)
    for result in untagged:
        print(result.line().replace("exempt:", "not an equation:"))
    loose = {s: sum(r.status == s for r in untagged) for s in ("ok", "exempt", "fail")}
    print(f"{counts['ok']} of {len(results)} numbered equations checked from their typeset "
          f"form, {counts['exempt']} exempt, {counts['fail']} failed; displays without a "
          f"number: {loose['ok']} checked, {loose['exempt']} not equations, {loose['fail']} "
          f"failed ({time.perf_counter() - start:.1f} s)")
    return 1 if failed or loose["fail"] else 0
