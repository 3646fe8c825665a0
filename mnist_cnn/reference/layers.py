"""Vectorised layers of the seed CNN, forward and backward, in CS231n style.

What this is: every layer of conv -> max-pool -> flatten -> fc1 -> ReLU -> fc2
-> softmax as whole-batch numpy code. Forward functions return ``(out, cache)``
and backward functions take ``(dout, cache)`` and return ``(dx, dw, db)``, or
``dx`` alone for layers without parameters. The convolution comes in four forms
that give the same numbers:

* :func:`conv_forward` -- channel-parallel im2col, one product per image,
  Eq. (3.3) (the training path);
* :func:`conv_forward_per_channel` -- per-channel im2col, ``C_in`` products
  summed, Eqs. (2.3)/(2.4);
* :func:`conv_forward_einsum` -- a tensor contraction over the strided
  windows, no explicit matrix at all;
* ``mnist_cnn.reference.loops.conv_forward_loops`` -- the loop reference, Eq. (1.3).

Max-pooling is written as the book states it: reshape + max, Eq. (2.5), and
im2col + column max, Eq. (2.6). A faster running-maximum form,
:mod:`mnist_cnn.fast.pool`, is tested equal to these (nothing here uses it).

What this is not: the network, the training loop or the gradient checker; and
not the loop reference (see :mod:`mnist_cnn.reference.loops`). Every function keeps the
float dtype it is given (float32 for training, float64 for checks). Each public
function checks its input once (``@checked``); its bare body is ``.unchecked``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mnist_cnn import validate
from mnist_cnn.architecture import output_size
from mnist_cnn.reference.im2col import col2im, im2col, im2col_per_channel, pad
from mnist_cnn.validate import checked

__all__ = [
    "ConvCache",
    "FCCache",
    "FlattenCache",
    "PoolCache",
    "ReluCache",
    "conv_backward",
    "conv_forward",
    "conv_forward_einsum",
    "conv_forward_per_channel",
    "cross_entropy",
    "fc_backward",
    "fc_forward",
    "flatten_backward",
    "flatten_forward",
    "maxpool_backward",
    "maxpool_forward",
    "maxpool_forward_im2col",
    "one_hot",
    "relu_backward",
    "relu_forward",
    "softmax",
    "softmax_cross_entropy_backward",
]



# --------------------------------------------------------------------------- caches


class ConvCache(NamedTuple):
    """What :func:`conv_backward` needs from :func:`conv_forward`.

    Attributes
    ----------
    x_shape : tuple of int
        ``(N, C_in, H_in, W_in)``.
    X_col : numpy.ndarray, shape [N, C_in*K*K, H_c*W_c]
        The im2col matrices of Eq. (3.1) (they give ``dW = delta X_col^T``).
    w : numpy.ndarray, shape [C_out, C_in, K, K]
        The weights (they give ``dX_col = W_mat^T delta``).
    stride, padding : int
        ``S`` and ``P``.
    """

    x_shape: tuple[int, int, int, int]
    X_col: np.ndarray
    w: np.ndarray
    stride: int
    padding: int


class PoolCache(NamedTuple):
    """What :func:`maxpool_backward` needs: the routing of Eq. (4.11).

    Attributes
    ----------
    z_shape : tuple of int
        ``(N, C, H, W)`` of the pooled input.
    argmax : numpy.ndarray of intp, shape [N, C, H_p, W_p]
        For each window, the 0-based row-major offset ``i*K_p + j`` of its first
        maximum (1-based: ``(i-1)K_p + j``).
    pool, stride : int
        ``K_p`` and ``S_p``.
    """

    z_shape: tuple[int, int, int, int]
    argmax: np.ndarray
    pool: int
    stride: int


class FlattenCache(NamedTuple):
    """The shape ``(N, C, H_p, W_p)`` to restore in :func:`flatten_backward`."""

    z_shape: tuple[int, ...]


class FCCache(NamedTuple):
    """Input ``a`` [N, D_in] and weights ``w`` [D_out, D_in] of a fully connected layer."""

    a: np.ndarray
    w: np.ndarray


class ReluCache(NamedTuple):
    """The ReLU input ``z``; its sign pattern is the derivative, Eq. (4.7)."""

    z: np.ndarray


# --------------------------------------------------------------------------- door checks
# Each public layer checks its input once (the @checked line); the network, which has
# checked its own input, calls the bare bodies (``layer.unchecked``).


def _check_conv_delta(delta, cache: ConvCache, need_dx: bool = True) -> None:
    x_shape, _, w, stride, padding = cache
    h_c, w_c = (output_size.unchecked(s, w.shape[2], stride, padding) for s in x_shape[2:])
    validate.require_array("delta", delta, (x_shape[0], w.shape[0], h_c, w_c),
                           ("N", "C_out", "H_c", "W_c"), w.dtype)


def _check_pool_delta(dout, cache: PoolCache) -> None:
    validate.require_array("dout", dout, cache.argmax.shape, ("N", "C", "H_p", "W_p"))


def _check_flatten(z) -> None:
    if validate.require_float_array("z", z).ndim < 2:
        raise ValueError(f"z must be at least 2-D [N, ...]; got shape {z.shape}")


def _check_flat_delta(dout, cache: FlattenCache) -> None:
    shape = cache.z_shape
    validate.require_array("dout", dout, (shape[0], int(np.prod(shape[1:]))), ("N", "D_0"))


def _check_fc_delta(delta, cache: FCCache) -> None:
    a, w = cache
    validate.require_array("delta", delta, (a.shape[0], w.shape[0]), ("N", "D_out"), w.dtype)
    validate.require_allocation("the input gradient [N, D_in]", a.shape, w.dtype)


def _check_relu(z) -> None:
    validate.elementwise_args(z)


def _check_relu_delta(dout, cache: ReluCache) -> None:
    validate.same_shape_args("dout", dout, cache.z)


def _check_softmax(z) -> None:
    validate.matrix_args(z, ("N", "D_2"))


def _check_one_hot(labels, classes: int = 10, dtype=np.float64) -> None:
    validate.one_hot_args(labels, classes, dtype)


# --------------------------------------------------------------------------- convolution


@checked(validate.conv_args)
def conv_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0
) -> tuple[np.ndarray, ConvCache]:
    """Convolution as one matrix product per image (channel-parallel im2col), Eq. (3.3).

    ``Z^{(n)} = W_mat X_col^{(n)} + b 1^T`` with ``X_col^{(n)}`` [C_in*K*K, H_c*W_c]
    from Eq. (3.1) and ``W_mat = w.reshape(C_out, C_in*K*K)``, Eq. (3.2). The whole
    batch is one ``np.matmul`` call that broadcasts ``W_mat`` over N; the weights
    and the bias have no batch axis (they are shared), and the bias is one number
    per output channel, broadcast over positions and images.

    Parameters
    ----------
    x : numpy.ndarray, shape [N, C_in, H_in, W_in], float32 or float64
        Input batch.
    w : numpy.ndarray, shape [C_out, C_in, K, K], same dtype
        Filters.
    b : numpy.ndarray, shape [C_out], same dtype
        Biases.
    stride, padding : int
        ``S >= 1`` and ``P >= 0``.

    Returns
    -------
    z : numpy.ndarray, shape [N, C_out, H_c, W_c], same dtype
        ``H_c = floor((H_in - K + 2P)/S) + 1``, likewise ``W_c``, Eq. (1.4).
    cache : ConvCache
        For :func:`conv_backward`.
    """
    c_out, _, K, _ = w.shape
    # H_c, W_c: Eq. (1.4)
    h_c, w_c = (output_size.unchecked(s, K, stride, padding) for s in x.shape[2:])
    # [N, C_in*K*K, H_c*W_c], C-contiguous
    X_col = im2col.unchecked(x, K, stride, padding)
    W_mat = w.reshape(c_out, -1)  # [C_out, C_in*K*K], a view
    z = np.matmul(W_mat, X_col)  # [N, C_out, H_c*W_c]
    z += b[:, None]
    z = z.reshape(x.shape[0], c_out, h_c, w_c)
    return z, ConvCache(x.shape, X_col, w, stride, padding)


@checked(validate.conv_args)
def conv_forward_per_channel(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Convolution as a sum of per-channel products, Eqs. (2.3)/(2.4).

    ``Z^{(n)} = sum_{c=1}^{C_in} W_c X_c^{(n)} + b 1^T`` with ``X_c^{(n)}``
    [K*K, H_c*W_c] from Eq. (2.1) and ``W_c = w[:, c-1].reshape(C_out, K*K)``,
    Eq. (2.2). For the batch, Eq. (2.4), ``X_c`` carries the batch axis,
    [N, K*K, H_c*W_c], and each ``W_c`` is broadcast over it. This needs
    ``C_in`` products (one per input channel); :func:`conv_forward` needs one.

    Parameters
    ----------
    x : numpy.ndarray, shape [N, C_in, H_in, W_in], float32 or float64
    w : numpy.ndarray, shape [C_out, C_in, K, K], same dtype
    b : numpy.ndarray, shape [C_out], same dtype
    stride, padding : int

    Returns
    -------
    numpy.ndarray, shape [N, C_out, H_c, W_c], same dtype
        No cache: the backward pass uses the channel-parallel form.
    """
    c_out, c_in, K, _ = w.shape
    # H_c, W_c: Eq. (1.4)
    h_c, w_c = (output_size.unchecked(s, K, stride, padding) for s in x.shape[2:])
    X = im2col_per_channel.unchecked(x, K, stride, padding)  # [N, C_in, K*K, H_c*W_c]
    # C_in products W_c X_c, summed; the first one starts the sum (no zero-filled buffer).
    z = np.matmul(w[:, 0].reshape(c_out, K * K), X[:, 0])  # [N, C_out, H_c*W_c]
    for c in range(1, c_in):
        W_c = w[:, c].reshape(c_out, K * K)  # Eq. (2.2)
        z += np.matmul(W_c, X[:, c])
    z += b[:, None]
    return z.reshape(x.shape[0], c_out, h_c, w_c)


