"""What the HTML book and the slides rely on in the notebooks' sources.

* Every numbered equation ``\\tag{k.n}`` has the anchor ``<a id="eq-k-n"></a>`` just before
  its ``$$`` block, and every review item ``### #N · ...`` of chapter 6 the anchor
  ``<a id="error-N"></a>`` (CONTRIBUTING.md, "Anchors and links"), so links such as
  ``01_scalar_forward.ipynb#eq-1-3`` work in JupyterLab and in the HTML book.
* Every link between chapters names an existing notebook and an existing anchor.
* Every figure has alt text, in the plotting cell's metadata (``mystnb.image.alt``).
* Printed lines fit the page: at most 90 characters.
"""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ANCHOR = re.compile(r'<a id="([\w-]+)"></a>')


def markdown(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_numbered_equation_has_its_anchor(path):
    text = markdown(path)
    missing = []
    for block in re.finditer(r"\$\$.+?\$\$", text, flags=re.S):
        for k, n in re.findall(r"\\tag\{(\d+)\.(\d+)\}", block.group(0)):
            before = text[max(0, block.start() - 200):block.start()]
            if f'<a id="eq-{k}-{n}"></a>' not in before:
                missing.append(f"({k}.{n})")
    assert missing == []


def test_every_review_item_has_its_anchor():
    text = markdown(ROOT / "notebooks" / "06_review_of_the_sample_solution.ipynb")
    items = re.findall(r"^### #(\d+[a-z]?) ·", text, flags=re.M)
    assert len(items) >= 30
    anchors = set(ANCHOR.findall(text))
    assert [n for n in items if f"error-{n}" not in anchors] == []


def test_links_between_chapters_resolve():
    anchors = {p.name: set(ANCHOR.findall(markdown(p))) for p in NOTEBOOKS}
    broken = []
    for path in NOTEBOOKS:
        for target in re.findall(r"\]\(([^)\s]+)\)", markdown(path)):
            if "://" in target:
                continue
            name, _, fragment = target.partition("#")
            name = name or path.name
            if name.endswith(".ipynb"):
                if name not in anchors or (fragment and fragment not in anchors[name]):
                    broken.append(f"{path.name}: {target}")
            elif not (path.parent / name).exists():
                broken.append(f"{path.name}: {target}")
    assert broken == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_has_alt_text(path):
    """Alt text lives in the plotting cell's metadata, ``mystnb: {image: {alt: ...}}``."""
    nb = nbformat.read(path, as_version=4)
    missing = [
        cell.source.splitlines()[0]
        for cell in nb.cells
        if cell.cell_type == "code"
        and any(k.startswith("image/") for o in cell.outputs for k in o.get("data", {}))
        and len(cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "").strip()) < 20
    ]
    assert missing == []


MAX_OUTPUT_WIDTH = 90


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_printed_lines_fit_the_page(path):
    """No stored text output has a line over 90 characters (it would wrap or scroll)."""
    nb = nbformat.read(path, as_version=4)
    long_lines = []
    for number, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if any(k.startswith("image/") for k in data):
                continue
            text = output.get("text") or data.get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else text
            long_lines += [f"cell {number}: {line[:60]}... ({len(line)})"
                           for line in text.splitlines() if len(line) > MAX_OUTPUT_WIDTH]
    assert long_lines == []
