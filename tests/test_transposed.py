"""The closed form of Eq. (4.14) for any S, P equals the loops, finite differences, the adjoint."""

import numpy as np
import pytest

from mnist_cnn.reference import layers, loops
from mnist_cnn.reference.transposed import conv_dx_closed_form, dilate
from mnist_cnn.verify.gradcheck import numerical_gradient, relative_error

CASES = [  # (N, C_in, C_out, H, W, K, S, P): strides, paddings, rectangles, unread borders
    (2, 2, 3, 7, 7, 3, 2, 1), (1, 1, 2, 8, 8, 3, 1, 0), (2, 3, 2, 9, 7, 3, 2, 1),
    (1, 2, 2, 10, 11, 4, 3, 2), (2, 1, 1, 6, 6, 2, 2, 0), (1, 2, 3, 5, 8, 3, 1, 2),
]


@pytest.mark.parametrize("case", CASES)
def test_closed_form_equals_the_loops(case):
    N, C_in, C_out, H, W, K, S, P = case
    rng = np.random.default_rng(sum(case))
    x, w = rng.normal(size=(N, C_in, H, W)), rng.normal(size=(C_out, C_in, K, K))
    z = loops.conv_forward_loops(x, w, np.zeros(C_out), S, P)
    delta = rng.normal(size=z.shape)
    dx_loops, _, _ = loops.conv_backward_loops(delta, x, w, S, P)
    assert relative_error(conv_dx_closed_form(delta, w, x.shape, S, P), dx_loops) < 1e-13


def test_closed_form_matches_finite_differences_and_the_adjoint_identity():
    # S = 2, P = 1, C_in = 2: the case the book's S = 1 reading does not cover
    rng = np.random.default_rng(7)
    x, w = rng.normal(size=(2, 2, 7, 7)), rng.normal(size=(3, 2, 3, 3))
    b = rng.normal(size=3)
    delta = rng.normal(size=layers.conv_forward(x, w, b, 2, 1)[0].shape)
    dx = conv_dx_closed_form(delta, w, x.shape, 2, 1)
    dx_fd = numerical_gradient(
        lambda x_: float(np.sum(layers.conv_forward(x_, w, b, 2, 1)[0] * delta)), x.copy())
    assert relative_error(dx, dx_fd) < 1e-8
    v = rng.normal(size=x.shape)  # <conv_w(v), delta> = <v, dx>: conv without bias is linear in v
    lhs = np.sum(loops.conv_forward_loops(v, w, np.zeros(3), 2, 1) * delta)
    assert abs(lhs - np.sum(v * dx)) < 1e-12 * (1 + abs(lhs))


def test_dilate_puts_s_minus_1_zeros_between_entries_and_keeps_the_dtype():
    d = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2)
    out = dilate(d, 3)
    assert out.shape == (1, 1, 4, 4) and out.dtype == np.float32
    assert out[0, 0, ::3, ::3].tolist() == [[1, 2], [3, 4]] and out.sum() == 10


def test_a_wrong_delta_shape_is_named():
    with pytest.raises(ValueError, match="delta must have shape"):
        conv_dx_closed_form(np.zeros((1, 2, 4, 4)), np.zeros((2, 1, 3, 3)), (1, 1, 6, 6), 2, 1)
