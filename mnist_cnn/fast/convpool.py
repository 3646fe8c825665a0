"""Convolution and max-pooling as one matrix product on window-ordered columns: the hot path.

What this is: the forward and backward pass of the convolution, Eq. (3.3),
followed by max-pooling with ``S_p = K_p``, Eqs. (2.5) and (4.11), done as
one GEMM and a few passes over contiguous memory. Three things make it fast:

1. **The columns of im2col can come in any order.** The product
   ``Z = W_mat X_col`` treats every column (one output position) on its own.
   Here the columns are ordered ``(i, j, n, h_p, w_p)``: first the offset
   ``(i, j)`` of the position inside its pooling window (``h = K_p h_p + i``,
   ``w = K_p w_p + j``, 0-based), then the image, then the window. The product
   then holds, for each offset, one *contiguous* slab of all windows, and
   max-pooling is an elementwise running maximum over the K_p*K_p slabs: no
   strided reads at all. (It is computed as ``Z^T`` [K_p*K_p, N*H_p*W_p,
   C_out], one row per position, the orientation in which BLAS runs both this
   product and the backward one faster here.)
2. **The bias rides in the product.** ``X`` gets one extra row of ones and
   ``W`` one extra column holding ``b``, so ``Z = [W_mat | b] [X_col; 1^T]``
   is Eq. (3.3) with its bias; in the backward pass the same product gives
   ``db`` (Eq. (4.13)) as the last column of ``dW`` (Eq. (4.12)).
3. **Chunks that stay in cache.** ``X`` is ``K*K`` times larger than the
   images (3.8 MB for the seed's batch of 64) and ``Z`` is the size of the
   conv's output (2.9 MB). Built for the whole batch, both go out to main
   memory and come back, in the forward and again in the backward pass, and
   the step waits for memory. So the images go through in chunks of
   :data:`CHUNK`: each chunk's ``X`` and ``Z`` (3.4 MB together for 32
   images) are made, used and overwritten in cache. If all the images were
   one chunk, the backward pass reuses that ``X``; otherwise it rebuilds each
   chunk's ``X`` from the images (a copy in cache) instead of keeping them all.

Several images go through each product (Eq. (3.3) has one per image), so
BLAS sees a few large GEMMs instead of N small ones. Positions that no
pooling window covers (the cropped border when ``H_c`` is not a multiple of
``K_p``) are not computed at all: they reach neither the output nor any
gradient.

What this is not: the book's readable form. That is
:func:`mnist_cnn.reference.layers.conv_forward` followed by
:func:`mnist_cnn.reference.layers.maxpool_forward`; this module is tested to
give the same outputs, routing and gradients (``tests/test_fast.py``), equal
to rounding: a different order of the same additions. The routing follows the
book's one rule (Eq. (1.5)): the first maximum in row-major order, and NaN
wins and routes to its first NaN. Inputs are trusted: the network checks them
at its door.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mnist_cnn.architecture import output_size

__all__ = ["CHUNK", "ConvPoolCache", "conv_pool_backward", "conv_pool_forward",
           "scratch_size", "window_columns"]

#: Images per product: 32 (each of two threads' share of a batch of 64) makes the seed's X and Z
#: 1.9 + 1.5 MB, which stay in the 32 MiB L3 cache; the backward pass then reuses X.
CHUNK = 32


@dataclass(frozen=True)
class ConvPoolCache:
    """What :func:`conv_pool_backward` needs from the forward pass.

    Attributes
    ----------
    x : numpy.ndarray [N, C_in, H_in, W_in]
        The input itself, not a copy (the backward pass rebuilds ``X`` from it).
    w_shape : tuple of int
        ``(C_out, C_in, K, K)``.
    stride, padding, pool : int
    offset : numpy.ndarray of uint8 [N, H_p*W_p, C_out]
        Row-major offset ``i*K_p + j`` of each window's maximum, Eq. (1.5).
    chunk : int
        Images per product.
    columns : numpy.ndarray or None
        ``X`` itself when all N images were one chunk (a view of the scratch buffer:
        valid until the buffer is used again); else None, and the backward pass
        rebuilds each chunk's ``X``.
    """

    x: np.ndarray
    w_shape: tuple[int, ...]
    stride: int
    padding: int
    pool: int
    offset: np.ndarray
    chunk: int
    columns: np.ndarray | None = None


def window_columns(x: np.ndarray, K: int, stride: int, padding: int, pool: int,
                   out: np.ndarray | None = None, grid: np.ndarray | None = None) -> np.ndarray:
    """im2col, Eq. (3.1), with the columns ordered ``(i, j, n, h_p, w_p)`` and a row of ones.

    Row ``r = (c, k_h, k_w)`` (C order) and column ``(i, j, n, h_p, w_p)`` hold
    ``x_pad[n, c, S h + k_h, S w + k_w]`` with ``h = K_p h_p + i`` and
    ``w = K_p w_p + j``: the reference's ``X_col[n][r, h*W_c + w]``. The last
    row is all ones (the bias).

    Built in two copies. Pixel ``(S h + k_h)`` is ``S K_p h_p + u`` with
    ``u = S i + k_h`` in ``0 .. U-1``, ``U = S (K_p - 1) + K``: first ``G[u, v, n,
    c, h_p, w_p] = x_pad[n, c, S K_p h_p + u, S K_p w_p + v]`` gathers the ``U x U``
    offsets from each window's corner (a strided copy, ``(U/K)^2`` times smaller
    than ``X``); then slab ``(i, j)`` of ``X`` is ``G[S i + k_h, S j + k_w]``, whose
    last three axes are contiguous in both arrays: one long copy per slab.

    Parameters
    ----------
    x : numpy.ndarray [N, C_in, H_in, W_in]
    K, stride, padding : int
        The convolution's ``K``, ``S``, ``P``.
    pool : int
        ``K_p = S_p``.
    out, grid : numpy.ndarray, optional
        Buffers with room for ``X`` and ``G``, of ``x``'s dtype (their first
        numbers are used).

    Returns
    -------
    numpy.ndarray [C_in*K*K + 1, K_p*K_p*N*H_p*W_p], dtype of ``x``
        ``H_p = floor(H_c / K_p)`` with ``H_c`` from Eq. (1.4); likewise ``W_p``.
    """
    n, c_in = x.shape[:2]
    h_p, w_p = _pooled_size(x.shape, K, stride, padding, pool)
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    span = stride * (pool - 1) + K  # U
    step = stride * pool
    # [N, C_in, H_p, W_p, U, U]: the U x U patch at every window's corner, a view.
    corners = sliding_window_view(x, (span, span), axis=(2, 3))[:, :, ::step, ::step]
    corners = corners[:, :, :h_p, :w_p]
    size = span * span * n * c_in * h_p * w_p
    G = (np.empty(size, dtype=x.dtype) if grid is None
         else grid.reshape(-1)[:size]).reshape(span, span, n, c_in, h_p, w_p)
    np.copyto(G, corners.transpose(4, 5, 0, 1, 2, 3))
    rows, cols = c_in * K * K + 1, pool * pool * n * h_p * w_p
    X = (np.empty(rows * cols, dtype=x.dtype) if out is None
         else out.reshape(-1)[: rows * cols]).reshape(rows, cols)
    slabs = X[:-1].reshape(c_in, K, K, pool, pool, n, h_p, w_p)
    for i in range(pool):
        for j in range(pool):
            window = G[stride * i : stride * i + K, stride * j : stride * j + K]
            np.copyto(slabs[:, :, :, i, j], window.transpose(3, 0, 1, 2, 4, 5))
    X[-1] = 1
    return X


def _pooled_size(x_shape, K, stride, padding, pool) -> tuple[int, int]:
    """``(H_p, W_p)`` for ``S_p = K_p``: Eq. (1.4) for the conv, then ``floor(H_c / K_p)``."""
    return tuple(output_size.unchecked(s, K, stride, padding) // pool for s in x_shape[2:])


def conv_pool_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, padding: int,
                      pool: int, chunk: int = CHUNK, scratch: np.ndarray | None = None,
                      route: bool = True) -> tuple[np.ndarray, ConvPoolCache | None]:
    """Convolution, Eq. (3.3), then max-pooling with ``S_p = K_p``, Eq. (2.5), in one product.

    Per chunk of images, ``Z^T = X^T [W_mat | b]^T`` with ``X`` from
    :func:`window_columns`: one row per position, in the order
    ``(i, j, n, h_p, w_p)``, one column per output channel (this orientation is
    the faster one for BLAS here, in the forward and the backward product).
    Then a running maximum over the ``K_p*K_p`` contiguous slabs of ``Z^T``. A
    slab replaces the maximum only where it is *strictly* greater, so a tie
    keeps the earlier (row-major first) offset, as the reference's ``argmax``
    does.

    Parameters
    ----------
    x : numpy.ndarray [N, C_in, H_in, W_in], float32 or float64
    w : numpy.ndarray [C_out, C_in, K, K], same dtype
    b : numpy.ndarray [C_out], same dtype
    stride, padding : int
        ``S``, ``P`` of the convolution.
    pool : int
        ``K_p = S_p`` of the pooling.
    chunk : int, default CHUNK
        Images per product.
    scratch : numpy.ndarray, optional
        A 1-D buffer of ``x``'s dtype for one chunk's ``X``, ``Z^T`` and corner grid,
        kept between steps, of at least :func:`scratch_size` numbers.
    route : bool, default True
        If False (inference), only the maximum is taken: no routing, no cache.

    Returns
    -------
    pooled : numpy.ndarray [N, H_p*W_p, C_out], dtype of ``x``
        The pooled map, channel last: ``pooled.transpose(0, 2, 1)`` is the
        reference's ``z^(pool)`` [N, C_out, H_p, W_p] with (h_p, w_p) flattened.
    cache : ConvPoolCache or None
        None if ``route`` is False.
    """
    n = x.shape[0]
    c_out, _, K, _ = w.shape
    h_p, w_p = _pooled_size(x.shape, K, stride, padding, pool)
    w_aug_t = np.concatenate([w.reshape(c_out, -1), b[:, None]], axis=1).T  # [W_mat | b]^T
    pooled = np.empty((n, h_p * w_p, c_out), dtype=x.dtype)
    offset = np.empty((n, h_p * w_p, c_out), dtype=np.uint8)
    greater = np.empty((min(chunk, n) * h_p * w_p, c_out), dtype=bool)
    X = None  # stays None for N = 0 (a thread's empty share of a tiny batch)
    for start in range(0, n, chunk):
        xs = x[start : start + chunk]
        columns, products, grid = _chunk_buffers(xs, K, stride, c_out, h_p * w_p, pool,
                                                 scratch)
        X = window_columns(xs, K, stride, padding, pool, columns, grid)
        Zt = np.matmul(X.T, w_aug_t, out=products).reshape(pool * pool, -1, c_out)  # (3.3)
        best = pooled[start : start + chunk].reshape(-1, c_out)
        where = offset[start : start + chunk].reshape(-1, c_out)
        gt = greater[: best.shape[0]]
        if pool == 1:  # one offset per window: nothing to compare
            np.copyto(best, Zt[0])
            where.fill(0)
        elif not route:
            np.maximum(Zt[0], Zt[1], out=best)  # NaN propagates: the rule of Eq. (1.5)
            for k in range(2, pool * pool):
                np.maximum(best, Zt[k], out=best)
            continue
        for k in range(1, pool * pool):  # row-major: k = i*K_p + j
            running = Zt[0] if k == 1 else best
            np.greater(Zt[k], running, out=gt)  # strictly: ties keep the earlier offset
            np.maximum(running, Zt[k], out=best)
            if k == 1:  # offset 1 where it beat offset 0, else 0
                np.copyto(where, gt.view(np.uint8))
            else:  # k grows, so the last k that beat the running maximum is the largest
                np.maximum(where, gt.view(np.uint8) * np.uint8(k), out=where)
        nan = np.isnan(best)
        if nan.any():  # NaN rule, Eq. (1.5): ">" never picks NaN; route to the first NaN
            where[nan] = np.isnan(Zt).argmax(axis=0)[nan]
    if not route:
        return pooled, None
    cache = ConvPoolCache(x, tuple(w.shape), stride, padding, pool, offset, chunk,
                          X if 0 < n <= chunk else None)
    return pooled, cache


def scratch_size(c_in: int, c_out: int, K: int, stride: int, pool: int, images: int,
                 windows: int) -> int:
    """Numbers of one chunk's scratch: ``X``, ``Z^T`` and the corner grid of :func:`window_columns`.

    Parameters
    ----------
    c_in, c_out, K, stride, pool : int
    images : int
        Images per chunk.
    windows : int
        ``H_p * W_p``.

    Returns
    -------
    int
    """
    span = stride * (pool - 1) + K
    positions = pool * pool * images * windows
    return (c_in * K * K + 1 + c_out) * positions + span * span * images * c_in * windows


def _chunk_buffers(xs, K, stride, c_out, windows, pool, scratch):
    """One chunk's ``X``, ``Z^T`` [positions, C_out] and grid buffers, from ``scratch`` if given."""
    n, c_in = xs.shape[:2]
    rows, positions = c_in * K * K + 1, pool * pool * n * windows
    if scratch is None:
        scratch = np.empty(scratch_size(c_in, c_out, K, stride, pool, n, windows), xs.dtype)
    end = (rows + c_out) * positions
    return (scratch[: rows * positions],
            scratch[rows * positions : end].reshape(positions, c_out), scratch[end:])


