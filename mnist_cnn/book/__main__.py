"""``python -m mnist_cnn.book NOTEBOOK...``: see :mod:`mnist_cnn.book.run`."""

import sys

from mnist_cnn.book.run import main

sys.exit(main())