@checked(validate.conv_args)
def conv_forward_einsum(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Convolution as a tensor contraction over strided windows, Eq. (1.3) vectorised.

    ``z_{n,o,m,l} = b_o + sum_{c,i,j} w_{o,c,i,j} x~_{n,c,(m-1)S+i,(l-1)S+j}``
    written as ``np.tensordot`` of the window view [N, C_in, H_c, W_c, K, K]
    (:func:`numpy.lib.stride_tricks.sliding_window_view`, no copy) with ``w``
    over the axes ``(c, i, j)``. No im2col matrix is named, but tensordot builds
    one internally (it copies the view into a [N*H_c*W_c, C_in*K*K] matrix and
    calls one GEMM), so the cost is that of im2col plus a final transpose from
    [N, H_c, W_c, C_out] to NCHW. ``np.einsum("ncmlij,ocij->noml", ...)`` gives
    the same numbers; with ``optimize=True`` it dispatches to the same
    tensordot.

    Parameters
    ----------
    x : numpy.ndarray, shape [N, C_in, H_in, W_in], float32 or float64
    w : numpy.ndarray, shape [C_out, C_in, K, K], same dtype
    b : numpy.ndarray, shape [C_out], same dtype
    stride, padding : int

    Returns
    -------
    numpy.ndarray, shape [N, C_out, H_c, W_c], same dtype, C-contiguous
    """
    K = w.shape[2]
    view = sliding_window_view(pad.unchecked(x, padding), (K, K), axis=(2, 3))
    view = view[:, :, ::stride, ::stride]
    z = np.tensordot(view, w, axes=([1, 4, 5], [1, 2, 3]))  # [N, H_c, W_c, C_out]
    z += b
    return np.ascontiguousarray(z.transpose(0, 3, 1, 2))


@checked(_check_conv_delta)
def conv_backward(
    delta: np.ndarray, cache: ConvCache, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of the convolution in im2col form, Eq. (4.15).

    With ``delta^{(n)}`` = ``delta[n]`` reshaped to [C_out, H_c*W_c]:

    * ``dW_mat = sum_n delta^{(n)} X_col^{(n)T}``  -> reshaped to [C_out, C_in, K, K]
      (Eq. (4.12) as a product);
    * ``db = sum over n and positions of delta``    (Eq. (4.13), row sums);
    * ``dX_col^{(n)} = W_mat^T delta^{(n)}``, then ``dx = col2im(dX_col)``
      (Eq. (4.14): col2im adds up every window that saw a pixel).

    Parameters
    ----------
    delta : numpy.ndarray, shape [N, C_out, H_c, W_c]
        ``dL/dz^{(conv)}``, same dtype as the forward input.
    cache : ConvCache
        From :func:`conv_forward`.
    need_dx : bool, default True
        If False, skip ``dX_col`` and col2im and return ``dx = None``. Training
        uses this for the first layer: nothing upstream of the image needs
        ``dL/dx``, and it is about half the work of this function.

    Returns
    -------
    dx : numpy.ndarray, shape [N, C_in, H_in, W_in], or None if ``need_dx`` is False
    dw : numpy.ndarray, shape [C_out, C_in, K, K]
    db : numpy.ndarray, shape [C_out]
        All in the dtype of ``delta``.
    """
    x_shape, X_col, w, stride, padding = cache
    n = x_shape[0]
    c_out, _, K, _ = w.shape
    d = delta.reshape(n, c_out, -1)
    # sum_n delta^(n) X_col^(n)T: a batch of small [C_out, C_in*K*K] products, then the sum.
    dW_mat = np.matmul(d, X_col.transpose(0, 2, 1)).sum(axis=0)
    db = delta.sum(axis=(0, 2, 3))
    if not need_dx:
        return None, dW_mat.reshape(w.shape), db
    dX_col = np.matmul(w.reshape(c_out, -1).T, d)  # [N, C_in*K*K, H_c*W_c]
    dx = col2im.unchecked(dX_col, x_shape, K, stride, padding)
    return dx, dW_mat.reshape(w.shape), db


# --------------------------------------------------------------------------- max-pooling


@checked(validate.pool_args)
def maxpool_forward(
    z: np.ndarray, pool: int = 2, stride: int | None = None
) -> tuple[np.ndarray, PoolCache]:
    """Max-pooling as reshape + max, Eq. (2.5).

    For ``S_p = K_p`` the windows tile the map, so after cropping to
    ``[H_p*K_p, W_p*K_p]`` a reshape to [N, C, H_p, K_p, W_p, K_p] puts window
    ``(p, q)`` at ``[:, :, p, :, q, :]`` and
    ``z^{(pool)}_{n,c,p,q} = max_{i,j} z_{n,c,p,i,q,j}``. The argmax over the
    K_p*K_p window entries (row-major; the first maximum on ties) is the routing
    for the backward pass, Eq. (4.11). NaN rule, shared by every max-pool form:
    a window holding NaN pools to NaN and routes to its first NaN (``argmax``
    picks the first NaN; see :func:`mnist_cnn.reference.loops.maxpool_forward_loops`).

    Border: ``H_p = floor((H - K_p)/S_p) + 1`` (Eq. (0.1)), so bottom rows and
    right columns that no full window covers are dropped (floor mode, as in the
    loop version and PyTorch's default); they get zero gradient. For
    ``S_p != K_p`` the windows do not tile the map, and this function uses
    :func:`maxpool_forward_im2col`. :func:`mnist_cnn.fast.pool.maxpool_forward_fast`
    is an equal, faster form (tested equal).

    Parameters
    ----------
    z : numpy.ndarray, shape [N, C, H, W], float32 or float64
    pool : int, default 2
        Window ``K_p``.
    stride : int, optional
        ``S_p``; defaults to ``pool``.

    Returns
    -------
    out : numpy.ndarray, shape [N, C, H_p, W_p], same dtype
    cache : PoolCache
    """
    K_p = pool
    S_p = pool if stride is None else stride
    if S_p != K_p:
        return maxpool_forward_im2col.unchecked(z, K_p, S_p)
    n, c, h, w = z.shape
    h_p, w_p = h // K_p, w // K_p  # Eq. (0.1) with S_p = K_p
    tiles = z[:, :, : h_p * K_p, : w_p * K_p].reshape(n, c, h_p, K_p, w_p, K_p)
    windows = tiles.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h_p, w_p, K_p * K_p)
    argmax = windows.argmax(axis=-1)  # row-major offset i*K_p + j of the first maximum
    out = np.take_along_axis(windows, argmax[..., None], axis=-1)[..., 0]
    return out, PoolCache(z.shape, argmax, K_p, S_p)


