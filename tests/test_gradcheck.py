"""Tests of the finite-difference referee itself (mnist_cnn.verify.gradcheck)."""

import numpy as np
import pytest

from mnist_cnn.verify.gradcheck import (
    check_params,
    format_check_table,
    numerical_gradient,
    relative_error,
    sample_indices,
)


def test_numerical_gradient_of_a_cubic_matches_the_derivative_and_restores_the_array():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    before = a.copy()
    g = numerical_gradient(lambda v: np.sum(v**3), a)
    assert g.shape == a.shape
    assert relative_error(g, 3 * a**2) < 1e-9
    assert np.array_equal(a, before)  # bit-for-bit restored


def test_numerical_gradient_on_chosen_indices_returns_one_value_per_index():
    a = np.arange(6, dtype=np.float64).reshape(2, 3)
    idx = [(1, 2), (0, 0)]
    g = numerical_gradient(lambda v: np.sum(v**2), a, idx)
    np.testing.assert_allclose(g, [2 * 5.0, 0.0], atol=1e-8)


def test_numerical_gradient_restores_the_entry_when_f_raises():
    a = np.ones(2)

    def boom(v):
        raise RuntimeError("f failed")

    with pytest.raises(RuntimeError):
        numerical_gradient(boom, a)
    assert np.array_equal(a, np.ones(2))


def test_numerical_gradient_refuses_float32_and_bad_indices():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(np.sum, np.ones(3, dtype=np.float32))
    with pytest.raises(ValueError, match="does not fit"):
        numerical_gradient(np.sum, np.ones((2, 2)), [(2, 0)])
    with pytest.raises(ValueError, match="eps"):
        numerical_gradient(np.sum, np.ones(2), eps=0.0)


def test_relative_error_is_norm_based():
    a = np.array([3.0, 4.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(a, -a) == 1.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    # ||(0, 1)|| / (||a|| + ||b||) = 1 / (5 + sqrt(9 + 25))
    assert relative_error(a, np.array([3.0, 5.0])) == pytest.approx(1 / (5 + np.sqrt(34)))
    assert relative_error(1e-20 * a, 1e-20 * a * 1.5) == pytest.approx(0.2)  # scale-free
    with pytest.raises(ValueError, match="same shape"):
        relative_error(np.ones(2), np.ones(3))


def test_sample_indices_are_distinct_in_range_and_capped():
    rng = np.random.default_rng(1)
    idx = sample_indices((4, 5, 6), 30, rng)
    assert len(idx) == len(set(idx)) == 30
    assert all(0 <= i < 4 and 0 <= j < 5 and 0 <= k < 6 for i, j, k in idx)
    assert len(sample_indices((3,), 10, rng)) == 3
    again = sample_indices((4, 5, 6), 30, np.random.default_rng(1))
    assert again == idx


def quadratic_loss(params):
    return 0.5 * np.sum(params["w"] ** 2) + np.sum(params["b"] ** 3)


def test_check_params_passes_a_right_gradient_and_fails_a_wrong_one():
    rng = np.random.default_rng(2)
    params = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(2)}
    saved = {k: v.copy() for k, v in params.items()}
    right = {"dw": params["w"].copy(), "db": 3 * params["b"] ** 2}
    rows = check_params(quadratic_loss, params, right, 5, rng)
    assert [r.name for r in rows] == ["w", "b"]
    assert [r.checked for r in rows] == [5, 2]
    assert all(r.relative_error < 1e-8 for r in rows)
    wrong = {"dw": 2 * params["w"], "db": right["db"]}
    rows = check_params(quadratic_loss, params, wrong, 12, rng)
    assert rows[0].relative_error == pytest.approx(1 / 3)
    assert all(np.array_equal(params[k], saved[k]) for k in params)
    assert "< 1e-06: False" in format_check_table(rows, threshold=1e-6)


def test_check_params_rejects_missing_or_misshaped_gradients_and_float32():
    rng = np.random.default_rng(3)
    params = {"w": np.ones((2, 2)), "b": np.ones(2)}
    with pytest.raises(KeyError, match="db"):
        check_params(quadratic_loss, params, {"dw": np.ones((2, 2))}, 2, rng)
    with pytest.raises(ValueError, match="shape"):
        check_params(quadratic_loss, params, {"dw": np.ones(4), "db": np.ones(2)}, 2, rng)
    with pytest.raises(TypeError, match="float64"):
        check_params(quadratic_loss, {"w": np.ones(2, dtype=np.float32)}, {"dw": np.ones(2)}, 2,
                     rng)


def test_pool_tie_report_accepts_identical_ties_and_refuses_near_ties_of_different_pixels():
    from mnist_cnn.reference import layers
    from mnist_cnn.verify import gradcheck

    w, b = np.ones((1, 1, 1, 1)), np.zeros(1)
    # 1x1 kernel: z = x. Window 1: a clear maximum. Window 2: two equal *pixels*, identical
    # receptive fields (values, not positions: 1x1 fields of equal value are identical).
    x = np.array([[[[1.0, 0.0, 2.0, 2.0], [0.0, 0.0, 0.0, 0.0]]]])
    z = layers.conv_forward(x, w, b)[0]
    report = gradcheck.pool_tie_report(x, z, 1, 1, 0, 2, 1e-6)
    assert (report.windows, report.clear, report.tied_identical, report.unsafe) == (2, 1, 1, 0)
    # a 2x2 kernel: the runner-up is within the step of the maximum but reads other pixels
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 0, 0], x[0, 0, 2, 2] = 1.0, 1.0 - 1e-9
    z = layers.conv_forward(x, np.ones((1, 1, 2, 2)), b)[0]
    report = gradcheck.pool_tie_report(x, z, 2, 1, 0, 2, 1e-6)
    assert report.unsafe == 1 and report.clear == 0
