"""Shapes and parameter counts of the seed network, computed, never typed in.

What this is: the output-size formula, Eq. (0.1), the parameter counts,
Eq. (0.2), and a shape trace that follows a batch through the network for any
batch size, image size, kernel, stride and padding.
What this is not: the layers themselves (see ``scalar`` and ``layers``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .checks import require_positive_int


def output_size(size_in: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a sliding window along one axis, Eq. (0.1).

    ``S_out = floor((S_in - K + 2P) / S) + 1``

    Parameters
    ----------
    size_in : int
        Input length ``S_in`` (height or width).
    kernel : int
        Window length ``K``.
    stride : int, default 1
        Step ``S`` between windows.
    padding : int, default 0
        Zeros ``P`` added on each side.

    Returns
    -------
    int
        ``S_out >= 1``.

    Raises
    ------
    ValueError
        If the window does not fit even once into the padded input.
    """
    size_in = require_positive_int("size_in", size_in)
    kernel = require_positive_int("kernel", kernel)
    stride = require_positive_int("stride", stride)
    padding = require_positive_int("padding", padding, minimum=0)
    if size_in + 2 * padding < kernel:
        raise ValueError(
            f"kernel {kernel} does not fit into input {size_in} with padding {padding}"
        )
    return (size_in - kernel + 2 * padding) // stride + 1


def conv_parameter_count(c_in: int, c_out: int, kernel: int) -> int:
    """Weights plus biases of a convolution, Eq. (0.2): ``C_out * (C_in*K*K + 1)``.

    Parameters
    ----------
    c_in, c_out, kernel : int
        ``C_in``, ``C_out`` and ``K``; the weights are [C_out, C_in, K, K], the bias [C_out].

    Returns
    -------
    int
    """
    return c_out * (c_in * kernel * kernel + 1)


def fc_parameter_count(d_in: int, d_out: int) -> int:
    """Weights plus biases of a fully connected layer, Eq. (0.2): ``D_out * (D_in + 1)``.

    Parameters
    ----------
    d_in, d_out : int
        ``D_in`` and ``D_out``; the weights are [D_out, D_in], the bias [D_out].

    Returns
    -------
    int
    """
    return d_out * (d_in + 1)


@dataclass(frozen=True)
class LayerShape:
    """One row of the shape trace.

    Attributes
    ----------
    name : str
        Layer name as used in the book (``conv``, ``pool``, ...).
    operation : str
        Short description, e.g. ``"conv 20@5x5, S=1, P=0"``.
    shape : tuple of int
        Output shape of the layer for the traced batch.
    parameters : int
        Number of trainable parameters of the layer.
    """

    name: str
    operation: str
    shape: tuple[int, ...]
    parameters: int


def shape_trace(
    batch: int = 64,
    in_channels: int = 1,
    height: int = 28,
    width: int | None = None,
    conv_channels: int = 20,
    kernel: int = 5,
    stride: int = 1,
    padding: int = 0,
    pool: int = 2,
    pool_stride: int | None = None,
    hidden: int = 500,
    classes: int = 10,
) -> list[LayerShape]:
    """Follow a batch through conv -> pool -> reshape -> fc1 -> ReLU -> fc2 -> softmax.

    Every size comes from Eq. (0.1) and every count from Eq. (0.2); the defaults
    are the seed network on a batch of 64 MNIST images.

    Parameters
    ----------
    batch, in_channels, height : int
        Input ``N``, ``C_in`` and ``H``.
    width : int, optional
        Input ``W``; defaults to ``height``.
    conv_channels, kernel, stride, padding : int
        Convolution ``C_out``, ``K``, ``S`` and ``P``.
    pool : int
        Pooling window ``K_p``.
    pool_stride : int, optional
        Pooling stride ``S_p``; defaults to ``pool``.
    hidden, classes : int
        Widths of fc1 and fc2.

    Returns
    -------
    list of LayerShape
        The input row first, then one row per layer.
    """
    width = height if width is None else width
    pool_stride = pool if pool_stride is None else pool_stride
    h_conv = output_size(height, kernel, stride, padding)
    w_conv = output_size(width, kernel, stride, padding)
    h_pool = output_size(h_conv, pool, pool_stride)
    w_pool = output_size(w_conv, pool, pool_stride)
    flat = conv_channels * h_pool * w_pool
    return [
        LayerShape("input", "MNIST batch", (batch, in_channels, height, width), 0),
        LayerShape(
            "conv",
            f"conv {conv_channels}@{kernel}x{kernel}, S={stride}, P={padding}",
            (batch, conv_channels, h_conv, w_conv),
            conv_parameter_count(in_channels, conv_channels, kernel),
        ),
        LayerShape(
            "pool",
            f"max-pool {pool}x{pool}, S={pool_stride}",
            (batch, conv_channels, h_pool, w_pool),
            0,
        ),
        LayerShape("reshape", "flatten (C-order)", (batch, flat), 0),
        LayerShape("fc1", f"fully connected {flat}->{hidden}", (batch, hidden),
                   fc_parameter_count(flat, hidden)),
        LayerShape("relu", "ReLU (elementwise)", (batch, hidden), 0),
        LayerShape("fc2", f"fully connected {hidden}->{classes}", (batch, classes),
                   fc_parameter_count(hidden, classes)),
        LayerShape("softmax", "softmax (per sample)", (batch, classes), 0),
    ]


def total_parameters(rows: list[LayerShape]) -> int:
    """Sum of the ``parameters`` column of a shape trace, Eq. (0.2) summed over layers.

    Parameters
    ----------
    rows : list of LayerShape
        Output of :func:`shape_trace`.

    Returns
    -------
    int
    """
    return sum(row.parameters for row in rows)


def format_shape_trace(rows: list[LayerShape]) -> str:
    """Render a shape trace as a fixed-width text table with a total line.

    Parameters
    ----------
    rows : list of LayerShape
        Output of :func:`shape_trace`.

    Returns
    -------
    str
        One line per layer: name, operation, output shape, parameter count.
    """
    header = f"{'layer':<8} {'operation':<28} {'output shape':<20} {'parameters':>12}"
    lines = [header, "-" * len(header)]
    for row in rows:
        shape = " x ".join(str(s) for s in row.shape)
        lines.append(f"{row.name:<8} {row.operation:<28} {shape:<20} {row.parameters:>12,}")
    lines.append("-" * len(header))
    lines.append(f"{'total':<8} {'':<28} {'':<20} {total_parameters(rows):>12,}")
    return "\n".join(lines)
