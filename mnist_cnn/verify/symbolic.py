"""Exact symbolic check of the delta rule on a tiny instance of the seed network.

What this is: the architecture of the book (conv -> max-pool -> flatten -> fc1
-> ReLU -> fc2 -> softmax -> cross-entropy averaged over the batch) on a tiny
instance (default: 2 images 1x6x6, 2 filters 3x3, pool 2, fc1 8 -> 4, fc2
4 -> 3) with every parameter a sympy symbol. Two gradients are built for every
parameter entry:

* ``autodiff``: ``sympy.diff`` of the loss expression, Eq. (4.1);
* ``delta rule``: the chapter's formulas, Eqs. (4.3)-(4.13), written index by
  index with sympy objects and never calling ``diff``.

Their difference is reduced to a canonical form that is zero if and only if the
two gradients are the same function (:func:`residual`). Finally the gradients
are evaluated at the instance's rational point to 30 digits, for comparison with
the float64 numpy implementation.

What this is not: a general computer-algebra backprop, nor fast. It handles
this one architecture with loops over Python objects.

Why fixing the branch is legitimate
-----------------------------------
Max-pool and ReLU are piecewise linear. At a point where no pooling window has
a tie and no fc1 pre-activation is zero, every window's argmax and every ReLU
sign stay the same in a neighbourhood of the point (the forward pass is
continuous). On that neighbourhood the loss *equals* the smooth expression built
with those fixed branches, so both functions have the same derivatives there.
:func:`select_branch` finds the branch with exact rational arithmetic and
returns the margins (smallest gap to a runner-up, smallest ``|z_fc1|``), which
must be positive.

Why ``Exp`` and not ``sympy.exp``
---------------------------------
``sympy.exp`` merges products automatically (``exp(a)*exp(-b) -> exp(a - b)``),
so the exponentials of the logits would not stay recognisable. :class:`Exp` is
the exponential as an opaque function that knows a single rule,
``Exp'(u) = Exp(u)``, which is all that differentiation uses. After ``diff`` every
``Exp(z_{n,k})`` is replaced by a symbol ``E_{n,k}``; both gradients are then
rational functions of the parameters and the ``E_{n,k}``, and a rational
function is zero iff the numerator of its ``together`` form expands to 0. That
test is a complete decision procedure (``sympy.simplify`` is a heuristic) and
takes seconds. It is also stronger than needed: the identity is shown for
*independent* ``E_{n,k}``, in particular for ``E_{n,k} = exp(z_{n,k})``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp

from mnist_cnn.architecture import PARAM_NAMES, Architecture, output_size
from mnist_cnn.validate import require_positive_int

__all__ = [
    "TINY",
    "TINY_STRIDED",
    "Branch",
    "Exp",
    "IdentityRow",
    "SymbolicProblem",
    "TinyInstance",
    "autodiff_gradients",
    "build_problem",
    "delta_rule_gradients",
    "evaluate",
    "identity_table",
    "instance_arrays",
    "make_tiny_instance",
    "one_hot_exact",
    "residual",
    "select_branch",
]

#: The tiny instance's sizes: 2 filters 3x3 on 6x6 images, pool 2x2, 8 -> 4 -> 3.
TINY = Architecture(C_in=1, H=6, W=6, C_out=2, K=3, S=1, P=0, K_p=2, S_p=2, D_1=4, D_2=3)
#: The general case of the conv: 2 input channels 5x5, stride 2, padding 1 (-> 3x3, pooled to
#: 1x1, so the last conv row and column are read by no pool window), 2 -> 3 -> 2.
TINY_STRIDED = Architecture(C_in=2, H=5, W=5, C_out=2, K=3, S=2, P=1, K_p=2, S_p=2, D_1=3,
                            D_2=2)


class Exp(sp.Function):
    """The exponential as an opaque function with the single rule ``Exp'(u) = Exp(u)``.

    Unlike :class:`sympy.exp` it never merges ``Exp(a)*Exp(b)``, so the
    exponential of each logit stays one recognisable atom.
    """

    nargs = 1

    def fdiff(self, argindex=1):
        """``d Exp(u) / du = Exp(u)``."""
        return self

    def _latex(self, printer):
        return "e^{" + printer._print(self.args[0]) + "}"


# ---------------------------------------------------------------- the instance


@dataclass(frozen=True)
class TinyInstance:
    """A tiny input batch and parameter point with exact rational entries.

    Attributes
    ----------
    x : ndarray of sympy.Rational, shape [N, C_in, H_in, W_in]
        The input batch.
    labels : ndarray of int64, shape [N]
        Class of each sample.
    params : dict str -> ndarray of sympy.Rational
        ``w_conv [C_out, C_in, K, K]``, ``b_conv [C_out]``, ``w_fc1 [D_1, D_0]``,
        ``b_fc1 [D_1]``, ``w_fc2 [D_2, D_1]``, ``b_fc2 [D_2]``.
    arch : Architecture
        The sizes (pooling with ``S_p = K_p``).
    """

    x: np.ndarray
    labels: np.ndarray
    params: dict[str, np.ndarray]
    arch: Architecture = TINY


def _rationals(values: np.ndarray, denominator: int) -> np.ndarray:
    out = np.empty(values.shape, dtype=object)
    for index in np.ndindex(*values.shape):
        out[index] = sp.Rational(int(values[index]), denominator)
    return out


def make_tiny_instance(
    seed: int = 0, batch: int = 2, arch: Architecture = TINY, max_tries: int = 1000
) -> TinyInstance:
    """Draw a tiny instance with rational entries and a well-defined branch.

    Pixels are ``k/8`` with ``k = 0..8``; weights and biases are ``k/4`` with
    ``k = -4..4``. Draws are repeated until, checked exactly by
    :func:`select_branch`: no pooling window has a tie, no fc1 pre-activation
    is zero, every sample has active and inactive ReLU units, the samples
    differ in which units are active, and the pool argmax takes at least three
    different offsets (so the routing of Eq. (4.11) is exercised).

    Parameters
    ----------
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    batch : int
        ``N``.
    arch : Architecture, default TINY
        The sizes; pooling needs ``S_p = K_p``.
    max_tries : int
        Give up after this many draws.

    Returns
    -------
    TinyInstance

    Raises
    ------
    RuntimeError
        If no draw satisfies the conditions.
    """
    require_positive_int("batch", batch)
    if arch.S_p != arch.K_p:
        raise ValueError(f"the tiny instance pools with S_p = K_p; got {arch}")
    shapes, pool = arch.param_shapes, arch.K_p
    rng = np.random.default_rng(seed)
    for _ in range(max_tries):
        x = _rationals(rng.integers(0, 9, (batch, arch.C_in, arch.H, arch.W)), 8)
        params = {k: _rationals(rng.integers(-4, 5, s), 4) for k, s in shapes.items()}
        labels = rng.integers(0, arch.D_2, batch).astype(np.int64)
        instance = TinyInstance(x, labels, params, arch)
        branch = select_branch(instance)
        offsets = {tuple(a) for a in branch.pool_argmax.reshape(-1, 2)}
        active = branch.relu_active
        if (
            branch.pool_gap > 0
            and branch.fc1_margin > 0
            and active.any(axis=1).all()
            and not active.all(axis=1).any()
            and (batch == 1 or len({tuple(row) for row in active}) > 1)
            and len(offsets) >= min(3, pool * pool)
        ):
            return instance
    raise RuntimeError(f"no tie-free instance found in {max_tries} draws")


def instance_arrays(
    instance: TinyInstance, dtype=np.float64
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The instance as numpy arrays, for the numpy network.

    Parameters
    ----------
    instance : TinyInstance
    dtype : numpy dtype, default float64

    Returns
    -------
    params : dict str -> ndarray of ``dtype``
    x : ndarray of ``dtype``, shape [N, C_in, H_in, W_in]
    labels : ndarray of int64, shape [N]
    """
    def convert(a: np.ndarray) -> np.ndarray:
        return np.array([float(Fraction(int(v.p), int(v.q))) for v in a.ravel()],
                        dtype=dtype).reshape(a.shape)

    params = {k: convert(v) for k, v in instance.params.items()}
    return params, convert(instance.x), instance.labels.copy()


