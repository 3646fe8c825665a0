"""Reading time of a chapter's main path: words at 150 a minute (dense technical text).

What this is: the measure issue 27 asks for. The *main path* is every markdown cell and the
source of every code cell (outputs are not counted), except the parts a first reading may
skip or that come after the teaching: sections whose ``##`` heading starts with "How we know",
"Pitfalls", "Verification table" or "Exercises", solution cells, and chapter 0's glossary
table (a reference that is looked up, not read). A section runs from its
``##`` heading to the next ``##`` heading.
What this is not: a readability score. Words are whitespace-separated tokens, LaTeX included.

Usage: ``python -m mnist_cnn.book.reading NOTEBOOK... [--rev REV]`` (``--rev`` reads the
notebooks as they were at a git revision, for a before/after comparison).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

__all__ = ["WPM", "SKIPPED", "main_path_words", "reading_table"]

WPM = 150
"""Words a minute for dense technical text."""

SKIPPED = ("How we know", "Pitfalls", "Verification table", "Exercises")
"""Headings of the parts that are not the main path."""

_HEADING = re.compile(r"^## +(.+)$", re.M)


def main_path_words(notebook: dict) -> tuple[int, int]:
    """Words on the main path and in the whole chapter (markdown and code source).

    Parameters
    ----------
    notebook : dict
        A notebook as parsed JSON.

    Returns
    -------
    (int, int)
        Main-path words, all words.
    """
    main = total = 0
    skipping = False
    for cell in notebook["cells"]:
        text = "".join(cell["source"])
        total += len(text.split())
        if "solution" in cell.get("metadata", {}).get("tags", []):
            continue
        if "<!-- glossary:" in text:  # chapter 0's glossary table is looked up, not read
            continue
        # a markdown cell may hold several sections: count each piece under its own heading
        pieces = re.split(r"(?m)^(?=## )", text) if cell["cell_type"] == "markdown" else [text]
        for piece in pieces:
            heading = _HEADING.match(piece)
            if heading:
                skipping = heading.group(1).strip().startswith(SKIPPED)
            if not skipping:
                main += len(piece.split())
    return main, total


def _load(path: Path, rev: str | None) -> dict:
    if rev is None:
        return json.loads(path.read_text())
    blob = subprocess.run(["git", "show", f"{rev}:{path.as_posix()}"], capture_output=True,
                          text=True, check=True).stdout
    return json.loads(blob)


def reading_table(paths: list[Path], rev: str | None = None) -> str:
    """One line per notebook: main-path words and minutes, all words and minutes."""
    lines = [f"{'chapter':<36} {'main path':>10} {'min':>5} {'all':>7} {'min':>5}"]
    for path in paths:
        main, total = main_path_words(_load(path, rev))
        lines.append(f"{path.stem:<36} {main:>10,} {main / WPM:>5.0f} {total:>7,} "
                     f"{total / WPM:>5.0f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.reading",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--rev", help="read the notebooks as of this git revision")
    args = parser.parse_args(argv)
    print(reading_table(args.notebooks, args.rev))
    return 0


if __name__ == "__main__":
    sys.exit(main())
