"""``python -m mnist_cnn.book NOTEBOOK...`` runs notebooks (:mod:`mnist_cnn.book.run`, what
``make book`` uses); ``python -m mnist_cnn.book grade DIR --out grades.csv`` grades what students
hand back (:mod:`mnist_cnn.book.grade`)."""

import sys

if sys.argv[1:2] == ["grade"]:
    from mnist_cnn.book.grade import main

    sys.exit(main(sys.argv[2:]))

from mnist_cnn.book.run import main

sys.exit(main())
