"""Execute the book's notebooks in order and write their outputs in place.

What this is: the engine behind ``make book``. Each notebook runs top to bottom
in a fresh ``python3`` kernel from its own folder, exactly as a reader would
run it in JupyterLab; the executed notebook replaces the old one atomically.
What this is not: a test runner (``make test`` uses nbval for that).

Usage: ``python -m mnist_cnn.book notebooks/*.ipynb``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from mnist_cnn.book.nbfile import NotebookError, read_notebook
from mnist_cnn.tools.files import atomic_write_text


def coalesce_streams(cell) -> None:
    """Merge consecutive stdout (or stderr) outputs of a code cell into one.

    How a kernel chunks printed text depends on timing, so without this two runs
    of an unchanged notebook could store the same text in different pieces.

    Parameters
    ----------
    cell : nbformat.NotebookNode
        A code cell; its ``outputs`` list is replaced in place.
    """
    merged = []
    for output in cell.get("outputs", []):
        previous = merged[-1] if merged else None
        if (
            output.output_type == "stream"
            and previous is not None
            and previous.output_type == "stream"
            and previous.name == output.name
        ):
            previous.text += output.text
        else:
            merged.append(output)
    cell.outputs = merged


def execute_notebook(path: Path, timeout: int = 900) -> float:
    """Run one notebook in a fresh kernel and store its outputs.

    Parameters
    ----------
    path : pathlib.Path
        The ``.ipynb`` file; it is executed with its folder as working directory.
    timeout : int
        Seconds allowed per cell.

    Returns
    -------
    float
        Wall time in seconds.
    """
    # Here: the Jupyter machinery (a kernel client) is heavy, and only executing needs it.
    import nbformat
    from nbclient import NotebookClient

    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps from older runs
    client = NotebookClient(
        nb,
        timeout=timeout,
        record_timing=False,  # keeps re-runs free of timestamp-only diffs
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    client.execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            coalesce_streams(cell)
    nb.metadata.pop("jupytext", None)  # authoring-tool noise, not part of the book
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    atomic_write_text(path, nbformat.writes(nb) + "\n")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``python -m mnist_cnn.book``.

    Parameters
    ----------
    argv : list of str, optional
        Notebook paths (run in the given order) and options; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 when every notebook ran; a failing cell raises and stops the run.
    """
    parser = argparse.ArgumentParser(
        prog="python -m mnist_cnn.book",
        description="Execute notebooks in the given order, writing outputs in place.",
        epilog="To grade what students hand back: python -m mnist_cnn.book grade DIR "
               "--out grades.csv (see mnist_cnn.book.grade).",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, help="notebooks to run, in order")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell (default 900)")
    args = parser.parse_args(argv)

    missing = [p for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(map(str, missing))}")
    if args.timeout < 1:
        parser.error(f"--timeout must be >= 1 second; got {args.timeout}")
    for path in args.notebooks:  # bad input: one line before any kernel starts
        try:
            read_notebook(path)
        except NotebookError as exc:
            parser.error(str(exc))

    timings = []
    for path in args.notebooks:
        print(f"running {path} ...", flush=True)
        timings.append((path, execute_notebook(path, args.timeout)))

    width = max(len(str(p)) for p, _ in timings)
    print()
    print(f"{'notebook':<{width}}   seconds")
    for path, seconds in timings:
        print(f"{str(path):<{width}}  {seconds:8.1f}")
    print(f"{'total':<{width}}  {sum(s for _, s in timings):8.1f}")
    return 0

