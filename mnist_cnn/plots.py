"""Small plotting helpers for the notebooks: digits, filters, feature maps, im2col, timings.

What this is: one function per kind of picture the book draws, and the book's one figure
style (:data:`BOOK_STYLE`, applied when this module is imported). Each function builds a
matplotlib figure (through pyplot, so that ``plt.show()`` in a notebook displays it) and
returns it; none of them calls ``plt.show()`` or saves files.
What this is not: a plotting library. Layout choices are the book's, and only matplotlib
is used.

The style is made for a projector and for the HTML book's text column: figures at most
:data:`MAX_WIDTH` inches wide at 150 dpi (about 900 px, shown at their natural size, so a
12 pt label is 12 pt on the page), text of 12 pt or more, constrained layout (titles never
overlap), and a colourbar with symmetric limits on every diverging map.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mnist_cnn.architecture import output_size
from mnist_cnn.validate import require_ndim

__all__ = [
    "BOOK_STYLE",
    "MAX_WIDTH",
    "diverging",
    "show_maps",
    "use_book_style",
    "show_confusion_matrix",
    "show_digits",
    "show_feature_maps",
    "show_filters",
    "show_im2col",
    "show_learning_curves",
    "show_lr_schedule",
    "show_mistakes",
    "show_gradient_rules",
    "show_network",
    "show_probabilities",
    "show_pool_routing",
    "show_timings",
]


MAX_WIDTH = 6.0
"""Widest figure, in inches: 900 px at 150 dpi (plus a margin), within the text column of
the HTML book at 1280 px (944 px)."""

BOOK_STYLE = {
    "figure.dpi": 150,
    "savefig.dpi": 150,
    "figure.figsize": (MAX_WIDTH, 3.8),
    "figure.constrained_layout.use": True,
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "figure.titlesize": 14,
    "image.interpolation": "nearest",
}
"""The book's figure style (matplotlib rcParams): large text, 150 dpi, no overlaps."""


def use_book_style() -> None:
    """Apply :data:`BOOK_STYLE` to matplotlib (done once when this module is imported)."""
    plt.rcParams.update(BOOK_STYLE)


use_book_style()


def diverging(ax, image: np.ndarray, limit: float | None = None, cmap: str = "RdBu_r",
              colorbar: bool = True, location: str = "right", **kwargs):
    """Draw ``image`` on a diverging map centred on 0, limits ``[-limit, limit]``, with a colourbar.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    image : numpy.ndarray, shape [H, W]
    limit : float, optional
        Default: ``max |image|`` (1 for an all-zero image).
    cmap : str
        A diverging colour map (white at 0).
    colorbar : bool
        Attach a colourbar to ``ax``.
    location : str
        Where the colourbar goes (``"right"``, ``"bottom"``).

    Returns
    -------
    matplotlib.image.AxesImage
    """
    if limit is None:
        limit = float(np.abs(image).max()) or 1.0
    drawn = ax.imshow(image, cmap=cmap, vmin=-limit, vmax=limit, **kwargs)
    if colorbar:
        ax.figure.colorbar(drawn, ax=ax, shrink=0.85, location=location)
    return drawn


def show_maps(panels: Sequence[tuple], ncols: int = 3, title: str | None = None,
              cell: float = 2.0) -> Figure:
    """A few labelled maps side by side, each with the colour scale it needs.

    Parameters
    ----------
    panels : sequence of (image, title, kind)
        ``image`` [H, W]; ``kind`` is ``"digit"`` (grey, 0..1), ``"diverging"`` (centred
        on 0, symmetric limits, own colourbar) or ``"sequential"`` (viridis, own colourbar).
    ncols : int
        Panels per row (at most as many as fit in :data:`MAX_WIDTH`).
    title : str, optional
    cell : float
        Height of one row in inches.

    Returns
    -------
    matplotlib.figure.Figure
    """
    ncols = max(1, min(ncols, len(panels)))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(MAX_WIDTH, (cell + 0.6) * nrows + 0.5),
                             squeeze=False, layout="constrained")
    for ax, (image, label, kind) in zip(axes.flat, panels, strict=False):
        if kind == "digit":
            ax.imshow(image, cmap="gray_r", vmin=0, vmax=1)
        elif kind == "diverging":  # colourbars below, so that titles have the full width
            diverging(ax, image, location="bottom")
        elif kind == "sequential":
            fig.colorbar(ax.imshow(image, cmap="viridis"), ax=ax, shrink=0.85, location="bottom")
        else:
            raise ValueError(f"kind must be 'digit', 'diverging' or 'sequential'; got {kind!r}")
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, wrap=True)
    return fig


