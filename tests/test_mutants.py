"""The mutation table is current: each snippet occurs once, and a mutant really changes the code."""

from pathlib import Path

import pytest

from mnist_cnn.book import mutants


def test_at_least_30_named_mutants_each_with_a_test_target():
    names = [m.name for m in mutants.MUTANTS]
    assert len(names) >= 30 and len(names) == len(set(names))
    assert all(m.tests and m.mistake and m.old != m.new for m in mutants.MUTANTS)


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_every_snippet_occurs_exactly_once_in_the_working_tree(mutant):
    assert (mutants.ROOT / mutant.file).read_text().count(mutant.old) == 1


def test_apply_changes_only_the_copy_and_refuses_a_stale_snippet(tmp_path):
    mutant = mutants.MUTANTS[0]
    target = tmp_path / mutant.file
    target.parent.mkdir(parents=True)
    original = (mutants.ROOT / mutant.file).read_text()
    target.write_text(original)
    mutants.apply(mutant, tmp_path)
    assert mutant.new in target.read_text()
    assert (mutants.ROOT / mutant.file).read_text() == original
    with pytest.raises(ValueError, match="stale"):
        mutants.apply(mutant, tmp_path)  # the snippet is gone now
    assert Path(mutants.__file__).is_relative_to(mutants.ROOT)


def test_a_notebook_check_that_fails_kills_and_one_that_holds_does_not(tmp_path):
    import os

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
