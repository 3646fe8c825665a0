"""Tests for mnist_cnn.reference.layers: every vectorised layer against three referees.

1. the loop reference ``mnist_cnn.reference.loops`` (same equation, index by index);
2. an outside reference where one exists (``scipy.signal.correlate`` for the conv);
3. centred finite differences in float64 for every backward function.

Shapes are drawn by hypothesis (random N, C_in, C_out, H != W, K, stride,
padding) and kept tiny, because the loop versions are slow by design.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy.signal import correlate

from mnist_cnn.reference import layers as L
from mnist_cnn.reference import loops as S
from mnist_cnn.verify import gradcheck

# --------------------------------------------------------------------------- helpers


def numerical_gradient(f, a, eps=1e-6):
    """Centred differences of the zero-argument ``f()`` w.r.t. every entry of ``a``.

    ``f`` reads ``a`` through a closure; :func:`mnist_cnn.verify.gradcheck.numerical_gradient`
    perturbs ``a`` in place and restores it.
    """
    return gradcheck.numerical_gradient(lambda _: f(), a, eps=eps)


def assert_close(actual, expected, tol=1e-10):
    assert actual.shape == expected.shape
    err = np.max(np.abs(actual - expected), initial=0.0)
    assert err < tol, f"max abs error {err:.2e} >= {tol:.0e}"


@st.composite
def conv_cases(draw, max_hw=7):
    """Random conv problem (x, w, b, S, P) in float64 with H != W and a kernel that fits."""
    n = draw(st.integers(1, 2))
    c_in = draw(st.integers(1, 3))
    c_out = draw(st.integers(1, 3))
    h = draw(st.integers(1, max_hw))
    w_ = draw(st.integers(1, max_hw + 1).filter(lambda v: v != h))
    padding = draw(st.integers(0, 2))
    K = draw(st.integers(1, min(4, min(h, w_) + 2 * padding)))
    stride = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c_in, h, w_))
    w = rng.standard_normal((c_out, c_in, K, K))
    b = rng.standard_normal(c_out)
    return x, w, b, stride, padding


@st.composite
def pool_cases(draw):
    """Random max-pool problem (z, K_p, S_p); S_p may differ from K_p; windows need not tile."""
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, 3))
    h = draw(st.integers(1, 9))
    w = draw(st.integers(1, 10).filter(lambda v: v != h))
    pool = draw(st.integers(1, min(h, w, 4)))
    stride = draw(st.one_of(st.none(), st.integers(1, 4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        z = rng.standard_normal((n, c, h, w))
    else:  # few distinct values: many ties, which must be broken like the loop version does
        z = rng.integers(0, 3, size=(n, c, h, w)).astype(np.float64)
    return z, pool, stride


def scipy_conv(x, w, b, stride, padding):
    """Eq. (1.3) via scipy.signal.correlate: valid correlation of the padded input, then [::S]."""
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    rows = []
    for n in range(x.shape[0]):
        # correlate over (c, i, j); the channel axis has equal lengths, so 'valid' leaves 1.
        maps = [correlate(xp[n], w[o], mode="valid")[0, ::stride, ::stride] + b[o]
                for o in range(w.shape[0])]
        rows.append(np.stack(maps))
    return np.stack(rows)


# --------------------------------------------------------------------------- convolution


def named_conv_case(n, c_in, c_out, h, w, K, stride, padding, seed=0):
    """A conv problem with the given sizes, for cases that must always be tested."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, c_in, h, w)), rng.standard_normal((c_out, c_in, K, K)),
            rng.standard_normal(c_out), stride, padding)


# Hypothesis draws these kinds of case too, but only by chance; pin them.
NAMED_CONV_CASES = [
    named_conv_case(1, 3, 2, 7, 9, 3, 2, 1),   # batch 1, C_in = 3, non-square, stride 2, P = 1
    named_conv_case(2, 3, 2, 6, 5, 3, 2, 2),   # P = 2 with stride 2
    named_conv_case(1, 1, 4, 12, 10, 5, 1, 2),  # "same" padding for K = 5
]


