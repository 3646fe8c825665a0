"""``python -m mnist_cnn.book.bench``: see :mod:`mnist_cnn.book.bench.cli`."""

import sys

from mnist_cnn.book.bench.cli import main

sys.exit(main())
