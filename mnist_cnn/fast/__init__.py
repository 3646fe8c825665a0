"""Hot-path forms for training: the same numbers as :mod:`mnist_cnn.reference`, found faster.

What this is: the tricks the training step needs for speed and that a reader
of the book does not (strided slices, running maxima, in-place buffers). Each
function here is tested equal to its readable reference form in
``tests/test_fast.py``:

* :mod:`.pool` -- max-pooling by strided slices and a running maximum;
* :mod:`.step` -- the step's loss and gradients with fc1's products in kept buffers;
* :mod:`.optim` -- the momentum update, Eq. (5.1), in cache-sized blocks.

What this is not: a place to learn the maths from; read :mod:`mnist_cnn.reference`.
"""
