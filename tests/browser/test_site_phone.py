"""The HTML book on a phone (412 px wide), and what every page offers: folds, downloads.

At 412 px no page scrolls sideways: a wide equation, output or table scrolls inside its own box,
and every such box carries the scroll cue (``scrolls-x``, set by ``docs/_static/book.js``). The
worked solutions fold under "Solution" (never the theme's "Show code cell content"), chapter
6's data cell is folded under a label that names it, and each chapter page offers its notebook
(the file is there) and, when ``make pdf`` ran before ``make site``, the whole book's PDF.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import _unavailable, blocked_page
from .pagechecks import horizontal_overflow, scrolled_boxes, site_pages, wait_for_mathjax

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "build" / "site"
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PHONE = {"width": 412, "height": 915}

FOLDS_JS = """() => [...document.querySelectorAll('div.cell details')].map(d => ({
    cell: d.closest('div.cell').className,
    label: (d.querySelector('summary .collapsed') || d.querySelector('summary')).textContent.trim(),
}))"""


def open_at(browser, html: Path, viewport: dict):
    page = blocked_page(browser)
    page.set_viewport_size(viewport)
    page.goto(html.as_uri(), wait_until="load")
    wait_for_mathjax(page)
    page.wait_for_function("() => document.documentElement.dataset.scrollCues === 'ready'")
    return page


@pytest.fixture(scope="module")
def phone(browser):
    """Every page of the site at 412 px: overflow, scroll boxes without a cue, folds, links."""
    pages = site_pages(SITE)
    if not pages:
        _unavailable(f"no built site at {SITE.relative_to(ROOT)} (run `make site`)")
    records = {}
    for html in pages:
        page = open_at(browser, html, PHONE)
        records[html.relative_to(SITE).as_posix()] = {
            "overflow": horizontal_overflow(page, PHONE["width"]),
            "uncued": [box for box in scrolled_boxes(page) if "scrolls-x" not in box],
            "cued": page.evaluate("() => document.querySelectorAll('.scrolls-x').length"),
            "folds": page.evaluate(FOLDS_JS),
            "downloads": page.evaluate(
                "() => [...document.querySelectorAll('.dropdown-download-buttons a, "
                "a.btn-download-notebook-button, a.btn-download-pdf-button')]"
                ".map(a => a.href)"),
            "blocked": list(page.blocked_requests),
        }
        page.context.close()
    return records


def test_no_page_scrolls_sideways_at_412_px(phone):
    assert {path: r["overflow"] for path, r in phone.items() if r["overflow"]} == {}
    assert {path: r["blocked"] for path, r in phone.items() if r["blocked"]} == {}


def test_every_sideways_scroll_box_shows_the_cue(phone):
    assert {path: r["uncued"] for path, r in phone.items() if r["uncued"]} == {}
    # The phone does make boxes scroll (equations wider than 380 px): the cue is really tested.
    assert sum(r["cued"] for r in phone.values()) > 50


@pytest.mark.parametrize("stem", CHAPTERS)
def test_folds_are_labelled(phone, stem):
    folds = phone[f"notebooks/{stem}.html"]["folds"]
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    solutions = sum("solution" in c["metadata"].get("tags", []) for c in nb["cells"])
    labels = [f["label"] for f in folds if "tag_solution" in f["cell"]]
    assert labels == ["Solution"] * solutions
    assert [f["label"] for f in folds if "Show code cell" in f["label"]] == []


def test_chapter_6_data_cell_is_folded_under_its_name(phone):
    folds = phone["notebooks/06_review_of_the_sample_solution.html"]["folds"]
    assert any("ERRORS" in f["label"] and "tag_hide-input" in f["cell"] for f in folds)


@pytest.mark.parametrize("stem", CHAPTERS)
def test_each_chapter_offers_its_notebook_and_the_pdf(phone, stem):
    links = phone[f"notebooks/{stem}.html"]["downloads"]
    notebook = SITE / "notebooks" / f"{stem}.ipynb"
    assert notebook.as_uri() in links and notebook.is_file()
    pdf = SITE / "mnist-cnn.pdf"
    if pdf.is_file():  # make test builds the PDF before the site
        assert pdf.as_uri() in links
        assert pdf.read_bytes()[:5] == b"%PDF-"
