"""Finite-difference gradient checks: the independent referee of every backward pass.

What this is: centred differences in float64, one perturbed entry at a time, a
relative error, a sampler of entries, and a table that covers every parameter
tensor of a network.
What this is not: a proof. A finite difference agrees with the analytic
gradient only up to rounding (about ``eps_machine * |L| / eps``) and only
where the loss is smooth; at a ReLU kink or a max-pool tie it measures a
one-sided mixture. The exact check lives in :mod:`mnist_cnn.verify.symbolic`.

How the error is measured (used everywhere in the book)
--------------------------------------------------------
:func:`relative_error` is the *norm-based* relative error of two arrays,

    ``err(a, b) = ||a - b||_2 / max(||a||_2 + ||b||_2, tiny)``,

computed in float64 over all the entries compared (for a gradient check: the
sampled entries of one parameter tensor). It is 0 for identical arrays, 1 for
``b = -a`` and about ``1e-16 .. 1e-8`` for a correct gradient against a centred
difference. The norm-based form was chosen over the elementwise maximum
``max_i |a_i - b_i| / (|a_i| + |b_i|)`` because the latter blows up on entries
whose true gradient is nearly zero (the absolute rounding error of a centred
difference, ~1e-10, divided by a gradient of ~1e-10), which says nothing about
the correctness of the formula.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from mnist_cnn.architecture import output_size
from mnist_cnn.reference.im2col import im2col
from mnist_cnn.validate import require_float_array, require_positive_int

__all__ = [
    "GradCheckRow",
    "PoolTieReport",
    "pool_tie_report",
    "check_params",
    "format_check_table",
    "numerical_gradient",
    "relative_error",
    "sample_indices",
]

#: Floor of the denominator of :func:`relative_error`: two all-zero arrays agree exactly.
TINY = np.finfo(np.float64).tiny


def numerical_gradient(
    f: Callable[[np.ndarray], float],
    array: np.ndarray,
    indices: Sequence[tuple[int, ...]] | None = None,
    eps: float = 1e-6,
) -> np.ndarray:
    """Centred finite differences of a scalar function, one entry at a time.

    For every chosen entry ``e`` of ``array``:

        ``g_e = (f(array + eps * 1_e) - f(array - eps * 1_e)) / (2 eps)``,

    the entry is perturbed *in place*, ``f`` is called, and the entry is
    restored to its exact original value afterwards (also if ``f`` raises).

    Parameters
    ----------
    f : callable
        ``f(array) -> float``; it must read the current contents of ``array``
        (typically a closure over a parameter dict holding ``array``).
    array : ndarray, float64, any shape
        The variable to differentiate with respect to. float32 is refused: a
        step of 1e-6 is below the float32 resolution of values near 1.
    indices : sequence of index tuples, optional
        Entries to perturb, e.g. from :func:`sample_indices`. Default: all.
    eps : float, default 1e-6
        Half the step.

    Returns
    -------
    ndarray, float64
        Shape ``array.shape`` if ``indices`` is None, else ``[len(indices)]``
        with one value per index tuple, in order.

    Raises
    ------
    TypeError
        If ``array`` is not a float64 ndarray.
    ValueError
        If ``eps`` is not positive or an index tuple does not fit ``array``.
    """
    require_float_array("array", array)
    if array.dtype != np.float64:
        raise TypeError(f"array must be float64 for finite differences; got {array.dtype}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0; got {eps}")
    if indices is None:
        chosen = list(np.ndindex(*array.shape))
    else:
        chosen = [tuple(int(i) for i in index) for index in indices]
        for index in chosen:
            if len(index) != array.ndim or any(
                not -s <= i < s for i, s in zip(index, array.shape, strict=True)
            ):
                raise ValueError(f"index {index} does not fit array of shape {array.shape}")
    grad = np.empty(len(chosen), dtype=np.float64)
    for k, index in enumerate(chosen):
        original = array[index]
        try:
            array[index] = original + eps
            f_plus = float(f(array))
            array[index] = original - eps
            f_minus = float(f(array))
        finally:
            array[index] = original
        grad[k] = (f_plus - f_minus) / (2.0 * eps)
    return grad.reshape(array.shape) if indices is None else grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """Norm-based relative error ``||a - b|| / max(||a|| + ||b||, tiny)`` in float64.

    This is the one error measure of the book's gradient checks (see the
    module docstring for why it is norm-based and not elementwise).

    Parameters
    ----------
    a, b : array_like, same shape
        The two arrays, e.g. analytic and numerical gradients.

    Returns
    -------
    float
        In ``[0, 1]``; 0 iff ``a == b``.

    Raises
    ------
    ValueError
        If the shapes differ (no silent broadcasting).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
    num = np.linalg.norm((a - b).ravel())
    den = max(np.linalg.norm(a.ravel()) + np.linalg.norm(b.ravel()), TINY)
    return float(num / den)


