"""Mutation testing: would the book's checks notice a wrong equation?

What this is: the one place for the book's mutants, of two sorts.

* :data:`MUTANTS` -- wrong implementations. Each is anchored to a *function object* of the
  package (``loops.conv_forward_loops``) and names a statement or expression inside it,
  compared as a syntax tree (:mod:`ast`): a reformat of the code does not break it, and a
  rename of the function, or a change of the snippet, fails loudly ("found 0 times in
  loops.conv_forward_loops") instead of silently testing nothing. For each mutant the package,
  the tests and the notebooks are copied to a temporary directory, the node is replaced *in
  the copy* (the working tree is never touched), and the tests relevant to it are run there
  with the copy first on ``PYTHONPATH``; a mutant that survives the tests is run against the
  notebooks' checks (the chapters that use the file, executed with nbclient). A mutant is
  *killed* when something fails.
* :data:`TYPESET_MUTANTS` -- wrong typeset equations: one realistic LaTeX mistake in one
  display, anchored to the display's equation number (or, for a display without one, to the
  twin its ``% check:`` marker names), and judged by :mod:`mnist_cnn.book.equations`.

Run::

    python -m mnist_cnn.book.mutants            # the code mutants, 2 workers
    python -m mnist_cnn.book.mutants --list     # the table
    python -m mnist_cnn.book.mutants conv-stride-ignored pool-tie-last
    python -m mnist_cnn.book.mutants --typeset  # the typeset mutants (about a second)

The last line printed is ``killed K of N``; the exit status is 0 only if K = N.

What this is not: a general mutation-testing framework (mutmut, cosmic-ray). The
mutations are chosen by hand, one per plausible mistake in an equation, so
that each surviving mutant names a hole in the verification.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mnist_cnn.fast import pool as fast_pool
from mnist_cnn.reference import im2col, layers, loops, network, transposed

__all__ = ["MUTANTS", "TYPESET_MUTANTS", "Mutant", "TypesetMutant", "apply", "locate", "main",
           "run_one", "run_typeset"]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutant:
    """One wrong equation: replace the node ``old`` (unique inside ``anchor``) by ``new``.

    Attributes
    ----------
    name : str
        Short identifier.
    anchor : callable
        The package function whose body holds the node (an object, not a name).
    old, new : str
        A statement, a few consecutive statements or an expression, compared with the
        anchor's code as syntax trees (layout and comments do not matter), and its
        replacement (source text).
    mistake : str
        The mistake in words, with the equation it breaks.
    tests : tuple of str
        pytest arguments run against the mutant (files, ``-k`` expressions).
    notebooks : tuple of str
        Chapters whose checks are run if the tests do not kill it.
    """

    name: str
    anchor: Callable
    old: str
    new: str
    mistake: str
    tests: tuple[str, ...]
    notebooks: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        """The anchor's source file, relative to the repository root."""
        path = Path(inspect.getsourcefile(inspect.unwrap(self.anchor))).resolve()
        return path.relative_to(ROOT).as_posix()

    @property
    def where(self) -> str:
        function = inspect.unwrap(self.anchor)
        return f"{function.__module__.rsplit('.', 1)[-1]}.{function.__qualname__}"


T_LOOPS = ("tests/test_loops.py",)
T_IM2COL = ("tests/test_im2col.py", "tests/test_layers.py")
T_LAYERS = ("tests/test_layers.py", "tests/test_network.py")
NB1, NB2, NB3, NB4 = ("notebooks/01_scalar_forward.ipynb", "notebooks/02_im2col_forward.ipynb",
                      "notebooks/03_channel_parallel_im2col.ipynb",
                      "notebooks/04_delta_rule_backward.ipynb")


def _m(name, anchor, old, new, mistake, tests, notebooks=()):
    return Mutant(name, anchor, old, new, mistake, tuple(tests), tuple(notebooks))


