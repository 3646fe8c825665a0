"""Checks at the door: clear errors for bad input, raised once, where the input enters.

What this is: the small functions that check an array's type, dtype and shape,
a hyper-parameter's value, or a label vector, and raise an error naming the
expected and the actual value; the :func:`checked` decorator that runs such a
check in front of a public function; and :func:`network_inputs`, the one check
of the network's entry points.
What this is not: a schema library. The helpers behind a public function trust
their caller and check nothing (see CONTRIBUTING.md, "Validation at the door").
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np

#: The float dtypes the package computes in: float32 for training, float64 for checks.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: Axis names of an input batch.
IMAGE_LAYOUT = ("N", "C_in", "H_in", "W_in")
#: Axis names of the convolution weights.
CONV_WEIGHT_LAYOUT = ("C_out", "C_in", "K", "K")
#: Axis names of a feature map (conv output, pooling input).
MAP_LAYOUT = ("N", "C", "H", "W")


def checked(check: Callable[..., object]) -> Callable[[Callable], Callable]:
    """Run ``check(*args, **kwargs)`` before the decorated function.

    The decorated function keeps its name, docstring and signature; its bare
    body, without the check, is ``function.unchecked`` for callers that have
    already checked their input (e.g. the network composing its layers).

    Parameters
    ----------
    check : callable
        Takes the function's arguments and raises on bad input.

    Examples
    --------
    >>> def positive(x):
    ...     require_positive_int("x", x)
    >>> @checked(positive)
    ... def double(x):
    ...     return 2 * x
    >>> double(3), double.unchecked(-3)
    (6, -6)
    """

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def at_the_door(*args, **kwargs):
            check(*args, **kwargs)
            return function(*args, **kwargs)

        at_the_door.unchecked = function
        return at_the_door

    return decorate


def require_float_array(name: str, a: object) -> np.ndarray:
    """Return ``a`` if it is a float32 or float64 ndarray, else raise.

    Parameters
    ----------
    name : str
        The argument's name, used in the message.
    a : object
        The value to check.

    Returns
    -------
    numpy.ndarray
        ``a`` itself (no copy).

    Raises
    ------
    TypeError
        If ``a`` is not an ndarray, or its dtype is not float32/float64.
    """
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray; got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must have dtype float32 or float64; got {a.dtype}")
    return a


def require_ndim(name: str, a: np.ndarray, layout: Sequence[str]) -> np.ndarray:
    """Check that ``a`` has one axis per entry of ``layout``.

    Raises
    ------
    ValueError
        ``"x must be 4-D [N, C_in, H, W]; got shape (28, 28)"``.
    """
    if a.ndim != len(layout):
        raise ValueError(
            f"{name} must be {len(layout)}-D [{', '.join(layout)}]; got shape {a.shape}"
        )
    if a.size == 0:
        require_no_empty_axis(name, a, layout)
    return a


def require_no_empty_axis(name: str, a: np.ndarray, layout: Sequence[str]) -> np.ndarray:
    """Every axis of ``a`` has at least one entry: the one rule for empty inputs.

    An empty batch (``N = 0``), no channels, no classes or a zero-sized kernel
    is refused the same way by every door, forward and backward: the loss is a
    mean over ``N`` and a softmax over ``D_2``, so neither exists for an empty axis.

    Raises
    ------
    ValueError
        ``"N must be >= 1; got 0 (x has shape (0, 1, 28, 28))"``.
    """
    for axis, size in zip(layout, a.shape, strict=False):
        if size == 0:
            raise ValueError(f"{axis} must be >= 1; got 0 ({name} has shape {a.shape})")
    return a


def require_shape(
    name: str, a: np.ndarray, expected: Sequence[int | None], layout: Sequence[str]
) -> np.ndarray:
    """Check ``a.shape`` against ``expected``; ``None`` entries match any size.

    Raises
    ------
    ValueError
        ``"b must have shape [C_out] = (20,); got (10,)"``.
    """
    require_ndim(name, a, layout)
    if any(e is not None and e != s for e, s in zip(expected, a.shape, strict=True)):
        shown = ", ".join("*" if e is None else str(e) for e in expected)
        shown = f"({shown},)" if len(expected) == 1 else f"({shown})"
        raise ValueError(
            f"{name} must have shape [{', '.join(layout)}] = {shown}; got {a.shape}"
        )
    return a


def require_array(
    name: str,
    a: object,
    expected: Sequence[int | None],
    layout: Sequence[str],
    dtype: np.dtype | None = None,
) -> np.ndarray:
    """Float array of the expected shape (and dtype, if given), in one check.

    Parameters
    ----------
    name : str
    a : object
    expected : sequence of int or None
        Size of each axis; ``None`` matches any size.
    layout : sequence of str
        Axis names for the message.
    dtype : numpy.dtype, optional
        The dtype ``a`` must share with the other arguments.

    Returns
    -------
    numpy.ndarray
        ``a`` itself.
    """
    if not isinstance(a, np.ndarray) or a.dtype not in FLOAT_DTYPES:
        require_float_array(name, a)
    fits = a.ndim == len(expected)
    for e, s in zip(expected, a.shape, strict=False):  # a plain loop: this runs every step
        fits = fits and (e is None or e == s)
    if not fits:
        require_shape(name, a, expected, layout)
    if a.size == 0:
        require_no_empty_axis(name, a, layout)
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"dtype mismatch: {name} is {a.dtype} but the input is {dtype}")
    return a


def require_same_dtype(**arrays: np.ndarray) -> np.dtype:
    """Check that all arrays share one dtype and return it.

    Mixing float32 and float64 would silently upcast; the layers preserve the
    caller's dtype instead, so a mix is an error.

    Raises
    ------
    TypeError
        ``"dtype mismatch: x is float32 but w is float64"``.
    """
    items = list(arrays.items())
    first_name, first = items[0]
    for other_name, other in items[1:]:
        if other.dtype != first.dtype:
            raise TypeError(
                f"dtype mismatch: {first_name} is {first.dtype} but {other_name} is {other.dtype}"
            )
    return first.dtype


def require_positive_int(name: str, value: object, minimum: int = 1) -> int:
    """Check a hyper-parameter such as K, stride or padding.

    Parameters
    ----------
    name : str
        The parameter's name, used in the message.
    value : object
        The value to check.
    minimum : int, default 1
        The smallest allowed value (0 for padding).

    Returns
    -------
    int
        ``value`` as a Python int.

    Raises
    ------
    TypeError
        If ``value`` is not an int.
    ValueError
        If ``value < minimum``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


