"""The network's layers as plain loops: the reference every faster version is checked against.

What this is: one function per equation of chapter 1 (forward) and chapter 4
(backward), written index by index with the equation's letters (see
CONTRIBUTING.md) so that the equation and the code can be read side by side.
Inside the loops there is only scalar arithmetic on single entries: no slicing
sums, no ``np.dot``, no ``np.max`` over arrays. That makes them slow and easy to
audit; they are run on a handful of images and on tiny random shapes only.

What this is not: the implementation used for training. The vectorised layers
(im2col, matrix products) live in :mod:`mnist_cnn.reference.layers` and are tested against
these loops.

Index convention
----------------
The maths is 1-based, the code 0-based. A loop variable keeps the equation's
letter but counts from 0, so the equation's ``x_{n,c,m,l}`` is
``x[n, c, m, l]`` with every index one smaller, and the equation's
``(m-1)S + i`` becomes ``m*S + i``. The one place where 1-based numbers are
used in code is the flatten index, Eqs. (1.6)/(1.7): :func:`flatten_index` and
:func:`unflatten_index` take and return the 1-based numbers of the maths, and
the callers convert with an explicit ``- 1`` when they touch storage.

Every function takes and returns numpy arrays of one float dtype (float32 or
float64) and preserves it: sums are accumulated in a scalar of that dtype.
"""

from __future__ import annotations

import numpy as np

from mnist_cnn import validate
from mnist_cnn.architecture import output_size
from mnist_cnn.validate import checked

__all__ = [
    "pad_loops",
    "conv_forward_loops",
    "im2col_loops",
    "maxpool_forward_loops",
    "flatten_index",
    "unflatten_index",
    "flatten_loops",
    "fc_forward_loops",
    "relu_forward_loops",
    "softmax_loops",
    "cross_entropy_loops",
    "softmax_cross_entropy_backward_loops",
    "fc_backward_loops",
    "relu_backward_loops",
    "unflatten_loops",
    "maxpool_backward_loops",
    "conv_backward_loops",
]


# The checks run at the door (the @checked line above each function); the loops show only
# the equation.


def _check_index(o, p, q, H_p, W_p):
    for name, value in dict(H_p=H_p, W_p=W_p, o=o, p=p, q=q).items():
        validate.require_positive_int(name, value)
    if p > H_p:
        raise ValueError(f"p must lie in 1..H_p = 1..{H_p}; got {p}")
    if q > W_p:
        raise ValueError(f"q must lie in 1..W_p = 1..{W_p}; got {q}")


def _check_unflatten_index(r, H_p, W_p):
    for name, value in dict(H_p=H_p, W_p=W_p, r=r).items():
        validate.require_positive_int(name, value)


def _check_pooled(z_pool):
    validate.require_ndim("z_pool", validate.require_float_array("z_pool", z_pool),
                          ("N", "C_out", "H_p", "W_p"))


def _check_relu_backward(delta, z):
    validate.matrix_args(z, ("N", "D_1"))
    validate.same_shape_args("delta", delta, z)


def _check_unflatten(delta_flat, C, H_p, W_p):
    for name, value in dict(C=C, H_p=H_p, W_p=W_p).items():
        validate.require_positive_int(name, value)
    validate.require_float_array("delta_flat", delta_flat)
    validate.require_shape("delta_flat", delta_flat, (None, C * H_p * W_p), ("N", "D_0"))


def _one_hot(labels, D, dtype):
    """Targets ``t_{n,k} = 1`` if ``k`` is sample ``n``'s class, else 0 (0-based ``k``)."""
    N = labels.shape[0]
    t = np.zeros((N, D), dtype=dtype)
    for n in range(N):
        for k in range(D):
            if k == labels[n]:
                t[n, k] = 1
    return t


# ---------------------------------------------------------------------------
# forward pass, chapter 1
# ---------------------------------------------------------------------------


