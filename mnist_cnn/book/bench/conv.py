"""``python -m mnist_cnn.book.bench conv``: the forward convolution in the book's four forms.

What this is: loops (Eq. (1.3)), per-channel im2col (Eqs. (2.3)/(2.4)),
channel-parallel im2col (Eq. (3.3)) and a tensordot over the windows, checked
against each other and then timed on one batch.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_cnn.book.bench.timing import TimingRow, time_call
from mnist_cnn.reference import layers
from mnist_cnn.reference.loops import conv_forward_loops

__all__ = ["conv_forward_timings"]


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

    The forms are :func:`mnist_cnn.reference.loops.conv_forward_loops` (Eq. (1.3)),
    :func:`mnist_cnn.reference.layers.conv_forward_per_channel` (Eqs. (2.3)/(2.4)),
    :func:`mnist_cnn.reference.layers.conv_forward` (Eq. (3.3)) and
    :func:`mnist_cnn.reference.layers.conv_forward_einsum`. Before timing, every form is
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
