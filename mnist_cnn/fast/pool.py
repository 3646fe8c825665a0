"""Max-pooling for ``S_p = K_p`` without a transposed copy: the training hot path.

What this is: :func:`maxpool_forward_fast` and :func:`maxpool_backward_fast`,
which give exactly the outputs, routing and gradients of the readable
:func:`mnist_cnn.reference.layers.maxpool_forward` (reshape + max, Eq. (2.5))
and :func:`mnist_cnn.reference.layers.maxpool_backward` (Eq. (4.11)), about
twice as fast on the seed's 64 x 20 x 24 x 24 maps.
What this is not: a general pooling layer: the windows must tile the map
(``S_p = K_p``), and the inputs are trusted (the network checks them at its door).
Arrays in, arrays out: the network wraps the routing in its own ``PoolCache``.
"""

from __future__ import annotations

import numpy as np

from mnist_cnn import validate
from mnist_cnn.validate import checked

__all__ = ["maxpool_backward_fast", "maxpool_forward_fast"]


def _check_forward(z, pool=2) -> None:
    validate.pool_args(z, pool)


def _check_backward(dout, argmax, z_shape, pool=2) -> None:
    validate.fast_pool_backward_args(dout, argmax, z_shape, pool)


@checked(_check_forward)
def maxpool_forward_fast(z: np.ndarray, pool: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Max-pooling with ``S_p = K_p`` as a running maximum over strided slices, Eq. (2.5).

    Entry ``(i, j)`` of every window at once is the strided slice
    ``z[:, :, i::K_p, j::K_p]``. The K_p*K_p slices are visited in row-major
    order and folded into a running maximum; an entry replaces the maximum only
    if it is *strictly* greater, so on a tie the earlier (row-major first)
    offset is kept, as ``argmax`` does in the reference. NaN follows the book's
    one rule (Eq. (1.5), :func:`mnist_cnn.reference.loops.maxpool_forward_loops`):
    a window holding NaN pools to NaN and routes to its first NaN. Each slice is first
    copied into a contiguous buffer because numpy's arithmetic on rows of only
    W_p strided entries is several times slower than on contiguous memory.

    Parameters
    ----------
    z : numpy.ndarray, shape [N, C, H, W], float32 or float64
    pool : int, default 2
        ``K_p = S_p``.

    Returns
    -------
    out : numpy.ndarray, shape [N, C, H_p, W_p], same dtype
        A new array (never a view of ``z``); ``z`` is not modified.
    argmax : numpy.ndarray of intp, shape [N, C, H_p, W_p]
        The row-major offset ``i*K_p + j`` of each window's first maximum (first
        NaN): the reference's ``PoolCache.argmax``.
    """
    h_p, w_p = z.shape[2] // pool, z.shape[3] // pool
    tiled = z[:, :, : h_p * pool, : w_p * pool]  # crop the border no window covers
    # A copy, always: np.ascontiguousarray would return a view of z when the slice is
    # already contiguous (pool = 1, or a 1 x 1 global pool), and the running maximum
    # below would then write into the caller's z.
    out = tiled[:, :, ::pool, ::pool].copy()  # offset (i, j) = (1, 1)
    # Offsets fit in one byte for any window up to 16 x 16; intp only at the end.
    offset = np.zeros(out.shape, dtype=np.min_scalar_type(pool * pool - 1))
    entry = np.empty_like(out)
    greater = np.empty(out.shape, dtype=bool)
    for k in range(1, pool * pool):  # row-major: k = i*K_p + j
        i, j = divmod(k, pool)
        np.copyto(entry, tiled[:, :, i::pool, j::pool])
        np.greater(entry, out, out=greater)  # strictly: ties keep the earlier offset
        np.maximum(out, entry, out=out)
        # k grows, so the last k that beat the running maximum is the largest such k.
        np.maximum(offset, greater.view(np.uint8) * offset.dtype.type(k), out=offset)
    # NaN rule: np.maximum already propagates NaN into out; the routing must go to the
    # first NaN, which ">" never picks. Rare, so only those windows are redone.
    nan = np.isnan(out)
    if nan.any():
        windows = tiled.reshape(*out.shape[:2], h_p, pool, w_p, pool)
        first = np.isnan(windows).transpose(0, 1, 2, 4, 3, 5).reshape(*out.shape, -1)
        offset = offset.astype(np.intp)
        offset[nan] = first[nan].argmax(axis=-1)
        return out, offset
    return out, offset.astype(np.intp)


@checked(_check_backward)
def maxpool_backward_fast(
    dout: np.ndarray, argmax: np.ndarray, z_shape: tuple[int, ...], pool: int = 2
) -> np.ndarray:
    """Route each pooled gradient to its window's argmax, Eq. (4.11), for ``S_p = K_p``.

    The windows tile the map: offset ``(i, j)`` of every window is the strided
    slice ``[i::K_p, j::K_p]`` of the result, and each pixel of the tiled part
    lies in exactly one slice. So each slice is written once, with ``dout``
    where the routing chose that offset and 0 elsewhere; no scatter-add.

    Parameters
    ----------
    dout : numpy.ndarray, shape [N, C, H_p, W_p]
    argmax : numpy.ndarray of intp, shape [N, C, H_p, W_p]
        From :func:`maxpool_forward_fast` (or the reference's cache with ``S_p = K_p``).
    z_shape : tuple of int
        ``(N, C, H, W)`` of the pooled map.
    pool : int, default 2
        ``K_p = S_p``.

    Returns
    -------
    numpy.ndarray, shape [N, C, H, W], same dtype as ``dout``
        Zero on the cropped border.
    """
    h, w = z_shape[2:]
    h_p, w_p = argmax.shape[2:]
    covers_all = (h, w) == (h_p * pool, w_p * pool)
    dz = (np.empty if covers_all else np.zeros)(z_shape, dtype=dout.dtype)
    for k in range(pool * pool):
        i, j = divmod(k, pool)
        routed = dout * (argmax == k)  # contiguous; strided arithmetic is slower
        routed += 0  # -0.0 (from a negative delta times False) becomes +0.0, as in the reference
        dz[:, :, i : h_p * pool : pool, j : w_p * pool : pool] = routed
    return dz
