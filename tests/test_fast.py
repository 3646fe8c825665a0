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
    from mnist_cnn.reference.optim import SGDMomentum

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


# --------------------------------------------------------------------------- conv + pool


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 5),
    c_in=st.integers(1, 3),
    size=st.integers(5, 12),
    k=st.integers(1, 4),
    stride=st.integers(1, 2),
    padding=st.integers(0, 2),
    pool=st.integers(1, 3),
    chunk=st.integers(1, 4),
    ties=st.booleans(),
)
def test_conv_pool_equals_conv_then_pool_of_the_reference(seed, n, c_in, size, k, stride,
                                                          padding, pool, chunk, ties):
    """Outputs, routing and gradients, float64, any S, P, K_p = S_p, chunks of any size."""
    from mnist_cnn.fast.convpool import conv_pool_backward, conv_pool_forward

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, size, size))
    if ties:  # whole regions of equal outputs, as the blank corners of MNIST give
        x[:, :, : size // 2, : size // 2] = 0.0
    w, b = rng.standard_normal((3, c_in, k, k)), rng.standard_normal(3)
    z, conv_cache = layers.conv_forward(x, w, b, stride, padding)
    if z.shape[2] < pool:
        return  # no pooling window fits
    z_pool, pool_cache = layers.maxpool_forward(z, pool)
    pooled, cache = conv_pool_forward(x, w, b, stride, padding, pool, chunk)
    c_out, h_p, w_p = z_pool.shape[1:]
    np.testing.assert_allclose(pooled, z_pool.reshape(n, c_out, -1).transpose(0, 2, 1),
                               rtol=1e-12, atol=1e-12)
    # The routing is exactly the reference's: the first maximum in row-major order.
    np.testing.assert_array_equal(cache.offset.transpose(0, 2, 1).reshape(n, c_out, h_p, w_p),
                                  pool_cache.argmax)
    d = rng.standard_normal(z_pool.shape)
    _, dw, db = layers.conv_backward(layers.maxpool_backward(d, pool_cache), conv_cache,
                                     need_dx=False)
    dw_fast, db_fast = conv_pool_backward(d.reshape(n, c_out, -1).transpose(0, 2, 1), cache)
    np.testing.assert_allclose(dw_fast, dw, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(db_fast, db, rtol=1e-10, atol=1e-12)
    # Inference: the same maximum without the routing.
    np.testing.assert_array_equal(
        conv_pool_forward(x, w, b, stride, padding, pool, chunk, route=False)[0], pooled)


def test_conv_pool_keeps_the_dtype_and_reuses_one_scratch_buffer():
    from mnist_cnn.fast.convpool import conv_pool_backward, conv_pool_forward, scratch_size

    rng = np.random.default_rng(2)
    x = rng.random((6, 1, 12, 12), dtype=np.float32)
    w, b = rng.random((4, 1, 3, 3), dtype=np.float32), rng.random(4, dtype=np.float32)
    scratch = np.empty(scratch_size(1, 4, 3, 1, 2, 2, 25), dtype=np.float32)  # 2 images
    pooled, cache = conv_pool_forward(x, w, b, 1, 0, 2, chunk=2, scratch=scratch)
    assert pooled.dtype == np.float32 and cache.columns is None  # 3 chunks: X is rebuilt
    dw, db = conv_pool_backward(np.ones_like(pooled), cache, scratch)
    ref, _ = conv_pool_forward(x, w, b, 1, 0, 2, chunk=6)
    np.testing.assert_allclose(pooled, ref, rtol=1e-6)
    assert dw.dtype == db.dtype == np.float32


# --------------------------------------------------------------------------- the step


def _reference_steps(params, batches, lr, momentum=0.9, decay=5e-4):
    """The readable step: loss_and_grads, then SGDMomentum.step, on copies."""
    from mnist_cnn.reference import network as net
    from mnist_cnn.reference.optim import SGDMomentum

    p = {k: v.copy() for k, v in params.items()}
    opt = SGDMomentum(p, momentum, decay)
    losses = []
    for x, labels in batches:
        loss, grads, _ = net.loss_and_grads(p, x, labels, need_dx=False)
        opt.step(grads, lr)
        losses.append(loss)
    return p, opt.velocity, losses


def _fast_steps(params, batches, lr, threads, momentum=0.9, decay=5e-4):
    from mnist_cnn.fast.optim import BlockedSGDMomentum
    from mnist_cnn.fast.step import Workspace, fast_train_step

    p = {k: v.copy() for k, v in params.items()}
    opt = BlockedSGDMomentum(p, momentum, decay)
    ws = Workspace(64, params["w_fc1"].dtype, threads=threads)
    losses = [fast_train_step(p, opt, x, labels, lr, ws)[0] for x, labels in batches]
    assert opt.steps == len(batches)
    return p, opt.velocity, losses


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_the_fast_step_equals_the_readable_step_and_update(threads, dtype, rtol):
    """Three steps (batches of 64, 64 and 5: a last, short batch), weights and velocities."""
    from mnist_cnn.reference import network as net

    rng = np.random.default_rng(threads)
    params = net.init_params(rng, dtype)
    batches = [(rng.random((n, 1, 28, 28)).astype(dtype), rng.integers(0, 10, n))
               for n in (64, 64, 5)]
    p_ref, v_ref, loss_ref = _reference_steps(params, batches, 0.05)
    p_fast, v_fast, loss_fast = _fast_steps(params, batches, 0.05, threads)
    np.testing.assert_allclose(loss_fast, loss_ref, rtol=rtol)
    for name in params:
        assert p_fast[name].dtype == dtype
        scale = np.abs(p_ref[name] - params[name]).max()  # compare what the steps moved
        np.testing.assert_allclose(p_fast[name], p_ref[name], rtol=0, atol=rtol * scale,
                                   err_msg=name)
        np.testing.assert_allclose(v_fast[name], v_ref[name], rtol=0,
                                   atol=rtol * np.abs(v_ref[name]).max(), err_msg=name)


def test_the_fast_step_is_deterministic_run_to_run():
    """Fixed shares and a fixed order of the partial sums: the same bits every time."""
    from mnist_cnn.reference import network as net

    rng = np.random.default_rng(5)
    params = net.init_params(rng, np.float32)
    batches = [(rng.random((64, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, 64))
               for _ in range(3)]
    first, v_first, _ = _fast_steps(params, batches, 0.05, threads=2)
    again, v_again, _ = _fast_steps(params, batches, 0.05, threads=2)
    for name in params:
        assert np.array_equal(first[name], again[name]), name
        assert np.array_equal(v_first[name], v_again[name]), name


@pytest.mark.parametrize("n", [64, 5, 1])
def test_fast_loss_and_grads_equal_the_reference_chain(n):
    from mnist_cnn.fast.step import Workspace, loss_and_grads_fast
    from mnist_cnn.reference import network as net

    rng = np.random.default_rng(n)
    params = net.init_params(rng, np.float64)
    x = rng.random((n, 1, 28, 28))
    labels = rng.integers(0, 10, n)
    ws = Workspace(64, np.float64, threads=2)
    loss, grads, y = loss_and_grads_fast(params, x, labels, ws)
    loss_ref, grads_ref, inter = net.loss_and_grads(params, x, labels, need_dx=False)
    assert loss == pytest.approx(float(loss_ref), rel=1e-12) and y.dtype == np.float64
    np.testing.assert_allclose(y, inter["y"], rtol=1e-12, atol=1e-15)
    for name, g in grads_ref.items():
        assert grads[name].shape == g.shape
        np.testing.assert_allclose(grads[name], g, rtol=1e-10, atol=1e-13, err_msg=name)
    with pytest.raises(ValueError, match="at most 64 images"):
        loss_and_grads_fast(params, np.zeros((65, 1, 28, 28)), np.zeros(65, int), ws)
    with pytest.raises(ValueError, match="of float32"):
        loss_and_grads_fast(params, x, labels, Workspace(64, np.float32))


def test_predict_fast_equals_the_reference_forward_for_any_number_of_images():
    from mnist_cnn.fast.infer import predict_fast
    from mnist_cnn.fast.step import Workspace
    from mnist_cnn.reference import network as net
    from mnist_cnn.train.metrics import evaluate

    rng = np.random.default_rng(9)
    params = net.init_params(rng, np.float64)
    x = rng.random((130, 1, 28, 28))  # two full batches of 64 and a short one
    ws = Workspace(64, np.float64, threads=2)
    y = predict_fast(params, x, ws)
    np.testing.assert_allclose(y, net.forward(params, x)[0], rtol=1e-12, atol=1e-15)
    labels = rng.integers(0, 10, 130)
    fast, ref = evaluate(params, x, labels, workspace=ws), evaluate(params, x, labels)
    assert fast["correct"] == ref["correct"]
    assert fast["loss"] == pytest.approx(ref["loss"], rel=1e-12)


def test_the_workspace_checks_what_it_is_given():
    from mnist_cnn.architecture import SEED
    from mnist_cnn.fast.step import Workspace

    with pytest.raises(ValueError, match="S_p = K_p"):
        Workspace(64, arch=SEED.replace(S_p=1))
    with pytest.raises(ValueError, match="threads"):
        Workspace(64, threads=-1)
    ws = Workspace(8, threads=3)
    assert [r.stop - r.start for r in ws.rows] == [167, 166, 167]
    assert [b.stop - b.start for b in ws.images(2)] == [1, 0, 1]


def test_a_workspace_and_its_threads_go_away_after_a_step():
    import gc
    import threading

    from mnist_cnn.fast.step import Workspace, loss_and_grads_fast
    from mnist_cnn.reference import network as net

    gc.collect()  # workspaces other tests left behind end their threads now, not below
    before = set(threading.enumerate())
    rng = np.random.default_rng(4)
    params = net.init_params(rng, np.float32)
    ws = Workspace(8, threads=3)
    ours = [t for t in threading.enumerate()
            if t not in before and t.name.startswith("mnist-cnn-step")]
    assert len(ours) == 2
    loss_and_grads_fast(params, rng.random((8, 1, 28, 28), dtype=np.float32),
                        rng.integers(0, 10, 8), ws)
    del ws
    gc.collect()
    for thread in ours:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in ours)


def test_an_error_in_a_thread_reaches_the_caller_and_the_workspace_still_works():
    from mnist_cnn.fast.step import Workspace

    ws = Workspace(4, threads=2)

    def fails_in_the_helper(t):
        if t == 1:
            raise RuntimeError("boom in thread 1")
        return t

    with pytest.raises(RuntimeError, match="boom in thread 1"):
        ws.run(fails_in_the_helper, "test")
    with pytest.raises(KeyError):
        ws.run(lambda t: {}[t], "test")
    assert ws.run(lambda t: 10 * t, "test") == [0, 10]


def test_the_blocked_optimizer_can_leave_out_what_the_step_updated():
    from mnist_cnn.fast.optim import BlockedSGDMomentum

    params = {"w": np.ones(3), "b": np.ones(2)}
    opt = BlockedSGDMomentum(params, momentum=0.9)
    opt.step({"dw": np.ones(3), "db": np.ones(2)}, 0.5, names=["b"])
    assert np.array_equal(params["w"], np.ones(3)) and np.array_equal(params["b"], [0.5, 0.5])
    assert opt.steps == 1
