"""The training step on the hot path: threads of our own, buffers kept between steps.

What this is: :func:`fast_train_step` (and :func:`loss_and_grads_fast`, the
same step without the update), the chain of
:func:`mnist_cnn.reference.network.loss_and_grads` (``need_dx=False``) and
:meth:`mnist_cnn.reference.optim.SGDMomentum.step`, organised for speed:

* **The work is split between T threads of our own, and BLAS runs one thread
  inside each.** numpy's element-wise operations (im2col's copy, pooling, the
  routing of Eq. (4.11), the update of Eq. (5.1)) run on one core only; while
  they run, the second BLAS thread has nothing to do. Split by hand, every
  part of the step runs on all cores, in four phases:

  1. the convolution and pooling by *images* (thread t takes images ``B_t``);
  2. fc1, ReLU and fc2 by *rows of* ``W_fc1`` (thread t owns rows ``R_t``,
     i.e. outputs of fc1), so that each thread reads only its share of the
     5.8 MB matrix: its rows of ``z_fc1^T`` (Eq. (2.7)), their ReLU (2.8), and
     its share of fc2's sum over the 500 inputs;
  3. in the backward pass, by the same rows: ``delta_fc1`` (Eqs. (4.6),
     (4.7)), ``dW_fc2`` (Eq. (4.5)) and ``db_fc1`` for its rows, its share of
     ``delta_flat = delta_fc1 W_fc1`` (Eq. (4.9)), then
     ``dW_fc1[R_t] = delta_fc1[:, R_t]^T z_flat`` (Eq. (4.8)) and the update of
     ``W_fc1[R_t]`` and its velocity (Eq. (5.1)) while those rows are in cache;
  4. the conv's backward pass by images again (Eqs. (4.10)-(4.13)).

  The softmax, the loss and the small tensors' update run between the
  parallel parts, on the calling thread.
* **Convolution and pooling are one product** on window-ordered im2col
  columns (:mod:`mnist_cnn.fast.convpool`), the bias inside the product.
* **fc1's side is stored feature by feature**, ``[D_1, N]`` (the transposes of
  the book's ``[N, D_1]``): each thread's rows are then contiguous, and BLAS
  runs ``W_fc1[R_t] z_flat^T`` faster than ``z_flat W_fc1[R_t]^T`` (chapter 5 times both).
* **No array is allocated per step** for the large products: they write into
  the :class:`Workspace`.

Each thread always gets the same share, and partial sums are added in a fixed
order, so a run is deterministic and a resumed run reproduces the
uninterrupted one bit for bit. Tested equal to the reference chain to
rounding (``tests/test_fast.py``): the same sums, added in another order.
What this is not: a second network: the equations are the book's, the
softmax and the loss are the reference's bare bodies, and the input is
checked once at the door, as in the reference.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Mapping

import numpy as np
from threadpoolctl import ThreadpoolController

from mnist_cnn import validate
from mnist_cnn.architecture import SEED, Architecture
from mnist_cnn.fast import optim as fast_optim
from mnist_cnn.fast.convpool import CHUNK, conv_pool_backward, conv_pool_forward, scratch_size
from mnist_cnn.fast.update import BLOCK, momentum_update
from mnist_cnn.reference import layers as L
from mnist_cnn.tools.runtime import blas_threads

__all__ = ["PHASES", "Workspace", "fast_train_step", "loss_and_grads_fast"]

#: Parameters that the threads update inside the step; the optimiser does the rest.
UPDATED_IN_THREADS = ("w_fc1",)

#: The step's parallel phases, in order (the keys of ``Workspace.phase_seconds``).
PHASES = ("conv + pool forward, by images", "fc1 forward, by rows",
          "fc1 backward + update, by rows", "conv + pool backward, by images")


def _shares(size: int, parts: int) -> list[slice]:
    """``range(size)`` cut into ``parts`` contiguous slices as equal as can be."""
    edges = np.linspace(0, size, parts + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


class _Helper:
    """One helper thread that runs the tasks put in its queue, answering in another queue.

    Two C-implemented ``queue.SimpleQueue`` s hand a task over in about 25 us, a
    third of what ``concurrent.futures.ThreadPoolExecutor`` takes; the step hands
    over four tasks per thread.
    """

    def __init__(self, index: int) -> None:
        self.tasks: queue.SimpleQueue = queue.SimpleQueue()
        self.results: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._serve, args=(index,), daemon=True,
                         name=f"mnist-cnn-step-{index}").start()

    def _serve(self, index: int) -> None:
        while True:
            task = self.tasks.get()
            if task is None:
                return
            try:
                self.results.put((True, task(index)))
            except BaseException as exc:  # noqa: BLE001  (re-raised on the caller's thread)
                self.results.put((False, exc))
            # Hold no task while waiting: a task's closure holds the workspace, which must
            # stay collectable (its finaliser is what stops this thread).
            del task


def _stop(helpers: list[_Helper]) -> None:
    for helper in helpers:
        helper.tasks.put(None)


class Workspace:
    """Threads and buffers of :func:`fast_train_step` for batches of up to ``batch`` images.

    Parameters
    ----------
    batch : int
        Largest ``N``; smaller batches (the last of an epoch) use the first part.
    dtype : numpy float type, default float32
    arch : Architecture, default SEED
        Needs ``S_p = K_p`` (windows that tile the map), as the seed has.
    threads : int, optional
        ``T``; default the number of threads numpy's BLAS was set to (``--threads``),
        else the number of CPUs.
    chunk : int, default CHUNK
        Images per conv product (:mod:`mnist_cnn.fast.convpool`).

    Attributes
    ----------
    z_flat : ndarray [batch, D_0]
    z_fc1_t, z_relu_t, delta_fc1_t : ndarray [D_1, batch]
        fc1's values, ReLU and deltas, transposed (feature by feature).
    delta_flat : ndarray [batch, D_0]
    dw_fc1 : ndarray [D_1, D_0]
        ``dL/dW_fc1``, Eq. (4.8), of the last :func:`loss_and_grads_fast`.
    db_fc1 : ndarray [D_1]
    dw_fc2 : ndarray [D_2, D_1]
    rows : list of slice
        ``R_t``: the rows of ``W_fc1`` (outputs of fc1) thread t owns.
    phase_seconds : dict str -> float
        Wall seconds spent in each parallel phase so far (``bench`` reads and clears it).
    """

    def __init__(self, batch: int, dtype=np.float32, arch: Architecture = SEED,
                 threads: int | None = None, chunk: int = CHUNK) -> None:
        validate.workspace_args(batch, dtype, arch, threads, chunk)
        self.batch = validate.require_positive_int("batch", batch)
        self.threads = validate.require_positive_int(
            "threads", threads or blas_threads() or os.cpu_count() or 1)
        self.chunk = validate.require_positive_int("chunk", chunk)
        if arch.S_p != arch.K_p:
            raise ValueError(f"the fast step needs pooling windows that tile the map (S_p = K_p);"
                             f" got K_p = {arch.K_p}, S_p = {arch.S_p}")
        self.dtype = np.dtype(dtype)
        self.arch = arch
        t = self.threads
        self.z_flat = np.empty((batch, arch.D_0), dtype=self.dtype)
        # fc1's side feature by feature ([D_1, N], the transposes of the book's [N, D_1]):
        # then each thread's rows R_t are contiguous, and BLAS runs the forward product
        # W_fc1[R_t] z_flat^T faster than z_flat W_fc1[R_t]^T (chapter 5 times both).
        self.z_fc1_t = np.empty((arch.D_1, batch), dtype=self.dtype)
        self.z_relu_t = np.empty((arch.D_1, batch), dtype=self.dtype)
        self.delta_fc1_t = np.empty((arch.D_1, batch), dtype=self.dtype)
        self.db_fc1 = np.empty(arch.D_1, dtype=self.dtype)
        self.dw_fc2 = np.empty((arch.D_2, arch.D_1), dtype=self.dtype)
        self.delta_flat = np.empty((batch, arch.D_0), dtype=self.dtype)
        self.dw_fc1 = np.empty((arch.D_1, arch.D_0), dtype=self.dtype)
        self.rows = _shares(arch.D_1, t)
        # Per thread: its share of delta_flat (Eq. (4.9)), one chunk's im2col and conv
        # products, and the update's scratch block.
        self.delta_shares = [np.empty((batch, arch.D_0), dtype=self.dtype) for _ in range(t)]
        self.fc2_shares = [np.empty((arch.D_2, batch), dtype=self.dtype) for _ in range(t)]
        size = scratch_size(arch.C_in, arch.C_out, arch.K, arch.S, arch.K_p,
                            min(chunk, batch), arch.H_p * arch.W_p)
        self.conv_scratch = [np.empty(size, dtype=self.dtype) for _ in range(t)]
        self.update_scratch = [np.empty(BLOCK, dtype=self.dtype) for _ in range(t)]
        self.phase_seconds: dict[str, float] = {}
        self._image_shares: dict[int, list[slice]] = {}
        self._helpers = [_Helper(i) for i in range(1, t)]
        weakref.finalize(self, _stop, self._helpers)  # the helper threads end with the workspace
        self._blas = ThreadpoolController().select(user_api="blas")

    def one_blas_thread(self):
        """A context in which BLAS runs on the calling thread only (one inside each of ours)."""
        return self._blas.limit(limits=1)

    def images(self, n: int) -> list[slice]:
        """``B_t``: the images of a batch of ``n`` that thread t takes."""
        shares = self._image_shares.get(n)
        if shares is None:  # computed once per batch size: this is asked in every phase
            shares = self._image_shares[n] = _shares(n, self.threads)
        return shares

    def run(self, task: Callable[[int], object], phase: str) -> list:
        """``[task(0), ..., task(T-1)]``, each on its own thread (task 0 on the caller's).

        The wall time is added to ``phase_seconds[phase]``.
        """
        start = time.perf_counter()
        for helper in self._helpers:
            helper.tasks.put(task)
        try:
            first = task(0)
        finally:  # collect every helper's answer, even if task 0 failed: the queues stay in step
            rest = [helper.results.get() for helper in self._helpers]
        results = [first]
        for ok, value in rest:
            if not ok:
                raise value
            results.append(value)
        self.phase_seconds[phase] = (self.phase_seconds.get(phase, 0.0)
                                     + time.perf_counter() - start)
        return results


def _forward(params, x, ws: Workspace, route: bool = True):
    """Conv and pool by images; fc1, ReLU and fc2's shares by rows; the rest here.

    Returns ``y`` [N, D_2] and, if ``route``, the conv caches of the backward pass.
    """
    arch, n = ws.arch, x.shape[0]
    z_flat, z_fc1_t, z_relu_t = ws.z_flat[:n], ws.z_fc1_t[:, :n], ws.z_relu_t[:, :n]
    w_fc1, b_fc1, w_fc2 = params["w_fc1"], params["b_fc1"], params["w_fc2"]

    def images(t: int):
        b = ws.images(n)[t]
        pooled, cache = conv_pool_forward(x[b], params["w_conv"], params["b_conv"], arch.S,
                                          arch.P, arch.K_p, ws.chunk, ws.conv_scratch[t], route)
        # Flattened in the book's (c, h, w) order, Eq. (1.6), where fc1 reads it.
        np.copyto(z_flat[b].reshape(-1, arch.C_out, arch.H_p * arch.W_p),
                  pooled.transpose(0, 2, 1))
        return cache

    def rows(t: int) -> None:  # by rows: each thread reads only its share of W_fc1
        r = ws.rows[t]
        np.matmul(w_fc1[r], z_flat.T, out=z_fc1_t[r])                         # (2.7)^T
        z_fc1_t[r] += b_fc1[r, None]
        np.maximum(z_fc1_t[r], 0, out=z_relu_t[r])                            # (2.8)
        # fc2's sum over the D_1 inputs, Eq. (2.7), split the same way: thread t's share.
        np.matmul(w_fc2[:, r], z_relu_t[r], out=ws.fc2_shares[t][:, :n])

    conv_caches = ws.run(images, PHASES[0])
    ws.run(rows, PHASES[1])
    z_fc2 = ws.fc2_shares[0][:, :n].T + params["b_fc2"]
    for share in ws.fc2_shares[1:]:
        z_fc2 += share[:, :n].T
    y = L.softmax.unchecked(z_fc2)                                            # (1.12)
    return y, conv_caches


def _step(params, x, labels, ws: Workspace, update: Callable | None):
    """Forward, backward and (if ``update``) fc1's update in the threads; see the module."""
    arch, n = ws.arch, x.shape[0]
    y, conv_caches = _forward(params, x, ws)
    loss = L.cross_entropy.unchecked(y, labels)                               # (4.1)
    delta_fc2 = L.softmax_cross_entropy_backward.unchecked(y, labels)         # (4.3)
    db_fc2 = delta_fc2.sum(axis=0)                                            # (4.5)
    z_flat, z_fc1_t, z_relu_t = ws.z_flat[:n], ws.z_fc1_t[:, :n], ws.z_relu_t[:, :n]
    w_fc1, w_fc2 = params["w_fc1"], params["w_fc2"]
    delta_fc1_t, dw_fc2, db_fc1 = ws.delta_fc1_t[:, :n], ws.dw_fc2, ws.db_fc1

    def rows(t: int) -> None:
        r = ws.rows[t]
        np.matmul(delta_fc2.T, z_relu_t[r].T, out=dw_fc2[:, r])               # (4.5)
        np.matmul(w_fc2[:, r].T, delta_fc2.T, out=delta_fc1_t[r])             # (4.6)^T
        delta_fc1_t[r] *= z_fc1_t[r] > 0                                      # (4.7)
        np.sum(delta_fc1_t[r], axis=1, out=db_fc1[r])                         # (4.8)
        np.matmul(delta_fc1_t[r].T, w_fc1[r], out=ws.delta_shares[t][:n])     # (4.9), a share
        np.matmul(delta_fc1_t[r], z_flat, out=ws.dw_fc1[r])                   # (4.8)
        if update is not None:  # the old W_fc1[R_t] is no longer needed: Eq. (5.1)
            update(t, r)

    ws.run(rows, PHASES[2])
    delta_flat = ws.delta_flat[:n]

    def images(t: int):
        b = ws.images(n)[t]
        shares = [share[b] for share in ws.delta_shares]  # Eq. (4.9)'s shares, in order
        if len(shares) == 1:
            np.copyto(delta_flat[b], shares[0])
        else:
            np.add(shares[0], shares[1], out=delta_flat[b])
        for share in shares[2:]:
            delta_flat[b] += share
        delta_pool = delta_flat[b].reshape(-1, arch.C_out, arch.H_p * arch.W_p)  # (4.10)
        return conv_pool_backward(delta_pool.transpose(0, 2, 1), conv_caches[t],
                                  ws.conv_scratch[t])                          # (4.11)-(4.13)

    conv_grads = ws.run(images, PHASES[3])
    dw_conv, db_conv = (np.copy(g) for g in conv_grads[0])
    for dw, db in conv_grads[1:]:
        dw_conv += dw
        db_conv += db
    grads = dict(dw_conv=dw_conv, db_conv=db_conv, dw_fc1=ws.dw_fc1, db_fc1=db_fc1,
                 dw_fc2=dw_fc2, db_fc2=db_fc2)
    return loss, grads, y


def _check_step(params, x, labels, ws: Workspace) -> None:
    if not isinstance(ws, Workspace):
        raise TypeError(f"ws must be a Workspace; got {type(ws).__name__}")
    validate.network_inputs(params, x, ws.arch, labels)
    if x.shape[0] > ws.batch or x.dtype != ws.dtype:
        raise ValueError(f"x must have at most {ws.batch} images of {ws.dtype}; "
                         f"got {x.shape[0]} of {x.dtype}")


def loss_and_grads_fast(
    params: Mapping[str, np.ndarray], x: np.ndarray, labels: np.ndarray, ws: Workspace
) -> tuple[np.floating, dict[str, np.ndarray], np.ndarray]:
    """Loss and gradients of one training step, Eqs. (4.1)-(4.13), on the hot path.

    Parameters
    ----------
    params : mapping str -> ndarray
        As from :func:`mnist_cnn.reference.network.init_params`, dtype ``ws.dtype``.
    x : ndarray, shape [N, C_in, H, W], N <= ``ws.batch``
    labels : ndarray of int, shape [N]
    ws : Workspace

    Returns
    -------
    loss : numpy scalar
        Eq. (4.1).
    grads : dict str -> ndarray
        ``dw_conv, db_conv, dw_fc1, db_fc1, dw_fc2, db_fc2``; ``dw_fc1`` is ``ws.dw_fc1``.
    y : ndarray [N, D_2]
        The softmax output (for the accuracy of the batch).
    """
    _check_step(params, x, labels, ws)
    with ws.one_blas_thread():
        return _step(params, x, labels, ws, None)


def fast_train_step(params: dict[str, np.ndarray], optimizer, x: np.ndarray,
                    labels: np.ndarray, lr: float, ws: Workspace) -> tuple[np.floating, np.ndarray]:
    """One SGD step, Eqs. (4.1)-(4.13) and (5.1), with ``W_fc1`` updated inside the threads.

    Parameters
    ----------
    params : dict str -> ndarray
        Updated in place.
    optimizer : mnist_cnn.fast.optim.BlockedSGDMomentum
        Built on ``params``: its velocity, ``momentum`` and ``weight_decay``.
    x : ndarray, shape [N, C_in, H, W], N <= ``ws.batch``
    labels : ndarray of int, shape [N]
    lr : float
        ``eta_t``.
    ws : Workspace

    Returns
    -------
    loss : numpy scalar
        Eq. (4.1) on this batch, before the update.
    y : ndarray [N, D_2]
        The softmax output, before the update.
    """
    _check_step(params, x, labels, ws)
    names = fast_optim.check_fast_step(params, optimizer, lr)  # all or nothing, from here
    w_fc1, v_fc1 = params["w_fc1"], optimizer.velocity["w_fc1"]

    def update(t: int, r: slice) -> None:
        momentum_update.unchecked(w_fc1[r], v_fc1[r], ws.dw_fc1[r], lr, optimizer.momentum,
                        optimizer.weight_decay, ws.update_scratch[t])

    with ws.one_blas_thread():
        loss, grads, y = _step(params, x, labels, ws, update)
    optimizer.update_unchecked(grads, lr, [name for name in names
                                           if name not in UPDATED_IN_THREADS])
    return loss, y
