"""MNIST data: :mod:`.load` reads the shipped file (what readers use); :mod:`.build` makes it.

``from mnist_cnn.data import load_mnist`` is all a chapter needs;
``python -m mnist_cnn.book.data_build build`` rebuilds ``data/mnist.npz`` (a maintainer's tool).
"""

from mnist_cnn.data.load import (
    SPLITS,
    ChecksumMismatchError,
    DataFileMissingError,
    FormatError,
    MnistDataError,
    TruncatedFileError,
    default_data_path,
    load_mnist,
    sha256_of_file,
)

__all__ = [
    "SPLITS",
    "ChecksumMismatchError",
    "DataFileMissingError",
    "FormatError",
    "MnistDataError",
    "TruncatedFileError",
    "default_data_path",
    "load_mnist",
    "sha256_of_file",
]
