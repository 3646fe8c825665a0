"""The loop layers (mnist_cnn.reference.loops) against independent references.

Forward: scipy.signal.correlate, sliding_window_view, numpy one-liners, numpy's
C-order reshape. Backward: centred finite differences in float64. None of the
references calls the loops it checks, except that the finite differences
differentiate the (separately checked) forward loops.
"""

import numpy as np
import pytest
import scipy.signal
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

from mnist_cnn.architecture import output_size
from mnist_cnn.reference.loops import (
    conv_backward_loops,
    conv_forward_loops,
    cross_entropy_loops,
    fc_backward_loops,
    fc_forward_loops,
    flatten_index,
    flatten_loops,
    maxpool_backward_loops,
    maxpool_forward_loops,
    pad_loops,
    relu_backward_loops,
    relu_forward_loops,
    softmax_cross_entropy_backward_loops,
    softmax_loops,
    unflatten_index,
    unflatten_loops,
)
from mnist_cnn.verify import gradcheck

# ---------------------------------------------------------------------------
# references that do not use the loops
# ---------------------------------------------------------------------------


def conv_reference(x, w, b, stride, padding):
    """Eq. (1.3) with scipy: valid correlation per (n, o), summed over c, then strided."""
    x_pad = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    N, C_in = x.shape[:2]
    C_out = w.shape[0]
    maps = []
    for n in range(N):
        for o in range(C_out):
            full_stride = sum(
                scipy.signal.correlate(x_pad[n, c], w[o, c], mode="valid") for c in range(C_in)
            )
            maps.append(full_stride[::stride, ::stride] + b[o])
    return np.array(maps).reshape(N, C_out, *maps[0].shape)


def maxpool_reference(z, pool, stride):
    windows = sliding_window_view(z, (pool, pool), axis=(2, 3))[:, :, ::stride, ::stride]
    return windows.max(axis=(-2, -1))


def centred_difference(f, a, eps=1e-6):
    """Centred differences of the zero-argument ``f()`` w.r.t. every entry of ``a``.

    ``f`` reads ``a`` through a closure; :func:`mnist_cnn.verify.gradcheck.numerical_gradient`
    perturbs ``a`` in place and restores it.
    """
    return gradcheck.numerical_gradient(lambda _: f(), a, eps=eps)


def assert_close(name, actual, expected, tol):
    error = float(np.max(np.abs(actual - expected)))
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    assert error < tol, f"{name}: max abs error {error:.2e} >= {tol:.0e}"


# ---------------------------------------------------------------------------
# flatten index, Eqs. (1.6)/(1.7)
# ---------------------------------------------------------------------------

C_SEED, H_P_SEED, W_P_SEED = 20, 12, 12


def test_flatten_index_is_numpy_c_order_exhaustively():
    """Every (o, p, q) of the seed's (20, 12, 12): r equals numpy's C-order position + 1."""
    position = np.arange(C_SEED * H_P_SEED * W_P_SEED).reshape(C_SEED, H_P_SEED, W_P_SEED)
    seen = []
    for o in range(1, C_SEED + 1):
        for p in range(1, H_P_SEED + 1):
            for q in range(1, W_P_SEED + 1):
                r = flatten_index(o, p, q, H_P_SEED, W_P_SEED)
                assert r == position[o - 1, p - 1, q - 1] + 1
                assert unflatten_index(r, H_P_SEED, W_P_SEED) == (o, p, q)
                seen.append(r)
    # a bijection onto 1..2880: every value exactly once
    assert sorted(seen) == list(range(1, 2881))
    assert max(seen) == 2880
    assert seen.count(2880) == 1
    assert flatten_index(C_SEED, H_P_SEED, W_P_SEED, H_P_SEED, W_P_SEED) == 2880


def test_unflatten_index_inverts_for_every_r():
    for r in range(1, C_SEED * H_P_SEED * W_P_SEED + 1):
        assert flatten_index(*unflatten_index(r, H_P_SEED, W_P_SEED), H_P_SEED, W_P_SEED) == r


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 1, 1, 12, 12), "o must be >= 1"),
        ((1, 13, 1, 12, 12), "p must lie in 1..H_p = 1..12; got 13"),
        ((1, 1, 0, 12, 12), "q must be >= 1"),
        ((1, 1, 13, 12, 12), "q must lie in 1..W_p = 1..12; got 13"),
    ],
)
def test_flatten_index_rejects_out_of_range(args, message):
    with pytest.raises(ValueError, match=message):
        flatten_index(*args)