# ------------------------------------------------------ forward, index by index


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """Eq. (1.3) on object arrays (symbols or rationals)."""
    n_batch, c_in, h_in, w_in = x.shape
    c_out, _, k, _ = w.shape
    xp = np.full((n_batch, c_in, h_in + 2 * padding, w_in + 2 * padding), sp.S.Zero, dtype=object)
    xp[:, :, padding:padding + h_in, padding:padding + w_in] = x
    h_c = output_size(h_in, k, stride, padding)
    w_c = output_size(w_in, k, stride, padding)
    z = np.empty((n_batch, c_out, h_c, w_c), dtype=object)
    for n in range(n_batch):
        for o in range(c_out):
            for m in range(h_c):
                for l in range(w_c):
                    terms = [b[o]]
                    for c in range(c_in):
                        for i in range(k):
                            for j in range(k):
                                pixel = xp[n, c, m * stride + i, l * stride + j]
                                if pixel != 0:  # padded zeros add nothing
                                    terms.append(w[o, c, i, j] * pixel)
                    z[n, o, m, l] = sp.Add(*terms)
    return z


def _fc(a: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Eqs. (1.8), (1.10) on object arrays: ``z_{n,h} = b_h + sum_r w_{h,r} a_{n,r}``."""
    n_batch, d_in = a.shape
    d_out = w.shape[0]
    z = np.empty((n_batch, d_out), dtype=object)
    for n in range(n_batch):
        for h in range(d_out):
            z[n, h] = sp.Add(b[h], *[w[h, r] * a[n, r] for r in range(d_in) if a[n, r] != 0])
    return z


def _flatten(z_pool: np.ndarray) -> np.ndarray:
    """Eq. (1.6): ``r(o, p, q) = (o-1) H_p W_p + (p-1) W_p + q`` (code: 0-based)."""
    n_batch, c_out, h_p, w_p = z_pool.shape
    z_flat = np.empty((n_batch, c_out * h_p * w_p), dtype=object)
    for n in range(n_batch):
        for o in range(c_out):
            for p in range(h_p):
                for q in range(w_p):
                    z_flat[n, o * h_p * w_p + p * w_p + q] = z_pool[n, o, p, q]
    return z_flat


@dataclass(frozen=True)
class Branch:
    """The active piece of the piecewise-linear layers at the instance's point.

    Attributes
    ----------
    pool_argmax : ndarray of int, shape [N, C_out, H_p, W_p, 2]
        0-based offsets ``(i, j)`` of the maximum inside each pooling window
        (first maximum in row-major window order, Eq. (4.11)).
    relu_active : ndarray of bool, shape [N, D_1]
        ``z_fc1 > 0``.
    pool_gap : sympy.Rational
        Smallest difference between a window's maximum and the largest other
        entry of that window (0 means a tie somewhere).
    fc1_margin : sympy.Rational
        Smallest ``|z_fc1|`` (0 means a ReLU kink).
    """

    pool_argmax: np.ndarray
    relu_active: np.ndarray
    pool_gap: sp.Rational
    fc1_margin: sp.Rational


def _pool_exact(z_conv: np.ndarray, pool: int) -> tuple[np.ndarray, np.ndarray, sp.Rational]:
    n_batch, c_out, h_c, w_c = z_conv.shape
    h_p, w_p = output_size(h_c, pool, pool), output_size(w_c, pool, pool)
    argmax = np.zeros((n_batch, c_out, h_p, w_p, 2), dtype=np.int64)
    z_pool = np.empty((n_batch, c_out, h_p, w_p), dtype=object)
    gap = None
    for n in range(n_batch):
        for o in range(c_out):
            for p in range(h_p):
                for q in range(w_p):
                    window = [(z_conv[n, o, p * pool + i, q * pool + j], i, j)
                              for i in range(pool) for j in range(pool)]
                    best = window[0]
                    for entry in window[1:]:  # strict '>' keeps the first maximum
                        if entry[0] > best[0]:
                            best = entry
                    argmax[n, o, p, q] = best[1:]
                    z_pool[n, o, p, q] = best[0]
                    others = [v for v, i, j in window if (i, j) != best[1:]]
                    if others:
                        g = best[0] - max(others)
                        gap = g if gap is None else min(gap, g)
    return argmax, z_pool, (sp.oo if gap is None else gap)


def select_branch(instance: TinyInstance) -> Branch:
    """Run the forward pass in exact rational arithmetic and record the branch.

    Parameters
    ----------
    instance : TinyInstance

    Returns
    -------
    Branch
        Pool argmax offsets, ReLU signs and the two margins (exact rationals).
    """
    p = instance.params
    a = instance.arch
    z_conv = _conv(instance.x, p["w_conv"], p["b_conv"], a.S, a.P)
    argmax, z_pool, gap = _pool_exact(z_conv, a.K_p)
    z_fc1 = _fc(_flatten(z_pool), p["w_fc1"], p["b_fc1"])
    active = np.vectorize(lambda v: bool(v > 0), otypes=[bool])(z_fc1)
    margin = min(abs(v) for v in z_fc1.ravel())
    return Branch(argmax, active, gap, margin)


# ------------------------------------------------------------ the sympy problem


@dataclass
class SymbolicProblem:
    """Symbols, forward expressions and loss of a tiny instance on its branch.

    Attributes
    ----------
    instance : TinyInstance
    branch : Branch
    symbols : dict str -> ndarray of sympy.Symbol
        One real symbol per parameter entry, named with 1-based indices,
        e.g. ``w^{(conv)}_{2,1,3,1}``.
    forward : dict str -> ndarray of sympy.Expr
        ``z_conv, z_pool, z_flat, z_fc1, z_relu, z_fc2`` as expressions of the
        symbols (Eqs. (1.3)-(1.10) with the branch fixed).
    exp_symbols : ndarray of sympy.Symbol, shape [N, D_2]
        ``E_{n,k}``, standing for ``Exp(z^{(fc2)}_{n,k})``.
    loss : sympy.Expr
        Eq. (4.1): ``-(1/N) sum_n sum_k t_{n,k} log y_{n,k}`` with
        ``y_{n,k} = Exp(z_{n,k}) / sum_k' Exp(z_{n,k'})``, Eq. (1.11).
    build_seconds : float
    """

    instance: TinyInstance
    branch: Branch
    symbols: dict[str, np.ndarray]
    forward: dict[str, np.ndarray]
    exp_symbols: np.ndarray
    loss: sp.Expr
    build_seconds: float = field(default=0.0)

    @property
    def exp_map(self) -> dict[sp.Expr, sp.Symbol]:
        """``{Exp(z_{n,k}): E_{n,k}}`` for :meth:`sympy.Basic.xreplace`."""
        z = self.forward["z_fc2"]
        return {Exp(z[index]): self.exp_symbols[index] for index in np.ndindex(*z.shape)}

    def point(self) -> dict[sp.Symbol, sp.Rational]:
        """``{symbol: rational value}`` of every parameter at the instance's point."""
        values = {}
        for name, syms in self.symbols.items():
            for index in np.ndindex(*syms.shape):
                values[syms[index]] = self.instance.params[name][index]
        return values


