"""``python -m mnist_cnn.book.bench [conv|train]``: time the book's implementations on this machine.

* ``conv`` (the default): the forward convolution of one batch in the book's
  four forms, checked against each other before they are timed
  (:mod:`.conv`);
* ``train``: the training step, inference and an epoch at batch 64 in images
  per second, per layer, and against PyTorch if it is installed, each framework
  in a worker process of its own (:mod:`.step`, :mod:`.worker`); then the
  hardware limit: FLOPs per image, GEMM rate, bandwidth (:mod:`.limits`).

Timings on a shared or busy machine vary by tens of percent from run to run;
the ratios of one run, whose rounds alternate between the frameworks, are
more stable than the absolute numbers. To see what the OpenBLAS kernel
override costs, run the command once as it is and once with both variables
unset for that command alone:
``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m mnist_cnn.book.bench train``.
PyTorch is optional and pinned in the ``bench`` extra
(``pip install -e '.[bench]'``, the CPU wheel).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from mnist_cnn.architecture import output_size
from mnist_cnn.book.bench.conv import conv_forward_timings
from mnist_cnn.book.bench.step import (
    format_layer_table,
    format_limits,
    format_phases,
    format_throughput,
    layer_timings,
    throughput,
)
from mnist_cnn.book.bench.timing import format_table
from mnist_cnn.tools.runtime import blas_threads, machine_summary, set_blas_threads
from mnist_cnn.validate import require_allocation

__all__ = ["main"]


def _add_conv_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=64, help="images per batch N (default 64)")
    parser.add_argument("--channels-in", type=int, default=1, help="C_in (default 1)")
    parser.add_argument("--channels-out", type=int, default=20, help="C_out (default 20)")
    parser.add_argument("--size", type=int, default=28, help="H_in = W_in (default 28)")
    parser.add_argument("--kernel", type=int, default=5, help="K (default 5)")
    parser.add_argument(
        "--loop-batch", type=int, default=2,
        help="images given to the slow loop version, whose time is scaled to --batch (default 2)",
    )
    parser.add_argument("--no-loops", action="store_true", help="skip the loop version")
    parser.add_argument(
        "--repeat", type=int, default=5, help="timing rounds, best one kept (default 5)"
    )
    parser.add_argument(
        "--dtype", choices=["float32", "float64"], default="float32", help="default float32"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")


#: Bounds of the benchmark options: (smallest, largest, why the largest).
BOUNDS = {
    "batch": (1, 4096, "larger batches only measure memory bandwidth"),
    "channels_in": (1, 256, ""),
    "channels_out": (1, 1024, ""),
    "size": (1, 1024, ""),
    "kernel": (1, 1024, ""),
    "loop_batch": (1, 64, "the loop version is slow by design"),
    "repeat": (1, 1000, ""),
    "number": (1, 10_000, ""),
    "threads": (1, 1024, ""),
    "seed": (0, 2**63 - 1, "numpy seeds are 64-bit"),
    "epoch_images": (0, 60_000, "MNIST's training set"),
    "epoch_rounds": (1, 100, ""),
}


def _check_arguments(args: argparse.Namespace) -> None:
    """Every number of a benchmark, checked once before anything is allocated or timed."""
    for name, (low, high, why) in BOUNDS.items():
        value = getattr(args, name, None)
        if value is None:
            continue
        option = "--" + name.replace("_", "-")
        if not low <= value <= high:
            reason = f" ({why})" if why and value > high else ""
            raise ValueError(f"{option} must be in [{low}, {high:,}]{reason}; got {value:,}")
    if args.what == "conv":
        if args.kernel > args.size:
            raise ValueError(f"--kernel {args.kernel} does not fit into --size {args.size}")
        if not args.no_loops and args.loop_batch > args.batch:
            raise ValueError(f"--loop-batch must be <= --batch = {args.batch}; "
                             f"got {args.loop_batch}")
        out = output_size(args.size, args.kernel)
        n, c_in, k = args.batch, args.channels_in, args.kernel
        dtype = np.dtype(args.dtype)
        require_allocation("the im2col matrix [N, C_in*K*K, H_c*W_c]",
                           (n, c_in * k * k, out * out), dtype)
        require_allocation("the output [N, C_out, H_c, W_c]",
                           (n, args.channels_out, out, out), dtype)
        if not args.no_loops:  # the loops run C_out*C_in*K*K*H_c*W_c scalar steps per image
            steps = args.loop_batch * args.channels_out * c_in * k * k * out * out
            if steps > 10**8:
                raise ValueError(
                    f"the loop version would take {steps:,} scalar steps (hours); "
                    "use --no-loops or smaller sizes")


def _run_conv(args: argparse.Namespace) -> str:
    rows = conv_forward_timings(
        batch=args.batch,
        channels_in=args.channels_in,
        channels_out=args.channels_out,
        size=args.size,
        kernel=args.kernel,
        loop_batch=args.loop_batch,
        repeat=args.repeat,
        dtype=np.dtype(args.dtype).type,
        seed=args.seed,
        loops=not args.no_loops,
    )
    out = output_size(args.size, args.kernel)
    title = (
        f"conv forward, x [{args.batch}, {args.channels_in}, {args.size}, {args.size}] * "
        f"w [{args.channels_out}, {args.channels_in}, {args.kernel}, {args.kernel}] -> "
        f"z [{args.batch}, {args.channels_out}, {out}, {out}], {args.dtype}"
    )
    footer = (
        f"\n{machine_summary()}\n"
        "All forms were checked against the reference on the first "
        f"{args.loop_batch} images before timing."
    )
    if not args.no_loops:
        footer += (
            f"\nThe loop time is measured on {args.loop_batch} images and scaled linearly "
            f"to {args.batch}."
        )
    return format_table(rows, title) + footer


def _add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch", type=int, default=64, help="images per step N (default 64)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timing rounds, best one kept (default 5)")
    parser.add_argument("--number", type=int, default=10,
                        help="calls per round (default 10)")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS threads for numpy, and the same for PyTorch "
                             "(default: numpy's current setting)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--no-layers", action="store_true", help="skip the per-layer breakdown")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random data (default 0)")
    parser.add_argument("--epoch-images", type=int, default=50_000,
                        help="also time whole epochs over this many MNIST training images, "
                             "batching and shifts included; 0 skips (default 50000)")
    parser.add_argument("--epoch-rounds", type=int, default=2,
                        help="epochs timed per framework, best kept (default 2)")
    parser.add_argument("--no-limits", action="store_true",
                        help="skip the hardware limit (GEMM rate, bandwidth, shares)")


def _run_train(args: argparse.Namespace) -> str:
    if args.threads is not None:
        set_blas_threads(args.threads)
    parts = [f"seed network, float32, batch {args.batch}; {machine_summary()}; "
             f"OpenBLAS threads in use: {blas_threads() or 'unknown'}"]
    if not args.no_layers:
        rows, step_ms = layer_timings(args.batch, args.repeat, args.number, args.seed)
        parts.append(format_layer_table(
            rows, step_ms,
            f"the readable numpy step (mnist_cnn.reference, BLAS on {blas_threads() or '?'} "
            f"threads) by layer, ms per batch (best of {args.repeat} x {args.number}); "
            "conv backward without dL/dx"))
    t = throughput(args.batch, args.repeat, args.number, args.seed, use_torch=not args.no_torch,
                   threads=args.threads, epoch_images=args.epoch_images,
                   epoch_rounds=args.epoch_rounds, limits=not args.no_limits)
    parts.append(format_phases(
        t, f"the hot path (mnist_cnn.fast: what train runs) by phase, ms per step, on {t.threads} "
           "threads of its own with BLAS on one thread in each (the step's best round)"))
    parts.append(format_throughput(
        t, f"throughput, images/s (best of {args.repeat} rounds x {args.number} calls; "
           f"epochs: best of {args.epoch_rounds}; separate processes, {t.threads} threads each)"))
    if not args.no_limits:
        parts.append(format_limits(t))
    return "\n\n".join(parts)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_cnn.book.bench",
        description=(
            "Time the book's implementations on this machine. With no subcommand, runs "
            "'conv' (options may follow directly); its defaults are the seed network: a batch "
            "of 64 MNIST-sized images, 20 filters 5x5."
        ),
        epilog=("'python -m mnist_cnn.book.bench SUBCOMMAND --help' lists the options of one "
                "benchmark."),
    )
    sub = parser.add_subparsers(dest="what", metavar="SUBCOMMAND")
    conv_help = "conv forward per batch: loops vs per-channel vs channel-parallel im2col vs einsum"
    _add_conv_arguments(sub.add_parser("conv", help=conv_help, description=conv_help))
    train_help = ("training step, inference and epoch in images/s at batch 64, per-layer "
                  "breakdown, PyTorch CPU on the same network if installed (each in its own "
                  "process), and the hardware limit")
    _add_train_arguments(sub.add_parser("train", help=train_help, description=train_help))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``python -m mnist_cnn.book.bench``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``. With no
        subcommand ``conv`` runs.

    Returns
    -------
    int
        The process exit code: 0, or 2 on a bad argument (one line on stderr).
    """
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    # No subcommand (only options, or nothing): the default benchmark.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["conv", *argv]
    args = parser.parse_args(argv)
    try:
        _check_arguments(args)
    except ValueError as exc:  # bad input: one line, exit 2 (argparse's own convention)
        print(f"{parser.prog} {args.what}: error: {exc}", file=sys.stderr)
        return 2
    print(_run_conv(args) if args.what == "conv" else _run_train(args))
    return 0