def _grid(count: int, ncols: int, cell: float = 1.2, title: str | None = None,
          extra_width: float = 0.0):
    """A grid of square axes with ticks off; the unused axes are hidden.

    ``ncols`` is reduced until the grid (plus ``extra_width`` inches, e.g. for a colourbar)
    fits in :data:`MAX_WIDTH`.
    """
    ncols = max(1, min(ncols, count, int((MAX_WIDTH - extra_width) // cell)))
    nrows = math.ceil(count / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(cell * ncols + extra_width, cell * nrows + (0.5 if title else 0)),
        squeeze=False, layout="constrained",
    )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, wrap=True)
    return fig, axes.flat


def _digit_stack(images, count: str) -> np.ndarray:
    """``images`` as [count, H, W]: a channel axis of 1 is dropped, anything else refused."""
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[:, 0]
    require_ndim("images", images, (count, "H", "W"))
    return images


def show_digits(
    images: np.ndarray,
    labels: Sequence[int] | np.ndarray | None = None,
    ncols: int = 8,
    title: str | None = None,
) -> Figure:
    """Draw a row (or grid) of digits.

    Parameters
    ----------
    images : numpy.ndarray, shape [N, 1, H, W] or [N, H, W]
        Pixel values in [0, 1] (drawn black on white).
    labels : sequence of int, optional
        One label per image, shown above it.
    ncols : int
        Images per row.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = _digit_stack(images, "N")
    cell = 1.0 if len(images) > 1 else 2.4  # one digit alone is drawn larger
    fig, axes = _grid(len(images), ncols, cell=cell if labels is None else cell + 0.15,
                      title=title)
    for k, ax in zip(range(len(images)), axes, strict=False):
        ax.imshow(images[k], cmap="gray_r", vmin=0, vmax=1)
        if labels is not None:
            ax.set_title(str(int(labels[k])))
    return fig


def show_filters(
    w: np.ndarray, channel: int = 0, ncols: int = 5, title: str | None = None
) -> Figure:
    """Draw the K x K filters ``w[o, channel]`` for every output channel ``o``.

    A diverging colour map centred on 0 (red > 0, blue < 0), one shared scale with its
    colourbar, so that the filters can be compared with each other.

    Parameters
    ----------
    w : numpy.ndarray, shape [C_out, C_in, K, K]
    channel : int
        The input channel ``c`` (0-based) to draw.
    ncols : int
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_ndim("w", w, ("C_out", "C_in", "K", "K"))
    limit = float(np.abs(w[:, channel]).max()) or 1.0
    if title is None:  # the panels carry the bare number: "o=11" overlaps at slide size
        title = f"filters o = 1..{w.shape[0]}"
    fig, axes = _grid(w.shape[0], ncols, cell=1.0, title=title, extra_width=0.9)
    axes = list(axes)
    for o, ax in zip(range(w.shape[0]), axes, strict=False):
        drawn = diverging(ax, w[o, channel], limit, colorbar=False)
        ax.set_title(f"{o + 1}")
    fig.colorbar(drawn, ax=axes, shrink=0.8)
    return fig


def show_feature_maps(
    z: np.ndarray, ncols: int = 5, title: str | None = None, cmap: str = "RdBu_r"
) -> Figure:
    """Draw the feature maps of one image, one panel per channel.

    Parameters
    ----------
    z : numpy.ndarray, shape [C, H, W]
        E.g. ``z_conv[0]`` [20, 24, 24] or ``z_pool[0]`` [20, 12, 12].
    ncols : int
    title : str, optional
    cmap : str
        Diverging by default, centred on 0 with one scale (and colourbar) for all maps.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_ndim("z", z, ("C", "H", "W"))
    limit = float(np.abs(z).max()) or 1.0
    fig, axes = _grid(z.shape[0], ncols, cell=1.0, title=title, extra_width=0.9)
    axes = list(axes)
    for o, ax in zip(range(z.shape[0]), axes, strict=False):
        drawn = diverging(ax, z[o], limit, cmap=cmap, colorbar=False)
        ax.set_title(f"o={o + 1}")
    fig.colorbar(drawn, ax=axes, shrink=0.8)
    return fig


def show_im2col(
    x_img: np.ndarray, X: np.ndarray, column: int, stride: int = 1, padding: int = 0
) -> Figure:
    """The digit, its im2col matrix with one column highlighted, and that column as a patch.

    Column ``column`` (0-based; ``(m-1)W_c + l`` in 1-based maths) of
    ``X = X_c`` [K*K, H_c*W_c] (Eq. (2.1)) holds the K x K patch whose top-left
    corner is at ``((m-1)S + 1 - P, (l-1)S + 1 - P)`` of the image; the three
    panels make that visible.

    Parameters
    ----------
    x_img : numpy.ndarray, shape [H_in, W_in]
        One channel of one image.
    X : numpy.ndarray, shape [K*K, H_c*W_c]
        Its im2col matrix.
    column : int
        Column to highlight, ``0 <= column < H_c*W_c``.
    stride, padding : int
        As used to build ``X``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_ndim("x_img", x_img, ("H_in", "W_in"))
    require_ndim("X", X, ("K*K", "H_c*W_c"))
    K = math.isqrt(X.shape[0])
    if K * K != X.shape[0]:
        raise ValueError(f"X must have K*K rows; got {X.shape[0]}")
    W_c = output_size(x_img.shape[1], K, stride, padding)  # Eq. (1.4)
    if not 0 <= column < X.shape[1]:
        raise ValueError(f"column must be in [0, {X.shape[1]}); got {column}")
    m, l = divmod(column, W_c)
    top, left = m * stride - padding, l * stride - padding

    fig = plt.figure(figsize=(MAX_WIDTH, 8.2), layout="constrained")
    grid = fig.add_gridspec(3, 2, height_ratios=[1.3, 1, 1])
    ax_img = fig.add_subplot(grid[0, 0])
    ax_patch = fig.add_subplot(grid[0, 1])
    ax_mat = fig.add_subplot(grid[1, :])
    ax_zoom = fig.add_subplot(grid[2, :])
    red = {"fill": False, "edgecolor": "tab:red", "linewidth": 2}

    ax_img.imshow(x_img, cmap="gray_r", vmin=0, vmax=1)
    ax_img.add_patch(Rectangle((left - 0.5, top - 0.5), K, K, **red))
    ax_img.set_title(
        f"image {x_img.shape[0]}x{x_img.shape[1]},\npatch at (m, l) = ({m + 1}, {l + 1})"
    )

    ax_mat.imshow(X, cmap="gray_r", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax_mat.axvline(column, color="tab:red", linewidth=1)
    ax_mat.set_title(f"X_c [{X.shape[0]} x {X.shape[1]}], column {column + 1} in red")
    ax_mat.set_ylabel("row (i-1)K + j")

    # A zoom on the columns around the highlighted one, where single columns are visible.
    lo = max(0, column - 12)
    hi = min(X.shape[1], lo + 25)
    ax_zoom.imshow(X[:, lo:hi], cmap="gray_r", vmin=0, vmax=1, aspect="auto",
                   interpolation="nearest", extent=(lo + 0.5, hi + 0.5, X.shape[0] - 0.5, -0.5))
    ax_zoom.add_patch(Rectangle((column + 0.5, -0.5), 1, X.shape[0], **red))
    ax_zoom.set_title(f"zoom: columns {lo + 1}..{hi}")
    ax_zoom.set_xlabel("column (m-1)W_c + l: one per output position")
    ax_zoom.set_ylabel("row (i-1)K + j")

    ax_patch.imshow(X[:, column].reshape(K, K), cmap="gray_r", vmin=0, vmax=1)
    ax_patch.set_title(f"column {column + 1}\nfolded to {K}x{K}")
    for ax in (ax_img, ax_patch):
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def show_pool_routing(z_map: np.ndarray, argmax: np.ndarray, pool: int, stride: int | None = None,
                      title: str | None = None) -> Figure:
    """One feature map with its pooling windows and the entry each window routes to.

    Parameters
    ----------
    z_map : numpy.ndarray, shape [H, W]
        One channel of one image, e.g. ``z_conv[0, 0]``.
    argmax : numpy.ndarray of int, shape [H_p, W_p]
        The routing from the pooling cache (row-major offset ``i*K_p + j``).
    pool : int
        ``K_p``.
    stride : int, optional
        ``S_p``; defaults to ``pool``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_ndim("z_map", z_map, ("H", "W"))
    require_ndim("argmax", argmax, ("H_p", "W_p"))
    stride = pool if stride is None else stride
    fig, ax = plt.subplots(figsize=(5.6, 5.6), layout="constrained")
    diverging(ax, z_map)
    p, q = np.indices(argmax.shape)
    i, j = np.divmod(argmax, pool)
    ax.scatter((q * stride + j).ravel(), (p * stride + i).ravel(), s=12, c="k", marker="o",
               label="argmax of its window")
    for pp in range(argmax.shape[0] + 1):  # window edges (exact for S_p = K_p)
        ax.axhline(pp * stride - 0.5, color="0.6", linewidth=0.5)
    for qq in range(argmax.shape[1] + 1):
        ax.axvline(qq * stride - 0.5, color="0.6", linewidth=0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02), frameon=False)
    if title:
        ax.set_title(title)
    return fig


def show_timings(rows, title: str | None = None) -> Figure:
    """Horizontal bar chart of milliseconds per batch, on a log scale.

    Parameters
    ----------
    rows : sequence of mnist_cnn.book.bench.TimingRow
        As returned by :func:`mnist_cnn.book.bench.conv_forward_timings`.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = list(rows)
    fig, ax = plt.subplots(figsize=(MAX_WIDTH, 0.6 * len(rows) + 1.4), layout="constrained")
    names = [r.name for r in rows][::-1]
    ms = [r.ms_per_batch for r in rows][::-1]
    bars = ax.barh(names, ms, color="tab:blue")
    ax.set_xscale("log")
    ax.set_xlabel("ms per batch (log scale)")
    for bar, r in zip(bars, rows[::-1], strict=True):
        shown = f"{r.ms_per_batch:,.0f}" if r.ms_per_batch >= 100 else f"{r.ms_per_batch:.3g}"
        speedup = f"{r.speedup:,.0f}" if r.speedup >= 10 else f"{r.speedup:.2g}"
        ax.text(bar.get_width() * 1.15, bar.get_y() + bar.get_height() / 2,
                f"{shown} ms ({speedup}x)", va="center")
    # Bars start at the left edge of a log axis: put it well below the fastest time.
    ax.set_xlim(left=min(ms) / 5, right=max(ms) * 400)
    if title:
        ax.set_title(title, wrap=True)
    return fig


def show_learning_curves(curve: Sequence[dict], epochs: Sequence[dict] = (),
                         title: str | None = None) -> Figure:
    """Loss and accuracy against epochs, for training and validation.

    Parameters
    ----------
    curve : sequence of dict
        Points of ``mnist_cnn.train.train(..., curve_every=k)``: keys ``epoch``,
        ``train_loss``, ``train_acc`` (means over the last ``k`` steps) and,
        optionally, ``val_loss``, ``val_acc``.
    epochs : sequence of dict, optional
        Per-epoch records (``train(...).metrics["epochs"]``); their ``val_loss``
        and ``val_acc`` (whole validation split) are drawn as large dots at the
        end of each epoch.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Two panels, one above the other: cross-entropy (log scale), accuracy in percent.
    """
    fig, (ax_loss, ax_acc) = plt.subplots(2, 1, figsize=(MAX_WIDTH, 7), sharex=True,
                                          layout="constrained")
    t = [p["epoch"] for p in curve]
    ax_loss.plot(t, [p["train_loss"] for p in curve], "o-", ms=3, label="train (running mean)")
    ax_acc.plot(t, [100 * p["train_acc"] for p in curve], "o-", ms=3,
                label="train (running mean)")
    if curve and "val_loss" in curve[0]:
        ax_loss.plot(t, [p["val_loss"] for p in curve], "s-", ms=3, label="validation")
        ax_acc.plot(t, [100 * p["val_acc"] for p in curve], "s-", ms=3, label="validation")
    ends = [(float(e["epoch"]), e) for e in epochs if "val_loss" in e]
    if ends:
        ax_loss.plot([x for x, _ in ends], [e["val_loss"] for _, e in ends], "k*", ms=10,
                     label="validation, whole split")
        ax_acc.plot([x for x, _ in ends], [100 * e["val_acc"] for _, e in ends], "k*", ms=10,
                    label="validation, whole split")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("cross-entropy, Eq. (4.1)")
    ax_acc.set_ylabel("accuracy (%), Eq. (5.4)")
    low = min([100 * p["train_acc"] for p in curve[len(curve) // 4:]] or [90.0])
    ax_acc.set_ylim(max(0.0, min(low, 97.0) - 1), 100)
    ax_acc.set_xlabel("epoch")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title, wrap=True)
    return fig


def show_lr_schedule(rates: Sequence[float] | np.ndarray, steps_per_epoch: int,
                     title: str | None = None) -> Figure:
    """The learning rate of every step, against epochs (Eq. (5.2)).

    Parameters
    ----------
    rates : sequence of float
        ``eta_t`` for ``t = 0..T-1``.
    steps_per_epoch : int
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    rates = np.asarray(rates)
    fig, ax = plt.subplots(figsize=(MAX_WIDTH, 3.2), layout="constrained")
    ax.plot(np.arange(len(rates)) / steps_per_epoch, rates)
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def show_confusion_matrix(matrix: np.ndarray, title: str | None = None) -> Figure:
    """A confusion matrix with its counts written in the cells.

    Parameters
    ----------
    matrix : numpy.ndarray of int, shape [D_2, D_2]
        ``matrix[a, b]`` = images of class ``a`` predicted as ``b`` (rows: truth).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Off-diagonal cells on a log colour scale (the diagonal would swamp them).
    """
    require_ndim("matrix", matrix, ("D_2", "D_2"))
    classes = matrix.shape[0]
    off = matrix.astype(float).copy()
    np.fill_diagonal(off, np.nan)
    fig, ax = plt.subplots(figsize=(MAX_WIDTH, 5.6), layout="constrained")
    shown = np.where(np.isnan(off), np.nan, np.log10(off + 1))
    image = ax.imshow(shown, cmap="Blues", vmin=0)
    for a in range(classes):
        for b in range(classes):
            value = int(matrix[a, b])
            if value or a == b:
                # White on dark cells, black on light ones (and on the blank diagonal).
                if np.isnan(shown[a, b]):
                    colour = "black"
                else:
                    r, g, b_ = to_rgb(image.cmap(image.norm(shown[a, b])))
                    colour = "white" if 0.299 * r + 0.587 * g + 0.114 * b_ < 0.5 else "black"
                ax.text(b, a, str(value), ha="center", va="center", color=colour, fontsize=12,
                        fontweight="bold" if a == b else "normal")
    ax.set_xticks(range(classes))
    ax.set_yticks(range(classes))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    fig.colorbar(image, ax=ax, shrink=0.85, label="log10(count + 1), off the diagonal")
    if title:
        ax.set_title(title)
    return fig


def show_mistakes(images: np.ndarray, labels: np.ndarray, predicted: np.ndarray,
                  confidence: np.ndarray, ncols: int = 4, title: str | None = None) -> Figure:
    """Misclassified digits, each titled ``label -> predicted`` and the confidence.

    Parameters
    ----------
    images : numpy.ndarray, shape [M, 1, H, W] or [M, H, W]
    labels, predicted : numpy.ndarray of int, shape [M]
        True and predicted classes.
    confidence : numpy.ndarray, shape [M]
        The probability the network gave to its (wrong) prediction.
    ncols : int
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = _digit_stack(images, "M")
    fig, axes = _grid(len(images), ncols, cell=1.5, title=title)
    for k, ax in zip(range(len(images)), axes, strict=False):
        ax.imshow(images[k], cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{int(labels[k])} -> {int(predicted[k])}\np = {confidence[k]:.3f}")
    return fig


def show_network(rows, highlight: Sequence[str] = (), backward: bool = False,
                 title: str | None = None) -> Figure:
    """The network as a row of boxes, one per layer, each labelled with its output shape.

    Parameters
    ----------
    rows : sequence of mnist_cnn.architecture.ShapeRow
        ``shape_trace(arch, batch)``: ``name`` and ``shape`` of every layer's output
        (Eq. (0.1) gives the sizes).
    highlight : sequence of str
        Layer names drawn in colour (the others in grey).
    backward : bool
        Arrows from the output back to the input, labelled with the deltas
        ``δ^(layer) = ∂L/∂z^(layer)`` (chapter 4; the reshape's is ``δ^(flat)``, the
        softmax box carries the loss ``L``), instead of the forward arrows.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = list(rows)
    fig, ax = plt.subplots(figsize=(MAX_WIDTH, 2.2), layout="constrained")
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylim(-1.0 if backward else -0.5, 0.7)
    ax.axis("off")
    for k, row in enumerate(rows):
        on = row.name in highlight
        ax.add_patch(Rectangle((k - 0.45, -0.35), 0.9, 0.9, facecolor="#fde0c5" if on else
                               "#eeeeee", edgecolor="tab:red" if on else "0.5", linewidth=2))
        ax.text(k, 0.32, row.name, ha="center", va="center", fontweight="bold")
        ax.text(k, -0.05, "×".join(str(s) for s in row.shape[1:]), ha="center",
                va="center", fontsize=11)
        if k:
            start, end = (k - 0.45, k - 1 + 0.45) if backward else (k - 1 + 0.45, k - 0.45)
            ax.annotate("", (end, 0.1), (start, 0.1),
                        arrowprops={"arrowstyle": "-|>", "color": "tab:red" if backward else "k",
                                    "lw": 1.5})
        if backward:
            name = {"reshape": "flat", "softmax": "L"}.get(row.name, row.name)
            ax.text(k, -0.75, "dL/dx" if not k else "L" if name == "L" else f"δ({name})",
                    ha="center", va="center", color="tab:red", fontsize=12)
    if title:
        ax.set_title(title)
    return fig


def show_probabilities(y: np.ndarray, label: int | None = None,
                       title: str | None = None) -> Figure:
    """One image's class probabilities (a row of the softmax output, Eq. (1.11)) as bars.

    Parameters
    ----------
    y : numpy.ndarray, shape [D_2]
        Probabilities (non-negative, summing to 1).
    label : int, optional
        The true class, drawn in red.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    require_ndim("y", y, ("D_2",))
    fig, ax = plt.subplots(figsize=(MAX_WIDTH, 3.0), layout="constrained")
    colours = ["tab:red" if k == label else "tab:blue" for k in range(len(y))]
    ax.bar(range(len(y)), y, color=colours)
    ax.set_xticks(range(len(y)))
    ax.set_xlabel("class k")
    ax.set_ylabel("y_k")
    ax.set_ylim(0, 1)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    return fig


def show_gradient_rules(w: float, x_pixel: float, delta_z: float,
                        window: Sequence[float], delta_pool: float) -> Figure:
    """The two rules of the backward pass drawn as gates, with the numbers of one example.

    Left, a product ``z = w * x`` (one term of Eq. (1.3)): the gradient that reaches ``w``
    is the *local derivative* ``dz/dw = x`` times the *upstream* delta ``dL/dz``
    (Eq. (4.12), one term). Right, a max over a window (Eq. (1.5)): the upstream delta goes
    to the winning entry only, every other entry gets 0 (Eq. (4.11)); ties go to the first.

    Parameters
    ----------
    w, x_pixel : float
        The weight and the pixel it multiplies.
    delta_z : float
        The upstream delta ``dL/dz`` arriving at the product.
    window : sequence of float
        The entries of one pooling window, in row-major order.
    delta_pool : float
        The upstream delta arriving at the window's maximum.

    Returns
    -------
    matplotlib.figure.Figure
    """
    window = [float(v) for v in window]
    if not window:
        raise ValueError("window must hold at least one entry; got an empty sequence")
    win = int(np.argmax(window))  # the first maximum, as np.argmax and Eq. (4.11)
    fig, axes = plt.subplots(1, 2, figsize=(MAX_WIDTH, 4.4), layout="constrained")
    fwd, bwd = "#1f4e9c", "#b2182b"  # forward values in blue, gradients in red
    box = {"boxstyle": "round,pad=0.35", "fc": "0.93", "ec": "0.3"}

    ax = axes[0]
    ax.set_title("local derivative\ntimes upstream")
    ax.text(0.5, 0.5, "×", fontsize=26, ha="center", va="center", bbox=box)
    inputs = ((0.78, "w", w, x_pixel * delta_z), (0.22, "x", x_pixel, w * delta_z))
    for y, name, value, grad in inputs:
        ax.annotate("", xy=(0.42, 0.5), xytext=(0.2, y),
                    arrowprops={"arrowstyle": "->", "color": fwd, "lw": 2})
        other = x_pixel if name == "w" else w
        top = y + 0.2 if y > 0.5 else y - 0.05
        ax.text(0.0, top, f"{name} = {value:g}", color=fwd, ha="left", va="top", fontsize=13)
        ax.text(0.0, top - 0.08, f"dL/d{name} = {other:g}·{delta_z:g} = {grad:g}", color=bwd,
                ha="left", va="top", fontsize=13)
    ax.annotate("", xy=(0.95, 0.5), xytext=(0.58, 0.5),
                arrowprops={"arrowstyle": "->", "color": fwd, "lw": 2})
    ax.text(0.76, 0.56, f"z = {w * x_pixel:g}", color=fwd, ha="center", fontsize=13)
    ax.text(0.76, 0.40, f"δ = dL/dz\n= {delta_z:g}", color=bwd, ha="center", va="top", fontsize=13)

    ax = axes[1]
    ax.set_title("max routes\nthe gradient")
    ax.text(0.62, 0.5, "max", fontsize=18, ha="center", va="center", bbox=box)
    ys = np.linspace(0.88, 0.12, len(window))
    for k, (y, value) in enumerate(zip(ys, window, strict=True)):
        ax.annotate("", xy=(0.5, 0.5), xytext=(0.22, y),
                    arrowprops={"arrowstyle": "->", "color": fwd, "lw": 2 if k == win else 1})
        ax.text(0.02, y, f"{value:g}", color=fwd, ha="left", va="center", fontsize=13)
        ax.text(0.12, y, f"{delta_pool if k == win else 0:g}", color=bwd, ha="left",
                va="center", fontsize=13, fontweight="bold" if k == win else "normal")
    ax.annotate("", xy=(0.99, 0.5), xytext=(0.75, 0.5),
                arrowprops={"arrowstyle": "->", "color": fwd, "lw": 2})
    ax.text(0.87, 0.56, f"{max(window):g}", color=fwd, ha="center", fontsize=13)
    ax.text(0.87, 0.40, f"δ = {delta_pool:g}", color=bwd, ha="center", va="top", fontsize=13)
    ax.text(0.5, 0.0, "blue: forward value   red: gradient", ha="center", fontsize=12,
            transform=ax.transAxes, color="0.3")
    for ax in axes:
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.05, 1.02)
        ax.axis("off")
    return fig