_L, _I, _Y = loops, im2col, layers
MUTANTS: tuple[Mutant, ...] = (
    # ---- the loops, chapter 1 and 4 ------------------------------------------------------------
    _m("pad-transposed", _L.pad_loops, "x_pad[n, c, m, l] = x[n, c, m - P, l - P]",
       "x_pad[n, c, m, l] = x[n, c, l - P, m - P]", "(1.2): rows and columns swapped", T_LOOPS,
       (NB1,)),
    _m("conv-stride-ignored", _L.conv_forward_loops,
       "acc += w[o, c, i, j] * x_pad[n, c, m * S + i, l * S + j]",
       "acc += w[o, c, i, j] * x_pad[n, c, m + i, l * S + j]",
       "(1.3): row index (m-1) + i instead of (m-1)S + i", T_LOOPS, (NB1,)),
    _m("conv-kernel-flipped", _L.conv_forward_loops,
       "acc += w[o, c, i, j] * x_pad[n, c, m * S + i, l * S + j]",
       "acc += w[o, c, K - 1 - i, j] * x_pad[n, c, m * S + i, l * S + j]",
       "(1.3): a true convolution (flipped rows) instead of a correlation", T_LOOPS, (NB1,)),
    _m("conv-size-no-padding", _L.conv_forward_loops,
       "H_c = output_size.unchecked(H_in, K, S, P)",
       "H_c = output_size.unchecked(H_in, K, S, 0)",
       "(1.4): the 2P forgotten in the output height", T_LOOPS, (NB1,)),
    _m("pool-window-offset", _L.maxpool_forward_loops,
       "if _beats(z[n, o, p * S_p + i, q * S_p + j], acc):\n"
       "    acc = z[n, o, p * S_p + i, q * S_p + j]",
       "if _beats(z[n, o, p * S_p + i, q * S_p + i], acc):\n"
       "    acc = z[n, o, p * S_p + i, q * S_p + i]",
       "(1.5): the window's column offset j read as i (diagonal only)", T_LOOPS, (NB1,)),
    _m("flatten-index-order", _L.flatten_index, "return (o - 1) * H_p * W_p + (p - 1) * W_p + q",
       "return (o - 1) * H_p * W_p + (q - 1) * H_p + p",
       "(1.6): column-major inside a map (q before p)", T_LOOPS, (NB1,)),
    _m("unflatten-divmod", _L.unflatten_index, "p_minus_1, q_minus_1 = divmod(rest, W_p)",
       "q_minus_1, p_minus_1 = divmod(rest, W_p)", "(1.7): p and q swapped in the inverse",
       T_LOOPS, (NB1,)),
    _m("fc-loops-transposed", _L.fc_forward_loops, "acc += w[k, h] * a[n, h]",
       "acc += w[k, h] * a[n, k % a.shape[1]]",
       "(1.8): wrong input index in the fc sum", T_LOOPS, (NB1,)),
    _m("relu-ge", _L.relu_forward_loops, "z[n, h] > 0", "z[n, h] > -0.1",
       "(1.9): threshold not at 0", T_LOOPS, (NB1,)),
    _m("softmax-no-shift", _L.softmax_loops, "y[n, k] = np.exp(z[n, k] - M) / total",
       "y[n, k] = np.exp(z[n, k]) / total", "(1.12): numerator not shifted by the maximum",
       T_LOOPS, (NB1,)),
    _m("loops-delta-no-mean", _L.softmax_cross_entropy_backward_loops,
       "delta[n, k] = (y[n, k] - t[n, k]) / y.dtype.type(N)",
       "delta[n, k] = (y[n, k] - t[n, k])", "(4.3): missing 1/N in the loop reference",
       T_LOOPS, (NB4,)),
    _m("loops-tie-last", _L.maxpool_backward_loops,
       "_beats(z[n, o, p * S_p + i, q * S_p + j], z[n, o, p * S_p + i_star, q * S_p + j_star])",
       "not _beats(z[n, o, p * S_p + i_star, q * S_p + j_star], "
       "z[n, o, p * S_p + i, q * S_p + j])",
       "(4.11): the tie rule flipped to the last maximum (loops)", T_LOOPS, (NB4,)),
    _m("loops-db-conv-one-n", _L.conv_backward_loops, "acc += delta[n, o, m, l]",
       "acc = delta[n, o, m, l] + 0 * acc",
       "(4.13): the bias gradient keeps only the last term of the sums", T_LOOPS, (NB4,)),
    _m("loops-dx-no-crop", _L.conv_backward_loops, "dx[n, c, m, l] = dx_pad[n, c, m + P, l + P]",
       "dx[n, c, m, l] = dx_pad[n, c, m, l]", "(4.14): padding not cropped (shifted dx)",
       T_LOOPS, (NB4,)),
    _m("im2col-loops-row-order", _L.im2col_loops, "X_col[n, c * K * K + i * K + j, m * W_c + l]",
       "X_col[n, c * K * K + j * K + i, m * W_c + l]",
       "(3.1): kernel offsets in column-major order (loop reference)", T_LOOPS),
    # ---- im2col, chapters 2-3 ------------------------------------------------------------------
    _m("im2col-column-order", _I._windows, "return view.transpose(0, 1, 4, 5, 2, 3)",
       "return view.transpose(0, 1, 4, 5, 3, 2)",
       "(2.1)/(3.1): column index (l-1)H_c + m instead of (m-1)W_c + l", T_IM2COL, (NB2,)),
    _m("im2col-row-order", _I._windows, "return view.transpose(0, 1, 4, 5, 2, 3)",
       "return view.transpose(0, 1, 5, 4, 2, 3)",
       "(2.1)/(3.1): row index (j-1)K + i instead of (i-1)K + j", T_IM2COL, (NB2,)),
    _m("im2col-stride-ignored", _I._windows, "view = view[:, :, ::stride, ::stride]",
       "view = view[:, :, ::1, ::stride]",
       "(2.1): the row stride S ignored", T_IM2COL, (NB2,)),
    _m("col2im-no-crop", _I.col2im,
       "return np.ascontiguousarray(dxp[:, :, padding:-padding, padding:-padding])",
       "return np.ascontiguousarray(dxp[:, :, :-2 * padding, :-2 * padding])",
       "(4.15): col2im crops the padding from one side only", T_IM2COL, (NB4,)),
    _m("col2im-stride-1", _I.col2im,
       "dxp[:, :, i : i + stride * h_c : stride, j : j + stride * w_c : stride]",
       "dxp[:, :, i : i + h_c, j : j + stride * w_c : stride]",
       "(4.15): col2im scatters rows with stride 1", T_IM2COL, (NB4,)),
    # ---- vectorised layers, chapters 2-4 -------------------------------------------------------
    _m("conv-w-reshape-order", _Y.conv_forward, "z = np.matmul(W_mat, X_col)",
       "z = np.matmul(w.transpose(0, 1, 3, 2).reshape(c_out, -1), X_col)",
       "(3.2): W_mat built with (j, i) instead of (i, j)", T_LAYERS, (NB3,)),
    _m("conv-bias-per-position", _Y.conv_forward, "z = np.matmul(W_mat, X_col)\nz += b[:, None]",
       "z = np.matmul(W_mat, X_col)\nz += b[:, None] * (np.arange(z.shape[-1]) == 0)",
       "(3.3): b added to the first position only, not b 1^T", T_LAYERS, (NB3,)),
    _m("per-channel-first-channel-only", _Y.conv_forward_per_channel, "range(1, c_in)",
       "range(1, 1)", "(2.3): the sum over c stops after channel 1", T_LAYERS, (NB2,)),
    _m("einsum-wrong-axes", _Y.conv_forward_einsum,
       "z = np.tensordot(view, w, axes=([1, 4, 5], [1, 2, 3]))",
       "z = np.tensordot(view, w, axes=([1, 4, 5], [1, 3, 2]))",
       "(3.3): the tensordot form pairs (i, j) with (j, i)", T_LAYERS, (NB3,)),
    _m("conv-dw-missing-transpose", _Y.conv_backward,
       "dW_mat = np.matmul(d, X_col.transpose(0, 2, 1)).sum(axis=0)",
       "dW_mat = np.matmul(d, X_col.transpose(0, 2, 1)).sum(axis=0)"
       ".reshape(w.shape).transpose(0, 1, 3, 2).reshape(c_out, -1)",
       "(4.12): each kernel's gradient transposed (i and j swapped)", T_LAYERS, (NB4,)),
    _m("conv-db-sum-n-only", _Y.conv_backward, "db = delta.sum(axis=(0, 2, 3))",
       "db = delta.sum(axis=0)[:, 0, 0]", "(4.13): the bias gradient summed over n only",
       T_LAYERS, (NB4,)),
    _m("conv-dx-missing-transpose", _Y.conv_backward,
       "dX_col = np.matmul(w.reshape(c_out, -1).T, d)",
       "dX_col = np.matmul(w.transpose(0, 1, 3, 2).reshape(c_out, -1).T, d)",
       "(4.15): W_mat^T built from the transposed kernel", T_LAYERS, (NB4,)),
    _m("pool-reshape-order", _Y.maxpool_forward,
       "windows = tiles.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h_p, w_p, K_p * K_p)",
       "windows = tiles.transpose(0, 1, 2, 4, 5, 3).reshape(n, c, h_p, w_p, K_p * K_p)",
       "(2.5): window offsets stored column-major, so the argmax is routed to the wrong entry",
       T_LAYERS, (NB2,)),
    _m("pool-backward-shifted", _Y.maxpool_backward,
       "cols = cols.reshape(n, c * pool * pool, h_p * w_p)",
       "cols = np.roll(cols, 1, axis=2).reshape(n, c * pool * pool, h_p * w_p)",
       "(4.11): the routed delta put one offset too far", T_LAYERS, (NB4,)),
    _m("fc-missing-transpose", _Y.fc_backward, "return delta @ w, delta.T @ a, delta.sum(axis=0)",
       "return delta @ w, (delta.T @ a)[::-1], delta.sum(axis=0)",
       "(4.5)/(4.8): dW rows in reverse order", T_LAYERS, (NB4,)),
    _m("fc-db-sum-wrong-axis", _Y.fc_backward, "return delta @ w, delta.T @ a, delta.sum(axis=0)",
       "return delta @ w, delta.T @ a, delta.mean(axis=0)",
       "(4.5)/(4.8): bias gradient averaged instead of summed (an extra 1/N)", T_LAYERS,
       (NB4,)),
    _m("delta-no-mean", _Y.softmax_cross_entropy_backward, "delta /= y.shape[0]", "delta /= 1",
       "(4.3): the output delta y - t without 1/N", T_LAYERS, (NB4,)),
    _m("relu-backward-ge", _Y.relu_backward, "z = cache.z", "z = cache.z + 1e-3",
       "(4.7): the ReLU mask taken at the wrong point (z > -1e-3)", T_LAYERS, (NB4,)),
    _m("softmax-axis", _Y.softmax, "e /= e.sum(axis=1, keepdims=True)",
       "e /= e.sum(axis=0, keepdims=True)", "(2.8): softmax normalised over the batch",
       T_LAYERS, (NB2,)),
    # ---- the network and the fast forms --------------------------------------------------------
    _m("network-delta-fc1-skips-relu", network.backward,
       "delta_fc1 = _relu_backward(delta_relu, c['relu'])",
       "delta_fc1 = delta_relu", "(4.7): the ReLU derivative left out of the chain",
       ("tests/test_network.py",), (NB4,)),
    _m("fast-pool-tie-last", fast_pool.maxpool_forward_fast,
       "np.greater(entry, out, out=greater)", "np.greater_equal(entry, out, out=greater)",
       "(4.11): the fast max-pool routes ties to the last maximum", ("tests/test_fast.py",)),
    _m("closed-form-filters-reversed", transposed.dilate,
       "out[:, :, ::stride, ::stride] = delta", "out[:, :, ::stride, ::stride] = delta[:, ::-1]",
       "(4.14): the closed form with the filters of delta in reverse order",
       ("tests/test_transposed.py",)),
    _m("closed-form-kernel-not-flipped", transposed.conv_dx_closed_form,
       "w[o, c, ::-1, ::-1]", "w[o, c, ::-1, :]",
       "(4.14): the kernel flipped in one axis only", ("tests/test_transposed.py",)),
)


