"""Checks for the chapters' exercises: ``check("1.2", answer)`` prints PASS or FAIL.

What this is: one table, ``EXERCISES``, with an entry per exercise of the book. An entry says
what form the answer takes (shown in the student edition's answer cell) and how to check it:
either a reference value computed here by the package's own functions (``output_size``,
``shape_trace``, ``im2col``, the layers, the optimiser) and compared with the answer, or, when
the answer is a function, a probe that runs it on random inputs and compares it with the
package. Nothing here types in a result: every reference is computed.
What this is not: the worked solutions (they are in the full edition of each chapter), and it
never prints the reference, only whether the answer matches and, if not, what kind of mismatch.

Usage in a notebook::

    from mnist_cnn.book.exercises import check
    check("1.2", (12, [28]))        # -> "Exercise 1.2: PASS"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from mnist_cnn.architecture import SEED, output_size, shape_trace
from mnist_cnn.reference import layers
from mnist_cnn.reference.im2col import im2col, im2col_per_channel
from mnist_cnn.reference.optim import SGDMomentum, learning_rate
from mnist_cnn.verify.gradcheck import relative_error


@dataclass(frozen=True)
class Exercise:
    """One exercise: the form of its answer and how it is checked.

    Attributes
    ----------
    form : str
        What the answer is, as the answer cell of the student edition asks for it.
    reference : callable, optional
        ``() -> value``: the reference answer, computed; compared with ``==`` entry by entry
        (floats with ``tolerance``, lists as sets).
    probe : callable, optional
        ``(function) -> str | None``: for answers that are functions; runs the function on
        random inputs against the package and returns what went wrong, or None.
    tolerance : float
        Absolute tolerance for floats in ``reference`` answers.
    """

    form: str
    reference: Callable[[], object] | None = None
    probe: Callable[[Callable], str | None] | None = None
    tolerance: float = 0.0


def _trace(**sizes) -> dict:
    """The shape trace of the seed network with some sizes changed (``P=2``, ``C_in=3``, ...)."""
    if "H" in sizes:
        sizes.setdefault("W", sizes["H"])
    return {row.name: row for row in shape_trace(SEED.replace(**sizes))}


def _rng() -> np.random.Generator:
    return np.random.default_rng(2024)


# ---------------------------------------------------------------- references (values)


def _rows_read(size: int, kernel: int, stride: int) -> set[int]:
    """1-based rows of a size x size image that some window reads: im2col of a row-index map."""
    rows = np.repeat(np.arange(size, dtype=np.float64)[:, None], size, axis=1)
    return {int(r) + 1 for r in np.unique(im2col(rows[None, None], kernel, stride))}


def _copies_per_pixel() -> np.ndarray:
    """How many columns of X_c hold each pixel of a 28 x 28 image (K = 5): im2col of indices."""
    index = np.arange(28 * 28, dtype=np.float64).reshape(1, 1, 28, 28)
    columns = im2col_per_channel(index, 5)[0, 0].astype(int)
    return np.bincount(columns.ravel(), minlength=28 * 28).reshape(28, 28)


def _product_shapes(X: np.ndarray, filters: int) -> tuple:
    """(X, W_mat, W_mat @ X) shapes, W_mat with one row per filter and one column per row of X."""
    W_mat = np.zeros((filters, X.shape[0]))
    return X.shape, W_mat.shape, (W_mat @ X).shape


def _multiplications() -> tuple[int, int]:
    """Products of the conv and of fc1 for the batch of 64: rows x inner x columns."""
    seed = _trace()
    X = im2col(np.zeros((1,) + seed["input"].shape[1:]), 5)[0]  # [C_in K K, H_c W_c]
    W_mat_rows = seed["conv"].shape[1]
    conv = seed["input"].shape[0] * W_mat_rows * X.shape[0] * X.shape[1]
    fc1 = seed["reshape"].shape[0] * seed["reshape"].shape[1] * seed["fc1"].shape[1]
    return conv, fc1


@cache
def _changed_by_last_max_rule() -> frozenset[str]:
    """Which conv gradients change when tied pooling windows route to their last maximum.

    On two MNIST test digits with the seeded network: route the pooled delta to the first
    maximum (the layer's rule) and to the last one (the first of the map flipped in both axes,
    which reverses the row-major order inside every 2 x 2 window), and compare the gradients.
    """
    from mnist_cnn.data import load_mnist
    from mnist_cnn.reference.network import init_params

    x = load_mnist("test")[0][:2].astype(np.float64)
    params = init_params(np.random.default_rng(0), np.float64)
    z_conv, conv_cache = layers.conv_forward(x, params["w_conv"], params["b_conv"])
    delta_pool = _rng().normal(size=(2,) + z_conv.shape[1:2] + (12, 12))
    _, first_cache = layers.maxpool_forward(z_conv, 2)
    first = layers.maxpool_backward(delta_pool, first_cache)
    _, flipped_cache = layers.maxpool_forward(z_conv[:, :, ::-1, ::-1], 2)
    last = layers.maxpool_backward(delta_pool[:, :, ::-1, ::-1], flipped_cache)[:, :, ::-1, ::-1]
    grads_first = layers.conv_backward(first, conv_cache)
    grads_last = layers.conv_backward(last, conv_cache)
    return frozenset(name for name, a, b in zip(("dx", "dw_conv", "db_conv"), grads_first,
                                                 grads_last, strict=True)
                     if not np.allclose(a, b, rtol=1e-12, atol=1e-15))


def _tie_winner() -> tuple[int, int]:
    """1-based (row, column) that receives the pooled delta of [[0.1, 0.5], [0.5, 0.2]]."""
    window = np.array([[[[0.1, 0.5], [0.5, 0.2]]]])
    _, pool_cache = layers.maxpool_forward(window, 2)
    routed = layers.maxpool_backward(np.ones((1, 1, 1, 1)), pool_cache)[0, 0]
    (row, column), = np.argwhere(routed == 1)
    return int(row) + 1, int(column) + 1


@cache
def _ink_lost() -> tuple[float, float]:
    """(% of 10,000 training digits that lose ink, % of all ink lost) for a (2, 2) shift."""
    from mnist_cnn.data import load_mnist
    from mnist_cnn.train.loop import shift_images

    digits = load_mnist("train")[0][:10_000]
    shifted = shift_images(digits, np.tile(np.array([[2, 2]]), (len(digits), 1)))
    total = digits.sum(axis=(1, 2, 3), dtype=np.float64)
    lost = total - shifted.sum(axis=(1, 2, 3), dtype=np.float64)
    return round(100 * float(np.mean(lost > 1e-6)), 1), round(100 * lost.sum() / total.sum(), 2)


# ---------------------------------------------------------------- probes (functions)


def _compare(name: str, got, want, atol: float = 1e-9) -> str | None:
    got = np.asarray(got, dtype=np.float64)
    if got.shape != np.shape(want):
        return f"{name} has shape {got.shape}, expected {np.shape(want)}"
    if not np.allclose(got, want, rtol=1e-9, atol=atol):
        return f"{name} has the right shape but the wrong values"
    return None


def _probe_fc1_entry(fc1_entry) -> str | None:
    rng = _rng()
    z_flat, w, b = rng.normal(size=(3, 7)), rng.normal(size=(4, 7)), rng.normal(size=4)
    want, _ = layers.fc_forward(z_flat, w, b)
    got = [[fc1_entry(z_flat, w, b, n, h) for h in range(4)] for n in range(3)]
    return _compare("the entries", got, want)


def _probe_to_ijc(to_ijc) -> str | None:
    rng = _rng()
    x, w, b = rng.normal(size=(2, 3, 6, 6)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    want, _ = layers.conv_forward(x, w, b)
    W_ijc = w.transpose(0, 2, 3, 1).reshape(4, -1)
    got = np.stack([W_ijc @ to_ijc(X, 3, 3) for X in im2col(x, 3)]) + b[:, None]
    return _compare("W_ijc @ to_ijc(X_col) + b", got.reshape(want.shape), want)


def _probe_conv1x1(conv1x1) -> str | None:
    rng = _rng()
    x, w = rng.normal(size=(2, 5, 4, 3)), rng.normal(size=(6, 5))
    want, _ = layers.conv_forward(x, w[:, :, None, None], np.zeros(6))
    return _compare("conv1x1(x, w)", conv1x1(x, w), want)


def _conv_case(stride: int, padding: int):
    rng = _rng()
    x, w, b = rng.normal(size=(2, 2, 9, 9)), rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)
    z, conv_cache = layers.conv_forward(x, w, b, stride=stride, padding=padding)
    delta = rng.normal(size=z.shape)
    return x, w, delta, layers.conv_backward(delta, conv_cache)


def _probe_dw_stride2(dw_stride2) -> str | None:
    x, _, delta, (_, dw, _) = _conv_case(stride=2, padding=0)
    return _compare("dw_stride2(x, delta, 3)", dw_stride2(x, delta, 3), dw)


def _probe_dx_padding1(dx_padding1) -> str | None:
    _, w, delta, (dx, _, _) = _conv_case(stride=1, padding=1)
    return _compare("dx_padding1(delta, w)", dx_padding1(delta, w), dx)


def _probe_summed_loss(loss) -> str | None:
    """d loss(softmax(z), labels) / dz must be y - t: centred differences in float64."""
    rng = _rng()
    z, labels = rng.normal(size=(3, 4)), np.array([0, 3, 1])
    y, t = layers.softmax(z), layers.one_hot(labels, 4)
    numeric = np.zeros_like(z)
    for index in np.ndindex(z.shape):
        step = np.zeros_like(z)
        step[index] = 1e-6
        numeric[index] = (loss(layers.softmax(z + step), labels)
                          - loss(layers.softmax(z - step), labels)) / 2e-6
    return _compare("the gradient of your loss", numeric, y - t, atol=1e-6)


def _probe_long_run_rate(long_run_rate) -> str | None:
    for eta, mu in ((0.1, 0.9), (0.05, 0.5)):
        w = {"w": np.zeros(1)}
        optimiser = SGDMomentum(w, momentum=mu)
        for _ in range(2000):
            before = w["w"].copy()
            optimiser.step({"dw": np.ones(1)}, eta)
        step = float(before[0] - w["w"][0])  # plain SGD with rate r and g = 1 steps by r
        if not np.isclose(long_run_rate(eta, mu), step, rtol=1e-9):
            return f"long_run_rate({eta}, {mu}) does not match momentum's long-run step"
    return None


def _probe_penalised_gradient(penalised_gradient) -> str | None:
    rng = _rng()
    w0, g, lam = rng.normal(size=5), rng.normal(size=5), 5e-4
    decayed, penalised = {"w": w0.copy()}, {"w": w0.copy()}
    SGDMomentum(decayed, momentum=0.9, weight_decay=lam).step({"dw": g}, 0.1)
    SGDMomentum(penalised, momentum=0.9).step({"dw": penalised_gradient(g, w0.copy(), lam)}, 0.1)
    return _compare("the step with your gradient", penalised["w"], decayed["w"], atol=1e-12)


def _probe_mean_rate(mean_rate) -> str | None:
    for T in (7, 100, 2346):
        want = np.mean([learning_rate(t, T, 0.05) for t in range(T)])
        if not np.isclose(mean_rate(T, 0.05), want, rtol=1e-12):
            return f"mean_rate({T}, 0.05) is not the mean of the rates of (5.2)"
    return None


def _probe_pool_row(pool_row) -> str | None:
    rows = np.repeat(np.arange(1.0, 25.0)[:, None], 24, axis=1)[None, None]  # value = 1-based row
    X_pool = im2col_per_channel(rows, 2, 2)[0, 0]  # [K_p K_p, H_p W_p], window (p, q) in column
    for p in range(1, 13):
        for i in (1, 2):
            if pool_row(p, i) != X_pool[(i - 1) * 2, (p - 1) * 12]:
                return f"pool_row({p}, {i}) is not the row that window {p} reads"
    return None


def _fc_case():
    rng = _rng()
    a, w, b = rng.normal(size=(3, 6)), rng.normal(size=(4, 6)), rng.normal(size=4)
    _, fc_cache = layers.fc_forward(a, w, b)
    delta = rng.normal(size=(3, 4))
    return a, w, delta, layers.fc_backward(delta, fc_cache)


def _probe_delta_relu(delta_relu) -> str | None:
    _, w, delta, (da, _, _) = _fc_case()
    return _compare("delta_relu(delta_fc2, w_fc2)", delta_relu(delta, w), da)


def _probe_dw_fc1(dw_fc1) -> str | None:
    a, _, delta, (_, dw, _) = _fc_case()
    return _compare("dw_fc1(z_flat, delta_fc1)", dw_fc1(a, delta), dw)


def _equal_error_guesses() -> list[float]:
    """All lam with relerr(c = lam d on 4 entries, d on 1) = 1/sqrt(3), by bracketing roots.

    The error measure is the book's own ``relative_error``; the roots are found numerically on
    [-20, 20] (the measure tends to 1/2 as |lam| grows, so no root lies further out), rounded
    to 6 decimals.
    """
    from scipy.optimize import brentq

    d = np.array([1.0, 0.0, 0.0, 0.0])

    def gap(lam: float) -> float:
        return relative_error(np.full(4, lam), d) - 1 / np.sqrt(3)

    grid = np.linspace(-20, 20, 40_001)
    values = np.array([gap(lam) for lam in grid])
    roots = {round(float(grid[i]), 6) for i in np.flatnonzero(values == 0)}
    for i in np.flatnonzero(values[:-1] * values[1:] < 0):
        roots.add(round(brentq(gap, grid[i], grid[i + 1], xtol=1e-12), 6))
    return sorted(roots)


def _probe_db_fc2(db_fc2) -> str | None:
    rng = _rng()
    labels = np.array([2, 0, 1, 2])
    y = layers.softmax(rng.normal(size=(4, 3)))
    want = layers.softmax_cross_entropy_backward(y, labels).sum(axis=0)
    return _compare("db_fc2(y, t)", db_fc2(y, layers.one_hot(labels, 3)), want)


# ---------------------------------------------------------------- the table

def _referees_of_general_dx() -> list:
    from mnist_cnn.book import ledger

    return sorted({c.source for c in ledger.checks_for("4.14", "independent")
                   if "S = 2" in c.label})


def _chapter_3_kinds() -> tuple:
    from mnist_cnn.book import ledger

    counts = ledger.summary(c for c in ledger.CHECKS if c.notebook == 3 and c.where == "book")
    return counts["independent"], counts["consistency"]


EXERCISES: dict[str, Exercise] = {
    "0.1": Exercise("(shape of z_conv, shape of z_pool, parameters of fc1) with P = 2",
                    lambda: (_trace(P=2)["conv"].shape, _trace(P=2)["pool"].shape,
                             _trace(P=2)["fc1"].parameters)),
    "0.2": Exercise("(H_c, True/False: do the 2x2 pooling windows tile the conv output) with S = 2",
                    lambda: (output_size(28, 5, 2), output_size(output_size(28, 5, 2), 2, 2) * 2
                             == output_size(28, 5, 2))),
    "0.3": Exercise("(conv parameters, length of the flattened vector) for 3 x 32 x 32 input",
                    lambda: (_trace(C_in=3, H=32)["conv"].parameters,
                             _trace(C_in=3, H=32)["reshape"].shape[1])),
    "1.1": Exercise("(H_c, H_p, D_0, [names of the layers whose parameter count changes])",
                    lambda: (_trace(P=2)["conv"].shape[2], _trace(P=2)["pool"].shape[2],
                             _trace(P=2)["reshape"].shape[1],
                             [name for name, row in _trace(P=2).items()
                              if row.parameters != _trace()[name].parameters])),
    "1.2": Exercise("(H_c, [1-based rows of the image that no window reads]) with S = 2",
                    lambda: (output_size(28, 5, 2), sorted(set(range(1, 29))
                                                           - _rows_read(28, 5, 2)))),
    "1.3": Exercise("(shape of w_conv, shape of z_conv, shape of z_flat, conv parameters)",
                    lambda: (_trace(C_in=3, H=32)["conv"].shape[1:2]
                             + _trace(C_in=3, H=32)["input"].shape[1:2] + (5, 5),
                             _trace(C_in=3, H=32)["conv"].shape,
                             _trace(C_in=3, H=32)["reshape"].shape,
                             _trace(C_in=3, H=32)["conv"].parameters)),
    "1.4": Exercise("(multiplications of the conv, multiplications of fc1) for the batch of 64",
                    _multiplications),
    "2.1": Exercise("(shape of X_c, shape of W_c, shape of Z) for one image, S = 2, P = 2",
                    lambda: _product_shapes(im2col_per_channel(np.zeros((1, 1, 28, 28)), 5, 2,
                                                               2)[0, 0], filters=20)),
    "2.2": Exercise("copies: a 28 x 28 array, copies[u, v] = number of columns of X_c that hold "
                    "pixel (u, v)", _copies_per_pixel),
    "2.3": Exercise("(H_p, number of rows the reshape form must crop first) for a 25 x 25 map",
                    lambda: (output_size(25, 2, 2), 25 - 2 * output_size(25, 2, 2))),
    "2.4": Exercise("a function fc1_entry(z_flat, w_fc1, b_fc1, n, h) -> entry (n, h) of "
                    "Eq. (1.8) as an explicit sum over r", probe=_probe_fc1_entry),
    "3.1": Exercise("(shape of X_col, shape of W_mat, shape of Z) for one 3 x 32 x 32 image, "
                    "6 filters 5 x 5",
                    lambda: _product_shapes(im2col(np.zeros((1, 3, 32, 32)), 5)[0], filters=6)),
    "3.2": Exercise("a function to_ijc(X_col, C_in, K) -> the rows of X_col in the (i, j, c) "
                    "order of w.transpose(0, 2, 3, 1)", probe=_probe_to_ijc),
    "3.3": Exercise("(shape of X_wide, shape of W_mat @ X_wide) for conv 2 on the batch of 64",
                    lambda: _product_shapes(np.hstack(list(im2col(np.zeros((64, 20, 12, 12)), 5))),
                                            filters=50)[::2]),
    "3.4": Exercise("a function conv1x1(x, w) -> the 1 x 1 convolution of x [N, C_in, H, W] with "
                    "w [C_out, C_in], computed as a fully connected layer per pixel",
                    probe=_probe_conv1x1),
    "4.1": Exercise("a function dw_stride2(x, delta, K) -> dL/dw_conv for S = 2, as a "
                    "correlation of x with the dilated delta", probe=_probe_dw_stride2),
    "4.2": Exercise("a function dx_padding1(delta, w) -> dL/dx for P = 1 (S = 1)",
                    probe=_probe_dx_padding1),
    "4.3": Exercise("((row, column) 1-based that receives the delta, {names among 'dx', "
                    "'dw_conv', 'db_conv' that change under the last-max rule on MNIST})",
                    lambda: (_tie_winner(), _changed_by_last_max_rule())),
    "4.4": Exercise("a function loss(y, labels) -> the loss whose delta with respect to the "
                    "logits is exactly y - t", probe=_probe_summed_loss),
    "5.1": Exercise("a function long_run_rate(eta, mu) -> the plain SGD rate that makes the same "
                    "step in the long run", probe=_probe_long_run_rate),
    "5.2": Exercise("a function penalised_gradient(g, w, lam) -> the gradient of "
                    "L + lam/2 ||w||^2 given g = dL/dw", probe=_probe_penalised_gradient),
    "5.3": Exercise("(% of the 10,000 digits that lose ink, % of all their ink lost), rounded "
                    "to 0.1 and 0.01", _ink_lost, tolerance=0.051),
    "5.4": Exercise("a function mean_rate(T, eta_0) -> the mean of the rates (5.2) over T steps, "
                    "no warm-up", probe=_probe_mean_rate),
    "6.1": Exercise("a function pool_row(p, i) -> the 1-based row of z_conv that window p reads "
                    "at offset i (K_p = S_p = 2)", probe=_probe_pool_row),
    "6.2": Exercise("a function delta_relu(delta_fc2, w_fc2) -> the corrected matrix form",
                    probe=_probe_delta_relu),
    "6.3": Exercise("a function db_fc2(y, t) -> the corrected gradient of the mean "
                    "cross-entropy with respect to b_fc2", probe=_probe_db_fc2),
    "6.4": Exercise("a function dw_fc1(z_flat, delta_fc1) -> the corrected gradient, shaped "
                    "like w_fc1", probe=_probe_dw_fc1),
    "6.5": Exercise("the sorted list of every lam (c = lam d) whose guess has relative error "
                    "1/sqrt(3), each rounded to 6 decimals", _equal_error_guesses),
    "7.1": Exercise("the sorted list of the referees (ledger sources) of the independent checks "
                    "of Eq. (4.14) with S = 2, P = 1", _referees_of_general_dx),
    "7.2": Exercise("(independent, consistency): how many checks of each kind chapter 3 records",
                    _chapter_3_kinds),
}


def _normalise(value):
    """Tuples and arrays as nested tuples, lists and sets as sorted tuples, numbers as such."""
    if isinstance(value, set | frozenset | list):
        return ("set", tuple(sorted(_normalise(v) for v in value)))
    if isinstance(value, np.ndarray):
        return ("array", value.shape, tuple(value.ravel().tolist()))
    if isinstance(value, tuple):
        return tuple(_normalise(v) for v in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _mismatch(answer, reference, tolerance: float) -> str | None:
    """What differs between the answer and the reference, without saying what the reference is."""
    if isinstance(reference, tuple):
        if not isinstance(answer, tuple | list) or len(answer) != len(reference):
            return f"expected a tuple of {len(reference)} entries"
        for position, (a, r) in enumerate(zip(answer, reference, strict=True), start=1):
            if _mismatch(a, r, tolerance) is not None:
                return f"entry {position} of {len(reference)} is not right"
        return None
    if isinstance(reference, float | np.floating) and tolerance:
        ok = isinstance(answer, int | float | np.number) and abs(answer - reference) <= tolerance
        return None if ok else "the number is not right"
    if isinstance(reference, np.ndarray):
        answer = np.asarray(answer)
        if answer.shape != reference.shape:
            return f"expected an array of shape {reference.shape}"
    if _normalise(answer) != _normalise(reference):
        return "not right"
    return None


def verdict(exercise: str, answer) -> str | None:
    """What is wrong with an answer, or None if it passes.

    Parameters
    ----------
    exercise : str
        ``"chapter.number"``, a key of ``EXERCISES``.
    answer : object
        The student's answer, in the form ``EXERCISES[exercise].form``.

    Returns
    -------
    str or None
        A short reason that never contains the reference answer; None when it passes.
    """
    if exercise not in EXERCISES:
        raise KeyError(f"no exercise {exercise!r}; expected one of {', '.join(EXERCISES)}")
    entry = EXERCISES[exercise]
    if answer is Ellipsis or answer is None:
        return "no answer yet: replace the ... with yours"
    if entry.probe is not None:
        if not callable(answer):
            return "expected a function"
        try:
            return entry.probe(answer)
        except Exception as error:  # the student's function failed: say how, not the answer
            return f"your function raised {type(error).__name__}: {error}"
    return _mismatch(answer, entry.reference(), entry.tolerance)


def check(exercise: str, answer) -> bool:
    """Check an answer to an exercise and print ``Exercise n.m: PASS`` or ``FAIL (reason)``.

    Parameters
    ----------
    exercise : str
        ``"chapter.number"``, e.g. ``"1.2"``.
    answer : object
        The answer, in the form the exercise asks for (``EXERCISES[exercise].form``).

    Returns
    -------
    bool
        True when the answer passes.
    """
    reason = verdict(exercise, answer)
    print(f"Exercise {exercise}: " + ("PASS" if reason is None else f"FAIL ({reason})"))
    return reason is None
