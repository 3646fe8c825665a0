"""The mutation tables are current: every anchor holds its node once; a mutant edits the copy."""

import ast
import os
from pathlib import Path

import pytest

from mnist_cnn.book import mutants
from mnist_cnn.reference import loops


def test_at_least_30_named_mutants_each_with_a_test_target():
    names = [m.name for m in mutants.MUTANTS]
    assert len(names) >= 30 and len(names) == len(set(names))
    assert all(m.tests and m.mistake and m.old != m.new for m in mutants.MUTANTS)
    assert all(callable(m.anchor) for m in mutants.MUTANTS)  # objects, not names


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_every_node_occurs_exactly_once_in_its_anchor(mutant):
    assert len(mutants.locate(mutant, (mutants.ROOT / mutant.file).read_text())) == 1


def test_a_reformat_does_not_break_a_mutant_and_a_change_is_loud():
    mutant = next(m for m in mutants.MUTANTS if m.name == "conv-stride-ignored")
    text = (mutants.ROOT / mutant.file).read_text()
    old = "acc += w[o, c, i, j] * x_pad[n, c, m * S + i, l * S + j]"
    reformatted = text.replace(old, "acc += (w[o, c, i, j]  # a comment\n"
                               "                                        "
                               "* x_pad[n, c, m*S + i, l*S + j])")
    assert reformatted != text and len(mutants.locate(mutant, reformatted)) == 1
    changed = text.replace(old, "acc += w[o, c, i, j] * x_pad[n, c, m * S + i, l + j]")
    assert mutants.locate(mutant, changed) == []
    renamed = mutants.Mutant("x", loops.conv_forward_loops, "acc += w_conv[o, c, i, j]", "0",
                             "a name that is not there", ("tests/test_loops.py",))
    assert mutants.locate(renamed, text) == []


def test_apply_changes_only_the_copy_and_refuses_a_stale_node(tmp_path):
    for mutant in mutants.MUTANTS:
        target = tmp_path / mutant.file
        target.parent.mkdir(parents=True, exist_ok=True)
        original = (mutants.ROOT / mutant.file).read_text()
        target.write_text(original)
        mutants.apply(mutant, tmp_path)
        mutated = target.read_text()
        assert mutated != original and ast.parse(mutated)  # still Python
        assert (mutants.ROOT / mutant.file).read_text() == original
    mutant = mutants.MUTANTS[1]
    target = tmp_path / mutant.file
    target.write_text((mutants.ROOT / mutant.file).read_text())
    mutants.apply(mutant, tmp_path)
    with pytest.raises(ValueError, match="stale"):
        mutants.apply(mutant, tmp_path)  # the node is gone now
    assert Path(mutants.__file__).is_relative_to(mutants.ROOT)


def test_a_notebook_check_that_fails_kills_and_one_that_holds_does_not(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    verdicts = []
    for source in ("assert 1 + 1 == 2", "assert 1 + 1 == 3"):
        path = tmp_path / f"nb{len(verdicts)}.ipynb"
        nb = new_notebook(cells=[new_code_cell(source)],
                          metadata={"kernelspec": {"name": "python3", "language": "python",
                                                   "display_name": "Python 3"}})
        nbformat.write(nb, path)
        verdicts.append(mutants._run_notebook(path, dict(os.environ), 120))
    assert verdicts == [True, False]