def test_unflatten_index_rejects_zero():
    with pytest.raises(ValueError, match="r must be >= 1"):
        unflatten_index(0, 12, 12)


def test_flatten_and_unflatten_loops_match_reshape():
    rng = np.random.default_rng(1)
    z_pool = rng.normal(size=(2, 3, 4, 5))
    z_flat = flatten_loops(z_pool)
    np.testing.assert_array_equal(z_flat, z_pool.reshape(2, -1))
    np.testing.assert_array_equal(unflatten_loops(z_flat, 3, 4, 5), z_pool)


# ---------------------------------------------------------------------------
# forward loops against independent references
# ---------------------------------------------------------------------------


def test_pad_loops_matches_np_pad():
    x = np.random.default_rng(2).normal(size=(2, 3, 4, 5))
    for P in range(3):
        np.testing.assert_array_equal(
            pad_loops(x, P), np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
        )


@settings(max_examples=100)
@given(
    N=st.integers(1, 2),
    C_in=st.integers(1, 3),
    C_out=st.integers(1, 2),
    H=st.integers(3, 9),
    W=st.integers(3, 9),
    K=st.integers(1, 4),
    stride=st.integers(1, 2),
    padding=st.integers(0, 2),
    seed=st.integers(0, 2**16),
)
def test_conv_forward_matches_scipy_correlate(N, C_in, C_out, H, W, K, stride, padding, seed):
    assume(K <= H + 2 * padding and K <= W + 2 * padding)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, C_in, H, W))
    w = rng.normal(size=(C_out, C_in, K, K))
    b = rng.normal(size=C_out)
    z = conv_forward_loops(x, w, b, stride=stride, padding=padding)
    expected_shape = (
        N, C_out, output_size(H, K, stride, padding), output_size(W, K, stride, padding)
    )
    assert z.shape == expected_shape
    assert_close("conv", z, conv_reference(x, w, b, stride, padding), 1e-12)


@settings(max_examples=100)
@given(
    N=st.integers(1, 2),
    C=st.integers(1, 3),
    H=st.integers(2, 9),
    W=st.integers(2, 9),
    pool=st.integers(1, 3),
    stride=st.one_of(st.none(), st.integers(1, 3)),
    seed=st.integers(0, 2**16),
)
def test_maxpool_forward_matches_sliding_window(N, C, H, W, pool, stride, seed):
    """Includes windows that do not tile the map and stride != pool (overlap or gaps)."""
    assume(pool <= H and pool <= W)
    z = np.random.default_rng(seed).normal(size=(N, C, H, W))
    S_p = pool if stride is None else stride
    z_pool = maxpool_forward_loops(z, pool=pool, stride=stride)
    assert z_pool.shape == (N, C, output_size(H, pool, S_p), output_size(W, pool, S_p))
    np.testing.assert_array_equal(z_pool, maxpool_reference(z, pool, S_p))


def test_maxpool_drops_rows_no_window_covers():
    """5x5 map, 2x2 windows, stride 2: row/column 5 is read by no window (floor in Eq. 0.1)."""
    z = np.zeros((1, 1, 5, 5))
    z[0, 0, 4, :] = 100.0
    z[0, 0, :, 4] = 100.0
    z_pool = maxpool_forward_loops(z)
    assert z_pool.shape == (1, 1, 2, 2)
    assert np.all(z_pool == 0.0)


def test_fc_relu_softmax_match_numpy_one_liners():
    rng = np.random.default_rng(3)
    a, w, b = rng.normal(size=(3, 7)), rng.normal(size=(4, 7)), rng.normal(size=4)
    assert_close("fc", fc_forward_loops(a, w, b), a @ w.T + b, 1e-12)
    z = rng.normal(size=(3, 6))
    np.testing.assert_array_equal(relu_forward_loops(z), np.maximum(z, 0))
    expected = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = softmax_loops(z)
    assert_close("softmax", y, expected, 1e-15)
    assert_close("softmax row sums", y.sum(axis=1), np.ones(3), 1e-15)


