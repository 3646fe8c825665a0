"""``python -m mnist_cnn.train``: see :mod:`mnist_cnn.train.cli`."""

import sys

from mnist_cnn.train.cli import main

sys.exit(main())
