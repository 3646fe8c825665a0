"""Benchmarks, a maintainer's and a curious reader's tool: ``python -m mnist_cnn.book.bench``.

* :mod:`.timing` -- best-of-N wall time and a table;
* :mod:`.conv` -- the convolution in the book's four forms;
* :mod:`.step` -- the training step by layer (readable) and by phase (hot path), and
  against PyTorch (each in a :mod:`.worker` process of its own);
* :mod:`.limits` -- FLOPs per image, GEMM rate, bandwidth: the hardware limit;
* :mod:`.cli` -- the command line;
* :mod:`.torch_train` -- the recipe of chapter 5 in idiomatic PyTorch, a whole process to time
  ``python -m mnist_cnn.train`` against.
"""

from mnist_cnn.book.bench.conv import conv_forward_timings
from mnist_cnn.book.bench.step import (
    LayerTiming,
    Throughput,
    check_against_torch,
    format_layer_table,
    format_limits,
    format_phases,
    format_throughput,
    layer_timings,
    throughput,
    torch_network,
)
from mnist_cnn.book.bench.timing import TimingRow, format_table, time_call

__all__ = [
    "LayerTiming",
    "Throughput",
    "TimingRow",
    "conv_forward_timings",
    "check_against_torch",
    "format_layer_table",
    "format_limits",
    "format_phases",
    "format_table",
    "format_throughput",
    "layer_timings",
    "throughput",
    "time_call",
    "torch_network",
]