def test_softmax_is_stable_for_large_logits():
    z = np.array([[1000.0, 999.0, 998.0], [-1000.0, 0.0, 1000.0]])
    y = softmax_loops(z)
    assert np.all(np.isfinite(y))
    shifted = z - z.max(axis=1, keepdims=True)
    assert_close("softmax(1000)", y, np.exp(shifted) / np.exp(shifted).sum(1, keepdims=True), 1e-15)


def test_softmax_couples_the_logits_of_one_sample():
    """Changing one logit changes every probability of that sample, and no other sample."""
    z = np.zeros((2, 4))
    z2 = z.copy()
    z2[0, 0] = 1.0
    y, y2 = softmax_loops(z), softmax_loops(z2)
    assert np.all(y[0] != y2[0])
    np.testing.assert_array_equal(y[1], y2[1])


def test_cross_entropy_matches_numpy():
    rng = np.random.default_rng(4)
    y = softmax_loops(rng.normal(size=(5, 10)))
    labels = rng.integers(0, 10, size=5)
    expected = -np.mean(np.log(y[np.arange(5), labels]))
    loss = cross_entropy_loops(y, labels)
    assert abs(loss - expected) < 1e-14
    assert isinstance(loss, np.float64)
    # a zero probability of a wrong class must not give nan (0 log 0 = 0)
    y_hard = np.array([[0.0, 1.0]])
    assert cross_entropy_loops(y_hard, np.array([1])) == 0.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_function_preserves_dtype(dtype):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(1, 2, 5, 4)).astype(dtype)
    w = rng.normal(size=(3, 2, 2, 2)).astype(dtype)
    b = rng.normal(size=3).astype(dtype)
    z = conv_forward_loops(x, w, b, stride=1, padding=1)
    z_pool = maxpool_forward_loops(z)
    z_flat = flatten_loops(z_pool)
    w1 = rng.normal(size=(4, z_flat.shape[1])).astype(dtype)
    z_fc = fc_forward_loops(z_flat, w1, rng.normal(size=4).astype(dtype))
    y = softmax_loops(relu_forward_loops(z_fc))
    labels = np.array([2])
    outs = [pad_loops(x, 2), z, z_pool, z_flat, z_fc, y, cross_entropy_loops(y, labels)]
    delta = softmax_cross_entropy_backward_loops(y, labels)
    outs += [delta, relu_backward_loops(delta, z_fc)]
    outs += list(fc_backward_loops(delta, z_flat, w1))
    delta_pool = unflatten_loops(fc_backward_loops(delta, z_flat, w1)[0], *z_pool.shape[1:])
    outs.append(delta_pool)
    delta_conv = maxpool_backward_loops(delta_pool, z)
    outs.append(delta_conv)
    outs += list(conv_backward_loops(delta_conv, x, w, stride=1, padding=1))
    assert [np.asarray(out).dtype for out in outs] == [np.dtype(dtype)] * len(outs)


# ---------------------------------------------------------------------------
# backward loops against centred finite differences (float64, tiny shapes)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding"),
    [
        ((1, 3, 5, 6), (2, 3, 3, 3), 2, 1),  # C_in = 3, rectangular, stride 2
        ((1, 2, 4, 5), (2, 2, 2, 2), 1, 2),  # padding 2
        ((2, 1, 6, 5), (1, 1, 3, 3), 2, 0),  # stride 2 that does not tile: a dropped row
    ],
)
def test_conv_backward_matches_finite_differences(x_shape, w_shape, stride, padding):
    rng = np.random.default_rng(6)
    x, w = rng.normal(size=x_shape), rng.normal(size=w_shape)
    b = rng.normal(size=w_shape[0])
    z = conv_forward_loops(x, w, b, stride, padding)
    # L = sum(G * z) has dL/dz = G: a random G lets no wrong index hide
    G = rng.normal(size=z.shape)

    def loss():
        return float(np.sum(G * conv_forward_loops(x, w, b, stride, padding)))

    dx, dw, db = conv_backward_loops(G, x, w, stride, padding)
    assert_close("conv dx", dx, centred_difference(loss, x), 1e-8)
    assert_close("conv dw", dw, centred_difference(loss, w), 1e-8)
    assert_close("conv db", db, centred_difference(loss, b), 1e-8)


