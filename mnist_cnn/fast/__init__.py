"""Hot-path forms for training: the same numbers as :mod:`mnist_cnn.reference`, found faster.

What this is: the tricks the training step needs for speed and that a reader
of the book does not (threads of our own, window-ordered im2col, running
maxima, in-place buffers). Each function here is tested equal to its readable
reference form in ``tests/test_fast.py``:

* :mod:`.step` -- the training step on T threads, BLAS on one inside each;
* :mod:`.infer` -- the forward pass on the same threads (evaluation, ``bench``);
* :mod:`.convpool` -- convolution and max-pooling as one product per chunk of images;
* :mod:`.update` and :mod:`.optim` -- the momentum update, Eq. (5.1), in cache-sized blocks;
* :mod:`.pool` -- max-pooling alone by strided slices and a running maximum,
  tested equal to the reference's (the step itself fuses pooling into :mod:`.convpool`).

What this is not: a place to learn the maths from; read :mod:`mnist_cnn.reference`.
"""