def require_real(name: str, value: object, *, minimum: float | None = None,
                 positive: bool = False, finite: bool = True) -> float:
    """Check a real-valued hyper-parameter (a rate, a factor): a number, finite, in range.

    Parameters
    ----------
    name : str
        The parameter's name, used in the message.
    value : object
        The value to check: an int or float (numpy scalars included), not a bool or str.
    minimum : float, optional
        The smallest allowed value.
    positive : bool, default False
        Require ``value > 0``.
    finite : bool, default True
        Refuse nan and inf.

    Returns
    -------
    float
        ``value`` as a Python float.

    Raises
    ------
    TypeError
        ``"lr must be a real number; got str ('0.1')"``.
    ValueError
        ``"lr must be a finite number > 0; got nan"``.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} ({value!r})")
    number = float(value)
    want = ("a finite number" if finite else "a number") + (" > 0" if positive else "") + (
        f" >= {minimum}" if minimum is not None else "")
    if ((finite and not math.isfinite(number)) or (positive and not number > 0)
            or (minimum is not None and not number >= minimum)):
        raise ValueError(f"{name} must be {want}; got {number}")
    return number


def require_mapping(name: str, value: object) -> Mapping:
    """``value`` is a mapping (a dict of named arrays), else a TypeError naming what it is."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of names to arrays (a dict); "
                        f"got {type(value).__name__}")
    return value


