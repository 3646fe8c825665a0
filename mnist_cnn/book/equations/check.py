"""Check the typeset equations of the chapters against the package, entry by entry.

What this is: the machine check of the LaTeX the reader reads. For every ``\\tag``ged
display in the notebooks' markdown, :mod:`mnist_cnn.book.equations.latex` parses the equation
as written, evaluates its right-hand side on tiny random float64 instances (several shapes, with
``S = 2``, ``P = 1``, ``C_in > 1`` and ties in the max-pool windows), and compares it with
what the package computes for the left-hand side. Change an index, a limit, a factor or a
sign in the markdown and the check fails. A tag that is not tied to the package must be
in :data:`EXEMPT` with a reason; an unknown tag fails.

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
from mnist_cnn.reference import im2col, layers, loops, optim
from mnist_cnn.train import loop, metrics

__all__ = ["PACKAGE", "TWINS", "EXEMPT", "Result", "extract_displays", "book_notebooks",
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
CNN_CASES = [
    dict(N=3, C_in=1, C_out=3, H_in=6, W_in=7, K=3, S=1, P=0, K_p=2, S_p=2, D_1=4, D_2=3),
    dict(N=4, C_in=2, C_out=3, H_in=7, W_in=8, K=3, S=2, P=1, K_p=2, S_p=1, D_1=5, D_2=4),
    dict(N=5, C_in=3, C_out=2, H_in=8, W_in=6, K=2, S=1, P=2, K_p=3, S_p=2, D_1=3, D_2=5),
    dict(N=3, C_in=2, C_out=4, H_in=9, W_in=7, K=3, S=2, P=1, K_p=2, S_p=2, D_1=6, D_2=3,
         ties=True),
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
    z_conv, _ = P_["conv_forward"](x, w, b, S, P)
    H_c, W_c = z_conv.shape[2:]
    z_pool, pool_cache = P_["maxpool_forward"](z_conv, K_p, S_p)
    H_p, W_p = z_pool.shape[2:]
    z_flat, flat_cache = P_["flatten_forward"](z_pool)
    D_0 = z_flat.shape[1]
    # scaled by 1/sqrt(D_in): pre-activations of order 1, some of them in (0, 1), so that a
    # wrong threshold in 1[z > 0] shows
    w_fc1 = rng.standard_normal((D_1, D_0)) / np.sqrt(D_0 * float(np.mean(z_flat**2)))
    w_fc2 = rng.standard_normal((D_2, D_1))
    b_fc1, b_fc2 = rng.standard_normal(D_1) / 4, rng.standard_normal(D_2) / 4
    z_fc1, fc1_cache = P_["fc_forward"](z_flat, w_fc1, b_fc1)
    z_relu, relu_cache = P_["relu_forward"](z_fc1)
    z_fc2, fc2_cache = P_["fc_forward"](z_relu, w_fc2, b_fc2)
    y = P_["softmax"](z_fc2)
    labels = rng.integers(0, D_2, N)
    t = P_["one_hot"](labels, D_2)
    L = P_["cross_entropy"](y, labels)
    delta_fc2 = P_["softmax_cross_entropy_backward"](y, labels)
    delta_relu, dw_fc2, db_fc2 = P_["fc_backward"](delta_fc2, fc2_cache)
    delta_fc1 = P_["relu_backward"](delta_relu, relu_cache)
    delta_flat, dw_fc1, db_fc1 = P_["fc_backward"](delta_fc1, fc1_cache)
    delta_pool = P_["flatten_backward"](delta_flat, flat_cache)
    delta_conv = P_["maxpool_backward"](delta_pool, pool_cache)
    if dense_conv_delta:
        delta_conv = rng.standard_normal(delta_conv.shape)
    _, conv_cache = P_["conv_forward"](x, w, b, S, P)
    dx, dw_conv, db_conv = P_["conv_backward"](delta_conv, conv_cache)

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
    # (2.6): the pooling windows as the im2col columns of z^(conv), Eq. (2.1) with K_p, S_p
    tensors["X_pool"] = T(P_["im2col_per_channel"](z_conv, K_p, S_p, 0))
    label = ", ".join(f"{k}={v}" for k, v in case.items())
    return World(sizes, tensors, label=label)


@functools.cache
def _cnn_worlds(dense_conv_delta: bool = False) -> list[World]:
    """:func:`_cnn_world` on every case of :data:`CNN_CASES` (computed once)."""
    return [_cnn_world(case, seed, dense_conv_delta) for seed, case in enumerate(CNN_CASES)]


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
    axes = {"S_in": range(6, 10), "K": range(1, 6), "P": range(0, 3), "S": range(1, 4)}
    def output_size(S_in, K, P, S):
        return PACKAGE["output_size"](S_in, K, S, P)

    return [_grid_world(axes, {"S_out": output_size})]


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
                {"w": Tensor(np.array(w_seq)[:, d], 0), "v": Tensor(np.array(v_seq)[:, d], 0),
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


# --------------------------------------------------------------------------- the twins


@dataclass
class Twin:
    """How to check one numbered equation from its typeset form.

    Attributes
    ----------
    targets : tuple of str
        The left-hand sides compared with the package (LaTeX names as :mod:`latex` reads
        them: ``z^(conv)``, ``dL/dw^(conv)``, ``S_out``). Any other name defined in the
        display is a helper (``M_n``, ``r(o,p,q)``) used where it appears.
    worlds : callable
        The tiny instances: sizes and tensors computed by :data:`PACKAGE`.
    ranges : dict
        Ranges of free indices the display does not write (``n``, ``c`` in (2.1));
        the ranges the display writes always win.
    axes : dict
        For a target written without indices (``o`` in (1.7), ``S_out`` in (0.1)),
        the free variables that index its table.
    skip : dict of int to str
        Clauses not checked, with the reason (they are reported).
    tol : float
        Largest accepted error, relative to the largest entry (finite differences: 1e-7).
    cover : bool
        Also require the left-hand sides to hit every entry of the target exactly once.
    when : callable
        Which worlds the equation holds in (``K_p = S_p`` for (2.5)).
    rename : dict
        A LaTeX name that means another array of the world in this display (``X`` in
        (2.6) is the im2col matrix of ``z^(conv)``, not of ``x``).
    """

    targets: tuple[str, ...]
    worlds: Callable[[], list[World]]
    ranges: dict[str, str] = field(default_factory=dict)
    axes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    skip: dict[int, str] = field(default_factory=dict)
    tol: float = 1e-12
    cover: bool = True
    when: Callable[[World], bool] | None = None
    rename: dict[str, str] = field(default_factory=dict)


_FD = 1e-7  # centred differences with h = 1e-6 in float64
_NCHW_IN = {"n": "N", "c": "C_in"}
_POOLED = {"n": "N", "o": "C_out", "p": "H_p", "q": "W_p"}
_SIZE_GRID = ("H_in", "W_in", "K", "P", "S")

TWINS: dict[str, Twin] = {
    # (1.1) defines no value: its shape and index ranges are checked against the array
    "1.1": Twin(("x",), _cnn_worlds),
    "0.1": Twin(("S_out",), _output_size_world, axes={"S_out": ("S_in", "K", "P", "S")}),
    "0.2": Twin(("#conv", "#fc"), _parameter_count_worlds,
                axes={"#conv": ("C_out", "C_in", "K"), "#fc": ("D_out", "D_in")}),
    "1.2": Twin((r"\tilde x",), _cnn_worlds),
    "1.3": Twin(("z^(conv)",), _cnn_worlds),
    "1.4": Twin(("H_c", "W_c"), _conv_size_worlds,
                axes={"H_c": _SIZE_GRID, "W_c": _SIZE_GRID}),
    "1.5": Twin(("z^(pool)",), _cnn_worlds),
    "1.6": Twin(("z^(flat)",), _cnn_worlds),
    "1.7": Twin(("o", "p", "q"), _flat_index_worlds, axes={"o": ("r",), "p": ("r",), "q": ("r",)}),
    "1.8": Twin(("z^(fc1)",), _cnn_worlds),
    "1.9": Twin(("z^(relu)",), _cnn_worlds),
    "1.10": Twin(("z^(fc2)",), _cnn_worlds),
    "1.11": Twin(("y",), _cnn_worlds),
    "1.12": Twin(("y", "M"), _cnn_worlds, ranges={"n": "N", "k": "D_2"}),
    "2.1": Twin(("X",), _cnn_worlds, ranges=_NCHW_IN),
    "2.2": Twin(("F",), _cnn_worlds, ranges={"c": "C_in"},
                ),
    "2.5": Twin(("z^(pool)",), _cnn_worlds, ranges=_POOLED,
                when=lambda w: w.sizes["K_p"] == w.sizes["S_p"]),
    "2.6": Twin(("z^(pool)",), _cnn_worlds, ranges=_POOLED, rename={"X": "X_pool"},
                skip={1: "prose: X_o^(n) is Eq. (2.1) applied to z^(conv); "
                         "bound to the package's im2col of z^(conv)"}),
    "2.3": Twin(("Z",), _cnn_worlds, ranges={"n": "N", "o": "C_out", "m": "H_c", "l": "W_c"}),
    "2.4": Twin((r"\mathsf{Z}",), _cnn_worlds,
                ),
    "2.7": Twin(("Z^(fc1)", "Z^(fc2)"), _cnn_worlds),
    "2.8": Twin(("Z^(relu)", "Y", "U"), _cnn_worlds),
    "3.1": Twin(("X_col",), _cnn_worlds, ranges={"n": "N", "c": "C_in", "i": "K", "j": "K",
                                                 "m": "H_c", "l": "W_c"},
                ),
    "3.2": Twin(("W_mat",), _cnn_worlds, ranges={"o": "C_out", "c": "C_in", "i": "K", "j": "K"},
                ),
    "3.3": Twin(("Z",), _cnn_worlds, ranges={"n": "N"},
                ),
    "4.1": Twin(("L",), _cnn_worlds),
    "4.2": Twin(("dy/dz^(fc2)",), _cnn_worlds, tol=_FD),
    "4.3": Twin(("\\delta^(fc2)",), _cnn_worlds),
    "4.4": Twin(("\\delta^(fc2),SE",), _cnn_worlds, ranges={"n": "N", "k": "D_2"}, tol=_FD),
    "4.5": Twin(("dL/dw^(fc2)", "dL/db^(fc2)"), _cnn_worlds),
    "4.6": Twin(("\\delta^(relu)",), _cnn_worlds),
    "4.7": Twin(("\\delta^(fc1)",), _cnn_worlds),
    "4.8": Twin(("dL/dw^(fc1)", "dL/db^(fc1)"), _cnn_worlds),
    "4.9": Twin(("\\delta^(flat)",), _cnn_worlds),
    "4.10": Twin(("\\delta^(pool)",), _cnn_worlds),
    "4.11": Twin(("\\delta^(conv)",), _cnn_worlds),
    "4.12": Twin(("dL/dw^(conv)",), lambda: _cnn_worlds(dense_conv_delta=True)),
    "4.13": Twin(("dL/db^(conv)",), lambda: _cnn_worlds(dense_conv_delta=True)),
    "4.14": Twin(("dL/dx",), lambda: _cnn_worlds(dense_conv_delta=True),
                 ranges={"n": "N", "c": "C_in"}),
    "4.15": Twin(("dL/dW_mat", "dL/db"), lambda: _cnn_worlds(dense_conv_delta=True),
                 skip={2: "the arrow col2im: dL/dX_col -> dL/dx is Eq. (4.14), checked there"}),
    "5.1": Twin(("v", "w"), _sgd_worlds, cover=False),
    "5.2": Twin((r"\eta",), _schedule_worlds),
    "5.3": Twin(("x'",), _shift_worlds),
    "5.4": Twin(("acc",), _accuracy_worlds),
    "5.5": Twin(("C", "acc"), _accuracy_worlds),
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
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    out: dict[str, list[str]] = {}
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
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
        if lhs.kind != "sym" or _target_name(lhs, twin) in twin.targets:
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


def _target_name(lhs: Node, twin: Twin) -> str:
    if lhs.extra is not None and f"{lhs.name}_{lhs.extra}" in twin.targets:
        return f"{lhs.name}_{lhs.extra}"
    return lhs.name


def _check_clause(lhs: Node, rhs_terms: list[Node], name: str, twin: Twin, ev: Evaluator,
                  env: dict, depth: int) -> float:
    """Max error of one clause on one world; raises AssertionError on a mismatch."""
    tensor = ev.tensors[name]
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


def _check_matrix_clause(lhs: Node, rhs_terms: list[Node], name: str, twin: Twin,
                         mev: MatrixEvaluator, ranges: dict) -> float:
    """A matrix-form clause: one matrix per value of the LHS's own indices (``n``)."""
    tensor = mev.tensors[name]
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
    skipped = []
    chains = []
    shape_clauses = [c for i, c in enumerate(display.clauses)
                     if c.kind == "shape" and i not in twin.skip]
    for i, clause in enumerate(display.clauses):
        if i in twin.skip:
            skipped.append(f"clause {i + 1} not checked: {twin.skip[i]}")
            continue
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
    for world in worlds:
        tensors = {**world.tensors, **{k: world.tensors[v] for k, v in twin.rename.items()}}
        ev = Evaluator(world.sizes, tensors, lets)
        try:
            ranges = _free_ranges(display, twin, world, ev)
            ev.default_ranges = ranges
            env = {v: ev.axis_values(np.arange(lo, hi + 1), axis)
                   for axis, (v, (lo, hi)) in enumerate(ranges.items())}
            for clause in shape_clauses:
                mev = MatrixEvaluator(world.sizes, tensors, lets, ranges)
                for shape in clause.shapes:
                    _check_shape(shape, mev, ranges)
            for clause in chains:
                name = _target_name(clause.terms[0], twin)
                if name not in twin.targets:
                    continue
                rhs = [t for t in clause.terms[1:]
                       if not (t.kind == "sym" and t.name == name and not t.args)]
                lhs = clause.terms[0]
                if (len(rhs) == 1 and not lhs.args and rhs[0].kind == "sym"
                        and rhs[0].name == name and rhs[0].args):
                    lhs = rhs[0]  # x = (x_{n,c,m,l}): the entries over the ranges, once each
                if name not in twin.axes and tensors[name].values.ndim > len(lhs.args):
                    mev = MatrixEvaluator(world.sizes, tensors, lets, ranges)
                    err = _check_matrix_clause(lhs, rhs, name, twin, mev, ranges)
                else:
                    err = _check_clause(lhs, rhs, name, twin, ev, env, len(ranges))
                worst = max(worst, err)
        except (AssertionError, LatexError, KeyError, IndexError, ValueError) as err:
            return Result(tag, "fail", message=f"{err} [instance {world.label}]")
    return Result(tag, "ok", worst, instances=sum(w.count for w in worlds),
                  skipped=tuple(skipped))


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
    for nb in notebooks:
        for tag, texts in extract_displays(nb).items():
            for latex_text in texts:
                result = typeset_results_of(tag, latex_text)
                if tag not in results or result.status == "fail":
                    results[tag] = result
    return results


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
    results = typeset_results(args.notebooks)
    failed = any(r.status == "fail" for r in results.values())
    if args.json:
        print(json.dumps({tag: dataclasses.asdict(results[tag])
                          for tag in sorted(results, key=_tag_key)}, indent=1))
        return 1 if failed else 0
    for tag in sorted(results, key=_tag_key):
        print(results[tag].line())
    counts = {s: sum(r.status == s for r in results.values()) for s in ("ok", "exempt", "fail")}
    print(f"{counts['ok']} of {len(results)} numbered equations checked from their typeset "
          f"form, {counts['exempt']} exempt, {counts['fail']} failed "
          f"({time.perf_counter() - start:.1f} s)")
    return 1 if failed else 0

