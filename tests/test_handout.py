"""make handout: no worked solution or reference answer in readable form; it installs offline."""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mnist_cnn.book import answers, handout, student

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("handout") / "handout"
    assert handout.main(["build", *map(str, CHAPTERS), "--out", str(out)]) == 0
    return out


def texts_of(folder: Path) -> dict[str, str]:
    """Every text the hand-out holds, by name: its files and the files inside its zips."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.suffix == ".npz":
            continue
        if path.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(path) as archive:
                for name in archive.namelist():
                    if not name.endswith(".npz"):
                        found[f"{path.name}:{name}"] = archive.read(name).decode("utf-8", "replace")
        else:
            found[str(path.relative_to(folder))] = path.read_text("utf-8", "replace")
    return found


def readable_forms(value) -> set[str]:
    """How a reference answer could be written out: shapes and lists of three or more entries or
    with a large one (``(64, 3920)``), whole numbers from 1000 (``1520``, ``1,960,500``),
    percentages. Small pairs such as ``(20, 25)`` are left out: the seed's own shapes are taught
    in the chapters, and they are no answer to an exercise about another network.
    """
    forms = set()
    if isinstance(value, tuple | list) and value and all(isinstance(v, int) for v in value):
        if len(value) >= 3 or max(value) >= 100:
            forms |= {str(tuple(value)), str(list(value))}
    if isinstance(value, tuple | list | set):
        for v in value:
            forms |= readable_forms(v)
    if isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 1000:
        forms |= {str(int(value)), f"{int(value):,}", f"{int(value):_}"}
    if isinstance(value, float) and value > 1:  # the percentages of 5.3
        forms |= {f"{value:.2f}", f"{value:.1f}"}
    return forms


def found_in(form: str, text: str) -> bool:
    """``form`` in ``text``, not as part of a longer number (1520 is not in 11520)."""
    return re.search(rf"(?<![\d.]){re.escape(form)}(?![\d])", text) is not None


def is_number(form: str) -> bool:
    return re.fullmatch(r"[\d.,_]+", form) is not None


def secrets() -> dict[str, set[str]]:
    """Readable forms of every reference answer, and every line of every worked answer."""
    found = {key: readable_forms(compute()) for key, compute in answers.REFERENCES.items()}
    for key, (expression, definition) in student.WORKED.items():
        lines = [expression] + [line.strip() for line in definition.splitlines()]
        found.setdefault(key, set()).update(line for line in lines if len(line) >= 12)
    return found


def searched(name: str, form: str) -> bool:
    """Where a form is looked for: everywhere, except bare numbers in the package's code
    (a benchmark's batch of 4096 is no answer) and the key's hex digests (checked by
    tests/test_exercises.py to hold nothing but digests); the check module itself is searched.
    """
    if name.endswith("exercise_key.json"):
        return False
    if is_number(form) and ".whl:" in name:
        return name.endswith("book/exercises.py")
    return True


def test_the_hand_out_has_what_a_student_needs(built):
    assert sorted(p.name for p in (built / "notebooks").glob("*.ipynb")) == [c.name for c in
                                                                               CHAPTERS]
    assert (built / "data" / "mnist.npz").is_file() and (built / "README.md").is_file()
    assert built.with_suffix(".zip").is_file()
    with zipfile.ZipFile(next((built / "package").glob("*.whl"))) as wheel:
        names = set(wheel.namelist())
    assert "mnist_cnn/book/exercises.py" in names and "mnist_cnn/book/exercise_key.json" in names
    for left_out in handout.LEFT_OUT:
        assert f"mnist_cnn/{left_out}" not in names


def test_no_answer_is_readable_in_the_hand_out(built):
    texts = texts_of(built)
    hits = sorted({(key, form, name) for key, forms in secrets().items() for form in forms
                   for name, text in texts.items() if searched(name, form)
                   and found_in(form, text)})
    assert hits == []
    # no line of a worked solution reaches the hand-out's notebooks
    solution_lines = {line.strip() for c in CHAPTERS for cell in nbformat.read(c, 4).cells
                      if student.is_solution(cell) for line in cell.source.splitlines()}
    other_lines = {line.strip() for c in CHAPTERS for cell in nbformat.read(c, 4).cells
                   if not student.is_solution(cell) for line in cell.source.splitlines()}
    secret_lines = {line for line in solution_lines - other_lines
                    if len(line) >= 12 and line != student.IMPORT}
    shown = {line.strip() for name, text in texts.items() if name.endswith(".ipynb")
             for cell in json.loads(text)["cells"] for line in "".join(cell["source"]).split("\n")}
    assert sorted(secret_lines & shown) == []


def test_the_grep_would_find_a_leak(built, tmp_path):
    # the test above can fail: plant the worked answer of 1.1 in a copy of the hand-out
    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    (copy / "notebooks" / "leak.txt").write_text(student.WORKED["1.1"][0])
    texts = texts_of(copy)
    assert any(found_in(form, texts["notebooks/leak.txt"]) for form in secrets()["1.1"])
    assert found_in("3920", "D_0 = 3920.") and not found_in("1520", "up to 11520")


def test_the_wheel_installs_and_checks_offline(built, tmp_path):
    target = tmp_path / "site"
    wheel = next((built / "package").glob("*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                    "--disable-pip-version-check", "--target", str(target), str(wheel)],
                   check=True)
    # -S: no site-packages hooks (this checkout's editable install stays out); the scientific
    # packages come from this environment's site-packages, the book's package from the wheel
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target),
                                                       sysconfig.get_paths()["purelib"]]))
    script = ("import mnist_cnn, importlib.util as u\n"
              "from mnist_cnn.book import exercises\n"
              f"assert mnist_cnn.__file__.startswith({str(target)!r}), mnist_cnn.__file__\n"
              "assert u.find_spec('mnist_cnn.book.answers') is None\n"
              "assert u.find_spec('mnist_cnn.book.student') is None\n"
              "assert exercises.check('0.2', (12, True)) and not exercises.check('0.2', (11, 1))\n")
    prefix = ["unshare", "-rn"] if shutil.which("unshare") and subprocess.run(
        ["unshare", "-rn", "true"], capture_output=True).returncode == 0 else []
    done = subprocess.run([*prefix, sys.executable, "-S", "-c", script], cwd=built, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "Exercise 0.2: PASS"
