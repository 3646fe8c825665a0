"""The process around the computation: BLAS threads, peak memory, the environment.

What this is: small helpers the training command and the benchmarks share,
built on threadpoolctl and ``/proc``. What this is not: anything the maths
depends on.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

__all__ = ["blas_threads", "environment", "machine_summary", "peak_rss_mib", "set_blas_threads"]


def _numpy_blas() -> dict | None:
    """threadpoolctl's record of the BLAS library numpy calls, or None if there is none.

    Other BLAS libraries may be loaded too (scipy's, PyTorch's); numpy's is the one
    that lives inside numpy's own folder (``numpy.libs``, ``numpy/.dylibs``) or, for a
    numpy linked against a system BLAS, the first one loaded.
    """
    blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
    numpy_dir = Path(np.__file__).resolve().parent
    bundled = {numpy_dir.parent / "numpy.libs", numpy_dir / ".dylibs"}
    for info in blas:
        if Path(info["filepath"]).resolve().parent in bundled:
            return info
    return blas[0] if blas else None


def blas_threads() -> int | None:
    """Threads numpy's BLAS uses for matrix products, or None if that cannot be read."""
    info = _numpy_blas()
    return None if info is None else int(info["num_threads"])


def set_blas_threads(threads: int) -> int:
    """Set the threads of every BLAS library in this process (like ``OPENBLAS_NUM_THREADS``).

    Uses threadpoolctl, so numpy's and scipy's BLAS get the same limit.

    Parameters
    ----------
    threads : int
        ``>= 1``.

    Returns
    -------
    int
        The number now in effect for numpy's BLAS.

    Raises
    ------
    ValueError
        If ``threads < 1``.
    RuntimeError
        If no BLAS library is loaded that threadpoolctl can control.
    """
    threads = int(threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1; got {threads}")
    if _numpy_blas() is None:
        raise RuntimeError(
            "cannot find numpy's BLAS to set its threads; set OPENBLAS_NUM_THREADS "
            "(or MKL_NUM_THREADS) before starting Python instead"
        )
    threadpool_limits(limits=threads, user_api="blas")  # stays in force: not used as a context
    return blas_threads() or threads


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB.

    On Linux this is ``VmHWM`` from ``/proc/self/status``, the high-water mark of
    the process's own memory. ``resource.getrusage(...).ru_maxrss`` is the
    fallback elsewhere; on Linux it is not used because it survives ``exec``,
    so a process started from a large parent (say, from pytest) would report
    the parent's peak.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)  # macOS: bytes; Linux: KiB


def environment() -> dict[str, Any]:
    """Python, numpy, platform, cores and BLAS threads: what a timing or a run depends on.

    Returns
    -------
    dict
        JSON-ready.
    """
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "blas_threads": blas_threads(),
    }


def machine_summary() -> str:
    """One line naming Python, numpy, the CPU count and the BLAS thread settings."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    threads = ", ".join(f"{k}={os.environ[k]}" for k in names if k in os.environ)
    return (
        f"python {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, BLAS threads: {threads or 'library default'}"
    )
