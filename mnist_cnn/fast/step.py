"""The training step's loss and gradients with fc1's big arrays in buffers kept between steps.

What this is: :func:`loss_and_grads_fast`, the chain of
:func:`mnist_cnn.reference.network.loss_and_grads` (``need_dx=False``,
``fast=True``) with the three large products of fc1 -- ``z_fc1 = z_flat W^T``
(Eq. (2.7)), ``dW_fc1 = delta_fc1^T z_flat`` (Eq. (4.8), 1.44 M numbers) and
``delta_flat = delta_fc1 W`` (Eq. (4.9)) -- written by ``np.matmul(..., out=)``
into the arrays of a :class:`Workspace` instead of fresh ones. The same BLAS
calls on the same operands: the same numbers (tested in ``tests/test_fast.py``).
All three products read ``w_fc1`` [D_1, D_0] in its stored C order: numpy
passes the transposes to BLAS as flags, no transposed copy is made.
What this is not: a second network. Every other layer is the reference's bare
body; the input is checked once at the door, as in the reference.

The gradients returned live in the workspace and are overwritten by the next
call: use them (the optimiser step) before the next step.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import validate
from ..architecture import SEED, Architecture
from ..reference import layers as L
from .pool import maxpool_backward_fast, maxpool_forward_fast

__all__ = ["Workspace", "loss_and_grads_fast"]


class Workspace:
    """The buffers of :func:`loss_and_grads_fast` for batches of up to ``batch`` images.

    Parameters
    ----------
    batch : int
        Largest ``N``; smaller batches (the last of an epoch) use the first rows.
    dtype : numpy float type, default float32
    arch : Architecture, default SEED

    Attributes
    ----------
    z_fc1 : ndarray [batch, D_1]
    delta_flat : ndarray [batch, D_0]
    dw_fc1 : ndarray [D_1, D_0]
    """

    def __init__(self, batch: int, dtype=np.float32, arch: Architecture = SEED) -> None:
        self.batch = validate.require_positive_int("batch", batch)
        self.dtype = np.dtype(dtype)
        self.arch = arch
        self.z_fc1 = np.empty((batch, arch.D_1), dtype=self.dtype)
        self.delta_flat = np.empty((batch, arch.D_0), dtype=self.dtype)
        self.dw_fc1 = np.empty((arch.D_1, arch.D_0), dtype=self.dtype)


def loss_and_grads_fast(
    params: Mapping[str, np.ndarray], x: np.ndarray, labels: np.ndarray, ws: Workspace
) -> tuple[np.floating, dict[str, np.ndarray], np.ndarray]:
    """Loss and gradients of one training step, Eqs. (4.1)-(4.13), fc1 into ``ws``.

    Parameters
    ----------
    params : mapping str -> ndarray
        As from :func:`mnist_cnn.reference.network.init_params`, dtype ``ws.dtype``.
    x : ndarray, shape [N, C_in, H, W], N <= ``ws.batch``
    labels : ndarray of int, shape [N]
    ws : Workspace

    Returns
    -------
    loss : numpy scalar
        Eq. (4.1).
    grads : dict str -> ndarray
        ``dw_conv, db_conv, dw_fc1, db_fc1, dw_fc2, db_fc2``; ``dw_fc1`` is ``ws.dw_fc1``.
    y : ndarray [N, D_2]
        The softmax output (for the accuracy of the batch).
    """
    arch = ws.arch
    validate.network_inputs(params, x, arch, labels)
    if x.shape[0] > ws.batch or x.dtype != ws.dtype:
        raise ValueError(f"x must have at most {ws.batch} images of {ws.dtype}; "
                         f"got {x.shape[0]} of {x.dtype}")
    n = x.shape[0]
    w_fc1 = params["w_fc1"]
    # Forward: the reference up to the flattened map, then fc1 into its buffer.
    z_conv, conv_cache = L.conv_forward.unchecked(x, params["w_conv"], params["b_conv"],
                                                  arch.S, arch.P)
    if arch.S_p == arch.K_p:
        z_pool, argmax = maxpool_forward_fast(z_conv, arch.K_p)
    else:
        z_pool, pool_cache = L.maxpool_forward.unchecked(z_conv, arch.K_p, arch.S_p)
    z_flat = z_pool.reshape(n, -1)                                          # (1.6), a view
    z_fc1 = np.matmul(z_flat, w_fc1.T, out=ws.z_fc1[:n])                    # (2.7)
    z_fc1 += params["b_fc1"]
    z_relu, relu_cache = L.relu_forward.unchecked(z_fc1)                    # (2.8)
    z_fc2, fc2_cache = L.fc_forward.unchecked(z_relu, params["w_fc2"], params["b_fc2"])
    y = L.softmax.unchecked(z_fc2)                                          # (1.12)
    loss = L.cross_entropy.unchecked(y, labels)                             # (4.1)
    # Backward: the delta rule; fc1's two products into their buffers.
    delta_fc2 = L.softmax_cross_entropy_backward.unchecked(y, labels)       # (4.3)
    delta_relu, dw_fc2, db_fc2 = L.fc_backward.unchecked(delta_fc2, fc2_cache)
    delta_fc1 = L.relu_backward.unchecked(delta_relu, relu_cache)           # (4.7)
    dw_fc1 = np.matmul(delta_fc1.T, z_flat, out=ws.dw_fc1)                  # (4.8)
    db_fc1 = delta_fc1.sum(axis=0)
    delta_flat = np.matmul(delta_fc1, w_fc1, out=ws.delta_flat[:n])         # (4.9)
    delta_pool = delta_flat.reshape(z_pool.shape)                           # (4.10)
    if arch.S_p == arch.K_p:
        delta_conv = maxpool_backward_fast(delta_pool, argmax, z_conv.shape, arch.K_p)
    else:
        delta_conv = L.maxpool_backward.unchecked(delta_pool, pool_cache)   # (4.11)
    _, dw_conv, db_conv = L.conv_backward.unchecked(delta_conv, conv_cache, False)
    grads = dict(dw_conv=dw_conv, db_conv=db_conv, dw_fc1=dw_fc1, db_fc1=db_fc1,
                 dw_fc2=dw_fc2, db_fc2=db_fc2)
    return loss, grads, y
