"""mnist_cnn: the helpers behind the executable textbook on one small CNN for MNIST.

The notebooks in ``notebooks/`` state the equations; this package implements
them, each function naming the equation it implements.

Conventions
-----------
* Layout is NCHW; convolution weights are ``[C_out, C_in, K, K]``.
* The maths is 1-based, the code 0-based: the equation's ``x_{n,c,m,l}`` is
  ``x[n-1, c-1, m-1, l-1]`` in code, and the loop variables keep the letters.
* float64 for verification, float32 for training; every function returns the
  dtype it was given.
"""

__version__ = "0.1.0"