@checked(validate.pool_args)
def maxpool_forward_im2col(
    z: np.ndarray, pool: int = 2, stride: int | None = None
) -> tuple[np.ndarray, PoolCache]:
    """Max-pooling as im2col + column max, Eq. (2.6); any stride.

    Each channel is treated as its own image: ``X_c = im2col_per_channel(z, K_p,
    S_p)`` is [N, C, K_p*K_p, H_p*W_p], one column per window, and
    ``z^{(pool)} = max over the rows of each column``. The row of the maximum
    (first one in row-major window order on ties; the first NaN if there is
    one, the NaN rule of every form) is the routing, Eq. (4.11).

    Border: windows that do not fit entirely are dropped (floor, Eq. (0.1)).
    Overlapping windows (``S_p < K_p``) are fine; a pixel that is the maximum of
    several windows is routed to by each of them.

    Parameters
    ----------
    z : numpy.ndarray, shape [N, C, H, W], float32 or float64
    pool : int, default 2
    stride : int, optional
        Defaults to ``pool``.

    Returns
    -------
    out : numpy.ndarray, shape [N, C, H_p, W_p], same dtype
    cache : PoolCache
    """
    stride = pool if stride is None else stride
    n, c, h, w = z.shape
    h_p, w_p = (output_size.unchecked(s, pool, stride) for s in (h, w))  # Eq. (0.1)
    X = im2col_per_channel.unchecked(z, pool, stride)  # [N, C, K_p*K_p, H_p*W_p]
    argmax = X.argmax(axis=2)  # [N, C, H_p*W_p]
    out = np.take_along_axis(X, argmax[:, :, None, :], axis=2)[:, :, 0, :]
    return out.reshape(n, c, h_p, w_p), PoolCache(
        z.shape, argmax.reshape(n, c, h_p, w_p), pool, stride
    )