def test_fc_backward_matches_finite_differences():
    rng = np.random.default_rng(7)
    a, w, b = rng.normal(size=(3, 5)), rng.normal(size=(4, 5)), rng.normal(size=4)
    G = rng.normal(size=(3, 4))

    def loss():
        return float(np.sum(G * fc_forward_loops(a, w, b)))

    delta_in, dw, db = fc_backward_loops(G, a, w)
    assert_close("fc da", delta_in, centred_difference(loss, a), 1e-8)
    assert_close("fc dw", dw, centred_difference(loss, w), 1e-8)
    assert_close("fc db", db, centred_difference(loss, b), 1e-8)


def test_relu_backward_matches_finite_differences():
    rng = np.random.default_rng(8)
    z = rng.normal(size=(3, 6))
    z[np.abs(z) < 1e-3] = 0.5  # keep away from the kink at 0
    G = rng.normal(size=z.shape)

    def loss():
        return float(np.sum(G * relu_forward_loops(z)))

    assert_close("relu", relu_backward_loops(G, z), centred_difference(loss, z), 1e-8)


def test_relu_backward_takes_zero_derivative_at_zero():
    z = np.array([[0.0, -1.0, 2.0]])
    np.testing.assert_array_equal(relu_backward_loops(np.ones_like(z), z), [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize(("shape", "pool", "stride"), [
    ((2, 2, 4, 6), 2, None),
    ((1, 2, 5, 5), 2, 2),  # does not tile: last row/column get 0
    ((1, 1, 5, 6), 3, 1),  # overlapping windows accumulate
    ((1, 1, 6, 5), 2, 3),  # gaps between windows
])
def test_maxpool_backward_matches_finite_differences(shape, pool, stride):
    rng = np.random.default_rng(9)
    # distinct values 0.1 apart: no ties, and eps = 1e-6 never changes an argmax
    z = rng.permutation(np.prod(shape)).reshape(shape) * 0.1
    S_p = pool if stride is None else stride
    G = rng.normal(size=maxpool_reference(z, pool, S_p).shape)

    def loss():
        return float(np.sum(G * maxpool_forward_loops(z, pool, stride)))

    delta_conv = maxpool_backward_loops(G, z, pool, stride)
    assert_close("maxpool", delta_conv, centred_difference(loss, z), 1e-8)


def test_maxpool_backward_tie_goes_to_first_maximum():
    """A window of equal values routes everything to its first entry in row-major order."""
    z = np.zeros((1, 1, 4, 4))
    z[0, 0, 2:, 2:] = [[5.0, 7.0], [7.0, 7.0]]  # tie between (3,4), (4,3), (4,4) in 1-based
    delta_pool = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    delta_conv = maxpool_backward_loops(delta_pool, z)
    expected = np.zeros((1, 1, 4, 4))
    expected[0, 0, 0, 0] = 1.0  # all-zero window: its first entry
    expected[0, 0, 0, 2] = 2.0
    expected[0, 0, 2, 0] = 3.0
    expected[0, 0, 2, 3] = 4.0  # the first 7 in row-major order
    np.testing.assert_array_equal(delta_conv, expected)


def test_maxpool_backward_accumulates_over_overlapping_windows():
    z = np.zeros((1, 1, 3, 3))
    z[0, 0, 1, 1] = 1.0  # the centre is the maximum of all four 2x2 windows (stride 1)
    delta_conv = maxpool_backward_loops(np.ones((1, 1, 2, 2)), z, pool=2, stride=1)
    assert delta_conv[0, 0, 1, 1] == 4.0
    assert delta_conv.sum() == 4.0


def test_softmax_cross_entropy_backward_matches_finite_differences():
    rng = np.random.default_rng(10)
    z = rng.normal(size=(3, 5))
    labels = np.array([0, 4, 2])

    def loss():
        return float(cross_entropy_loops(softmax_loops(z), labels))

    delta = softmax_cross_entropy_backward_loops(softmax_loops(z), labels)
    assert_close("softmax-CE", delta, centred_difference(loss, z), 1e-8)


# ---------------------------------------------------------------------------
# bad input: clear errors naming expected and actual
# ---------------------------------------------------------------------------


def test_conv_rejects_wrong_bias_shape():
    x, w, b = np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3)), np.zeros(3)
    with pytest.raises(ValueError, match=r"b must have shape \[C_out\] = \(2,\); got \(3,\)"):
        conv_forward_loops(x, w, b)


