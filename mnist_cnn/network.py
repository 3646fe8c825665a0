"""The seed network as a composition of layers: forward, loss, and the delta-rule backward.

conv (C_out filters K x K, stride S, padding P) -> max-pool K_p x K_p -> flatten
-> fc1 (D_1) -> ReLU -> fc2 (D_2) -> softmax -> cross-entropy averaged over the
batch, Eq. (4.1). The backward pass applies the chapter's delta rule layer by
layer, Eqs. (4.3)-(4.15), and returns every delta on the way so that each local
gradient can be looked at.

What this is: two implementations of the same chain,

* :func:`loss_and_grads` -- built from the vectorised layers of
  :mod:`mnist_cnn.layers` (im2col conv, reshape-max pooling, matrix products);
  this is the path used for training;
* :func:`loss_and_grads_loops` -- built only from the loop references of
  :mod:`mnist_cnn.scalar`; slow, for tiny batches and for checking;

plus :func:`init_params` (He initialisation) and :func:`loss_only` (for finite
differences).
What this is not: an optimiser or a training loop, and not a general graph
framework: the architecture is fixed, only its sizes are free.

Every function preserves the float dtype it is given: float32 parameters with a
float32 batch give float32 losses, gradients and deltas.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import layers, scalar
from .checks import require_float_array, require_ndim, require_positive_int, require_same_dtype
from .shapes import output_size

__all__ = [
    "DELTA_NAMES",
    "GRAD_NAMES",
    "PARAM_NAMES",
    "Z_NAMES",
    "forward",
    "init_params",
    "loss_and_grads",
    "loss_and_grads_loops",
    "loss_only",
]

#: Parameter keys, in network order.
PARAM_NAMES = ("w_conv", "b_conv", "w_fc1", "b_fc1", "w_fc2", "b_fc2")
#: Gradient keys: ``"d" + parameter key``.
GRAD_NAMES = tuple("d" + name for name in PARAM_NAMES)
#: Forward intermediates returned by :func:`loss_and_grads`, in network order.
Z_NAMES = ("z_conv", "z_pool", "z_flat", "z_fc1", "z_relu", "z_fc2", "y")
#: Backward intermediates (local gradients), from the output back to the input.
DELTA_NAMES = ("delta_fc2", "delta_relu", "delta_fc1", "delta_flat", "delta_pool",
               "delta_conv", "dx")

_PARAM_LAYOUT = {
    "w_conv": ("C_out", "C_in", "K", "K"),
    "b_conv": ("C_out",),
    "w_fc1": ("D_1", "D_0"),
    "b_fc1": ("D_1",),
    "w_fc2": ("D_2", "D_1"),
    "b_fc2": ("D_2",),
}


def init_params(
    rng: np.random.Generator,
    dtype=np.float32,
    in_channels: int = 1,
    height: int = 28,
    width: int = 28,
    conv_channels: int = 20,
    kernel: int = 5,
    hidden: int = 500,
    classes: int = 10,
    stride: int = 1,
    padding: int = 0,
    pool: int = 2,
) -> dict[str, np.ndarray]:
    """He (Kaiming) normal initial weights and zero biases for the seed network.

    Every weight is drawn from ``N(0, 2 / fan_in)``, where ``fan_in`` is the
    number of inputs one output of the layer sums over: ``C_in K^2`` for the
    conv (Eq. (1.3)), ``D_0 = C_out H_p W_p`` for fc1 (Eq. (1.8)), ``D_1`` for
    fc2 (Eq. (1.10)). With inputs of mean square ``v``, an output then has
    variance ``2 v``; a ReLU halves the mean square of a zero-mean symmetric
    variable, so in a chain of ReLU layers the activations keep their scale
    (He et al., 2015). Here the conv is followed by max-pool (which keeps the
    largest of four, not half of them) and only then, after fc1, by a ReLU; so
    the factor 2 is a convention for the conv and fc2 rather than an exact
    fixed point, but it keeps the logits of order 1 on MNIST, neither
    saturating the softmax nor vanishing. Biases start at 0: the random weights
    already break the symmetry between units.

    The draws are made in float64 and then cast, so the same seed gives the
    same network (up to rounding) in float32 and float64.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (seed it).
    dtype : {numpy.float32, numpy.float64}, default float32
    in_channels, height, width : int
        ``C_in``, ``H_in``, ``W_in`` of the input images.
    conv_channels, kernel : int
        ``C_out``, ``K``.
    hidden, classes : int
        ``D_1``, ``D_2``.
    stride, padding, pool : int
        ``S``, ``P`` and ``K_p = S_p``; they fix ``D_0`` via Eq. (0.1).

    Returns
    -------
    dict str -> ndarray of ``dtype``
        ``w_conv [C_out, C_in, K, K]``, ``b_conv [C_out]``, ``w_fc1 [D_1, D_0]``,
        ``b_fc1 [D_1]``, ``w_fc2 [D_2, D_1]``, ``b_fc2 [D_2]``.

    Raises
    ------
    TypeError
        If ``dtype`` is not float32 or float64.
    """
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64; got {dtype}")
    for name, value in dict(in_channels=in_channels, height=height, width=width,
                            conv_channels=conv_channels, kernel=kernel, hidden=hidden,
                            classes=classes, pool=pool).items():
        require_positive_int(name, value)
    h_p = output_size(output_size(height, kernel, stride, padding), pool, pool)
    w_p = output_size(output_size(width, kernel, stride, padding), pool, pool)
    d_0 = conv_channels * h_p * w_p

    def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)

    return {
        "w_conv": he((conv_channels, in_channels, kernel, kernel), in_channels * kernel * kernel),
        "b_conv": np.zeros(conv_channels, dtype=dtype),
        "w_fc1": he((hidden, d_0), d_0),
        "b_fc1": np.zeros(hidden, dtype=dtype),
        "w_fc2": he((classes, hidden), hidden),
        "b_fc2": np.zeros(classes, dtype=dtype),
    }


def _check_params(params: Mapping[str, np.ndarray], x: np.ndarray) -> None:
    """Every parameter present, float, of the right rank and of x's dtype."""
    require_float_array("x", x)
    require_ndim("x", x, ("N", "C_in", "H_in", "W_in"))
    missing = [name for name in PARAM_NAMES if name not in params]
    if missing:
        raise KeyError(f"params lacks {missing}; expected keys {list(PARAM_NAMES)}")
    for name in PARAM_NAMES:
        require_float_array(name, params[name])
        require_ndim(name, params[name], _PARAM_LAYOUT[name])
    require_same_dtype(x=x, **{name: params[name] for name in PARAM_NAMES})


