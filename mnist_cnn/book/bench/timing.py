"""Timing helpers shared by the benchmarks: best-of-N wall time and a table.

What this is: :func:`time_call` (the minimum over rounds: noise only adds
time), :class:`TimingRow` and :func:`format_table`.
What this is not: a profiler.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TimingRow", "format_table", "time_call"]


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


def format_table(rows: list[TimingRow], title: str = "") -> str:
    """Render timing rows as a fixed-width table (ms per batch, speed-up, note).

    Parameters
    ----------
    rows : list of TimingRow
        One row per implementation, e.g. from :func:`conv_forward_timings`.
    title : str, optional
        A first line above the header.

    Returns
    -------
    str
        The table, one line per row.
    """
    width = max(len(r.name) for r in rows)
    header = f"{'implementation':<{width}}  {'ms / batch':>11}  {'speed-up':>9}  note"
    lines = [title] if title else []
    lines += [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r.name:<{width}}  {r.ms_per_batch:11.2f}  {r.speedup:8.1f}x  {r.note}")
    return "\n".join(lines)