@given(conv_cases())
@example(NAMED_CONV_CASES[0])
@example(NAMED_CONV_CASES[1])
@example(NAMED_CONV_CASES[2])
def test_conv_forward_four_forms_agree_with_loops_and_scipy(case):
    x, w, b, stride, padding = case
    z_loops = S.conv_forward_loops(x, w, b, stride, padding)
    assert_close(scipy_conv(x, w, b, stride, padding), z_loops)
    z, cache = L.conv_forward(x, w, b, stride, padding)
    assert_close(z, z_loops)
    assert_close(L.conv_forward_per_channel(x, w, b, stride, padding), z_loops)
    assert_close(L.conv_forward_einsum(x, w, b, stride, padding), z_loops)
    assert cache.X_col.shape == (x.shape[0], w[0].size, z.shape[2] * z.shape[3])


@given(conv_cases())
@example(NAMED_CONV_CASES[0])
@example(NAMED_CONV_CASES[1])
@example(NAMED_CONV_CASES[2])
def test_conv_backward_matches_loops(case):
    x, w, b, stride, padding = case
    z, cache = L.conv_forward(x, w, b, stride, padding)
    delta = np.random.default_rng(0).standard_normal(z.shape)
    dx, dw, db = L.conv_backward(delta, cache)
    dx_l, dw_l, db_l = S.conv_backward_loops(delta, x, w, stride, padding)
    assert_close(dx, dx_l)
    assert_close(dw, dw_l)
    assert_close(db, db_l)


@given(conv_cases(max_hw=5))
def test_conv_backward_matches_finite_differences(case):
    x, w, b, stride, padding = case
    z, cache = L.conv_forward(x, w, b, stride, padding)
    g = np.random.default_rng(0).standard_normal(z.shape)  # L = <z, g>, so dL/dz = g

    def loss():
        return np.vdot(L.conv_forward(x, w, b, stride, padding)[0], g)

    dx, dw, db = L.conv_backward(g, cache)
    assert_close(dx, numerical_gradient(loss, x), 1e-7)
    assert_close(dw, numerical_gradient(loss, w), 1e-7)
    assert_close(db, numerical_gradient(loss, b), 1e-7)


def test_seed_conv_and_lenet_second_conv_shapes():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 1, 28, 28)).astype(np.float32)
    w = rng.standard_normal((20, 1, 5, 5)).astype(np.float32)
    z, _ = L.conv_forward(x, w, np.zeros(20, np.float32))
    assert z.shape == (2, 20, 24, 24)
    z2 = L.conv_forward_per_channel(
        rng.standard_normal((2, 20, 12, 12)), rng.standard_normal((50, 20, 5, 5)), np.zeros(50)
    )
    assert z2.shape == (2, 50, 8, 8)


# --------------------------------------------------------------------------- max-pooling


@given(pool_cases())
def test_maxpool_both_forms_match_loops(case):
    z, pool, stride = case
    out_loops = S.maxpool_forward_loops(z, pool, stride)
    out, cache = L.maxpool_forward(z, pool, stride)
    out2, cache2 = L.maxpool_forward_im2col(z, pool, stride)
    np.testing.assert_array_equal(out, out_loops)
    np.testing.assert_array_equal(out2, out_loops)
    # both forms record the same routing (first maximum in row-major window order)
    np.testing.assert_array_equal(cache.argmax, cache2.argmax)


@given(pool_cases())
def test_maxpool_backward_matches_loops_including_ties_and_overlap(case):
    z, pool, stride = case
    out, cache = L.maxpool_forward(z, pool, stride)
    _, cache2 = L.maxpool_forward_im2col(z, pool, stride)
    dout = np.random.default_rng(0).standard_normal(out.shape)
    expected = S.maxpool_backward_loops(dout, z, pool, stride)
    assert_close(L.maxpool_backward(dout, cache), expected, 1e-12)
    assert_close(L.maxpool_backward(dout, cache2), expected, 1e-12)