@checked(_check_pool_delta)
def maxpool_backward(dout: np.ndarray, cache: PoolCache) -> np.ndarray:
    """Route each pooled gradient to its window's argmax, Eq. (4.11).

    ``dz_{n,c,(p-1)S_p+i*,(q-1)S_p+j*} += dout_{n,c,p,q}`` where ``(i*, j*)`` is
    the first maximum of window ``(p, q)``; every other entry gets 0. Written
    as im2col columns: each window's column is zero except at its argmax row,
    which holds ``dout``; :func:`mnist_cnn.reference.im2col.col2im` then adds
    the columns back onto the map (overlapping windows add up).

    Parameters
    ----------
    dout : numpy.ndarray, shape [N, C, H_p, W_p]
        ``dL/dz^{(pool)}``.
    cache : PoolCache
        From :func:`maxpool_forward` or :func:`maxpool_forward_im2col`.

    Returns
    -------
    numpy.ndarray, shape [N, C, H, W], same dtype as ``dout``
        Zero on the cropped border.
    """
    z_shape, argmax, pool, stride = cache
    n, c = z_shape[:2]
    h_p, w_p = argmax.shape[2:]
    cols = np.zeros((n, c, pool * pool, h_p * w_p), dtype=dout.dtype)
    np.put_along_axis(
        cols, argmax.reshape(n, c, 1, h_p * w_p), dout.reshape(n, c, 1, h_p * w_p), axis=2
    )
    cols = cols.reshape(n, c * pool * pool, h_p * w_p)
    return col2im.unchecked(cols, z_shape, pool, stride, 0)


