"""The seed network as a composition of layers: forward, loss, and the delta-rule backward.

conv (C_out filters K x K, stride S, padding P) -> max-pool K_p x K_p -> flatten
-> fc1 (D_1) -> ReLU -> fc2 (D_2) -> softmax -> cross-entropy averaged over the
batch, Eq. (4.1). The backward pass applies the chapter's delta rule layer by
layer, Eqs. (4.3)-(4.15), and returns every delta on the way so that each local
gradient can be looked at.

What this is: the chain written once, in CS231n's layer pairs, each line citing
its equation (as Nielsen's ``backprop`` does):

* :func:`forward` -- the vectorised layers of :mod:`mnist_cnn.reference.layers`
  in network order (im2col conv, reshape-max pooling, matrix products), returning
  ``y`` and the cache of every layer;
* :func:`backward` -- the delta rule from any ``delta_fc2 = dL/dz_fc2`` back to the
  image, on that cache (chapter 6 starts it from another loss);
* :func:`loss_and_grads` -- the two joined by the cross-entropy, Eqs. (4.1)/(4.3):
  what chapters 4-5, the training step, the bench and the typeset check call;
* :func:`loss_and_grads_loops` -- the referee: the same chain built only from the
  loop references of :mod:`mnist_cnn.reference.loops`, composed on its own on
  purpose (a mistake in the composition above cannot hide in it); slow, for tiny
  batches and for checking;

plus :func:`init_params` (He initialisation) and :func:`loss_only` (for finite
differences). The training loop's hot path is :mod:`mnist_cnn.fast`, tested equal
to this chain; nothing here imports it.
What this is not: an optimiser or a training loop, and not a general graph
framework: the architecture is fixed, only its sizes are free, and they all
come from one :class:`mnist_cnn.architecture.Architecture`.

Checked once: every public function here checks ``params``, ``x`` and
``labels`` against the architecture at its door
(``@checked``: :func:`mnist_cnn.validate.network_inputs`; :func:`backward` checks
``delta_fc2`` against the cache) and then runs the chain on the layers' bare
bodies, which trust it (the ``_conv_forward = layers.conv_forward.unchecked``
lines below); ``forward.unchecked`` and ``backward.unchecked`` are the chain
without its check, for :func:`loss_and_grads`.

Every function preserves the float dtype it is given: float32 parameters with a
float32 batch give float32 losses, gradients and deltas.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mnist_cnn import validate
from mnist_cnn.architecture import PARAM_NAMES, SEED, Architecture
from mnist_cnn.reference import layers, loops
from mnist_cnn.validate import checked

__all__ = [
    "DELTA_NAMES",
    "GRAD_NAMES",
    "PARAM_NAMES",
    "Z_NAMES",
    "backward",
    "forward",
    "init_params",
    "loss_and_grads",
    "loss_and_grads_loops",
    "loss_only",
]

#: Gradient keys: ``"d" + parameter key``.
GRAD_NAMES = tuple("d" + name for name in PARAM_NAMES)
#: Forward intermediates returned by :func:`loss_and_grads`, in network order.
Z_NAMES = ("z_conv", "z_pool", "z_flat", "z_fc1", "z_relu", "z_fc2", "y")
#: Backward intermediates (local gradients), from the output back to the input.
DELTA_NAMES = ("delta_fc2", "delta_relu", "delta_fc1", "delta_flat", "delta_pool",
               "delta_conv", "dx")

# The chain runs on the layers' bare bodies: its input was checked once, at its door.
_conv_forward, _conv_backward = layers.conv_forward.unchecked, layers.conv_backward.unchecked
_maxpool_forward = layers.maxpool_forward.unchecked
_maxpool_backward = layers.maxpool_backward.unchecked
_flatten_forward = layers.flatten_forward.unchecked
_flatten_backward = layers.flatten_backward.unchecked
_fc_forward, _fc_backward = layers.fc_forward.unchecked, layers.fc_backward.unchecked
_relu_forward, _relu_backward = layers.relu_forward.unchecked, layers.relu_backward.unchecked
_softmax, _cross_entropy = layers.softmax.unchecked, layers.cross_entropy.unchecked
_softmax_cross_entropy_backward = layers.softmax_cross_entropy_backward.unchecked


def init_params(
    rng: np.random.Generator, dtype=np.float32, arch: Architecture = SEED
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
    arch : Architecture, default SEED
        The sizes; ``D_0`` follows from them via Eq. (0.1).

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
    dtype = validate.init_args(rng, dtype, arch)
    shapes = arch.param_shapes

    def he(name: str, fan_in: int) -> np.ndarray:
        return (rng.standard_normal(shapes[name]) * np.sqrt(2.0 / fan_in)).astype(dtype)

    return {
        "w_conv": he("w_conv", arch.C_in * arch.K * arch.K),
        "b_conv": np.zeros(shapes["b_conv"], dtype=dtype),
        "w_fc1": he("w_fc1", arch.D_0),
        "b_fc1": np.zeros(shapes["b_fc1"], dtype=dtype),
        "w_fc2": he("w_fc2", arch.D_1),
        "b_fc2": np.zeros(shapes["b_fc2"], dtype=dtype),
    }


def _check_forward(params, x, arch=SEED) -> None:
    validate.network_inputs(params, x, arch)


def _check_backward(delta_fc2, caches, need_dx=True) -> None:
    z_fc2 = caches["z_fc2"]
    validate.require_array("delta_fc2", delta_fc2, z_fc2.shape, ("N", "D_2"), z_fc2.dtype)


def _check_loss(params, x, labels, arch=SEED, need_dx=True) -> None:
    validate.network_inputs(params, x, arch, labels)


@checked(_check_forward)
def forward(
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    arch: Architecture = SEED,
) -> tuple[np.ndarray, dict]:
    """Forward pass with the vectorised layers, Eqs. (3.3), (2.5), (1.6), (2.7), (2.8), (1.12).

    Parameters
    ----------
    params : mapping str -> ndarray
        As returned by :func:`init_params`, same dtype as ``x``.
    x : ndarray, shape [N, C_in, H, W] of ``arch``, float32 or float64
    arch : Architecture, default SEED
        Every size: ``S``, ``P``, ``K_p``, ``S_p`` and the shapes ``params`` must have.

    Returns
    -------
    y : ndarray, shape [N, D_2], dtype of ``x``
        Softmax probabilities, Eq. (1.12).
    caches : dict
        Layer caches ``"conv", "pool", "flat", "fc1", "relu", "fc2"`` for
        :func:`backward` and the forward values ``"z_conv" [N, C_out, H_c, W_c]``,
        ``"z_pool" [N, C_out, H_p, W_p]``, ``"z_flat" [N, D_0]``,
        ``"z_fc1" [N, D_1]``, ``"z_relu" [N, D_1]``, ``"z_fc2" [N, D_2]``.
        ``z_flat`` is a view of ``z_pool`` (no copy).
    """
    p, a = params, arch
    z_conv, conv = _conv_forward(x, p["w_conv"], p["b_conv"], a.S, a.P)       # (3.3)
    z_pool, pool = _maxpool_forward(z_conv, a.K_p, a.S_p)                     # (2.5)
    z_flat, flat = _flatten_forward(z_pool)                                   # (1.6)
    z_fc1, fc1 = _fc_forward(z_flat, p["w_fc1"], p["b_fc1"])                  # (2.7)
    z_relu, relu = _relu_forward(z_fc1)                                       # (2.8)
    z_fc2, fc2 = _fc_forward(z_relu, p["w_fc2"], p["b_fc2"])                  # (2.7)
    y = _softmax(z_fc2)                                                       # (1.12)
    caches = dict(conv=conv, pool=pool, flat=flat, fc1=fc1, relu=relu, fc2=fc2,
                  z_conv=z_conv, z_pool=z_pool, z_flat=z_flat, z_fc1=z_fc1, z_relu=z_relu,
                  z_fc2=z_fc2)
    return y, caches


@checked(_check_backward)
def backward(
    delta_fc2: np.ndarray, caches: Mapping, need_dx: bool = True
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The delta rule from ``dL/dz_fc2`` back to the image, Eqs. (4.5)-(4.15), one line each.

    * fc2: ``dw_fc2, db_fc2``, Eq. (4.5); ``delta_relu = delta_fc2 w_fc2``, Eq. (4.6);
    * ReLU: ``delta_fc1 = delta_relu * 1[z_fc1 > 0]``, Eq. (4.7);
    * fc1: ``dw_fc1, db_fc1``, Eq. (4.8); ``delta_flat = delta_fc1 w_fc1``, Eq. (4.9);
    * reshape back: ``delta_pool``, Eq. (4.10);
    * max-pool: route to the argmax, ``delta_conv``, Eq. (4.11);
    * conv, im2col form Eq. (4.15): ``dw_conv`` Eq. (4.12), ``db_conv`` Eq. (4.13),
      ``dx`` Eq. (4.14).

    Nothing here depends on the loss: :func:`loss_and_grads` starts it from the
    cross-entropy's ``(y - t)/N``, Eq. (4.3); chapter 6 from the squared error's.

    Parameters
    ----------
    delta_fc2 : ndarray, shape [N, D_2], dtype of the forward pass
        ``dL/dz_fc2`` of whatever loss ``L``.
    caches : dict
        As returned by :func:`forward`.
    need_dx : bool, default True
        If False, ``dL/dx`` (Eq. (4.14)) is not computed and ``deltas["dx"]`` is
        None. Training sets it: no parameter lies upstream of the image.

    Returns
    -------
    grads : dict str -> ndarray
        ``dw_conv, db_conv, dw_fc1, db_fc1, dw_fc2, db_fc2``, each the shape of its parameter.
    deltas : dict str -> ndarray
        The local gradients :data:`DELTA_NAMES`, ``delta_* = dL/dz_*`` (``delta_fc2``
        is the argument itself), ``dx = dL/dx`` [N, C_in, H, W] or None.
    """
    c = caches
    delta_relu, dw_fc2, db_fc2 = _fc_backward(delta_fc2, c["fc2"])  # (4.6), (4.5)
    delta_fc1 = _relu_backward(delta_relu, c["relu"])               # (4.7)
    delta_flat, dw_fc1, db_fc1 = _fc_backward(delta_fc1, c["fc1"])  # (4.9), (4.8)
    delta_pool = _flatten_backward(delta_flat, c["flat"])           # (4.10)
    delta_conv = _maxpool_backward(delta_pool, c["pool"])           # (4.11)
    # (4.12), (4.13) and, if need_dx, (4.14); in the im2col form of (4.15)
    dx, dw_conv, db_conv = _conv_backward(delta_conv, c["conv"], need_dx)
    grads = dict(dw_conv=dw_conv, db_conv=db_conv, dw_fc1=dw_fc1, db_fc1=db_fc1,
                 dw_fc2=dw_fc2, db_fc2=db_fc2)
    deltas = dict(delta_fc2=delta_fc2, delta_relu=delta_relu, delta_fc1=delta_fc1,
                  delta_flat=delta_flat, delta_pool=delta_pool, delta_conv=delta_conv,
                  dx=dx)
    return grads, deltas