def forward(
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    stride: int = 1,
    padding: int = 0,
    pool: int = 2,
    pool_stride: int | None = None,
) -> tuple[np.ndarray, dict]:
    """Forward pass with the vectorised layers, Eqs. (3.3), (2.5), (1.6), (2.7), (2.8).

    Parameters
    ----------
    params : mapping str -> ndarray
        As returned by :func:`init_params`, same dtype as ``x``.
    x : ndarray, shape [N, C_in, H_in, W_in], float32 or float64
    stride, padding : int
        Convolution ``S``, ``P``.
    pool : int
        Pooling window ``K_p``.
    pool_stride : int, optional
        ``S_p``; defaults to ``pool``.

    Returns
    -------
    y : ndarray, shape [N, D_2], dtype of ``x``
        Softmax probabilities, Eq. (1.12).
    caches : dict
        Layer caches ``"conv", "pool", "flat", "fc1", "relu", "fc2"`` for the
        backward pass and the forward values ``"z_conv" [N, C_out, H_c, W_c]``,
        ``"z_pool" [N, C_out, H_p, W_p]``, ``"z_flat" [N, D_0]``,
        ``"z_fc1" [N, D_1]``, ``"z_relu" [N, D_1]``, ``"z_fc2" [N, D_2]``.
        ``z_flat`` is a view of ``z_pool`` (no copy).
    """
    _check_params(params, x)
    z_conv, conv_cache = layers.conv_forward(x, params["w_conv"], params["b_conv"],
                                             stride, padding)
    z_pool, pool_cache = layers.maxpool_forward(z_conv, pool, pool_stride)
    z_flat, flat_cache = layers.flatten_forward(z_pool)
    z_fc1, fc1_cache = layers.fc_forward(z_flat, params["w_fc1"], params["b_fc1"])
    z_relu, relu_cache = layers.relu_forward(z_fc1)
    z_fc2, fc2_cache = layers.fc_forward(z_relu, params["w_fc2"], params["b_fc2"])
    y = layers.softmax(z_fc2)
    caches = {
        "conv": conv_cache, "pool": pool_cache, "flat": flat_cache,
        "fc1": fc1_cache, "relu": relu_cache, "fc2": fc2_cache,
        "z_conv": z_conv, "z_pool": z_pool, "z_flat": z_flat,
        "z_fc1": z_fc1, "z_relu": z_relu, "z_fc2": z_fc2,
    }
    return y, caches


