"""``python -m mnist_cnn.bench``: see :mod:`mnist_cnn.bench.cli`."""

import sys

from .cli import main

sys.exit(main())
