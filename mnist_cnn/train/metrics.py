"""What a trained network gets right: predictions, accuracy, confusion matrix, Eqs. (5.4)/(5.5).

What this is: evaluation of parameters on a whole split, in batches.
What this is not: the training loop (:mod:`.loop`) or the files (:mod:`.artifacts`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mnist_cnn.architecture import SEED, Architecture
from mnist_cnn.fast.infer import predict_fast
from mnist_cnn.fast.step import Workspace
from mnist_cnn.reference import layers
from mnist_cnn.reference import network as net
from mnist_cnn.validate import (
    IMAGE_LAYOUT,
    require_allocation,
    require_array,
    require_float_array,
    require_labels,
    require_ndim,
    require_positive_int,
)

__all__ = ["accuracy", "confusion_matrix", "evaluate", "predict"]


def predict(params: Mapping[str, np.ndarray], images: np.ndarray,
            batch_size: int = 1000, arch: Architecture = SEED,
            workspace: Workspace | None = None) -> np.ndarray:
    """Softmax outputs ``y`` for many images, in batches, Eqs. (3.3)-(1.12).

    Parameters
    ----------
    params : mapping str -> ndarray
        Same dtype as ``images``.
    images : ndarray, shape [N, 1, 28, 28]
    batch_size : int
        Images per forward pass (bounds the memory of im2col).
    arch : Architecture, default SEED
    workspace : mnist_cnn.fast.step.Workspace, optional
        If given, the forward pass runs on its threads, ``workspace.batch`` images at
        a time (:func:`mnist_cnn.fast.infer.predict_fast`, equal to rounding), and
        ``batch_size`` and ``arch`` are the workspace's.

    Returns
    -------
    ndarray, shape [N, 10], dtype of ``images``
    """
    batch_size = require_positive_int("batch_size", batch_size)
    arch = workspace.arch if workspace is not None else arch
    require_array("images", images, (None, arch.C_in, arch.H, arch.W), IMAGE_LAYOUT)
    require_allocation("the outputs [N, D_2]", (images.shape[0], arch.D_2), images.dtype)
    if workspace is not None:
        return predict_fast(params, images, workspace)
    out = np.empty((images.shape[0], arch.D_2), dtype=images.dtype)
    for start in range(0, images.shape[0], batch_size):
        batch = images[start : start + batch_size]
        out[start : start + batch_size] = net.forward(params, batch, arch)[0]
    return out


def accuracy(y: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose most probable class is the label, Eq. (5.4).

    ``acc = (1/N) sum_n 1[argmax_k y_{n,k} = label_n]``.

    Parameters
    ----------
    y : ndarray, shape [N, D_2]
        Probabilities (or logits: the argmax is the same).
    labels : ndarray of int, shape [N]

    Returns
    -------
    float in [0, 1]
    """
    require_ndim("y", require_float_array("y", y), ("N", "D_2"))
    require_allocation("a copy of y [N, D_2]", y.shape, y.dtype)  # argmax of a broadcast copies
    require_labels(labels, y.shape[0], y.shape[1])
    return float(np.mean(y.argmax(axis=1) == labels))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """Counts of (true class, predicted class) pairs, Eq. (5.5).

    ``C_{a,b} = sum_n 1[label_n = a] 1[argmax_k y_{n,k} = b]``, i.e. ``C = T^T P`` with ``T``
    and ``P`` the one-hot rows of the labels and of the predictions; row ``a`` sums to the
    number of images of class ``a``, and the trace over ``N`` is the accuracy.

    Parameters
    ----------
    labels, predicted : ndarray of int, shape [N]
        Classes ``0..classes-1``.
    classes : int, default 10

    Returns
    -------
    ndarray of int64, shape [classes, classes]
    """
    classes = require_positive_int("classes", classes)
    require_allocation("the confusion matrix [classes, classes]", (classes, classes), np.int64)
    for name, a in (("labels", labels), ("predicted", predicted)):
        if not isinstance(a, np.ndarray) or not np.issubdtype(a.dtype, np.integer):
            got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"{name} must be an integer numpy.ndarray; got {got}")
    if labels.shape != predicted.shape or labels.ndim != 1:
        raise ValueError(f"labels and predicted must both be [N]; got {labels.shape} and "
                         f"{predicted.shape}")
    for name, a in (("labels", labels), ("predicted", predicted)):
        if a.size and (a.min() < 0 or a.max() >= classes):
            raise ValueError(f"{name} must lie in [0, {classes - 1}]; got min {a.min()}, "
                             f"max {a.max()}")
    one_hot = np.eye(classes, dtype=np.int64)
    return one_hot[labels].T @ one_hot[predicted]  # sum over n of 1[label_n = a] 1[pred_n = b]


def evaluate(params: Mapping[str, np.ndarray], images: np.ndarray, labels: np.ndarray,
             batch_size: int = 1000, workspace: Workspace | None = None,
             ) -> dict[str, float | int]:
    """Loss (Eq. (4.1)) and accuracy (Eq. (5.4)) of ``params`` on a whole split.

    Parameters
    ----------
    params : mapping str -> ndarray
        The six parameter tensors of the seed network (:data:`network.PARAM_NAMES`).
    images : ndarray, shape [N, 1, 28, 28], float32 or float64
    labels : ndarray of int, shape [N]
        Classes ``0..D_2-1``.
    batch_size : int, default 1000
        Images per forward pass; bounds the memory of im2col, not the result.
    workspace : mnist_cnn.fast.step.Workspace, optional
        Run the forward passes on its threads (see :func:`predict`).

    Returns
    -------
    dict
        ``loss`` (mean cross-entropy), ``accuracy`` (fraction), ``correct`` and
        ``images`` (counts).
    """
    require_array("images", images, (None, SEED.C_in, SEED.H, SEED.W), IMAGE_LAYOUT)
    require_labels(labels, images.shape[0], SEED.D_2)
    y = predict(params, images, batch_size, workspace=workspace)
    loss = float(layers.cross_entropy.unchecked(y, labels))
    correct = int(np.count_nonzero(y.argmax(axis=1) == labels))
    return {"loss": loss, "accuracy": correct / len(labels), "correct": correct,
            "images": int(len(labels))}