def loss_only(
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    labels: np.ndarray,
    stride: int = 1,
    padding: int = 0,
    pool: int = 2,
    pool_stride: int | None = None,
) -> np.floating:
    """The loss of Eq. (4.1), ``L = -(1/N) sum_n log y_{n, label_n}``, and nothing else.

    For finite differences (:mod:`mnist_cnn.gradcheck`) and for evaluation.

    Parameters
    ----------
    params, x, stride, padding, pool, pool_stride
        As in :func:`forward`.
    labels : ndarray of int, shape [N]
        Classes ``0..D_2-1``.

    Returns
    -------
    numpy scalar of the dtype of ``x``
    """
    y, _ = forward(params, x, stride, padding, pool, pool_stride)
    return layers.cross_entropy(y, labels)


def loss_and_grads(
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    labels: np.ndarray,
    stride: int = 1,
    padding: int = 0,
    pool: int = 2,
    pool_stride: int | None = None,
    need_dx: bool = True,
) -> tuple[np.floating, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Loss, gradients and every local gradient, with the vectorised layers.

    The backward pass is the delta rule, one line per equation:

    * ``delta_fc2 = (y - t)/N``, Eq. (4.3);
    * fc2: ``delta_relu = delta_fc2 w_fc2``, Eq. (4.6); ``dw_fc2, db_fc2``, Eq. (4.5);
    * ReLU: ``delta_fc1 = delta_relu * 1[z_fc1 > 0]``, Eq. (4.7);
    * fc1: ``delta_flat = delta_fc1 w_fc1``, Eq. (4.9); ``dw_fc1, db_fc1``, Eq. (4.8);
    * reshape back: ``delta_pool``, Eq. (4.10);
    * max-pool: route to the argmax, ``delta_conv``, Eq. (4.11);
    * conv, im2col form Eq. (4.15): ``dw_conv`` Eq. (4.12), ``db_conv`` Eq. (4.13),
      ``dx`` Eq. (4.14).

    Parameters
    ----------
    params, x, stride, padding, pool, pool_stride
        As in :func:`forward`.
    labels : ndarray of int, shape [N]
        Classes ``0..D_2-1``.
    need_dx : bool, default True
        If False, ``dL/dx`` (Eq. (4.14)) is not computed and ``intermediates["dx"]``
        is None. Training sets it: no parameter lies upstream of the image, so
        the gradients do not depend on it.

    Returns
    -------
    loss : numpy scalar of the dtype of ``x``
        Eq. (4.1), the cross-entropy averaged over the batch.
    grads : dict str -> ndarray
        ``dw_conv, db_conv, dw_fc1, db_fc1, dw_fc2, db_fc2``, each the shape of
        its parameter.
    intermediates : dict str -> ndarray
        Forward values :data:`Z_NAMES` and local gradients :data:`DELTA_NAMES`
        (``delta_* = dL/dz_*``; ``dx = dL/dx`` [N, C_in, H_in, W_in], or None).
    """
    y, c = forward(params, x, stride, padding, pool, pool_stride)
    loss = layers.cross_entropy(y, labels)
    delta_fc2 = layers.softmax_cross_entropy_backward(y, labels)          # (4.3)
    delta_relu, dw_fc2, db_fc2 = layers.fc_backward(delta_fc2, c["fc2"])  # (4.6), (4.5)
    delta_fc1 = layers.relu_backward(delta_relu, c["relu"])               # (4.7)
    delta_flat, dw_fc1, db_fc1 = layers.fc_backward(delta_fc1, c["fc1"])  # (4.9), (4.8)
    delta_pool = layers.flatten_backward(delta_flat, c["flat"])           # (4.10)
    delta_conv = layers.maxpool_backward(delta_pool, c["pool"])           # (4.11)
    dx, dw_conv, db_conv = layers.conv_backward(delta_conv, c["conv"], need_dx)  # (4.12)-(4.15)
    grads = dict(dw_conv=dw_conv, db_conv=db_conv, dw_fc1=dw_fc1, db_fc1=db_fc1,
                 dw_fc2=dw_fc2, db_fc2=db_fc2)
    intermediates = {name: c[name] for name in Z_NAMES[:-1]}
    intermediates.update(y=y, delta_fc2=delta_fc2, delta_relu=delta_relu,
                         delta_fc1=delta_fc1, delta_flat=delta_flat, delta_pool=delta_pool,
                         delta_conv=delta_conv, dx=dx)
    return loss, grads, intermediates


def loss_and_grads_loops(
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    labels: np.ndarray,
    stride: int = 1,
    padding: int = 0,
    pool: int = 2,
    pool_stride: int | None = None,
) -> tuple[np.floating, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The same chain as :func:`loss_and_grads`, built only from :mod:`mnist_cnn.scalar`.

    Forward Eqs. (1.3), (1.5), (1.6), (1.8)-(1.12), (4.1); backward
    Eqs. (4.3)-(4.14), every one a loop over the equation's indices. Slow: use
    a few images or tiny shapes.

    Parameters
    ----------
    params, x, labels, stride, padding, pool, pool_stride
        As in :func:`loss_and_grads`.

    Returns
    -------
    loss, grads, intermediates
        Same keys, shapes and dtypes as :func:`loss_and_grads`.
    """
    _check_params(params, x)
    z_conv = scalar.conv_forward_loops(x, params["w_conv"], params["b_conv"], stride, padding)
    z_pool = scalar.maxpool_forward_loops(z_conv, pool, pool_stride)
    z_flat = scalar.flatten_loops(z_pool)
    z_fc1 = scalar.fc_forward_loops(z_flat, params["w_fc1"], params["b_fc1"])
    z_relu = scalar.relu_forward_loops(z_fc1)
    z_fc2 = scalar.fc_forward_loops(z_relu, params["w_fc2"], params["b_fc2"])
    y = scalar.softmax_loops(z_fc2)
    loss = scalar.cross_entropy_loops(y, labels)

    delta_fc2 = scalar.softmax_cross_entropy_backward_loops(y, labels)
    delta_relu, dw_fc2, db_fc2 = scalar.fc_backward_loops(delta_fc2, z_relu, params["w_fc2"])
    delta_fc1 = scalar.relu_backward_loops(delta_relu, z_fc1)
    delta_flat, dw_fc1, db_fc1 = scalar.fc_backward_loops(delta_fc1, z_flat, params["w_fc1"])
    c_out, h_p, w_p = z_pool.shape[1:]
    delta_pool = scalar.unflatten_loops(delta_flat, c_out, h_p, w_p)
    delta_conv = scalar.maxpool_backward_loops(delta_pool, z_conv, pool, pool_stride)
    dx, dw_conv, db_conv = scalar.conv_backward_loops(delta_conv, x, params["w_conv"],
                                                      stride, padding)
    grads = dict(dw_conv=dw_conv, db_conv=db_conv, dw_fc1=dw_fc1, db_fc1=db_fc1,
                 dw_fc2=dw_fc2, db_fc2=db_fc2)
    intermediates = dict(z_conv=z_conv, z_pool=z_pool, z_flat=z_flat, z_fc1=z_fc1,
                         z_relu=z_relu, z_fc2=z_fc2, y=y, delta_fc2=delta_fc2,
                         delta_relu=delta_relu, delta_fc1=delta_fc1, delta_flat=delta_flat,
                         delta_pool=delta_pool, delta_conv=delta_conv, dx=dx)
    return loss, grads, intermediates
