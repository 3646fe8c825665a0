"""The student edition: every chapter without its solutions, with an answer cell and a check.

What this is: the engine behind ``make student``, and the idempotent ``prepare`` step that keeps
the full edition ready for it. ``prepare`` tags every solution cell ``solution``, collapses it
in JupyterLab (source and outputs), makes its first line a bare ``# Solution n.`` (the collapsed
placeholder shows that line), and ends it with ``assert exercises.check("c.n", worked)``, so
nbval proves that the worked answer passes the check. ``build`` copies each chapter to the output
folder, replacing every solution cell by an answer cell (``answer = ...``) and a check cell
(``exercises.check("c.n", answer)``), from ``mnist_cnn.exercises``.
What this is not: a second source. The full edition in ``notebooks/`` is the only one; the
student edition is generated, never edited.

Usage: ``python -m mnist_cnn.book.student prepare notebooks/*.ipynb`` (after editing a chapter),
``python -m mnist_cnn.book.student build notebooks/*.ipynb --out build/student``
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import time
from pathlib import Path

from mnist_cnn.book.exercises import EXERCISES
from mnist_cnn.tools.files import atomic_write_text

IMPORT = "from mnist_cnn.book import exercises"
CHECK_CALL = re.compile(r'exercises\.check\("(\d+\.\d+)"')
FULL_NOTE = (
    "Each exercise is followed by its worked solution (collapsed in JupyterLab), which ends by "
    "passing its answer to `exercises.check`. The student edition (`make student`) has, instead "
    "of each solution, a cell for your answer and the same check, which prints PASS or FAIL and "
    "never shows the reference answer."
)
STUDENT_NOTE = (
    "Write your answer in the cell under each exercise, replacing the `...`, and run the cell "
    "after it: `check` prints PASS or FAIL (with what kind of mismatch) and never shows the "
    "reference answer."
)
OLD_NOTE = re.compile(r"(Each solution is|The solutions are)[^\n]*(\n[^\n]+)*")
# Every statement ends with the exact form its check takes, generated from EXERCISES.
ANSWER_LINE = "*Answer (checked):* "
EXERCISE_START = re.compile(r"^(?:\*\*Exercise (\d+)\b|(\d+)\. )", re.MULTILINE)

# The worked answer of each exercise, (expression, definitions it needs), as the full edition's
# solution cell passes it to exercises.check.
# Each is written from the solution's own derivation (arithmetic, or a function in the
# solution's terms); the reference it is compared with is computed by mnist_cnn.exercises.
WORKED = {
    "0.1": ('((64, 20, 28, 28), (64, 20, 14, 14), 20 * 14 * 14 * 500 + 500)', ""),
    "0.2": ('((28 - 5) // 2 + 1, ((28 - 5) // 2 + 1) % 2 == 0)', ""),
    "0.3": ('(20 * (3 * 25 + 1), 20 * 14 * 14)', ""),
    "1.1": ('((28 - 5 + 4) // 1 + 1, 14, 20 * 14 * 14, (500, 20 * 14 * 14), ["fc1"])', ""),
    "1.2": ('(H_c_s2, list(range((H_c_s2 - 1) * 2 + 5 + 1, 29)))', ""),
    "1.3": ('((64, 3, 32, 32), (20, 3, 5, 5), (64, 20, 28, 28), (64, 20, 14, 14), '
            '(64, 20 * 14 * 14), 1520, "c")', ""),
    "1.4": ('(conv_mults, fc1_mults, more_parameters, more_work)', ""),
    "2.1": ('((25, 196), (20, 25), (20, 196))', ""),
    "2.2": ('copies', ""),
    "2.3": ('((25 - 2) // 2 + 1, 25 - 2 * 12, False)', ""),
    "2.4": ('fc1_entry', '''\
def fc1_entry(z_flat, w_fc1, b_fc1, n, h):
    """Entry (n, h) of Eq. (1.8), the sum written out."""
    return b_fc1[h] + sum(z_flat[n, r] * w_fc1[h, r] for r in range(z_flat.shape[1]))
'''),
    "3.1": ('((3 * 25, 28 * 28), (6, 3 * 25), (6, 28 * 28))', ""),
    "3.2": ('to_ijc', '''\
def to_ijc(X_col, C_in, K):
    """The rows of X_col, in (c, i, j) order, put in (i, j, c) order."""
    return X_col.reshape(C_in, K, K, -1).transpose(1, 2, 0, 3).reshape(C_in * K * K, -1)
'''),
    "3.3": ('(X_wide2.shape, Z_wide2.shape)', ""),
    "3.4": ('conv1x1', '''\
def conv1x1(x, w):
    """1 x 1 convolution as the fc layer w [C_out, C_in] applied to every pixel."""
    pixels_ = x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])
    z_, _ = layers.fc_forward(pixels_, w, np.zeros(w.shape[0]))
    return z_.reshape(x.shape[0], x.shape[2], x.shape[3], -1).transpose(0, 3, 1, 2)
'''),
    "4.1": ('dw_stride2', '''\
def dw_stride2(x, delta, K):
    """(4.12) for S = 2: valid correlation of x with the dilated delta, first K x K entries."""
    N_, C_out_, H_c_, W_c_ = delta.shape
    dilated_ = np.zeros((N_, C_out_, 2 * H_c_ - 1, 2 * W_c_ - 1))
    dilated_[:, :, ::2, ::2] = delta
    return np.array([[sum(scipy.signal.correlate(x[n, c], dilated_[n, o], mode="valid")[:K, :K]
                          for n in range(N_)) for c in range(x.shape[1])] for o in range(C_out_)])
'''),
    "4.2": ('dx_padding1', '''\
def dx_padding1(delta, w):
    """dL/dx for P = 1: full correlation with the flipped kernel, the padding border cropped."""
    full = np.array([[sum(scipy.signal.correlate(delta[n, o], w[o, c, ::-1, ::-1], mode="full")
                          for o in range(w.shape[0])) for c in range(w.shape[1])]
                     for n in range(delta.shape[0])])
    return full[:, :, 1:-1, 1:-1]
'''),
    "4.3": ('((1, 2), slopes[(1, 0)], changed)', ""),
    "4.4": ('summed_loss', '''\
def summed_loss(y, labels):
    """The summed cross-entropy, N times the mean of Eq. (4.1)."""
    return -np.sum(np.log(y[np.arange(len(labels)), labels]))
'''),
    "5.1": ('lambda eta, mu: eta / (1 - mu)', ""),
    "5.2": ('lambda g, w, lam: g + lam * w', ""),
    "5.3": ('(round(100 * touched, 1), round(100 * lost_share, 2))', ""),
    "5.4": ('lambda T, eta_0: eta_0 / 2 * (1 + 1 / T)', ""),
    "6.1": ('lambda p, i: 2 * (p - 1) + i', ""),
    "6.2": ('lambda delta_fc2, w_fc2: delta_fc2 @ w_fc2', ""),
    "6.3": ('lambda y, t: (y - t).sum(axis=0) / len(y)', ""),
    "6.4": ('lambda z_flat, delta_fc1: delta_fc1.T @ z_flat', ""),
    "6.5": ('sorted(round(float(v), 6) for v in positive + negative)', ""),
    "7.1": ('sorted({c.source for c in general})', ""),
    "7.2": ('(counts["independent"], counts["consistency"])', ""),
}


def chapter_of(path: Path) -> str:
    """``"1"`` for ``01_scalar_forward.ipynb``: the number the exercises are filed under."""
    return str(int(path.name[:2]))


def is_solution(cell) -> bool:
    """A solution cell: tagged ``solution``, or a code cell that opens with ``# Solution``."""
    return cell.cell_type == "code" and (
        "solution" in cell.metadata.get("tags", [])
        or cell.source.lstrip().startswith("# Solution")
    )


