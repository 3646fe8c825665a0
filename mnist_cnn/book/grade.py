"""The grader: autograde the notebooks students hand back (``python -m mnist_cnn.book grade``).

What this is: nbgrader's *autograde* step for this book. ``DIR`` holds one sub-folder per
student with that student's notebooks (the student edition, answered). Each notebook runs in a
process of its own, top to bottom, in a scratch copy of its folder, with a time limit, no
network and writes allowed only inside that scratch folder; every call of ``exercises.check``
is recorded with the verdict of :func:`mnist_cnn.book.exercises.problems` (bound before any
student code runs, so rebinding ``exercises.problems`` changes nothing). The verdict is still
taken inside the student's process: a notebook written to cheat can reach the recorder through
Python's introspection and forge a pass. The grader catches mistakes and accidents, not a
determined forger; judging value answers in the grading process is open work. Each exercise of
each chapter gets one result:

* ``pass`` -- its last check passed;
* ``fail`` -- its last check failed (the detail says what is wrong, form or value, never the
  reference);
* ``missing`` -- the answer is still ``...``, or no check of it ran, or the chapter was not
  handed in;
* ``error`` -- a cell of the exercise raised, or the notebook as a whole misbehaved: it crashed
  the process, ran out of time, called ``sys.exit``, tried to write outside its folder or to
  reach the network, or flooded its output. Then every exercise of that notebook is ``error``
  and the grader goes on with the next notebook.

It writes ``grades.csv`` (``student,exercise,result,detail``), one feedback file per student
(``feedback/<student>.md`` beside the CSV), and prints a table of students × chapters (passes
out of exercises) after a progress bar.

The sandbox: a fresh process per notebook, in its own session (killed as a group at the time
limit), with resource limits (address space, file size, no core files); inside it, an audit
hook (:pep:`578`) refuses every write outside the scratch folder, every socket, and every new
process; where the system allows unprivileged namespaces, the process also runs in one with
no network at all (``unshare -rn``). This stops accidents and ordinary hostile code; it is not
a container, and code that goes through ``ctypes`` could step around the audit hook, so run
the grader in a throw-away container or account when that matters.
What this is not: a manual-grading tool (nbgrader's ``formgrade``); the written parts of an
exercise ("explain why") are for the teacher to read.

Usage: ``python -m mnist_cnn.book grade DIR --out grades.csv [--timeout 600] [--jobs 2]``
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from mnist_cnn.tools.files import atomic_write_text

RESULTS = ("pass", "fail", "missing", "error")
FIELDS = ("student", "exercise", "result", "detail")
OUTPUT_LIMIT = 2 * 2**20  # bytes a notebook may print before it counts as a flood
MEMORY_LIMIT = 6 * 2**30  # address space of one notebook's process
FILE_LIMIT = 256 * 2**20  # largest file a notebook may write (in its scratch folder)
EXIT_FLOOD, EXIT_FATAL = 97, 98
KEY_OF_CELL = re.compile(r'^# Exercise (\d+\.\d+)\.|exercises\.check\(\s*["\'](\d+\.\d+)["\']',
                         re.MULTILINE)
SOLUTION_OF_CELL = re.compile(r"^# Solution (\d+)\.", re.MULTILINE)


# The one process a chapter starts (mnist_cnn.book.bench.step._Worker): its exact command.
BENCH_WORKER = re.compile(r"import sys; from mnist_cnn\.book\.bench\.worker import main; "
                          r"sys\.exit\(main\(sys\.argv\[1:\]\)\)")


class GradeInputError(Exception):
    """Bad input to the grader: one clear line, no traceback."""


def chapter_exercises() -> dict[str, list[str]]:
    """``{"1": ["1.1", ...], ...}``: the book's exercises by chapter."""
    from mnist_cnn.book.exercises import EXERCISES

    chapters: dict[str, list[str]] = defaultdict(list)
    for key in EXERCISES:
        chapters[key.split(".")[0]].append(key)
    return dict(chapters)


# ---------------------------------------------------------------- inside the sandbox


