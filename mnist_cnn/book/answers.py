"""The answer key of the value exercises, computed by the package: for maintainers only.

What this is: the reference answer of every value exercise of :mod:`mnist_cnn.book.exercises`,
computed here with the package's own functions (``output_size``, ``shape_trace``, ``im2col``,
the layers, the data loader, the ledger), never typed in; and the command that turns them into
the salted digests of ``exercise_key.json``, the only form in which the answers reach students::

    python -m mnist_cnn.book.answers write    # after changing an exercise or the package
    python -m mnist_cnn.book.answers check    # exit 1 if the key is out of date (the tests run it)

What this is not: handed out. ``make handout`` leaves this module (and the worked answers of
:mod:`mnist_cnn.book.student`) out of the student package, and its test greps the handout for
every reference below.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from mnist_cnn.architecture import SEED, output_size, shape_trace
from mnist_cnn.book.exercises import EXERCISES, KEY_FILE, _as_entries, entry_digests
from mnist_cnn.reference import layers
from mnist_cnn.reference.im2col import im2col, im2col_per_channel
from mnist_cnn.tools.files import atomic_write_text
from mnist_cnn.verify.gradcheck import relative_error


def _trace(**sizes) -> dict:
    """The shape trace of the seed network with some sizes changed (``P=2``, ``C_in=3``, ...)."""
    if "H" in sizes:
        sizes.setdefault("W", sizes["H"])
    return {row.name: row for row in shape_trace(SEED.replace(**sizes))}


def _rows_read(size: int, kernel: int, stride: int) -> set[int]:
    """1-based rows of a size x size image that some window reads: im2col of a row-index map."""
    rows = np.repeat(np.arange(size, dtype=np.float64)[:, None], size, axis=1)
    return {int(r) + 1 for r in np.unique(im2col(rows[None, None], kernel, stride))}


def _copies_per_pixel() -> np.ndarray:
    """How many columns of X_c hold each pixel of a 28 x 28 image (K = 5): im2col of indices."""
    index = np.arange(28 * 28, dtype=np.float64).reshape(1, 1, 28, 28)
    columns = im2col_per_channel(index, 5)[0, 0].astype(int)
    return np.bincount(columns.ravel(), minlength=28 * 28).reshape(28, 28)


def _product_shapes(X: np.ndarray, filters: int) -> tuple:
    """(X, W_mat, W_mat @ X) shapes, W_mat with one row per filter and one column per row of X."""
    W_mat = np.zeros((filters, X.shape[0]))
    return X.shape, W_mat.shape, (W_mat @ X).shape


def _multiplications() -> tuple:
    """Products of the conv and of fc1 for the batch of 64, and which layer has more of what."""
    seed = _trace()
    X = im2col(np.zeros((1,) + seed["input"].shape[1:]), 5)[0]  # [C_in K K, H_c W_c]
    conv = seed["input"].shape[0] * seed["conv"].shape[1] * X.shape[0] * X.shape[1]
    fc1 = seed["reshape"].shape[0] * seed["reshape"].shape[1] * seed["fc1"].shape[1]
    more_parameters = max(("conv", "fc1"), key=lambda name: seed[name].parameters)
    return conv, fc1, more_parameters, "conv" if conv > fc1 else "fc1"


@cache
def _changed_by_last_max_rule() -> list[str]:
    """Which conv gradients change when tied pooling windows route to their last maximum.

    On two MNIST test digits with the seeded network: route the pooled delta to the first
    maximum (the layer's rule) and to the last one (the first of the map flipped in both axes,
    which reverses the row-major order inside every 2 x 2 window), and compare the gradients.
    """
    from mnist_cnn.data import load_mnist
    from mnist_cnn.reference.network import init_params

    x = load_mnist("test")[0][:2].astype(np.float64)
    params = init_params(np.random.default_rng(0), np.float64)
    z_conv, conv_cache = layers.conv_forward(x, params["w_conv"], params["b_conv"])
    delta_pool = np.random.default_rng(2024).normal(size=(2,) + z_conv.shape[1:2] + (12, 12))
    _, first_cache = layers.maxpool_forward(z_conv, 2)
    first = layers.maxpool_backward(delta_pool, first_cache)
    _, flipped_cache = layers.maxpool_forward(z_conv[:, :, ::-1, ::-1], 2)
    last = layers.maxpool_backward(delta_pool[:, :, ::-1, ::-1], flipped_cache)[:, :, ::-1, ::-1]
    grads_first = layers.conv_backward(first, conv_cache)
    grads_last = layers.conv_backward(last, conv_cache)
    return [name for name, a, b in zip(("dx", "dw_conv", "db_conv"), grads_first, grads_last,
                                       strict=True)
            if not np.allclose(a, b, rtol=1e-12, atol=1e-15)]


def _tie_window() -> tuple[tuple[int, int], tuple[int, int]]:
    """For [[0.1, 0.5], [0.5, 0.2]]: the 1-based entry the layer routes the delta to, and the
    (left, right) one-sided derivatives of the max with respect to entry (2, 1), by differences.
    """
    window = np.array([[[[0.1, 0.5], [0.5, 0.2]]]])
    _, pool_cache = layers.maxpool_forward(window, 2)
    routed = layers.maxpool_backward(np.ones((1, 1, 1, 1)), pool_cache)[0, 0]
    (row, column), = np.argwhere(routed == 1)

    def slope(sign: int, h: float = 1e-6) -> int:
        bumped = window.copy()
        bumped[0, 0, 1, 0] += sign * h
        return round(sign * (bumped.max() - window.max()) / h)

    return (int(row) + 1, int(column) + 1), (slope(-1), slope(+1))


@cache
def _ink_lost() -> tuple[float, float]:
    """(% of 10,000 training digits that lose ink, % of all ink lost) for a (2, 2) shift."""
    from mnist_cnn.data import load_mnist
    from mnist_cnn.train.loop import shift_images

    digits = load_mnist("train")[0][:10_000]
    shifted = shift_images(digits, np.tile(np.array([[2, 2]]), (len(digits), 1)))
    total = digits.sum(axis=(1, 2, 3), dtype=np.float64)
    lost = total - shifted.sum(axis=(1, 2, 3), dtype=np.float64)
    return 100 * float(np.mean(lost > 1e-6)), 100 * lost.sum() / total.sum()


def _equal_error_guesses() -> list[float]:
    """All lam with relerr(c = lam d on 4 entries, d on 1) = 1/sqrt(3), by bracketing roots.

    The error measure is the book's own ``relative_error``; the roots are found numerically on
    [-20, 20] (the measure tends to 1/2 as |lam| grows, so no root lies further out).
    """
    from scipy.optimize import brentq

    d = np.array([1.0, 0.0, 0.0, 0.0])

    def gap(lam: float) -> float:
        return relative_error(np.full(4, lam), d) - 1 / np.sqrt(3)

    grid = np.linspace(-20, 20, 40_001)
    values = np.array([gap(lam) for lam in grid])
    roots = {round(float(grid[i]), 6) for i in np.flatnonzero(values == 0)}
    for i in np.flatnonzero(values[:-1] * values[1:] < 0):
        roots.add(round(brentq(gap, grid[i], grid[i + 1], xtol=1e-12), 6))
    return sorted(roots)


def _referees_of_general_dx() -> list:
    from mnist_cnn.book import ledger

    return sorted({c.source for c in ledger.checks_for("4.14", "independent")
                   if "S = 2" in c.label})


def _chapter_3_kinds() -> tuple:
    from mnist_cnn.book import ledger

    counts = ledger.summary(c for c in ledger.CHECKS if c.notebook == 3 and c.where == "book")
    return counts["independent"], counts["consistency"]


REFERENCES = {
    "0.1": lambda: (_trace(P=2)["conv"].shape, _trace(P=2)["pool"].shape,
                    _trace(P=2)["fc1"].parameters),
    "0.2": lambda: (output_size(28, 5, 2),
                    output_size(output_size(28, 5, 2), 2, 2) * 2 == output_size(28, 5, 2)),
    "0.3": lambda: (_trace(C_in=3, H=32)["conv"].parameters,
                    _trace(C_in=3, H=32)["reshape"].shape[1]),
    "1.1": lambda: (_trace(P=2)["conv"].shape[2], _trace(P=2)["pool"].shape[2],
                    _trace(P=2)["reshape"].shape[1],
                    (_trace(P=2)["fc1"].shape[1], _trace(P=2)["reshape"].shape[1]),
                    [name for name, row in _trace(P=2).items()
                     if row.parameters != _trace()[name].parameters]),
    "1.2": lambda: (output_size(28, 5, 2), sorted(set(range(1, 29)) - _rows_read(28, 5, 2))),
    "1.3": lambda: (_trace(C_in=3, H=32)["input"].shape,
                    _trace(C_in=3, H=32)["conv"].shape[1:2]
                    + _trace(C_in=3, H=32)["input"].shape[1:2] + (5, 5),
                    _trace(C_in=3, H=32)["conv"].shape, _trace(C_in=3, H=32)["pool"].shape,
                    _trace(C_in=3, H=32)["reshape"].shape, _trace(C_in=3, H=32)["conv"].parameters,
                    "c" if _trace(C_in=3, H=32)["input"].shape[1] > 1 else "i"),
    "1.4": _multiplications,
    "2.1": lambda: _product_shapes(im2col_per_channel(np.zeros((1, 1, 28, 28)), 5, 2, 2)[0, 0],
                                   filters=20),
    "2.2": _copies_per_pixel,
    "2.3": lambda: (output_size(25, 2, 2), 25 - 2 * output_size(25, 2, 2), False),
    "3.1": lambda: _product_shapes(im2col(np.zeros((1, 3, 32, 32)), 5)[0], filters=6),
    "3.3": lambda: _product_shapes(np.hstack(list(im2col(np.zeros((64, 20, 12, 12)), 5))),
                                   filters=50)[::2],
    "4.3": lambda: (*_tie_window(), _changed_by_last_max_rule()),
    "5.3": _ink_lost,
    "6.5": _equal_error_guesses,
    "7.1": _referees_of_general_dx,
    "7.2": _chapter_3_kinds,
}


def key_digests(exercise: str, reference, salt: str) -> list[str]:
    """The sorted digests of a reference answer: each entry whole, and its parts."""
    entry = EXERCISES[exercise]
    found = []
    for position, (form, value) in enumerate(zip(entry.entries, _as_entries(entry, reference),
                                                 strict=True), start=1):
        found += entry_digests(exercise, position, form, value, salt)
    return sorted(set(found))


def build_key(salt: str) -> dict:
    """The key: ``{"salt": salt, "digests": {exercise: [...]}}`` for every value exercise."""
    values = [k for k, e in EXERCISES.items() if e.probe is None]
    if sorted(values) != sorted(REFERENCES):
        raise RuntimeError(f"value exercises {sorted(values)} and references {sorted(REFERENCES)} "
                           "differ")
    return {"salt": salt,
            "digests": {k: key_digests(k, REFERENCES[k](), salt) for k in sorted(values)}}


def key_path() -> Path:
    return Path(str(resources.files("mnist_cnn.book").joinpath(KEY_FILE)))


def main(argv: list[str] | None = None) -> int:
    """``python -m mnist_cnn.book.answers write|check``; returns 0 when the key is current."""
    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.answers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("write", "check"))
    parser.add_argument("--new-salt", action="store_true", help="draw a new salt (write only)")
    args = parser.parse_args(argv)
    path = key_path()
    stored = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    salt = (secrets.token_hex(16) if args.new_salt or stored is None else stored["salt"])
    key = build_key(salt)
    if args.command == "check":
        if key != stored:
            print(f"{path} is out of date: run python -m mnist_cnn.book.answers write")
            return 1
        print(f"{path}: {len(key['digests'])} value exercises, up to date")
        return 0
    atomic_write_text(path, json.dumps(key, indent=1, sort_keys=True) + "\n")
    print(f"wrote {path}: {len(key['digests'])} value exercises")
    return 0


if __name__ == "__main__":
    sys.exit(main())