def require_generator(name: str, rng: object) -> np.random.Generator:
    """``rng`` is a ``numpy.random.Generator`` (from ``numpy.random.default_rng``)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{name} must be a numpy.random.Generator (numpy.random.default_rng"
                        f"(seed)); got {type(rng).__name__}")
    return rng


def require_float_dtype(name: str, dtype: object) -> np.dtype:
    """``dtype`` names float32 or float64; returns it as a ``numpy.dtype``."""
    try:
        result = np.dtype(dtype)
    except TypeError:  # not a dtype at all ("banana")
        result = None
    # ``is None`` first: ``None in FLOAT_DTYPES`` is True (numpy reads None as float64).
    if result is None or result not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64; got {dtype!r}")
    return result


def require_writable(name: str, a: np.ndarray) -> np.ndarray:
    """``a`` can be updated in place (an optimiser's parameter or velocity)."""
    if not a.flags.writeable:
        raise ValueError(f"{name} must be a writable array (it is updated in place); "
                         "got a read-only one")
    return a


def require_labels(labels: object, n: int | None, classes: int) -> np.ndarray:
    """Class labels: an integer ndarray [N] with values in ``0..classes-1``.

    Parameters
    ----------
    labels : object
    n : int or None
        The batch size ``N`` the labels must match; None for any.
    classes : int
        ``D_2``.

    Returns
    -------
    numpy.ndarray
        ``labels`` itself.
    """
    if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
        got = labels.dtype if isinstance(labels, np.ndarray) else type(labels).__name__
        raise TypeError(f"labels must be an integer numpy.ndarray; got {got}")
    if labels.ndim != 1 or (n is not None and labels.shape[0] != n):
        require_shape("labels", labels, (n,), ("N",))
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"labels must lie in [0, {classes - 1}]; got min {labels.min()}, max {labels.max()}"
        )
    return labels


#: The environment variable that sets :func:`allocation_limit_gib` (default 4 GiB).
MAX_ALLOC_ENV = "MNIST_CNN_MAX_ALLOC_GIB"
DEFAULT_MAX_ALLOC_GIB = 4.0


def allocation_limit_gib() -> float:
    """The largest array a layer may allocate, in GiB: ``$MNIST_CNN_MAX_ALLOC_GIB`` or 4.

    Raises
    ------
    ValueError
        If the variable is set but not a number > 0.
    """
    text = os.environ.get(MAX_ALLOC_ENV, "")
    if not text:
        return DEFAULT_MAX_ALLOC_GIB
    try:
        limit = float(text)
    except ValueError:
        limit = math.nan
    if not (limit > 0 and math.isfinite(limit)):
        raise ValueError(f"{MAX_ALLOC_ENV} must be a number > 0 (GiB); got {text!r}")
    return limit


def require_allocation(what: str, shape: Sequence[int], dtype: np.dtype) -> None:
    """Refuse an array larger than :func:`allocation_limit_gib` before it is allocated.

    The size is computed in Python integers from the validated shape (no
    overflow), so ``padding=10**4`` fails at once with a message instead of
    filling gigabytes for seconds and then raising ``MemoryError``.

    Parameters
    ----------
    what : str
        What would be allocated, e.g. ``"the padded input [N, C_in, H+2P, W+2P]"``.
    shape : sequence of int
    dtype : numpy.dtype

    Raises
    ------
    ValueError
        ``"the im2col matrix ... would allocate 12.5 GiB (shape ...); the limit is
        4 GiB (set MNIST_CNN_MAX_ALLOC_GIB to change it)"``.
    """
    count = 1
    for size in shape:
        count *= int(size)
    gib = count * np.dtype(dtype).itemsize / 2**30
    limit = allocation_limit_gib()
    if gib > limit:
        raise ValueError(
            f"{what} would allocate {gib:.3g} GiB (shape {tuple(int(s) for s in shape)}, "
            f"{np.dtype(dtype)}); the limit is {limit:g} GiB (set {MAX_ALLOC_ENV} to change it)"
        )


