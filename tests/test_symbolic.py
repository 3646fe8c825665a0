"""The exact sympy check of the delta rule (mnist_cnn.verify.symbolic) holds, and can fail."""

import numpy as np
import pytest
import sympy as sp

from mnist_cnn.reference import network as net
from mnist_cnn.verify import symbolic as sym
from mnist_cnn.verify.gradcheck import relative_error


@pytest.fixture(scope="module")
def problem():
    return sym.build_problem(sym.make_tiny_instance(seed=0))


@pytest.fixture(scope="module")
def autodiff(problem):
    return sym.autodiff_gradients(problem)


@pytest.fixture(scope="module")
def delta_rule(problem):
    return sym.delta_rule_gradients(problem)


def test_exp_is_an_opaque_exponential():
    u = sp.Symbol("u", real=True)
    assert sp.diff(sym.Exp(u**2), u) == 2 * u * sym.Exp(u**2)
    assert sym.Exp(u) * sym.Exp(-u) != 1  # not merged, unlike sympy.exp


def test_the_instance_is_off_every_kink_and_matches_numpys_branch(problem):
    branch = problem.branch
    assert branch.pool_gap > 0 and branch.fc1_margin > 0
    params, x, labels = sym.instance_arrays(problem.instance)
    _, caches = net.forward(params, x, sym.TINY)
    # numpy stores the row-major offset i*K_p + j of the first maximum
    offsets = branch.pool_argmax[..., 0] * 2 + branch.pool_argmax[..., 1]
    np.testing.assert_array_equal(caches["pool"].argmax, offsets)
    np.testing.assert_array_equal(caches["z_fc1"] > 0, branch.relu_active)


def test_a_kink_is_refused():
    inst = sym.make_tiny_instance(seed=0)
    flat = np.full(inst.x.shape, sp.S.Zero, dtype=object)  # constant image: every window ties
    with pytest.raises(ValueError, match="kink"):
        sym.build_problem(sym.TinyInstance(flat, inst.labels, inst.params))


def test_delta_rule_equals_sympy_diff_for_every_parameter(delta_rule, autodiff):
    rows = sym.identity_table(delta_rule, autodiff)
    assert [r.name for r in rows] == list(net.GRAD_NAMES)
    assert sum(r.entries for r in rows) == 18 + 2 + 32 + 4 + 12 + 3
    assert all(r.nonzero == 0 for r in rows), rows


def test_exact_values_match_the_float64_network(problem, autodiff):
    params, x, labels = sym.instance_arrays(problem.instance)
    _, grads, _ = net.loss_and_grads(params, x, labels, sym.TINY)
    for name in net.GRAD_NAMES:
        exact = sym.evaluate(problem, autodiff[name])
        assert relative_error(exact, grads[name]) < 1e-13, name


def test_output_delta_without_one_over_n_is_detected(problem, autodiff):
    N = problem.exp_symbols.shape[0]
    good = sym.delta_rule_gradients(problem)["delta_fc2"]
    wrong = sym.delta_rule_gradients(problem, delta_fc2=good * N)  # y - t
    assert N == 2  # with N = 1 the missing 1/N could not be seen
    assert sym.residual(wrong["db_fc2"][0], autodiff["db_fc2"][0]) != 0
    assert sym.residual(wrong["db_conv"][0], autodiff["db_conv"][0]) != 0


def test_squared_error_delta_with_elementwise_softmax_derivative_is_detected(problem, autodiff):
    E = problem.exp_symbols
    N, classes = E.shape
    t = sym.one_hot_exact(problem.instance.labels, classes)
    wrong = np.empty(E.shape, dtype=object)
    for n in range(N):
        for k in range(classes):
            y = E[n, k] / sum(E[n])
            wrong[n, k] = (y - t[n, k]) * y * (1 - y) / N  # the sample solution's (49)
    grads = sym.delta_rule_gradients(problem, delta_fc2=wrong)
    assert sym.residual(grads["db_fc2"][0], autodiff["db_fc2"][0]) != 0


def test_conv_bias_gradient_without_the_sums_is_detected(delta_rule, autodiff):
    delta_conv = delta_rule["delta_conv"]
    for o in range(delta_conv.shape[1]):
        # the sample solution's (71): one position of one image, no sum over n, m, l
        assert sym.residual(delta_conv[0, o, 0, 0], autodiff["db_conv"][o]) != 0
        # summing over positions but forgetting the batch is wrong too
        one_image = sp.Add(*delta_conv[0, o].ravel())
        assert sym.residual(one_image, autodiff["db_conv"][o]) != 0


def test_conv_weight_gradient_with_a_shifted_input_is_detected(problem, delta_rule, autodiff):
    """Reading x at (m+i, l+j) instead of (m+i-1, l+j-1) (1-based) breaks Eq. (4.12)."""
    delta_conv, x = delta_rule["delta_conv"], problem.instance.x
    _, _, h_c, w_c = delta_conv.shape
    wrong = sp.Add(*[delta_conv[n, 0, m, l] * x[n, 0, m + 1, l + 1]
                     for n in range(2) for m in range(h_c) for l in range(w_c)])
    assert sym.residual(wrong, autodiff["dw_conv"][0, 0, 0, 0]) != 0


def test_residual_agrees_with_sympy_simplify_on_a_small_entry(delta_rule, autodiff):
    """The canonical zero test and sympy's simplify say the same on an entry simplify can handle."""
    a, b = delta_rule["db_fc1"][1], autodiff["db_fc1"][1]
    assert a != b  # different expressions ...
    assert sym.residual(a, b) == 0 and sp.simplify(a - b) == 0  # ... of the same function
    wrong = a * 2
    assert sym.residual(wrong, b) != 0 and sp.simplify(wrong - b) != 0


def test_delta_rule_is_exact_with_two_input_channels_stride_2_and_padding_1():
    # (4.12)/(4.13) in the general case: C_in = 2, S = 2, P = 1, N = 2 (a few seconds)
    instance = sym.make_tiny_instance(seed=0, arch=sym.TINY_STRIDED)
    assert (instance.arch.C_in, instance.arch.S, instance.arch.P) == (2, 2, 1)
    problem = sym.build_problem(instance)
    autodiff = sym.autodiff_gradients(problem)
    rows = sym.identity_table(sym.delta_rule_gradients(problem), autodiff)
    assert sum(r.entries for r in rows) == 36 + 2 + 6 + 3 + 6 + 2
    assert all(r.nonzero == 0 for r in rows), rows
    params, x, labels = sym.instance_arrays(instance)
    _, grads, _ = net.loss_and_grads(params, x, labels, instance.arch)
    for name in net.GRAD_NAMES:
        assert relative_error(sym.evaluate(problem, autodiff[name]), grads[name]) < 1e-13, name