@dataclass(frozen=True)
class TypesetMutant:
    """One wrong typeset equation: ``old`` (unique in the display) replaced by ``new``.

    Attributes
    ----------
    tag : str
        The equation number (``"4.7"``), or ``"[key]"`` for a display without a number whose
        marker says ``% check: (key)``.
    old, new : str
        LaTeX: the text that occurs once in the display, and the mistake.
    kind : str
        The class of hole it probes: ``token``, ``sizes``, ``clause``, ``self``,
        ``boundary``, ``invariance``, ``tie``, ``index``, ``limit``, ``factor``, ``sign``,
        ``transpose``, ``layer``, ``shape``, ``untagged``.
    mistake : str
        The mistake in words.
    """

    tag: str
    old: str
    new: str
    kind: str
    mistake: str


def _t(tag, old, new, kind, mistake):
    return TypesetMutant(tag, old, new, kind, mistake)


#: Realistic mistakes in the typeset equations, written by hand; each must fail its display.
TYPESET_MUTANTS: tuple[TypesetMutant, ...] = (
    # ---- one token of one display (the first table of the test suite, now here) -----------
    _t("0.1", '+ 2P', '+ P', "token", 'factor dropped'),
    _t("0.2", 'C_{in} K^2 + 1', 'C_{in} K^2 + 2', "token", 'constant changed'),
    _t("1.1", 'l = 1..W_{in}', 'l = 1..H_{in}', "token", 'range changed'),
    _t("1.1", r"\times W_{in}}", r"\times H_{in}}", "token", 'shape changed'),
    _t("1.2", r"x_{n,c,\,m-P", r"x_{n,c,\,m+P", "token", 'sign flipped'),
    _t("1.2", r"\text{if } P < m", r"\text{if } P \le m", "token", 'bound shifted by one'),
    _t("1.3", '(m-1)S+i', '(m-1)S+j', "token", 'index swapped (issue)'),
    _t("1.3", 'w^{(conv)}_{o,c,i,j}', 'w^{(conv)}_{c,o,i,j}', "token", 'weight layout swapped'),
    _t("1.3", r"\sum_{c=1}^{C_{in}}", r"\sum_{c=1}^{C_{out}}", "token", 'sum limit changed'),
    _t("1.3", 'l = 1..W_c', 'l = 1..H_c', "token", 'range changed'),
    _t("1.4", r"W_c = \left\lfloor \frac{W_{in}",
       r"W_c = \left\lfloor \frac{H_{in}", "token", 'one token changed'),
    _t("1.5", '(p-1)S_p+i', '(p-1)K_p+i', "token", 'stride for window'),
    _t("1.5", r"\max_{i = 1..K_p}", r"\max_{i = 1..S_p}", "token", 'max limit changed'),
    _t("1.6", r"(p-1)\,W_p", r"(p-1)\,H_p", "token", 'wrong size'),
    _t("1.7", r"\bmod W_p", r"\bmod H_p", "token", 'wrong modulus'),
    _t("1.8", 'w^{(fc1)}_{h,r}', 'w^{(fc1)}_{r,h}', "token", 'transpose moved'),
    _t("1.9", r"\max\big(0", r"\min\big(0", "token", 'max for min'),
    _t("1.10", 'b^{(fc2)}_k', 'b^{(fc2)}_h', "token", 'bias index'),
    _t("1.11", r"\sum_{k'=1}^{D_2}", r"\sum_{k'=2}^{D_2}", "token", 'sum limit shifted'),
    _t("1.12", r"M_n = \max", r"M_n = \min", "token", 'stabiliser'),
    _t("2.1", '(i-1)K+j', '(j-1)K+i', "token", 'row order swapped'),
    _t("2.2", 'w^{(conv)}_{o,c,i,j}', 'w^{(conv)}_{o,c,j,i}', "token", 'kernel transposed'),
    _t("2.5", '(q-1)K_p+j', '(q-1)K_p+i', "token", 'index swapped'),
    _t("2.6", r"\ \big(X^{(n)}_{o}\big)_{(i-1)K_p+j,\,(p-1)W_p+q}",
       r"\ \big(X^{(n)}_{o}\big)_{(i-1)K_p+j,\,(p-1)H_p+q}", "token", 'wrong size'),
    _t("2.2", r"20 \times 25", r"20 \times 24", "token", 'seed shape wrong'),
    _t("3.1", 'X_{C_{in}}^{(n)}', 'X_{C_{out}}^{(n)}', "token", 'block count wrong'),
    _t("2.3", r"\mathbf{1}^T_{H_cW_c}", r"\mathbf{1}_{H_cW_c}", "token", 'transpose dropped'),
    _t("2.3", r"F_c\, X_c^{(n)}", r"F_c^T\, X_c^{(n)}", "token", 'transpose added'),
    _t("2.3", '(m-1)W_c+l', '(l-1)W_c+m', "token", 'reshape order swapped'),
    _t("2.4", r"\mathsf{X}_{n,c}", r"\mathsf{X}_{c,n}", "token", 'index swapped'),
    _t("2.7", r"Z^{(flat)}\, W^{(fc1)T}", r"Z^{(flat)}\, W^{(fc1)}", "token", 'transpose dropped'),
    _t("2.7", r"\mathbf{1}_N\, b^{(fc2)T}", r"\mathbf{1}_N\, b^{(fc1)T}", "token", 'wrong layer'),
    _t("2.8", r"\big)^{-1} U", r"\big) U", "token", 'inverse dropped'),
    _t("2.8", r"Z^{(fc2)} - \mathbf M", r"Z^{(fc2)} + \mathbf M", "token", 'sign flipped'),
    _t("2.8", r"\max\!\big(0", r"\min\!\big(0", "token", 'max for min'),
    _t("3.3", r"= \sum_{c=1}^{C_{in}}", r"= \sum_{c=2}^{C_{in}}", "token", 'sum limit shifted'),
    _t("3.3", r"W_{mat}\, X_{col}^{(n)}", r"W_{mat}\, X_{col}^{(n)T}", "token", 'transpose moved'),
    _t("3.1", '(c-1)K^2', '(c-1)K', "token", 'power dropped'),
    _t("3.2", '(c-1)K^2+(i-1)K+j', '(c-1)K^2+(i-1)K+j-1', "token", 'shifted by one'),
    _t("4.1", r"L = -\frac{1}{N}", r"L = \frac{1}{N}", "token", 'sign flipped'),
    _t("4.1", r"t_{n,k} \log", r"t_{k,n} \log", "token", 'index swapped'),
    _t("4.2", r"\mathbb 1[k' = k]", r"\mathbb 1[k' = n]", "token", 'wrong index'),
    _t("4.3", 't_{n,k}}{N}', 't_{n,k}}{1}', "token", '1/N dropped (issue)'),
    _t("4.4", r"(y_{n,k} - t_{n,k}) - \sum",
       r"(y_{n,k} - t_{n,k}) + \sum", "token", 'sign flipped'),
    _t("4.5", 'z^{(relu)}_{n,h}', 'z^{(fc1)}_{n,h}', "token", 'wrong layer'),
    _t("4.6", 'w^{(fc2)}_{k,h}', 'w^{(fc2)}_{h,k}', "token", 'transpose moved'),
    _t("4.7", '> 0', '< 0', "token", 'wrong half-line'),
    _t("4.8", r"= \sum_{n=1}^{N} \delta^{(fc1)}_{n,h},",
       r"= \sum_{n=1}^{N} \delta^{(relu)}_{n,h},", "token", 'one token changed'),
    _t("4.9", r"\sum_{h=1}^{D_1}", r"\sum_{h=1}^{D_0}", "token", 'sum limit changed'),
    _t("4.10", '(o-1)H_pW_p', '(o-2)H_pW_p', "token", 'shifted by one'),
    _t("4.11", '(p-1)S_p + i^*', '(p-1)K_p + i^*', "token", 'stride for window'),
    _t("4.11", '(q-1)S_p + j^*', '(q-1)S_p + i^*', "token", 'index swapped'),
    _t("4.12", '(m-1)S+i', '(m-1)S+j', "token", 'index swapped'),
    _t("4.13", r"\sum_{l=1}^{W_c}", r"\sum_{l=1}^{H_c}", "token", 'sum limit changed'),
    _t("4.14", '= u + P', '= u - P', "token", 'sign flipped'),
    _t("4.14", 'w^{(conv)}_{o,c,i,j}', 'w^{(conv)}_{c,o,i,j}', "token", 'weight layout swapped'),
    _t("4.15", r"X_{col}^{(n)\mathsf T}", 'X_{col}^{(n)}', "token", 'transpose dropped'),
    _t("4.15", r"\sum_{n=1}^{N} \Delta^{(n)} \mathbf 1",
       r"\sum_{n=2}^{N} \Delta^{(n)} \mathbf 1", "token", 'one token changed'),
    _t("5.1", r"\mu\, \nu_{t-1}", r"\mu\, \nu_{t}", "token", 'shifted by one'),
    _t("5.1", r"w_t = w_{t-1} - \eta_t", r"w_t = w_{t-1} + \eta_t", "token", 'sign flipped'),
    _t("5.2", r"\dfrac{t+1}{T_w}", r"\dfrac{t}{T_w}", "token", 'off by one'),
    _t("5.2", r"1 + \cos", r"1 - \cos", "token", 'sign flipped'),
    _t("5.3", r"m-\Delta y_n,", r"m+\Delta y_n,", "token", 'sign flipped'),
    _t("5.4", r"\frac1N", r"\frac12", "token", 'factor changed'),
    _t("5.5", r"\arg\max_k y_{n,k} = b", r"\arg\max_k y_{n,k} = a", "token", 'index swapped'),
    # ---- sizes that were equal in every old instance (N = D_2, H_c = W_c, ...) -----------------
    _t("4.1", r"L = -\frac{1}{N} \sum_{n=1}^{N} \sum_{k=1}^{D_2}",
       r"L = -\frac{1}{D_2} \sum_{n=1}^{N} \sum_{k=1}^{D_2}", "sizes", '1/D_2 for 1/N'),
    _t("4.1", r"\sum_{n=1}^{N} \sum_{k=1}^{D_2} t_{n,k}",
       r"\sum_{n=1}^{D_2} \sum_{k=1}^{D_2} t_{n,k}", "sizes", 'sum over n to D_2'),
    _t("4.1", r"\sum_{n=1}^{N} \sum_{k=1}^{D_2} t_{n,k}",
       r"\sum_{n=1}^{N} \sum_{k=1}^{N} t_{n,k}", "sizes", 'sum over k to N'),
    _t("4.1", r"= -\frac{1}{N} \sum_{n=1}^{N} \log",
       r"= -\frac{1}{D_2} \sum_{n=1}^{N} \log", "sizes", 'second form 1/D_2'),
    _t("4.3", r"= \frac{y_{n,k} - t_{n,k}}{N}",
       r"= \frac{y_{n,k} - t_{n,k}}{D_2}", "sizes", 'delta over D_2'),
    _t("4.3", r"k = 1..D_2 \tag", r"k = 1..N \tag", "sizes", 'range of k to N'),
    _t("4.4", r"&= \frac1N \sum_{k'=1}^{D_2}",
       r"&= \frac1{D_2} \sum_{k'=1}^{D_2}", "sizes", '1/D_2 in the SE delta'),
    _t("4.4", r"&= \frac1N \sum_{k'=1}^{D_2}",
       r"&= \frac1N \sum_{k'=1}^{N}", "sizes", "sum over k' to N"),
    _t("4.4", r"&= \frac{y_{n,k}}{N}", r"&= \frac{y_{n,k}}{D_2}", "sizes", 'second line over D_2'),
    _t("4.5", r"\frac{\partial L}{\partial w^{(fc2)}_{k,h}} = \sum_{n=1}^{N}",
       r"\frac{\partial L}{\partial w^{(fc2)}_{k,h}} = \sum_{n=1}^{D_2}",
       "sizes", 'batch sum to D_2'),
    _t("4.5", r"\frac{\partial L}{\partial b^{(fc2)}_k} = \sum_{n=1}^{N}",
       r"\frac{\partial L}{\partial b^{(fc2)}_k} = \sum_{n=1}^{D_2}",
       "sizes", 'bias batch sum to D_2'),
    _t("4.8", r"\frac{\partial L}{\partial b^{(fc1)}_h} = \sum_{n=1}^{N}",
       r"\frac{\partial L}{\partial b^{(fc1)}_h} = \sum_{n=1}^{D_1}",
       "sizes", 'bias batch sum to D_1'),
    _t("4.6", r"\sum_{k=1}^{D_2}", r"\sum_{k=1}^{N}", "sizes", 'sum over classes to N'),
    _t("5.4", r"\sum_{n=1}^{N}", r"\sum_{n=1}^{D_2}", "sizes", 'accuracy sum to D_2'),
    _t("2.7", r"\mathbf{1}_N\, b^{(fc1)T}",
       r"\mathbf{1}_{D_1}\, b^{(fc1)T}", "sizes", 'ones vector of the wrong length (D_1)'),
    _t("2.7", r"\mathbf{1}_N\, b^{(fc2)T}",
       r"\mathbf{1}_{D_2}\, b^{(fc2)T}", "sizes", 'ones vector of the wrong length (D_2)'),
    _t("2.8", r"U\,\mathbf 1_{D_2}",
       r"U\,\mathbf 1_{N}", "sizes", 'row sums with a ones vector of length N'),
    _t("2.8", r"\mathbf M\, \mathbf 1_{D_2}^T",
       r"\mathbf M\, \mathbf 1_{N}^T", "sizes", 'M 1^T of length N'),
    _t("2.3", r"\mathbf{1}^T_{H_cW_c}", r"\mathbf{1}^T_{H_cH_c}", "sizes", 'ones of length H_c^2'),
    _t("3.3", r"= W_{mat}\, X_{col}^{(n)} + b^{(conv)}\mathbf 1^T_{H_cW_c}",
       r"= W_{mat}\, X_{col}^{(n)} + b^{(conv)}\mathbf 1^T_{W_cW_c}",
       "sizes", 'ones of length W_c^2'),
    _t("1.3", r"\sum_{c=1}^{C_{in}}", r"\sum_{c=1}^{N}", "sizes", 'channel sum to N'),
    _t("1.3", 'o = 1..C_{out}', 'o = 1..C_{in}', "sizes", 'range of o to C_in'),
    _t("1.5", 'p = 1..H_p', 'p = 1..W_p', "sizes", 'p to W_p'),
    _t("1.6", r"(o-1)\,H_p W_p", r"(o-1)\,H_p H_p", "sizes", 'H_p^2 for H_p W_p'),
    _t("1.7", r"\frac{r-1}{H_p W_p}", r"\frac{r-1}{W_p W_p}", "sizes", 'W_p^2 for H_p W_p'),
    _t("1.8", r"\sum_{r=1}^{D_0}", r"\sum_{r=1}^{D_1}", "sizes", 'fc1 sum to D_1'),
    _t("1.10", r"\sum_{h=1}^{D_1}", r"\sum_{h=1}^{D_2}", "sizes", 'fc2 sum to D_2'),
    _t("1.10", 'k = 1..D_2', 'k = 1..D_1', "sizes", 'k range D_1'),
    _t("4.9", 'r = 1..D_0', 'r = 1..D_1', "sizes", 'r range D_1'),
    _t("4.12", r"\sum_{m=1}^{H_c} \sum_{l=1}^{W_c}",
       r"\sum_{m=1}^{W_c} \sum_{l=1}^{H_c}", "sizes", 'H_c and W_c swapped in the limits'),
    _t("4.13", r"\sum_{n=1}^{N}", r"\sum_{n=1}^{C_{out}}", "sizes", 'batch sum to C_out'),
    _t("4.14", r"\sum_{o=1}^{C_{out}}",
       r"\sum_{o=1}^{C_{in}}", "sizes", 'sum over filters to C_in'),
    _t("4.10", '(o-1)H_pW_p', '(o-1)H_pH_p', "sizes", 'H_p^2 in the inverse index'),
    _t("2.1", '(m-1)W_c+l', '(m-1)H_c+l', "sizes", 'column index with H_c'),
    _t("3.2", '(c-1)K^2+(i-1)K+j', '(c-1)K_p^2+(i-1)K+j', "sizes", 'K_p for K'),
    _t("1.4", r"\frac{H_{in} - K + 2P}{S}",
       r"\frac{H_{in} - K_p + 2P}{S}", "sizes", 'pool window in the conv size'),
    _t("1.4", r"\frac{W_{in} - K + 2P}{S}",
       r"\frac{W_{in} - K + 2P}{S_p}", "sizes", 'pool stride in the conv size'),
    _t("0.2", r"C_{out}\,(C_{in} K^2 + 1)", r"C_{in}\,(C_{in} K^2 + 1)", "sizes", 'C_in for C_out'),
    _t("0.2", r"D_{out}\,(D_{in} + 1)", r"D_{in}\,(D_{in} + 1)", "sizes", 'D_in for D_out'),
    _t("5.5", r"\frac1N \sum_a", r"\frac1{D_2} \sum_a", "sizes", '1/D_2 in the accuracy from C'),
    # ---- clauses that used to be skipped (prose definitions) -----------------------------------
    _t("2.6", r"z^{(conv)}_{n,o,\,(p-1)S_p+i,\,(q-1)S_p+j}",
       r"z^{(conv)}_{n,o,\,(p-1)K_p+i,\,(q-1)K_p+j}",
       "clause", '(2.6): window stride K_p for S_p (the old prose clause)'),
    _t("2.6", r"\big(X^{(n)}_{o}\big)_{(i-1)K_p+j,\,(p-1)W_p+q} = z^{(conv)}",
       r"\big(X^{(n)}_{o}\big)_{(j-1)K_p+i,\,(p-1)W_p+q} = z^{(conv)}",
       "clause", '(2.6): row order of the window swapped'),
    _t("2.6", 'i, j = 1..K_p', 'i, j = 1..S_p', "clause", '(2.6): window offsets to S_p'),
    _t("4.15", r"= W_{mat}^{\mathsf T} \Delta^{(n)}",
       r"= W_{mat} \Delta^{(n)}", "clause", '(4.15) third clause: transpose dropped'),
    _t("4.15", r"= W_{mat}^{\mathsf T} \Delta^{(n)}",
       r"= \Delta^{(n)\mathsf T} W_{mat}",
       "clause", '(4.15) third clause: factors in the wrong order'),
    _t("4.15", r"\mathbb 1\big[(m-1)S + i = u + P\big]",
       r"\mathbb 1\big[(m-1)K + i = u + P\big]", "clause", '(4.15) col2im: K for S'),
    _t("4.15", r"\mathbb 1\big[(l-1)S + j = v + P\big]",
       r"\mathbb 1\big[(l-1)S + j = v - P\big]", "clause", '(4.15) col2im: padding sign'),
    _t("4.15", r"_{(c-1)K^2+(i-1)K+j,\,(m-1)W_c+l}",
       r"_{(c-1)K^2+(j-1)K+i,\,(m-1)W_c+l}", "clause", '(4.15) col2im: row order swapped'),
    _t("4.15", r"_{(c-1)K^2+(i-1)K+j,\,(m-1)W_c+l}",
       r"_{(c-1)K^2+(i-1)K+j,\,(l-1)H_c+m}", "clause", '(4.15) col2im: column-major positions'),
    # ---- self-reference: the target, or an array computed after it, on the right ---------------
    _t("4.7", r"= \delta^{(relu)}_{n,h}\;",
       r"= \delta^{(fc1)}_{n,h}\;", "self", 'delta_fc1 on the right of (4.7)'),
    _t("1.9", r"\max\big(0,\; z^{(fc1)}_{n,h}\big)",
       r"\max\big(0,\; z^{(relu)}_{n,h}\big)", "self", 'z_relu inside (1.9)'),
    _t("1.11", r"\exp\big(z^{(fc2)}_{n,k}\big)}{", 'y_{n,k}}{', "self", 'y on the right of (1.11)'),
    _t("1.8", r"w^{(fc1)}_{h,r}\; z^{(flat)}_{n,r}",
       r"w^{(fc1)}_{h,r}\; z^{(fc1)}_{n,h}", "self", 'z_fc1 on its own right side'),
    _t("4.6", r"\delta^{(fc2)}_{n,k}\, w^{(fc2)}_{k,h}", r"\delta^{(relu)}_{n,k}\, w^{(fc2)}_{k,h}",
       "self", "delta_relu used in its own definition"),
    _t("4.9", r"\delta^{(fc1)}_{n,h}\, w^{(fc1)}_{h,r}",
       r"\delta^{(flat)}_{n,r}\, w^{(fc1)}_{h,r}\, \delta^{(fc1)}_{n,h}",
       "self", 'delta_flat inside (4.9)'),
    _t("4.12", r"\delta^{(conv)}_{n,o,m,l}\; \tilde x",
       r"\delta^{(conv)}_{n,o,m,l}\; x", "self", 'x for x~ (a different array)'),
    _t("1.5", r"z^{(conv)}_{n,o,\,(p-1)S_p+i,\,(q-1)S_p+j}",
       'z^{(pool)}_{n,o,p,q}', "self", 'z_pool defined by itself'),
    _t("4.11", r"\delta^{(pool)}_{n,o,p,q}\;",
       r"\delta^{(conv)}_{n,o,m,l}\;", "self", 'delta_conv on its own right'),
    _t("1.3", r"w^{(conv)}_{o,c,i,j}\; \tilde x",
       r"w^{(conv)}_{o,c,i,j}\; z^{(conv)}", "self", 'z_conv inside (1.3)'),
    _t("4.10", r"\delta^{(flat)}_{n,\,(o-1)H_pW_p",
       r"\delta^{(pool)}_{n,\,(o-1)H_pW_p", "self", 'delta_pool reads itself'),
    _t("4.13", r"\delta^{(conv)}_{n,o,m,l}, \qquad",
       r"\frac{\partial L}{\partial b^{(conv)}_o}, \qquad", "self", 'dL/db on its own right'),
    _t("2.7", r"Z^{(fc2)} = Z^{(relu)}\, W^{(fc2)T}",
       r"Z^{(fc2)} = Z^{(fc1)}\, W^{(fc2)T}", "self", 'fc2 reads z_fc1 (a layer skipped)'),
    _t("5.3", r"x_{n,c,\,m-\Delta y_n,\,l-\Delta x_n}",
       r"x'_{n,c,\,m-\Delta y_n,\,l-\Delta x_n}", "self", "x' on its own right"),
    _t("4.2", r"y_{n,k'}\big(\mathbb 1[k' = k]",
       r"\frac{\partial y_{n,k'}}{\partial z^{(fc2)}_{n,k}}\big(\mathbb 1[k' = k]",
       "self", 'the Jacobian entry inside its own formula'),
    # ---- boundaries no old instance reached (a pre-activation at 0, the edges of a case) -------
    _t("4.7", r"> 0\big]", r"\ge 0\big]", "boundary", 'ReLU derivative 1 at z = 0'),
    _t("1.2", r"P < m \le H_{in} + P",
       r"P \le m \le H_{in} + P", "boundary", 'padding bound includes row P'),
    _t("1.2", r"P < l \le W_{in} + P", 'P < l < W_{in} + P', "boundary", 'last column excluded'),
    _t("5.2", '& t < T_w', r"& t \le T_w", "boundary", 'warm-up includes step T_w'),
    _t("5.2", r"T_w \le t < T", 'T_w < t < T', "boundary", 'step T_w in no case'),
    _t("5.3", r"1 \le m - \Delta y_n \le H_{in}",
       r"1 \le m - \Delta y_n < H_{in}", "boundary", 'last row dropped'),
    _t("5.3", r"1 \le l - \Delta x_n", r"1 < l - \Delta x_n", "boundary", 'first column dropped'),
    # ---- invariances (softmax is shift-invariant) ----------------------------------------------
    _t("1.12", r"\exp\big(z^{(fc2)}_{n,k} - M_n\big)}{\sum_{k'=1}^{D_2}"
       r" \exp\big(z^{(fc2)}_{n,k'} - M_n\big)}",
       r"\exp\big(z^{(fc2)}_{n,k} + M_n\big)}{\sum_{k'=1}^{D_2}"
       r" \exp\big(z^{(fc2)}_{n,k'} + M_n\big)}",
       "invariance", 'stabiliser with the wrong sign (shift-invariant, overflows)'),
    _t("1.12", r"M_n = \max_{k'=1..D_2}",
       r"M_n = \min_{k'=1..D_2}", "invariance", 'stabiliser is the row minimum'),
    _t("1.12", r"M_n = \max_{k'=1..D_2} z^{(fc2)}_{n,k'}",
       r"M_n = \sum_{k'=1}^{D_2} z^{(fc2)}_{n,k'}", "invariance", 'stabiliser is the row sum'),
    _t("1.12", r"M_n = \max_{k'=1..D_2} z^{(fc2)}_{n,k'}",
       'M_n = 0', "invariance", 'no stabiliser (overflows)'),
    _t("2.8", r"Z^{(fc2)} - \mathbf M\, \mathbf 1_{D_2}^T",
       r"Z^{(fc2)} - 2\mathbf M\, \mathbf 1_{D_2}^T",
       "invariance", 'U scaled by a row factor (Y unchanged)'),
    _t("2.8", r"Y = \operatorname{diag}\!\big(U\,\mathbf 1_{D_2}\big)^{-1} U",
       r"Y = \operatorname{diag}\!\big(U\,\mathbf 1_{D_2}\big)^{-1} \exp\!\big(Z^{(fc2)}\big)",
       "invariance", 'numerator not shifted (wrong Y)'),
    # ---- the tie rule of (4.11) ----------------------------------------------------------------
    _t("4.11", r"i^*_{n,o,p,q} = \min\big\{i = 1..K_p",
       r"i^*_{n,o,p,q} = \max\big\{i = 1..K_p", "tie", 'tie rule: last row with the maximum'),
    _t("4.11", r"j^*_{n,o,p,q} = \min\big\{j = 1..K_p",
       r"j^*_{n,o,p,q} = \max\big\{j = 1..K_p", "tie", 'tie rule: last column with the maximum'),
    _t("4.11", r"\max_{j=1..K_p} z^{(conv)}_{n,o,\,(p-1)S_p+i,\,(q-1)S_p+j} = z^{(pool)}_{n,o,p,q}",
       r"z^{(conv)}_{n,o,\,(p-1)S_p+i,\,(q-1)S_p+1} = z^{(pool)}_{n,o,p,q}",
       "tie", 'row of the maximum only from the first column'),
    _t("4.11", r"z^{(conv)}_{n,o,\,(p-1)S_p+i^*_{n,o,p,q},",
       r"z^{(conv)}_{n,o,\,(p-1)S_p+1,", "tie", 'column searched in the first row, not row i*'),
    _t("4.11", r"\mathbb 1\big[m = (p-1)S_p + i^*_{n,o,p,q}\big]",
       r"\mathbb 1\big[m = (p-1)S_p + j^*_{n,o,p,q}\big]", "tie", 'i* and j* swapped'),
    # ---- other slips: indices, layouts, factors, signs -----------------------------------------
    _t("1.2", r"x_{n,c,\,m-P,\,l-P}", r"x_{n,c,\,m-P,\,l}", "index", 'column not shifted by P'),
    _t("1.3", r"\tilde x_{n,c,\,(m-1)S+i,\,(l-1)S+j}",
       r"\tilde x_{n,c,\,(m-1)S+i-1,\,(l-1)S+j}", "index", 'off by one in the row'),
    _t("1.3", r"\tilde x_{n,c,\,(m-1)S+i,\,(l-1)S+j}",
       r"\tilde x_{n,c,\,mS+i,\,(l-1)S+j}", "index", 'mS for (m-1)S'),
    _t("1.3", 'b^{(conv)}_o +', 'b^{(conv)}_c +', "index", 'bias per input channel'),
    _t("1.5", r"\max_{i = 1..K_p}\; \max_{j = 1..K_p}",
       r"\max_{i = 1..K_p}\; \sum_{j = 1..K_p}", "index", 'sum for max (not parseable or wrong)'),
    _t("1.6", r"(p-1)\,W_p + q", r"(p-1)\,W_p + q - 1", "index", 'flat index 0-based'),
    _t("1.7", r"q = \big((r-1) \bmod W_p\big) + 1",
       r"q = \big(r \bmod W_p\big) + 1", "index", '(r mod W_p) + 1'),
    _t("1.7", r"o = \left\lfloor \frac{r-1}{H_p W_p} \right\rfloor + 1",
       r"o = \left\lfloor \frac{r}{H_p W_p} \right\rfloor + 1", "index", 'floor(r / H_p W_p) + 1'),
    _t("1.11", r"\sum_{k'=1}^{D_2} \exp\big(z^{(fc2)}_{n,k'}\big)",
       r"\sum_{k'=1}^{D_2} \exp\big(z^{(fc2)}_{n,k}\big)", "index", "denominator with k for k'"),
    _t("1.11", r"\sum_{k'=1}^{D_2} \exp\big(z^{(fc2)}_{n,k'}\big)",
       r"\sum_{n=1}^{N} \exp\big(z^{(fc2)}_{n,k}\big)", "index", 'normalised over the batch'),
    _t("2.2", r"\big(F_c\big)_{o,\,(i-1)K+j}",
       r"\big(F_c\big)_{o,\,(i-1)K+j-1}", "index", '0-based column of F_c'),
    _t("2.4", r"\mathsf{X} \in \mathbb{R}^{N \times C_{in} \times K^2 \times H_cW_c}",
       r"\mathsf{X} \in \mathbb{R}^{N \times K^2 \times C_{in} \times H_cW_c}",
       "shape", 'batched layout axes swapped'),
    _t("2.4", r"\mathsf{Z} \in \mathbb{R}^{N \times C_{out} \times H_cW_c}",
       r"\mathsf{Z} \in \mathbb{R}^{C_{out} \times N \times H_cW_c}",
       "shape", 'Z layout axes swapped'),
    _t("2.5", r"z^{(conv)}_{n,o,(p-1)K_p+i,\,(q-1)K_p+j}",
       r"z^{(conv)}_{n,o,(p-1)K_p+i,\,(q-1)K_p+i}", "index", 'check z reads the diagonal'),
    _t("2.8", r"Z^{(relu)} = \max\!\big(0,\ Z^{(fc1)}\big)",
       r"Z^{(relu)} = \max\!\big(0,\ Z^{(fc2)}\big)", "layer", 'ReLU of the wrong layer'),
    _t("3.1", r"\tilde x_{n,c,\,(m-1)S+i,\,(l-1)S+j}",
       r"\tilde x_{n,c,\,(m-1)S+j,\,(l-1)S+i}", "index", 'kernel offsets swapped'),
    _t("3.1", r"\mathbb{R}^{C_{in}K^2 \times H_cW_c}",
       r"\mathbb{R}^{K^2 \times C_{in}H_cW_c}", "shape", 'X_col shape wrong'),
    _t("3.2", r"\in \mathbb{R}^{C_{out} \times C_{in}K^2}",
       r"\in \mathbb{R}^{C_{in}K^2 \times C_{out}}", "shape", 'W_mat shape transposed'),
    _t("3.3", r"\sum_{c=1}^{C_{in}} F_c X_c^{(n)}",
       r"\sum_{c=1}^{C_{in}} F_c^T X_c^{(n)}", "transpose", 'F_c transposed in the sum'),
    _t("4.2", r"\mathbb 1[n' = n]", r"\mathbb 1[n' = k']", "index",
       "batch mask compares n' with the class k'"),
    _t("4.2", r"- y_{n,k}\big)", r"- y_{n,k'}\big)", "index", 'diagonal-only Jacobian'),
    _t("4.4", r"(y_{n,k} - t_{n,k}) - \sum_{k'=1}^{D_2} (y_{n,k'} - t_{n,k'})\, y_{n,k'}",
       r"(y_{n,k} - t_{n,k}) - \sum_{k'=1}^{D_2} (y_{n,k'} - t_{n,k'})\, y_{n,k}",
       "index", "y_{n,k} for y_{n,k'} inside the sum"),
    _t("4.4", r"y_{n,k'}\big(\mathbb 1[k' = k] - y_{n,k}\big)",
       r"y_{n,k}\big(\mathbb 1[k' = k] - y_{n,k}\big)", "index", 'Jacobian factor y_{n,k}'),
    _t("4.5", r"\delta^{(fc2)}_{n,k}\, z^{(relu)}_{n,h}",
       r"\delta^{(fc2)}_{n,h}\, z^{(relu)}_{n,k}",
       "index", 'indices of delta and activation swapped'),
    _t("4.8", r"\delta^{(fc1)}_{n,h}\, z^{(flat)}_{n,r}",
       r"\delta^{(fc1)}_{n,h}\, z^{(flat)}_{n,h}", "index", 'activation index h'),
    _t("4.12", r"\tilde x_{n,c,(m-1)S+i,\,(l-1)S+j}",
       r"\tilde x_{n,c,(m-1)S+i,\,(l-1)S+j-P}", "index", 'padding subtracted from x~'),
    _t("4.12", r"\delta^{(conv)}_{n,o,m,l}\;",
       r"\delta^{(conv)}_{n,c,m,l}\;", "index", 'delta read at the input channel'),
    _t("4.14", r"w^{(conv)}_{o,c,i,j}\\",
       r"w^{(conv)}_{o,c,K+1-i,K+1-j}\\",
       "index", 'kernel flipped twice (flip written in the index form too)'),
    _t("4.14", r"\mathbb 1\big[(l-1)S + j = v + P\big]",
       r"\mathbb 1\big[(l-1) + j = v + P\big]", "index", 'stride forgotten in the columns'),
    _t("4.15", r"\sum_{n=1}^{N} \Delta^{(n)} \mathbf 1",
       r"\sum_{n=1}^{N} \Delta^{(n)T} \mathbf 1",
       "transpose", 'bias gradient with a transposed Delta'),
    _t("4.15", r"\Delta^{(n)} X_{col}^{(n)\mathsf T}",
       r"X_{col}^{(n)} \Delta^{(n)\mathsf T}", "transpose", 'dW transposed'),
    _t("5.1", r"\big(g_t + \lambda\, w_{t-1}\big)",
       r"\big(g_t + \lambda\, w_{t}\big)", "index", 'weight decay on the new weights'),
    _t("5.1", r"\big(g_t + \lambda\, w_{t-1}\big)",
       r"\big(g_t - \lambda\, w_{t-1}\big)", "sign", 'weight decay sign'),
    _t("5.1", r"w_t = w_{t-1} - \eta_t\, \nu_t",
       r"w_t = w_{t-1} - \eta_t\, \nu_{t-1}", "index", 'update with the old velocity'),
    _t("5.1", r"\nu_t = \mu\, \nu_{t-1} + \big(",
       r"\nu_t = (1 - \mu)\, \nu_{t-1} + \big(", "factor", 'momentum 1 - mu'),
    _t("5.2", r"\dfrac{\pi\,(t - T_w)}{T - T_w}",
       r"\dfrac{\pi\,t}{T - T_w}", "index", 'cosine from step 0'),
    _t("5.2", r"\dfrac{\pi\,(t - T_w)}{T - T_w}",
       r"\dfrac{\pi\,(t - T_w)}{T}", "factor", 'period T'),
    _t("5.2", r"\dfrac{\eta_0}{2}", r"\eta_0", "factor", 'factor 1/2 dropped'),
    _t("5.3", r"l-\Delta x_n}", r"l-\Delta y_n}", "index", 'the column shifted by the row shift'),
    _t("5.4", r"= \text{label}_n\Big]", r"= \text{label}_n - 1\Big]", "index", '0-based label'),
    _t("5.5", r"\mathbb 1\big[\text{label}_n = a\big]\, \mathbb 1\big[\arg\max_k y_{n,k} = b\big]",
       r"\mathbb 1\big[\text{label}_n = b\big]\, \mathbb 1\big[\arg\max_k y_{n,k} = a\big]",
       "transpose", "confusion matrix transposed"),
    _t("0.1", r"\right\rfloor + 1", r"\right\rfloor", "factor", '+1 dropped'),
    _t("0.1", r"\frac{H_{in} - K + 2P}{S}",
       r"\frac{H_{in} - K + P}{S}", "factor", 'one side padded'),
    _t("1.1", 'm = 1..H_{in}', 'm = 0..H_{in}', "index", '0-based range'),
    _t("1.3", 'm = 1..H_c', 'm = 1..H_c - 1', "limit", 'last row left out'),
    _t("1.9", r"\max\big(0,\; z^{(fc1)}_{n,h}\big)",
       r"\max\big(0,\; z^{(fc1)}_{h,n}\big)", "index", 'indices swapped'),
    _t("2.3", '= z^{(conv)}_{n,o,m,l}',
       '= z^{(conv)}_{n,o,l,m}', "index", 'reshape from the transposed map'),
    _t("2.2", r"\mathbb{R}^{20 \times 25}",
       r"\mathbb{R}^{25 \times 20}", "shape", 'seed shape transposed'),
    # ---- displays without a number -------------------------------------------------------------
    _t("[1.5 sizes]", r"\frac{H_c - K_p}{S_p}",
       r"\frac{H_c - K_p}{K_p}", "untagged", 'H_p with K_p for S_p'),
    _t("[1.5 sizes]", r"\frac{W_c - K_p}{S_p} \right\rfloor + 1",
       r"\frac{W_c - K_p}{S_p} \right\rfloor", "untagged", 'W_p without +1'),
    _t("[4.3 derivation]", r"\frac{t_{n,k'}}{y_{n,k'}}\, y_{n,k'}\big(",
       r"\frac{t_{n,k'}}{y_{n,k'}}\, \big(", "untagged", "the Jacobian's factor y dropped"),
    _t("[4.3 derivation]", r"= -\frac1N \Big(t_{n,k} - y_{n,k}",
       r"= -\frac1N \Big(t_{n,k} + y_{n,k}", "untagged", 'sign in the second step'),
    _t("[1.3 padded]", '(l-1)S+j}', '(l-1)S+j-P}', "untagged", 'padding subtracted twice'),
    _t("[1.1]", 'l = 1..W_{in}', 'l = 1..H_{in}', "untagged", "chapter 0's range of l"),
    # chapter 4's delta rule and local derivatives (the teaching rewrite)
    _t("[delta rule]", r"\frac{\partial z^{(up)}_{\beta}}{\partial z^{(low)}_{\alpha}}",
       r"\frac{\partial z^{(up)}_{\alpha}}{\partial z^{(low)}_{\beta}}", "untagged",
       'delta rule: the Jacobian transposed'),
    _t("[delta rule]", r"\sum_{\beta} \delta^{(up)}_{\beta}\," "\n"
       r"  \frac{\partial z^{(up)}_{\beta}}{\partial \theta}",
       r"\delta^{(up)}_{1}\," "\n" r"  \frac{\partial z^{(up)}_{1}}{\partial \theta}", "untagged",
       'delta rule: the parameter used in one place only (no sum)'),
    _t("[delta rule]", r"= \sum_{\beta} \delta^{(up)}_{\beta}\, \frac{\partial z^{(up)}",
       r"= \sum_{\beta} \frac{\partial z^{(up)}", "untagged",
       'delta rule: the upstream delta dropped'),
    _t("[4.11 local]", r"\mathbb 1\big[m = (p-1)S_p + i^*_{n,o,p,q}\big]",
       r"\mathbb 1\big[m = (p-1)S_p + j^*_{n,o,p,q}\big]", "untagged",
       'pool local derivative: i* and j* swapped'),
    _t("[4.11 local]", r"\mathbb 1[o' = o]\;", "", "untagged",
       'pool local derivative: channel indicator dropped'),
    _t("[4.11 local]", r"l = (q-1)S_p + j", r"l = (q-1)K_p + j", "untagged",
       'pool local derivative: window size for stride'),
    _t("[4.12 local]", r"\mathbb 1[o' = o]\;", "", "untagged",
       'conv weight local derivative: filter indicator dropped'),
    _t("[4.12 local]", r"(m-1)S+i,\,(l-1)S+j}", r"(m-1)S+j,\,(l-1)S+i}", "untagged",
       'conv weight local derivative: kernel offsets swapped'),
    _t("[4.14 local]", r"\mathbb 1[n' = n]", "1", "untagged",
       'conv input local derivative: sample indicator dropped'),
    _t("[4.14 local]", r"(m-1)S + i = u\big]", r"(m-1)S + i = u + P\big]", "untagged",
       'conv input local derivative: padding offset on the padded input'),
    _t("[4.14 local]", r"w^{(conv)}_{o,c,i,j}", r"w^{(conv)}_{o,c,K+1-i,K+1-j}", "untagged",
       'conv input local derivative: kernel flipped'),
)


