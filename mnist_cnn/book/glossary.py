"""The glossary of notation: every symbol of chapters 0-4, its meaning, its defining chapter.

What this is: the one source of the book's notation table. Chapter 0's section "Glossary of
notation" is a markdown cell written from :data:`GLOSSARY` (``python -m
mnist_cnn.book.glossary sync notebooks/00_notation_and_data.ipynb``), and the HTML book's page
``glossary.html`` is :func:`markdown_page` (``docs/build.py`` writes it). ``tests/test_glossary.py``
checks, on the notebooks' own LaTeX, that

* no chapter uses a symbol before the chapter that defines it (homework order 0 -> 1 -> 2 ->
  3 -> 4; chapter 0 sets the notation);
* no symbol has two meanings: each symbol is listed once, and every index letter is only ever
  run over the ranges listed here (``m = 1..H_c`` and ``m = 1..H_in`` are the rows of two maps;
  ``u = 1..K_p^2`` next to ``u = 1..H_in`` would be two meanings of ``u``);
* chapter 0's glossary cell is exactly what :func:`markdown_table` writes.

What this is not: a parser. Symbols are found by regular expressions on the LaTeX between
``$`` signs, which is enough for the book's consistent typesetting.

Usage: ``python -m mnist_cnn.book.glossary sync NOTEBOOK`` (rewrite the glossary cell) or
``python -m mnist_cnn.book.glossary page`` (print the site page).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GLOSSARY", "Symbol", "CHAPTERS", "math_segments", "first_use", "index_ranges",
           "markdown_table", "markdown_page", "sync"]

CHAPTERS = {0: "00_notation_and_data", 1: "01_scalar_forward", 2: "02_im2col_forward",
            3: "03_channel_parallel_im2col", 4: "04_delta_rule_backward"}
"""The chapters the glossary covers, in homework order."""

MARK = "<!-- glossary: written by python -m mnist_cnn.book.glossary sync; do not edit -->"


@dataclass(frozen=True)
class Symbol:
    """One entry of the glossary.

    Attributes
    ----------
    latex : str
        The symbol as typeset (without ``$``).
    meaning : str
        What it means, in one line.
    chapter : int
        The chapter that defines it (0-4).
    pattern : str
        A regular expression that finds the symbol in a chapter's LaTeX.
    ranges : tuple of str
        For an index letter: the upper limits ``1..X`` it may run to (LaTeX, spaces removed).
    """

    latex: str
    meaning: str
    chapter: int
    pattern: str
    ranges: tuple[str, ...] = field(default=())


def _letter(c: str) -> str:
    """A lower-case index letter standing alone in a subscript or range (not part of a name)."""
    return rf"(?<![A-Za-z\\]){c}(?![A-Za-z{{])"


_S = Symbol
GLOSSARY: tuple[Symbol, ...] = (
    # chapter 0: sizes and indices
    _S("N", "batch size (64 in training)", 0, r"(?<![A-Za-z\\])N(?![A-Za-z_])"),
    _S("n", "sample index", 0, r"_\{?n[,}]", ("N",)),
    _S(r"C_{in}", "input channels", 0, r"C_\{in\}"),
    _S("c", "input-channel index (summed over in the conv)", 0, r"[,{]c,", ("C_{in}",)),
    _S(r"C_{out}", "conv filters = output channels", 0, r"C_\{out\}"),
    _S("o", "output-channel (filter) index", 0, r"[,{]o[,}]", ("C_{out}",)),
    _S(r"H_{in}, W_{in}", "input height and width", 0, r"[HW]_\{in\}"),
    _S("K", "conv kernel size", 0, r"(?<![A-Za-z\\])K(?![A-Za-z_])"),
    _S("S", "conv stride", 0, r"(?<![A-Za-z\\])S(?![A-Za-z_])"),
    _S("P", "conv padding", 0, r"(?<![A-Za-z\\])P(?![A-Za-z_])"),
    _S(r"H_{out}", "output size of a window of size K sliding with stride S, Eq. (0.1)", 0,
       r"H_\{out\}"),
    _S(r"H_c, W_c", "conv output height and width", 0, r"[HW]_c(?![a-z])"),
    _S("m, l", "row and column of a map: of the input in (1.1)-(1.2), of the conv output "
       "from (1.3)", 0, r"[,{]m,", ("H_c", "W_c", "H_{in}", "W_{in}", "H_{in}+2P", "W_{in}+2P")),
    _S("i, j", "row and column offset inside a kernel or a pooling window", 0, r"[,{]i,\s*j",
       ("K", "K_p")),
    _S(r"K_p, S_p", "pooling window and pooling stride", 0, r"[KS]_p"),
    _S(r"H_p, W_p", "pooled height and width", 0, r"[HW]_p"),
    _S("p, q", "pooled row and column", 0, r"[,{]p,\s*q", ("H_p", "W_p")),
    _S(r"D_0", "flattened length $C_{out} H_p W_p$", 0, r"D_0"),
    _S("r", "flat index (the homework's j)", 0, r"_\{?n,r\}|[,{]r[,}]", ("D_0",)),
    _S(r"D_1", "fc1 width (hidden units)", 0, r"D_1"),
    _S("h", "hidden-unit index", 0, r"[,{]h[,}]", ("D_1",)),
    _S(r"D_2", "number of classes", 0, r"D_2"),
    _S("k", "class index", 0, r"[,{]k[,}]", ("D_2",)),
    _S(r"D_{in}, D_{out}", "input and output width of a fully connected layer", 0,
       r"D_\{(in|out)\}"),
    _S("x", "the input batch, entries $x_{n,c,m,l}$", 0, r"(?<![A-Za-z\\])x_\{n"),
    # chapter 1: the forward tensors
    _S(r"\tilde x", "the zero-padded input, Eq. (1.2)", 1, r"\\tilde x"),
    _S(r"w^{(conv)}, b^{(conv)}",
       r"conv weights $[C_{out} \times C_{in} \times K \times K]$, biases $[C_{out}]$", 1,
       r"[wb]\^\{\(conv\)\}"),
    _S(r"z^{(conv)}", "conv output, Eq. (1.3)", 1, r"z\^\{\(conv\)\}"),
    _S(r"z^{(pool)}", "max-pooled map, Eq. (1.5)", 1, r"z\^\{\(pool\)\}"),
    _S(r"z^{(flat)}", "the pooled maps flattened to one row per image, Eq. (1.6)", 1,
       r"z\^\{\(flat\)\}"),
    _S(r"w^{(fc1)}, b^{(fc1)}",
       r"fc1 weights $[D_1 \times D_0]$, biases $[D_1]$", 1, r"[wb]\^\{\(fc1\)\}"),
    _S(r"z^{(fc1)}", "fc1 output (pre-activation), Eq. (1.8)", 1, r"z\^\{\(fc1\)\}"),
    _S(r"z^{(relu)}", "ReLU output, Eq. (1.9)", 1, r"z\^\{\(relu\)\}"),
    _S(r"w^{(fc2)}, b^{(fc2)}",
       r"fc2 weights $[D_2 \times D_1]$, biases $[D_2]$", 1, r"[wb]\^\{\(fc2\)\}"),
    _S(r"z^{(fc2)}", "logits, Eq. (1.10)", 1, r"z\^\{\(fc2\)\}"),
    _S("y", "softmax probabilities, Eq. (1.11)", 1, r"(?<![A-Za-z\\])y_\{n"),
    _S("M_n", "largest logit of sample n (the stabiliser of Eq. (1.12))", 1, r"M_n"),
    _S("k'", "class index summed over in the softmax denominator", 1, r"k'", ("D_2",)),
    # chapter 2: matrix forms
    _S(r"X_c^{(n)}",
       r"im2col matrix of sample $n$, channel $c$, $[K^2 \times H_cW_c]$, Eq. (2.1)", 2,
       r"X_c\^\{\(n\)\}"),
    _S(r"F_c", r"filter matrix of input channel $c$, $[C_{out} \times K^2]$, Eq. (2.2)", 2, r"F_c"),
    _S(r"Z^{(n)}", r"conv output of sample $n$ as a matrix $[C_{out} \times H_cW_c]$, Eq. (2.3)", 2,
       r"Z\^\{\(n\)\}"),
    _S(r"\mathbf 1", "a vector of ones (its length as a subscript)", 2, r"\\mathbf\{?\s?1"),
    _S(r"\mathsf X, \mathsf Z", "the batched im2col and output tensors, Eq. (2.4)", 2,
       r"\\mathsf\{?\s?[XZ]"),
    _S(r"\check z", "the conv map reshaped into pooling windows, Eq. (2.5)", 2, r"\\check z"),
    _S(r"X_o^{(n)}", "im2col matrix of one conv map, for pooling, Eq. (2.6)", 2,
       r"X\^\{\(n\)\}_\{?o|X_o\^"),
    _S(r"Z^{(fc1)}, W^{(fc1)}", "fc layers as matrices: one row per image; W the weights, "
       "Eq. (2.7)", 2, r"[ZW]\^\{\(fc[12]\)"),
    _S(r"Y, U, M", "softmax in matrix form: probabilities, shifted exponentials, row maxima, "
       "Eq. (2.8)", 2, r"U = \\exp"),
    _S("col2im", "the transpose of im2col: adds each column back onto its pixels", 2,
       r"\\mathrm\{col2im\}|col2im"),
    # chapter 3
    _S(r"X_{col}^{(n)}",
       r"channel-parallel im2col matrix $[C_{in}K^2 \times H_cW_c]$, Eq. (3.1)", 3,
       r"X_\{col\}"),
    _S(r"W_{mat}",
       r"all filters as one matrix $[C_{out} \times C_{in}K^2]$, Eq. (3.2)", 3, r"W_\{mat\}"),
    # chapter 4: the backward pass
    _S("L", "the loss, cross-entropy averaged over the batch, Eq. (4.1)", 4,
       r"\\partial L|(?<![A-Za-z\\{])L = "),
    _S("t", "one-hot targets $t_{n,k}$", 4, r"(?<![A-Za-z\\])t_\{n"),
    _S(r"\delta^{(layer)}",
       r"local gradient (delta) $\partial L/\partial z^{(layer)}$ of a layer's "
       "output; CS231n's upstream gradient", 4, r"\\delta\^\{\(|\\delta_\{"),
    _S(r"z^{(low)}, z^{(up)}", "the output of a lower layer and of the layer that reads it, in "
       "the general delta rule", 4, r"z\^\{\((low|up)\)\}"),
    _S(r"\alpha, \beta", "index tuples of $z^{(low)}$ and $z^{(up)}$ in the delta rule", 4,
       r"\\alpha|\\beta"),
    _S(r"\theta", r"a parameter; in $y_k(x_n; \theta)$, all of them", 4, r"\\theta"),
    _S(r"L^{(SE)}", "squared-error loss, Eq. (4.4)", 4, r"L\^\{\(SE\)\}"),
    _S(r"i^*, j^*", "position of the maximum inside a pooling window (first on ties)", 4,
       r"[ij]\^\*"),
    _S("u, v", "row and column of an input pixel", 4, r"[,{]u,\s*v", ("H_{in}", "W_{in}")),
    _S(r"\Delta^{(n)}", r"delta of sample $n$'s conv output as a matrix $[C_{out} \times H_cW_c]$, "
       "Eq. (4.15)", 4, r"\\Delta\^\{\(n\)\}"),
    _S(r"\Delta^{(fc2)}", "deltas of an fc layer as a matrix, one row per sample", 4,
       r"\\Delta\^\{\(fc|\\Delta\^\{\(relu|\\Delta\^\{\(flat"),
    _S(r"\varepsilon", "step of the centred finite differences", 4, r"\\varepsilon"),
    _S(r"E_{n,k}", r"stands for $\exp(z^{(fc2)}_{n,k})$ in the exact sympy check", 4,
       r"E_\{n,k\}"),
)
"""Every symbol of chapters 0-4, in the order the chapters define them."""


_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)


def _markdown_cells(path: Path) -> list[str]:
    cells = json.loads(Path(path).read_text())["cells"]
    return ["".join(c["source"]) for c in cells
            if c["cell_type"] == "markdown" and MARK not in "".join(c["source"])]


def math_segments(path: str | Path) -> list[str]:
    """The LaTeX between ``$$ $$`` or ``$ $`` in a notebook's markdown (the glossary cell excluded).

    Parameters
    ----------
    path : str or Path
        A notebook.

    Returns
    -------
    list of str
    """
    out = []
    for text in _markdown_cells(Path(path)):
        out += [a or b for a, b in _MATH.findall(text)]
    return out


def first_use(notebooks: dict[int, Path]) -> dict[str, int | None]:
    """For each symbol, the first chapter (in homework order) whose LaTeX uses it.

    Parameters
    ----------
    notebooks : dict of int to Path
        Chapter number -> notebook.

    Returns
    -------
    dict of str to int or None
        ``Symbol.latex`` -> the first chapter, or None when no chapter uses it.
    """
    maths = {k: "\n".join(math_segments(p)) for k, p in sorted(notebooks.items())}
    found: dict[str, int | None] = {}
    for s in GLOSSARY:
        found[s.latex] = next((k for k, text in maths.items() if re.search(s.pattern, text)), None)
    return found


_SUM = re.compile(r"\\(?:sum|max|prod)_\{\s*([a-z]'?)\s*=\s*1\s*\}\^"
                  r"(\{(?:[^{}]|\{[^{}]*\})*\}|\\?\w)")
_RANGE = re.compile(r"((?:(?<![A-Za-z\\])[a-z]'?\s*,\s*)*(?<![A-Za-z\\])[a-z]'?)\s*=\s*1\s*\.\.\s*"
                    r"((?:[A-Za-z0-9_+^*{}]|\\?\s(?=[+]))+)")


def _norm(limit: str) -> str:
    limit = re.sub(r"\s|\\,|\\;|\\ ", "", limit).rstrip(",.")
    while limit.count("}") > limit.count("{") and limit.endswith("}"):
        limit = limit[:-1]  # the brace that closes a subscript around the range
    return limit


def index_ranges(path: str | Path) -> list[tuple[str, str, str]]:
    """Every index range the notebook's LaTeX declares: ``m = 1..H_c`` or ``\\sum_{m=1}^{H_c}``.

    Parameters
    ----------
    path : str or Path
        A notebook.

    Returns
    -------
    list of (letter, upper limit, the text it came from)
    """
    out = []
    for seg in math_segments(path):
        for letter, limit in _SUM.findall(seg):
            if limit.startswith("{"):
                limit = limit[1:-1]
            out.append((letter, _norm(limit), seg.strip()[:80]))
        for letters, limit in _RANGE.findall(seg):
            for letter in re.split(r"\s*,\s*", letters.strip()):
                out.append((letter, _norm(limit), seg.strip()[:80]))
    return out


def allowed_ranges() -> dict[str, set[str]]:
    """Index letter -> the upper limits the glossary allows it."""
    allowed: dict[str, set[str]] = {}
    for s in GLOSSARY:
        if s.ranges:
            for letter in re.split(r",\s*", s.latex):
                allowed.setdefault(letter, set()).update(_norm(r) for r in s.ranges)
    return allowed


def markdown_table() -> str:
    """The glossary as a markdown table (LaTeX in ``$...$``), grouped by defining chapter."""
    lines = ["| symbol | meaning | defined in |", "|---|---|---|"]
    for s in GLOSSARY:
        symbol = s.latex if s.latex == "col2im" else f"${s.latex}$"
        where = f"chapter {s.chapter}"
        lines.append(f"| {symbol} | {s.meaning} | {where} |")
    return "\n".join(lines)


def markdown_page() -> str:
    """The site's glossary page (``docs/build.py`` writes it as ``glossary.md``)."""
    return ("# Glossary of notation\n\n"
            "Every symbol of chapters 0-4, what it means and the chapter that defines it. "
            "The maths is 1-based and the code 0-based: the entry $x_{n,c,m,l}$ is "
            "`x[n-1, c-1, m-1, l-1]`. The same table is the glossary section of chapter 0; "
            "both are written from `mnist_cnn.book.glossary`.\n\n" + markdown_table() + "\n")


