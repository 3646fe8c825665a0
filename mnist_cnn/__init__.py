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

Layout: two wings, imports running one way
-------------------------------------------
The reader's package, read beside the equations (nothing here imports ``book/``):

* ``architecture`` -- the one source of sizes (``Architecture``, ``SEED``, Eqs. (0.1)/(0.2));
* ``validate`` -- the checks at the door; ``tools/`` -- atomic files, npz headers, BLAS threads;
* ``reference/`` -- the code read beside the equations: ``loops`` (chapters 1, 4),
  ``im2col``, ``layers`` (vectorised), ``transposed``, ``network``, ``optim`` (Eqs. 5.1/5.2);
* ``fast/`` -- hot-path forms for training, each tested equal to its reference;
* ``verify/`` -- independent referees: ``gradcheck`` (finite differences), ``symbolic`` (sympy);
* ``train/`` -- chapter 5: ``loop``, ``metrics``, ``artifacts``, ``checkpoint``, ``cli``;
* ``data/`` -- ``load``, what readers use;
* ``plots``, ``animations`` -- the figures of the chapters.

The workshop, ``book/``, builds, checks and times the book; it uses the reader's package,
never the reverse:

* ``chapter``, ``exercises``, ``run``, ``slides``, ``student`` -- the notebooks' tools;
* ``equations/`` -- the typeset-equation check; ``ledger``, ``mutants`` -- what checks what;
* ``bench/`` -- benchmarks; ``data_build`` -- how ``data/mnist.npz`` was made.
"""

__version__ = "0.1.0"