def exercises_of(cell, chapter: str) -> list[str]:
    """The exercises a solution cell answers: ``# Solution n`` or, unnumbered, the chapter's."""
    match = re.match(r"# Solution (\d+)", cell.source.lstrip())
    if match:
        return [f"{chapter}.{match.group(1)}"]
    return [key for key in WORKED if key.split(".")[0] == chapter]


def with_answer_lines(source: str, chapter: str) -> str:
    """End every exercise statement of a markdown cell with its checked answer form.

    A statement starts with ``**Exercise n`` (or ``n. `` in a numbered list after the
    ``## Exercises`` heading) and runs to the next statement or the end of the cell; its last
    line becomes ``*Answer (checked):* <EXERCISES[c.n].form>``, replacing an older one.
    Idempotent.
    """
    head, _, tail = source.partition("## Exercises") if "## Exercises" in source else (
        "", "", source)
    starts = list(EXERCISE_START.finditer(tail))
    if not starts:
        return source
    pieces = [tail[:starts[0].start()]]
    for match, following in zip(starts, starts[1:] + [None], strict=True):
        block = tail[match.start():following.start() if following else len(tail)]
        number = match.group(1) or match.group(2)
        key = f"{chapter}.{number}"
        if key not in EXERCISES:
            pieces.append(block)
            continue
        indent = "" if match.group(1) else " " * (len(number) + 2)
        rest = ""
        if indent:  # a list item ends before the first paragraph that is not indented
            end = re.search(r"\n\n(?=[^\s\d])", block)
            if end:
                block, rest = block[:end.start()], block[end.start():]
        kept = [line for line in block.rstrip("\n").split("\n")
                if not line.strip().startswith(ANSWER_LINE)]
        while kept and not kept[-1].strip():
            kept.pop()
        trailing = "\n\n" if following else ("\n" if block.endswith("\n") else "")
        pieces.append("\n".join(kept) + f"\n\n{indent}{ANSWER_LINE}{EXERCISES[key].form}"
                      + (rest or trailing))
    return head + ("## Exercises" if head or source.startswith("## Exercises") else "") + \
        "".join(pieces)