_TEX = {"w_conv": r"w^{(conv)}", "b_conv": r"b^{(conv)}", "w_fc1": r"w^{(fc1)}",
        "b_fc1": r"b^{(fc1)}", "w_fc2": r"w^{(fc2)}", "b_fc2": r"b^{(fc2)}"}


def _symbol_array(name: str, shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        label = ",".join(str(i + 1) for i in index)  # 1-based, as in the equations
        out[index] = sp.Symbol(f"{_TEX[name]}_{{{label}}}", real=True)
    return out


def one_hot_exact(labels: np.ndarray, classes: int) -> np.ndarray:
    """Targets ``t_{n,k} = 1`` if ``labels[n] == k`` else 0, as sympy integers.

    Parameters
    ----------
    labels : numpy.ndarray of int, shape [N]
        Classes ``0..classes-1``.
    classes : int
        ``D_2``.

    Returns
    -------
    numpy.ndarray of object (sympy Integer), shape [N, D_2]
    """
    t = np.full((len(labels), classes), sp.S.Zero, dtype=object)
    for n, k in enumerate(labels):
        t[n, int(k)] = sp.S.One
    return t


def build_problem(instance: TinyInstance | None = None) -> SymbolicProblem:
    """Symbols, branch, forward expressions and loss of a tiny instance.

    Parameters
    ----------
    instance : TinyInstance, optional
        Default: :func:`make_tiny_instance` ``(seed=0)``.

    Returns
    -------
    SymbolicProblem

    Raises
    ------
    ValueError
        If the instance sits on a kink (a pool tie or a zero fc1 pre-activation).
    """
    start = time.perf_counter()
    instance = make_tiny_instance() if instance is None else instance
    branch = select_branch(instance)
    if not (branch.pool_gap > 0 and branch.fc1_margin > 0):
        raise ValueError(
            f"instance is on a kink: pool gap {branch.pool_gap}, min |z_fc1| {branch.fc1_margin}"
        )
    s = {name: _symbol_array(name, value.shape) for name, value in instance.params.items()}
    x, a = instance.x, instance.arch
    pool = a.K_p
    z_conv = _conv(x, s["w_conv"], s["b_conv"], a.S, a.P)   # (1.3)
    n_batch, c_out, h_p, w_p, _ = branch.pool_argmax.shape
    z_pool = np.empty((n_batch, c_out, h_p, w_p), dtype=object)
    for n, o, p, q in np.ndindex(n_batch, c_out, h_p, w_p):                         # (1.5)
        i, j = branch.pool_argmax[n, o, p, q]
        z_pool[n, o, p, q] = z_conv[n, o, p * pool + i, q * pool + j]
    z_flat = _flatten(z_pool)                                                        # (1.6)
    z_fc1 = _fc(z_flat, s["w_fc1"], s["b_fc1"])                                      # (1.8)
    z_relu = np.where(branch.relu_active, z_fc1, sp.S.Zero)                          # (1.9)
    z_fc2 = _fc(z_relu, s["w_fc2"], s["b_fc2"])                                      # (1.10)
    classes = z_fc2.shape[1]
    t = one_hot_exact(instance.labels, classes)
    loss_terms = []
    for n in range(n_batch):
        denominator = sp.Add(*[Exp(z_fc2[n, k]) for k in range(classes)])
        for k in range(classes):
            y_nk = Exp(z_fc2[n, k]) / denominator                                   # (1.11)
            loss_terms.append(t[n, k] * sp.log(y_nk))
    loss = -sp.Rational(1, n_batch) * sp.Add(*loss_terms)                           # (4.1)
    exp_symbols = np.empty(z_fc2.shape, dtype=object)
    for n, k in np.ndindex(*z_fc2.shape):
        exp_symbols[n, k] = sp.Symbol(f"E_{{{n + 1},{k + 1}}}", positive=True)
    forward = dict(z_conv=z_conv, z_pool=z_pool, z_flat=z_flat, z_fc1=z_fc1,
                   z_relu=z_relu, z_fc2=z_fc2)
    return SymbolicProblem(instance, branch, s, forward, exp_symbols, loss,
                           time.perf_counter() - start)


# ------------------------------------------------------------ the two gradients


def autodiff_gradients(problem: SymbolicProblem) -> dict[str, np.ndarray]:
    """``sympy.diff`` of the loss with respect to every parameter entry.

    Every ``Exp(z_{n,k})`` in the result is replaced by ``E_{n,k}``, so the
    gradients are rational functions of the parameters and the ``E_{n,k}``.

    Parameters
    ----------
    problem : SymbolicProblem

    Returns
    -------
    dict str -> ndarray of sympy.Expr
        ``"dw_conv", "db_conv", "dw_fc1", "db_fc1", "dw_fc2", "db_fc2"``,
        each the shape of its parameter.

    Raises
    ------
    AssertionError
        If an ``Exp`` other than those of the logits is left over.
    """
    exp_map = problem.exp_map
    grads = {}
    for name, syms in problem.symbols.items():
        g = np.empty(syms.shape, dtype=object)
        for index in np.ndindex(*syms.shape):
            expr = sp.diff(problem.loss, syms[index]).xreplace(exp_map)
            assert not expr.has(Exp), f"unreplaced exponential in d{name}{index}"
            g[index] = expr
        grads["d" + name] = g
    return grads


def _fc_param_grads(delta: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eqs. (4.5)/(4.8) on object arrays: ``dw_{k,h} = sum_n delta_{n,k} a_{n,h}``, ``db_k``."""
    n_batch, d_out = delta.shape
    dw = np.empty((d_out, a.shape[1]), dtype=object)
    db = np.empty(d_out, dtype=object)
    for k in range(d_out):
        db[k] = sp.Add(*[delta[n, k] for n in range(n_batch)])
        for h in range(a.shape[1]):
            dw[k, h] = sp.Add(*[delta[n, k] * a[n, h] for n in range(n_batch)])
    return dw, db


def delta_rule_gradients(
    problem: SymbolicProblem, delta_fc2: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """The chapter's backward formulas, Eqs. (4.3)-(4.13), index by index; no ``diff``.

    Parameters
    ----------
    problem : SymbolicProblem
    delta_fc2 : ndarray of sympy.Expr, shape [N, D_2], optional
        Override of Eq. (4.3) (to show that a wrong output delta is detected).
        Default: ``delta^{(fc2)}_{n,k} = (y_{n,k} - t_{n,k}) / N`` with
        ``y_{n,k} = E_{n,k} / sum_k' E_{n,k'}``.

    Returns
    -------
    dict str -> ndarray of sympy.Expr
        Deltas ``delta_fc2 [N,D_2]``, ``delta_relu [N,D_1]``, ``delta_fc1``,
        ``delta_flat [N,D_0]``, ``delta_pool [N,C_out,H_p,W_p]``,
        ``delta_conv [N,C_out,H_c,W_c]`` and gradients ``dw_conv, db_conv,
        dw_fc1, db_fc1, dw_fc2, db_fc2``.
    """
    s, f, br = problem.symbols, problem.forward, problem.branch
    inst = problem.instance
    E = problem.exp_symbols
    n_batch, classes = E.shape
    hidden, d_0 = s["w_fc1"].shape
    c_out, c_in, k_size, _ = s["w_conv"].shape
    _, _, h_c, w_c = f["z_conv"].shape
    _, _, h_p, w_p = f["z_pool"].shape
    pool, stride, padding = inst.arch.K_p, inst.arch.S, inst.arch.P
    t = one_hot_exact(inst.labels, classes)

    if delta_fc2 is None:                                                            # (4.3)
        delta_fc2 = np.empty((n_batch, classes), dtype=object)
        for n in range(n_batch):
            total = sp.Add(*E[n])
            for k in range(classes):
                delta_fc2[n, k] = (E[n, k] / total - t[n, k]) / n_batch
    dw_fc2, db_fc2 = _fc_param_grads(delta_fc2, f["z_relu"])                         # (4.5)
    delta_relu = np.empty((n_batch, hidden), dtype=object)                           # (4.6)
    delta_fc1 = np.empty((n_batch, hidden), dtype=object)                            # (4.7)
    for n in range(n_batch):
        for h in range(hidden):
            delta_relu[n, h] = sp.Add(*[delta_fc2[n, k] * s["w_fc2"][k, h] for k in range(classes)])
            delta_fc1[n, h] = delta_relu[n, h] if br.relu_active[n, h] else sp.S.Zero
    dw_fc1, db_fc1 = _fc_param_grads(delta_fc1, f["z_flat"])                         # (4.8)
    delta_flat = np.empty((n_batch, d_0), dtype=object)                              # (4.9)
    for n in range(n_batch):
        for r in range(d_0):
            delta_flat[n, r] = sp.Add(*[delta_fc1[n, h] * s["w_fc1"][h, r] for h in range(hidden)])
    delta_pool = np.empty((n_batch, c_out, h_p, w_p), dtype=object)                  # (4.10)
    for n, o, p, q in np.ndindex(n_batch, c_out, h_p, w_p):
        delta_pool[n, o, p, q] = delta_flat[n, o * h_p * w_p + p * w_p + q]
    delta_conv = np.full((n_batch, c_out, h_c, w_c), sp.S.Zero, dtype=object)      # (4.11)
    for n, o, p, q in np.ndindex(n_batch, c_out, h_p, w_p):
        i, j = br.pool_argmax[n, o, p, q]
        delta_conv[n, o, p * pool + i, q * pool + j] += delta_pool[n, o, p, q]
    x = inst.x
    h_in, w_in = x.shape[2:]
    xp = np.full((n_batch, c_in, h_in + 2 * padding, w_in + 2 * padding), sp.S.Zero, dtype=object)
    xp[:, :, padding:padding + h_in, padding:padding + w_in] = x
    dw_conv = np.empty((c_out, c_in, k_size, k_size), dtype=object)                # (4.12)
    db_conv = np.empty(c_out, dtype=object)                                          # (4.13)
    for o in range(c_out):
        db_conv[o] = sp.Add(*[delta_conv[n, o, m, l]
                              for n in range(n_batch) for m in range(h_c) for l in range(w_c)])
        for c in range(c_in):
            for i in range(k_size):
                for j in range(k_size):
                    dw_conv[o, c, i, j] = sp.Add(*[
                        delta_conv[n, o, m, l] * xp[n, c, m * stride + i, l * stride + j]
                        for n in range(n_batch) for m in range(h_c) for l in range(w_c)
                    ])
    return dict(delta_fc2=delta_fc2, delta_relu=delta_relu, delta_fc1=delta_fc1,
                delta_flat=delta_flat, delta_pool=delta_pool, delta_conv=delta_conv,
                dw_conv=dw_conv, db_conv=db_conv, dw_fc1=dw_fc1, db_fc1=db_fc1,
                dw_fc2=dw_fc2, db_fc2=db_fc2)


# ------------------------------------------------------------ comparing them


def residual(a: sp.Expr, b: sp.Expr) -> sp.Expr:
    """Canonical form of ``a - b`` for rational functions: the expanded numerator.

    ``together`` writes ``a - b`` as one fraction ``P/Q``; ``a - b`` is the zero
    function iff the polynomial ``P`` is zero, iff ``expand(P) == 0``.

    Parameters
    ----------
    a, b : sympy.Expr
        Rational functions of the parameters and the ``E_{n,k}``.

    Returns
    -------
    sympy.Expr
        ``0`` iff ``a`` and ``b`` are the same function.
    """
    numerator, _ = sp.fraction(sp.together(a - b))
    return sp.expand(numerator)


@dataclass(frozen=True)
class IdentityRow:
    """Result of the symbolic identity for one parameter tensor.

    Attributes
    ----------
    name : str
        Gradient key, e.g. ``"dw_conv"``.
    entries : int
        Number of entries compared.
    nonzero : int
        Entries whose :func:`residual` is not 0 (0 means the identity holds).
    seconds : float
        Time spent on the comparison.
    """

    name: str
    entries: int
    nonzero: int
    seconds: float


def identity_table(
    delta_rule: dict[str, np.ndarray], autodiff: dict[str, np.ndarray], names=None
) -> list[IdentityRow]:
    """Compare two symbolic gradients entry by entry with :func:`residual`.

    Parameters
    ----------
    delta_rule, autodiff : dict str -> ndarray of sympy.Expr
        E.g. from :func:`delta_rule_gradients` and :func:`autodiff_gradients`.
    names : iterable of str, optional
        Keys to compare; default ``d`` + every parameter name.

    Returns
    -------
    list of IdentityRow
    """
    names = ["d" + p for p in PARAM_NAMES] if names is None else list(names)
    rows = []
    for name in names:
        start = time.perf_counter()
        a, b = delta_rule[name], autodiff[name]
        if a.shape != b.shape:
            raise ValueError(f"{name}: shapes differ, {a.shape} vs {b.shape}")
        nonzero = sum(residual(a[i], b[i]) != 0 for i in np.ndindex(*a.shape))
        rows.append(IdentityRow(name, a.size, int(nonzero), time.perf_counter() - start))
    return rows


def evaluate(problem: SymbolicProblem, exprs: np.ndarray, digits: int = 30) -> np.ndarray:
    """Evaluate expressions at the instance's point, ``E_{n,k} = exp(z_{n,k})``, to ``digits``.

    The parameters are replaced by their exact rationals, each ``E_{n,k}`` by
    ``exp`` of the exact rational logit; only the final ``sympy.N`` rounds.

    Parameters
    ----------
    problem : SymbolicProblem
    exprs : ndarray of sympy.Expr
        E.g. a gradient from :func:`autodiff_gradients`.
    digits : int, default 30
        Significant digits of the evaluation.

    Returns
    -------
    ndarray of float64, shape ``exprs.shape``
        The values rounded to float64 (the exact values are within 1e-30 relative).
    """
    point = problem.point()
    z = problem.forward["z_fc2"]
    for index in np.ndindex(*z.shape):
        point[problem.exp_symbols[index]] = sp.exp(z[index].xreplace(point))
    out = np.empty(exprs.shape, dtype=np.float64)
    for index in np.ndindex(*exprs.shape):
        out[index] = float(sp.N(sp.sympify(exprs[index]).xreplace(point), digits))
    return out
