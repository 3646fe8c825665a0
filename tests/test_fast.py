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