# --------------------------------------------------------------------------- flatten


@checked(_check_flatten)
def flatten_forward(z: np.ndarray) -> tuple[np.ndarray, FlattenCache]:
    """Flatten each sample in C order, Eq. (1.6).

    ``z^{(flat)}_{n,r} = z_{n,o,p,q}`` with ``r = (o-1)H_p W_p + (p-1)W_p + q``.

    Parameters
    ----------
    z : numpy.ndarray, shape [N, C, H_p, W_p], float32 or float64

    Returns
    -------
    out : numpy.ndarray, shape [N, C*H_p*W_p], same dtype
        A view when ``z`` is C-contiguous.
    cache : FlattenCache
    """
    return z.reshape(z.shape[0], -1), FlattenCache(z.shape)


@checked(_check_flat_delta)
def flatten_backward(dout: np.ndarray, cache: FlattenCache) -> np.ndarray:
    """Undo the flatten, Eq. (4.10): ``delta^{(pool)} = delta^{(flat)}`` reshaped.

    Parameters
    ----------
    dout : numpy.ndarray, shape [N, C*H_p*W_p]
    cache : FlattenCache

    Returns
    -------
    numpy.ndarray, shape [N, C, H_p, W_p], same dtype
    """
    return dout.reshape(cache.z_shape)