def _sandbox(work: Path, record, limit: int) -> None:
    """Install the audit hook and the output cap of one notebook's process."""
    allowed = str(work.resolve()) + os.sep
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    path_events = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "shutil.rmtree",
                   "os.symlink", "os.link", "os.chmod", "os.chown", "os.truncate",
                   "os.utime", "shutil.copyfile", "shutil.move"}
    refused = ("socket.", "subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
               "os.fork", "os.forkpty", "pty.spawn", "os.kill", "os.killpg", "webbrowser.")

    def outside(path) -> bool:
        if isinstance(path, int):
            return False
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        full = os.path.realpath(os.path.abspath(os.fspath(path)))
        return full != os.devnull and not (full + os.sep).startswith(allowed)

    def own_worker(args: tuple) -> bool:
        """The book's benchmark worker (chapter 5 times the step in one): allowed."""
        command = args[1] if len(args) > 1 else None
        return (isinstance(command, list | tuple) and len(command) > 2
                and command[0] == sys.executable and command[1] == "-c"
                and BENCH_WORKER.fullmatch(str(command[2])) is not None)

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None))[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags)
            if writing and outside(path):
                record({"hostile": f"tried to write outside its folder: {os.fspath(path)}"})
                raise PermissionError(f"the grader refuses writes outside the notebook's folder: "
                                      f"{os.fspath(path)}")
        elif event in path_events:
            paths = [a for a in args[:2] if isinstance(a, str | bytes | os.PathLike)]
            if any(outside(p) for p in paths):
                record({"hostile": f"tried to change files outside its folder ({event})"})
                raise PermissionError(f"the grader refuses {event} outside the notebook's folder")
        elif event == "subprocess.Popen" and own_worker(args):
            return
        elif event.startswith(refused):
            what = ("reach the network" if event.startswith("socket.") else
                    "signal another process" if event.startswith("os.kill") else
                    "start another process")
            shown = ""
            if event == "subprocess.Popen" and len(args) > 1:
                shown = ": " + " ".join(map(str, list(args[1])[:3]))[:120]
            record({"hostile": f"tried to {what} ({event}{shown})"})
            raise PermissionError(f"the grader refuses {event}")

    class CappedStream(io.TextIOBase):
        written = 0

        def write(self, text: str) -> int:
            CappedStream.written += len(text)
            if CappedStream.written > limit:
                record({"fatal": f"flooded its output (more than {limit // 2**20} MiB printed)"})
                os._exit(EXIT_FLOOD)
            return len(text)

        def writable(self) -> bool:
            return True

    sys.stdout = sys.stderr = CappedStream()
    sys.addaudithook(hook)


class _NoShell:
    """What ``get_ipython()`` gives a graded notebook: ``%matplotlib`` and ``%config`` do
    nothing (plots are not graded); any other magic or ``!command`` raises, naming itself."""

    def run_line_magic(self, name: str, line: str, *_args):
        if name in ("matplotlib", "config"):
            return None
        raise NotImplementedError(f"the grader runs plain Python: %{name} is not available")

    def run_cell_magic(self, name: str, line: str, cell: str):
        raise NotImplementedError(f"the grader runs plain Python: %%{name} is not available")

    def system(self, command: str):
        raise NotImplementedError(f"the grader runs no shell commands: !{command}")

    getoutput = system