def network_inputs(
    params: Mapping[str, np.ndarray], x: object, arch, labels: object = None
) -> None:
    """The network's door: ``x`` and every parameter match ``arch``, one dtype, labels in range.

    Parameters
    ----------
    params : mapping str -> ndarray
        Keys and shapes of ``arch.param_shapes``.
    x : object
        Must be a float array [N, C_in, H, W] of ``arch``.
    arch : mnist_cnn.architecture.Architecture
    labels : object, optional
        If given, integer labels [N] in ``0..D_2-1``.
    """
    require_mapping("params", params)
    require_array("x", x, (None, arch.C_in, arch.H, arch.W), IMAGE_LAYOUT)
    im2col_shape = (x.shape[0], arch.C_in * arch.K * arch.K, arch.H_c * arch.W_c)
    if x.shape[0] * im2col_shape[1] * im2col_shape[2] * x.itemsize > 2**28:  # cheap first
        require_allocation("the im2col matrix [N, C_in*K*K, H_c*W_c]", im2col_shape, x.dtype)
    shapes = arch.param_shapes
    if not params.keys() >= shapes.keys():
        missing = sorted(set(shapes) - set(params))
        raise KeyError(f"params lacks {missing}; expected keys {list(shapes)}")
    for name, shape in shapes.items():
        require_array(name, params[name], shape, arch.param_layouts[name], x.dtype)
    if labels is not None:
        require_labels(labels, x.shape[0], arch.D_2)


def init_args(rng: object, dtype: object, arch) -> np.dtype:
    """The door of ``init_params``: a Generator, a float dtype, parameters that fit the cap.

    Returns
    -------
    numpy.dtype
        ``dtype`` as a numpy dtype.
    """
    require_generator("rng", rng)
    dtype = require_float_dtype("dtype", dtype)
    for name, shape in arch.param_shapes.items():  # drawn in float64, then cast
        require_allocation(f"the parameter {name} {list(arch.param_layouts[name])}", shape,
                           np.float64)
    return dtype


def workspace_args(batch: object, dtype: object, arch, threads: object, chunk: object) -> None:
    """The door of ``mnist_cnn.fast.step.Workspace``: sizes, a float dtype, buffers that fit.

    ``threads=None`` means the default; an explicit ``threads`` must be an int >= 1.
    """
    batch = require_positive_int("batch", batch)
    if threads is not None:
        require_positive_int("threads", threads)
    require_positive_int("chunk", chunk)
    dtype = require_float_dtype("dtype", dtype)
    require_allocation("the workspace's buffer [batch, D_0]", (batch, arch.D_0), dtype)
    require_allocation("the workspace's buffer [D_1, batch]", (arch.D_1, batch), dtype)


def shift_args(rng: object, n: object, max_shift: object) -> None:
    """The door of ``random_shifts``: a Generator, counts >= 0, an array of shifts that fits."""
    require_generator("rng", rng)
    n = require_positive_int("n", n, minimum=0)
    require_positive_int("max_shift", max_shift, minimum=0)
    require_allocation("the shifts [n, 2]", (n, 2), np.int64)


def shift_images_args(x: object, shifts: object) -> None:
    """The door of ``shift_images``: a float batch, integer shifts [N, 2], a padded copy that fits.
    """
    require_ndim("x", require_float_array("x", x), MAP_LAYOUT)
    shifts = np.asarray(shifts)
    if not np.issubdtype(shifts.dtype, np.integer) or shifts.shape != (x.shape[0], 2):
        raise ValueError(f"shifts must be an integer array [N, 2] = ({x.shape[0]}, 2); "
                         f"got {shifts.dtype} {shifts.shape}")
    n, c, h, w = x.shape
    require_allocation("the shifted batch [N, C, H, W]", x.shape, x.dtype)  # before any scan
    s = max(abs(int(shifts.min())), abs(int(shifts.max()))) if shifts.size else 0
    require_allocation("the padded batch [N, C, H+2s, W+2s] (s the largest shift)",
                       (n, c, h + 2 * s, w + 2 * s), x.dtype)


# --------------------------------------------------------------------------- the layers' doors
# One check per layer signature, shared by the loop references and the vectorised layers.


def _fits(name: str, size: int, kernel: int, padding: int) -> None:
    if size + 2 * padding < kernel:
        raise ValueError(f"kernel {kernel} does not fit into {name} {size} with padding {padding}")


def image_args(x: object, padding: int = 0) -> None:
    """``x`` [N, C_in, H_in, W_in] float, ``padding >= 0`` (Eq. (1.2)), a padded copy that fits."""
    require_ndim("x", require_float_array("x", x), IMAGE_LAYOUT)
    require_positive_int("padding", padding, minimum=0)
    n, c, h, w = x.shape
    require_allocation("the padded input [N, C_in, H_in+2P, W_in+2P]",
                       (n, c, h + 2 * padding, w + 2 * padding), x.dtype)


