"""Tests for mnist_cnn.reference.im2col: Eqs. (1.2), (2.1), (3.1) entry by entry; col2im (adjoint).

The references here are independent of sliding_window_view: they index the
padded input with the equations' formulas, one entry at a time, on tiny shapes.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mnist_cnn.reference.im2col as im2col_module
from mnist_cnn.reference.im2col import col2im, conv_output_hw, im2col, im2col_per_channel, pad
from mnist_cnn.reference.loops import pad_loops


@st.composite
def window_cases(draw):
    """Random (x, K, S, P) with H != W and a kernel that fits the padded input."""
    n = draw(st.integers(1, 2))
    c_in = draw(st.integers(1, 3))
    h = draw(st.integers(1, 7))
    w = draw(st.integers(1, 8).filter(lambda v: v != h))
    padding = draw(st.integers(0, 2))
    K = draw(st.integers(1, min(h, w) + 2 * padding))
    stride = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).standard_normal((n, c_in, h, w))
    return x, K, stride, padding


def reference_im2col_per_channel(x, K, S, P):
    """Eq. (2.1) entry by entry: X[n, c, i*K + j, m*W_c + l] = x~[n, c, m*S + i, l*S + j]."""
    N, C, H, W = x.shape
    xp = pad_loops(x, P)
    H_c, W_c = (H - K + 2 * P) // S + 1, (W - K + 2 * P) // S + 1
    X = np.zeros((N, C, K * K, H_c * W_c), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(K):
                for j in range(K):
                    for m in range(H_c):
                        for l in range(W_c):
                            X[n, c, i * K + j, m * W_c + l] = xp[n, c, m * S + i, l * S + j]
    return X


# --------------------------------------------------------------------------- pad, Eq. (1.2)


@given(window_cases())
def test_pad_matches_loop_reference(case):
    x, _, _, padding = case
    np.testing.assert_array_equal(pad(x, padding), pad_loops(x, padding))


def test_pad_zero_is_no_copy():
    x = np.ones((1, 1, 3, 4))
    assert pad(x, 0) is x


# ------------------------------------------------------------------ im2col, Eqs. (2.1), (3.1)


@given(window_cases())
def test_im2col_per_channel_entries_follow_eq_2_1(case):
    x, K, S, P = case
    X = im2col_per_channel(x, K, S, P)
    H_c, W_c = conv_output_hw(x.shape[2], x.shape[3], K, S, P)
    assert X.shape == (x.shape[0], x.shape[1], K * K, H_c * W_c)
    np.testing.assert_array_equal(X, reference_im2col_per_channel(x, K, S, P))


@given(window_cases())
def test_im2col_channel_parallel_rows_follow_eq_3_1(case):
    """Row (c-1)K^2 + (i-1)K + j of X_col is row (i-1)K + j of X_c: the X_c stacked."""
    x, K, S, P = case
    X_col = im2col(x, K, S, P)
    X = reference_im2col_per_channel(x, K, S, P)
    N, C = x.shape[:2]
    assert X_col.shape == (N, C * K * K, X.shape[-1])
    np.testing.assert_array_equal(X_col, X.reshape(N, C * K * K, -1))
    assert X_col.flags["C_CONTIGUOUS"]


@given(window_cases(), st.data())
def test_a_column_is_the_receptive_field(case, data):
    x, K, S, P = case
    X_col = im2col(x, K, S, P)
    H_c, W_c = conv_output_hw(x.shape[2], x.shape[3], K, S, P)
    column = data.draw(st.integers(0, H_c * W_c - 1))
    m, l = divmod(column, W_c)  # column index m*W_c + l
    xp = pad(x, P)
    for n in range(x.shape[0]):
        patch = xp[n, :, m * S : m * S + K, l * S : l * S + K]
        np.testing.assert_array_equal(X_col[n, :, column].reshape(x.shape[1], K, K), patch)


def test_seed_shapes():
    """The seed's conv: one 28x28 image, K = 5 -> X_c is [25 x 576]."""
    x = np.zeros((64, 1, 28, 28), dtype=np.float32)
    assert im2col_per_channel(x, 5).shape == (64, 1, 25, 576)
    assert im2col(x, 5).shape == (64, 25, 576)
    assert im2col(np.zeros((64, 20, 12, 12)), 5).shape == (64, 500, 64)


def test_docstring_examples():
    result = doctest.testmod(im2col_module, extraglobs={"np": np})
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------- col2im, Eq. (4.15)


@given(window_cases())
def test_col2im_is_the_adjoint_of_im2col(case):
    """<im2col(x), Y> = <x, col2im(Y)> for random x and Y, in float64."""
    x, K, S, P = case
    X_col = im2col(x, K, S, P)
    Y = np.random.default_rng(1).standard_normal(X_col.shape)
    lhs = np.vdot(X_col, Y)
    rhs = np.vdot(x, col2im(Y, x.shape, K, S, P))
    assert abs(lhs - rhs) < 1e-10


@given(window_cases())
def test_col2im_of_ones_counts_windows(case):
    """col2im(1) is the number of windows that read each pixel (0 on a dropped border)."""
    x, K, S, P = case
    N, C, H, W = x.shape
    H_c, W_c = conv_output_hw(H, W, K, S, P)
    counts = col2im(np.ones((N, C * K * K, H_c * W_c)), x.shape, K, S, P)
    expected = np.zeros((H + 2 * P, W + 2 * P))
    for m in range(H_c):
        for l in range(W_c):
            expected[m * S : m * S + K, l * S : l * S + K] += 1
    expected = expected[P : P + H, P : P + W]
    np.testing.assert_array_equal(counts, np.broadcast_to(expected, x.shape))


# --------------------------------------------------------------------------- dtype and errors


def test_float32_stays_float32():
    x = np.ones((2, 3, 6, 5), dtype=np.float32)
    assert pad(x, 1).dtype == np.float32
    assert im2col_per_channel(x, 3, 2, 1).dtype == np.float32
    X_col = im2col(x, 3, 2, 1)
    assert X_col.dtype == np.float32
    assert col2im(X_col, x.shape, 3, 2, 1).dtype == np.float32


def test_bad_inputs_give_clear_errors():
    with pytest.raises(TypeError, match="float32 or float64; got int64"):
        im2col(np.ones((1, 1, 4, 4), dtype=np.int64), 2)
    with pytest.raises(ValueError, match=r"x must be 4-D \[N, C_in, H_in, W_in\]; got shape"):
        im2col(np.ones((4, 4)), 2)
    with pytest.raises(ValueError, match="kernel 5 does not fit into input 4"):
        im2col(np.ones((1, 1, 4, 9)), 5)
    with pytest.raises(ValueError, match="stride must be >= 1; got 0"):
        im2col_per_channel(np.ones((1, 1, 4, 4)), 2, stride=0)
    with pytest.raises(ValueError, match="padding must be >= 0; got -1"):
        pad(np.ones((1, 1, 4, 4)), -1)
    with pytest.raises(TypeError, match="K must be an int; got float"):
        im2col(np.ones((1, 1, 4, 4)), 2.0)
    with pytest.raises(ValueError, match=r"X_col must have shape \[N, C_in\*K\*K, H_c\*W_c\]"):
        col2im(np.ones((1, 4, 10)), (1, 1, 4, 4), 2)