def sample_indices(
    shape: Sequence[int], count: int, rng: np.random.Generator
) -> list[tuple[int, ...]]:
    """Draw ``count`` distinct entries of an array of ``shape``, uniformly.

    Parameters
    ----------
    shape : sequence of int
        Array shape, e.g. ``(20, 1, 5, 5)``.
    count : int
        How many entries; capped at the number of entries (then: all of them).
    rng : numpy.random.Generator
        Source of randomness (seed it for reproducible checks).

    Returns
    -------
    list of tuple of int
        ``min(count, prod(shape))`` distinct index tuples in row-major order.
    """
    count = require_positive_int("count", count)
    size = int(np.prod(shape, dtype=np.int64))
    flat = np.sort(rng.choice(size, size=min(count, size), replace=False))
    rows = np.unravel_index(flat, tuple(shape))
    return [tuple(int(i) for i in index) for index in zip(*rows, strict=True)]


@dataclass(frozen=True)
class GradCheckRow:
    """One parameter tensor's finite-difference check.

    Attributes
    ----------
    name : str
        Parameter key, e.g. ``"w_conv"``.
    shape : tuple of int
        Shape of the tensor.
    checked : int
        Number of sampled entries.
    max_abs_grad : float
        Largest ``|analytic gradient|`` among the sampled entries.
    max_abs_diff : float
        Largest ``|analytic - numerical|`` among the sampled entries.
    relative_error : float
        :func:`relative_error` of the sampled analytic and numerical values.
    """

    name: str
    shape: tuple[int, ...]
    checked: int
    max_abs_grad: float
    max_abs_diff: float
    relative_error: float


def check_params(
    loss_fn: Callable[[Mapping[str, np.ndarray]], float],
    params: Mapping[str, np.ndarray],
    grads: Mapping[str, np.ndarray],
    count_per_tensor: int,
    rng: np.random.Generator,
    eps: float = 1e-6,
) -> list[GradCheckRow]:
    """Finite-difference check of every parameter tensor, sampled entries each.

    Works on float64 copies of ``params``: the caller's arrays are never
    modified. The analytic gradient of ``params[name]`` is ``grads["d" + name]``
    (the naming of :func:`mnist_cnn.reference.network.loss_and_grads`).

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(params) -> float``, the loss as a function of a parameter dict.
    params : mapping str -> ndarray, float64
        The point at which to check.
    grads : mapping str -> ndarray
        Analytic gradients keyed ``"d" + name``, each the shape of its parameter.
    count_per_tensor : int
        Entries sampled per tensor (all of them if the tensor is smaller).
    rng : numpy.random.Generator
        For :func:`sample_indices`.
    eps : float, default 1e-6
        Half step of the centred difference.

    Returns
    -------
    list of GradCheckRow
        One row per parameter tensor, in the order of ``params``.

    Raises
    ------
    TypeError
        If a parameter is not float64.
    KeyError
        If a gradient ``"d" + name`` is missing.
    ValueError
        If a gradient's shape differs from its parameter's.
    """
    work = {}
    for name, value in params.items():
        require_float_array(name, value)
        if value.dtype != np.float64:
            raise TypeError(f"{name} must be float64 for a gradient check; got {value.dtype}")
        work[name] = value.copy()
    rows = []
    for name, value in work.items():
        key = "d" + name
        if key not in grads:
            raise KeyError(f"no gradient {key!r} for parameter {name!r}; have {sorted(grads)}")
        analytic_full = np.asarray(grads[key])
        if analytic_full.shape != value.shape:
            raise ValueError(
                f"{key} must have the shape of {name}, {value.shape}; got {analytic_full.shape}"
            )
        indices = sample_indices(value.shape, count_per_tensor, rng)
        numeric = numerical_gradient(lambda _a: loss_fn(work), value, indices, eps)
        analytic = np.array([analytic_full[i] for i in indices], dtype=np.float64)
        rows.append(
            GradCheckRow(
                name=name,
                shape=tuple(value.shape),
                checked=len(indices),
                max_abs_grad=float(np.max(np.abs(analytic))),
                max_abs_diff=float(np.max(np.abs(analytic - numeric))),
                relative_error=relative_error(analytic, numeric),
            )
        )
    return rows


def format_check_table(rows: Sequence[GradCheckRow], threshold: float | None = None) -> str:
    """Render :func:`check_params` rows as a fixed-width text table.

    Parameters
    ----------
    rows : sequence of GradCheckRow
        The check results.
    threshold : float, optional
        If given, errors are printed as ``< threshold: True/False`` instead of
        their value, so that the printout is identical from run to run
        (the last digits of a rounding error depend on the BLAS).

    Returns
    -------
    str
        One line per tensor: name, shape, entries checked, max |grad|, error.
    """
    header = f"{'tensor':<8} {'shape':<16} {'checked':>7} {'max |grad|':>11}  relative error"
    lines = [header, "-" * len(header)]
    for row in rows:
        shape = "x".join(str(s) for s in row.shape)
        if threshold is None:
            err = f"{row.relative_error:.1e}"
        else:
            err = f"< {threshold:.0e}: {row.relative_error < threshold}"
        lines.append(f"{row.name:<8} {shape:<16} {row.checked:>7} {row.max_abs_grad:>11.1e}  {err}")
    return "\n".join(lines)