def conv_pool_backward(delta_pool: np.ndarray, cache: ConvPoolCache,
                       scratch: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gradients of the filters and biases through max-pooling and the convolution.

    Eq. (4.11) routes each pooled delta to its window's maximum: slab ``k`` of
    ``dZ^T`` is ``delta`` where the offset is ``k`` and 0 elsewhere. Then
    ``[dW_mat | db]^T = sum over chunks of X dZ^T`` is Eqs. (4.12) and (4.13)
    in one product per chunk. ``dL/dx`` is not computed (nothing upstream of
    the image needs it).

    Parameters
    ----------
    delta_pool : numpy.ndarray [N, H_p*W_p, C_out]
        ``dL/dz^(pool)`` channel last (any strides), e.g.
        ``delta_flat.reshape(N, C_out, -1).transpose(0, 2, 1)``.
    cache : ConvPoolCache
        From :func:`conv_pool_forward`.
    scratch : numpy.ndarray, optional
        As for :func:`conv_pool_forward`.

    Returns
    -------
    dw : numpy.ndarray [C_out, C_in, K, K]
    db : numpy.ndarray [C_out]
    """
    x, offset, chunk, pool = cache.x, cache.offset, cache.chunk, cache.pool
    c_out, c_in, K, _ = cache.w_shape
    windows = offset.shape[1]
    dw_aug_t = np.zeros((c_in * K * K + 1, c_out), dtype=x.dtype)
    for start in range(0, x.shape[0], chunk):
        xs = x[start : start + chunk]
        columns, products, grid = _chunk_buffers(xs, K, cache.stride, c_out, windows, pool,
                                                 scratch)
        X = cache.columns
        if X is None:
            X = window_columns(xs, K, cache.stride, cache.padding, pool, columns, grid)
        delta = np.ascontiguousarray(delta_pool[start : start + chunk])
        where = offset[start : start + chunk]
        dZt = products.reshape(pool * pool, *delta.shape)
        routed = np.empty(where.shape, dtype=bool)
        for k in range(pool * pool):
            np.equal(where, k, out=routed)
            np.multiply(delta, routed, out=dZt[k])
        dw_aug_t += np.matmul(X, products)                               # Eqs. (4.12)/(4.13)
    return dw_aug_t[:-1].T.reshape(cache.w_shape), dw_aug_t[-1].copy()
