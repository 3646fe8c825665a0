"""The book's reference code, read beside the equations.

* :mod:`.loops` -- every equation of chapters 1 and 4 as plain loops over its indices;
* :mod:`.im2col` -- the sliding window as a matrix and back, Eqs. (2.1), (3.1), (4.15);
* :mod:`.layers` -- the vectorised layers, forward and backward, Eqs. (2.3)-(4.15);
* :mod:`.network` -- the seed network composed of them, and of the loops.

The faster forms the training step uses live in :mod:`mnist_cnn.fast`, tested equal.
"""