def typeset_displays(notebooks=None) -> dict[str, str]:
    """Tag (or ``[key]``) -> the LaTeX of the display the typeset mutants are applied to."""
    from mnist_cnn.book.equations import check

    out: dict[str, str] = {}
    for nb in notebooks or check.book_notebooks():
        for tag, texts in check.extract_displays(nb).items():
            out.setdefault(tag, texts[0])
        for _, text in check.untagged_displays(nb):
            m = re.search(r"%\s*check:\s*\((.*?)\)", text)
            if m:
                out.setdefault(f"[{m.group(1)}]", text)
    return out


def judge_typeset(mutant: TypesetMutant, displays: dict[str, str]):
    """The verdict of :mod:`mnist_cnn.book.equations` on one typeset mutant (a ``Result``)."""
    from mnist_cnn.book.equations import check
    from mnist_cnn.book.equations.latex import LatexError, parse_display

    display = displays[mutant.tag]
    if display.count(mutant.old) != 1:
        raise ValueError(f"({mutant.tag}): {mutant.old!r} occurs {display.count(mutant.old)} "
                         "times in the display (the table is stale)")
    text = display.replace(mutant.old, mutant.new)
    if not mutant.tag.startswith("["):
        return check.typeset_results_of(mutant.tag, text)
    key = mutant.tag[1:-1]
    try:
        return check.check_display(parse_display(key, text),
                                   check.TWINS.get(key) or check.UNTAGGED[key])
    except LatexError as err:
        return check.Result(key, "fail", message=f"cannot read: {err}")


