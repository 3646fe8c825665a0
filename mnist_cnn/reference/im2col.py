"""im2col and col2im: the sliding window turned into a matrix, and back.

What this is: zero padding, Eq. (1.2); the per-channel im2col matrix, Eq. (2.1);
the channel-parallel im2col matrix, Eq. (3.1); and col2im, the adjoint of
im2col used by the backward pass, Eq. (4.15). The windows are cut by
:func:`numpy.lib.stride_tricks.sliding_window_view` (a strided view, no copy),
then strided with ``[::S]`` and laid out by one transpose + reshape (one copy).
There is no Python loop over output positions anywhere in this file.

What this is not: the layers. The products with the weight matrices live in
:mod:`mnist_cnn.reference.layers`; the index-by-index reference is :mod:`mnist_cnn.reference.loops`.

Index conventions (the maths is 1-based, the code 0-based)
-----------------------------------------------------------
* kernel offset ``(i, j)``, ``i, j = 1..K``   -> row ``(i-1)K + j`` of ``X_c``
  (code: ``i*K + j``);
* input channel ``c`` and offset ``(i, j)``   -> row ``(c-1)K^2 + (i-1)K + j`` of
  ``X_col`` (code: ``c*K*K + i*K + j``);
* output position ``(m, l)``, ``m = 1..H_c``, ``l = 1..W_c`` -> column
  ``(m-1)W_c + l`` (code: ``m*W_c + l``).

So a column is one flattened receptive field, a row is one kernel tap seen at
every output position, and ``column.reshape(C_in, K, K)`` is the patch itself.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mnist_cnn import validate
from mnist_cnn.architecture import output_size
from mnist_cnn.validate import checked

__all__ = ["col2im", "conv_output_hw", "im2col", "im2col_per_channel", "pad"]



def _check_windows(x, K, stride=1, padding=0) -> None:
    validate.image_args(x, padding)
    validate.require_positive_int("K", K)
    validate.require_positive_int("stride", stride)
    h_c, w_c = conv_output_hw(x.shape[2], x.shape[3], K, stride, padding)  # raises if no fit
    validate.require_allocation("the im2col matrix [N, C_in*K*K, H_c*W_c]",
                                (x.shape[0], x.shape[1] * K * K, h_c * w_c), x.dtype)


def _check_col2im(X_col, x_shape, K, stride=1, padding=0) -> None:
    validate.require_float_array("X_col", X_col)
    if len(x_shape) != 4:
        raise ValueError(f"x_shape must be (N, C_in, H_in, W_in); got {tuple(x_shape)}")
    for axis, size in enumerate(x_shape):
        validate.require_positive_int(f"x_shape[{axis}]", size)
    n, c_in, h_in, w_in = x_shape
    h_c, w_c = conv_output_hw(h_in, w_in, K, stride, padding)
    validate.require_shape(
        "X_col", X_col, (n, c_in * K * K, h_c * w_c), ("N", "C_in*K*K", "H_c*W_c")
    )
    validate.require_allocation("the padded input [N, C_in, H_in+2P, W_in+2P]",
                                (n, c_in, h_in + 2 * padding, w_in + 2 * padding), X_col.dtype)


@checked(validate.image_args)
def pad(x: np.ndarray, padding: int) -> np.ndarray:
    """Zero-pad the two spatial axes, Eq. (1.2).

    ``x~_{n,c,m,l} = x_{n,c,m-P,l-P}`` if ``1 <= m-P <= H_in`` and ``1 <= l-P <= W_in``,
    else 0.

    Parameters
    ----------
    x : numpy.ndarray, shape [N, C_in, H_in, W_in], float32 or float64
        Input batch.
    padding : int
        ``P >= 0`` zeros added on each side of each spatial axis.

    Returns
    -------
    numpy.ndarray, shape [N, C_in, H_in + 2P, W_in + 2P], same dtype as ``x``
        For ``P = 0`` this is ``x`` itself (no copy).
    """
    if padding == 0:
        return x
    return np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))


def conv_output_hw(
    height: int, width: int, kernel: int, stride: int = 1, padding: int = 0
) -> tuple[int, int]:
    """Output height and width ``(H_c, W_c)`` of a K x K window, Eq. (1.4) / (0.1).

    Parameters
    ----------
    height, width : int
        Input ``H_in``, ``W_in`` (rectangular images are fine).
    kernel, stride, padding : int
        ``K``, ``S``, ``P``.

    Returns
    -------
    tuple of int
        ``(floor((H_in - K + 2P)/S) + 1, floor((W_in - K + 2P)/S) + 1)``.

    Raises
    ------
    ValueError
        If the window does not fit into the padded input.
    """
    return (
        output_size(height, kernel, stride, padding),
        output_size(width, kernel, stride, padding),
    )


def _windows(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """All K x K windows as a strided view, [N, C_in, K, K, H_c, W_c] (no copy).

    ``sliding_window_view`` gives every window at stride 1,
    [N, C_in, H+2P-K+1, W+2P-K+1, K, K]; ``[::S]`` keeps every S-th one, which is
    exactly ``floor((H + 2P - K)/S) + 1`` of them, Eq. (0.1); the transpose puts
    the kernel offsets before the positions so that a C-order reshape gives the
    row/column order of Eqs. (2.1) and (3.1).
    """
    xp = pad.unchecked(x, padding)
    view = sliding_window_view(xp, (kernel, kernel), axis=(2, 3))
    view = view[:, :, ::stride, ::stride]
    return view.transpose(0, 1, 4, 5, 2, 3)


def _copy_windows(x: np.ndarray, kernel: int, stride: int, padding: int) -> np.ndarray:
    """The windows copied once into a fresh C-contiguous [N, C_in, K, K, H_c, W_c] array.

    A plain ``reshape`` of the view would sometimes return a read-only view of
    ``x`` itself (e.g. K = 1); the explicit copy makes the result always fresh,
    writable and contiguous, at the cost of exactly one copy.
    """
    view = _windows(x, kernel, stride, padding)
    out = np.empty(view.shape, dtype=x.dtype)
    out[...] = view
    return out


@checked(_check_windows)
def im2col_per_channel(
    x: np.ndarray, K: int, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Per-channel im2col matrices ``X_c^{(n)}``, Eq. (2.1).

    ``(X_c^{(n)})_{(i-1)K+j, (m-1)W_c+l} = x~_{n, c, (m-1)S+i, (l-1)S+j}``
    where ``x~`` is the padded input, Eq. (1.2).

    Column ``(m-1)W_c + l`` of ``X_c^{(n)}`` is the K x K patch under output
    position ``(m, l)`` of channel ``c``, flattened row by row; one matrix per
    image and per input channel. The convolution is then
    ``Z^{(n)} = sum_c W_c X_c^{(n)} + b 1^T``, Eq. (2.3).

    Parameters
    ----------
    x : numpy.ndarray, shape [N, C_in, H_in, W_in], float32 or float64
        Input batch (any N, C_in; H_in may differ from W_in).
    K : int
        Kernel (window) size.
    stride : int, default 1
        ``S``.
    padding : int, default 0
        ``P``.

    Returns
    -------
    numpy.ndarray, shape [N, C_in, K*K, H_c*W_c], same dtype as ``x``
        ``X[n-1, c-1]`` is ``X_c^{(n)}``. A fresh C-contiguous array.

    Raises
    ------
    TypeError, ValueError
        For a non-float or non-4-D ``x``, a non-int hyper-parameter, or a window
        that does not fit.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> X = im2col_per_channel(x, 3)
    >>> X.shape
    (1, 1, 9, 4)
    >>> X[0, 0, :, 0].reshape(3, 3)      # the patch under output (1, 1)
    array([[ 0.,  1.,  2.],
           [ 4.,  5.,  6.],
           [ 8.,  9., 10.]])
    """
    windows = _copy_windows(x, K, stride, padding)
    n, c_in, _, _, h_c, w_c = windows.shape
    return windows.reshape(n, c_in, K * K, h_c * w_c)


