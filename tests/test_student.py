"""The student edition (make student): no solution text, an answer and a check per exercise."""

import copy
import json
import os
from pathlib import Path

import nbformat
import pytest

from mnist_cnn.book import student
from mnist_cnn.book.exercises import EXERCISES

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    """The student edition: ``$MNIST_CNN_STUDENT`` if given, else built here."""
    given = os.environ.get("MNIST_CNN_STUDENT")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("student")
    student.main(["build", *map(str, CHAPTERS), "--out", str(out)])
    return out


def texts(cell) -> list[str]:
    """A cell's source and everything its outputs show, as text."""
    found = [cell.source]
    for output in cell.get("outputs", []):
        found.append(output.get("text", ""))
        found += [v if isinstance(v, str) else json.dumps(v)
                  for v in output.get("data", {}).values()]
    return found


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name[:2])
def test_full_edition_is_prepared(chapter):
    nb = nbformat.read(chapter, as_version=4)
    solutions = [c for c in nb.cells if student.is_solution(c)]
    assert solutions, "every chapter ends with exercises and their solutions"
    for cell in solutions:
        assert "solution" in cell.metadata.get("tags", [])
        assert cell.metadata.get("jupyter") == {"source_hidden": True, "outputs_hidden": True}
        first = cell.source.splitlines()[0]
        assert first in ("# Solutions.",) or first.rstrip(".").split()[-1].isdigit(), first
        assert student.CHECK_CALL.search(cell.source), "each solution checks its worked answer"
    # idempotent: preparing again changes nothing
    assert student.prepare(copy.deepcopy(nb), student.chapter_of(chapter)) == 0


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name[:2])
def test_student_edition_has_no_solution_text(chapter, edition):
    full = nbformat.read(chapter, as_version=4)
    handout = nbformat.read(edition / chapter.name, as_version=4)
    elsewhere = {line.strip() for c in full.cells if not student.is_solution(c)
                 for text in texts(c) for line in text.splitlines()}
    solution_lines = {line.strip() for c in full.cells if student.is_solution(c)
                      for text in texts(c) for line in text.splitlines()}
    secret = {line for line in solution_lines
              if len(line) >= 8 and line not in elsewhere and line != student.IMPORT}
    shown = {line.strip() for c in handout.cells for text in texts(c) for line in text.splitlines()}
    leaked = sorted(secret & shown)
    assert leaked == []
    assert not any("solution" in c.metadata.get("tags", []) for c in handout.cells)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name[:2])
def test_every_exercise_has_an_answer_cell_and_a_check(chapter, edition):
    handout = nbformat.read(edition / chapter.name, as_version=4)
    tags = [c.metadata.get("tags", []) for c in handout.cells]
    answers = [c for c, t in zip(handout.cells, tags, strict=True) if "answer" in t]
    checks = [c for c, t in zip(handout.cells, tags, strict=True) if "check" in t]
    wanted = sorted(k for k in EXERCISES if k.split(".")[0] == student.chapter_of(chapter))
    assert sorted(student.CHECK_CALL.findall("".join(c.source for c in checks))) == wanted
    assert len(answers) == len(wanted)
    for cell in answers + checks:
        assert cell.outputs == [] and cell.execution_count is None
    for cell in answers:
        assert cell.source.rstrip().endswith("answer = ...")
    assert student.STUDENT_NOTE in "".join(c.source for c in handout.cells)
    assert student.FULL_NOTE not in "".join(c.source for c in handout.cells)


def test_student_check_cell_runs_and_fails_on_the_placeholder(capsys):
    from mnist_cnn.book import exercises

    namespace = {"exercises": exercises}
    exec("answer = ...\nexercises.check('1.2', answer)", namespace)
    assert capsys.readouterr().out == (
        "Exercise 1.2: FAIL (no answer yet: replace the ... with yours)\n")
