"""The output-size formula, parameter counts and the shape trace of the seed network."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mnist_cnn.architecture import (
    SEED,
    Architecture,
    format_shape_trace,
    output_size,
    shape_trace,
    total_parameters,
)


def test_seed_network_shapes_and_parameters():
    rows = shape_trace()
    shapes = [row.shape for row in rows]
    assert shapes == [
        (64, 1, 28, 28),
        (64, 20, 24, 24),
        (64, 20, 12, 12),
        (64, 2880),
        (64, 500),
        (64, 500),
        (64, 10),
        (64, 10),
    ]
    params = {row.name: row.parameters for row in rows if row.parameters}
    assert params == {"conv": 520, "fc1": 1_440_500, "fc2": 5_010}
    assert total_parameters(rows) == 1_446_030


@given(
    size_in=st.integers(1, 64),
    kernel=st.integers(1, 9),
    stride=st.integers(1, 4),
    padding=st.integers(0, 3),
)
def test_output_size_counts_the_window_positions(size_in, kernel, stride, padding):
    """Eq. (0.1) equals the number of window starts that fit, counted one by one."""
    padded = size_in + 2 * padding
    if padded < kernel:
        with pytest.raises(ValueError, match="does not fit"):
            output_size(size_in, kernel, stride, padding)
        return
    starts = [s for s in range(0, padded, stride) if s + kernel <= padded]
    assert output_size(size_in, kernel, stride, padding) == len(starts)


def test_rectangular_padded_strided_trace():
    rows = shape_trace(SEED.replace(C_in=3, H=32, W=30, K=5, S=2, P=2), batch=3)
    assert rows[1].shape == (3, 20, 16, 15)
    assert rows[2].shape == (3, 20, 8, 7)
    assert rows[3].shape == (3, 20 * 8 * 7)
    assert rows[1].parameters == 20 * (3 * 25 + 1)


def test_format_shape_trace_mentions_every_layer_and_total():
    text = format_shape_trace(shape_trace())
    for name in ["input", "conv", "pool", "reshape", "fc1", "relu", "fc2", "softmax"]:
        assert name in text
    assert "1,446,030" in text


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"size_in": 28, "kernel": 0}, ValueError, "kernel must be >= 1"),
        ({"size_in": 28, "kernel": 5, "stride": 0}, ValueError, "stride must be >= 1"),
        ({"size_in": 28, "kernel": 5, "padding": -1}, ValueError, "padding must be >= 0"),
        ({"size_in": 28.0, "kernel": 5}, TypeError, "size_in must be an int; got float"),
        ({"size_in": 3, "kernel": 5}, ValueError, "does not fit"),
    ],
)
def test_bad_hyper_parameters_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        output_size(**kwargs)


def test_architecture_derives_every_size_from_the_eleven_hyper_parameters():
    assert (SEED.H_c, SEED.W_c, SEED.H_p, SEED.W_p, SEED.D_0) == (24, 24, 12, 12, 2880)
    assert SEED.param_shapes["w_fc1"] == (500, 2880)
    odd = Architecture(C_in=3, H=32, W=30, S=2, P=2, K_p=3, S_p=2)
    assert (odd.H_c, odd.W_c) == (output_size(32, 5, 2, 2), output_size(30, 5, 2, 2))
    assert (odd.H_p, odd.W_p) == (output_size(odd.H_c, 3, 2), output_size(odd.W_c, 3, 2))
    assert odd.D_0 == 20 * odd.H_p * odd.W_p
    assert sum(shape_trace(odd)[k].parameters for k in range(8)) == sum(
        int(np.prod(s)) for s in odd.param_shapes.values())


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"K": 0}, ValueError, "K must be >= 1"),
        ({"P": -1}, ValueError, "P must be >= 0"),
        ({"D_1": 2.0}, TypeError, "D_1 must be an int"),
        ({"H": 3}, ValueError, "does not fit"),
    ],
)
def test_bad_architecture_is_refused_once_with_its_name(changes, error, message):
    with pytest.raises(error, match=message):
        SEED.replace(**changes)
