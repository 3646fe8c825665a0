"""Accuracy, predictions and the confusion matrix, Eqs. (5.4)/(5.5)."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_cnn import train as T
from mnist_cnn.reference import network as net


def test_accuracy_and_predict():
    y = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert T.accuracy(y, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    params = net.init_params(np.random.default_rng(4))
    x = np.random.default_rng(5).random((7, 1, 28, 28), dtype=np.float32)
    # Another batch size may block the matrix products differently: equal up to rounding.
    np.testing.assert_allclose(T.predict(params, x, batch_size=3), net.forward(params, x)[0],
                               rtol=1e-5, atol=1e-7)


def test_confusion_matrix_counts_pairs():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    expected = np.zeros((3, 3), int)
    for a, b in zip(labels, predicted, strict=True):
        expected[a, b] += 1
    matrix = T.confusion_matrix(labels, predicted, classes=3)
    np.testing.assert_array_equal(matrix, expected)
    assert np.trace(matrix) / len(labels) == T.accuracy(np.eye(3)[predicted], labels)
    with pytest.raises(ValueError, match=r"lie in \[0, 2\]"):
        T.confusion_matrix(labels, predicted + 1, classes=3)


