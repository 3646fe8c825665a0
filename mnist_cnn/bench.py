"""Timing of the book's implementations: ``python -m mnist_cnn.bench``.

What this is: a small benchmark runner with one subcommand per question.
For now there is one, ``conv``: the forward convolution of one batch in the
four forms of the book (loops, per-channel im2col, channel-parallel im2col,
tensordot/einsum), checked against each other before they are timed.

What this is not: a profiler, or a claim about any machine but the one it runs
on. Timings on a shared or busy machine vary by tens of percent from run to
run; the ratios are more stable than the absolute numbers.

Adding a benchmark
------------------
Write ``_add_<name>_arguments(parser)`` and ``_run_<name>(args) -> str`` and add
one :class:`Benchmark` entry to :data:`BENCHMARKS`; ``--help`` and the command
line pick it up. Planned: ``train`` (training-step throughput, images/s),
``layers`` (per-layer forward/backward breakdown of one step) and an optional
PyTorch column (``pip install -e '.[bench]'``) behind a ``--torch`` flag.
:func:`time_call`, :class:`TimingRow` and :func:`format_table` are meant to be
reused by them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import layers
from .shapes import output_size

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "TimingRow",
    "conv_forward_timings",
    "format_table",
    "machine_summary",
    "main",
    "time_call",
]


@dataclass(frozen=True)
class TimingRow:
    """One line of a timing table.

    Attributes
    ----------
    name : str
        The implementation, e.g. ``"channel-parallel im2col, Eq. (3.3)"``.
    ms_per_batch : float
        Milliseconds for one whole batch (best of the repeats).
    speedup : float
        ``time(reference) / time(this)``; the reference (first row) has 1.
    note : str
        How it was measured, e.g. ``"2 images, scaled x32"``.
    """

    name: str
    ms_per_batch: float
    speedup: float
    note: str = ""


def time_call(fn: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """Best wall time of ``fn()`` in seconds: ``repeat`` rounds of ``number`` calls each.

    The minimum, not the mean: noise from other processes only ever adds time.
    One untimed warm-up call comes first (allocations, BLAS thread start).

    Parameters
    ----------
    fn : callable
        Called with no arguments.
    repeat, number : int
        Rounds and calls per round.

    Returns
    -------
    float
        Seconds per call.
    """
    fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def machine_summary() -> str:
    """One line naming Python, numpy, the CPU count and the BLAS thread settings."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    threads = ", ".join(f"{k}={os.environ[k]}" for k in names if k in os.environ)
    return (
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, BLAS threads: {threads or 'library default'}"
    )


