"""The composed network: vectorised == loops, finite differences, ties, dtypes, errors."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mnist_cnn.architecture import Architecture
from mnist_cnn.data import load_mnist
from mnist_cnn.reference import network as net
from mnist_cnn.verify.gradcheck import check_params, relative_error


def random_network(rng, n, arch, dtype=np.float64):
    """He weights and *random* biases (zero biases would make all-padding windows tie)."""
    params = net.init_params(rng, dtype, arch)
    for name in ("b_conv", "b_fc1", "b_fc2"):
        params[name] = (0.1 * rng.standard_normal(params[name].shape)).astype(dtype)
    x = rng.standard_normal((n, arch.C_in, arch.H, arch.W)).astype(dtype)
    labels = rng.integers(0, arch.D_2, n)
    return params, x, labels


def assert_same_chain(a, b, rtol=1e-10):
    """Loss, every gradient and every intermediate agree (relative error per array)."""
    loss_a, grads_a, inter_a = a
    loss_b, grads_b, inter_b = b
    assert abs(loss_a - loss_b) <= rtol * abs(loss_a)
    assert grads_a.keys() == grads_b.keys() == set(net.GRAD_NAMES)
    assert inter_a.keys() == inter_b.keys() == set(net.Z_NAMES) | set(net.DELTA_NAMES)
    for key in grads_a:
        assert grads_a[key].shape == grads_b[key].shape
        assert relative_error(grads_a[key], grads_b[key]) < rtol, key
    for key in inter_a:
        assert inter_a[key].shape == inter_b[key].shape, key
        assert relative_error(inter_a[key], inter_b[key]) < rtol, key


@pytest.fixture(scope="module")
def mnist_pair():
    images, labels = load_mnist("train", np.float64)
    return images[:2], labels[:2]


def test_vectorised_equals_loops_on_tiny_shapes():
    rng = np.random.default_rng(0)
    arch = Architecture(C_in=2, H=7, W=9, C_out=3, K=3, S=2, P=1, K_p=2, S_p=2, D_1=5, D_2=4)
    args = random_network(rng, 3, arch)
    assert_same_chain(net.loss_and_grads(*args, arch), net.loss_and_grads_loops(*args, arch))


def test_vectorised_equals_loops_on_the_seed_network_with_two_mnist_images(mnist_pair):
    x, labels = mnist_pair
    params = net.init_params(np.random.default_rng(1), np.float64)
    assert_same_chain(net.loss_and_grads(params, x, labels),
                      net.loss_and_grads_loops(params, x, labels))


def test_finite_differences_on_every_tensor_of_the_seed_network(mnist_pair):
    x, labels = mnist_pair
    params = net.init_params(np.random.default_rng(2), np.float64)
    _, grads, _ = net.loss_and_grads(params, x, labels)
    rows = check_params(lambda p: net.loss_only(p, x, labels), params, grads, 12,
                        np.random.default_rng(3))
    assert [r.name for r in rows] == list(net.PARAM_NAMES)
    for row in rows:
        assert row.relative_error < 1e-6, row


@settings(max_examples=6)
@example(seed=1, c_in=3, h=7, w=9, k=3, stride=2, padding=2)  # pinned: the hard cases always run
@example(seed=2, c_in=2, h=9, w=6, k=2, stride=1, padding=1)
@given(
    seed=st.integers(0, 2**32 - 1),
    c_in=st.integers(1, 3),
    h=st.integers(5, 9),
    w=st.integers(5, 9),
    k=st.integers(2, 3),
    stride=st.integers(1, 2),
    padding=st.integers(0, 2),
)
def test_random_shapes_gradients_match_loops_and_finite_differences(seed, c_in, h, w, k,
                                                                    stride, padding):
    # P < K keeps every conv output reading at least one real pixel.
    padding = min(padding, k - 1)
    rng = np.random.default_rng(seed)
    arch = Architecture(C_in=c_in, H=h, W=w, C_out=2, K=k, S=stride, P=padding, D_1=4, D_2=3)
    params, x, labels = random_network(rng, 2, arch)
    result = net.loss_and_grads(params, x, labels, arch)
    assert_same_chain(result, net.loss_and_grads_loops(params, x, labels, arch))
    rows = check_params(lambda p: net.loss_only(p, x, labels, arch), params, result[1], 6, rng)
    assert all(row.relative_error < 1e-6 for row in rows), rows


def test_max_pool_tie_rule_through_the_whole_network():
    """A 1x1 conv with weight 1 copies x, so the pool windows see chosen values.

    Window (1,1) holds [[0.1, 0.5], [0.5, 0.2]]: a tie between offsets (1,2) and
    (2,1); the first maximum in row-major order, (1,2), receives the delta.
    The all-equal window (1,2) sends everything to its first entry (1,1).
    """
    rng = np.random.default_rng(4)
    arch = Architecture(C_in=1, H=2, W=4, C_out=1, K=1, D_1=3, D_2=2)
    params = net.init_params(rng, np.float64, arch)
    params["w_conv"][...] = 1.0
    params["b_fc1"][...] = 0.5  # keep ReLU units active so delta_pool is not zero
    x = np.array([[[[0.1, 0.5, 0.3, 0.3], [0.5, 0.2, 0.3, 0.3]]]])
    labels = np.array([1])
    vec = net.loss_and_grads(params, x, labels, arch)
    loops = net.loss_and_grads_loops(params, x, labels, arch)
    assert_same_chain(vec, loops)
    delta_pool, delta_conv = vec[2]["delta_pool"], vec[2]["delta_conv"]
    assert np.all(delta_pool != 0)
    expected = np.zeros_like(delta_conv)
    expected[0, 0, 0, 1] = delta_pool[0, 0, 0, 0]
    expected[0, 0, 0, 2] = delta_pool[0, 0, 0, 1]
    np.testing.assert_array_equal(delta_conv, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved_everywhere(dtype, mnist_pair):
    x, labels = mnist_pair
    params = net.init_params(np.random.default_rng(5), dtype)
    x = x.astype(dtype)
    loss, grads, inter = net.loss_and_grads(params, x, labels)
    assert loss.dtype == dtype
    assert net.loss_only(params, x, labels).dtype == dtype
    assert all(v.dtype == dtype for v in grads.values())
    assert all(v.dtype == dtype for v in inter.values())


def test_float32_gradients_are_close_to_float64(mnist_pair):
    x, labels = mnist_pair
    p32 = net.init_params(np.random.default_rng(6), np.float32)
    p64 = {k: v.astype(np.float64) for k, v in p32.items()}
    _, g32, _ = net.loss_and_grads(p32, x.astype(np.float32), labels)
    _, g64, _ = net.loss_and_grads(p64, x, labels)
    for key in g32:
        assert relative_error(g32[key], g64[key]) < 1e-5, key


def test_init_params_shapes_he_scale_and_zero_biases():
    params = net.init_params(np.random.default_rng(7))
    shapes = {k: v.shape for k, v in params.items()}
    assert shapes == {"w_conv": (20, 1, 5, 5), "b_conv": (20,), "w_fc1": (500, 2880),
                      "b_fc1": (500,), "w_fc2": (10, 500), "b_fc2": (10,)}
    assert all(v.dtype == np.float32 for v in params.values())
    assert not any(params[k].any() for k in ("b_conv", "b_fc1", "b_fc2"))
    # 1.44 million draws: the sample std is within 0.5 % of sqrt(2 / 2880)
    assert params["w_fc1"].std() == pytest.approx(np.sqrt(2 / 2880), rel=5e-3)
    assert params["w_conv"].std() == pytest.approx(np.sqrt(2 / 25), rel=0.2)
    p64 = net.init_params(np.random.default_rng(7), np.float64)
    assert np.array_equal(p64["w_fc1"].astype(np.float32), params["w_fc1"])


def test_bad_inputs_raise_clear_errors(mnist_pair):
    x, labels = mnist_pair
    params = net.init_params(np.random.default_rng(8), np.float64)
    with pytest.raises(KeyError, match="w_fc2"):
        net.forward({k: v for k, v in params.items() if k != "w_fc2"}, x)
    with pytest.raises(TypeError, match="dtype mismatch"):
        net.forward(params, x.astype(np.float32))
    with pytest.raises(ValueError, match="4-D"):
        net.forward(params, x[0])
    with pytest.raises(TypeError, match="float32 or float64"):
        net.init_params(np.random.default_rng(0), np.int32)


def test_need_dx_false_changes_no_gradient():
    params = net.init_params(np.random.default_rng(6))
    x = np.random.default_rng(7).random((8, 1, 28, 28), dtype=np.float32)
    labels = np.arange(8) % 10
    loss_a, grads_a, inter_a = net.loss_and_grads(params, x, labels)
    loss_b, grads_b, inter_b = net.loss_and_grads(params, x, labels, need_dx=False)
    assert loss_a == loss_b and inter_b["dx"] is None and inter_a["dx"].shape == x.shape
    for name in net.GRAD_NAMES:
        assert np.array_equal(grads_a[name], grads_b[name]), name