@checked(validate.image_args)
def pad_loops(x, padding):
    """Zero padding, Eq. (1.2).

    ``x̃_{n,c,m,l} = x_{n,c,m-P,l-P}`` if ``P < m <= H_in + P`` and
    ``P < l <= W_in + P``, else ``0``, for ``m = 1..H_in+2P``, ``l = 1..W_in+2P``.

    Parameters
    ----------
    x : numpy.ndarray, shape [N, C_in, H_in, W_in]
        Input images (float32 or float64).
    padding : int
        ``P >= 0`` zeros added on every side of each image.

    Returns
    -------
    numpy.ndarray, shape [N, C_in, H_in + 2P, W_in + 2P]
        ``x̃``, same dtype as ``x``.
    """
    P = padding
    N, C_in, H_in, W_in = x.shape
    x_pad = np.zeros((N, C_in, H_in + 2 * P, W_in + 2 * P), dtype=x.dtype)
    for n in range(N):
        for c in range(C_in):
            for m in range(H_in + 2 * P):
                for l in range(W_in + 2 * P):
                    # 0-based form of P < m <= H_in + P (and the same for l)
                    if P <= m < H_in + P and P <= l < W_in + P:
                        x_pad[n, c, m, l] = x[n, c, m - P, l - P]
    return x_pad


@checked(validate.conv_args)
def conv_forward_loops(x, w, b, stride=1, padding=0):
    """Convolution (cross-correlation), Eq. (1.3), index by index.

    ``z_{n,o,m,l} = b_o + sum_{c=1}^{C_in} sum_{i=1}^{K} sum_{j=1}^{K}
    w_{o,c,i,j} x̃_{n,c,(m-1)S+i,(l-1)S+j}``
    for ``n = 1..N``, ``o = 1..C_out``, ``m = 1..H_c``, ``l = 1..W_c``, where
    ``x̃`` is the zero-padded input, Eq. (1.2), and the output size is
    Eq. (1.4): ``H_c = floor((H_in - K + 2P)/S) + 1`` (same for ``W_c``).
    The output-channel index ``o`` is free; the input-channel index ``c`` is summed.

    Parameters
    ----------
    x : numpy.ndarray, shape [N, C_in, H_in, W_in]
        Input images; ``H_in != W_in`` is allowed.
    w : numpy.ndarray, shape [C_out, C_in, K, K]
        Filters (square), same dtype as ``x``.
    b : numpy.ndarray, shape [C_out]
        One bias per filter, same dtype as ``x``.
    stride : int, default 1
        ``S >= 1``.
    padding : int, default 0
        ``P >= 0``.

    Returns
    -------
    numpy.ndarray, shape [N, C_out, H_c, W_c]
        ``z^{(conv)}``, same dtype as ``x``.

    Raises
    ------
    TypeError, ValueError
        On a non-float or mixed dtype, a wrong rank, mismatched shapes, or a
        kernel that does not fit into the padded input.
    """
    N, C_in, H_in, W_in = x.shape
    C_out, _, K, _ = w.shape
    S, P = stride, padding
    H_c = output_size.unchecked(H_in, K, S, P)  # Eq. (1.4)
    W_c = output_size.unchecked(W_in, K, S, P)
    x_pad = pad_loops(x, P)
    z = np.zeros((N, C_out, H_c, W_c), dtype=x.dtype)
    for n in range(N):
        for o in range(C_out):
            for m in range(H_c):
                for l in range(W_c):
                    acc = b[o]
                    for c in range(C_in):
                        for i in range(K):
                            for j in range(K):
                                acc += w[o, c, i, j] * x_pad[n, c, m * S + i, l * S + j]
                    z[n, o, m, l] = acc
    return z


def _beats(value, best):
    """``value > best``, where NaN beats every number and nothing beats NaN (the NaN rule)."""
    return value > best or (value != value and best == best)


def _check_im2col(x, K, stride=1, padding=0):
    validate.image_args(x, padding)
    validate.require_positive_int("K", K)
    validate.require_positive_int("stride", stride)
    validate._fits("input", min(x.shape[2:]), K, padding)


