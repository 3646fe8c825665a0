"""A walk through each notebook as slides: slide metadata on every cell, offline reveal.js.

What this is: the engine behind ``make walkthrough`` (each notebook paged cell by cell; the
lectures are :mod:`mnist_cnn.book.lectures`). ``tag`` writes ``metadata.slideshow`` on every
cell of a chapter (a slide per ``##`` section, a sub-slide per ``###`` and wherever a section
outgrows one screen, setup/helper cells skipped, solutions as speaker notes); it is idempotent,
so it can be re-applied after anyone edits a notebook. ``build`` turns each chapter into a
reveal.js deck that fits 1280 x 720: long listings and printouts are cut to what a lecturer
shows, a markdown cell taller than a slide is split at paragraph breaks, and reveal.js (from
``sphinx-revealjs``) and MathJax (from ``django-static-mathjax``) are copied next to the decks,
so a deck opens from disk with no network.
What this is not: the live slideshow. For that, open a chapter in JupyterLab with
``jupyterlab-rise`` installed and press Alt+R; it reads the same metadata.

Heights are estimates in CSS pixels for the sizes in ``deck_template/deck.css``; the browser
test (``tests/browser/test_slides.py``) measures the real ones.

Usage: ``python -m mnist_cnn.book.slides tag notebooks/*.ipynb``,
``python -m mnist_cnn.book.slides build notebooks/*.ipynb --out build/slides``
"""

from __future__ import annotations

import argparse
import base64
import copy
import re
import shutil
import struct
import sys
import time
from pathlib import Path

from mnist_cnn.book.nbfile import NotebookError, read_notebook
from mnist_cnn.tools.files import atomic_write_text

WIDTH, HEIGHT = 1280, 720  # the slide, in CSS pixels
BUDGET = 570  # estimated height allowed per slide: the estimate is rough, the test is exact
CODE_LINES = 12  # a listing longer than this is cut to its first CODE_LINES - 1 lines
FIGURE_CODE_LINES = 3  # a plotting cell shows its figure; its code is cut harder
OUTPUT_LINES = 12  # the same for printed output
TEMPLATE_DIR = Path(__file__).resolve().parent / "deck_template"

# Estimated pixel heights of the pieces of a slide (fonts from deck.css).
TEXT_LINE, TEXT_CHARS = 32, 92  # 24 px text, 1.35 line height, ~92 characters per line
CODE_LINE, CODE_CHARS = 21, 118  # 16 px code
OUT_LINE, OUT_CHARS = 19, 125  # 15 px printed output
HEADING = {1: 62, 2: 54, 3: 46, 4: 42}
DISPLAY_MATH_LINE = 56  # one row of a display equation (fractions, sums with limits)
TABLE_ROW, TABLE_CHARS = 28, 85  # 20 px table text; a long row wraps
PARAGRAPH_GAP = 10
CELL_GAP = 12
IMAGE_MAX_HEIGHT = 440
HTML_OUTPUT = 470  # an animation: figure plus player controls


# --------------------------------------------------------------------------- estimates