@checked(_check_loss)
def loss_only(
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    labels: np.ndarray,
    arch: Architecture = SEED,
) -> np.floating:
    """The loss of Eq. (4.1), ``L = -(1/N) sum_n log y_{n, label_n}``, and nothing else.

    For finite differences (:mod:`mnist_cnn.verify.gradcheck`) and for evaluation.

    Parameters
    ----------
    params, x, arch
        As in :func:`forward`.
    labels : ndarray of int, shape [N]
        Classes ``0..D_2-1``.

    Returns
    -------
    numpy scalar of the dtype of ``x``
    """
    y, _ = forward.unchecked(params, x, arch)
    return _cross_entropy(y, labels)                                          # (4.1)


@checked(_check_loss)
def loss_and_grads(
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    labels: np.ndarray,
    arch: Architecture = SEED,
    need_dx: bool = True,
) -> tuple[np.floating, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Loss, gradients and every local gradient: :func:`forward`, (4.1)/(4.3), :func:`backward`.

    Parameters
    ----------
    params, x, arch
        As in :func:`forward`.
    labels : ndarray of int, shape [N]
        Classes ``0..D_2-1``.
    need_dx : bool, default True
        As in :func:`backward`: if False, ``intermediates["dx"]`` is None.

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
    y, caches = forward.unchecked(params, x, arch)
    loss = _cross_entropy(y, labels)                                          # (4.1)
    delta_fc2 = _softmax_cross_entropy_backward(y, labels)                    # (4.3)
    grads, deltas = backward.unchecked(delta_fc2, caches, need_dx)
    intermediates = {name: caches[name] for name in Z_NAMES[:-1]}
    return loss, grads, dict(intermediates, y=y, **deltas)


@checked(_check_loss)
def loss_and_grads_loops(
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    labels: np.ndarray,
    arch: Architecture = SEED,
) -> tuple[np.floating, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The same chain as :func:`loss_and_grads`, built only from :mod:`mnist_cnn.reference.loops`.

    Forward Eqs. (1.3), (1.5), (1.6), (1.8)-(1.12), (4.1); backward
    Eqs. (4.3)-(4.14), every one a loop over the equation's indices. Slow: use
    a few images or tiny shapes.

    Parameters
    ----------
    params, x, labels, arch
        As in :func:`loss_and_grads`.

    Returns
    -------
    loss, grads, intermediates
        Same keys, shapes and dtypes as :func:`loss_and_grads`.
    """
    p, a = params, arch
    # The loops' bare bodies (``.unchecked``): the input was checked once, at the door.
    z_conv = loops.conv_forward_loops.unchecked(x, p["w_conv"], p["b_conv"], a.S, a.P)
    z_pool = loops.maxpool_forward_loops.unchecked(z_conv, a.K_p, a.S_p)
    z_flat = loops.flatten_loops.unchecked(z_pool)
    z_fc1 = loops.fc_forward_loops.unchecked(z_flat, p["w_fc1"], p["b_fc1"])
    z_relu = loops.relu_forward_loops.unchecked(z_fc1)
    z_fc2 = loops.fc_forward_loops.unchecked(z_relu, p["w_fc2"], p["b_fc2"])
    y = loops.softmax_loops.unchecked(z_fc2)
    loss = loops.cross_entropy_loops.unchecked(y, labels)

    delta_fc2 = loops.softmax_cross_entropy_backward_loops.unchecked(y, labels)
    delta_relu, dw_fc2, db_fc2 = loops.fc_backward_loops.unchecked(delta_fc2, z_relu, p["w_fc2"])
    delta_fc1 = loops.relu_backward_loops.unchecked(delta_relu, z_fc1)
    delta_flat, dw_fc1, db_fc1 = loops.fc_backward_loops.unchecked(delta_fc1, z_flat, p["w_fc1"])
    delta_pool = loops.unflatten_loops.unchecked(delta_flat, a.C_out, a.H_p, a.W_p)
    delta_conv = loops.maxpool_backward_loops.unchecked(delta_pool, z_conv, a.K_p, a.S_p)
    dx, dw_conv, db_conv = loops.conv_backward_loops.unchecked(delta_conv, x, p["w_conv"],
                                                               a.S, a.P)
    grads = dict(dw_conv=dw_conv, db_conv=db_conv, dw_fc1=dw_fc1, db_fc1=db_fc1,
                 dw_fc2=dw_fc2, db_fc2=db_fc2)
    intermediates = dict(z_conv=z_conv, z_pool=z_pool, z_flat=z_flat, z_fc1=z_fc1,
                         z_relu=z_relu, z_fc2=z_fc2, y=y, delta_fc2=delta_fc2,
                         delta_relu=delta_relu, delta_fc1=delta_fc1, delta_flat=delta_flat,
                         delta_pool=delta_pool, delta_conv=delta_conv, dx=dx)
    return loss, grads, intermediates
