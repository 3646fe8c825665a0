"""The hot-path forms of mnist_cnn.fast equal their readable references."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_cnn.fast.pool import maxpool_backward_fast, maxpool_forward_fast
from mnist_cnn.reference import layers


def test_fast_max_pool_equals_the_readable_reshape_max_and_gives_no_negative_zeros():
    rng = np.random.default_rng(8)
    z = rng.standard_normal((4, 3, 24, 24)).astype(np.float32)
    z[:, :, :6, :6] = 0.5  # whole windows of ties: the first (row-major) entry must win
    out, cache = layers.maxpool_forward(z)
    fast, argmax = maxpool_forward_fast(z)
    np.testing.assert_array_equal(fast, out)
    np.testing.assert_array_equal(argmax, cache.argmax)
    assert argmax.dtype == np.intp and (argmax[:, :, :3, :3] == 0).all()
    dout = -np.abs(rng.standard_normal(out.shape)).astype(np.float32)  # all negative
    dz = maxpool_backward_fast(dout, argmax, z.shape)
    np.testing.assert_array_equal(dz, layers.maxpool_backward(dout, cache))
    assert not np.signbit(dz[dz == 0]).any()  # +0.0 where nothing is routed, as the reference


@settings(max_examples=20)
@given(
    seed=st.integers(0, 2**32 - 1),
    pool=st.integers(1, 4),
    h=st.integers(4, 13),
    w=st.integers(4, 13),
    dtype=st.sampled_from([np.float32, np.float64]),
    ties=st.booleans(),
)
def test_fast_max_pool_equals_the_reference_on_random_shapes(seed, pool, h, w, dtype, ties):
    """Any K_p = S_p, borders that no window covers, ties (rounded values), both dtypes."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((2, 3, h, w)).astype(dtype)
    if ties:
        z = np.round(z)
    out, cache = layers.maxpool_forward(z, pool)
    fast, argmax = maxpool_forward_fast(z, pool)
    np.testing.assert_array_equal(fast, out)
    np.testing.assert_array_equal(argmax, cache.argmax)
    np.testing.assert_array_equal(out, layers.maxpool_forward_im2col(z, pool)[0])
    dout = rng.standard_normal(out.shape).astype(dtype)
    np.testing.assert_array_equal(maxpool_backward_fast(dout, argmax, z.shape, pool),
                                  layers.maxpool_backward(dout, cache))


def test_the_readable_forms_check_their_input_and_the_fast_forms_are_not_public_doors():
    with pytest.raises(ValueError, match="4-D"):
        layers.maxpool_forward(np.ones((2, 4, 4)))


def test_blocked_momentum_update_is_bit_equal_to_the_readable_one():
    from mnist_cnn.fast.optim import BLOCK, BlockedSGDMomentum
    from mnist_cnn.train.optim import SGDMomentum

    rng = np.random.default_rng(3)
    # One tensor larger than a block and not a multiple of it, one smaller: both paths.
    shapes = {"w": (3, BLOCK + 123), "b": (7,)}
    for dtype, decay in ((np.float32, 5e-4), (np.float64, 0.0)):
        start = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
        ref = {k: v.copy() for k, v in start.items()}
        fast = {k: v.copy() for k, v in start.items()}
        opt_ref = SGDMomentum(ref, momentum=0.9, weight_decay=decay)
        opt_fast = BlockedSGDMomentum(fast, momentum=0.9, weight_decay=decay)
        for step in range(3):
            grads = {"d" + k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
            before = {k: g.copy() for k, g in grads.items()}
            opt_ref.step(grads, 0.05 / (step + 1))
            opt_fast.step(grads, 0.05 / (step + 1))
            for k in shapes:
                assert np.array_equal(ref[k], fast[k]) and ref[k].dtype == dtype
                assert np.array_equal(opt_ref.velocity[k], opt_fast.velocity[k])
                assert np.array_equal(grads["d" + k], before["d" + k])  # read, not modified
        assert opt_fast.steps == opt_ref.steps == 3


@pytest.mark.parametrize("n", [64, 5])
def test_fast_loss_and_grads_equal_the_reference_chain(n):
    from mnist_cnn.fast.step import Workspace, loss_and_grads_fast
    from mnist_cnn.reference import network as net

    rng = np.random.default_rng(n)
    params = net.init_params(rng, np.float32)
    x = rng.random((n, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, n)
    ws = Workspace(64, np.float32)
    loss, grads, y = loss_and_grads_fast(params, x, labels, ws)
    loss_ref, grads_ref, inter = net.loss_and_grads(params, x, labels, need_dx=False, fast=True)
    # The same BLAS calls on the same operands; only the output arrays differ.
    assert loss == loss_ref and y.dtype == np.float32
    np.testing.assert_allclose(y, inter["y"], rtol=1e-6, atol=0)
    for name, g in grads_ref.items():
        assert grads[name].dtype == np.float32 and grads[name].shape == g.shape
        np.testing.assert_allclose(grads[name], g, rtol=1e-5, atol=1e-7, err_msg=name)
    with pytest.raises(ValueError, match="at most 64 images"):
        loss_and_grads_fast(params, np.zeros((65, 1, 28, 28), np.float32),
                            np.zeros(65, int), ws)
