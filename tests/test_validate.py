"""Validation messages name the expected and the actual shape or dtype."""

import numpy as np
import pytest

from mnist_cnn.validate import (
    require_float_array,
    require_ndim,
    require_positive_int,
    require_same_dtype,
    require_shape,
)


def test_shape_message_shows_wildcards_and_actual_shape():
    expected = r"w must have shape \[C_out, K\] = \(\*, 5\); got \(3, 4\)"
    with pytest.raises(ValueError, match=expected):
        require_shape("w", np.zeros((3, 4)), (None, 5), ("C_out", "K"))
    with pytest.raises(ValueError, match=r"b must have shape \[C_out\] = \(20,\); got \(10,\)"):
        require_shape("b", np.zeros(10), (20,), ("C_out",))
    require_shape("w", np.zeros((3, 5)), (None, 5), ("C_out", "K"))


def test_rank_dtype_and_int_messages():
    with pytest.raises(ValueError, match=r"x must be 4-D \[N, C, H, W\]; got shape \(28, 28\)"):
        require_ndim("x", np.zeros((28, 28)), ("N", "C", "H", "W"))
    with pytest.raises(TypeError, match="float32 or float64; got int64"):
        require_float_array("x", np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="numpy.ndarray; got list"):
        require_float_array("x", [1.0])
    with pytest.raises(TypeError, match="x is float32 but w is float64"):
        require_same_dtype(x=np.zeros(1, np.float32), w=np.zeros(1))
    with pytest.raises(TypeError, match="stride must be an int; got bool"):
        require_positive_int("stride", True)


def test_checked_runs_the_check_first_and_keeps_the_bare_body():
    from mnist_cnn.validate import checked

    calls = []

    def positive(value):
        calls.append(value)
        require_positive_int("value", value)

    @checked(positive)
    def double(value):
        """Twice the value."""
        return 2 * value

    assert double(3) == 6 and calls == [3]
    assert double.__doc__ == "Twice the value." and double.__name__ == "double"
    with pytest.raises(ValueError, match="value must be >= 1; got 0"):
        double(0)
    assert double.unchecked(-1) == -2 and calls == [3, 0]  # the bare body trusts its caller


def test_network_inputs_checks_everything_against_the_architecture():
    from mnist_cnn.architecture import SEED
    from mnist_cnn.reference.network import init_params
    from mnist_cnn.validate import network_inputs

    params = init_params(np.random.default_rng(0), np.float64)
    x, labels = np.zeros((2, 1, 28, 28)), np.array([3, 9])
    network_inputs(params, x, SEED, labels)
    with pytest.raises(ValueError, match=r"x must have shape .* = \(\*, 1, 28, 28\); got"):
        network_inputs(params, np.zeros((2, 1, 27, 28)), SEED)
    with pytest.raises(ValueError, match=r"w_fc1 must have shape \[D_1, D_0\] = \(500, 2880\)"):
        network_inputs({**params, "w_fc1": np.zeros((500, 2881))}, x, SEED)
    with pytest.raises(TypeError, match="dtype mismatch: b_fc2 is float32"):
        network_inputs({**params, "b_fc2": params["b_fc2"].astype(np.float32)}, x, SEED)
    with pytest.raises(KeyError, match="w_conv"):
        network_inputs({k: v for k, v in params.items() if k != "w_conv"}, x, SEED)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 9\]"):
        network_inputs(params, x, SEED, np.array([3, 10]))
