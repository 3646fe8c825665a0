"""``python -m mnist_cnn.data build``: see :mod:`mnist_cnn.data.build`."""

import sys

from .build import main

sys.exit(main())