@checked(_check_im2col)
def im2col_loops(x, K, stride=1, padding=0):
    """Channel-parallel im2col, Eq. (3.1), index by index (Eq. (2.1) when ``C_in = 1``).

    ``(X_col^{(n)})_{(c-1)K^2+(i-1)K+j, (m-1)W_c+l} = x̃_{n,c,(m-1)S+i,(l-1)S+j}``
    for ``c = 1..C_in``, ``i, j = 1..K``, ``m = 1..H_c``, ``l = 1..W_c``.

    Parameters
    ----------
    x : numpy.ndarray, shape [N, C_in, H_in, W_in]
        Input images, float32 or float64.
    K : int
        Kernel size.
    stride, padding : int, default 1, 0
        ``S >= 1`` and ``P >= 0``.

    Returns
    -------
    numpy.ndarray, shape [N, C_in*K*K, H_c*W_c]
        ``X_col``, same dtype as ``x``; rows ``(c-1)K^2+1..cK^2`` are ``X_c`` of Eq. (2.1).
    """
    N, C_in, H_in, W_in = x.shape
    S, P = stride, padding
    H_c = output_size.unchecked(H_in, K, S, P)  # Eq. (1.4)
    W_c = output_size.unchecked(W_in, K, S, P)
    x_pad = pad_loops(x, P)
    X_col = np.zeros((N, C_in * K * K, H_c * W_c), dtype=x.dtype)
    for n in range(N):
        for c in range(C_in):
            for i in range(K):
                for j in range(K):
                    for m in range(H_c):
                        for l in range(W_c):
                            X_col[n, c * K * K + i * K + j, m * W_c + l] = (
                                x_pad[n, c, m * S + i, l * S + j]
                            )
    return X_col


@checked(validate.pool_args)
def maxpool_forward_loops(z, pool=2, stride=None):
    """Max-pooling, Eq. (1.5), index by index.

    ``z^{(pool)}_{n,o,p,q} = max_{i=1..K_p, j=1..K_p} z_{n,o,(p-1)S_p+i,(q-1)S_p+j}``
    for ``p = 1..H_p``, ``q = 1..W_p`` with ``H_p = floor((H - K_p)/S_p) + 1``
    (Eq. (0.1) with no padding; same for ``W_p``). Channels are pooled one by one.

    NaN rule (the same in every max-pool form of the package): NaN propagates,
    as in ``np.max``: a window holding NaN pools to NaN, and its gradient goes to
    the window's first NaN in row-major order (as ``np.argmax`` picks it); a
    window without NaN routes to its first maximum. Written as "replace the
    running maximum only if the entry beats it", where NaN beats every number.

    When the windows do not tile the map (``(H - K_p)`` not a multiple of
    ``S_p``), the floor drops the last rows/columns that no full window covers:
    they do not influence the output (and get zero gradient in
    :func:`maxpool_backward_loops`). Windows overlap when ``S_p < K_p``.

    Parameters
    ----------
    z : numpy.ndarray, shape [N, C, H, W]
        Feature maps, e.g. ``z^{(conv)}``.
    pool : int, default 2
        Window size ``K_p``.
    stride : int, optional
        Window step ``S_p``; defaults to ``pool``.

    Returns
    -------
    numpy.ndarray, shape [N, C, H_p, W_p]
        ``z^{(pool)}``, same dtype as ``z``.
    """
    N, C, H, W = z.shape
    K_p, S_p = pool, pool if stride is None else stride
    H_p = output_size.unchecked(H, K_p, S_p)  # Eq. (0.1)
    W_p = output_size.unchecked(W, K_p, S_p)
    z_pool = np.zeros((N, C, H_p, W_p), dtype=z.dtype)
    for n in range(N):
        for o in range(C):
            for p in range(H_p):
                for q in range(W_p):
                    acc = z[n, o, p * S_p, q * S_p]  # the window's entry (i, j) = (1, 1)
                    for i in range(K_p):
                        for j in range(K_p):
                            if _beats(z[n, o, p * S_p + i, q * S_p + j], acc):
                                acc = z[n, o, p * S_p + i, q * S_p + j]
                    z_pool[n, o, p, q] = acc
    return z_pool