# ----------------------------------------------------------- the max-pool guard


@dataclass(frozen=True)
class PoolTieReport:
    """How safe the pooling windows are for finite differences of the conv parameters.

    Attributes
    ----------
    windows : int
        Pooling windows in the batch, ``N C_out H_p W_p``.
    clear : int
        Windows whose runner-up is more than ``bound`` below the maximum: no
        perturbation of size ``eps`` can move their argmax.
    tied_identical : int
        Windows with entries within ``bound`` of the maximum (ties included)
        whose receptive fields are *identical* to the maximum's: those entries
        are the same function of ``w^{(conv)}, b^{(conv)}``, so they stay equal
        under every perturbation and the routing cannot change a parameter
        gradient (e.g. background windows of MNIST, all equal to ``b_o``).
    unsafe : int
        The rest: a near or exact tie between entries that read different
        pixels. A finite difference there measures a one-sided mixture, and a
        wrong gradient could hide; a check must refuse such a point.
    smallest_clear_gap : float
        The smallest gap between maximum and runner-up among the clear windows.
    bound : float
    """

    windows: int
    clear: int
    tied_identical: int
    unsafe: int
    smallest_clear_gap: float
    bound: float


def pool_tie_report(
    x: np.ndarray, z_conv: np.ndarray, K: int, stride: int, padding: int, pool: int,
    eps: float,
) -> PoolTieReport:
    """Classify every max-pool window by how far its runner-up is from the maximum.

    Perturbing ``w^{(conv)}_{o,c,i,j}`` by ``±eps`` moves ``z^{(conv)}_{n,o,m,l}`` by
    ``eps x̃_{n,c,(m-1)S+i,(l-1)S+j}``, so the difference of two entries of a window
    moves by at most ``bound = eps (max x̃ - min x̃)`` (the bias moves all entries of a
    filter together). A window is safe if its runner-up is more than ``bound``
    below the maximum, or if every entry that close reads the same pixels as the
    maximum (Eq. (1.3) then makes them equal for all parameters).

    Parameters
    ----------
    x : numpy.ndarray, shape [N, C_in, H_in, W_in]
        The conv input.
    z_conv : numpy.ndarray, shape [N, C_out, H_c, W_c]
        Its convolution, Eq. (1.3).
    K, stride, padding : int
        The conv's ``K``, ``S``, ``P``.
    pool : int
        ``K_p = S_p`` of the max-pool, Eq. (1.5).
    eps : float
        The finite-difference step.

    Returns
    -------
    PoolTieReport
    """
    N, C_out, H_c, W_c = z_conv.shape
    H_p, W_p = (output_size.unchecked(s, pool, pool) for s in (H_c, W_c))  # Eq. (0.1)
    lo, hi = float(x.min()), float(x.max())
    if padding:  # x̃ also holds the padding zeros
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    bound = eps * (hi - lo)
    fields = im2col(x, K, stride, padding).reshape(N, -1, H_c, W_c)

    def windows(a):  # [..., H_c, W_c] -> [..., H_p, W_p, pool*pool], row-major in the window
        a = a[..., : H_p * pool, : W_p * pool]
        a = a.reshape(*a.shape[:-2], H_p, pool, W_p, pool)
        return np.moveaxis(a, -3, -2).reshape(*a.shape[:-4], H_p, W_p, pool * pool)

    z_win = windows(z_conv)                                        # [N, C_out, H_p, W_p, K_p^2]
    f_win = windows(fields)                                        # [N, C_in K^2, H_p, W_p, K_p^2]
    first = z_win.argmax(axis=-1)
    top = np.take_along_axis(z_win, first[..., None], axis=-1)
    near = (top - z_win <= bound)
    near[np.arange(z_win.shape[-1]) == first[..., None]] = False
    n_idx, o_idx, p_idx, q_idx = np.nonzero(near.any(axis=-1))
    unsafe = 0
    for n, o, p, q in zip(n_idx, o_idx, p_idx, q_idx, strict=True):
        field_max = f_win[n, :, p, q, first[n, o, p, q]]
        others = f_win[n, :, p, q][:, near[n, o, p, q]]
        unsafe += not np.array_equal(others, np.broadcast_to(field_max[:, None], others.shape))
    gaps = np.sort(z_win, axis=-1)
    gaps = gaps[..., -1] - gaps[..., -2]
    clear = ~near.any(axis=-1)
    smallest = float(gaps[clear].min()) if clear.any() else np.inf
    tied = len(n_idx)
    return PoolTieReport(int(first.size), int(first.size - tied), tied - unsafe, unsafe,
                         smallest, bound)