def _output_sizes(x_shape: Sequence[int], kernel: int, stride: int, padding: int):
    return tuple((s + 2 * padding - kernel) // stride + 1 for s in x_shape[2:])


def conv_args(x: object, w: object, b: object = None, stride: int = 1, padding: int = 0) -> None:
    """Inputs of a convolution, Eq. (1.3): shapes agree, one dtype, the kernel fits."""
    image_args(x, padding)
    require_ndim("w", require_float_array("w", w), CONV_WEIGHT_LAYOUT)
    c_out, k = w.shape[0], w.shape[2]
    if w.shape[3] != k:
        raise ValueError(f"w must have a square kernel [C_out, C_in, K, K]; got {w.shape}")
    require_shape("w", w, (c_out, x.shape[1], k, k), CONV_WEIGHT_LAYOUT)  # C_in of x
    require_same_dtype(x=x, w=w)
    if b is not None:
        require_array("b", b, (c_out,), ("C_out",), x.dtype)
    require_positive_int("stride", stride)
    _fits("input", min(x.shape[2:]), k, padding)
    h_c, w_c = _output_sizes(x.shape, k, stride, padding)
    require_allocation("the im2col matrix [N, C_in*K*K, H_c*W_c]",
                       (x.shape[0], x.shape[1] * k * k, h_c * w_c), x.dtype)
    require_allocation("the output [N, C_out, H_c, W_c]", (x.shape[0], c_out, h_c, w_c),
                       x.dtype)


def conv_backward_args(
    delta: object, x: object, w: object, stride: int = 1, padding: int = 0
) -> None:
    """Inputs of the convolution's backward loops, Eqs. (4.12)-(4.14)."""
    conv_args(x, w, None, stride, padding)
    h_c, w_c = ((s - w.shape[2] + 2 * padding) // stride + 1 for s in x.shape[2:])
    require_array("delta", delta, (x.shape[0], w.shape[0], h_c, w_c),
                  ("N", "C_out", "H_c", "W_c"), x.dtype)


def pool_args(z: object, pool: int = 2, stride: int | None = None) -> None:
    """Inputs of max-pooling, Eq. (1.5): a float map [N, C, H, W], a window that fits."""
    require_ndim("z", require_float_array("z", z), MAP_LAYOUT)
    require_positive_int("pool", pool)
    if stride is not None:
        require_positive_int("stride", stride)
    _fits("input", min(z.shape[2:]), pool, 0)
    h_p, w_p = _output_sizes(z.shape, pool, pool if stride is None else stride, 0)
    require_allocation("the pooling windows [N, C, K_p*K_p, H_p*W_p]",
                       (z.shape[0], z.shape[1], pool * pool, h_p * w_p), z.dtype)


def pool_backward_args(
    delta_pool: object, z: object, pool: int = 2, stride: int | None = None
) -> None:
    """Inputs of the pooling backward loop, Eq. (4.11)."""
    pool_args(z, pool, stride)
    s = pool if stride is None else stride
    h_p, w_p = ((size - pool) // s + 1 for size in z.shape[2:])
    require_array("delta_pool", delta_pool, (z.shape[0], z.shape[1], h_p, w_p),
                  ("N", "C", "H_p", "W_p"), z.dtype)


def fast_pool_backward_args(dout: object, argmax: object, z_shape: object, pool: int = 2) -> None:
    """Inputs of the tiling pooling's backward pass: ``z_shape`` pools to ``dout``'s shape."""
    if not (isinstance(z_shape, Sequence) and len(z_shape) == 4):
        raise ValueError(f"z_shape must be (N, C, H, W); got {z_shape!r}")
    for axis, size in zip(MAP_LAYOUT, z_shape, strict=True):
        require_positive_int(f"z_shape {axis}", size)
    require_positive_int("pool", pool)
    _fits("input", min(z_shape[2:]), pool, 0)
    pooled = (z_shape[0], z_shape[1], z_shape[2] // pool, z_shape[3] // pool)
    require_array("dout", dout, pooled, ("N", "C", "H_p", "W_p"))
    if (not isinstance(argmax, np.ndarray) or argmax.shape != pooled
            or not np.issubdtype(argmax.dtype, np.integer)):
        got = (f"{argmax.dtype} {argmax.shape}" if isinstance(argmax, np.ndarray)
               else type(argmax).__name__)
        raise ValueError(f"argmax must be an integer array of shape {pooled}; got {got}")
    if argmax.size and (argmax.min() < 0 or argmax.max() >= pool * pool):
        raise ValueError(f"argmax must lie in [0, {pool * pool - 1}] (offsets in a "
                         f"{pool}x{pool} window); got {argmax.min()}..{argmax.max()}")
    require_allocation("the gradient [N, C, H, W]", z_shape, dout.dtype)


def fc_args(a: object, w: object, b: object = None) -> None:
    """Inputs of a fully connected layer, Eq. (1.8): ``a`` [N, D_in], ``w`` [D_out, D_in]."""
    require_ndim("a", require_float_array("a", a), ("N", "D_in"))
    require_ndim("w", require_float_array("w", w), ("D_out", "D_in"))
    require_array("w", w, (w.shape[0], a.shape[1]), ("D_out", "D_in"), a.dtype)
    if b is not None:
        require_array("b", b, (w.shape[0],), ("D_out",), a.dtype)
    require_allocation("the output [N, D_out]", (a.shape[0], w.shape[0]), a.dtype)


def fc_backward_args(delta: object, a: object, w: object) -> None:
    """Inputs of the fully connected backward loops, Eqs. (4.5)/(4.6)."""
    fc_args(a, w)
    require_array("delta", delta, (a.shape[0], w.shape[0]), ("N", "D_out"), a.dtype)


def matrix_args(z: object, layout: Sequence[str] = ("N", "D")) -> None:
    """A float matrix [N, D] (ReLU, softmax inputs), whose output of its shape fits the cap."""
    require_ndim("z", require_float_array("z", z), layout)
    require_allocation(f"the output [{', '.join(layout)}]", z.shape, z.dtype)


def elementwise_args(z: object) -> None:
    """A float array of any shape (an element-wise layer's input); its output fits the cap."""
    require_float_array("z", z)
    require_allocation("the output (the shape of z)", z.shape, z.dtype)


def one_hot_args(labels: object, classes: int = 10, dtype: object = np.float64) -> None:
    """Labels [N] in ``0..classes-1``, a float dtype, and a target matrix [N, classes] that fits."""
    classes = require_positive_int("classes", classes)
    dtype = require_float_dtype("dtype", dtype)
    if isinstance(labels, np.ndarray) and labels.ndim == 1:  # the cap before a scan of labels
        require_allocation("the one-hot targets [N, D_2]", (labels.shape[0], classes), dtype)
    require_labels(labels, None, classes)


def _probability_values(y: np.ndarray) -> None:
    """Every row of ``y`` is a distribution: entries in [0, 1] that sum to 1 (to rounding)."""
    if not np.isfinite(y).all() or y.min() < 0 or y.max() > 1:
        raise ValueError(f"y must hold probabilities in [0, 1] (softmax outputs); got values "
                         f"from {y.min()} to {y.max()}")
    sums = y.sum(axis=1)
    tolerance = math.sqrt(np.finfo(y.dtype).eps)
    worst = int(np.abs(sums - 1).argmax())
    if abs(sums[worst] - 1) > tolerance:
        raise ValueError(f"each row of y must sum to 1 (softmax outputs); row {worst} sums to "
                         f"{sums[worst]:.6g}")


def probability_args(y: object, labels: object) -> None:
    """Softmax outputs [N, D_2] and their labels (Eqs. (4.1), (4.3))."""
    require_ndim("y", require_float_array("y", y), ("N", "D_2"))
    require_allocation("a copy of y [N, D_2]", y.shape, y.dtype)  # the backward's delta
    require_labels(labels, y.shape[0], y.shape[1])
    _probability_values(y)


def same_shape_args(name: str, a: object, b: np.ndarray) -> None:
    """``a`` is a float array of ``b``'s shape and dtype (a delta against its forward value)."""
    require_array(name, a, b.shape, tuple(f"d{k}" for k in range(b.ndim)), b.dtype)
