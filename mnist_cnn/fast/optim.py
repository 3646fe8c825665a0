"""The momentum update, Eq. (5.1), in cache-sized blocks: the training hot path.

What this is: :class:`BlockedSGDMomentum`, which computes exactly what
:class:`mnist_cnn.train.optim.SGDMomentum` computes -- the same six float
operations per number, in the same order, so the same bits -- but walks each
tensor in blocks of :data:`BLOCK` numbers and does all six operations on a
block before moving on. The readable form makes six passes over each whole
tensor; for ``w_fc1`` (1.44 M numbers, 5.8 MB per array) every pass streams
the weights, velocity, gradient or a full-size scratch array through memory
again. In blocks, the scratch is one small buffer and each block of ``w``,
``v`` and ``g`` is read from memory once and stays in cache for the other
operations: the traffic approaches the floor of five numbers per parameter
(read ``w``, ``g``, ``v``; write ``v``, ``w``) that ``bench train`` prints.
What this is not: another update rule (tested bit-equal to the readable one
in ``tests/test_fast.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

import numpy as np

from ..train.optim import SGDMomentum

__all__ = ["BLOCK", "BlockedSGDMomentum"]

#: Numbers per block: 16,384 float32 are 64 KiB per array, four arrays fit a 512 KiB L2 cache.
BLOCK = 16_384


class BlockedSGDMomentum(SGDMomentum):
    """:class:`mnist_cnn.train.optim.SGDMomentum` with the update done block by block.

    Same parameters, attributes (``params``, ``velocity``, ``steps``) and
    results bit for bit; one scratch buffer of :data:`BLOCK` numbers per dtype
    instead of one full-size scratch array per parameter.
    """

    def __init__(self, params: MutableMapping[str, np.ndarray], momentum: float = 0.9,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, momentum, weight_decay)
        dtypes = {value.dtype for value in params.values()}
        self._scratch = {dtype: np.empty(BLOCK, dtype=dtype) for dtype in dtypes}

    def step(self, grads: Mapping[str, np.ndarray], lr: float) -> None:
        """Apply Eq. (5.1) in place, block by block (see :meth:`SGDMomentum.step`)."""
        mu, lam = self.momentum, self.weight_decay
        for name, w_all in self.params.items():
            w_flat, v_flat = w_all.reshape(-1), self.velocity[name].reshape(-1)
            g_flat = grads["d" + name].reshape(-1)
            buffer = self._scratch[w_all.dtype]
            for start in range(0, w_flat.size, BLOCK):
                w, v, g = (a[start : start + BLOCK] for a in (w_flat, v_flat, g_flat))
                scratch = buffer[: w.size]
                v *= mu                                   # the same operations, in the same
                if lam:                                   # order, as SGDMomentum.step
                    np.multiply(w, lam, out=scratch)
                    scratch += g
                    v += scratch
                else:
                    v += g
                np.multiply(v, lr, out=scratch)
                w -= scratch
        self.steps += 1
