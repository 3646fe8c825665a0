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
from mnist_cnn.validate import require_labels, require_ndim, require_positive_int

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
    require_ndim("y", y, ("N", "D_2"))
    if labels.shape != (y.shape[0],):
        raise ValueError(f"labels must have shape [N] = ({y.shape[0]},); got {labels.shape}")
    return float(np.mean(y.argmax(axis=1) == labels))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int = 10) -> np.ndarray:
    """Counts of (true class, predicted class) pairs, Eq. (5.5).

    ``C_{a,b} = #{n : label_n = a, argmax_k y_{n,k} = b}``; row ``a`` sums to the
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
    if labels.shape != predicted.shape or labels.ndim != 1:
        raise ValueError(f"labels and predicted must both be [N]; got {labels.shape} and "
                         f"{predicted.shape}")
    for name, a in (("labels", labels), ("predicted", predicted)):
        if a.size and (a.min() < 0 or a.max() >= classes):
            raise ValueError(f"{name} must lie in [0, {classes - 1}]")
    flat = np.bincount(labels * classes + predicted, minlength=classes * classes)
    return flat.reshape(classes, classes)


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
    require_labels(labels, len(images), SEED.D_2)
    y = predict(params, images, batch_size, workspace=workspace)
    loss = float(layers.cross_entropy.unchecked(y, labels))
    correct = int(np.count_nonzero(y.argmax(axis=1) == labels))
    return {"loss": loss, "accuracy": correct / len(labels), "correct": correct,
            "images": int(len(labels))}
