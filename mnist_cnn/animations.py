"""Animations of the three ideas students find hardest, as self-contained HTML players.

What this is: ``im2col_animation`` (chapter 2: the window slides over the image and each
position becomes one column of the im2col matrix, Eq. (2.1)), ``channel_stacking_animation``
(chapter 3: with C_in > 1 the C_in windows at one position are stacked into one column of
C_in K K rows, Eq. (3.1)) and ``maxpool_routing_animation`` (chapter 4: the pooled delta goes
to the argmax of its window, the first maximum on a tie, Eq. (4.11)). Each returns an
``IPython.display.HTML`` made by matplotlib's ``FuncAnimation.to_jshtml``: the frames are
embedded PNGs and the player is inline JavaScript, so it plays in JupyterLab, in the static
HTML and in the slides with no network and no ffmpeg. ``*_frames`` give the same drawing as
stills (a figure and ``draw(k)``), which the lecture decks step through one key press a frame.
The layout is the book's: 6 in at 150 dpi, every label 12 pt or more, short panel titles and
the changing caption as the figure's title (panel titles used to be clipped).
``python -m mnist_cnn.animations notebooks/*.ipynb`` inserts the three animation cells into
chapters 2-4 after the still pictures they animate (idempotent, see ``CELLS``).
What this is not: a check. The matrices drawn are computed by ``mnist_cnn.im2col`` and
``mnist_cnn.layers``, and each function asserts that what it draws equals them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mnist_cnn.reference import layers
from mnist_cnn.reference.im2col import im2col, im2col_per_channel

DPI = 150  # the book's figure resolution (mnist_cnn.plots): a 12 pt label is 12 pt on the page
WIDTH = 6.0  # inches, as mnist_cnn.plots.MAX_WIDTH: 900 px, the HTML book's text column
FONT = 12  # every label, tick and title: 12 pt or more, read on a projector
INTERVAL_MS = 900
# matplotlib's player takes its button icons from a CDN style sheet; use plain symbols instead.
_ICONS = {"fa-minus": "&minus;", "fa-fast-backward": "|&#x25C0;&#x25C0;",
          "fa-step-backward": "&#x25C0;|", "fa-play fa-flip-horizontal": "&#x25C0;",
          "fa-pause": "||", "fa-play": "&#x25B6;", "fa-step-forward": "|&#x25B6;",
          "fa-fast-forward": "&#x25B6;&#x25B6;|", "fa-plus": "+"}


def _offline_html(animation: FuncAnimation, alt: str) -> str:
    """``to_jshtml`` with no reference to the network and with alt text on the frame."""
    html = animation.to_jshtml(default_mode="once")
    html = re.sub(r"<link rel=\"stylesheet\"\s+href=\"https?://[^\"]+\">", "", html)
    for name, symbol in _ICONS.items():
        html = html.replace(f'<i class="fa {name}"></i>', symbol)
    html = re.sub(r'<img id="(_anim_img\w+)">', rf'<img id="\1" alt="{alt}">', html)
    assert "http" not in html.replace("http://www.w3.org", ""), "the player must not go online"
    # matplotlib names the player with a random uuid; a name from the content keeps the stored
    # output the same when an unchanged chapter is run again.
    for uid in set(re.findall(r"_anim_img([0-9a-f]{32})", html)):
        stable = hashlib.sha256(html.replace(uid, "").encode()).hexdigest()[:32]
        html = html.replace(uid, stable)
    return html


def _display(frames: Frames, interval: int = INTERVAL_MS):
    from IPython.display import HTML  # here: only a notebook (with IPython) shows one

    animation = FuncAnimation(frames.fig, frames.draw, frames=frames.count, interval=interval,
                              blit=False)
    html = _offline_html(animation, frames.alt)
    plt.close(frames.fig)  # the animation is the output, not a still of its last frame
    return HTML(html)


class Frames(NamedTuple):
    """An animation before it is played: its figure, ``draw(k)`` for frame ``k``, the count.

    The players of the book (``*_animation``) and the stepped stills of the lecture decks
    (``mnist_cnn.book.lectures``) are both made from it, so they show the same drawing.
    """

    fig: Figure
    draw: Callable[[int], object]
    count: int
    alt: str


def _one_based_ticks(ax, shape) -> None:
    """Label rows and columns 1, 2, ... as the maths counts them (every other one if many)."""
    for axis, size in ((ax.xaxis, shape[1]), (ax.yaxis, shape[0])):
        ticks = range(0, size, 1 if size <= 10 else 3)
        axis.set_ticks(list(ticks))
        axis.set_ticklabels([str(t + 1) for t in ticks], fontsize=FONT)


def im2col_frames(image: np.ndarray, kernel: int = 3) -> Frames:
    """The frames of :func:`im2col_animation` (same parameters), not yet played."""
    image = np.asarray(image, dtype=np.float64)
    X = im2col_per_channel(image[None, None], kernel)[0, 0]  # [K*K, H_c*W_c]
    H_c, W_c = image.shape[0] - kernel + 1, image.shape[1] - kernel + 1
    assert X.shape == (kernel * kernel, H_c * W_c)
    vmin, vmax = image.min(), image.max()

    fig, (ax_img, ax_mat) = plt.subplots(1, 2, figsize=(WIDTH, 3.4), dpi=DPI,
                                         layout="constrained",
                                         gridspec_kw={"width_ratios": [1, 1.9]})
    shown = ax_img.imshow(image, cmap="gray_r", vmin=vmin, vmax=vmax)
    ax_img.set_title("image x", fontsize=FONT + 1)
    _one_based_ticks(ax_img, image.shape)
    window = Rectangle((-0.5, -0.5), kernel, kernel, fill=False, ec="red", lw=3)
    ax_img.add_patch(window)
    partial = np.full_like(X, np.nan)
    # columns not filled yet: pale blue, not white (= 0)
    unfilled = plt.get_cmap("gray_r").with_extremes(bad="#d6e4f5")
    matrix = ax_mat.imshow(partial, cmap=unfilled, vmin=vmin, vmax=vmax, aspect="auto")
    column = Rectangle((-0.5, -0.5), 1, kernel * kernel, fill=False, ec="red", lw=3)
    ax_mat.add_patch(column)
    _one_based_ticks(ax_mat, X.shape)
    ax_mat.set_title(f"X_c  [{kernel * kernel} x {H_c * W_c}]", fontsize=FONT + 1)
    ax_mat.set_xlabel("column = position (m, l)", fontsize=FONT)
    ax_mat.set_ylabel("row = (i, j)", fontsize=FONT)
    bar = fig.colorbar(shown, ax=[ax_img, ax_mat], shrink=0.8)
    bar.set_label("pixel value", fontsize=FONT)
    bar.ax.tick_params(labelsize=FONT)

    def draw(frame):
        m, l = divmod(frame, W_c)
        window.set_xy((l - 0.5, m - 0.5))
        partial[:, frame] = X[:, frame]
        if frame == 0:
            partial[:, 1:] = np.nan
        else:  # a still of frame k shows columns 1..k+1, whichever frame came before
            partial[:, :frame] = X[:, :frame]
            partial[:, frame + 1:] = np.nan
        matrix.set_data(partial)
        column.set_x(frame - 0.5)
        fig.suptitle(f"window at (m, l) = ({m + 1}, {l + 1})  ->  column {frame + 1} of "
                     f"{H_c * W_c}", fontsize=FONT + 1)
        return window, matrix, column

    return Frames(fig, draw, H_c * W_c, "animation: a K x K window slides over the image and "
                  "each position becomes one column of the im2col matrix")


def im2col_animation(image: np.ndarray, kernel: int = 3):
    """The window sliding over one image and filling the im2col matrix column by column.

    Parameters
    ----------
    image : ndarray [H, W]
        One small single-channel image (a crop of a digit reads best, e.g. 6 x 6).
    kernel : int
        ``K``; stride 1, no padding.

    Returns
    -------
    IPython.display.HTML
        One frame per output position ``(m, l)``: the window on the image (left) and
        ``X_c`` [K K, H_c W_c] of Eq. (2.1) filled up to column ``(m - 1) W_c + l`` (right).
    """
    return _display(im2col_frames(image, kernel))


def channel_stacking_frames(x: np.ndarray, kernel: int = 2) -> Frames:
    """The frames of :func:`channel_stacking_animation` (same parameters), not yet played."""
    x = np.asarray(x, dtype=np.float64)
    C_in = x.shape[0]
    if C_in < 2:
        raise ValueError(f"x must have C_in > 1 channels to show the stacking; got {x.shape}")
    X_col = im2col(x[None], kernel)[0]  # [C_in*K*K, H_c*W_c]
    H_c, W_c = x.shape[1] - kernel + 1, x.shape[2] - kernel + 1
    assert np.array_equal(X_col, np.concatenate(list(im2col_per_channel(x[None], kernel)[0])))
    vmin, vmax = x.min(), x.max()
    KK = kernel * kernel

    fig = plt.figure(figsize=(WIDTH, 3.8), dpi=DPI, layout="constrained")
    grid = fig.add_gridspec(C_in, 2, width_ratios=[1, 2.6])
    channel_axes = [fig.add_subplot(grid[c, 0]) for c in range(C_in)]
    ax_mat = fig.add_subplot(grid[:, 1])
    windows = []
    for c, ax in enumerate(channel_axes):
        shown = ax.imshow(x[c], cmap="viridis", vmin=vmin, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(f"c = {c + 1}", fontsize=FONT)
        windows.append(Rectangle((-0.5, -0.5), kernel, kernel, fill=False, ec="red", lw=3))
        ax.add_patch(windows[-1])
    partial = np.full_like(X_col, np.nan)
    unfilled = plt.get_cmap("viridis").with_extremes(bad="#eeeeee")  # columns not filled yet
    matrix = ax_mat.imshow(partial, cmap=unfilled, vmin=vmin, vmax=vmax, aspect="auto")
    for c in range(1, C_in):
        ax_mat.axhline(c * KK - 0.5, color="white", lw=3)
    ax_mat.set_yticks([c * KK + (KK - 1) / 2 for c in range(C_in)])
    ax_mat.set_yticklabels([f"c = {c + 1}" for c in range(C_in)], fontsize=FONT)
    ax_mat.set_xticks(range(X_col.shape[1]))
    ax_mat.set_xticklabels(range(1, X_col.shape[1] + 1), fontsize=FONT)
    ax_mat.set_xlabel("column = position (m, l)", fontsize=FONT)
    ax_mat.set_title(f"X_col  [{C_in * KK} x {H_c * W_c}]", fontsize=FONT + 1)
    column = Rectangle((-0.5, -0.5), 1, C_in * KK, fill=False, ec="red", lw=3)
    ax_mat.add_patch(column)
    bar = fig.colorbar(shown, ax=channel_axes + [ax_mat], shrink=0.8)
    bar.set_label("value", fontsize=FONT)
    bar.ax.tick_params(labelsize=FONT)

    def draw(frame):
        m, l = divmod(frame, W_c)
        for window in windows:
            window.set_xy((l - 0.5, m - 0.5))
        partial[:, : frame + 1] = X_col[:, : frame + 1]
        partial[:, frame + 1:] = np.nan
        matrix.set_data(partial)
        column.set_x(frame - 0.5)
        fig.suptitle(f"position ({m + 1}, {l + 1}): {C_in} windows  ->  column {frame + 1}",
                     fontsize=FONT + 1)
        return (*windows, matrix, column)

    return Frames(fig, draw, H_c * W_c, "animation: the windows of all input channels at one "
                  "position are stacked into one column of the channel-parallel im2col matrix")


def channel_stacking_animation(x: np.ndarray, kernel: int = 2):
    """Channel-parallel im2col: at each position the C_in windows stack into one column.

    Parameters
    ----------
    x : ndarray [C_in, H, W]
        One small image with ``C_in > 1`` channels (e.g. 3 x 4 x 4).
    kernel : int
        ``K``; stride 1, no padding.

    Returns
    -------
    IPython.display.HTML
        One frame per output position: the window on every channel (left) and ``X_col``
        [C_in K K, H_c W_c] of Eq. (3.1) filled up to that column, its rows in blocks of K K,
        one block per channel (right).
    """
    return _display(channel_stacking_frames(x, kernel))


def maxpool_routing_frames(z_conv: np.ndarray, delta_pool: np.ndarray, pool: int = 2) -> Frames:
    """The frames of :func:`maxpool_routing_animation` (same parameters), not yet played."""
    z_conv = np.asarray(z_conv, dtype=np.float64)
    delta_pool = np.asarray(delta_pool, dtype=np.float64)
    H_p, W_p = delta_pool.shape
    if z_conv.shape != (H_p * pool, W_p * pool):
        raise ValueError(f"z_conv must be {(H_p * pool, W_p * pool)} for delta_pool "
                         f"{delta_pool.shape}; got {z_conv.shape}")
    _, pool_cache = layers.maxpool_forward(z_conv[None, None], pool)
    delta_conv = layers.maxpool_backward(delta_pool[None, None], pool_cache)[0, 0]

    fig, (ax_z, ax_d, ax_c) = plt.subplots(1, 3, figsize=(WIDTH, 3.0), dpi=DPI,
                                           layout="constrained")
    lim = np.abs(delta_pool).max()
    shown_z = ax_z.imshow(z_conv, cmap="viridis")
    shown_d = ax_d.imshow(delta_pool, cmap="RdBu_r", vmin=-lim, vmax=lim)
    routed = np.zeros_like(z_conv)
    shown_c = ax_c.imshow(routed, cmap="RdBu_r", vmin=-lim, vmax=lim)
    for ax, shown in ((ax_z, shown_z), (ax_d, shown_d), (ax_c, shown_c)):
        bar = fig.colorbar(shown, ax=ax, shrink=0.8, location="bottom")
        bar.ax.tick_params(labelsize=FONT - 1)
    for ax, title in ((ax_z, "z_conv"), (ax_d, "delta_pool"), (ax_c, "delta_conv")):
        ax.set_title(title, fontsize=FONT + 1)
        ax.set_xticks([])
        ax.set_yticks([])
    middle = (z_conv.min() + z_conv.max()) / 2
    for (m, l), value in np.ndenumerate(z_conv):
        ax_z.text(l, m, f"{value:g}", ha="center", va="center", fontsize=FONT,
                  color="black" if value > middle else "white")
    for (p, q), value in np.ndenumerate(delta_pool):
        ax_d.text(q, p, f"{value:g}", ha="center", va="center", fontsize=FONT,
                  color="white" if abs(value) > 0.6 * lim else "black")
    labels = [[ax_c.text(l, m, "", ha="center", va="center", fontsize=FONT)
               for l in range(z_conv.shape[1])] for m in range(z_conv.shape[0])]
    window = Rectangle((-0.5, -0.5), pool, pool, fill=False, ec="red", lw=3)
    target = Rectangle((-0.5, -0.5), 1, 1, fill=False, ec="orange", lw=3)
    source = Rectangle((-0.5, -0.5), 1, 1, fill=False, ec="red", lw=3)
    ax_z.add_patch(window)
    ax_z.add_patch(target)
    ax_d.add_patch(source)

    def argmax_of(p, q):
        block = z_conv[p * pool:(p + 1) * pool, q * pool:(q + 1) * pool]
        i, j = np.unravel_index(np.argmax(block), block.shape)  # first maximum, row-major
        return block, int(i), int(j)

    def draw(frame):
        (p, q), routing = divmod(frame // 2, W_p), frame % 2 == 1
        # a still of frame k shows every window routed before it, whichever frame came before
        routed[:] = 0
        for row in labels:
            for label in row:
                label.set_text("")
        for done in range(frame // 2 + (1 if routing else 0)):
            pd, qd = divmod(done, W_p)
            block, i, j = argmax_of(pd, qd)
            routed[pd * pool + i, qd * pool + j] = delta_pool[pd, qd]
            value = delta_pool[pd, qd]
            for (a, b), _ in np.ndenumerate(block):
                label = labels[pd * pool + a][qd * pool + b]
                label.set_text(f"{value:g}" if (a, b) == (i, j) else "0")
                label.set_color("white" if (a, b) == (i, j) and abs(value) > 0.6 * lim
                                else "black")
        block, i, j = argmax_of(p, q)
        ties = int((block == block.max()).sum())
        window.set_xy((q * pool - 0.5, p * pool - 0.5))
        target.set_xy((q * pool + j - 0.5, p * pool + i - 0.5))
        source.set_xy((q - 0.5, p - 0.5))
        if routing:
            first = ", the first max" if ties > 1 else ""
            message = (f"window ({p + 1}, {q + 1}): {delta_pool[p, q]:g} -> "
                       f"({p * pool + i + 1}, {q * pool + j + 1}){first}, 0 elsewhere")
        else:
            tie = f", a {ties}-way tie" if ties > 1 else ""
            message = f"window ({p + 1}, {q + 1}): max {block.max():g}{tie}"
        fig.suptitle(message, fontsize=FONT + 1)
        shown_c.set_data(routed)
        if frame == 2 * H_p * W_p - 1:
            assert np.array_equal(routed, delta_conv), "the drawing must equal the layer"
        return window, target, source, shown_c

    return Frames(fig, draw, 2 * H_p * W_p, "animation: each pooled delta is routed to the "
                  "maximum of its window, on a tie to the first maximum in row-major order, "
                  "and 0 to the other entries")


def maxpool_routing_animation(z_conv: np.ndarray, delta_pool: np.ndarray, pool: int = 2):
    """The max-pool backward pass: each pooled delta goes to the argmax of its window.

    Parameters
    ----------
    z_conv : ndarray [H, W]
        One feature map; include a window with a tie to show the rule (first maximum in
        row-major order wins).
    delta_pool : ndarray [H / pool, W / pool]
        The delta arriving at the pooled map.
    pool : int
        ``K_p = S_p``.

    Returns
    -------
    IPython.display.HTML
        Two frames per window: the window and its maximum (ties marked), then the delta routed
        into ``delta_conv`` (Eq. (4.11)), which ``layers.maxpool_backward`` must equal at the end.
    """
    return _display(maxpool_routing_frames(z_conv, delta_pool, pool), interval=1200)


# ------------------------------------------------------------ the cells that show them

# chapter prefix -> (a code cell to insert after, by a line it contains; markdown; code)
CELLS = {
    "02": ("show_im2col(", (
        "**The same, moving.** A $6 \\times 6$ crop of the first digit and a $3 \\times 3$ "
        "window: each step moves the window one position, in row-major order, and copies the "
        "pixels under it into the next column of $X_c$, Eq. (2.1). Use the buttons to step."
    ), (
        "# NBVAL_IGNORE_OUTPUT\n"
        "from {module} import im2col_animation\n\n"
        "im2col_animation(x[0, 0, 9:15, 10:16], kernel=3)"
    )),
    "03": ("X_col2[0].T", (
        "**The stacking, moving.** Three channels of the pooled maps of the first digit "
        "($4 \\times 4$ crops) and a $2 \\times 2$ window: at each position the window reads the "
        "same $(m, l)$ on every channel, and the three $2 \\times 2$ patches are stacked, channel "
        "by channel, into one column of $C_{in} K K = 12$ rows, Eq. (3.1)."
    ), (
        "# NBVAL_IGNORE_OUTPUT\n"
        "from {module} import channel_stacking_animation\n\n"
        "channel_stacking_animation(z_pool[0, :3, 3:7, 3:7], kernel=2)"
    )),
    "04": ("o_show = int(", (
        "**The routing, moving.** A $4 \\times 4$ map with two tied windows: window $(2, 1)$ "
        "holds two 5s and window $(2, 2)$ two 3s. Each pooled delta goes to the maximum of its "
        "window, on a tie to the first maximum in row-major order, and every other entry gets "
        "0, Eq. (4.11)."
    ), (
        "# NBVAL_IGNORE_OUTPUT\n"
        "from {module} import maxpool_routing_animation\n\n"
        "z_demo = np.array([[1, 3, 0, 2], [2, 0, 1, 4], [5, 5, 2, 1], [0, 1, 3, 3]], dtype=float)\n"
        "delta_demo = np.array([[0.5, -1.0], [2.0, 1.5]])\n"
        "maxpool_routing_animation(z_demo, delta_demo)"
    )),
}


def insert_cells(nb, chapter: str) -> int:
    """Put the chapter's animation (a markdown cell and a code cell) after its anchor; idempotent.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The chapter, changed in place.
    chapter : str
        Its two-digit prefix, e.g. ``"02"``.

    Returns
    -------
    int
        The number of cells inserted (0 when it is there already or the chapter has none).
    """
    import nbformat  # here: only the notebook-editing command needs it, not a figure

    if chapter not in CELLS:
        return 0
    anchor, markdown, code = CELLS[chapter]
    code = code.format(module=__spec__.name if __spec__ is not None else __name__)
    call = code.splitlines()[-1].split("(")[0]
    if any(c.cell_type == "code" and call + "(" in c.source for c in nb.cells):
        return 0
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and anchor in c.source)
    nb.cells[index + 1:index + 1] = [nbformat.v4.new_markdown_cell(markdown),
                                     nbformat.v4.new_code_cell(code)]
    return 2


if __name__ == "__main__":
    import sys
    from pathlib import Path

    import nbformat

    from mnist_cnn.tools.files import atomic_write_text

    for name in sys.argv[1:]:
        path = Path(name)
        book = nbformat.read(path, as_version=4)
        added = insert_cells(book, path.name[:2])
        atomic_write_text(path, nbformat.writes(book) + "\n")
        print(f"{path}: {added} cells inserted")