def _wrapped(line: str, chars: int) -> int:
    return max(1, -(-len(line) // chars))


def _markdown_blocks(source: str) -> list[str]:
    """Split markdown at blank lines, keeping display maths and fenced code whole."""
    blocks, current, in_math, in_fence = [], [], False, False
    for line in source.splitlines():
        if line.strip().startswith("```"):
            in_fence = not in_fence
        if not in_fence and line.count("$$") % 2 == 1:
            in_math = not in_math
        if not line.strip() and not in_math and not in_fence:
            if current:
                blocks.append("\n".join(current))
                current = []
        else:
            current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _block_height(block: str) -> int:
    lines = block.splitlines()
    first = lines[0].lstrip()
    heading = re.match(r"(#{1,4}) ", first)
    if heading:
        return HEADING[len(heading.group(1))] + sum(
            _wrapped(line, TEXT_CHARS) * TEXT_LINE for line in lines[1:]
        )
    if first.startswith("|"):
        rows = [line for line in lines if not re.match(r"\|\s*-", line)]
        return sum(_wrapped(row, TABLE_CHARS) * TABLE_ROW + 6 for row in rows) + 10
    if first.startswith("```"):
        return CODE_LINE * len(lines) + 10
    height, in_math, math_rows = 0, False, 0
    for line in lines:
        if "$$" in line:
            pieces = line.split("$$")
            text = "".join(pieces[0::2]).strip()
            if text:
                height += _wrapped(text, TEXT_CHARS) * TEXT_LINE
            if line.count("$$") >= 2 and not in_math:
                height += DISPLAY_MATH_LINE + max(0, line.count("\\\\")) * 40
                continue
            in_math = not in_math
            if in_math:
                math_rows = 0
            else:
                height += DISPLAY_MATH_LINE + max(0, math_rows - 1) * 36
            continue
        if in_math:
            math_rows += line.count("\\\\") + (1 if "\\\\" not in line and line.strip() else 0)
            continue
        # inline maths renders shorter than its source
        text = re.sub(r"\$([^$]*)\$", lambda m: "x" * max(1, len(m.group(1)) // 2), line)
        height += _wrapped(text, TEXT_CHARS) * TEXT_LINE
    if first.startswith(">"):
        height += 16
    return height + PARAGRAPH_GAP


def markdown_height(source: str) -> int:
    """Estimated height of a markdown cell on a slide, in CSS pixels.

    Parameters
    ----------
    source : str
        The cell's markdown.

    Returns
    -------
    int
        Pixels, for the fonts of ``deck.css``.
    """
    return sum(_block_height(b) for b in _markdown_blocks(source)) + CELL_GAP


def _png_size(data: str) -> tuple[int, int]:
    raw = base64.b64decode(data[:64])
    width, height = struct.unpack(">II", raw[16:24])
    return width, height


def _output_height(output) -> int:
    kind = output.get("output_type")
    if kind == "stream":
        lines = output.get("text", "").splitlines()
        return sum(_wrapped(line, OUT_CHARS) for line in lines) * OUT_LINE + 12
    if kind == "error":
        return 4 * OUT_LINE
    data = output.get("data", {})
    if "image/png" in data:
        width, height = _png_size(data["image/png"])
        metadata = output.get("metadata", {}).get("image/png", {})
        width, height = metadata.get("width", width), metadata.get("height", height)
        scale = min(1.0, IMAGE_MAX_HEIGHT / height, (WIDTH - 40) / width)
        return int(height * scale) + 8
    if "text/html" in data:
        return HTML_OUTPUT
    if "text/plain" in data:
        lines = data["text/plain"].splitlines()
        return sum(_wrapped(line, OUT_CHARS) for line in lines) * OUT_LINE + 12
    return 0


def code_height(cell) -> int:
    """Estimated height of a code cell on a slide (after cutting), in CSS pixels.

    Parameters
    ----------
    cell : nbformat.NotebookNode
        A code cell as the deck shows it (see ``cut_code_cell``).

    Returns
    -------
    int
        Pixels, for the fonts of ``deck.css``.
    """
    lines = cell.source.splitlines()
    height = sum(_wrapped(line, CODE_CHARS) for line in lines) * CODE_LINE + 14
    return height + sum(_output_height(o) for o in cell.get("outputs", [])) + CELL_GAP


def cell_height(cell) -> int:
    """Estimated height of one cell as the deck shows it, in CSS pixels."""
    if cell.cell_type == "markdown":
        return markdown_height(cell.source)
    if cell.cell_type == "code":
        return code_height(cut_code_cell(cell))
    return 0


# --------------------------------------------------------------------------- metadata


def _heading_level_of(text: str) -> int:
    match = re.match(r"(#{1,6}) ", text.lstrip())
    return len(match.group(1)) if match else 0


def _break_inline_math(source: str, longest: int = 60) -> str:
    """Long inline formulas as several, broken after each top-level arrow or equals sign.

    MathJax 3 does not wrap inline maths, so a long chain such as the network's shapes would
    run off the slide; split into consecutive formulas, the browser can wrap between them.
    """

    def split(match: re.Match) -> str:
        tex = match.group(1)
        if len(tex) <= longest:
            return match.group(0)
        parts, depth, current = [], 0, ""
        for token in re.split(r"(\\to\b|=|[{}])", tex):
            depth += token == "{"
            depth -= token == "}"
            current += token
            if depth == 0 and token in ("\\to", "="):
                parts.append(current)
                current = ""
        parts.append(current)
        return " ".join(f"${part.strip()}$" for part in parts if part.strip())

    return re.sub(r"(?<![$\\])\$(?!\$)([^$]+?)\$(?!\$)", split, source)


def _heading_level(cell) -> int:
    if cell.cell_type != "markdown":
        return 0
    match = re.match(r"(#{1,6}) ", cell.source.lstrip())
    return len(match.group(1)) if match else 0


def structural_type(cell, is_first_code: bool) -> str:
    """The slide type a cell gets from its role, before any packing.

    Parameters
    ----------
    cell : nbformat.NotebookNode
        Any cell.
    is_first_code : bool
        Whether it is the notebook's first code cell (the setup cell).

    Returns
    -------
    str
        ``"slide"`` for the title and every ``##`` section, ``"subslide"`` for ``###``,
        ``"notes"`` for a solution, ``"skip"`` for setup and for code that shows nothing
        (helper definitions), ``"-"`` (continue the slide) otherwise.
    """
    level = _heading_level(cell)
    if level in (1, 2):
        return "slide"
    if level == 3:
        return "subslide"
    if cell.cell_type != "code":
        return "-"
    if "solution" in cell.metadata.get("tags", []):
        return "notes"
    if is_first_code or not cell.get("outputs"):
        return "skip"
    return "-"


def assign_slide_types(nb) -> int:
    """Write ``metadata.slideshow.slide_type`` on every cell; idempotent.

    The structural type comes from ``structural_type``; then the cells are packed: a cell
    that would push its (sub-)slide past ``BUDGET`` starts a new sub-slide.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The notebook, changed in place.

    Returns
    -------
    int
        The number of cells whose slide type changed.
    """
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), -1)
    changed, used = 0, 0
    for index, cell in enumerate(nb.cells):
        kind = structural_type(cell, index == first_code)
        if kind in ("-", "subslide", "slide"):
            height = cell_height(cell)
            if kind == "-" and used and used + height > BUDGET:
                kind = "subslide"
            used = height if kind != "-" else used + height
        old = cell.metadata.get("slideshow", {}).get("slide_type")
        if old != kind:
            changed += 1
        cell.metadata["slideshow"] = {"slide_type": kind}
    # RISE (live slides in JupyterLab): the same size as the decks, scroll if a cell is long.
    nb.metadata["rise"] = {"width": WIDTH, "height": HEIGHT, "scroll": True,
                           "enable_chalkboard": False, "transition": "none"}
    return changed


# --------------------------------------------------------------------------- the deck


def _cut_lines(text: str, keep: int, comment: str) -> str:
    lines = text.splitlines()
    if len(lines) <= keep:
        return text
    shown = lines[: keep - 1]
    return "\n".join(shown + [comment.format(len(lines) - len(shown))]) + "\n"


def _has_figure(cell) -> bool:
    return any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))