def prepare(nb, chapter: str) -> int:
    """Make the full edition's solution cells ready for the student edition; idempotent.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        One chapter, changed in place.
    chapter : str
        Its number, e.g. ``"1"``.

    Returns
    -------
    int
        The number of cells changed.
    """
    changed, imported, in_exercises = 0, False, False
    for cell in nb.cells:
        before = (cell.source, json.dumps(cell.metadata, sort_keys=True))
        if cell.cell_type == "markdown" and OLD_NOTE.search(cell.source):
            cell.source = OLD_NOTE.sub(FULL_NOTE, cell.source, count=1)
        if cell.cell_type == "markdown":
            in_exercises = in_exercises or "## Exercises" in cell.source
            if in_exercises:
                cell.source = with_answer_lines(cell.source, chapter)
        if not is_solution(cell):
            changed += before != (cell.source, json.dumps(cell.metadata, sort_keys=True))
            continue
        tags = cell.metadata.setdefault("tags", [])
        # "solution" marks it for the student edition; "hide-cell" folds it on the HTML site
        # (myst-nb shows a "show" toggle), as the collapse does in JupyterLab.
        for tag in ("solution", "hide-cell"):
            if tag not in tags:
                tags.append(tag)
        cell.metadata["jupyter"] = {"source_hidden": True, "outputs_hidden": True}
        # the collapsed cell shows its first line: keep only the label there
        cell.source = re.sub(r"\A# Solution (\d+)\. (\S)", r"# Solution \1.\n# \2", cell.source)
        if re.match(r"\A# \d+\. ", cell.source):  # chapter 0: one cell for all its exercises
            cell.source = "# Solutions.\n" + cell.source
        lines = cell.source.rstrip("\n")
        if not imported and IMPORT not in lines:
            lines += "\n" + IMPORT + "\n"
        for key in exercises_of(cell, chapter):
            if f'exercises.check("{key}"' not in lines:
                answer, definition = WORKED[key]
                if definition:
                    lines += "\n\n\n" + definition + "\n"
                lines += f'\nassert exercises.check("{key}", {answer})'
        imported = True
        cell.source = re.sub(r"\n{4,}", "\n\n\n", lines)  # two blank lines before a def
        changed += before != (cell.source, json.dumps(cell.metadata, sort_keys=True))
    return changed


