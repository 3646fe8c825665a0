"""The output-size formula, parameter counts and the shape trace of the seed network."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mnist_cnn.shapes import (
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
    rows = shape_trace(batch=3, in_channels=3, height=32, width=30, kernel=5, stride=2, padding=2)
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