def _scale_figures(cell, room: int) -> None:
    """Shrink the cell's figures (via their display size) so that the cell fits ``room``."""
    height = code_height(cell)
    figures = [o for o in cell.outputs if "image/png" in o.get("data", {})]
    if height <= room or not figures:
        return
    figure_px = sum(_output_height(o) - 8 for o in figures)
    scale = max(0.3, 1 - (height - room) / figure_px)
    for output in figures:
        width, fig_height = _png_size(output["data"]["image/png"])
        fit = min(1.0, IMAGE_MAX_HEIGHT / fig_height, (WIDTH - 40) / width) * scale
        output.setdefault("metadata", {})["image/png"] = {
            "width": int(width * fit), "height": int(fig_height * fit)}


def cut_code_cell(cell):
    """A copy of a code cell with the listing and the printouts cut to slide length.

    Parameters
    ----------
    cell : nbformat.NotebookNode
        A code cell of the full edition (not changed).

    Returns
    -------
    nbformat.NotebookNode
        The copy: at most ``CODE_LINES`` source lines and ``OUTPUT_LINES`` lines per printout,
        each cut marked with how many lines the notebook has beyond it.
    """
    shown = copy.deepcopy(cell)
    source = "\n".join(
        line for line in shown.source.splitlines() if not line.startswith("# NBVAL_")
    )
    keep = FIGURE_CODE_LINES + 1 if _has_figure(shown) else CODE_LINES
    shown.source = _cut_lines(source, keep, "# ... {} more lines in the notebook").rstrip()
    for output in shown.get("outputs", []):
        if output.get("output_type") == "stream":
            output["text"] = _cut_lines(output["text"], OUTPUT_LINES,
                                        "... {} more lines in the notebook")
    _scale_figures(shown, BUDGET - HEADING[4])
    return shown