def conv_forward_timings(
    batch: int = 64,
    channels_in: int = 1,
    channels_out: int = 20,
    size: int = 28,
    kernel: int = 5,
    loop_batch: int = 2,
    repeat: int = 5,
    dtype: type = np.float32,
    seed: int = 0,
    loops: bool = True,
) -> list[TimingRow]:
    """Time one conv forward pass of a batch in each of the book's forms.

    The forms are ``scalar.conv_forward_loops`` (Eq. (1.3)),
    :func:`mnist_cnn.layers.conv_forward_per_channel` (Eqs. (2.3)/(2.4)),
    :func:`mnist_cnn.layers.conv_forward` (Eq. (3.3)) and
    :func:`mnist_cnn.layers.conv_forward_einsum`. Before timing, every form is
    run on the first ``loop_batch`` images and compared with the loops; a
    mismatch raises ``AssertionError`` (a fast wrong answer is not a result).

    The loops are too slow for the whole batch: they are timed once on
    ``loop_batch`` images and scaled linearly by ``batch / loop_batch`` (the
    work is exactly proportional to N). The data are seeded random numbers of
    the real shape; the time does not depend on the values.

    Parameters
    ----------
    batch : int
        ``N`` of the timed batch (64 in the seed).
    channels_in, channels_out, size, kernel : int
        ``C_in``, ``C_out``, ``H_in = W_in`` and ``K`` (1, 20, 28, 5 in the seed;
        20, 50, 12, 5 for LeNet's second conv).
    loop_batch : int
        Images given to the loop version.
    repeat : int
        Rounds for the vectorised forms (best one kept).
    dtype : numpy float type
        float32 (training) or float64.
    seed : int
        Seed of the random input and weights.
    loops : bool
        If False, skip the loop version; the speed-up is then relative to the
        per-channel form.

    Returns
    -------
    list of TimingRow
        Reference first (loops, or per-channel when ``loops=False``).
    """
    from .scalar import conv_forward_loops  # imported here: only this benchmark needs it

    if loop_batch > batch:
        raise ValueError(f"loop_batch must be <= batch; got {loop_batch} > {batch}")
    rng = np.random.default_rng(seed)
    x = rng.random((batch, channels_in, size, size)).astype(dtype)
    w = (rng.standard_normal((channels_out, channels_in, kernel, kernel)) * 0.1).astype(dtype)
    b = (rng.standard_normal(channels_out) * 0.1).astype(dtype)
    forms: list[tuple[str, Callable[[np.ndarray], np.ndarray]]] = [
        ("per-channel im2col, Eq. (2.4)", lambda a: layers.conv_forward_per_channel(a, w, b)),
        ("channel-parallel im2col, Eq. (3.3)", lambda a: layers.conv_forward(a, w, b)[0]),
        ("tensordot over windows", lambda a: layers.conv_forward_einsum(a, w, b)),
    ]

    # Correctness first, on the sub-batch the loops can afford.
    small = x[:loop_batch]
    reference = conv_forward_loops(small, w, b) if loops else forms[0][1](small)
    tol = 1e-4 if np.dtype(dtype) == np.float32 else 1e-10
    for name, form in forms:
        err = float(np.max(np.abs(form(small) - reference)))
        assert err < tol, f"{name} differs from the reference by {err:.1e}"

    rows: list[tuple[str, float, str]] = []
    if loops:
        seconds = time_call(lambda: conv_forward_loops(small, w, b), repeat=1)
        scale = batch / loop_batch
        rows.append(
            ("loops, Eq. (1.3)", seconds * scale, f"{loop_batch} images timed, scaled x{scale:g}")
        )
    for name, form in forms:
        rows.append((name, time_call(lambda f=form: f(x), repeat=repeat), f"best of {repeat}"))
    reference_seconds = rows[0][1]
    return [TimingRow(n, s * 1e3, reference_seconds / s, note) for n, s, note in rows]


def format_table(rows: list[TimingRow], title: str = "") -> str:
    """Render timing rows as a fixed-width table (ms per batch, speed-up, note)."""
    width = max(len(r.name) for r in rows)
    header = f"{'implementation':<{width}}  {'ms / batch':>11}  {'speed-up':>9}  note"
    lines = [title] if title else []
    lines += [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r.name:<{width}}  {r.ms_per_batch:11.2f}  {r.speedup:8.1f}x  {r.note}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- subcommands


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


@dataclass(frozen=True)
class Benchmark:
    """A subcommand: its help line, its options and what it runs (returns the report)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], str]


#: Subcommands of ``python -m mnist_cnn.bench``; the first one is the default.
BENCHMARKS: dict[str, Benchmark] = {
    "conv": Benchmark(
        help="conv forward per batch: loops vs per-channel vs channel-parallel im2col vs einsum",
        add_arguments=_add_conv_arguments,
        run=_run_conv,
    ),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mnist_cnn.bench",
        description=(
            "Time the book's implementations on this machine. With no subcommand, runs "
            f"'{next(iter(BENCHMARKS))}' (options may follow directly); its defaults are the "
            "seed network: a batch of 64 MNIST-sized images, 20 filters 5x5."
        ),
        epilog="'python -m mnist_cnn.bench SUBCOMMAND --help' lists the options of one benchmark.",
    )
    sub = parser.add_subparsers(dest="what", metavar="SUBCOMMAND")
    for name, bench in BENCHMARKS.items():
        p = sub.add_parser(name, help=bench.help, description=bench.help)
        bench.add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    # No subcommand (only options, or nothing): the default benchmark.
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = [next(iter(BENCHMARKS)), *argv]
    args = parser.parse_args(argv)
    print(BENCHMARKS[args.what].run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