@pytest.mark.parametrize(("pool", "stride"), [(2, None), (3, None), (2, 1), (3, 2), (2, 3)])
def test_maxpool_backward_matches_finite_differences(pool, stride):
    """Distinct, well separated values, so that no window has a near-tie."""
    rng = np.random.default_rng(pool * 10 + (stride or 0))
    z = rng.permutation(2 * 7 * 8).reshape(1, 2, 7, 8) * 0.1
    out, cache = L.maxpool_forward_im2col(z, pool, stride)
    g = rng.standard_normal(out.shape)

    def loss():
        return np.vdot(L.maxpool_forward(z, pool, stride)[0], g)

    # The loss is piecewise linear and no two entries are closer than 0.1, so a
    # large step is exact up to rounding.
    assert_close(L.maxpool_backward(g, cache), numerical_gradient(loss, z, eps=1e-3), 1e-10)


def test_maxpool_border_is_dropped_and_gets_no_gradient():
    """H = 5, K_p = S_p = 2: the last row and column are in no window."""
    z = np.zeros((1, 1, 5, 5))
    z[0, 0, 4, :] = 100.0  # the largest values sit on the dropped border
    z[0, 0, :, 4] = 100.0
    out, cache = L.maxpool_forward(z)
    assert out.shape == (1, 1, 2, 2) and out.max() == 0.0
    dz = L.maxpool_backward(np.ones_like(out), cache)
    assert dz[0, 0, 4, :].sum() == 0 and dz[0, 0, :, 4].sum() == 0
    assert dz.sum() == 4  # one routed gradient per window


def test_maxpool_seed_shapes_and_tie_rule():
    z = np.zeros((1, 1, 24, 24))  # all ties: the first entry (i, j) = (1, 1) wins everywhere
    out, cache = L.maxpool_forward(z)
    assert out.shape == (1, 1, 12, 12) and cache.argmax.shape == (1, 1, 12, 12)
    assert (cache.argmax == 0).all()
    dz = L.maxpool_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dz[0, 0, ::2, ::2], 1.0)
    assert dz.sum() == 144


# --------------------------------------------------------------------------- flatten, fc, relu


@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4))
def test_flatten_matches_loops_and_backward_inverts(n, c, h, w):
    z = np.random.default_rng(n * 1000 + c * 100 + h * 10 + w).standard_normal((n, c, h, w))
    flat, cache = L.flatten_forward(z)
    np.testing.assert_array_equal(flat, S.flatten_loops(z))
    np.testing.assert_array_equal(L.flatten_backward(flat, cache), z)
    np.testing.assert_array_equal(L.flatten_backward(flat, cache), S.unflatten_loops(flat, c, h, w))


@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_fc_forward_backward_match_loops_and_finite_differences(n, d_in, d_out, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, d_in))
    w = rng.standard_normal((d_out, d_in))
    b = rng.standard_normal(d_out)
    z, cache = L.fc_forward(a, w, b)
    assert_close(z, S.fc_forward_loops(a, w, b))
    g = rng.standard_normal(z.shape)
    da, dw, db = L.fc_backward(g, cache)
    for mine, ref in zip((da, dw, db), S.fc_backward_loops(g, a, w), strict=True):
        assert_close(mine, ref)

    def loss():
        return np.vdot(L.fc_forward(a, w, b)[0], g)

    assert_close(da, numerical_gradient(loss, a), 1e-7)
    assert_close(dw, numerical_gradient(loss, w), 1e-7)
    assert_close(db, numerical_gradient(loss, b), 1e-7)


@given(st.integers(1, 4), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_relu_matches_loops_and_finite_differences(n, d, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d))
    z[0, 0] = 0.0  # the kink: derivative taken as 0 by both versions
    out, cache = L.relu_forward(z)
    np.testing.assert_array_equal(out, S.relu_forward_loops(z))
    g = rng.standard_normal(z.shape)
    dz = L.relu_backward(g, cache)
    np.testing.assert_array_equal(dz, S.relu_backward_loops(g, z))
    z[0, 0] = 0.5  # finite differences need a point away from the kink
    dz = L.relu_backward(g, L.relu_forward(z)[1])
    assert_close(dz, numerical_gradient(lambda: np.vdot(L.relu_forward(z)[0], g), z), 1e-8)


