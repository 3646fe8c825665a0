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

__all__ = ["BLOCK", "BlockedSGDMomentum", "check_fast_step"]


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

        All or nothing: :meth:`SGDMomentum.check_step` checks every parameter,
        velocity and gradient before the first number changes.

        Parameters
        ----------
        grads : mapping str -> ndarray
            ``"d" + name`` for every parameter updated.
        lr : float
        names : iterable of str, optional
            Update only these parameters (the fast step updates ``w_fc1`` itself, in
            its threads); default all. The step count grows by one either way.
        """
        self.update_unchecked(grads, lr, self.check_step(grads, lr, names))

    def update_unchecked(self, grads: Mapping[str, np.ndarray], lr: float,
                         names: Iterable[str]) -> None:
        """:meth:`step`'s body, for a caller that has run :meth:`check_step` (the fast step)."""
        for name in names:
            w = self.params[name]
            momentum_update.unchecked(w, self.velocity[name], grads["d" + name], lr,
                                      self.momentum, self.weight_decay, self._scratch[w.dtype])
        self.steps += 1


def check_fast_step(params: Mapping[str, np.ndarray], optimizer: object, lr: float) -> list[str]:
    """The optimiser's part of the door of :func:`mnist_cnn.fast.step.fast_train_step`.

    The step updates ``params["w_fc1"]`` inside its threads and the rest through
    ``optimizer``; both must be the same arrays, writable, with their velocity, and
    ``lr`` a finite number > 0 -- all checked before the step starts, so a refused
    step leaves weights and velocity as they were.

    Returns
    -------
    list of str
        The parameter names, in the optimiser's order.
    """
    if not isinstance(optimizer, BlockedSGDMomentum):
        raise TypeError(f"optimizer must be a BlockedSGDMomentum; got {type(optimizer).__name__}")
    names = optimizer.check_step(None, lr)
    for name in names:
        if params.get(name) is not optimizer.params[name]:
            raise ValueError(f"params[{name!r}] must be the array the optimiser was built on "
                             "(BlockedSGDMomentum(params)); got another one")
    return names
