"""Read a notebook file for the book's commands, or say in one line why it cannot be read.

What this is: :func:`read_notebook`, the door of the commands that take ``.ipynb`` paths
(``python -m mnist_cnn.book.equations check``): a missing file, a folder, bytes that
are not UTF-8 JSON, JSON too deeply nested to read, or JSON that is not a notebook
(no ``cells`` list, a cell without ``cell_type``, a ``source`` that is neither text nor
a list of text) raise :class:`NotebookError` naming the file, what was expected and
what was found.
What this is not: nbformat's full schema validation (the commands need only the cells).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["NotebookError", "read_notebook"]


class NotebookError(ValueError):
    """A path that is not a readable notebook; the message names the file and the problem."""


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", int: "an integer",
            float: "a number", bool: "a boolean", type(None): "null"}.get(type(value),
                                                                          type(value).__name__)


def read_notebook(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The notebook at ``path`` as a dict whose cells are checked, or one clear error.

    Parameters
    ----------
    path : path-like
        An ``.ipynb`` file (nbformat 4 JSON).

    Returns
    -------
    dict
        The parsed notebook; ``cells`` is a list of dicts, each with a str ``cell_type``
        and a ``source`` that is a str or a list of str.

    Raises
    ------
    NotebookError
        ``"notes.ipynb is not a notebook: expected a JSON object with a 'cells' list;
        found a list"``.
    """
    path = Path(path)
    if not path.exists():
        raise NotebookError(f"{path}: no such file")
    if not path.is_file():
        raise NotebookError(f"{path} is not a file (a folder?); expected an .ipynb notebook")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NotebookError(f"{path} is not a notebook: expected UTF-8 JSON text; found "
                            "binary bytes") from None
    except OSError as exc:
        raise NotebookError(f"{path} cannot be read ({exc.strerror or exc})") from None
    if not text.strip():
        raise NotebookError(f"{path} is not a notebook: expected JSON; found an empty file")
    try:
        nb = json.loads(text)
    except RecursionError:
        raise NotebookError(f"{path} is not a notebook: expected JSON nested a few levels "
                            "deep; found nesting too deep to read") from None
    except ValueError as exc:
        raise NotebookError(f"{path} is not a notebook: expected JSON; found text that is "
                            f"not JSON (line {getattr(exc, 'lineno', '?')}: "
                            f"{getattr(exc, 'msg', exc)})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        found = ("an object without a 'cells' list" if isinstance(nb, dict) else _kind(nb))
        raise NotebookError(f"{path} is not a notebook: expected a JSON object with a "
                            f"'cells' list; found {found}")
    for index, cell in enumerate(nb["cells"]):
        where = f"{path}: cell {index}"
        if not isinstance(cell, dict):
            raise NotebookError(f"{where}: expected a JSON object; found {_kind(cell)}")
        if not isinstance(cell.get("cell_type"), str):
            found = _kind(cell["cell_type"]) if "cell_type" in cell else "none"
            raise NotebookError(f"{where}: expected a 'cell_type' string; found {found}")
        source = cell.get("source", "")
        if not (isinstance(source, str)
                or (isinstance(source, list) and all(isinstance(s, str) for s in source))):
            raise NotebookError(f"{where}: expected a 'source' string or list of strings; "
                                f"found {_kind(source)}")
    return nb