def test_conv_rejects_channel_mismatch():
    x, w, b = np.zeros((1, 3, 5, 5)), np.zeros((2, 1, 3, 3)), np.zeros(2)
    with pytest.raises(ValueError, match=r"\(2, 3, 3, 3\); got \(2, 1, 3, 3\)"):
        conv_forward_loops(x, w, b)


def test_conv_rejects_non_square_kernel_and_wrong_rank():
    with pytest.raises(ValueError, match=r"square kernel .*; got \(2, 1, 3, 2\)"):
        conv_forward_loops(np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 2)), np.zeros(2))
    rank_message = r"x must be 4-D \[N, C_in, H_in, W_in\]; got shape \(5, 5\)"
    with pytest.raises(ValueError, match=rank_message):
        conv_forward_loops(np.zeros((5, 5)), np.zeros((2, 1, 3, 3)), np.zeros(2))


def test_conv_rejects_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match="kernel 5 does not fit into input 3"):
        conv_forward_loops(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 5, 5)), np.zeros(1))


def test_dtype_errors():
    with pytest.raises(TypeError, match="dtype mismatch: x is float32 but w is float64"):
        conv_forward_loops(
            np.zeros((1, 1, 5, 5), np.float32), np.zeros((2, 1, 3, 3)), np.zeros(2)
        )
    with pytest.raises(TypeError, match="float32 or float64; got int64"):
        fc_forward_loops(np.zeros((2, 3), np.int64), np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(TypeError, match="labels must be an integer numpy.ndarray; got float64"):
        cross_entropy_loops(np.full((2, 3), 1 / 3), np.zeros(2))


def test_backward_rejects_wrong_delta_shape():
    x, w = np.zeros((1, 1, 5, 5)), np.zeros((2, 1, 3, 3))
    with pytest.raises(ValueError, match=r"\(1, 2, 3, 3\); got \(1, 2, 4, 4\)"):
        conv_backward_loops(np.zeros((1, 2, 4, 4)), x, w)
    with pytest.raises(ValueError, match=r"\(2, 4\); got \(2, 5\)"):
        fc_backward_loops(np.zeros((2, 5)), np.zeros((2, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"\(1, 1, 2, 2\); got \(1, 1, 3, 3\)"):
        maxpool_backward_loops(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"D_0\] = .*60\); got \(2, 59\)"):
        unflatten_loops(np.zeros((2, 59)), 3, 4, 5)


def test_fc_and_labels_shape_errors():
    fc_message = r"w must have shape \[D_out, D_in\] = \(4, 3\); got \(4, 5\)"
    with pytest.raises(ValueError, match=fc_message):
        fc_forward_loops(np.zeros((2, 3)), np.zeros((4, 5)), np.zeros(4))
    with pytest.raises(ValueError, match=r"labels must have shape \[N\] = \(2,\); got \(3,\)"):
        cross_entropy_loops(np.full((2, 3), 1 / 3), np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\]; got min 0, max 3"):
        softmax_cross_entropy_backward_loops(np.full((2, 3), 1 / 3), np.array([0, 3]))


@pytest.mark.parametrize("C_in, H, W, K, S, P", [(1, 6, 6, 3, 1, 0), (3, 9, 7, 3, 2, 1),
                                                 (2, 8, 10, 4, 3, 2), (1, 28, 28, 5, 2, 1)])
def test_im2col_loops_entries_equal_the_windowed_im2col(C_in, H, W, K, S, P):
    from mnist_cnn.reference import im2col, loops

    x = np.random.default_rng(C_in + H + S).normal(size=(2, C_in, H, W))
    X_col = loops.im2col_loops(x, K, S, P)
    np.testing.assert_array_equal(X_col, im2col.im2col(x, K, S, P))
    # one entry by hand: c = 2 (or 1), i = 2, j = 3, m = 2, l = 1 in 1-based numbers
    c, i, j, m, l = min(2, C_in), 2, min(3, K), 2, 1
    W_c = (W - K + 2 * P) // S + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    assert X_col[1, (c - 1) * K * K + (i - 1) * K + j - 1, (m - 1) * W_c + l - 1] == \
        x_pad[1, c - 1, (m - 1) * S + i - 1, (l - 1) * S + j - 1]