@checked(_check_index)
def flatten_index(o, p, q, H_p, W_p):
    """Flat index of the pooled entry ``(o, p, q)``, Eq. (1.6); 1-based in and out.

    ``r = (o-1) H_p W_p + (p-1) W_p + q``, a bijection from
    ``{1..C_out} x {1..H_p} x {1..W_p}`` onto ``{1..C_out H_p W_p}``; it is
    numpy's C-order (row-major) reshape written in 1-based numbers.

    Parameters
    ----------
    o, p, q : int
        Channel ``o >= 1``, row ``1 <= p <= H_p``, column ``1 <= q <= W_p``.
    H_p, W_p : int
        Pooled height and width.

    Returns
    -------
    int
        ``r >= 1``.

    Raises
    ------
    ValueError
        If an index is out of its range.
    """
    return (o - 1) * H_p * W_p + (p - 1) * W_p + q


@checked(_check_unflatten_index)
def unflatten_index(r, H_p, W_p):
    """Inverse of Eq. (1.6): ``(o, p, q)`` from the flat index ``r``, Eq. (1.7); 1-based.

    ``o = floor((r-1) / (H_p W_p)) + 1``,
    ``p = floor(((r-1) mod H_p W_p) / W_p) + 1``,
    ``q = ((r-1) mod W_p) + 1``,
    computed with two ``divmod`` calls on ``r - 1``.

    Parameters
    ----------
    r : int
        Flat index ``r >= 1``.
    H_p, W_p : int
        Pooled height and width.

    Returns
    -------
    tuple of int
        ``(o, p, q)`` with ``o >= 1``, ``1 <= p <= H_p``, ``1 <= q <= W_p``.
    """
    o_minus_1, rest = divmod(r - 1, H_p * W_p)
    p_minus_1, q_minus_1 = divmod(rest, W_p)
    return o_minus_1 + 1, p_minus_1 + 1, q_minus_1 + 1


@checked(_check_pooled)
def flatten_loops(z_pool):
    """Reshape ``[N, C_out, H_p, W_p] -> [N, D_0]`` through the flat index, Eq. (1.6).

    ``z^{(flat)}_{n, r(o,p,q)} = z^{(pool)}_{n,o,p,q}`` with ``D_0 = C_out H_p W_p``.
    Convention: the loops over ``o, p, q`` run over the 1-based numbers of the
    maths (so they can be handed to :func:`flatten_index`), and storage is
    reached with an explicit ``- 1``: ``z_flat[n, r - 1] = z_pool[n, o - 1, p - 1, q - 1]``.
    The batch index ``n`` is 0-based as everywhere else.

    Parameters
    ----------
    z_pool : numpy.ndarray, shape [N, C_out, H_p, W_p]
        Pooled maps.

    Returns
    -------
    numpy.ndarray, shape [N, D_0]
        ``z^{(flat)}``, same dtype; equal to ``z_pool.reshape(N, -1)`` (C order).
    """
    N, C_out, H_p, W_p = z_pool.shape
    z_flat = np.zeros((N, C_out * H_p * W_p), dtype=z_pool.dtype)
    for n in range(N):
        for o in range(1, C_out + 1):
            for p in range(1, H_p + 1):
                for q in range(1, W_p + 1):
                    r = flatten_index(o, p, q, H_p, W_p)
                    z_flat[n, r - 1] = z_pool[n, o - 1, p - 1, q - 1]
    return z_flat


