"""Edges of the layers: inputs never change, N = 0, empty axes, NaN in max-pooling, huge sizes.

Issue 11: a layer wrote into its input (a global max-pool), forward and backward
disagreed on an empty batch, the three max-pool forms disagreed on NaN, and no
layer looked at the size of what it was about to allocate.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mnist_cnn import validate
from mnist_cnn.fast.convpool import conv_pool_backward, conv_pool_forward
from mnist_cnn.fast.pool import maxpool_backward_fast, maxpool_forward_fast
from mnist_cnn.reference import im2col as I
from mnist_cnn.reference import layers as L
from mnist_cnn.reference import loops as S
from mnist_cnn.reference import network as net

# --------------------------------------------------------------------------- inputs stay intact


def _arrays(tree):
    """Every ndarray in a result (tuples, lists, dicts), caches included."""
    if isinstance(tree, np.ndarray):
        yield tree
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from _arrays(value)
    elif isinstance(tree, (tuple, list)):
        for value in tree:
            yield from _arrays(value)


def _cases(rng, n, c, h, pool, k):
    """(name, function, args, outputs allowed to share memory with the inputs)."""
    def f(*shape):
        return rng.standard_normal(shape)

    x, w, b = f(n, c, h, h), f(2, c, k, k), f(2)
    z_conv, conv_cache = L.conv_forward(x, w, b)
    h_c = z_conv.shape[2]
    _, pool_cache = L.maxpool_forward(z_conv, pool)
    h_p = pool_cache.argmax.shape[2]
    a, w_fc, b_fc = f(n, 3), f(4, 3), f(4)
    _, fc_cache = L.fc_forward(a, w_fc, b_fc)
    labels = rng.integers(0, 4, size=n)
    y = L.softmax(f(n, 4))
    z_pool = f(n, 2, h_p, h_p)
    d_pool = f(n, 2, h_p, h_p)
    return [
        ("conv_forward", L.conv_forward, (x, w, b), ()),
        ("conv_forward_per_channel", L.conv_forward_per_channel, (x, w, b), ()),
        ("conv_forward_einsum", L.conv_forward_einsum, (x, w, b), ()),
        ("conv_backward", L.conv_backward, (f(n, 2, h_c, h_c), conv_cache), ()),
        ("maxpool_forward", L.maxpool_forward, (z_conv, pool), ()),
        ("maxpool_forward_im2col", L.maxpool_forward_im2col, (z_conv, pool), ()),
        ("maxpool_backward", L.maxpool_backward, (d_pool, pool_cache), ()),
        ("maxpool_forward_fast", maxpool_forward_fast, (z_conv, pool), ()),
        ("conv_pool_forward", conv_pool_forward, (x, w, b, 1, 0, pool),
         ("documented: the cache keeps x",)),
        ("conv_pool_backward", conv_pool_backward,
         (f(n, h_c // pool * (h_c // pool), 2), conv_pool_forward(x, w, b, 1, 0, pool)[1]), ()),
        ("maxpool_backward_fast", maxpool_backward_fast,
         (d_pool, pool_cache.argmax, z_conv.shape, pool), ()),
        ("flatten_forward", L.flatten_forward, (z_pool,), ("documented: a view",)),
        ("flatten_backward", L.flatten_backward,
         (f(n, 2 * h_p * h_p), L.flatten_forward(z_pool)[1]), ("documented: a view",)),
        ("fc_forward", L.fc_forward, (a, w_fc, b_fc), ()),
        ("fc_backward", L.fc_backward, (f(n, 4), fc_cache), ()),
        ("relu_forward", L.relu_forward, (a,), ()),
        ("relu_backward", L.relu_backward, (f(n, 3), L.relu_forward(a)[1]), ()),
        ("softmax", L.softmax, (f(n, 4),), ()),
        ("one_hot", L.one_hot, (labels, 4), ()),
        ("cross_entropy", L.cross_entropy, (y, labels), ()),
        ("softmax_cross_entropy_backward", L.softmax_cross_entropy_backward, (y, labels), ()),
        ("pad", I.pad, (x, 1), ()),
        ("im2col", I.im2col, (x, k), ()),
        ("im2col_per_channel", I.im2col_per_channel, (x, k), ()),
        ("col2im", I.col2im, (I.im2col(x, k), x.shape, k), ()),
        ("conv_forward_loops", S.conv_forward_loops, (x, w, b), ()),
        ("maxpool_forward_loops", S.maxpool_forward_loops, (z_conv, pool), ()),
        ("maxpool_backward_loops", S.maxpool_backward_loops, (d_pool, z_conv, pool), ()),
        ("conv_backward_loops", S.conv_backward_loops, (f(n, 2, h_c, h_c), x, w), ()),
        ("fc_forward_loops", S.fc_forward_loops, (a, w_fc, b_fc), ()),
        ("fc_backward_loops", S.fc_backward_loops, (f(n, 4), a, w_fc), ()),
        ("relu_forward_loops", S.relu_forward_loops, (a,), ()),
        ("relu_backward_loops", S.relu_backward_loops, (f(n, 3), a), ()),
        ("softmax_loops", S.softmax_loops, (f(n, 4),), ()),
        ("cross_entropy_loops", S.cross_entropy_loops, (y, labels), ()),
        ("softmax_cross_entropy_backward_loops", S.softmax_cross_entropy_backward_loops,
         (y, labels), ()),
        ("flatten_loops", S.flatten_loops, (z_pool,), ()),
        ("unflatten_loops", S.unflatten_loops, (f(n, 2 * h_p * h_p), 2, h_p, h_p), ()),
        ("pad_loops", S.pad_loops, (x, 1), ()),
    ]


LAYER_FUNCTIONS = 39  # the table above: every public layer function, loops and fast forms


@given(seed=st.integers(0, 2**16), n=st.integers(1, 2), c=st.integers(1, 2),
       h=st.integers(2, 5), pool=st.integers(1, 2), k=st.integers(1, 2))
@example(seed=0, n=1, c=1, h=2, pool=2, k=1)  # issue 11: a 1 x 1 global pool wrote into z
@example(seed=0, n=1, c=1, h=3, pool=1, k=1)  # pool = 1: the output was the input
def test_no_function_changes_or_aliases_its_read_only_inputs(seed, n, c, h, pool, k):
    cases = _cases(np.random.default_rng(seed), n, c, h, pool, k)
    assert len(cases) == LAYER_FUNCTIONS
    for name, function, args, allowed in cases:
        inputs = [a for a in _arrays(args)]
        before = [a.tobytes() for a in inputs]
        for a in inputs:
            a.setflags(write=False)
        result = function(*args)
        assert [a.tobytes() for a in inputs] == before, f"{name} changed its input"
        if allowed:
            continue
        outputs = [result] if isinstance(result, np.ndarray) else list(
            _arrays(result if not isinstance(result, tuple) else result[: 1 if hasattr(
                result[-1], "_fields") else len(result)]))
        for out in outputs:
            assert out.flags.writeable, f"{name} returned a read-only view"
            assert not any(np.shares_memory(out, a) for a in inputs), f"{name} aliases input"


def test_the_global_pool_of_issue_11_leaves_its_input_alone():
    z = np.array([1.0, 5.0, 0.0, 0.5]).reshape(1, 1, 2, 2)
    for pool_forward in (L.maxpool_forward, maxpool_forward_fast):
        z_in = z.copy()
        z_in.setflags(write=False)
        out = pool_forward(z_in, 2)[0]
        assert out.shape == (1, 1, 1, 1) and out[0, 0, 0, 0] == 5.0
        assert np.array_equal(z_in, z) and not np.shares_memory(out, z_in)


# --------------------------------------------------------------------------- NaN in max-pooling


def _conv_pool_as_pool(z, d, pool):
    """(z_pool, d_z) of the conv + pool product with a 1 x 1 filter of weight 1, bias 0.

    Channel by channel, so that 0 x NaN of another channel cannot enter the sum;
    ``d_z`` is ``d`` put where the routing says (``conv_pool_backward`` returns
    only the filter's gradient, so the routing is what is compared).
    """
    n, c, h, w = z.shape
    h_p, w_p = h // pool, w // pool
    out, dz = np.empty((n, c, h_p, w_p)), np.zeros(z.shape)
    one, zero = np.ones((1, 1, 1, 1)), np.zeros(1)
    for ch in range(c):
        pooled, cache = conv_pool_forward(z[:, ch : ch + 1], one, zero, 1, 0, pool)
        out[:, ch] = pooled[..., 0].reshape(n, h_p, w_p)
        i, j = np.divmod(cache.offset[..., 0].reshape(n, h_p, w_p).astype(int), pool)
        nn, hh, ww = np.indices((n, h_p, w_p))
        dz[nn, ch, pool * hh + i, pool * ww + j] = d[:, ch]
    return out, dz


def _pool_forms(z, pool=2):
    """(z_pool, d_z) of the loops, reshape + max, im2col + max, the fast form and conv + pool."""
    d = np.arange(1.0, 1 + np.prod(L.maxpool_forward(z, pool)[0].shape)).reshape(
        L.maxpool_forward(z, pool)[0].shape)
    ref, cache = L.maxpool_forward(z, pool)
    col, col_cache = L.maxpool_forward_im2col(z, pool, pool)
    fast, argmax = maxpool_forward_fast(z, pool)
    return {
        "loops": (S.maxpool_forward_loops(z, pool), S.maxpool_backward_loops(d, z, pool)),
        "reshape": (ref, L.maxpool_backward(d, cache)),
        "im2col": (col, L.maxpool_backward(d, col_cache)),
        "fast": (fast, maxpool_backward_fast(d, argmax, z.shape, pool)),
        "conv + pool": _conv_pool_as_pool(z, d, pool),
    }


@pytest.mark.parametrize("window", [
    [np.nan, 1.0, 2.0, 3.0],        # NaN first
    [1.0, np.nan, 2.0, 3.0],        # NaN after a number: the loops kept 1.0
    [1.0, 2.0, 3.0, np.nan],        # NaN last
    [np.nan, np.nan, 1.0, 0.0],     # two NaNs: the gradient goes to the first
    [5.0, np.nan, np.nan, 7.0],
    [np.inf, np.nan, 1.0, 1.0],
    [-np.inf, -np.inf, -np.inf, -np.inf],  # no NaN: ties go to the first maximum
])
def test_every_max_pool_form_follows_one_nan_rule(window):
    """NaN propagates (np.max) and the gradient goes to the first NaN in row-major order."""
    z = np.array(window).reshape(1, 1, 2, 2)
    first = int(np.argmax(z.ravel()))  # np.argmax: the first NaN, else the first maximum
    for form, (out, dz) in _pool_forms(z).items():
        expected = np.max(z)
        assert np.array_equal(out.ravel(), [expected], equal_nan=True), (form, out)
        assert np.flatnonzero(dz.ravel()).tolist() == [first], (form, dz)


def test_nan_rule_on_a_random_map_with_scattered_nans():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((2, 3, 6, 7))
    z[rng.random(z.shape) < 0.2] = np.nan
    results = _pool_forms(z)
    out0, dz0 = results.pop("loops")
    for form, (out, dz) in results.items():
        assert np.array_equal(out, out0, equal_nan=True), form
        assert np.array_equal(dz, dz0), form


# --------------------------------------------------------------------------- empty axes


def test_an_empty_batch_is_refused_the_same_way_forward_and_backward():
    """One rule: N = 0 is refused at every door (the loss is a mean over N)."""
    rng = np.random.default_rng(0)
    params = net.init_params(rng, np.float64)
    x = np.zeros((0, 1, 28, 28))
    labels = np.zeros(0, dtype=np.int64)
    z = np.zeros((0, 2, 4, 4))
    calls = [
        lambda: net.forward(params, x),
        lambda: net.loss_only(params, x, labels),
        lambda: net.loss_and_grads(params, x, labels),
        lambda: L.conv_forward(x, params["w_conv"], params["b_conv"]),
        lambda: L.conv_backward(np.zeros((0, 20, 24, 24)), L.ConvCache(
            x.shape, np.zeros((0, 25, 576)), params["w_conv"], 1, 0)),
        lambda: S.conv_backward_loops(np.zeros((0, 20, 24, 24)), x, params["w_conv"]),
        lambda: L.maxpool_forward(z),
        lambda: S.maxpool_backward_loops(np.zeros((0, 2, 2, 2)), z),
        lambda: L.fc_forward(np.zeros((0, 3)), np.zeros((4, 3)), np.zeros(4)),
        lambda: S.fc_backward_loops(np.zeros((0, 4)), np.zeros((0, 3)), np.zeros((4, 3))),
        lambda: L.softmax(np.zeros((0, 4))),
        lambda: L.cross_entropy(np.zeros((0, 4)), labels),
        lambda: L.softmax_cross_entropy_backward(np.zeros((0, 4)), labels),
        lambda: S.cross_entropy_loops(np.zeros((0, 4)), labels),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=r"^N must be >= 1; got 0 \("):
            call()


EMPTY_AXIS_CASES = [
    ("conv C_out=0", lambda: L.conv_forward(np.zeros((1, 1, 4, 4)), np.zeros((0, 1, 2, 2)),
                                            np.zeros(0)), "C_out must be >= 1; got 0"),
    ("conv C_in=0", lambda: L.conv_forward(np.zeros((1, 0, 4, 4)), np.zeros((2, 0, 2, 2)),
                                           np.zeros(2)), "C_in must be >= 1; got 0"),
    ("conv H=0", lambda: L.conv_forward(np.zeros((1, 1, 0, 4)), np.zeros((2, 1, 2, 2)),
                                        np.zeros(2)), "H_in must be >= 1; got 0"),
    ("conv K=0", lambda: L.conv_forward(np.zeros((1, 1, 4, 4)), np.zeros((2, 1, 0, 0)),
                                        np.zeros(2)), "K must be >= 1; got 0"),
    ("loops C_out=0", lambda: S.conv_forward_loops(np.zeros((1, 1, 4, 4)),
                                                   np.zeros((0, 1, 2, 2)), np.zeros(0)),
     "C_out must be >= 1; got 0"),
    ("fc D_in=0", lambda: L.fc_forward(np.zeros((2, 0)), np.zeros((3, 0)), np.zeros(3)),
     "D_in must be >= 1; got 0"),
    ("fc D_out=0", lambda: L.fc_forward(np.zeros((2, 3)), np.zeros((0, 3)), np.zeros(0)),
     "D_out must be >= 1; got 0"),
    ("softmax D=0", lambda: L.softmax(np.zeros((2, 0))), "D_2 must be >= 1; got 0"),
    ("softmax loops D=0", lambda: S.softmax_loops(np.zeros((2, 0))), "D must be >= 1; got 0"),
    ("cross-entropy 0 classes", lambda: L.cross_entropy(np.zeros((2, 0)), np.zeros(2, int)),
     "D_2 must be >= 1; got 0"),
    ("one_hot 0 classes", lambda: L.one_hot(np.zeros(2, int), 0), "classes must be >= 1"),
    ("pool C=0", lambda: L.maxpool_forward(np.zeros((1, 0, 4, 4))), "C must be >= 1; got 0"),
]


@pytest.mark.parametrize(("label", "call", "message"),
                         EMPTY_AXIS_CASES, ids=[c[0] for c in EMPTY_AXIS_CASES])
def test_empty_axes_other_than_n_give_clear_errors(label, call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()


# --------------------------------------------------------------------------- allocation


def test_the_allocation_estimate_refuses_huge_sizes_before_allocating():
    x = np.zeros((64, 1, 28, 28), dtype=np.float32)
    w = np.zeros((20, 1, 5, 5), dtype=np.float32)
    b = np.zeros(20, dtype=np.float32)
    huge_map = np.broadcast_to(np.float32(0), (10**4, 10**3, 100, 100))  # a view: no memory
    cases = [
        lambda: L.conv_forward(x, w, b, padding=10**4),  # issue 11: 3.2 GB for 8 s
        lambda: I.pad(x, 10**4),
        lambda: I.im2col(x, 5, 1, 5000),
        lambda: S.conv_forward_loops(x, w, b, 1, 10**4),
        lambda: L.maxpool_forward(huge_map, 2),
        lambda: S.maxpool_forward_loops(huge_map, 2),
        lambda: net.forward(net.init_params(np.random.default_rng(0), np.float32),
                            np.broadcast_to(np.float32(0), (10**6, 1, 28, 28))),
    ]
    for call in cases:
        with pytest.raises(ValueError, match=r"would allocate [\d.]+ GiB .*the limit is 4 GiB "
                                             r"\(set MNIST_CNN_MAX_ALLOC_GIB to change it\)"):
            call()


def test_the_allocation_limit_is_configurable(monkeypatch):
    monkeypatch.setenv("MNIST_CNN_MAX_ALLOC_GIB", "0.001")
    x = np.zeros((64, 1, 28, 28), dtype=np.float32)
    with pytest.raises(ValueError, match="limit is 0.001 GiB"):
        I.im2col(x, 5)
    monkeypatch.setenv("MNIST_CNN_MAX_ALLOC_GIB", "banana")
    with pytest.raises(ValueError, match="MNIST_CNN_MAX_ALLOC_GIB must be a number > 0"):
        I.im2col(x, 5)
    assert validate.MAX_ALLOC_ENV == "MNIST_CNN_MAX_ALLOC_GIB"


def test_the_network_and_training_helpers_leave_read_only_inputs_alone():
    from mnist_cnn import train as T

    rng = np.random.default_rng(1)
    params = net.init_params(rng, np.float64)
    x = rng.random((2, 1, 28, 28))
    labels = np.array([3, 7])
    shifts = np.array([[1, -2], [0, 2]])
    calls = [
        ("forward", net.forward, (params, x)),
        ("loss_only", net.loss_only, (params, x, labels)),
        ("loss_and_grads", net.loss_and_grads, (params, x, labels)),
        ("shift_images", T.shift_images, (x, shifts)),
        ("predict", T.predict, (params, x)),
        ("evaluate", T.evaluate, (params, x, labels)),
    ]
    for name, function, args in calls:
        inputs = list(_arrays(args))
        before = [a.tobytes() for a in inputs]
        for a in inputs:
            a.setflags(write=False)
        result = function(*args)
        assert [a.tobytes() for a in inputs] == before, name
        # The outputs proper (the caches keep references to the inputs by design).
        if name.startswith("forward"):
            result = result[0]
        elif name.startswith("loss_and_grads"):
            result = result[:2]
        for out in _arrays(result):
            assert not any(np.shares_memory(out, a) for a in inputs), name