@checked(_check_windows)
def im2col(x: np.ndarray, K: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Channel-parallel im2col matrices ``X_col^{(n)}``, Eq. (3.1).

    ``(X_col^{(n)})_{(c-1)K^2+(i-1)K+j, (m-1)W_c+l} = x~_{n, c, (m-1)S+i, (l-1)S+j}``

    The per-channel matrices of Eq. (2.1) stacked on top of each other: a column
    is now the whole C_in x K x K receptive field, so with
    ``W_mat = w.reshape(C_out, C_in*K*K)``, Eq. (3.2), the convolution of image
    ``n`` is the single product ``W_mat X_col^{(n)} + b 1^T``, Eq. (3.3).

    Why the batch layout [N, C_in*K*K, H_c*W_c]
    -------------------------------------------
    ``np.matmul(W_mat, X_col)`` broadcasts the 2-D ``W_mat`` [C_out, C_in*K*K]
    over the leading N axis, so the whole batch is one call, and its result
    [N, C_out, H_c*W_c] reshapes to NCHW [N, C_out, H_c, W_c] without a
    transpose or a copy. The weights get no batch axis: they are shared by all
    images.

    The other common layout puts all images side by side in one wide matrix,
    [C_in*K*K, N*H_c*W_c] (one big GEMM, as in Caffe)::

        X_wide = X_col.transpose(1, 0, 2).reshape(C_in * K * K, N * H_c * W_c)
        Z_wide = W_mat @ X_wide                      # [C_out, N*H_c*W_c]
        z = Z_wide.reshape(C_out, N, H_c, W_c).transpose(1, 0, 2, 3)

    It gives the same ``z`` but needs a transpose (a copy) on the way in and on
    the way out.

    Parameters
    ----------
    x : numpy.ndarray, shape [N, C_in, H_in, W_in], float32 or float64
        Input batch.
    K : int
        Kernel size.
    stride : int, default 1
        ``S``.
    padding : int, default 0
        ``P``.

    Returns
    -------
    numpy.ndarray, shape [N, C_in*K*K, H_c*W_c], same dtype as ``x``
        A fresh C-contiguous array (ready for BLAS). For ``C_in = 1`` it equals
        ``im2col_per_channel(x, ...)[:, 0]``.
    """
    windows = _copy_windows(x, K, stride, padding)
    n, c_in, _, _, h_c, w_c = windows.shape
    return windows.reshape(n, c_in * K * K, h_c * w_c)


@checked(_check_col2im)
def col2im(
    X_col: np.ndarray,
    x_shape: tuple[int, int, int, int],
    K: int,
    stride: int = 1,
    padding: int = 0,
) -> np.ndarray:
    """Scatter-add columns back onto the image: the adjoint of :func:`im2col`, Eq. (4.15).

    ``dx~_{n,c,(m-1)S+i,(l-1)S+j} += (dX_col^{(n)})_{(c-1)K^2+(i-1)K+j, (m-1)W_c+l}``
    summed over every ``(i, j, m, l)`` that lands on the same pixel, then the
    padding is cropped. It is the transpose of the linear map ``im2col``:
    ``<im2col(x), Y> = <x, col2im(Y)>`` for every ``x`` and ``Y``. It is *not*
    an inverse: a pixel covered by several windows receives the sum of their
    entries (exactly what the chain rule asks for in ``dL/dx``).

    The loop runs over the K*K kernel offsets only; each iteration adds one
    strided slice covering all N, C_in and output positions at once (for a
    fixed offset no two positions hit the same pixel, so ``+=`` on a slice is
    exact).

    Parameters
    ----------
    X_col : numpy.ndarray, shape [N, C_in*K*K, H_c*W_c], float32 or float64
        Columns, e.g. ``dX_col = W_mat^T delta``.
    x_shape : tuple of int
        ``(N, C_in, H_in, W_in)`` of the unpadded input.
    K, stride, padding : int
        As given to :func:`im2col`.

    Returns
    -------
    numpy.ndarray, shape x_shape, same dtype as ``X_col``
    """
    n, c_in, h_in, w_in = x_shape
    h_c, w_c = (output_size.unchecked(s, K, stride, padding) for s in (h_in, w_in))
    cols = X_col.reshape(n, c_in, K, K, h_c, w_c)
    dxp = np.zeros((n, c_in, h_in + 2 * padding, w_in + 2 * padding), dtype=X_col.dtype)
    for i in range(K):
        for j in range(K):
            dxp[:, :, i : i + stride * h_c : stride, j : j + stride * w_c : stride] += cols[
                :, :, i, j
            ]
    if padding == 0:
        return dxp
    # Crop the padding; copy so that dx is C-contiguous like every other gradient.
    return np.ascontiguousarray(dxp[:, :, padding:-padding, padding:-padding])