@checked(validate.fc_args)
def fc_forward_loops(a, w, b):
    """Fully connected layer, Eqs. (1.8) and (1.10), index by index.

    ``z_{n,k} = b_k + sum_{h=1}^{D_in} w_{k,h} a_{n,h}`` for ``n = 1..N``,
    ``k = 1..D_out``. Written with fc2's letters (output unit ``k``, input unit
    ``h``, Eq. (1.10)); for fc1, Eq. (1.8), read ``h`` for ``k`` and ``r`` for ``h``.

    Parameters
    ----------
    a : numpy.ndarray, shape [N, D_in]
        Input activations (``z^{(flat)}`` for fc1, ``z^{(relu)}`` for fc2).
    w : numpy.ndarray, shape [D_out, D_in]
        Weights, same dtype as ``a``.
    b : numpy.ndarray, shape [D_out]
        Biases, same dtype as ``a``.

    Returns
    -------
    numpy.ndarray, shape [N, D_out]
        Same dtype as ``a``.
    """
    N, D_in = a.shape
    D_out = w.shape[0]
    z = np.zeros((N, D_out), dtype=a.dtype)
    for n in range(N):
        for k in range(D_out):
            acc = b[k]
            for h in range(D_in):
                acc += w[k, h] * a[n, h]
            z[n, k] = acc
    return z


@checked(validate.matrix_args)
def relu_forward_loops(z):
    """ReLU, Eq. (1.9): ``z^{(relu)}_{n,h} = max(0, z^{(fc1)}_{n,h})``, entry by entry.

    Parameters
    ----------
    z : numpy.ndarray, shape [N, D_1]
        Pre-activations ``z^{(fc1)}``.

    Returns
    -------
    numpy.ndarray, shape [N, D_1]
        Same dtype as ``z``.
    """
    N, D_1 = z.shape
    z_relu = np.zeros_like(z)
    for n in range(N):
        for h in range(D_1):
            if z[n, h] > 0:
                z_relu[n, h] = z[n, h]
    return z_relu


@checked(validate.matrix_args)
def softmax_loops(z):
    """Softmax of each row, Eqs. (1.11)/(1.12), in the numerically stable form.

    ``y_{n,k} = exp(z_{n,k} - M_n) / sum_{k'=1}^{D_2} exp(z_{n,k'} - M_n)`` with
    ``M_n = max_{k'} z_{n,k'}``. Subtracting ``M_n`` changes nothing
    mathematically (it cancels), Eq. (1.12), but keeps every ``exp`` argument
    ``<= 0``, so nothing overflows. Each output couples all ``D_2`` logits of its
    sample: softmax is not elementwise.

    Parameters
    ----------
    z : numpy.ndarray, shape [N, D_2]
        Logits ``z^{(fc2)}``.

    Returns
    -------
    numpy.ndarray, shape [N, D_2]
        ``y``, each row positive and summing to 1; same dtype as ``z``.
    """
    N, D_2 = z.shape
    y = np.zeros_like(z)
    for n in range(N):
        M = z[n, 0]
        for k in range(D_2):
            if z[n, k] > M:
                M = z[n, k]
        total = z.dtype.type(0)
        for k in range(D_2):
            total += np.exp(z[n, k] - M)
        for k in range(D_2):
            y[n, k] = np.exp(z[n, k] - M) / total
    return y


@checked(validate.probability_args)
def cross_entropy_loops(y, labels):
    """Cross-entropy averaged over the batch, Eq. (4.1).

    ``L = -(1/N) sum_{n=1}^{N} sum_{k=1}^{D_2} t_{n,k} log y_{n,k}`` with the
    one-hot targets ``t_{n,k} = 1`` if ``k`` is sample ``n``'s class, else 0.
    Terms with ``t_{n,k} = 0`` are skipped (the convention ``0 log 0 = 0``), so
    a zero probability of a wrong class does not produce ``nan``.

    Parameters
    ----------
    y : numpy.ndarray, shape [N, D_2]
        Predicted probabilities (softmax outputs).
    labels : numpy.ndarray of int, shape [N]
        Classes ``0..D_2-1`` (digit ``d`` is class ``k = d + 1`` in 1-based maths).

    Returns
    -------
    numpy.floating
        ``L`` as a 0-d scalar of ``y``'s dtype (a Python float for float64).
    """
    N, D_2 = y.shape
    t = _one_hot(labels, D_2, y.dtype)
    acc = y.dtype.type(0)
    for n in range(N):
        for k in range(D_2):
            if t[n, k] != 0:
                acc += t[n, k] * np.log(y[n, k])
    return y.dtype.type(-acc / y.dtype.type(N))


