"""Input validation shared by every layer: clear errors instead of silent broadcasts.

What this is: small functions that check an array's type, dtype, rank and shape
and raise an error naming the expected and the actual value.
What this is not: a general schema library; it knows only what the layers need.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


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

    Parameters
    ----------
    name : str
        The argument's name.
    a : numpy.ndarray
        The array to check.
    layout : sequence of str
        Axis names, e.g. ``("N", "C_in", "H", "W")``.

    Raises
    ------
    ValueError
        ``"x must be 4-D [N, C_in, H, W]; got shape (28, 28)"``.
    """
    if a.ndim != len(layout):
        raise ValueError(
            f"{name} must be {len(layout)}-D [{', '.join(layout)}]; got shape {a.shape}"
        )
    return a


def require_shape(
    name: str, a: np.ndarray, expected: Sequence[int | None], layout: Sequence[str]
) -> np.ndarray:
    """Check ``a.shape`` against ``expected``; ``None`` entries match any size.

    Parameters
    ----------
    name : str
        The argument's name.
    a : numpy.ndarray
        The array to check.
    expected : sequence of int or None
        The expected size of each axis.
    layout : sequence of str
        Axis names for the message.

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
