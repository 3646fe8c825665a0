"""The chapters' helpers: checks record and assert, the table, the error measures, show_code."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_cnn.book.chapter import TOL_FD, Verification, max_abs_error, show_code
from mnist_cnn.reference.loops import conv_forward_loops
from mnist_cnn.verify.gradcheck import relative_error


def test_check_records_prints_and_asserts(capsys):
    v = Verification("max-abs", tol=1e-12, width=30)
    v.check("(1.3)", "equal arrays", np.ones((2, 3)), np.ones((2, 3)))
    assert "equal arrays" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="max-abs error"):
        v.check("(1.3)", "different arrays", np.ones(3), np.zeros(3))
    with pytest.raises(AssertionError, match="!="):
        v.check("(1.3)", "different shapes", np.ones(3), np.ones(4))
    assert len(v) == 2 and v.rows[0].equation == "(1.3)"  # the failed check is recorded too


def test_the_two_measures_are_the_books():
    a, b = np.array([1.0, 2.0]), np.array([1.0, 2.5])
    assert max_abs_error(a, b) == 0.5
    v = Verification("relative", tol=1.0)
    v.check("(4.5)", "relative", a, b)
    assert float(v.rows[0].measured) == pytest.approx(relative_error(a, b), rel=0.05)
    with pytest.raises(ValueError, match="measure must be one of"):
        Verification("mean")


def test_detects_at_least_table_and_worst():
    v = Verification("relative", tol=TOL_FD)
    v.check_detects("(4.3)", "wrong by a factor", 2 * np.ones(3), np.ones(3))
    with pytest.raises(AssertionError, match="went unnoticed"):
        v.check_detects("(4.3)", "not wrong", np.ones(3), np.ones(3))
    v.check_at_least("(5.4)", "accuracy (%)", 99.1, 98.0)
    v.append(("(4.13)", "sympy residual", "0", "== 0"))
    v.check("(4.5)", "close", np.ones(3), np.ones(3) + 1e-9)
    table = v.table()
    assert table.splitlines()[0].split() == ["equation", "check", "measured", "bound"]
    assert len(table.splitlines()) == 1 + len(v) and "accuracy (%)" in table
    assert v.worst() < TOL_FD


def test_show_code_drops_the_docstring_and_shows_the_door_as_one_line(capsys):
    show_code(conv_forward_loops)
    out = capsys.readouterr().out
    assert out.startswith("@checked(validate.conv_args)\ndef conv_forward_loops(")
    assert '"""' not in out and "require_" not in out and "for n in range(N):" in out
    show_code(conv_forward_loops, between=("    N, C_in", "    x_pad"))
    assert capsys.readouterr().out.startswith("    N, C_in, H_in, W_in = x.shape")
