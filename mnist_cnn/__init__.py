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

Layout: the book's reference, the fast path, the tools
-------------------------------------------------------
* ``architecture`` -- the one source of sizes (``Architecture``, ``SEED``, Eqs. (0.1)/(0.2));
* ``validate`` -- the checks at the door;
* ``reference/`` -- the code read beside the equations: ``loops`` (chapters 1, 4),
  ``im2col``, ``layers`` (vectorised), ``network``;
* ``fast/`` -- hot-path forms for training, each tested equal to its reference;
* ``verify/`` -- independent referees: ``gradcheck`` (finite differences), ``symbolic`` (sympy);
* ``train/`` -- chapter 5: ``loop``, ``optim``, ``metrics``, ``artifacts``, ``cli``;
* ``data/`` -- ``load`` (what readers use) and ``build`` (a maintainer's tool);
* ``book/`` -- ``chapter`` (checks and tables for the notebooks), ``plots``, ``run``;
* ``bench/`` and ``tools/`` -- benchmarks; atomic files and BLAS/runtime helpers.
"""

__version__ = "0.1.0"
