"""The chapters' shared helpers: self-recording checks, the verification table, code display.

Every chapter ends with a verification table: each equation, the check behind
it and the measured error. The helpers are written once, here, as d2l's
library does, and every notebook imports them::

    from mnist_cnn.book.chapter import Verification, show_code
    v = Verification()
    v.check("(1.3)", "conv: loops vs scipy", z_loops, z_scipy, tol=1e-12)
    ...
    print(v.table())

What this is not: a test framework. Each check prints its result and asserts it
where it is made, so a wrong equation stops the chapter at that cell.

The error measure (one policy for the whole book)
--------------------------------------------------
* ``max-abs`` -- ``max |a - b|``, for two float64 computations of the same
  numbers on data of order 1 (loops against vectorised code, against scipy,
  against sympy); chapters 1-3 use it, with a bound of ``1e-12``: only
  rounding may differ.
* ``relative`` -- ``||a - b|| / (||a|| + ||b||)``, norms over all entries
  (:func:`mnist_cnn.verify.gradcheck.relative_error`), for gradients and for
  anything whose scale is not of order 1; chapters 4 and 5 use it, with
  ``1e-12`` for two exact computations and ``1e-6`` against centred finite
  differences.

A table row is ``(equation, check, measured, bound)``; ``measured`` and
``bound`` are printed as text so that counts and accuracies fit too.

The ledger
----------
Built with ``chapter=k``, a :class:`Verification` looks every check it records
up in the equation ledger (:mod:`mnist_cnn.book.ledger`) and refuses one that
is not there: the table then shows each check's kind (independent, consistency,
negative, result) and its referee, and the ledger stays the one list of what the
book checks. Checks of the exercises (equation ``"ex. 1"``, ...) need no entry.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from mnist_cnn.book import ledger
from mnist_cnn.verify.gradcheck import relative_error

__all__ = ["MEASURES", "TOL_EXACT", "TOL_FD", "Row", "Verification", "max_abs_error", "show_code"]

#: Two float64 computations of the same numbers: only rounding may differ.
TOL_EXACT = 1e-12
#: Centred finite differences in float64, relative error.
TOL_FD = 1e-6


def max_abs_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """``max |actual - expected|`` over all entries (0 for empty arrays).

    Parameters
    ----------
    actual, expected : array_like
        Same shape.

    Returns
    -------
    float
    """
    diff = np.abs(np.asarray(actual, dtype=np.float64) - np.asarray(expected, dtype=np.float64))
    return float(diff.max()) if diff.size else 0.0


#: The two error measures of the book, by name (see the module docstring).
MEASURES: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "max-abs": max_abs_error,
    "relative": relative_error,
}


class Row(NamedTuple):
    """One line of the verification table (``kind``, ``referee``: from the ledger)."""

    equation: str
    check: str
    measured: str
    bound: str
    kind: str = ""
    referee: str = ""


class Verification:
    """The checks of one chapter, each recorded for the final table.

    Parameters
    ----------
    measure : {"max-abs", "relative"}
        The chapter's error measure (see the module docstring).
    tol : float
        The default bound of :meth:`check`.
    width : int, default 60
        Width of the check column when printing.
    chapter : int, optional
        Look every recorded check up in the equation ledger and show its kind.

    Examples
    --------
    >>> v = Verification("max-abs", tol=1e-12, width=20)
    >>> v.check("(0.1)", "two sums", np.ones(3), np.ones(3))
    two sums             max-abs error < 1e-12: True
    >>> v.rows[0].measured
    '0.0e+00'
    """

    def __init__(self, measure: str = "max-abs", tol: float = 1e-12, width: int = 60,
                 chapter: int | None = None) -> None:
        if measure not in MEASURES:
            raise ValueError(f"measure must be one of {sorted(MEASURES)}; got {measure!r}")
        self.measure, self.tol, self.width, self.chapter = measure, tol, width, chapter
        self.rows: list[Row] = []

    def record(self, equation: str, check: str, measured: str, bound: str) -> None:
        """Add a row for a check made elsewhere (a table of its own, an exact sympy residual)."""
        kind = referee = ""
        if self.chapter is not None:
            if equation.startswith("ex."):
                kind, referee = "exercise", ""
            else:
                entry = ledger.find(equation, check)
                if entry is None:
                    raise KeyError(f"check {equation} {check!r} is not in the equation ledger "
                                   "(mnist_cnn/book/ledger.py); add it there with its kind")
                kind, referee = entry.kind, entry.source
        self.rows.append(Row(equation, check, measured, bound, kind, referee))

    def append(self, row: tuple[str, str, str, str]) -> None:
        """:meth:`record` for a ``(equation, check, measured, bound)`` tuple."""
        self.record(*row)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def worst(self) -> float:
        """The largest measured error among the rows with an upper bound (``< tol``)."""
        return max(float(r.measured) for r in self.rows if r.bound.startswith("<"))

    def check(self, equation: str, what: str, actual, expected, tol: float | None = None) -> None:
        """Compare two arrays with the chapter's measure; record, print and assert the bound."""
        tol = self.tol if tol is None else tol
        actual, expected = np.asarray(actual), np.asarray(expected)
        assert actual.shape == expected.shape, f"{what}: {actual.shape} != {expected.shape}"
        error = MEASURES[self.measure](actual, expected)
        self.record(equation, what, f"{error:.1e}", f"< {tol:.0e}")
        print(f"{what:<{self.width}} {self.measure} error < {tol:.0e}: {error < tol}")
        assert error < tol, f"{what}: {self.measure} error {error:.2e}"

    def check_detects(self, equation: str, what: str, wrong, expected, least: float = 1e-2
                      ) -> None:
        """A deliberately wrong formula must be *far* from the reference: the check can fail."""
        error = MEASURES[self.measure](np.asarray(wrong), np.asarray(expected))
        self.record(equation, what, f"{error:.1e}", f"> {least:.0e}")
        print(f"{what:<{self.width}} {self.measure} error > {least:.0e}: {error > least}")
        assert error > least, f"{what}: a wrong formula went unnoticed ({error:.2e})"

    def check_at_least(self, equation: str, what: str, value: float, bound: float,
                       unit: str = "") -> None:
        """A measured quantity must reach a bound: record, print the comparison, assert it."""
        self.record(equation, what, f"{value:.4g}{unit}", f">= {bound:g}{unit}")
        print(f"{what:<{self.width}} >= {bound:g}{unit}: {value >= bound}")
        assert value >= bound, f"{what}: {value} < {bound}"

    def table(self, width: int = 90) -> str:
        """The verification table: equation, [kind,] check, measured, bound; one row per check.

        With a ledger (``chapter`` given) each row shows its kind, abbreviated
        (``indep``, ``cons``, ``neg``, ``res``, ``ex``), the check text wraps so that
        no line is longer than ``width``, and the last line counts the kinds.
        """
        eq = max([len("equation")] + [len(r.equation) for r in self.rows])
        measured = max([len("measured")] + [len(r.measured) for r in self.rows])
        if self.chapter is None:
            lines = [f"{'equation':<{eq}} {'check':<{self.width}} {'measured':>{measured}} bound"]
            for r in self.rows:
                lines.append(f"{r.equation:<{eq}} {r.check:<{self.width}} "
                             f"{r.measured:>{measured}} {r.bound}")
            return "\n".join(lines)
        bound = max(len(r.bound) for r in self.rows) if self.rows else 5
        check = max(20, width - (eq + 1 + 5 + 1 + 1 + measured + 1 + bound))
        lines = [f"{'equation':<{eq}} {'kind':<5} {'check':<{check}} {'measured':>{measured}} "
                 f"bound"]
        for r in self.rows:
            parts = textwrap.wrap(r.check, check) or [""]
            lines.append(f"{r.equation:<{eq}} {_SHORT.get(r.kind, r.kind):<5} {parts[0]:<{check}} "
                         f"{r.measured:>{measured}} {r.bound}")
            lines += [f"{'':<{eq}} {'':<5} {part}" for part in parts[1:]]
        counts = {k: sum(r.kind == k for r in self.rows) for k in (*ledger.KINDS, "exercise")}
        lines.append("kinds: " + ", ".join(f"{v} {k} ({_SHORT[k]})"
                                           for k, v in counts.items() if v))
        return "\n".join(lines)


#: Short names of the kinds of check, for the table.
_SHORT = {"independent": "indep", "consistency": "cons", "negative": "neg", "result": "res",
          "exercise": "ex"}


def show_code(function: Callable, docstring: bool = False,
              between: tuple[str, str] | None = None) -> None:
    """Print a function's source, by default without its docstring.

    Parameters
    ----------
    function : callable
        A function of the package (a ``@checked`` one shows its check as one line).
    docstring : bool, default False
    between : (str, str), optional
        Print only from the line that starts with the first text up to (not
        including) the line that starts with the second, e.g. one function's
        backward pass.
    """
    source = inspect.getsource(function)
    if between is not None:
        start, stop = between
        print(source[source.index(start) : source.index(stop)])
        return
    if not docstring:
        lines = source.splitlines()
        body = ast.parse(source).body[0].body
        if isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                        ast.Constant):
            doc = body[0]
            lines = lines[: doc.lineno - 1] + lines[doc.end_lineno :]
        source = "\n".join(lines)
    print(source)
