"""The print edition (``make pdf`` -> build/pdf/mnist-cnn.pdf), read back: its text with poppler's
``pdftotext`` (``apt-get install poppler-utils``; pypdf reads the same text 100 times slower),
its images and bookmarks with pypdf.

The text of the PDF holds every numbered equation's tag "(k.n)" as text, every chapter's
title, and no TeX source outside code listings; it has at least as many images as the site has
figures (image outputs and animations, each animation as key frames); the contents give each
chapter the page on which its title first appears after the contents, and the bookmarks agree;
every page after the cover carries a page number, and chapter pages the chapter's running head.
Chromium draws the PDF, so these tests live with the browser tests and skip (or fail in CI)
the same way when there is no PDF.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import _unavailable

ROOT = Path(__file__).resolve().parents[2]
PDF = ROOT / "build" / "pdf" / "mnist-cnn.pdf"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# TeX left as source: delimiters and the control words the book uses.
RAW_TEX = re.compile(
    r"\$\$|\\\(|\\\)|\\\[|\\\]|\\(?:begin|end|frac|tfrac|sum|tag|mathbb|mathrm|mathbf|text|left|"
    r"right|partial|delta|sigma|cdot|times|le|ge|lfloor|rfloor|tilde|hat|quad|qquad|in)\b"
)


def squash(text: str) -> str:
    return " ".join(text.split())


def notebook(path: Path) -> dict:
    return json.loads(path.read_text())


def chapter_title(path: Path) -> str:
    for cell in notebook(path)["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("# "):
                    return squash(line[2:])
    raise AssertionError(f"{path.name} has no '# ' title")


def code_text() -> str:
    """Every code cell's source and every text output, squashed: where TeX may legitimately be."""
    parts = []
    for path in NOTEBOOKS:
        for cell in notebook(path)["cells"]:
            if cell["cell_type"] != "code":
                continue
            parts.append("".join(cell["source"]))
            for output in cell.get("outputs", []):
                parts.append("".join(output.get("text", "")))
                parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return squash("\n".join(parts))


@pytest.fixture(scope="module")
def pdf():
    if not PDF.is_file():
        _unavailable(f"no PDF at {PDF.relative_to(ROOT)} (run `make pdf`)")
    if shutil.which("pdftotext") is None:
        _unavailable("no pdftotext to read the PDF (apt-get install poppler-utils)")
    from pypdf import PdfReader

    reader = PdfReader(PDF)

    def pdftotext(*options):
        text = subprocess.run(["pdftotext", *options, "-enc", "UTF-8", str(PDF), "-"],
                              check=True, capture_output=True, text=True).stdout
        pages = text.split("\f")[:len(reader.pages)]
        assert len(pages) == len(reader.pages)
        return pages

    return reader, pdftotext()


@pytest.fixture(scope="module")
def layout(pdf):
    """The pages as laid out (``pdftotext -layout``): a line of the contents stays one line."""
    return subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(PDF), "-"], check=True,
                          capture_output=True, text=True).stdout.split("\f")


def test_every_equation_tag_is_text(pdf):
    _, pages = pdf
    text = squash(" ".join(pages))
    tags = [tag for path in NOTEBOOKS for cell in notebook(path)["cells"]
            if cell["cell_type"] == "markdown"
            for tag in re.findall(r"\\tag\{([^}]*)\}", "".join(cell["source"]))]
    assert len(tags) >= 40  # chapters 0-5 number their equations
    assert [tag for tag in tags if f"({tag})" not in text] == []


def test_every_chapter_title_and_a_cover_and_contents(pdf):
    _, pages = pdf
    text = squash(" ".join(pages))
    titles = [chapter_title(path) for path in NOTEBOOKS]
    assert [title for title in titles if title not in text] == []
    assert "MNIST-CNN" in pages[0] and "Contents" in squash(pages[1])
    assert "Worked solutions" in text


def test_no_raw_tex_outside_code(pdf):
    _, pages = pdf
    code = code_text()
    leftovers = []
    for number, page in enumerate(pages, start=1):
        for line in page.splitlines():
            if RAW_TEX.search(line) and squash(line) not in code:
                leftovers.append(f"page {number}: {line.strip()[:80]}")
    assert leftovers == []


def test_at_least_as_many_images_as_the_site_has_figures(pdf):
    reader, _ = pdf
    figures = 0
    for path in NOTEBOOKS:
        for cell in notebook(path)["cells"]:
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                figures += any(key.startswith("image/") for key in data)
                figures += "_anim_img" in "".join(data.get("text/html", ""))
    images = set()
    for page in reader.pages:
        xobjects = page.get("/Resources", {}).get("/XObject", {})
        for ref in xobjects.values():
            if ref.get_object().get("/Subtype") == "/Image":
                images.add(getattr(ref, "idnum", id(ref)))
    assert figures >= 20
    assert len(images) >= figures


def test_contents_give_each_chapter_its_first_page(pdf, layout):
    """The contents' page for a chapter is the first page after the contents with its title,
    and the PDF's bookmark for the chapter points there too."""
    reader, pages = pdf
    contents_pages = [n for n, page in enumerate(pages) if page.lstrip().startswith("Contents")]
    assert contents_pages, "no page of contents"
    contents = squash(" ".join(layout[n] for n in contents_pages))
    bookmarks = {squash(item.title): reader.get_destination_page_number(item) + 1
                 for item in reader.outline if not isinstance(item, list)}
    after = max(contents_pages) + 1
    for path in NOTEBOOKS:
        title = chapter_title(path)
        listed = re.search(re.escape(title) + r"[\s.]*(\d+)", contents)
        assert listed, f"{title!r} has no page number in the contents"
        first = next(n + 1 for n in range(after, len(pages)) if title in squash(pages[n]))
        assert int(listed.group(1)) == first, title
        assert bookmarks.get(title) == first, title


def test_page_numbers_and_running_heads(pdf, layout):
    reader, pages = pdf
    assert len(pages) > 50
    # read as laid out: in the flowing text the footer's number can join the last body line
    # ("... in row77"); laid out, it ends a line of its own
    unnumbered = [n for n, page in enumerate(layout[1:len(pages)], start=2)
                  if str(n) not in [line.split()[-1] for line in page.splitlines()
                                    if line.split()]]
    assert unnumbered == []
    title = chapter_title(NOTEBOOKS[4])
    heads = sum(squash(page).startswith(title) or squash(page).endswith(title) or
                title in squash(page)[:120] for page in pages)
    assert heads >= 5  # chapter 4 runs over many pages, each with its head


def test_key_frames_are_the_players_own_first_to_last():
    """No browser needed: the strip's frames are the stored player's PNGs, first and last kept."""
    pytest.importorskip("bs4")
    from mnist_cnn.book.pdf import key_frames

    players = ["".join(output["data"]["text/html"]) for path in NOTEBOOKS
               for cell in notebook(path)["cells"] for output in cell.get("outputs", [])
               if "_anim_img" in "".join(output.get("data", {}).get("text/html", ""))]
    assert len(players) >= 3
    for player in players:
        frames, total, alt = key_frames(player)
        indices = [index for index, _ in frames]
        assert indices[0] == 0 and indices[-1] == total - 1 and len(indices) == min(4, total)
        assert all(png.startswith(b"\x89PNG") for _, png in frames)
        assert alt.startswith("animation")
    with pytest.raises(ValueError, match="not a to_jshtml player"):
        key_frames("<div>no frames</div>")
