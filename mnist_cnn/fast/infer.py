"""The forward pass on the hot path: inference on all cores, for evaluation and ``bench``.

What this is: :func:`predict_fast`, the softmax output of the network
(Eqs. (3.3), (2.5), (1.6), (2.7), (2.8), (1.12)) for any number of images,
batch by batch on the threads of a :class:`mnist_cnn.fast.step.Workspace`:
the forward half of :func:`mnist_cnn.fast.step.fast_train_step`, without
the routing of the pooling that only the backward pass needs.
What this is not: another network: tested equal to
:func:`mnist_cnn.reference.network.forward` to rounding (``tests/test_fast.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mnist_cnn import validate
from mnist_cnn.fast.step import Workspace, _forward

__all__ = ["predict_fast"]


def predict_fast(params: Mapping[str, np.ndarray], x: np.ndarray, ws: Workspace) -> np.ndarray:
    """Softmax outputs ``y`` [N, D_2] of any number of images, ``ws.batch`` at a time.

    Parameters
    ----------
    params : mapping str -> ndarray
        The six tensors, dtype ``ws.dtype``.
    x : ndarray, shape [N, C_in, H, W], dtype ``ws.dtype``
        Any ``N >= 1`` (not bounded by ``ws.batch``).
    ws : Workspace
        Its threads and buffers.

    Returns
    -------
    ndarray, shape [N, D_2], dtype of ``x``
        Eq. (1.12).
    """
    validate.network_inputs(params, x, ws.arch)
    if x.dtype != ws.dtype:
        raise ValueError(f"x must be {ws.dtype}; got {x.dtype}")
    y = np.empty((x.shape[0], ws.arch.D_2), dtype=x.dtype)
    with ws.one_blas_thread():
        for start in range(0, x.shape[0], ws.batch):
            y[start : start + ws.batch] = _forward(params, x[start : start + ws.batch], ws,
                                                   route=False)[0]
    return y