# --------------------------------------------------------------------------- fully connected


@checked(validate.fc_args)
def fc_forward(a: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, FCCache]:
    """Fully connected layer, Eq. (2.7): ``Z = A W^T + 1 b^T``.

    ``W^T`` is the transpose of the weight matrix, not an inverse: ``w`` is
    [D_out, D_in], not square for fc1 (500 x 2880), and has no inverse.

    Parameters
    ----------
    a : numpy.ndarray, shape [N, D_in], float32 or float64
    w : numpy.ndarray, shape [D_out, D_in], same dtype
    b : numpy.ndarray, shape [D_out], same dtype

    Returns
    -------
    z : numpy.ndarray, shape [N, D_out], same dtype
    cache : FCCache
    """
    z = a @ w.T
    z += b
    return z, FCCache(a, w)


@checked(_check_fc_delta)
def fc_backward(
    delta: np.ndarray, cache: FCCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of the fully connected layer, Eqs. (4.5)/(4.6)/(4.8)/(4.9).

    ``dW = delta^T A`` [D_out, D_in], ``db = sum_n delta_n`` [D_out],
    ``dA = delta W`` [N, D_in].

    Parameters
    ----------
    delta : numpy.ndarray, shape [N, D_out]
        ``dL/dz`` of this layer.
    cache : FCCache

    Returns
    -------
    da, dw, db : numpy.ndarray
        Shapes [N, D_in], [D_out, D_in], [D_out]; dtype of ``delta``.
    """
    a, w = cache
    return delta @ w, delta.T @ a, delta.sum(axis=0)


# --------------------------------------------------------------------------- ReLU, softmax, loss


@checked(_check_relu)
def relu_forward(z: np.ndarray) -> tuple[np.ndarray, ReluCache]:
    """ReLU, elementwise, Eq. (2.8): ``max(z, 0)``.

    Parameters
    ----------
    z : numpy.ndarray, any shape, float32 or float64

    Returns
    -------
    out : numpy.ndarray, same shape and dtype
    cache : ReluCache
    """
    return np.maximum(z, 0), ReluCache(z)


@checked(_check_relu_delta)
def relu_backward(dout: np.ndarray, cache: ReluCache) -> np.ndarray:
    """ReLU backward, Eq. (4.7): ``dz = dout * 1[z > 0]``.

    At ``z = 0`` the derivative is taken as 0 (the subgradient PyTorch uses too).

    Parameters
    ----------
    dout : numpy.ndarray, same shape as the forward input
    cache : ReluCache

    Returns
    -------
    numpy.ndarray, same shape, dtype of ``dout``
    """
    z = cache.z
    return np.where(z > 0, dout, dout.dtype.type(0))


@checked(_check_softmax)
def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, Eq. (2.8), in the stable form of Eq. (1.12).

    ``y_{n,k} = exp(z_{n,k} - max_k' z_{n,k'}) / sum_k' exp(z_{n,k'} - max_k' z_{n,k'})``;
    each row sums to 1. Subtracting the row maximum changes nothing
    mathematically and keeps ``exp`` from overflowing.

    Parameters
    ----------
    z : numpy.ndarray, shape [N, D_2], float32 or float64

    Returns
    -------
    numpy.ndarray, shape [N, D_2], same dtype
    """
    e = np.exp(z - z.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


@checked(_check_one_hot)
def one_hot(labels: np.ndarray, classes: int = 10, dtype=np.float64) -> np.ndarray:
    """One-hot targets ``t``: ``t_{n,k} = 1`` if ``labels_n = k`` else 0.

    Parameters
    ----------
    labels : numpy.ndarray of int, shape [N]
        Class indices in ``[0, classes)``.
    classes : int, default 10
        ``D_2``.
    dtype : numpy dtype, default float64

    Returns
    -------
    numpy.ndarray, shape [N, classes], ``dtype``
    """
    t = np.zeros((labels.shape[0], classes), dtype=dtype)
    t[np.arange(labels.shape[0]), labels] = 1
    return t


@checked(validate.probability_args)
def cross_entropy(y: np.ndarray, labels: np.ndarray) -> np.floating:
    """Cross-entropy averaged over the batch, Eq. (4.1).

    ``L = -(1/N) sum_n log y_{n, label_n}``. A probability that underflowed to 0
    is clipped to the dtype's smallest normal number, so the loss stays finite
    (about 87 for float32, 708 for float64) instead of ``inf``.

    Parameters
    ----------
    y : numpy.ndarray, shape [N, D_2], float32 or float64
        Softmax outputs.
    labels : numpy.ndarray of int, shape [N]

    Returns
    -------
    numpy scalar of ``y.dtype``
    """
    picked = y[np.arange(y.shape[0]), labels]
    return -np.log(np.maximum(picked, np.finfo(y.dtype).tiny)).mean()


@checked(validate.probability_args)
def softmax_cross_entropy_backward(y: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``delta^{(fc2)} = dL/dz^{(fc2)} = (y - t)/N``, Eq. (4.3).

    Softmax and the batch-mean cross-entropy differentiated together; the 1/N
    comes from the mean in Eq. (4.1).

    Parameters
    ----------
    y : numpy.ndarray, shape [N, D_2], float32 or float64
    labels : numpy.ndarray of int, shape [N]

    Returns
    -------
    numpy.ndarray, shape [N, D_2], same dtype as ``y``
    """
    delta = y.copy()
    delta[np.arange(y.shape[0]), labels] -= 1
    delta /= y.shape[0]
    return delta