def _continued(title: str):
    import nbformat

    cell = nbformat.v4.new_markdown_cell(f"#### {title} (continued)")
    cell.metadata["slideshow"] = {"slide_type": "subslide"}
    return cell


def deck_cells(nb) -> list:
    """The cells of the deck: cut, split to fit, with a heading on every continuation.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        A chapter with slide metadata (see ``assign_slide_types``); not changed.

    Returns
    -------
    list of nbformat.NotebookNode
        New cells for ``SlidesExporter``.
    """

    cells, title = [], ""
    for cell in nb.cells:
        kind = cell.metadata.get("slideshow", {}).get("slide_type", "-")
        if kind == "skip":
            continue
        if _heading_level(cell) in (1, 2, 3):
            title = re.sub(r"^#+\s*", "", cell.source.lstrip().splitlines()[0])
        if cell.cell_type == "code":
            shown = cut_code_cell(cell)
            # Markdown a cell displays (chapter 6 renders its table from data) is laid out
            # like the text: split into slides that fit, each with its heading.
            outputs = shown.get("outputs", [])
            generated = [o for o in outputs if "text/markdown" in o.get("data", {})]
            shown.outputs = [o for o in outputs if o not in generated]
            if kind == "subslide":
                cells.append(_continued(title))
                shown.metadata["slideshow"] = {"slide_type": "-"}
            cells.append(shown)
            for output in generated:
                title = _markdown_slides(output["data"]["text/markdown"], "subslide", title, cells)
            continue
        if kind == "notes":
            cells.append(cell)
            continue
        title = _markdown_slides(cell.source, kind, title, cells)
    return cells


def _markdown_slides(source: str, kind: str, title: str, cells: list) -> str:
    """Append ``source`` to ``cells`` as markdown cells that each fit a slide; the new title.

    A slide at every # / ## heading, a sub-slide at ###, and a continuation sub-slide
    wherever the paragraphs (or a table's rows) outgrow the slide.
    """
    import nbformat

    pieces = [p for b in _markdown_blocks(_break_inline_math(source)) for p in _split_table(b)]
    chunks, used = [], 0
    for piece in pieces:
        height, level = _block_height(piece), _heading_level_of(piece)
        if not chunks:
            chunks.append([kind, [piece]])
            used = height
            continue
        if level in (1, 2):
            start = "slide"
        elif level == 3:
            start = "subslide"
        elif used + height > BUDGET - HEADING[4]:
            start = "continued"
        else:
            chunks[-1][1].append(piece)
            used += height
            continue
        chunks.append([start, [piece]])
        used = height
    for start, parts in chunks:
        part = nbformat.v4.new_markdown_cell("\n\n".join(parts))
        if _heading_level_of(parts[0]) in (1, 2, 3):
            title = re.sub(r"^#+\s*", "", parts[0].lstrip().splitlines()[0])
        elif start in ("continued", "subslide"):
            cells.append(_continued(title))
            start = "-"
        part.metadata["slideshow"] = {"slide_type": start}
        cells.append(part)
    return title