# ---------------------------------------------------------------------------
# backward pass, chapter 4
# ---------------------------------------------------------------------------


@checked(validate.probability_args)
def softmax_cross_entropy_backward_loops(y, labels):
    """Delta of the logits for softmax + cross-entropy, Eq. (4.3).

    ``δ^{(fc2)}_{n,k} = ∂L/∂z^{(fc2)}_{n,k} = (y_{n,k} - t_{n,k}) / N``; the ``1/N``
    comes from the batch average in Eq. (4.1).

    Parameters
    ----------
    y : numpy.ndarray, shape [N, D_2]
        Softmax outputs.
    labels : numpy.ndarray of int, shape [N]
        Classes ``0..D_2-1``.

    Returns
    -------
    numpy.ndarray, shape [N, D_2]
        ``δ^{(fc2)}``, same dtype as ``y``.
    """
    N, D_2 = y.shape
    t = _one_hot(labels, D_2, y.dtype)
    delta = np.zeros_like(y)
    for n in range(N):
        for k in range(D_2):
            delta[n, k] = (y[n, k] - t[n, k]) / y.dtype.type(N)
    return delta


@checked(validate.fc_backward_args)
def fc_backward_loops(delta, a, w):
    """Gradients of a fully connected layer, Eqs. (4.5), (4.6), (4.8), (4.9).

    With ``z_{n,k} = b_k + sum_h w_{k,h} a_{n,h}`` and ``δ_{n,k} = ∂L/∂z_{n,k}``:

    * ``∂L/∂w_{k,h} = sum_{n=1}^{N} δ_{n,k} a_{n,h}``   (``k = 1..D_out``, ``h = 1..D_in``)
    * ``∂L/∂b_k     = sum_{n=1}^{N} δ_{n,k}``
    * ``∂L/∂a_{n,h} = sum_{k=1}^{D_out} δ_{n,k} w_{k,h}``   (Eq. (4.6) for fc2,
      Eq. (4.9) for fc1)

    Parameters
    ----------
    delta : numpy.ndarray, shape [N, D_out]
        ``∂L/∂z`` of this layer's output.
    a : numpy.ndarray, shape [N, D_in]
        The layer's input from the forward pass.
    w : numpy.ndarray, shape [D_out, D_in]
        The layer's weights.

    Returns
    -------
    delta_in : numpy.ndarray, shape [N, D_in]
        ``∂L/∂a``.
    dw : numpy.ndarray, shape [D_out, D_in]
    db : numpy.ndarray, shape [D_out]
        All of the input dtype.
    """
    N, D_in = a.shape
    D_out = w.shape[0]
    zero = a.dtype.type(0)

    dw = np.zeros((D_out, D_in), dtype=a.dtype)
    for k in range(D_out):
        for h in range(D_in):
            acc = zero
            for n in range(N):
                acc += delta[n, k] * a[n, h]
            dw[k, h] = acc

    db = np.zeros(D_out, dtype=a.dtype)
    for k in range(D_out):
        acc = zero
        for n in range(N):
            acc += delta[n, k]
        db[k] = acc

    delta_in = np.zeros((N, D_in), dtype=a.dtype)
    for n in range(N):
        for h in range(D_in):
            acc = zero
            for k in range(D_out):
                acc += delta[n, k] * w[k, h]
            delta_in[n, h] = acc
    return delta_in, dw, db


