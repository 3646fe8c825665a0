"""The grader (python -m mnist_cnn.book grade): results, hostile notebooks, bad input.

Kept cheap: one real chapter (0, the shortest) for the full and the student edition, and tiny
notebooks of a few cells for the planted wrong answer and the hostile cases.
"""

import csv
from pathlib import Path

import nbformat
import pytest

from mnist_cnn.book import grade, student

ROOT = Path(__file__).resolve().parent.parent
CHAPTER_0 = ROOT / "notebooks" / "00_notation_and_data.ipynb"
RIGHT = {"0.1": "((64, 20, 28, 28), (64, 20, 14, 14), 1960500)", "0.2": "(12, True)",
         "0.3": "(1520, 3920)"}


def tiny(path: Path, first: str, answers: dict[str, str]) -> Path:
    """A small notebook of chapter 0: one cell of its own, then answer and check cells."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(first))
    for key, value in answers.items():
        nb.cells.append(nbformat.v4.new_code_cell(f"# Exercise {key}. Your answer:\n"
                                                  f"answer = {value}"))
        nb.cells.append(nbformat.v4.new_code_cell(
            f"from mnist_cnn.book import exercises\n\nexercises.check(\"{key}\", answer)"))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


HOSTILE = {
    "crash": "import ctypes\nctypes.string_at(0)",                      # segmentation fault
    "loop": "while True:\n    pass",
    "exit": "import sys\nsys.exit(0)",
    "escape": "open('../../../escaped.txt', 'w').write('x')",
    "flood": "for _ in range(10):\n    print('x' * 1_000_000)",
    "network": "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=1)",
    "spawn": "import os\nos.system('true')",
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    folder = base / "class"
    (folder / "full").mkdir(parents=True)
    nbformat.write(nbformat.read(CHAPTER_0, 4), folder / "full" / CHAPTER_0.name)
    (folder / "untouched").mkdir()
    student.build_student(CHAPTER_0, folder / "untouched")
    planted = dict(RIGHT, **{"0.2": "(11, True)"})
    tiny(folder / "planted" / "00_notation_and_data.ipynb", "x = 1", planted)
    # an answer cell that raises: that exercise is an error, the others are graded
    tiny(folder / "raises" / "00_notation_and_data.ipynb", "x = 1",
         dict(RIGHT, **{"0.3": "undefined_name"}))
    # a notebook that redefines the check: its wrong answer must still fail
    tiny(folder / "tamper" / "00_notation_and_data.ipynb",
         "from mnist_cnn.book import exercises\nexercises.problems = lambda *a: []",
         {"0.1": "(1, 2, 3)"})
    # a student who hands in chapter 0's exercises under chapter 1's name, and a text file
    tiny(folder / "mixed" / "01_scalar_forward.ipynb", "x = 1", RIGHT)
    (folder / "mixed" / "notes.txt").write_text("not a notebook")
    out = base / "out" / "grades.csv"
    grades = grade.grade(folder, out, timeout=300, jobs=2, chapters=["0", "1"], progress=False)
    return grades, out


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """Tiny hostile notebooks beside a good one, with a short time limit (for the loop)."""
    folder = tmp_path_factory.mktemp("hostile") / "class"
    for name, code in HOSTILE.items():
        tiny(folder / f"hostile_{name}" / "00_notation_and_data.ipynb", code, RIGHT)
    tiny(folder / "good" / "00_notation_and_data.ipynb", "%matplotlib inline\nx = 1", RIGHT)
    return grade.grade(folder, folder.parent / "grades.csv", timeout=8, jobs=2, chapters=["0"],
                       progress=False)


def results(grades, name, chapter="0"):
    return {k: v[0] for (s, k), v in grades.items() if s == name and k.startswith(chapter + ".")}


def test_full_edition_passes_everything(graded):
    grades, _ = graded
    assert set(results(graded[0], "full").values()) == {"pass"}, results(grades, "full")


def test_untouched_student_edition_is_missing(graded):
    assert set(results(graded[0], "untouched").values()) == {"missing"}


def test_one_planted_wrong_answer_fails_exactly_that_exercise(graded):
    assert results(graded[0], "planted") == {"0.1": "pass", "0.2": "fail", "0.3": "pass"}
    assert "H_c): right form, wrong value" in graded[0][("planted", "0.2")][1]


def test_an_answer_that_raises_is_an_error_of_its_exercise_only(graded):
    assert results(graded[0], "raises") == {"0.1": "pass", "0.2": "pass", "0.3": "error"}
    assert "NameError" in graded[0][("raises", "0.3")][1]


def test_a_notebook_cannot_redefine_the_check(graded):
    assert graded[0][("tamper", "0.1")][0] == "fail"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_notebook_gets_error_and_the_rest_is_graded(hostile, name):
    assert set(results(hostile, f"hostile_{name}").values()) == {"error"}, hostile[
        (f"hostile_{name}", "0.1")]
    assert set(results(hostile, "good").values()) == {"pass"}
    assert not (ROOT / "escaped.txt").exists()


def test_csv_feedback_and_chapter_mixup(graded):
    grades, out = graded
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["student", "exercise", "result", "detail"]
    assert {r["result"] for r in rows} <= set(grade.RESULTS)
    assert len(rows) == len({s for s, _ in grades}) * (3 + 4)  # chapters 0 and 1
    feedback = out.parent / "feedback"
    assert sorted(p.stem for p in feedback.glob("*.md")) == sorted({s for s, _ in grades})
    mixed = (feedback / "mixed.md").read_text()
    assert "holds the exercises of chapter 0, not of chapter 1" in mixed
    assert "notes.txt is not a notebook" in mixed
    assert results(grades, "mixed", "1") == {f"1.{i}": "error" for i in range(1, 5)}
    assert set(results(grades, "mixed", "0").values()) == {"missing"}


@pytest.mark.parametrize("setup, message", [
    (lambda d: d / "nowhere", "no such folder"),
    (lambda d: d, "has no sub-folders"),
    (lambda d: (d / "file.txt").write_text("x") and d / "file.txt", "is not a folder"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, setup, message):
    folder = setup(tmp_path)
    assert grade.main([str(folder), "--out", str(tmp_path / "g.csv"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_chapter_is_refused(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    assert grade.main([str(tmp_path), "--chapters", "9", "--no-progress"]) == 2
    assert "no chapter 9" in capsys.readouterr().err


def test_malformed_notebook_is_an_error_not_a_crash(tmp_path):
    (tmp_path / "class" / "amy").mkdir(parents=True)
    (tmp_path / "class" / "amy" / "00_notation_and_data.ipynb").write_text("{ not json")
    grades = grade.grade(tmp_path / "class", tmp_path / "g.csv", chapters=["0"], progress=False)
    assert {v for v in grades.values()} == {
        ("error", "00_notation_and_data.ipynb is not a notebook (malformed JSON: Expecting "
                  "property name enclosed in double quotes, line 1)")}