def run_notebook(notebook: Path, results: Path, token: str, limit: int = OUTPUT_LIMIT) -> None:
    """Run one notebook's code cells in this process and record what its checks say.

    Called in the sandboxed child (``python -m mnist_cnn.book.grade _run``). Writes JSON lines
    to ``results`` (opened before any student code runs), each carrying ``token``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import nbformat

    from mnist_cnn.book import exercises

    stream = open(results, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - kept open

    def record(item: dict) -> None:
        stream.write(json.dumps({"token": token, **item}) + "\n")

    problems, format_result, Result = exercises.problems, exercises.format_result, exercises.Result
    current: list[str | None] = [None]

    def recording_check(exercise, answer):
        found = problems(exercise, answer)
        record({"exercise": exercise, "problems": found})
        print(format_result(exercise, found))
        return Result(exercise, found)

    nb = nbformat.read(notebook, as_version=4)
    chapter = notebook.name[:2].lstrip("0") or "0"
    exercises.check = recording_check
    import platform

    platform.processor()  # cached now: later calls (the bench's) need not run `uname -p`
    _sandbox(notebook.parent, record, limit)
    from IPython.core.inputtransformer2 import TransformerManager

    to_python = TransformerManager().transform_cell  # %magics and !commands as Python calls
    namespace = {"__name__": "__main__", "get_ipython": lambda: _NoShell()}
    for index, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        keys = [a or b for a, b in KEY_OF_CELL.findall(cell.source)]
        solution = SOLUTION_OF_CELL.search(cell.source)
        if keys:
            current[0] = keys[0]
        elif solution:
            current[0] = f"{chapter}.{solution.group(1)}"
        try:
            code = compile(to_python(cell.source), f"<cell {index + 1}>", "exec")
            exec(code, namespace)  # noqa: S102
        except SystemExit:
            record({"fatal": f"called sys.exit (cell {index + 1})"})
            os._exit(EXIT_FATAL)
        except BaseException as error:  # the student's code: record and go on, as Run All would
            message = f"cell {index + 1} raised {type(error).__name__}: {str(error)[:200]}"
            record({"cell_error": message, "exercise": current[0]})
        plt.close("all")
    record({"done": True})
    stream.close()
    os._exit(0)  # skip interpreter shutdown hooks a notebook may have registered


# ---------------------------------------------------------------- the grader's side


@dataclass
class Outcome:
    """What one notebook's run gave: a result and a detail per exercise, and notes."""

    results: dict[str, tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _isolation_prefix() -> list[str]:
    """``["unshare", "-rn"]`` when this system runs it (a namespace with no network), else []."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    try:
        done = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [unshare, "-rn"] if done.returncode == 0 else []


def _limits() -> None:  # pragma: no cover - runs in the child before exec
    import resource

    for which, value in ((resource.RLIMIT_AS, MEMORY_LIMIT), (resource.RLIMIT_FSIZE, FILE_LIMIT),
                         (resource.RLIMIT_CORE, 0)):
        soft, hard = resource.getrlimit(which)
        cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(which, (cap, hard))


def _copy_font_cache(target: Path) -> None:
    """Give the notebook matplotlib's font list, so that it need not rebuild it (seconds)."""
    try:
        import matplotlib

        cache = Path(matplotlib.get_cachedir())
        target.mkdir(parents=True, exist_ok=True)
        for path in cache.glob("fontlist-*.json"):
            shutil.copyfile(path, target / path.name)
    except Exception:  # only a speed-up
        pass


def grade_notebook(notebook: Path, keys: list[str], scratch: Path, timeout: float,
                   prefix: list[str], data: Path | None) -> Outcome:
    """Run one submitted notebook in a sandboxed process and grade its exercises.

    Parameters
    ----------
    notebook : pathlib.Path
        The student's notebook (read only; it runs from a copy).
    keys : list of str
        The exercises of its chapter.
    scratch : pathlib.Path
        An empty folder for this run: the copy runs in ``scratch/work``.
    timeout : float
        Seconds for the whole notebook.
    prefix : list of str
        The isolation command to run the child under (``unshare -rn``) or ``[]``.
    data : pathlib.Path, optional
        ``mnist.npz`` for the chapters (``MNIST_CNN_DATA``).

    Returns
    -------
    Outcome
    """
    work = scratch / "work"
    work.mkdir(parents=True)
    copy = work / notebook.name
    shutil.copyfile(notebook, copy)
    results = scratch / "results.jsonl"
    results.touch()
    token = secrets.token_hex(16)
    env = {key: value for key, value in os.environ.items()
           if key in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(work), TMPDIR=str(work), MPLCONFIGDIR=str(work / ".matplotlib"),
               MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    if data is not None:
        env["MNIST_CNN_DATA"] = str(data)
    _copy_font_cache(work / ".matplotlib")
    command = [*prefix, sys.executable, "-m", "mnist_cnn.book.grade", "_run", str(copy),
               str(results)]
    start = time.perf_counter()
    outcome = Outcome()
    try:
        process = subprocess.Popen(command, cwd=work, env=env, stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True, preexec_fn=_limits)
    except OSError as error:
        outcome.notes.append(f"{notebook.name}: could not start ({error})")
        outcome.results = {k: ("error", f"the grader could not run it: {error}") for k in keys}
        return outcome
    try:
        _, stderr = process.communicate(token.encode() + b"\n", timeout=timeout)
        fatal_exit = None
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.communicate()
        stderr, fatal_exit = b"", f"ran out of time ({timeout:g} s)"
    outcome.seconds = time.perf_counter() - start

    checks: dict[str, list[str]] = {}
    cell_errors: dict[str, str] = {}
    hostile = fatal = None
    done = False
    for line in results.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(item, dict) or item.get("token") != token:
            continue  # written by the notebook itself, not by the runner
        if "problems" in item and item.get("exercise") in keys:
            checks[item["exercise"]] = list(item["problems"])
        elif "cell_error" in item:
            if item.get("exercise") in keys:
                cell_errors.setdefault(item["exercise"], item["cell_error"])
            else:
                outcome.notes.append(f"{notebook.name}: {item['cell_error']}")
        elif "hostile" in item:
            hostile = hostile or item["hostile"]
        elif "fatal" in item:
            fatal = fatal or item["fatal"]
        done = done or item.get("done", False)
    if fatal_exit is None and not done and fatal is None:
        tail = stderr.decode(errors="replace").strip().splitlines()[-1:]
        code = process.returncode
        how = (f"killed by signal {signal.Signals(-code).name}" if code < 0
               else f"exit status {code}")
        fatal_exit = (f"{'stopped before its last cell' if code == 0 else 'crashed'} "
                      f"({how}{': ' + tail[0][:160] if tail else ''})")
    whole = fatal_exit or fatal or hostile
    if whole:
        outcome.notes.append(f"{notebook.name}: {whole}")
        outcome.results = {k: ("error", f"the notebook {whole}") for k in keys}
        return outcome
    from mnist_cnn.book.exercises import NO_ANSWER

    for key in keys:
        if key in cell_errors:
            outcome.results[key] = ("error", cell_errors[key])
        elif key not in checks:
            outcome.results[key] = ("missing", "no check of this exercise ran")
        elif checks[key] == [NO_ANSWER]:
            outcome.results[key] = ("missing", NO_ANSWER)
        elif checks[key]:
            outcome.results[key] = ("fail", "; ".join(checks[key]))
        else:
            outcome.results[key] = ("pass", "")
    return outcome


def _notebook_keys(path: Path) -> set[str]:
    """The exercises a notebook's cells name, or raise GradeInputError if it is not one."""
    import nbformat

    try:
        text = path.read_text(encoding="utf-8")
        json.loads(text)
    except UnicodeDecodeError:
        raise GradeInputError(f"{path.name} is not a notebook (not text)") from None
    except json.JSONDecodeError as error:
        raise GradeInputError(f"{path.name} is not a notebook (malformed JSON: "
                              f"{error.msg}, line {error.lineno})") from None
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as error:
        raise GradeInputError(f"{path.name} is not a valid notebook "
                              f"({str(error).splitlines()[0][:120]})") from None
    found = set()
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            found |= {a or b for a, b in KEY_OF_CELL.findall(cell.source)}
    return found


@dataclass
class Job:
    student: str
    chapter: str
    notebook: Path


def collect(folder: Path, chapters: dict[str, list[str]]) -> tuple[list[Job], dict, dict]:
    """Find what to grade: the jobs, and the results and notes known without running anything.

    Returns
    -------
    jobs : list of Job
    known : dict
        ``{(student, exercise): (result, detail)}`` for chapters not handed in or not gradable.
    notes : dict
        ``{student: [line, ...]}``.
    """
    if not folder.exists():
        raise GradeInputError(f"no such folder: {folder}")
    if not folder.is_dir():
        raise GradeInputError(f"{folder} is not a folder (expected one sub-folder per student)")
    students = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise GradeInputError(f"{folder} has no sub-folders: expected one per student, each with "
                              "that student's notebooks")
    jobs, known, notes = [], {}, defaultdict(list)
    for stray in sorted(p for p in folder.iterdir() if p.is_file()):
        print(f"note: {stray.name} is not a student's folder; ignored")
    for student_dir in students:
        student = student_dir.name
        seen: dict[str, Path] = {}
        for path in sorted(student_dir.iterdir()):
            if path.is_dir() or path.name.startswith("."):
                continue
            if path.suffix != ".ipynb":
                notes[student].append(f"{path.name} is not a notebook; ignored")
                continue
            match = re.match(r"(\d{2})_", path.name)
            claimed = str(int(match.group(1))) if match else None
            try:
                keys = _notebook_keys(path)
            except GradeInputError as error:
                notes[student].append(str(error))
                if claimed in chapters and claimed not in seen:
                    seen[claimed] = path
                    for key in chapters[claimed]:
                        known[(student, key)] = ("error", str(error))
                continue
            holds = {k.split(".")[0] for k in keys}
            chapter = claimed if claimed in chapters else (
                next(iter(holds)) if len(holds) == 1 else None)
            if chapter is None:
                notes[student].append(f"{path.name} is not a chapter of the book; ignored")
                continue
            if holds and chapter not in holds:
                message = (f"{path.name} holds the exercises of chapter "
                           f"{', '.join(sorted(holds))}, not of chapter {chapter}")
                notes[student].append(message)
                seen.setdefault(chapter, path)
                for key in chapters[chapter]:
                    known[(student, key)] = ("error", message)
                continue
            if chapter in seen:
                notes[student].append(f"{path.name}: a second notebook of chapter {chapter}; "
                                      f"graded {seen[chapter].name}")
                continue
            seen[chapter] = path
            jobs.append(Job(student, chapter, path))
        for note in notes.get(student, []):
            print(f"note: {student}: {note}")
        for chapter, keys in chapters.items():
            if chapter not in seen:
                for key in keys:
                    known[(student, key)] = ("missing", f"chapter {chapter} not handed in")
    return jobs, known, dict(notes)


def summary_table(grades: dict, students: list[str], chapters: dict[str, list[str]]) -> str:
    """Students x chapters: ``passed/exercises`` per cell, and the total."""
    width = max([len("student")] + [len(s) for s in students])
    head = f"{'student':<{width}} " + " ".join(f"{'ch ' + c:>6}" for c in chapters) + "   total"
    lines = [head, "-" * len(head)]
    total = sum(len(keys) for keys in chapters.values())
    for student in students:
        cells, passed_all = [], 0
        for keys in chapters.values():
            passed = sum(grades[(student, k)][0] == "pass" for k in keys)
            passed_all += passed
            cells.append(f"{passed}/{len(keys)}".rjust(6))
        lines.append(f"{student:<{width}} " + " ".join(cells) + f"  {passed_all:>3}/{total}")
    return "\n".join(lines)


def feedback_text(student: str, grades: dict, chapters: dict[str, list[str]],
                  notes: list[str]) -> str:
    """The feedback file of one student (markdown)."""
    lines = [f"# Feedback for {student}", ""]
    for chapter, keys in chapters.items():
        passed = sum(grades[(student, k)][0] == "pass" for k in keys)
        lines += [f"## Chapter {chapter}: {passed} of {len(keys)} passed", ""]
        for key in keys:
            result, detail = grades[(student, key)]
            lines.append(f"- Exercise {key}: **{result}**" + (f" -- {detail}" if detail else ""))
        lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)


def grade(folder: Path, out: Path, timeout: float = 600, jobs: int = 1,
          chapters: list[str] | None = None, data: Path | None = None,
          progress: bool = True) -> dict:
    """Grade a class: every student's notebooks, each in its own sandboxed process.

    Parameters
    ----------
    folder : pathlib.Path
        One sub-folder per student, holding that student's notebooks.
    out : pathlib.Path
        The CSV to write; the feedback files go to ``out.parent / "feedback"``.
    timeout : float
        Seconds allowed per notebook.
    jobs : int
        Notebooks run at the same time.
    chapters : list of str, optional
        The chapters to grade (default: every chapter with exercises).
    data : pathlib.Path, optional
        ``mnist.npz`` for the chapters; default ``MNIST_CNN_DATA`` or the package's search.
    progress : bool
        Show a progress bar (tqdm).

    Returns
    -------
    dict
        ``{(student, exercise): (result, detail)}``.
    """
    from tqdm import tqdm

    every = chapter_exercises()
    if chapters:
        unknown = [c for c in chapters if c not in every]
        if unknown:
            raise GradeInputError(f"no chapter {', '.join(unknown)} with exercises; expected some "
                                  f"of {', '.join(every)}")
    selected = {c: every[c] for c in (chapters or every)}
    work_list, grades, notes = collect(folder, selected)
    students = sorted({s for s, _ in grades} | {j.student for j in work_list})
    prefix = _isolation_prefix()
    with tempfile.TemporaryDirectory(prefix="mnist-cnn-grade-") as scratch_root:
        def one(index_job):
            index, job = index_job
            return job, grade_notebook(job.notebook, selected[job.chapter],
                                       Path(scratch_root) / str(index), timeout, prefix, data)

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            runs = as_completed([pool.submit(one, item) for item in enumerate(work_list)])
            for done in tqdm(runs, total=len(work_list), desc="grading", unit="notebook",
                             disable=not progress, file=sys.stderr):
                job, outcome = done.result()
                for key, value in outcome.results.items():
                    grades[(job.student, key)] = value
                notes.setdefault(job.student, []).extend(outcome.notes)
    rows = [{"student": s, "exercise": k, "result": grades[(s, k)][0],
             "detail": grades[(s, k)][1]} for s in students for keys in selected.values()
            for k in keys]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, buffer.getvalue())
    feedback = out.parent / "feedback"
    feedback.mkdir(exist_ok=True)
    for student in students:
        atomic_write_text(feedback / f"{student}.md",
                          feedback_text(student, grades, selected, notes.get(student, [])))
    print(summary_table(grades, students, selected))
    counts = {r: sum(v[0] == r for v in grades.values()) for r in RESULTS}
    print(f"wrote {out} ({len(rows)} rows: " + ", ".join(f"{n} {r}" for r, n in counts.items())
          + f") and {len(students)} feedback files in {feedback}")
    return grades


