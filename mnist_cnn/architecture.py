"""The one source of sizes: the network's hyper-parameters and every shape derived from them.

What this is: :class:`Architecture` (C_in, H, W, C_out, K, S, P, K_p, S_p, D_1,
D_2, checked once when it is made, and the sizes derived from them: H_c, W_c,
H_p, W_p, D_0 and the parameter shapes), the output-size formula, Eq. (0.1),
the parameter counts, Eq. (0.2), and a shape trace that follows a batch through
the network. Every other module takes its sizes from an ``Architecture``; none
types them in.
What this is not: the layers themselves (see :mod:`mnist_cnn.reference`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mnist_cnn.validate import checked, require_positive_int


def _check_output_size(size_in, kernel, stride=1, padding=0) -> None:
    size_in = require_positive_int("size_in", size_in)
    kernel = require_positive_int("kernel", kernel)
    require_positive_int("stride", stride)
    padding = require_positive_int("padding", padding, minimum=0)
    if size_in + 2 * padding < kernel:
        raise ValueError(
            f"kernel {kernel} does not fit into input {size_in} with padding {padding}"
        )


@checked(_check_output_size)
def output_size(size_in: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a sliding window along one axis, Eq. (0.1).

    ``H_out = floor((H_in - K + 2P) / S) + 1``

    Parameters
    ----------
    size_in : int
        Input length ``H_in`` (height or width).
    kernel : int
        Window length ``K``.
    stride : int, default 1
        Step ``S`` between windows.
    padding : int, default 0
        Zeros ``P`` added on each side.

    Returns
    -------
    int
        ``H_out >= 1``.

    Raises
    ------
    ValueError
        If the window does not fit even once into the padded input.

    Notes
    -----
    Checked at the door (``@checked``); ``output_size.unchecked`` is the bare
    formula, for the layers, which have checked their input already.
    """
    return int((size_in - kernel + 2 * padding) // stride + 1)


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
class Architecture:
    """The network's hyper-parameters and the sizes derived from them, Eqs. (0.1)/(0.2).

    conv (C_out filters K x K, stride S, padding P) -> max-pool K_p x K_p,
    stride S_p -> flatten to D_0 -> fc1 (D_1) -> ReLU -> fc2 (D_2) -> softmax,
    on images [C_in, H, W]. The defaults are the seed network on MNIST; the
    values are checked once, here.

    Attributes
    ----------
    C_in, H, W : int
        Input channels, height and width.
    C_out, K, S, P : int
        Convolution filters, kernel size, stride and padding (``P >= 0``).
    K_p, S_p : int
        Pooling window and stride.
    D_1, D_2 : int
        Widths of fc1 and fc2 (classes).
    H_c, W_c, H_p, W_p, D_0 : int
        Derived: conv output, Eq. (1.4); pooled output, Eq. (0.1);
        ``D_0 = C_out H_p W_p``, Eq. (1.6).

    Examples
    --------
    >>> SEED.H_c, SEED.H_p, SEED.D_0
    (24, 12, 2880)
    >>> SEED.replace(P=2).H_c
    28
    """

    C_in: int = 1
    H: int = 28
    W: int = 28
    C_out: int = 20
    K: int = 5
    S: int = 1
    P: int = 0
    K_p: int = 2
    S_p: int = 2
    D_1: int = 500
    D_2: int = 10
    H_c: int = field(init=False, repr=False)
    W_c: int = field(init=False, repr=False)
    H_p: int = field(init=False, repr=False)
    W_p: int = field(init=False, repr=False)
    D_0: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("C_in", "H", "W", "C_out", "K", "S", "K_p", "S_p", "D_1", "D_2"):
            require_positive_int(name, getattr(self, name))
        require_positive_int("P", self.P, minimum=0)
        h_c = output_size(self.H, self.K, self.S, self.P)
        w_c = output_size(self.W, self.K, self.S, self.P)
        h_p, w_p = output_size(h_c, self.K_p, self.S_p), output_size(w_c, self.K_p, self.S_p)
        for name, value in dict(H_c=h_c, W_c=w_c, H_p=h_p, W_p=w_p, D_0=self.C_out * h_p * w_p
                                ).items():
            object.__setattr__(self, name, value)

    def replace(self, **changes: int) -> Architecture:
        """A copy with some hyper-parameters changed, e.g. ``SEED.replace(S=2)``."""
        return dataclasses.replace(self, **changes)

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of every parameter, in network order (the keys of ``init_params``)."""
        return {
            "w_conv": (self.C_out, self.C_in, self.K, self.K),
            "b_conv": (self.C_out,),
            "w_fc1": (self.D_1, self.D_0),
            "b_fc1": (self.D_1,),
            "w_fc2": (self.D_2, self.D_1),
            "b_fc2": (self.D_2,),
        }

    #: Axis names of every parameter, for messages.
    param_layouts = {
        "w_conv": ("C_out", "C_in", "K", "K"),
        "b_conv": ("C_out",),
        "w_fc1": ("D_1", "D_0"),
        "b_fc1": ("D_1",),
        "w_fc2": ("D_2", "D_1"),
        "b_fc2": ("D_2",),
    }


#: The seed network: 1 x 28 x 28 -> conv 20@5x5 -> max-pool 2x2 -> 2880 -> 500 -> 10.
SEED = Architecture()
#: Parameter keys, in network order.
PARAM_NAMES = tuple(SEED.param_shapes)

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


def shape_trace(arch: Architecture = SEED, batch: int = 64) -> list[LayerShape]:
    """Follow a batch through conv -> pool -> reshape -> fc1 -> ReLU -> fc2 -> softmax.

    Every size comes from ``arch`` (Eq. (0.1)) and every count from Eq. (0.2);
    the defaults are the seed network on a batch of 64 MNIST images.

    Parameters
    ----------
    arch : Architecture, default SEED
    batch : int, default 64
        ``N``.

    Returns
    -------
    list of LayerShape
        The input row first, then one row per layer.
    """
    a, n = arch, require_positive_int("batch", batch)
    return [
        LayerShape("input", "MNIST batch", (n, a.C_in, a.H, a.W), 0),
        LayerShape("conv", f"conv {a.C_out}@{a.K}x{a.K}, S={a.S}, P={a.P}",
                   (n, a.C_out, a.H_c, a.W_c), conv_parameter_count(a.C_in, a.C_out, a.K)),
        LayerShape("pool", f"max-pool {a.K_p}x{a.K_p}, S={a.S_p}", (n, a.C_out, a.H_p, a.W_p), 0),
        LayerShape("reshape", "flatten (C-order)", (n, a.D_0), 0),
        LayerShape("fc1", f"fully connected {a.D_0}->{a.D_1}", (n, a.D_1),
                   fc_parameter_count(a.D_0, a.D_1)),
        LayerShape("relu", "ReLU (elementwise)", (n, a.D_1), 0),
        LayerShape("fc2", f"fully connected {a.D_1}->{a.D_2}", (n, a.D_2),
                   fc_parameter_count(a.D_1, a.D_2)),
        LayerShape("softmax", "softmax (per sample)", (n, a.D_2), 0),
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
