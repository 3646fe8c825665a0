"""``python -m mnist_cnn.book.equations check NOTEBOOK...``.

See :mod:`mnist_cnn.book.equations.check`.
"""

import sys

from mnist_cnn.book.equations.check import main

sys.exit(main())
