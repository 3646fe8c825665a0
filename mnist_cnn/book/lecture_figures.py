"""The figures of the lecture decks: each recipe calls one plotting function of the package.

What this is: ``RECIPES``, a table from the name a lecture source uses (``{fig} filters``)
to a :class:`Recipe`: the slide box it is drawn for (CSS pixels at 1280 x 720) and a function
that draws it with :mod:`mnist_cnn.plots` or :mod:`mnist_cnn.animations` on the book's data
(the shipped MNIST test digits, the seed network, seeded weights) -- the same code and the same
numbers the chapters draw. A recipe with ``frames=True`` returns an animation's
:class:`mnist_cnn.animations.Frames`, stepped one key press a frame on the slide.
What this is not: a new kind of picture. A picture the package cannot draw is added to
:mod:`mnist_cnn.plots` first (``show_network`` and ``show_probabilities`` were, for the decks).

The book's figures are 150 dpi with labels of 12 pt or more, so drawn at 1 CSS px per image
pixel a label is 25 px: at least the slides' 24 px prose (``lectures.FIGURE_DPI``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from mnist_cnn import animations, plots
from mnist_cnn.architecture import SEED, shape_trace
from mnist_cnn.data import load_mnist
from mnist_cnn.reference import layers, network
from mnist_cnn.reference.im2col import im2col_per_channel, pad
from mnist_cnn.reference.optim import learning_rate
from mnist_cnn.train.loop import random_shifts, shift_images

WIDE = (1200, 440)  # a figure across the slide, text above or below it
TALL = (640, 560)  # a figure on the left, text on the right
STRIP = (1200, 330)  # a diagram across the slide with room for an equation
GRID = (600, 500)  # twenty small maps, five a row, on the left


@dataclass(frozen=True)
class Recipe:
    """A figure of a deck: its slide box (width, height in CSS px), how to draw it, its alt."""

    size: tuple[int, int]
    draw: Callable[[], object]
    alt: str
    frames: bool = False


# --------------------------------------------------------------------------- the book's data


@cache
def _digits():
    images, labels = load_mnist("test", dtype=np.float64)
    return images[:64], labels[:64]


@cache
def _weights():
    """Seeded random weights as chapter 1 draws them (rng 0; not trained)."""
    rng = np.random.default_rng(0)
    D_0 = SEED.D_0
    return {
        "w_conv": rng.normal(0.0, 0.2, size=(20, 1, 5, 5)),
        "b_conv": rng.normal(0.0, 0.1, size=20),
        "w_fc1": rng.normal(0.0, 1 / np.sqrt(D_0), size=(500, D_0)),
        "b_fc1": rng.normal(0.0, 0.1, size=500),
        "w_fc2": rng.normal(0.0, 1 / np.sqrt(500), size=(10, 500)),
        "b_fc2": rng.normal(0.0, 0.1, size=10),
    }


@cache
def _pass():
    """The reference network's forward and backward pass on the first 8 digits."""
    x, labels = _digits()
    loss, grads, inter = network.loss_and_grads(_weights(), x[:8], labels[:8])
    return grads, inter


def _trace():
    return shape_trace(SEED, batch=64)


# --------------------------------------------------------------------------- recipes


def _network(highlight=(), backward=False):
    return lambda: plots.show_network(_trace(), highlight=highlight, backward=backward)


def _digits_row():
    x, labels = _digits()
    return plots.show_digits(x[:5], labels[:5], ncols=5)


def _padding():
    x, _ = _digits()
    padded = pad(x[:1], 2)[0, 0]
    return plots.show_maps([(x[0, 0], "x: 28 x 28", "digit"),
                            (padded, "x tilde, P = 2: 32 x 32", "digit")], ncols=2)


def _filters():
    return plots.show_filters(_weights()["w_conv"], ncols=5)


def _feature_maps():
    return plots.show_feature_maps(_pass()[1]["z_conv"][0], ncols=5)


def _conv_pool():
    inter = _pass()[1]
    return plots.show_maps([(_digits()[0][0, 0], "x", "digit"),
                            (inter["z_conv"][0, 0], "z_conv, o = 1: 24 x 24", "diverging"),
                            (inter["z_pool"][0, 0], "z_pool, o = 1: 12 x 12", "diverging")])


def _probabilities():
    inter = _pass()[1]
    return plots.show_probabilities(inter["y"][0], int(_digits()[1][0]))


def _im2col():
    x, _ = _digits()
    X = im2col_per_channel(x[:1], 5)[0, 0]
    return plots.show_im2col(x[0, 0], X, column=(8 - 1) * 24 + (16 - 1))


def _im2col_frames():
    return animations.im2col_frames(_digits()[0][0, 0, 9:15, 10:16], kernel=3)


