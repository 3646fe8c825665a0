"""The momentum update, Eq. (5.1), of one tensor in cache-sized blocks.

What this is: :func:`momentum_update`, the six float operations of
:meth:`mnist_cnn.reference.optim.SGDMomentum.step` in the same order -- so the
same bits -- done block by block. The readable form makes six passes over
each whole tensor; for ``w_fc1`` (1.44 M numbers, 5.8 MB per array) every
pass streams the weights, velocity, gradient or a full-size scratch array
through memory again. In blocks, the scratch is one small buffer and each
block of ``w``, ``v`` and ``g`` is read from memory once and stays in cache
for the other operations: the traffic approaches the floor of five numbers
per parameter (read ``w``, ``g``, ``v``; write ``v``, ``w``) that
``bench train`` prints. Used by :class:`mnist_cnn.fast.optim.BlockedSGDMomentum`
and, on each thread's rows of ``w_fc1``, by :mod:`mnist_cnn.fast.step`.
What this is not: another update rule (tested bit-equal to the readable one
in ``tests/test_fast.py``).
"""

from __future__ import annotations

import numpy as np

from mnist_cnn.validate import checked, require_float_array, require_real, require_writable

__all__ = ["BLOCK", "momentum_update"]

#: Numbers per block: 131,072 float32 are 512 KiB per array, so the blocks of w, v and g stay
#: in the 32 MiB L3 cache. On the seed's training step, larger blocks were faster up to this
#: size (from 16 Ki numbers, the size of a 512 KiB L2 cache, it saved about a tenth of the
#: step): fewer numpy calls, so the step's two threads wait less for each other's turn at the
#: Python interpreter.
BLOCK = 131_072


def _check_update(w, v, g, lr, momentum, weight_decay, scratch) -> None:
    for name, a in (("w", w), ("v", v), ("g", g), ("scratch", scratch)):
        require_float_array(name, a)
    for name, a in (("v", v), ("g", g)):
        if a.shape != w.shape or a.dtype != w.dtype:
            raise ValueError(f"{name} must have w's shape and dtype, {w.dtype} {w.shape}; "
                             f"got {a.dtype} {a.shape}")
    if scratch.ndim != 1 or scratch.size == 0 or scratch.dtype != w.dtype:
        raise ValueError(f"scratch must be a non-empty 1-D {w.dtype} array; got "
                         f"{scratch.dtype} {scratch.shape}")
    for name, a in (("w", w), ("v", v), ("scratch", scratch)):
        require_writable(name, a)
    require_real("lr", lr, positive=True)
    require_real("momentum", momentum, minimum=0)
    require_real("weight_decay", weight_decay, minimum=0)


@checked(_check_update)
def momentum_update(w: np.ndarray, v: np.ndarray, g: np.ndarray, lr: float, momentum: float,
                    weight_decay: float, scratch: np.ndarray) -> None:
    """Eq. (5.1) on one tensor (or a part of it, e.g. some rows) in place, block by block.

    The same six operations, in the same order, as
    :meth:`mnist_cnn.reference.optim.SGDMomentum.step`: the same bits. Any memory
    layout is updated in place: C-contiguous tensors block by block; any other
    (Fortran order, the rows of a Fortran-ordered matrix, a strided view) by the
    same operations on the whole tensor, with one temporary of its size -- never on a
    copy that would then be thrown away.

    Parameters
    ----------
    w, v : numpy.ndarray
        Weights and velocity, same shape and dtype; updated in place (writable).
    g : numpy.ndarray
        ``dL/dw``, same shape and dtype; read, not modified.
    lr, momentum, weight_decay : float
        ``eta_t > 0``, ``mu >= 0`` and ``lambda >= 0``.
    scratch : numpy.ndarray
        1-D, same dtype, writable; its size is the block size.
    """
    mu, lam, block = momentum, weight_decay, scratch.size
    if not (w.flags.c_contiguous and v.flags.c_contiguous and g.flags.c_contiguous):
        # reshape(-1) would copy: update the views themselves, element-wise (same bits).
        _six_operations(w, v, g, np.empty_like(w), lr, mu, lam)
        return
    w_flat, v_flat, g_flat = w.reshape(-1), v.reshape(-1), g.reshape(-1)
    for start in range(0, w_flat.size, block):
        w_b, v_b, g_b = (a[start : start + block] for a in (w_flat, v_flat, g_flat))
        _six_operations(w_b, v_b, g_b, scratch[: w_b.size], lr, mu, lam)


def _six_operations(w, v, g, s, lr, mu, lam) -> None:
    """Eq. (5.1) in place on ``w`` and ``v`` (any views of one shape), ``s`` as scratch.

    The same operations, in the same order, as ``SGDMomentum.step``: the same bits.
    """
    v *= mu
    if lam:
        np.multiply(w, lam, out=s)
        s += g
        v += s
    else:
        v += g
    np.multiply(v, lr, out=s)
    w -= s
