"""The momentum update, Eq. (5.1), of every parameter in cache-sized blocks.

What this is: :class:`BlockedSGDMomentum`, which computes exactly what
:class:`mnist_cnn.reference.optim.SGDMomentum` computes -- the same six float
operations per number, in the same order, so the same bits -- with
:func:`mnist_cnn.fast.update.momentum_update` on each tensor (why blocks:
see there), and which can leave out the tensors that the fast step has
already updated in its threads.
What this is not: another update rule (tested bit-equal to the readable one
in ``tests/test_fast.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping

import numpy as np

from mnist_cnn.fast.update import BLOCK, momentum_update
from mnist_cnn.reference.optim import SGDMomentum

__all__ = ["BLOCK", "BlockedSGDMomentum"]


class BlockedSGDMomentum(SGDMomentum):
    """:class:`mnist_cnn.reference.optim.SGDMomentum` with the update done block by block.

    Same parameters, attributes (``params``, ``velocity``, ``steps``) and
    results bit for bit; one scratch buffer of :data:`BLOCK` numbers per dtype
    instead of one full-size scratch array per parameter.
    """

    def __init__(self, params: MutableMapping[str, np.ndarray], momentum: float = 0.9,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, momentum, weight_decay)
        dtypes = {value.dtype for value in params.values()}
        self._scratch = {dtype: np.empty(BLOCK, dtype=dtype) for dtype in dtypes}

    def step(self, grads: Mapping[str, np.ndarray], lr: float,
             names: Iterable[str] | None = None) -> None:
        """Apply Eq. (5.1) in place, block by block (see :meth:`SGDMomentum.step`).

        Parameters
        ----------
        grads : mapping str -> ndarray
            ``"d" + name`` for every parameter updated.
        lr : float
        names : iterable of str, optional
            Update only these parameters (the fast step updates ``w_fc1`` itself, in
            its threads); default all. The step count grows by one either way.
        """
        for name in self.params if names is None else names:
            w = self.params[name]
            momentum_update(w, self.velocity[name], grads["d" + name], lr, self.momentum,
                            self.weight_decay, self._scratch[w.dtype])
        self.steps += 1