def run_typeset(mutants=TYPESET_MUTANTS) -> list[TypesetMutant]:
    """Judge every typeset mutant; print one line per survivor and ``killed K of N``.

    Returns
    -------
    list of TypesetMutant
        The survivors (empty when every mistake is caught).
    """
    displays = typeset_displays()
    survivors = [m for m in mutants if judge_typeset(m, displays).status != "fail"]
    for m in survivors:
        print(f"SURVIVED ({m.tag}) [{m.kind}] {m.mistake}: {m.old!r} -> {m.new!r}")
    kinds = sorted({m.kind for m in mutants})
    print("by kind: " + ", ".join(
        f"{k} {sum(m.kind == k and m not in survivors for m in mutants)}/"
        f"{sum(m.kind == k for m in mutants)}" for k in kinds))
    print(f"killed {len(mutants) - len(survivors)} of {len(mutants)}")
    return survivors


def _shape(node: ast.AST) -> str:
    """A node's syntax tree as text, without positions and without Load/Store context."""
    return re.sub(r"ctx=(Load|Store|Del)\(\)", "", ast.dump(node))


def _function_node(tree: ast.Module, anchor: Callable) -> ast.FunctionDef:
    function = inspect.unwrap(anchor)
    first = function.__code__.co_firstlineno
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                node.name == function.__name__) and first in (
                node.lineno, *(d.lineno for d in node.decorator_list)):
            return node
    raise ValueError(f"{function.__qualname__}: no such function in its source file")