@checked(_check_relu_backward)
def relu_backward_loops(delta, z):
    """Delta through ReLU, Eq. (4.7): ``δ^{(fc1)}_{n,h} = δ^{(relu)}_{n,h} 1[z_{n,h} > 0]``.

    ReLU has no derivative at ``z = 0``; we take it as 0 there (the usual
    convention, and what :func:`relu_forward_loops` is consistent with: the
    output is flat to the left of 0).

    Parameters
    ----------
    delta : numpy.ndarray, shape [N, D_1]
        ``δ^{(relu)} = ∂L/∂z^{(relu)}``.
    z : numpy.ndarray, shape [N, D_1]
        ReLU's input ``z^{(fc1)}`` from the forward pass.

    Returns
    -------
    numpy.ndarray, shape [N, D_1]
        ``δ^{(fc1)}``, same dtype.
    """
    N, D_1 = z.shape
    delta_in = np.zeros_like(z)
    for n in range(N):
        for h in range(D_1):
            if z[n, h] > 0:
                delta_in[n, h] = delta[n, h]
    return delta_in


@checked(_check_unflatten)
def unflatten_loops(delta_flat, C, H_p, W_p):
    """Delta through the reshape, Eq. (4.10): ``δ^{(pool)}_{n,o,p,q} = δ^{(flat)}_{n, r(o,p,q)}``.

    The reshape only moves entries, so its backward moves them back with the
    same flat index ``r``, Eq. (1.6). Loops over the 1-based ``o, p, q`` of the
    maths, storage reached with ``- 1`` (as in :func:`flatten_loops`).

    Parameters
    ----------
    delta_flat : numpy.ndarray, shape [N, D_0]
        ``δ^{(flat)}`` with ``D_0 = C H_p W_p``.
    C, H_p, W_p : int
        Channels, pooled height and width.

    Returns
    -------
    numpy.ndarray, shape [N, C, H_p, W_p]
        ``δ^{(pool)}``, same dtype.
    """
    N = delta_flat.shape[0]
    delta_pool = np.zeros((N, C, H_p, W_p), dtype=delta_flat.dtype)
    for n in range(N):
        for o in range(1, C + 1):
            for p in range(1, H_p + 1):
                for q in range(1, W_p + 1):
                    r = flatten_index(o, p, q, H_p, W_p)
                    delta_pool[n, o - 1, p - 1, q - 1] = delta_flat[n, r - 1]
    return delta_pool


@checked(validate.pool_backward_args)
def maxpool_backward_loops(delta_pool, z, pool=2, stride=None):
    """Delta through max-pooling, Eq. (4.11): each pooled delta goes to its window's argmax.

    ``δ^{(conv)}_{n,o,(p-1)S_p+i*,(q-1)S_p+j*} += δ^{(pool)}_{n,o,p,q}`` where
    ``(i*, j*)`` is the position of the maximum in window ``(p, q)``; every
    other entry of the window receives nothing from that window.

    * Ties: the FIRST maximum in row-major window order (``i`` then ``j``)
      receives the whole delta, the same entry :func:`maxpool_forward_loops`
      keeps (it only replaces its running max on a strictly larger value).
    * NaN: the window's first NaN receives the delta (NaN beats every number;
      the rule of :func:`maxpool_forward_loops`).
    * Overlapping windows (``S_p < K_p``): one entry can be the argmax of several
      windows; their deltas add up (``+=``).
    * Entries that no window covers (the rows/columns the floor drops) get 0.

    Parameters
    ----------
    delta_pool : numpy.ndarray, shape [N, C, H_p, W_p]
        ``δ^{(pool)}``.
    z : numpy.ndarray, shape [N, C, H, W]
        The pooling input ``z^{(conv)}`` from the forward pass.
    pool : int, default 2
        ``K_p``.
    stride : int, optional
        ``S_p``; defaults to ``pool``.

    Returns
    -------
    numpy.ndarray, shape [N, C, H, W]
        ``δ^{(conv)}``, same dtype as ``z``.
    """
    N, C, H_p, W_p = delta_pool.shape
    K_p, S_p = pool, pool if stride is None else stride
    delta_conv = np.zeros_like(z)
    for n in range(N):
        for o in range(C):
            for p in range(H_p):
                for q in range(W_p):
                    i_star, j_star = 0, 0
                    for i in range(K_p):
                        for j in range(K_p):
                            # strict: the first maximum (or NaN) in row-major order
                            if _beats(z[n, o, p * S_p + i, q * S_p + j],
                                      z[n, o, p * S_p + i_star, q * S_p + j_star]):
                                i_star, j_star = i, j
                    m, l = p * S_p + i_star, q * S_p + j_star
                    delta_conv[n, o, m, l] += delta_pool[n, o, p, q]
    return delta_conv