def main(argv: list[str] | None = None) -> int:
    """``python -m mnist_cnn.book grade DIR --out grades.csv``; 0 on success, 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog="python -m mnist_cnn.book grade",
        description="Autograde the notebooks students hand back: DIR holds one sub-folder per "
                    "student. Writes grades.csv, a feedback file per student and a summary.")
    parser.add_argument("folder", type=Path, metavar="DIR")
    parser.add_argument("--out", type=Path, default=Path("grades.csv"))
    parser.add_argument("--timeout", type=float, default=600, help="seconds per notebook (600)")
    parser.add_argument("--jobs", type=int, default=max(1, (os.cpu_count() or 1)),
                        help="notebooks graded at the same time (default: the CPU count)")
    parser.add_argument("--chapters", help="comma-separated chapters to grade (default: all)")
    parser.add_argument("--data", type=Path, help="mnist.npz for the chapters")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.data is not None and not args.data.is_file():
            raise GradeInputError(f"no such data file: {args.data}")
        if args.timeout <= 0 or args.jobs < 1:
            raise GradeInputError("--timeout must be > 0 and --jobs >= 1")
        chapters = [c.strip() for c in args.chapters.split(",")] if args.chapters else None
        grade(args.folder, args.out, args.timeout, args.jobs, chapters,
              args.data.resolve() if args.data else None, progress=not args.no_progress)
    except GradeInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _child(argv: list[str]) -> None:  # pragma: no cover - the sandboxed process
    token = sys.stdin.readline().strip()
    sys.stdin.close()
    run_notebook(Path(argv[0]), Path(argv[1]), token)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_run"]:
        _child(sys.argv[2:])
    else:
        sys.exit(main())