def locate(mutant: Mutant, text: str) -> list[tuple[int, int, int]]:
    """Where ``mutant.old`` occurs inside its anchor in ``text`` (the anchor's file).

    Returns
    -------
    list of (start, end, column)
        Character offsets of every match (the caller wants exactly one), and the column of
        its first line (for re-indenting a replacement of several lines).
    """
    tree = ast.parse(text)
    function = _function_node(tree, mutant.anchor)
    wanted = ast.parse(textwrap.dedent(mutant.old)).body
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))

    def offset(line: int, col: int) -> int:
        return starts[line - 1] + len(text.splitlines(keepends=True)[line - 1].encode()[:col]
                                      .decode())

    spans = []
    if len(wanted) == 1 and isinstance(wanted[0], ast.Expr):  # an expression
        shape = _shape(wanted[0].value)
        for node in ast.walk(function):
            if isinstance(node, ast.expr) and _shape(node) == shape:
                spans.append((node, node))
    else:  # one statement or consecutive statements
        shapes = [_shape(s) for s in wanted]
        for node in ast.walk(function):
            for name in ("body", "orelse", "finalbody"):
                block = getattr(node, name, None)
                if not isinstance(block, list) or node is function and name != "body":
                    continue
                for k in range(len(block) - len(shapes) + 1):
                    if [_shape(s) for s in block[k : k + len(shapes)]] == shapes:
                        spans.append((block[k], block[k + len(shapes) - 1]))
    return [(offset(a.lineno, a.col_offset), offset(b.end_lineno, b.end_col_offset),
             a.col_offset) for a, b in spans]


