"""The equation ledger: every numbered equation of chapters 0-5 and the checks behind it.

What this is: one registry, read by three readers. Each chapter's
:class:`~mnist_cnn.book.chapter.Verification` looks up every check it records
here (by equation and label) and prints the check's *kind* and *referee* in its
table; ``tests/test_ledger.py`` fails when a ``\\tag``-ged equation of a notebook
has no independent check, or when a check called independent is an identity;
the appendix of the book prints the whole ledger.

What a check is
---------------
A :class:`Check` compares the *tested* code (the implementation of the equation)
with a *referee*. Its kind is one of

* ``independent`` -- the referee does not share the formula under test: the
  loop reference for a vector form (or a numpy one-liner for the loops), scipy,
  centred finite differences, exact sympy, a hand computation;
* ``consistency`` -- the same computation reached another way (both sides call
  the same helper, or one restates the other's line). Kept only where it
  teaches something, and never counted as verification;
* ``negative`` -- a deliberately wrong formula that must be far from the
  referee: evidence that the check *can* fail, not a verification;
* ``result`` -- a measured outcome (an accuracy), not an equation check;
* ``transcription`` -- the typeset equation against the package
  (``mnist_cnn.book.equations``): it shows that the LaTeX the reader reads says what
  the code computes, not that the mathematics is right.

Identities are caught mechanically: ``tested`` and ``referee`` hold the objects each
side calls -- package functions (``layers.conv_forward``), library functions
(``scipy.signal.correlate2d``) or :class:`Written` code of the chapter's cell -- and
:func:`shares_code` says whether one side's call graph reaches the other's or both
reach a common implementation function. An ``independent`` check that shares code,
or that leaves a side undeclared, is a test failure. A check that covers a range of
equations names in ``not_for`` those it does not verify.

The entries are keyed by objects: a renamed function fails at import, and a check
label that no chapter records (or a recorded label the ledger lacks) fails
``tests/test_ledger.py`` or the chapter's own run -- never silently.

What this is not: the checks themselves. They run where they are made (the
chapters' cells, ``tests/``); the ledger says what each one compares.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np
import scipy.signal

from mnist_cnn import architecture
from mnist_cnn.reference import im2col, layers, loops, network, optim, transposed
from mnist_cnn.train import loop, metrics
from mnist_cnn.verify import gradcheck, symbolic

__all__ = [
    "CHECKS",
    "EQUATIONS",
    "KINDS",
    "SOURCES",
    "Check",
    "call_closure",
    "checks_for",
    "equations_of",
    "find",
    "format_ledger",
    "Written",
    "name_of",
    "shares_code",
    "summary",
    "typeset_checks",
]

KINDS = ("independent", "consistency", "negative", "result", "transcription")
#: Referees that do not share a formula with the code under test.
SOURCES = ("loops", "numpy", "scipy", "finite differences", "sympy", "by hand", "typeset form",
           "same computation", "wrong formula", "measurement")
INDEPENDENT_SOURCES = ("loops", "numpy", "scipy", "finite differences", "sympy", "by hand")

#: Every numbered equation of chapters 0-5 and what it states (CONTRIBUTING.md's table).
EQUATIONS: dict[str, str] = {
    "0.1": "output size floor((H_in - K + 2P)/S) + 1",
    "0.2": "parameter counts C_out(C_in K^2 + 1), D_out(D_in + 1)",
    "1.1": "input tensor x in R^{N x C_in x H_in x W_in} and its entries",
    "1.2": "zero padding x~",
    "1.3": "convolution (cross-correlation) in index form",
    "1.4": "conv output size",
    "1.5": "max-pooling in index form",
    "1.6": "flatten index r(o, p, q)",
    "1.7": "its inverse (o, p, q)(r)",
    "1.8": "fc1",
    "1.9": "ReLU",
    "1.10": "fc2",
    "1.11": "softmax",
    "1.12": "softmax shifted by the row maximum",
    "2.1": "per-channel im2col matrix X_c",
    "2.2": "per-channel filter matrix F_c",
    "2.3": "conv as sum_c F_c X_c + b 1^T",
    "2.4": "the batched layout",
    "2.5": "max-pool as reshape + max",
    "2.6": "max-pool as im2col + max",
    "2.7": "fully connected Z = A W^T + 1 b^T",
    "2.8": "ReLU and softmax in matrix form",
    "3.1": "channel-parallel im2col X_col",
    "3.2": "weight matrix W_mat",
    "3.3": "conv as one product W_mat X_col + b 1^T",
    "4.1": "cross-entropy averaged over the batch",
    "4.2": "softmax Jacobian",
    "4.3": "delta_fc2 = (y - t)/N",
    "4.4": "the squared-error delta",
    "4.5": "fc2 gradients",
    "4.6": "delta_relu",
    "4.7": "delta_fc1 (ReLU derivative)",
    "4.8": "fc1 gradients",
    "4.9": "delta_flat",
    "4.10": "delta_pool through the inverse flatten index",
    "4.11": "max-pool routing to the first argmax",
    "4.12": "dL/dw_conv",
    "4.13": "dL/db_conv",
    "4.14": "dL/dx: dilate, full-correlate with the flipped kernel, crop",
    "4.15": "the same in im2col form, col2im",
    "5.1": "SGD with momentum and weight decay",
    "5.2": "learning rate: warm-up, cosine decay",
    "5.3": "random shifts of the training images",
    "5.4": "accuracy",
    "5.5": "confusion matrix",
}


@dataclass(frozen=True)
class Check:
    """One check of one equation (or a range, ``"(4.3)-(4.15)"``).

    Attributes
    ----------
    equation : str
        ``"(2.1)"`` or a range ``"(1.1)-(1.12)"``, as printed in the chapter's table.
    label : str
        The check's name in the table; ``{name}`` stands for one word filled in
        by a loop (``"{name}: loops vs vectorised (all entries)"``).
    kind : str
        One of :data:`KINDS`.
    source : str
        What the referee is, one of :data:`SOURCES`.
    tested : tuple
        The side under test: package functions (objects, e.g. ``im2col.im2col``), or
        :class:`Written` for code written in the chapter's cell.
    referee : tuple
        The referee side: package functions, library functions (``scipy.signal.correlate2d``,
        ``np.pad``), or :class:`Written` (a loop or a hand value in the cell).
    where : str
        ``"book"`` (recorded in a chapter's verification table) or a pytest
        node id such as ``"tests/test_architecture.py::test_output_size..."``.
    recorded_in : int, optional
        The chapter that records a book check, if not the equation's own
        (chapter 3 re-checks Eq. (2.4) on its second conv).
    not_for : tuple of str
        Equations inside the range that the check does not verify (a check of the
        cross-entropy gradients over (4.3)-(4.15) says nothing about the squared-error
        delta (4.4)).
    """

    equation: str
    label: str
    kind: str
    source: str
    tested: tuple = ()
    referee: tuple = ()
    where: str = "book"
    recorded_in: int | None = None
    not_for: tuple[str, ...] = ()

    @property
    def chapter(self) -> int:
        """The chapter whose numbering the equation uses."""
        return int(self.equation.strip("()").split(".")[0])

    @property
    def notebook(self) -> int:
        """The chapter whose notebook makes the check (for a book check)."""
        return self.chapter if self.recorded_in is None else self.recorded_in

    def matches(self, equation: str, label: str) -> bool:
        """Whether a recorded ``(equation, label)`` is this check (``{name}`` matches one word)."""
        if equation != self.equation:
            return False
        pattern = re.escape(self.label).replace(r"\{name\}", r"[\w.]+")
        return re.fullmatch(pattern, label) is not None


@dataclass(frozen=True)
class Written:
    """A side written out in the chapter's own cell, not a package function: what it computes.

    Declaring it is what makes the side visible: an independent check must name both of
    its sides (package functions, library functions or ``Written`` code), so that the rule
    "the two sides share no formula" is tested for every one of them.
    """

    formula: str

    def __str__(self) -> str:
        return f"written: {self.formula}"


def _c(equation, label, kind, source, tested=(), referee=(), where="book", recorded_in=None,
       not_for=()) -> Check:
    return Check(equation, label, kind, source, tuple(tested), tuple(referee), where,
                 recorded_in, tuple(not_for))


#: Checks of the cross-entropy's gradients over a range of equations verify nothing about the
#: squared-error delta (4.4): only a check that involves that loss is credited to it.
_CROSS_ENTROPY_ONLY = ("4.4",)


IND, CON, NEG, RES, TRANSCRIPTION = KINDS
_FD_TABLE = "{name} vs finite differences (sampled entries)"

#: The ledger. One line per check; the order is the book's.
CHECKS: tuple[Check, ...] = (
    # chapter 0 ---------------------------------------------------------------------------
    _c("(0.1)", "output_size vs counting the window positions", IND, "by hand",
       (architecture.output_size,), (Written("window starts counted one by one"),),
       "tests/test_architecture.py::test_output_size_counts_the_window_positions"),
    _c("(0.2)", "parameter counts vs the hand-counted seed network", IND, "by hand",
       (architecture.shape_trace,), (Written("the seed network counted by hand"),),
       "tests/test_architecture.py::test_seed_network_shapes_and_parameters"),
    # chapter 1 ---------------------------------------------------------------------------
    _c("(1.1)", "x_{n,c,m,l} vs the flat C-order buffer", IND, "by hand",
       (Written("x[n, c, m, l] entry by entry"),),
       (Written("offset ((n C_in + c) H_in + m) W_in + l of x.ravel()"),)),
    _c("(1.2)", "pad_loops, P = 2, vs np.pad", IND, "numpy", (loops.pad_loops,), (np.pad,)),
    _c("(1.2)", "pad_loops, P = 0 (the seed), vs x", IND, "by hand", (loops.pad_loops,),
       (Written("x itself: P = 0 adds no border"),)),
    _c("(1.3)", "conv loops vs scipy correlate2d", IND, "scipy", (loops.conv_forward_loops,),
       (scipy.signal.correlate2d,)),
    _c("(1.3)", "conv loops vs layers.conv_forward", IND, "loops", (layers.conv_forward,),
       (loops.conv_forward_loops,)),
    _c("(1.3)", "conv loops, C_in=3, 9x7, S=2, P=1, vs scipy", IND, "scipy",
       (loops.conv_forward_loops,), (scipy.signal.correlate2d,)),
    _c("(1.4)", "H_c, W_c vs counting window positions, S = 2, P = 1", IND, "by hand",
       (architecture.output_size,), (Written("window starts counted one by one"),)),
    _c("(1.5)", "max-pool loops vs reshape + max", IND, "numpy", (loops.maxpool_forward_loops,),
       (Written("z.reshape(N, C, H_p, K_p, W_p, K_p).max(axis=(3, 5))"),)),
    _c("(1.5)", "max-pool loops vs layers.maxpool_forward", IND, "loops",
       (layers.maxpool_forward,), (loops.maxpool_forward_loops,)),
    _c("(1.6)", "flatten loops vs z_pool.reshape(N, -1)", IND, "numpy", (loops.flatten_loops,),
       (Written("z_pool.reshape(N, -1)"),)),
    _c("(1.6)", "flatten loops vs layers.flatten_forward", IND, "loops", (layers.flatten_forward,),
       (loops.flatten_loops,)),
    _c("(1.7)", "unflatten_index vs np.unravel_index, every r", IND, "numpy",
       (loops.unflatten_index,), (np.unravel_index,)),
    _c("(1.8)", "fc1 loops vs a @ w.T + b", IND, "numpy", (loops.fc_forward_loops,),
       (Written("a @ w.T + b"),)),
    _c("(1.8)", "fc1 loops vs layers.fc_forward", IND, "loops", (layers.fc_forward,),
       (loops.fc_forward_loops,)),
    _c("(1.9)", "ReLU loops vs np.maximum(z, 0)", IND, "numpy", (loops.relu_forward_loops,),
       (np.maximum,)),
    _c("(1.9)", "ReLU loops vs layers.relu_forward", IND, "loops", (layers.relu_forward,),
       (loops.relu_forward_loops,)),
    _c("(1.10)", "fc2 loops vs a @ w.T + b", IND, "numpy", (loops.fc_forward_loops,),
       (Written("a @ w.T + b"),)),
    _c("(1.10)", "fc2 loops vs layers.fc_forward", IND, "loops", (layers.fc_forward,),
       (loops.fc_forward_loops,)),
    _c("(1.11)", "softmax loops vs exp(z) / sum exp(z)", IND, "numpy", (loops.softmax_loops,),
       (Written("exp(z) / exp(z).sum(axis=1)"),)),
    _c("(1.12)", "softmax loops vs layers.softmax", IND, "loops", (layers.softmax,),
       (loops.softmax_loops,)),
    _c("(1.11)", "rows of y sum to 1", CON, "same computation", (loops.softmax_loops,)),
    _c("(1.12)", "stable softmax(1000, 999, 998) vs exact", IND, "by hand", (loops.softmax_loops,),
       (Written("exp(0, -1, -2) / its sum, by hand"),)),
    _c("(1.1)-(1.12)", "whole forward pass: loops vs layers", IND, "loops",
       (layers.conv_forward, layers.maxpool_forward, layers.fc_forward, layers.softmax),
       (loops.conv_forward_loops, loops.maxpool_forward_loops, loops.fc_forward_loops,
        loops.softmax_loops)),
    # chapter 2 ---------------------------------------------------------------------------
    _c("(2.1)", "im2col_per_channel vs Eq. (2.1) entry by entry", IND, "loops",
       (im2col.im2col_per_channel,), (Written("X_c filled entry by entry, Eq. (2.1)"),)),
    _c("(2.1)", "im2col_per_channel, S = 2, P = 1, vs im2col_loops", IND, "loops",
       (im2col.im2col_per_channel,), (loops.im2col_loops,)),
    _c("(2.2)", "F_c = w[:, c].reshape(C_out, K*K) vs Eq. (2.2)", IND, "loops",
       (Written("w[:, c].reshape(C_out, K*K)"),),
       (Written("F_c filled entry by entry, Eq. (2.2)"),)),
    _c("(2.3)", "sum_c F_c X_c + b 1^T vs conv loops, one digit", IND, "loops",
       (im2col.im2col_per_channel,), (loops.conv_forward_loops,)),
    _c("(2.4)", "batched F_c X (N = 64) vs conv loops, first 2 digits", IND, "loops",
       (im2col.im2col_per_channel,), (loops.conv_forward_loops,)),
    _c("(2.4)", "batched F_c X vs layers.conv_forward_per_channel", CON, "same computation",
       (im2col.im2col_per_channel,), (layers.conv_forward_per_channel,)),
    _c("(2.4)", "wide layout [25 x 64*576] vs batched layout", CON, "same computation",
       (im2col.im2col_per_channel,), (im2col.im2col_per_channel,)),
    _c("(2.4)", "image 8 alone vs image 8 inside the batch", CON, "same computation",
       (layers.conv_forward,), (im2col.im2col_per_channel,)),
    _c("(2.5)", "reshape + max vs max-pool loops, first 2 digits", IND, "loops",
       (Written("z.reshape(N, C, H_p, K_p, W_p, K_p).max(axis=(3, 5))"),),
       (loops.maxpool_forward_loops,)),
    _c("(2.5)", "reshape + max vs layers.maxpool_forward", CON, "same computation", (),
       (layers.maxpool_forward,)),
    _c("(2.5)", "routing vs layers.maxpool_forward cache", CON, "same computation", (),
       (layers.maxpool_forward,)),
    _c("(2.5)", "routing mask vs maxpool_backward_loops(1), 2 digits", IND, "loops",
       (layers.maxpool_backward,), (loops.maxpool_backward_loops,)),
    _c("(2.6)", "im2col + column max vs max-pool loops, 2 digits", IND, "loops",
       (im2col.im2col_per_channel,), (loops.maxpool_forward_loops,)),
    _c("(2.6)", "im2col + column max vs reshape + max (2.5)", IND, "numpy",
       (im2col.im2col_per_channel,), (Written("z.reshape(...).max(axis=(3, 5)), Eq. (2.5)"),)),
    _c("(2.6)", "im2col routing vs reshape routing", IND, "numpy", (im2col.im2col_per_channel,),
       (Written("argmax of the reshaped windows, Eq. (2.5)"),)),
    _c("(2.6)", "im2col max-pool 3x3/2 vs loops, 2 digits", IND, "loops",
       (layers.maxpool_forward_im2col,), (loops.maxpool_forward_loops,)),
    _c("(2.7)", "fc1: Z W^T + 1 b^T vs fc loops, 2 digits", IND, "loops", (Written("Z @ W.T + b"),),
       (loops.fc_forward_loops,)),
    _c("(2.7)", "fc1 vs layers.fc_forward", CON, "same computation", (), (layers.fc_forward,)),
    _c("(2.8)", "ReLU elementwise vs relu loops, 2 digits", IND, "loops",
       (Written("np.maximum(Z, 0)"),), (loops.relu_forward_loops,)),
    _c("(2.7)", "fc2 vs fc loops, 2 digits", IND, "loops", (Written("Z @ W.T + b"),),
       (loops.fc_forward_loops,)),
    _c("(2.8)", "softmax row-wise vs softmax loops, 2 digits", IND, "loops",
       (Written("U / U.sum(axis=1), U = exp(Z - M)"),), (loops.softmax_loops,)),
    _c("(2.8)", "rows of Y sum to 1 (Y 1 = 1)", CON, "same computation"),
    _c("(2.1)-(2.8)", "matrix-form forward pass vs loops, 2 digits", IND, "loops",
       (im2col.im2col_per_channel,),
       (loops.fc_forward_loops, loops.relu_forward_loops, loops.softmax_loops)),
    # chapter 3 ---------------------------------------------------------------------------
    _c("(3.1)", "seed: X_col equals X_c (C_in = 1)", CON, "same computation", (im2col.im2col,),
       (im2col.im2col_per_channel,)),
    _c("(3.2)", "seed: W_mat equals F_1 (C_in = 1)", CON, "same computation"),
    _c("(3.3)", "seed: W_mat X_col vs sum_c F_c X_c (2.4)", CON, "same computation",
       (layers.conv_forward,), (layers.conv_forward_per_channel,)),
    _c("(3.3)", "seed: W_mat X_col vs conv loops, 2 digits", IND, "loops", (layers.conv_forward,),
       (loops.conv_forward_loops,)),
    _c("(3.1)", "X_col, C_in = 3, S = 2, P = 1, vs im2col_loops", IND, "loops", (im2col.im2col,),
       (loops.im2col_loops,)),
    _c("(3.2)", "W_mat, C_in = 3, vs Eq. (3.2) entry by entry", IND, "loops",
       (Written("w.reshape(C_out, -1)"),), (Written("W_mat filled entry by entry, Eq. (3.2)"),)),
    _c("(3.1)", "rows (c-1)K^2+1..cK^2 of X_col are X_c", CON, "same computation",
       (im2col.im2col,), (im2col.im2col_per_channel,)),
    _c("(3.2)", "columns (c-1)K^2+1..cK^2 of W_mat are F_c", CON, "same computation"),
    _c("(2.4)", "conv 2, (a) sum of 20 products vs loops, 2 digits", IND, "loops",
       (im2col.im2col_per_channel,), (loops.conv_forward_loops,), recorded_in=3),
    _c("(3.3)", "conv 2, (d) one product vs loops, 2 digits", IND, "loops", (im2col.im2col,),
       (loops.conv_forward_loops,)),
    _c("(3.3)", "conv 2, (d) vs (a), all 64 digits", CON, "same computation", (im2col.im2col,),
       (im2col.im2col_per_channel,)),
    _c("(3.3)", "conv 2, (d) vs layers.conv_forward", CON, "same computation", (im2col.im2col,),
       (layers.conv_forward,)),
    _c("(2.4)", "conv 2, (a) vs layers.conv_forward_per_channel", CON, "same computation",
       (im2col.im2col_per_channel,), (layers.conv_forward_per_channel,), recorded_in=3),
    _c("(3.3)", "conv 2, tensordot form vs loops, 2 digits", IND, "loops",
       (layers.conv_forward_einsum,), (loops.conv_forward_loops,)),
    # chapter 4 ---------------------------------------------------------------------------
    _c("(4.1)", "L: loops vs vectorised", IND, "loops", (layers.cross_entropy,),
       (loops.cross_entropy_loops,)),
    _c("(4.1)", "L vs -(1/N) sum_n sum_k t log y (numpy)", IND, "numpy", (layers.cross_entropy,),
       (Written("-sum(t * log(y)) / N"),)),
    _c("(4.2)", "softmax Jacobian vs finite differences", IND, "finite differences",
       (Written("diag(y) - outer(y, y)"),), (gradcheck.numerical_gradient, layers.softmax)),
    _c("(4.2)", "diagonal only (softmax' elementwise) is detected", NEG, "wrong formula"),
    _c("(4.3)", "delta_fc2: loops vs vectorised", IND, "loops",
       (layers.softmax_cross_entropy_backward,), (loops.softmax_cross_entropy_backward_loops,)),
    _c("(4.3)", "delta_fc2 = (y - t)/N vs finite differences", IND, "finite differences",
       (Written("(y - t) / N"),),
       (gradcheck.numerical_gradient, layers.cross_entropy, layers.softmax)),
    _c("(4.3)", "y - t without 1/N is detected", NEG, "wrong formula"),
    _c("(4.4)", "squared-error delta (4.4) vs finite differences", IND, "finite differences",
       (Written("y ((y - t) - sum((y - t) y)) / N"),),
       (gradcheck.numerical_gradient, layers.softmax)),
    _c("(4.4)", "(y - t)/N as the squared-error delta is detected", NEG, "wrong formula"),
    _c("(4.4)", "elementwise (y - t) y (1 - y)/N is detected", NEG, "wrong formula"),
    _c("(4.5)", "dw_fc2: loops vs vectorised", IND, "loops", (layers.fc_backward,),
       (loops.fc_backward_loops,)),
    _c("(4.5)", "db_fc2: loops vs vectorised", IND, "loops", (layers.fc_backward,),
       (loops.fc_backward_loops,)),
    _c("(4.6)", "delta_relu: loops vs vectorised", IND, "loops", (layers.fc_backward,),
       (loops.fc_backward_loops,)),
    _c("(4.7)", "delta_fc1: loops vs vectorised", IND, "loops", (layers.relu_backward,),
       (loops.relu_backward_loops,)),
    _c("(4.7)", "delta_fc1 = delta_relu where z_fc1 > 0", CON, "same computation",
       (layers.relu_backward,)),
    _c("(4.8)", "dw_fc1: loops vs vectorised", IND, "loops", (layers.fc_backward,),
       (loops.fc_backward_loops,)),
    _c("(4.8)", "db_fc1: loops vs vectorised", IND, "loops", (layers.fc_backward,),
       (loops.fc_backward_loops,)),
    _c("(4.9)", "delta_flat: loops vs vectorised", IND, "loops", (layers.fc_backward,),
       (loops.fc_backward_loops,)),
    _c("(4.10)", "delta_pool: loops vs vectorised", IND, "loops", (layers.flatten_backward,),
       (loops.unflatten_loops,)),
    _c("(4.10)", "delta_pool at (o,p,q)(r) of Eq. (1.7) = delta_flat", IND, "loops",
       (layers.flatten_backward,), (loops.unflatten_index,)),
    _c("(4.11)", "delta_conv: loops vs vectorised", IND, "loops", (layers.maxpool_backward,),
       (loops.maxpool_backward_loops,)),
    _c("(4.11)", "delta_conv at the first argmax = delta_pool", IND, "numpy",
       (layers.maxpool_backward,), (np.lib.stride_tricks.sliding_window_view,)),
    _c("(4.12)", "dw_conv: loops vs vectorised", IND, "loops", (layers.conv_backward,),
       (loops.conv_backward_loops,)),
    _c("(4.13)", "db_conv: loops vs vectorised", IND, "loops", (layers.conv_backward,),
       (loops.conv_backward_loops,)),
    _c("(4.12)", "dw_conv = sum_n correlate(x, delta_conv, 'valid')", IND, "scipy",
       (layers.conv_backward,), (scipy.signal.correlate,)),
    _c("(4.13)", "db_conv = sum over n, m, l of delta_conv", CON, "same computation",
       (layers.conv_backward,)),
    _c("(4.13)", "db_conv without the sums (one n, m, l) is detected", NEG, "wrong formula"),
    _c("(4.13)", "db_conv summed over m, l but not n is detected", NEG, "wrong formula"),
    _c("(4.14)", "dx: loops vs vectorised", IND, "loops", (layers.conv_backward,),
       (loops.conv_backward_loops,)),
    _c("(4.14)", "dx = sum_o correlate(delta, flipped w, 'full')", IND, "scipy",
       (layers.conv_backward,), (scipy.signal.correlate,)),
    _c("(4.14)", "closed form, C_in = 2, S = 2, P = 1, vs loops", IND, "loops",
       (transposed.conv_dx_closed_form,), (loops.conv_backward_loops,)),
    _c("(4.14)", "closed form, C_in = 2, S = 2, P = 1, vs finite differences", IND,
       "finite differences", (transposed.conv_dx_closed_form,), (loops.conv_forward_loops,)),
    _c("(4.14)", "adjoint: <conv(v), delta> = <v, dx>, S = 2, P = 1", IND, "loops",
       (transposed.conv_dx_closed_form,), (loops.conv_forward_loops,)),
    _c("(4.15)", "dW = sum_n Delta X_col^T vs loops (4.12)", IND, "loops", (im2col.im2col,),
       (loops.conv_backward_loops,)),
    _c("(4.15)", "db = sum_n Delta 1 vs loops (4.13)", IND, "loops",
       (Written("sum_n Delta[n] @ ones"),), (loops.conv_backward_loops,)),
    _c("(4.15)", "col2im(W_mat^T Delta) vs loops (4.14)", IND, "loops", (im2col.col2im,),
       (loops.conv_backward_loops,)),
    _c("(4.3)-(4.15)", "{name}: loops vs vectorised (all entries)", IND, "loops",
       (network.loss_and_grads,), (network.loss_and_grads_loops,), not_for=_CROSS_ENTROPY_ONLY),
    _c("(4.5)", _FD_TABLE, IND, "finite differences", (layers.fc_backward,), (network.loss_only,)),
    _c("(4.8)", _FD_TABLE, IND, "finite differences", (layers.fc_backward,), (network.loss_only,)),
    _c("(4.12)", _FD_TABLE, IND, "finite differences", (layers.conv_backward,),
       (network.loss_only,)),
    _c("(4.13)", _FD_TABLE, IND, "finite differences", (layers.conv_backward,),
       (network.loss_only,)),
    _c("(4.3)-(4.13)", "sympy: delta rule - diff, {name}", IND, "sympy",
       (symbolic.delta_rule_gradients,), (symbolic.autodiff_gradients,),
       not_for=_CROSS_ENTROPY_ONLY),
    _c("(4.3)-(4.13)", "sympy, C_in = 2, S = 2, P = 1: delta rule - diff, {name}", IND, "sympy",
       (symbolic.delta_rule_gradients,), (symbolic.autodiff_gradients,),
       not_for=_CROSS_ENTROPY_ONLY),
    _c("(4.3)", "sympy: y - t without 1/N is detected", NEG, "wrong formula"),
    _c("(4.13)", "sympy: bias without sums is detected", NEG, "wrong formula"),
    _c("(4.5)-(4.13)", "exact (sympy) vs float64 network, {name}", IND, "sympy",
       (network.loss_and_grads,), (symbolic.autodiff_gradients,)),
    # chapter 5 ---------------------------------------------------------------------------
    _c("(4.12)-(4.15)", "need_dx=False: gradients identical to chapter 4", CON,
       "same computation", (layers.conv_backward,), (layers.conv_backward,), recorded_in=5),
    _c("(5.1)-(5.3)", "same seed twice: identical weights after 30 steps", CON,
       "same computation", (loop.train,), (loop.train,)),
    _c("(5.1)", "SGDMomentum, 3 steps, vs the formula (float64)", IND, "numpy",
       (optim.SGDMomentum,), (Written("nu = mu nu + (g + lambda w); w = w - eta nu"),)),
    _c("(5.1)", "its velocity vs the formula", IND, "numpy", (optim.SGDMomentum,),
       (Written("nu = mu nu + (g + lambda w)"),)),
    _c("(5.2)", "learning_rate(t) vs the cosine formula, every step", IND, "numpy",
       (optim.learning_rate,), (Written("eta_0/2 (1 + cos(pi t / T))"),)),
    _c("(5.2)", "warm-up: linear up to eta_0 at step T_w", IND, "numpy", (optim.learning_rate,),
       (Written("eta_0 (t + 1) / T_w"),)),
    _c("(5.3)", "shift_images vs a loop over Eq. (5.3), 16 digits", IND, "loops",
       (loop.shift_images,), (Written("a loop over Eq. (5.3)"),)),
    _c("(5.4)", "accuracy() vs counting hits in a loop, 500 images", IND, "loops",
       (metrics.accuracy,), (Written("hits counted in a loop"),)),
    _c("(5.4)", "validation accuracy after {name} epochs (%)", RES, "measurement"),
    _c("(5.4)", "test accuracy after {name} epochs (%)", RES, "measurement"),
    _c("(5.5)", "trace(C)/N vs the accuracy of evaluate()", IND, "numpy",
       (metrics.confusion_matrix,), (metrics.accuracy,)),
    _c("(5.5)", "row sums of C vs the class counts", IND, "numpy", (metrics.confusion_matrix,),
       (np.bincount,)),
    _c("(5.5)", "every class: fraction recognised (%)", RES, "measurement"),
)

#: Modules whose functions are plumbing, shared by every path: checks at the door, files, and
#: the sizes of Eq. (0.1) (one source of sizes by design; sharing a size is not sharing a formula).
_PLUMBING = ("mnist_cnn.validate", "mnist_cnn.tools", "mnist_cnn.architecture")
_SIZE_HELPERS = ("conv_output_hw",)


def name_of(side) -> str:
    """A short name for a side's entry: ``layers.conv_forward``, ``np.pad``, ``written: ...``."""
    if isinstance(side, Written):
        return str(side)
    function = inspect.unwrap(side)
    module = getattr(function, "__module__", "") or ""
    short = ("np" if module.startswith("numpy") else
             "scipy.signal" if module.startswith("scipy.signal") else module.rsplit(".", 1)[-1])
    return f"{short}.{function.__qualname__}"


def _implementation(obj):
    obj = inspect.unwrap(obj)
    return obj.__init__ if inspect.isclass(obj) else obj


@cache
def _calls(function) -> frozenset:
    """The package functions ``function`` refers to directly (by name or ``module.name``)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError):
        return frozenset()
    scope = getattr(function, "__globals__", {})
    found = set()
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.Name):
            target = scope.get(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner = scope.get(node.value.id)
            if inspect.ismodule(owner):
                target = getattr(owner, node.attr, None)
        if (not inspect.isfunction(target) or target.__name__ in _SIZE_HELPERS
                or target.__name__.startswith("_check")):
            continue  # classes here are containers (caches, problems), not formulas
        if target.__module__.startswith("mnist_cnn") and not target.__module__.startswith(
                _PLUMBING):
            found.add(_implementation(target))
    found.discard(function)
    return frozenset(found)


def call_closure(side: Iterable) -> frozenset:
    """Every package function reachable from a side (itself included), plumbing excluded.

    Library functions and :class:`Written` code reach no package function.
    """
    todo = [_implementation(f) for f in side if not isinstance(f, Written)
            and (getattr(inspect.unwrap(f), "__module__", "") or "").startswith("mnist_cnn")]
    seen: set = set()
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(_calls(f))
    return frozenset(seen)


def shares_code(check: Check) -> bool:
    """Whether the two sides of ``check`` reach a common package function (an identity risk).

    A side that is not declared counts as shared: the rule cannot be tested for it.
    """
    if not check.tested or not check.referee:
        return True
    return bool(call_closure(check.tested) & call_closure(check.referee))


def equations_of(equation: str) -> list[str]:
    """``"(4.3)-(4.6)"`` -> ``["4.3", "4.4", "4.5", "4.6"]``; ``"(2.1)"`` -> ``["2.1"]``."""
    ends = re.findall(r"(\d+)\.(\d+)", equation)
    if len(ends) == 1:
        return [f"{ends[0][0]}.{ends[0][1]}"]
    (c1, a), (c2, b) = ends
    assert c1 == c2, f"a range stays inside one chapter: {equation}"
    return [f"{c1}.{k}" for k in range(int(a), int(b) + 1)]


def find(equation: str, label: str) -> Check | None:
    """The ledger entry of a recorded check, or ``None``."""
    return next((c for c in CHECKS if c.matches(equation, label)), None)


def checks_for(tag: str, kind: str | None = None) -> list[Check]:
    """The checks that cover equation ``tag`` (``"4.14"``), ranges included (less ``not_for``)."""
    return [c for c in CHECKS if tag in equations_of(c.equation) and tag not in c.not_for
            and (kind is None or c.kind == kind)]


def summary(checks: Iterable[Check] = CHECKS) -> dict[str, int]:
    """How many checks of each kind."""
    checks = list(checks)
    return {kind: sum(c.kind == kind for c in checks) for kind in KINDS}


def typeset_checks(results) -> list[Check]:
    """A transcription check per equation ``mnist_cnn.book.equations`` checked from its typeset
    form: the LaTeX the reader reads says what the package computes. It is its own kind, not
    an independent check: it shows the text matches the code, not that the mathematics is right.

    Parameters
    ----------
    results : mapping of str to Result or dict
        Tag -> result, from ``mnist_cnn.book.equations.check.typeset_results`` or the JSON of
        ``python -m mnist_cnn.book.equations check --json``; only ``status == "ok"`` counts.

    Returns
    -------
    list of Check
        ``Check("(1.3)", "typeset LaTeX vs the package ...", "transcription", "typeset form")``.
    """
    checks = []
    for tag, result in results.items():
        status = result["status"] if isinstance(result, dict) else result.status
        if status == "ok" and tag in EQUATIONS:
            checks.append(Check(f"({tag})", "typeset LaTeX vs the package (book.equations)",
                                "transcription", "typeset form",
                                where="python -m mnist_cnn.book.equations check"))
    return checks


def format_ledger(chapters: Iterable[int] = range(6), width: int = 88, typeset=None) -> str:
    """The ledger as text, lines of at most ``width`` characters.

    Per equation: its checks with kind, referee and label; a check run by the
    test suite rather than a chapter gets a second line naming the test file.

    Parameters
    ----------
    chapters : iterable of int
    width : int
    typeset : mapping, optional
        Results of ``mnist_cnn.book.equations`` (see :func:`typeset_checks`): the equations
        checked from their typeset form get that check too.
    """
    chapters = set(chapters)
    extra = typeset_checks(typeset) if typeset is not None else []
    lines = []
    for tag, statement in EQUATIONS.items():
        if int(tag.split(".")[0]) not in chapters:
            continue
        lines.append(f"({tag}) {statement}"[:width])
        for c in checks_for(tag) + [c for c in extra if c.equation == f"({tag})"]:
            line = f"    {c.kind:<12} {c.source:<18} {c.label}"
            lines.append(line if len(line) <= width else line[: width - 3] + "...")
            if c.where.startswith("tests/"):
                lines.append(f"{'':<36}run by {c.where.split('::')[0]}")
    counts = summary([c for c in CHECKS if c.chapter in chapters]
                     + [c for c in extra if c.chapter in chapters])
    lines.append(", ".join(f"{v} {k}" for k, v in counts.items()))
    return "\n".join(lines)