def _stacking_frames():
    return animations.channel_stacking_frames(_pass()[1]["z_pool"][0, :3, 3:7, 3:7], kernel=2)


def _routing_frames():
    z = np.array([[1, 3, 0, 2], [2, 0, 1, 4], [5, 5, 2, 1], [0, 1, 3, 3]], dtype=float)
    return animations.maxpool_routing_frames(z, np.array([[0.5, -1.0], [2.0, 1.5]]))


def _pool_routing():
    z = _pass()[1]["z_conv"][:1, :1]
    _, cache_ = layers.maxpool_forward(z, 2)
    return plots.show_pool_routing(z[0, 0], cache_.argmax[0, 0], 2)


def _pooled_maps():
    return plots.show_feature_maps(_pass()[1]["z_pool"][0], ncols=5)


def _deltas():
    inter = _pass()[1]
    return plots.show_maps([(inter["delta_pool"][0, 0], "δ(pool), o = 1: 12 x 12", "diverging"),
                            (inter["delta_conv"][0, 0], "δ(conv), o = 1: 24 x 24", "diverging"),
                            (inter["dx"][0, 0], "dL/dx: 28 x 28", "diverging")])


def _dw_conv():
    return plots.show_filters(_pass()[0]["dw_conv"], ncols=5, title="dL/dw_conv, o = 1..20")


def _lr_schedule():
    steps, total = 782, 3 * 782
    return plots.show_lr_schedule([learning_rate(t, total, 0.05, warmup_steps=steps // 2)
                                   for t in range(total)], steps)


def _shifts():
    x, labels = _digits()
    moved = shift_images(x[:8], random_shifts(np.random.default_rng(0), 8, 2))
    return plots.show_digits(np.concatenate([x[:8], moved]), list(labels[:8]) * 2, ncols=8)


def _init_filters():
    return plots.show_filters(network.init_params(np.random.default_rng(0))["w_conv"], ncols=5)


RECIPES: dict[str, Recipe] = {
    "network": Recipe(STRIP, _network(), "the seven layers of the network, each with its "
                      "output shape"),
    "network_conv": Recipe(STRIP, _network(("conv", "pool")), "the network with conv and "
                           "pool highlighted"),
    "network_fc": Recipe(STRIP, _network(("fc1", "relu", "fc2", "softmax")),
                         "the network with the fully connected layers highlighted"),
    "network_backward": Recipe(STRIP, _network(backward=True), "the network with the "
                               "deltas flowing back from the output to the input"),
    "digits": Recipe((1200, 260), _digits_row, "the first five test digits with their labels"),
    "padding": Recipe(TALL, _padding, "a digit and the same digit with two rows and columns "
                      "of zeros around it"),
    "filters": Recipe(GRID, _filters, "twenty random 5 by 5 filters on one colour scale"),
    "feature_maps": Recipe(GRID, _feature_maps, "the twenty 24 by 24 feature maps of "
                           "the first digit"),
    "conv_pool": Recipe(WIDE, _conv_pool, "a digit, its first feature map and the pooled map"),
    "probabilities": Recipe(TALL, _probabilities, "the ten class probabilities of the first "
                            "digit, the true class in red"),
    "im2col": Recipe((660, 600), _im2col, "a digit, its 25 by 576 im2col matrix with one "
                     "column in red, and that column folded back to 5 by 5"),
    "im2col_frames": Recipe((1000, 520), _im2col_frames, "a 3 by 3 window steps over a 6 by 6 "
                            "crop; each position fills the next column of the im2col matrix",
                            frames=True),
    "stacking_frames": Recipe((1000, 560), _stacking_frames, "three channels' windows at one "
                              "position stacked into one column", frames=True),
    "routing_frames": Recipe((1100, 520), _routing_frames, "each pooled delta goes to the "
                             "maximum of its window; ties go to the first", frames=True),
    "pool_routing": Recipe(TALL, _pool_routing, "a feature map with its 2 by 2 windows and a "
                           "dot on each window's maximum"),
    "pooled_maps": Recipe(GRID, _pooled_maps, "the twenty 12 by 12 pooled maps: the "
                          "input of a second convolution"),
    "deltas": Recipe(WIDE, _deltas, "the delta at the pooled map, at the conv output and at "
                     "the input image"),
    "dw_conv": Recipe(GRID, _dw_conv, "the gradient of each of the twenty 5 by 5 "
                      "filters"),
    "lr_schedule": Recipe(WIDE, _lr_schedule, "the learning rate rising for half an epoch, "
                          "then falling on a cosine to zero"),
    "shifts": Recipe((1200, 340), _shifts, "eight digits and the same digits shifted by up to "
                     "two pixels"),
    "init_filters": Recipe(GRID, _init_filters, "the twenty filters at initialisation"),
}
"""Every figure a lecture source may name with ``{fig}`` or ``{frames}``."""