def _split_table(block: str) -> list[str]:
    """A markdown table taller than a slide as several tables, each with the header row."""
    lines = block.splitlines()
    if not lines[0].startswith("|") or _block_height(block) <= BUDGET - 2 * HEADING[4]:
        return [block]
    header, rows = lines[:2], lines[2:]
    tables, current = [], []
    for row in rows:
        if current and _block_height("\n".join(header + current + [row])) > BUDGET - 2 * HEADING[4]:
            tables.append("\n".join(header + current))
            current = []
        current.append(row)
    return tables + ["\n".join(header + current)]


def copy_assets(out_dir: Path) -> None:
    """Copy reveal.js, MathJax and the deck's style sheet into ``out_dir/_assets``.

    Parameters
    ----------
    out_dir : pathlib.Path
        The folder of the decks.
    """
    import mathjax
    import sphinx_revealjs

    assets = out_dir / "_assets"
    reveal = Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"
    mathjax_es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    no_maps = shutil.ignore_patterns("*.map", "*.esm.js")
    for part in ("dist", "plugin/notes"):
        shutil.copytree(reveal / part, assets / "reveal" / part, dirs_exist_ok=True,
                        ignore=no_maps)
    (assets / "mathjax").mkdir(parents=True, exist_ok=True)
    shutil.copy2(mathjax_es5 / "tex-chtml-full.js", assets / "mathjax")
    for part in ("input", "output", "ui", "a11y"):
        shutil.copytree(mathjax_es5 / part, assets / "mathjax" / part, dirs_exist_ok=True)
    shutil.copy2(TEMPLATE_DIR / "deck.css", assets / "deck.css")


def build_deck(path: Path, out_dir: Path) -> Path:
    """Write the reveal.js deck of one chapter.

    Parameters
    ----------
    path : pathlib.Path
        The chapter's ``.ipynb`` (full edition, with slide metadata).
    out_dir : pathlib.Path
        Where the deck goes; ``copy_assets(out_dir)`` supplies its scripts.

    Returns
    -------
    pathlib.Path
        The deck, ``out_dir/<chapter>.slides.html``.
    """
    import nbformat
    from nbconvert import SlidesExporter

    nb = nbformat.read(path, as_version=4)
    deck = copy.deepcopy(nb)
    deck.cells = deck_cells(nb)
    exporter = SlidesExporter(
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        template_name="deck",
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    title = re.sub(r"^#+\s*", "", nb.cells[0].source.lstrip().splitlines()[0])
    resources = {"deck": {"title": title, "width": WIDTH, "height": HEIGHT}}
    html, _ = exporter.from_notebook_node(deck, resources=resources)
    target = out_dir / f"{path.stem}.slides.html"
    atomic_write_text(target, html)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``python -m mnist_cnn.book.slides``.

    Parameters
    ----------
    argv : list of str, optional
        ``tag NOTEBOOKS...`` or ``build NOTEBOOKS... --out DIR``; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success.
    """
    import nbformat

    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.slides", description=__doc__
                                     .split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    tag = sub.add_parser("tag", help="write slide metadata on every cell (idempotent)")
    tag.add_argument("notebooks", nargs="+", type=Path)
    build = sub.add_parser("build", help="write one offline reveal.js deck per chapter")
    build.add_argument("notebooks", nargs="+", type=Path)
    build.add_argument("--out", type=Path, default=Path("build/slides"))
    args = parser.parse_args(argv)

    missing = [p for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(map(str, missing))}")
    for path in args.notebooks:  # bad input: one line, exit 2 (issue 25)
        try:
            read_notebook(path)
        except NotebookError as exc:
            parser.error(str(exc))
    if args.command == "tag":
        for path in args.notebooks:
            nb = nbformat.read(path, as_version=4)
            changed = assign_slide_types(nb)
            atomic_write_text(path, nbformat.writes(nb) + "\n")
            print(f"{path}: {changed} cells changed slide type")
        return 0
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    copy_assets(args.out)
    for path in args.notebooks:
        print("wrote", build_deck(path, args.out))
    print(f"{len(args.notebooks)} decks in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
