"""The hand-out: what a student receives, with no answer key in it (``make handout``).

What this is: the builder of ``build/handout/`` and ``build/handout.zip``:

* ``notebooks/`` -- the student edition of every chapter (:mod:`mnist_cnn.book.student`):
  no solution cells, an answer cell and a check cell per exercise;
* ``data/`` -- ``mnist.npz`` with its sha256 and provenance (the notebooks find it in the
  parent folder of ``notebooks/``);
* ``package/mnist_cnn-<version>-py3-none-any.whl`` -- the package for students: the whole
  reader's package and the chapters' tools, *without* the answer key's sources
  (:mod:`mnist_cnn.book.answers`, the worked answers of :mod:`mnist_cnn.book.student`, this
  module and the grader). Its exercise checks hold salted digests and property checks only;
* ``README.md`` -- how to install it offline, work the exercises and hand them back;
* ``LICENSE``.

The wheel is written here with :mod:`zipfile` (a pure-Python wheel is a zip with three metadata
files), so that building it needs no build backend and no network, and the same sources give
the same bytes.
What this is not: a copy of the repository. The full edition's worked solutions stay out; the
test ``tests/test_handout.py`` greps every file of the hand-out, the wheel's included, for the
solutions' lines and for every reference answer in readable form.

Usage: ``python -m mnist_cnn.book.handout build notebooks/*.ipynb --out build/handout``
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import sys
import time
import zipfile
from pathlib import Path

import mnist_cnn
from mnist_cnn.book.student import build_student
from mnist_cnn.tools.files import atomic_write_text

PACKAGE_ROOT = Path(mnist_cnn.__file__).resolve().parent
REPO_ROOT = PACKAGE_ROOT.parent
# Sources that hold or compute answers, or are the instructor's tools: never handed out.
LEFT_OUT = ("book/answers.py", "book/student.py", "book/handout.py", "book/grade.py",
            "book/class_demo.py")
DEPENDENCIES = ("numpy>=1.26", "scipy>=1.11", "sympy>=1.12", "matplotlib>=3.8", "tqdm>=4.66",
                "threadpoolctl>=3.1")
# 1980-01-01, the earliest time a zip can hold: the same sources give the same bytes.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

README = """\
# MNIST-CNN: the exercises (student hand-out)

This folder holds the chapters of the book *without* their worked solutions. Under each
exercise there is an answer cell (`answer = ...`) and a check cell that prints PASS or FAIL,
and, when it fails, what is wrong with each entry (its form or its value). The check never
shows the reference answer, and nothing in this folder contains it.

## Install (no network needed)

You need Python >= 3.10 with numpy, scipy, sympy, matplotlib, tqdm, threadpoolctl and
JupyterLab (a lab machine usually has them). In this folder:

```bash
python3 -m venv --system-site-packages .venv      # reuses the scientific packages you have
.venv/bin/python -m pip install --no-index --find-links package mnist-cnn
.venv/bin/python -c "import mnist_cnn; print('ok', mnist_cnn.__version__)"
```

`--no-index` keeps pip offline: it installs the book's package from `package/` and uses the
packages already installed for the rest (it says which one is missing if any is). On a machine
without them, once, with a network: `python3 -m pip install package/*.whl jupyterlab`.
(Windows: `.venv\\Scripts\\python` instead of `.venv/bin/python`.)

## Work

```bash
.venv/bin/python -m jupyter lab notebooks/        # or open them in VS Code
```

Read the chapters in order (`00_notation_and_data.ipynb` first). At each exercise, replace
the `...` of the answer cell with your answer, in the form its first line gives (indices count
from 1 as in the maths unless the form says "0-based"; names are the exact strings listed), and
run the check cell under it. You may add cells of your own; keep the answer and check cells.

## Hand in