@checked(validate.conv_backward_args)
def conv_backward_loops(delta, x, w, stride=1, padding=0):
    """Gradients of the convolution, Eqs. (4.12)-(4.14), index by index.

    With ``δ_{n,o,m,l} = ∂L/∂z^{(conv)}_{n,o,m,l}`` and the padded input ``x̃``, Eq. (1.2):

    * Eq. (4.12): ``∂L/∂w_{o,c,i,j} = sum_{n=1}^{N} sum_{m=1}^{H_c} sum_{l=1}^{W_c}
      δ_{n,o,m,l} x̃_{n,c,(m-1)S+i,(l-1)S+j}``
    * Eq. (4.13): ``∂L/∂b_o = sum_{n=1}^{N} sum_{m=1}^{H_c} sum_{l=1}^{W_c} δ_{n,o,m,l}``
    * Eq. (4.14): ``∂L/∂x̃_{n,c,(m-1)S+i,(l-1)S+j} += δ_{n,o,m,l} w_{o,c,i,j}``
      for all ``o, m, l, i, j``: each output scatters its delta back onto the
      input pixels it read, weighted by the filter entry that read them. (For
      ``S = 1`` this is the "full correlation with the flipped kernel".) Then
      ``∂L/∂x_{n,c,m,l} = ∂L/∂x̃_{n,c,m+P,l+P}``: the padding is cropped off,
      since the zeros are constants, not inputs.

    Pixels that no window reads (dropped by the floor in Eq. (1.4)) get 0.

    Parameters
    ----------
    delta : numpy.ndarray, shape [N, C_out, H_c, W_c]
        ``δ^{(conv)}``.
    x : numpy.ndarray, shape [N, C_in, H_in, W_in]
        The conv input from the forward pass.
    w : numpy.ndarray, shape [C_out, C_in, K, K]
        The filters.
    stride : int, default 1
        ``S``.
    padding : int, default 0
        ``P``.

    Returns
    -------
    dx : numpy.ndarray, shape [N, C_in, H_in, W_in]
    dw : numpy.ndarray, shape [C_out, C_in, K, K]
    db : numpy.ndarray, shape [C_out]
        All of ``x``'s dtype.
    """
    N, C_in, H_in, W_in = x.shape
    C_out, _, K, _ = w.shape
    _, _, H_c, W_c = delta.shape
    S, P = stride, padding
    zero = x.dtype.type(0)
    x_pad = pad_loops(x, P)

    # Eq. (4.12)
    dw = np.zeros_like(w)
    for o in range(C_out):
        for c in range(C_in):
            for i in range(K):
                for j in range(K):
                    acc = zero
                    for n in range(N):
                        for m in range(H_c):
                            for l in range(W_c):
                                acc += delta[n, o, m, l] * x_pad[n, c, m * S + i, l * S + j]
                    dw[o, c, i, j] = acc

    # Eq. (4.13)
    db = np.zeros(C_out, dtype=x.dtype)
    for o in range(C_out):
        acc = zero
        for n in range(N):
            for m in range(H_c):
                for l in range(W_c):
                    acc += delta[n, o, m, l]
        db[o] = acc

    # Eq. (4.14): scatter into the padded input, then crop the padding off
    dx_pad = np.zeros_like(x_pad)
    for n in range(N):
        for o in range(C_out):
            for m in range(H_c):
                for l in range(W_c):
                    for c in range(C_in):
                        for i in range(K):
                            for j in range(K):
                                dx_pad[n, c, m * S + i, l * S + j] += (
                                    delta[n, o, m, l] * w[o, c, i, j]
                                )
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C_in):
            for m in range(H_in):
                for l in range(W_in):
                    dx[n, c, m, l] = dx_pad[n, c, m + P, l + P]
    return dx, dw, db