def _cell_text() -> str:
    return (MARK + "\n\n### Glossary of notation\n\nEvery symbol of chapters 1-4, what it "
            "means and "
            "the chapter that defines it. No chapter uses a symbol before that chapter, and no "
            "symbol has two meanings (`tests/test_glossary.py` checks both on the chapters' "
            "LaTeX). The same table is a page of the HTML book.\n\n" + markdown_table())


def sync(notebook: str | Path) -> bool:
    """Rewrite the glossary cell of ``notebook`` from :data:`GLOSSARY`; True if it changed."""
    path = Path(notebook)
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown" and MARK in "".join(cell["source"]):
            new = _cell_text().splitlines(keepends=True)
            if cell["source"] == new:
                return False
            cell["source"] = new
            from mnist_cnn.tools.files import atomic_write_text
            atomic_write_text(path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
            return True
    raise ValueError(f"{path}: no glossary cell (a markdown cell holding {MARK!r})")


def cell_is_current(notebook: str | Path) -> bool:
    """True when the glossary cell of ``notebook`` is exactly what :func:`sync` would write."""
    nb = json.loads(Path(notebook).read_text())
    return any("".join(c["source"]) == _cell_text() for c in nb["cells"]
               if c["cell_type"] == "markdown")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.glossary",
                                     description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("page", help="print the site's glossary page")
    p_sync = sub.add_parser("sync", help="rewrite the glossary cell of a notebook")
    p_sync.add_argument("notebook")
    args = parser.parse_args(argv)
    if args.command == "page":
        sys.stdout.write(markdown_page())
    else:
        print("rewritten" if sync(args.notebook) else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
