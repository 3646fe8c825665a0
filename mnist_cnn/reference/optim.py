"""Stochastic gradient descent with momentum and weight decay, and the learning-rate schedule.

What this is: the update rule of chapter 5, Eq. (5.1), applied in place to a
dict of numpy parameters, and the warm-up + cosine schedule of Eq. (5.2).
The update is PyTorch's ``torch.optim.SGD`` (``dampening=0``,
``nesterov=False``), so the same hyper-parameters mean the same thing in both:

    ``g_t = dL/dw + lambda w_{t-1}``          (weight decay, as an L2 term ``lambda/2 ||w||^2``)
    ``nu_t = mu nu_{t-1} + g_t``,  ``nu_0 = 0``  (momentum buffer, the velocity nu)
    ``w_t = w_{t-1} - eta_t nu_t``               (Eq. (5.1))

What this is not: a general optimiser library (no Adam, no parameter groups),
and not the training loop (see :mod:`mnist_cnn.train`).

Speed: the update touches 1.4 million float32 numbers per step, so it runs
in place, into buffers allocated once (the velocity and one scratch array per
parameter): no array is created per step, and float32 stays float32. This is
the readable form; training runs the same operations block by block
(:class:`mnist_cnn.fast.optim.BlockedSGDMomentum`, tested bit-equal).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, MutableMapping

import numpy as np

from mnist_cnn.validate import (
    checked,
    require_float_array,
    require_mapping,
    require_positive_int,
    require_real,
    require_writable,
)

__all__ = ["SGDMomentum", "check_hyperparameters", "learning_rate"]


def check_hyperparameters(lr: float, momentum: float, weight_decay: float) -> None:
    """The one check of the optimiser's hyper-parameters (used by ``TrainConfig`` and below).

    Raises
    ------
    TypeError
        If one of them is not a real number (a str, a bool, None).
    ValueError
        Unless ``lr`` is finite and > 0, ``momentum`` in [0, 1) and
        ``weight_decay`` finite and >= 0.
    """
    require_real("lr", lr, positive=True)
    require_real("momentum", momentum)
    require_real("weight_decay", weight_decay)
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1); got {momentum}")
    if not (weight_decay >= 0 and math.isfinite(weight_decay)):
        raise ValueError(f"weight_decay must be a finite number >= 0; got {weight_decay}")


class SGDMomentum:
    """SGD with momentum and (coupled) weight decay, in place, Eq. (5.1).

    Parameters
    ----------
    params : mutable mapping str -> ndarray
        The parameters, updated in place by :meth:`step` (e.g. from
        :func:`mnist_cnn.reference.network.init_params`). float32 or float64.
    momentum : float, default 0.9
        ``mu``, in [0, 1).
    weight_decay : float, default 0.0
        ``lambda >= 0``; applied to every parameter (weights and biases), as in
        ``torch.optim.SGD(weight_decay=...)``.

    Attributes
    ----------
    velocity : dict str -> ndarray
        ``v`` per parameter, same shape and dtype, zero at the start.
    steps : int
        Number of updates made.

    Examples
    --------
    >>> w = {"w": np.array([1.0, -2.0])}
    >>> opt = SGDMomentum(w, momentum=0.5, weight_decay=0.1)
    >>> opt.step({"dw": np.array([0.5, 0.5])}, lr=0.1)   # v = g + 0.1 w = [0.6, 0.3]
    >>> w["w"]
    array([ 0.94, -2.03])
    """

    def __init__(
        self,
        params: MutableMapping[str, np.ndarray],
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ) -> None:
        check_hyperparameters(1.0, momentum, weight_decay)  # the rate comes with each step
        for name, value in require_mapping("params", params).items():
            require_writable(name, require_float_array(name, value))
        self.params = params
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self.velocity = {name: np.zeros_like(value) for name, value in params.items()}
        self._scratch = {name: np.empty_like(value) for name, value in params.items()}
        self.steps = 0

    def check_step(self, grads: Mapping[str, np.ndarray] | None, lr: float,
                   names: Iterable[str] | None = None) -> list[str]:
        """The door of :meth:`step`: everything an update needs, checked before anything moves.

        So a step is all or nothing: a read-only parameter, a parameter replaced by
        one of another shape or dtype, a missing or mis-shaped gradient or a bad rate
        is refused before any velocity or weight changes.

        Parameters
        ----------
        grads : mapping str -> ndarray, or None
            ``"d" + name`` for each parameter updated; None checks the state only.
        lr : float
            ``eta_t``: a finite number > 0.
        names : iterable of str, optional
            The parameters to update; default all.

        Returns
        -------
        list of str
            The names to update.

        Raises
        ------
        TypeError, ValueError, KeyError
            Naming the parameter or gradient, what was expected and what was found.
        """
        # Cheap tests first; the helpers of mnist_cnn.validate only to raise (this runs
        # every step).
        if not (isinstance(lr, (float, int)) and not isinstance(lr, bool)
                and 0 < lr < math.inf):
            require_real("lr", lr, positive=True)
        names = list(self.params) if names is None else list(names)
        if grads is not None and not isinstance(grads, Mapping):
            require_mapping("grads", grads)
        for name in names:
            if name not in self.velocity:
                raise KeyError(f"no parameter {name!r}; the optimiser has {list(self.velocity)}")
            w, v = self.params.get(name), self.velocity[name]
            if not isinstance(w, np.ndarray) or w.shape != v.shape or w.dtype != v.dtype:
                got = (f"{w.dtype} {w.shape}" if isinstance(w, np.ndarray)
                       else type(w).__name__)
                raise ValueError(f"params[{name!r}] must stay the {v.dtype} array of shape "
                                 f"{v.shape} the optimiser was built on; got {got}")
            if not (w.flags.writeable and v.flags.writeable):
                require_writable(f"params[{name!r}]", w)
                require_writable(f"velocity[{name!r}]", v)
            if grads is None:
                continue
            if "d" + name not in grads:
                raise KeyError(f"grads lacks 'd{name}' (the gradient of {name}); it has "
                               f"{sorted(grads)}")
            g = grads["d" + name]
            if not isinstance(g, np.ndarray) or g.shape != v.shape or g.dtype != v.dtype:
                got = f"{g.dtype} {g.shape}" if isinstance(g, np.ndarray) else type(g).__name__
                raise ValueError(f"grads['d{name}'] must be a {v.dtype} array of shape "
                                 f"{v.shape} (that of {name}); got {got}")
        return names

    def step(self, grads: Mapping[str, np.ndarray], lr: float) -> None:
        """Apply one update, Eq. (5.1), to every parameter in place: all of it or nothing.

        Parameters
        ----------
        grads : mapping str -> ndarray
            ``"d" + name`` for every parameter ``name`` (the keys of
            :func:`mnist_cnn.reference.network.loss_and_grads`), same shape and dtype as
            the parameter. They are read, not modified.
        lr : float
            ``eta_t > 0`` for this step (e.g. from :func:`learning_rate`).

        Raises
        ------
        TypeError, ValueError, KeyError
            From :meth:`check_step`, before any number changes.
        """
        self.check_step(grads, lr)
        mu, lam = self.momentum, self.weight_decay
        for name, w in self.params.items():
            g = grads["d" + name]
            v, scratch = self.velocity[name], self._scratch[name]
            v *= mu                                   # v = mu v + g
            if lam:
                np.multiply(w, lam, out=scratch)      # g = dL/dw + lambda w
                scratch += g
                v += scratch
            else:
                v += g
            np.multiply(v, lr, out=scratch)           # w = w - eta v
            w -= scratch
        self.steps += 1

    def export_state(self) -> dict[str, object]:
        """The state a checkpoint needs: copies of the velocity, and the step count.

        Returns
        -------
        dict
            ``{"velocity": {name: ndarray}, "steps": int}``; the arrays are copies.
        """
        return {"velocity": {name: v.copy() for name, v in self.velocity.items()},
                "steps": self.steps}

    def import_state(self, velocity: Mapping[str, np.ndarray], steps: int) -> None:
        """Continue from a checkpoint: copy ``velocity`` into the buffers, set the step count.

        Parameters
        ----------
        velocity : mapping str -> ndarray
            One array per parameter, of its shape (e.g. from
            :func:`mnist_cnn.train.checkpoint.load_checkpoint`, which checked them).
        steps : int
            ``>= 0``.

        Raises
        ------
        TypeError, ValueError, KeyError
            Before anything is copied, if a velocity is missing, not an array of its
            parameter's shape and dtype, not finite, or ``steps`` is not an int >= 0.
        """
        require_mapping("velocity", velocity)
        steps = require_positive_int("steps", steps, minimum=0)
        for name, v in self.velocity.items():
            if name not in velocity:
                raise KeyError(f"velocity lacks {name!r}; expected {list(self.velocity)}")
            given = velocity[name]
            if (not isinstance(given, np.ndarray) or given.shape != v.shape
                    or given.dtype != v.dtype):
                got = (f"{given.dtype} {given.shape}" if isinstance(given, np.ndarray)
                       else type(given).__name__)
                raise ValueError(f"velocity[{name!r}] must be a {v.dtype} array of shape "
                                 f"{v.shape}; got {got}")
            if not np.isfinite(given).all():
                raise ValueError(f"velocity[{name!r}] must be finite; got nan or inf in it")
        for name, v in self.velocity.items():
            np.copyto(v, velocity[name])
        self.steps = steps


def _check_schedule(step, total_steps, base_lr, warmup_steps=0) -> None:
    require_real("base_lr", base_lr, positive=True)
    total_steps = require_positive_int("total_steps", total_steps)
    warmup_steps = require_positive_int("warmup_steps", warmup_steps, minimum=0)
    step = require_positive_int("step", step, minimum=0)
    if step >= total_steps:
        raise ValueError(f"step must be < total_steps = {total_steps}; got {step}")
    if warmup_steps >= total_steps:
        raise ValueError(f"warmup_steps must be < total_steps = {total_steps}; got {warmup_steps}")


@checked(_check_schedule)
def learning_rate(step: int, total_steps: int, base_lr: float, warmup_steps: int = 0) -> float:
    """Linear warm-up, then cosine decay to 0, Eq. (5.2).

    ``eta_t = eta_0 (t + 1) / T_w`` for ``t < T_w``, and
    ``eta_t = eta_0 (1 + cos(pi (t - T_w) / (T - T_w))) / 2`` for ``T_w <= t < T``,
    with ``t`` the 0-based step, ``T`` the total number of steps and ``T_w``
    the warm-up steps. The first step after the warm-up uses ``eta_0``; the last
    one a small positive rate.

    Parameters
    ----------
    step : int
        ``t``, ``0 <= t < T``.
    total_steps : int
        ``T >= 1``.
    base_lr : float
        ``eta_0 > 0``, the peak rate.
    warmup_steps : int, default 0
        ``T_w``, ``0 <= T_w < T``.

    Returns
    -------
    float
    """
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))
