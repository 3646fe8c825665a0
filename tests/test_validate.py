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