def student_cells(nb) -> list:
    """The cells of the student edition of one chapter.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        A prepared chapter of the full edition (not changed).

    Returns
    -------
    list of nbformat.NotebookNode
        Every cell but the solutions; for each exercise a solution answered, an answer cell
        (tag ``answer``) and a check cell (tag ``check``), both without outputs.
    """
    import nbformat

    cells, imported = [], False
    for cell in nb.cells:
        if cell.cell_type == "markdown" and FULL_NOTE in cell.source:
            cell = copy.deepcopy(cell)
            cell.source = cell.source.replace(FULL_NOTE, STUDENT_NOTE)
        if "solution" not in cell.metadata.get("tags", []):
            cells.append(cell)
            continue
        for key in CHECK_CALL.findall(cell.source):
            answer = nbformat.v4.new_code_cell(
                f"# Exercise {key}. Your answer: {EXERCISES[key].form}\nanswer = ...")
            answer.metadata = {"tags": ["answer"], "slideshow": {"slide_type": "-"}}
            answer.id = f"answer-{key.replace('.', '-')}"  # the same ids at every build
            call = f'exercises.check("{key}", answer)'
            checker = nbformat.v4.new_code_cell(call if imported else f"{IMPORT}\n\n{call}")
            checker.metadata = {"tags": ["check"], "slideshow": {"slide_type": "-"}}
            checker.id = f"check-{key.replace('.', '-')}"
            cells += [answer, checker]
            imported = True
    return cells


def build_student(path: Path, out_dir: Path) -> Path:
    """Write the student edition of one chapter.

    Parameters
    ----------
    path : pathlib.Path
        The chapter (full edition, prepared).
    out_dir : pathlib.Path
        The student edition's folder.

    Returns
    -------
    pathlib.Path
        ``out_dir/<same name>.ipynb``.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    student = copy.deepcopy(nb)
    student.cells = student_cells(nb)
    target = out_dir / path.name
    atomic_write_text(target, nbformat.writes(student) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``python -m mnist_cnn.book.student``.

    Parameters
    ----------
    argv : list of str, optional
        ``prepare NOTEBOOKS...`` or ``build NOTEBOOKS... --out DIR``; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success.
    """
    import nbformat

    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.student",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="tag and finish the full edition's solution cells")
    prep.add_argument("notebooks", nargs="+", type=Path)
    build = sub.add_parser("build", help="write the student edition")
    build.add_argument("notebooks", nargs="+", type=Path)
    build.add_argument("--out", type=Path, default=Path("build/student"))
    args = parser.parse_args(argv)

    missing = [p for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(map(str, missing))}")
    if args.command == "prepare":
        for path in args.notebooks:
            nb = nbformat.read(path, as_version=4)
            changed = prepare(nb, chapter_of(path))
            atomic_write_text(path, nbformat.writes(nb) + "\n")
            print(f"{path}: {changed} cells changed")
        return 0
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in args.notebooks:
        target = build_student(path, args.out)
        count += sum("check" in c.metadata.get("tags", []) for c in nbformat.read(target, 4).cells)
        print("wrote", target)
    print(f"{len(args.notebooks)} chapters, {count} checked exercises, "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