def apply(mutant: Mutant, root: Path) -> None:
    """Replace the node in ``root / mutant.file``; it must occur exactly once in the anchor."""
    path = root / mutant.file
    text = path.read_text()
    spans = locate(mutant, text)
    if len(spans) != 1:
        raise ValueError(f"{mutant.name}: found {len(spans)} times in {mutant.where} "
                         "(the table is stale)")
    start, end, column = spans[0]
    new = textwrap.dedent(mutant.new).replace("\n", "\n" + " " * column)
    path.write_text(text[:start] + new + text[end:])


def _copy_tree(destination: Path) -> None:
    for name in ("mnist_cnn", "tests", "notebooks"):
        shutil.copytree(ROOT / name, destination / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    for name in ("pyproject.toml",):
        shutil.copy2(ROOT / name, destination / name)
    (destination / "data").symlink_to(ROOT / "data")


def _run_notebook(path: Path, env: dict[str, str], timeout: int) -> bool:
    """Execute a chapter in the mutant's copy; True if every cell ran (every assert held)."""
    code = ("import nbformat, sys; from nbclient import NotebookClient; "
            "nb = nbformat.read(sys.argv[1], as_version=4); "
            f"NotebookClient(nb, timeout={timeout}, kernel_name='python3', "
            "resources={'metadata': {'path': sys.argv[2]}}).execute()")
    result = subprocess.run([sys.executable, "-c", code, str(path), str(path.parent)], env=env,
                            capture_output=True, text=True)
    return result.returncode == 0


def run_one(mutant: Mutant, timeout: int = 900) -> tuple[str, float]:
    """Run one mutant in a fresh copy; return ``(verdict, seconds)``.

    The verdict is ``"killed by tests"``, ``"killed by <notebook>"`` or ``"SURVIVED"``.
    """
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        root = Path(tmp)
        _copy_tree(root)
        apply(mutant, root)
        env = dict(os.environ, PYTHONPATH=str(root), MPLBACKEND="Agg",
                   PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
                   OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        probe = subprocess.run(
            [sys.executable, "-c", "import mnist_cnn; print(mnist_cnn.__file__)"],
            env=env, cwd=root, capture_output=True, text=True)
        if not probe.stdout.strip().startswith(str(root)):
            raise RuntimeError(f"the mutant's copy is not imported first: {probe.stdout!r}")
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
             "--hypothesis-seed=0", *mutant.tests],
            env=env, cwd=root, capture_output=True, text=True, timeout=timeout)
        if tests.returncode != 0:
            return "killed by tests", time.perf_counter() - start
        for notebook in mutant.notebooks:
            if not _run_notebook(root / notebook, env, timeout):
                return f"killed by {Path(notebook).name[:2]}", time.perf_counter() - start
    return "SURVIVED", time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Command line: run the mutants, print one line each, then ``killed K of N``."""
    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.mutants",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="print the table and exit")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--typeset", action="store_true",
                        help="judge the typeset mutants instead (about a second)")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers must be >= 1; got {args.workers}")
    if args.typeset:
        return 1 if run_typeset() else 0
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    if args.names and len(chosen) != len(set(args.names)):
        parser.error(f"unknown mutant among {args.names}")
    if args.list:
        for m in chosen:
            print(f"{m.name:<32} {m.where:<36} {m.mistake}")
        return 0
    for m in chosen:  # a stale anchor fails before anything runs
        found = len(locate(m, (ROOT / m.file).read_text()))
        if found != 1:
            raise SystemExit(f"{m.name}: found {found} times in {m.where}")
    start = time.perf_counter()
    killed = 0
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for m, (verdict, seconds) in zip(chosen, pool.map(run_one, chosen), strict=True):
            killed += verdict != "SURVIVED"
            print(f"{m.name:<32} {verdict:<18} {seconds:6.1f} s   {m.mistake}", flush=True)
    print(f"{time.perf_counter() - start:.0f} s with {args.workers} workers")
    print(f"killed {killed} of {len(chosen)}")
    return 0 if killed == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
