"""``python -m mnist_cnn.equations check NOTEBOOK...``: see :mod:`mnist_cnn.equations.check`."""

import sys

from .check import main

sys.exit(main())