# --------------------------------------------------------------------------- softmax and loss


@given(st.integers(1, 5), st.integers(2, 10), st.integers(0, 2**32 - 1))
def test_softmax_loss_and_delta_match_loops_and_finite_differences(n, classes, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, classes)) * 3
    labels = rng.integers(0, classes, size=n)
    y = L.softmax(z)
    assert_close(y, S.softmax_loops(z), 1e-14)
    assert_close(y.sum(axis=1), np.ones(n), 1e-14)
    loss = L.cross_entropy(y, labels)
    assert abs(loss - S.cross_entropy_loops(y, labels)) < 1e-12
    delta = L.softmax_cross_entropy_backward(y, labels)
    assert_close(delta, S.softmax_cross_entropy_backward_loops(y, labels), 1e-15)
    assert_close(delta, (y - L.one_hot(labels, classes)) / n, 1e-15)
    numerical = numerical_gradient(lambda: L.cross_entropy(L.softmax(z), labels), z)
    assert_close(delta, numerical, 1e-8)


def test_softmax_is_stable_for_huge_logits():
    z = np.array([[1000.0, 0.0, -1000.0]], dtype=np.float32)
    y = L.softmax(z)
    assert np.isfinite(y).all() and y.dtype == np.float32
    np.testing.assert_allclose(y, [[1.0, 0.0, 0.0]])
    assert np.isfinite(L.cross_entropy(y, np.array([2])))


def test_one_hot():
    t = L.one_hot(np.array([3, 0, 9]), 10, np.float32)
    assert t.dtype == np.float32 and t.shape == (3, 10)
    np.testing.assert_array_equal(t.argmax(axis=1), [3, 0, 9])
    assert t.sum() == 3


# --------------------------------------------------------------------------- the whole chain


