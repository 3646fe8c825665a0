"""The input gradient of the convolution in closed form, Eq. (4.14), for any stride and padding.

What this is: the "full correlation with the flipped kernel" reading of
Eq. (4.14), extended from ``S = 1, P = 0`` to every ``S`` and ``P`` in three
steps that can each be drawn on paper:

1. **dilate** the deltas: put ``S - 1`` zeros between neighbouring entries, so
   that delta ``(m, l)`` sits where its window starts in the padded input;
2. **full-correlate** the dilated map with the kernel flipped in both axes
   (``scipy.signal.correlate(..., mode="full")``), summed over the filters
   ``o``: this is ``∂L/∂x̃``, the gradient with respect to the padded input,
   up to the rows and columns that no window reads;
3. **zero-extend** by those unread rows and columns (dropped by the floor of
   Eq. (1.4)) and **crop** ``P`` from every side: the padding zeros are
   constants, not inputs.

What this is not: the implementation the network uses (that is the scatter of
:func:`mnist_cnn.reference.layers.conv_backward` through ``col2im``), nor the
loop reference (:func:`mnist_cnn.reference.loops.conv_backward_loops`). It is a
third form, checked against both in ``tests/test_transposed.py`` and in
chapter 4.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from mnist_cnn import validate
from mnist_cnn.architecture import output_size
from mnist_cnn.validate import checked

__all__ = ["conv_dx_closed_form", "dilate"]


def _check_dilate(delta, stride) -> None:
    validate.require_ndim("delta", validate.require_float_array("delta", delta),
                          ("N", "C_out", "H_c", "W_c"))
    stride = validate.require_positive_int("stride", stride)
    n, c, h, w = delta.shape
    validate.require_allocation("the dilated delta", (n, c, (h - 1) * stride + 1,
                                                      (w - 1) * stride + 1), delta.dtype)


def _check_dx(delta, w, x_shape, stride=1, padding=0) -> None:
    if not (isinstance(x_shape, (tuple, list)) and len(x_shape) == 4):
        raise ValueError(f"x_shape must be (N, C_in, H_in, W_in); got {x_shape!r}")
    for axis, size in zip(validate.IMAGE_LAYOUT, x_shape, strict=True):
        validate.require_positive_int(f"x_shape {axis}", size)
    validate.require_float_array("delta", delta)
    validate.require_ndim("w", validate.require_float_array("w", w), validate.CONV_WEIGHT_LAYOUT)
    validate.require_positive_int("stride", stride)
    validate.require_positive_int("padding", padding, minimum=0)
    validate.require_same_dtype(delta=delta, w=w)
    if w.shape[2] != w.shape[3]:
        raise ValueError(f"w must have a square kernel [C_out, C_in, K, K]; got {w.shape}")
    n, c_in, h_in, w_in = x_shape
    validate.require_allocation("the padded gradient [N, C_in, H_in+2P, W_in+2P]",
                                (n, c_in, h_in + 2 * padding, w_in + 2 * padding), delta.dtype)
    if min(h_in, w_in) + 2 * padding < w.shape[2]:
        raise ValueError(f"kernel {w.shape[2]} does not fit into input {min(h_in, w_in)} "
                         f"with padding {padding}")


@checked(_check_dilate)
def dilate(delta: np.ndarray, stride: int) -> np.ndarray:
    """Insert ``stride - 1`` zeros between neighbouring entries of each map.

    Parameters
    ----------
    delta : numpy.ndarray, shape [N, C_out, H_c, W_c]
    stride : int
        ``S >= 1``; ``S = 1`` returns a copy.

    Returns
    -------
    numpy.ndarray, shape [N, C_out, (H_c - 1) S + 1, (W_c - 1) S + 1], dtype of ``delta``
        Entry ``((m-1)S + 1, (l-1)S + 1)`` (1-based) is ``delta_{m,l}``; the rest are 0.

    Examples
    --------
    >>> dilate(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), 2)[0, 0]
    array([[1., 0., 2.],
           [0., 0., 0.],
           [3., 0., 4.]])
    """
    N, C, H_c, W_c = delta.shape
    out = np.zeros((N, C, (H_c - 1) * stride + 1, (W_c - 1) * stride + 1), dtype=delta.dtype)
    out[:, :, ::stride, ::stride] = delta
    return out


@checked(_check_dx)
def conv_dx_closed_form(
    delta: np.ndarray, w: np.ndarray, x_shape: tuple[int, int, int, int],
    stride: int = 1, padding: int = 0,
) -> np.ndarray:
    """``∂L/∂x`` of the conv, Eq. (4.14): dilate, full-correlate with the flipped kernel, crop.

    ``∂L/∂x̃_{n,c} = Σ_o corr_full(dilate_S(δ_{n,o}), flip(w_{o,c}))``, zero-extended to
    ``(H_in + 2P) × (W_in + 2P)``; then ``∂L/∂x_{n,c,a,b'} = ∂L/∂x̃_{n,c,a+P,b'+P}``.

    Parameters
    ----------
    delta : numpy.ndarray, shape [N, C_out, H_c, W_c]
        ``δ^{(conv)}``, float32 or float64.
    w : numpy.ndarray, shape [C_out, C_in, K, K]
        The filters, same dtype.
    x_shape : tuple of int
        ``(N, C_in, H_in, W_in)`` of the conv input.
    stride, padding : int
        ``S >= 1`` and ``P >= 0`` of the forward pass.

    Returns
    -------
    numpy.ndarray, shape x_shape, dtype of ``delta``

    Raises
    ------
    ValueError
        If ``delta``'s shape is not the conv output shape of Eq. (1.4) for ``x_shape``.
    """
    N, C_in, H_in, W_in = x_shape
    C_out, _, K, _ = w.shape
    S, P = stride, padding
    H_c = output_size.unchecked(H_in, K, S, P)  # Eq. (1.4)
    W_c = output_size.unchecked(W_in, K, S, P)
    if delta.shape != (N, C_out, H_c, W_c) or w.shape[1] != C_in:
        raise ValueError(f"delta must have shape {(N, C_out, H_c, W_c)} and w {C_in} input "
                         f"channels; got delta {delta.shape}, w {w.shape}")
    dilated = dilate.unchecked(delta, S)                                   # step 1
    dx_pad = np.zeros((N, C_in, H_in + 2 * P, W_in + 2 * P), dtype=delta.dtype)
    H_read, W_read = (H_c - 1) * S + K, (W_c - 1) * S + K      # rows/columns some window reads
    for n in range(N):
        for c in range(C_in):
            dx_pad[n, c, :H_read, :W_read] = sum(                # step 2 (+ zero-extension)
                scipy.signal.correlate(dilated[n, o], w[o, c, ::-1, ::-1], mode="full",
                                       method="direct")
                for o in range(C_out))
    return dx_pad[:, :, P : P + H_in, P : P + W_in].copy()       # step 3: crop the padding