Save each notebook (after *Run All*, so that it runs top to bottom), and hand in the `.ipynb`
files of the `notebooks/` folder with their names unchanged. Your teacher's grader runs each
notebook in a fresh process with no network and a time limit, so an answer must not need
anything outside the notebook and this folder.
"""


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def package_files() -> dict[str, bytes]:
    """The package's files for students, ``{"mnist_cnn/...": bytes}``, answer sources left out."""
    files = {}
    for path in sorted(PACKAGE_ROOT.rglob("*")):
        relative = path.relative_to(PACKAGE_ROOT).as_posix()
        if (not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo")
                or relative in LEFT_OUT):
            continue
        files[f"mnist_cnn/{relative}"] = path.read_bytes()
    return files


def write_wheel(out_dir: Path) -> Path:
    """Write ``mnist_cnn-<version>-py3-none-any.whl`` for students into ``out_dir``.

    Parameters
    ----------
    out_dir : pathlib.Path
        Where the wheel goes (created if needed).

    Returns
    -------
    pathlib.Path
        The wheel.
    """
    version = mnist_cnn.__version__
    info = f"mnist_cnn-{version}.dist-info"
    metadata = "\n".join([
        "Metadata-Version: 2.1", "Name: mnist-cnn", f"Version: {version}",
        "Summary: MNIST-CNN, the student package: the book's code and answer checks with no "
        "answer key", "License: MIT", "Requires-Python: >=3.10",
        *[f"Requires-Dist: {d}" for d in DEPENDENCIES], ""])
    wheel_meta = ("Wheel-Version: 1.0\nGenerator: mnist_cnn.book.handout\n"
                  "Root-Is-Purelib: true\nTag: py3-none-any\n")
    files = package_files()
    files[f"{info}/METADATA"] = metadata.encode()
    files[f"{info}/WHEEL"] = wheel_meta.encode()
    files[f"{info}/top_level.txt"] = b"mnist_cnn\n"
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"mnist_cnn-{version}-py3-none-any.whl"
    partial = target.with_suffix(".whl.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            entry = zipfile.ZipInfo(name, ZIP_TIME)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    partial.replace(target)
    return target


def zip_folder(folder: Path, target: Path) -> Path:
    """Zip ``folder`` (as its own top-level folder) into ``target``, atomically and repeatably."""
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                entry = zipfile.ZipInfo((folder.name / path.relative_to(folder)).as_posix(),
                                        ZIP_TIME)
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, path.read_bytes())
    partial.replace(target)
    return target


def build_handout(notebooks: list[Path], out: Path, data_dir: Path | None = None) -> Path:
    """Write the hand-out folder and its zip.

    Parameters
    ----------
    notebooks : list of pathlib.Path
        The chapters of the full edition (prepared; see :mod:`mnist_cnn.book.student`).
    out : pathlib.Path
        The hand-out folder (replaced); the zip is written beside it, ``<out>.zip``.
    data_dir : pathlib.Path, optional
        Where ``mnist.npz`` and its sha256 are; default the repository's ``data/``.

    Returns
    -------
    pathlib.Path
        The zip.
    """
    data_dir = data_dir or REPO_ROOT / "data"
    needed = [data_dir / name for name in ("mnist.npz", "mnist.npz.sha256")]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"the data to hand out is missing: {', '.join(missing)}")
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    for path in notebooks:
        build_student(path, out / "notebooks")
    (out / "data").mkdir()
    for path in [*needed, data_dir / "PROVENANCE.md"]:
        if path.is_file():
            shutil.copyfile(path, out / "data" / path.name)
    write_wheel(out / "package")
    atomic_write_text(out / "README.md", README)
    licence = REPO_ROOT / "LICENSE"
    if licence.is_file():
        shutil.copyfile(licence, out / "LICENSE")
    return zip_folder(out, out.with_suffix(".zip"))


def main(argv: list[str] | None = None) -> int:
    """``python -m mnist_cnn.book.handout build NOTEBOOKS... --out DIR``; 0 on success."""
    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.handout",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="write the hand-out folder and its zip")
    build.add_argument("notebooks", nargs="+", type=Path)
    build.add_argument("--out", type=Path, default=Path("build/handout"))
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    start = time.perf_counter()
    try:
        archive = build_handout(args.notebooks, args.out)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    size = archive.stat().st_size / 2**20
    print(f"wrote {args.out}/ and {archive} ({size:.1f} MiB, {len(args.notebooks)} chapters) "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