def test_whole_network_backward_matches_finite_differences():
    """conv -> pool -> flatten -> fc1 -> ReLU -> fc2 -> softmax + CE, every parameter."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 7, 6))
    params = {
        "w_conv": rng.standard_normal((3, 2, 3, 3)) * 0.5,
        "b_conv": rng.standard_normal(3) * 0.1,
        "w_fc1": rng.standard_normal((5, 3 * 2 * 2)) * 0.5,
        "b_fc1": rng.standard_normal(5) * 0.1,
        "w_fc2": rng.standard_normal((4, 5)) * 0.5,
        "b_fc2": rng.standard_normal(4) * 0.1,
    }
    labels = np.array([1, 3])
    p = params

    def forward():
        z_conv, c_conv = L.conv_forward(x, p["w_conv"], p["b_conv"], 1, 0)
        z_pool, c_pool = L.maxpool_forward(z_conv)
        z_flat, c_flat = L.flatten_forward(z_pool)
        z_fc1, c_fc1 = L.fc_forward(z_flat, p["w_fc1"], p["b_fc1"])
        z_relu, c_relu = L.relu_forward(z_fc1)
        z_fc2, c_fc2 = L.fc_forward(z_relu, p["w_fc2"], p["b_fc2"])
        y = L.softmax(z_fc2)
        return y, (c_conv, c_pool, c_flat, c_fc1, c_relu, c_fc2)

    y, (c_conv, c_pool, c_flat, c_fc1, c_relu, c_fc2) = forward()
    delta_fc2 = L.softmax_cross_entropy_backward(y, labels)
    delta_relu, dw_fc2, db_fc2 = L.fc_backward(delta_fc2, c_fc2)
    delta_fc1 = L.relu_backward(delta_relu, c_relu)
    delta_flat, dw_fc1, db_fc1 = L.fc_backward(delta_fc1, c_fc1)
    delta_pool = L.flatten_backward(delta_flat, c_flat)
    delta_conv = L.maxpool_backward(delta_pool, c_pool)
    _, dw_conv, db_conv = L.conv_backward(delta_conv, c_conv)
    analytic = {"w_conv": dw_conv, "b_conv": db_conv, "w_fc1": dw_fc1, "b_fc1": db_fc1,
                "w_fc2": dw_fc2, "b_fc2": db_fc2}

    def loss():
        return L.cross_entropy(forward()[0], labels)

    for name, grad in analytic.items():
        assert_close(grad, numerical_gradient(loss, p[name]), 1e-8)


# --------------------------------------------------------------------------- dtypes and errors


def test_float32_in_float32_out_everywhere():
    rng = np.random.default_rng(0)
    f32 = np.float32
    x = rng.standard_normal((2, 2, 7, 6)).astype(f32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(f32)
    b = np.zeros(3, f32)
    z, c_conv = L.conv_forward(x, w, b, 1, 1)
    outs = [z, L.conv_forward_per_channel(x, w, b, 1, 1), L.conv_forward_einsum(x, w, b, 1, 1)]
    outs += list(L.conv_backward(np.ones_like(z), c_conv))
    for forward in (L.maxpool_forward, L.maxpool_forward_im2col):
        pooled, c_pool = forward(z, 2, None)
        outs += [pooled, L.maxpool_backward(np.ones_like(pooled), c_pool)]
    flat, c_flat = L.flatten_forward(pooled)
    outs += [flat, L.flatten_backward(flat, c_flat)]
    h, c_fc = L.fc_forward(flat, rng.standard_normal((4, flat.shape[1])).astype(f32),
                           np.zeros(4, f32))
    outs += [h, *L.fc_backward(np.ones_like(h), c_fc)]
    r, c_relu = L.relu_forward(h)
    outs += [r, L.relu_backward(np.ones_like(r), c_relu)]
    y = L.softmax(r)
    labels = np.array([0, 3])
    outs += [y, L.softmax_cross_entropy_backward(y, labels), L.cross_entropy(y, labels)]
    assert [o.dtype for o in outs] == [np.dtype(f32)] * len(outs)


def test_bad_inputs_give_clear_errors():
    x = np.ones((1, 2, 5, 5))
    w = np.ones((3, 2, 3, 3))
    b = np.ones(3)
    with pytest.raises(TypeError, match="dtype mismatch: x is float64 but w is float32"):
        L.conv_forward(x, w.astype(np.float32), b)
    with pytest.raises(ValueError, match=r"w must have shape \[C_out, C_in, K, K\] = .*; got"):
        L.conv_forward(x, np.ones((3, 1, 3, 3)), b)
    with pytest.raises(ValueError, match="square kernel"):
        L.conv_forward(x, np.ones((3, 2, 3, 2)), b)
    with pytest.raises(ValueError, match=r"b must have shape \[C_out\] = \(3,\); got \(4,\)"):
        L.conv_forward(x, w, np.ones(4))
    with pytest.raises(TypeError, match="float32 or float64; got int64"):
        L.conv_forward(x.astype(np.int64), w, b)
    z, cache = L.conv_forward(x, w, b)
    with pytest.raises(ValueError, match=r"delta must have shape \[N, C_out, H_c, W_c\]"):
        L.conv_backward(np.ones((1, 3, 2, 2)), cache)
    with pytest.raises(ValueError, match="kernel 3 does not fit"):
        L.maxpool_forward(np.ones((1, 1, 2, 2)), 3)
    with pytest.raises(ValueError, match=r"w must have shape \[D_out, D_in\] = .*; got \(2, 3\)"):
        L.fc_forward(np.ones((5, 4)), np.ones((2, 3)), np.ones(2))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 9\]"):
        L.cross_entropy(np.full((2, 10), 0.1), np.array([0, 10]))
    with pytest.raises(TypeError, match="labels must be an integer numpy.ndarray; got float64"):
        L.softmax_cross_entropy_backward(np.full((2, 10), 0.1), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels must have shape \[N\] = \(2,\); got \(3,\)"):
        L.cross_entropy(np.full((2, 10), 0.1), np.array([0, 1, 2]))
