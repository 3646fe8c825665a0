"""The HTML book (``make site`` -> build/site) as a reader sees it, offline, at 1280 px.

For every chapter page: no TeX left unrendered and no MathJax error; the rendered numbered
display equations are the notebook's ``\\tag``s, in order, and the display equations are its
``$$`` blocks (plus its LaTeX outputs); every image loaded, has alt text and is shown at its
natural size; nothing sticks out of the viewport, and every box that scrolls sideways shows the
scroll cue (the phone width is tested in ``test_site_phone.py``).
For the whole site: every internal link resolves, ``#anchor`` included, and no page asked
for anything outside the machine.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import _unavailable, blocked_page
from .pagechecks import (
    broken_images,
    broken_links,
    collect_links,
    display_equations,
    downscaled_images,
    element_ids,
    horizontal_overflow,
    images_without_alt,
    mathjax_errors,
    scrolled_boxes,
    site_pages,
    unrendered_tex,
    wait_for_mathjax,
)

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "build" / "site"
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def notebook_maths(stem: str) -> tuple[list[str], int, int]:
    """The chapter's ``\\tag``s as "(k.n)", its display maths, its image outputs.

    Display maths: the ``$$`` blocks of the text and the LaTeX outputs (sympy's) of the code.
    """
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    tags = [f"({t})" for t in re.findall(r"\\tag\{([^}]*)\}", markdown)]
    outputs = [out for cell in nb["cells"] for out in cell.get("outputs", [])]
    displays = len(re.findall(r"\$\$.+?\$\$", markdown, flags=re.S))
    displays += sum("text/latex" in out.get("data", {}) for out in outputs)
    images = sum(any(k.startswith("image/") for k in out.get("data", {})) for out in outputs)
    return tags, displays, images


@pytest.fixture(scope="module")
def survey(browser):
    """Open every page of the built site once and record what the tests look at."""
    pages = site_pages(SITE)
    if not pages:
        _unavailable(f"no built site at {SITE.relative_to(ROOT)} (run `make site`)")
    records = {}
    for html in pages:
        page = blocked_page(browser)
        page.goto(html.as_uri(), wait_until="load")
        wait_for_mathjax(page)
        page.wait_for_function("() => document.documentElement.dataset.scrollCues === 'ready'")
        records[str(html)] = {
            "ids": element_ids(page),
            "links": collect_links(page),
            "tex": unrendered_tex(page),
            "mathjax_errors": mathjax_errors(page),
            "equations": display_equations(page),
            "images": page.evaluate("() => document.images.length"),
            "no_alt": images_without_alt(page),
            "broken_images": broken_images(page),
            "downscaled": downscaled_images(page),
            "overflow": horizontal_overflow(page),
            "uncued": [box for box in scrolled_boxes(page) if "scrolls-x" not in box],
            "blocked": list(page.blocked_requests),
            # solution cells (tag "solution"): how many, and how many show without a click
            "solutions": page.evaluate("""() => {
                const cells = [...document.querySelectorAll('.tag_solution')];
                const shown = cells.filter(c => !c.querySelector('details:not([open])'));
                return [cells.length, shown.length];
            }"""),
        }
        page.context.close()
    return records


def chapter(survey, stem):
    return survey[str(SITE / "notebooks" / f"{stem}.html")]


@pytest.mark.parametrize("stem", CHAPTERS)
def test_maths_rendered_and_numbered_as_in_the_notebook(survey, stem):
    page = chapter(survey, stem)
    tags, displays, _ = notebook_maths(stem)
    assert page["tex"] == []
    assert page["mathjax_errors"] == []
    assert page["equations"]["tags"] == tags
    assert page["equations"]["numbered"] == len(tags)
    assert page["equations"]["total"] == displays


@pytest.mark.parametrize("stem", CHAPTERS)
def test_images_load_and_have_alt_text(survey, stem):
    page = chapter(survey, stem)
    assert page["images"] >= notebook_maths(stem)[2]
    assert page["no_alt"] == []
    assert page["broken_images"] == []
    assert page["downscaled"] == []  # shown at natural size: 12 pt text stays 12 pt


@pytest.mark.parametrize("stem", CHAPTERS)
def test_solutions_are_folded(survey, stem):
    nb = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    tagged = sum("solution" in c["metadata"].get("tags", []) for c in nb["cells"])
    assert chapter(survey, stem)["solutions"] == [tagged, 0]


@pytest.mark.parametrize("stem", CHAPTERS)
def test_nothing_overflows_1280_px(survey, stem):
    assert chapter(survey, stem)["overflow"] == []
    assert chapter(survey, stem)["uncued"] == []


def test_every_page_offline_and_every_internal_link_resolves(survey):
    assert {path: r["blocked"] for path, r in survey.items() if r["blocked"]} == {}
    assert {path for path, r in survey.items() if r["tex"]} == set()
    ids = {path: r["ids"] for path, r in survey.items()}
    links = [link for r in survey.values() for link in r["links"]]
    internal = [link for link in links if link.startswith("file://")]
    assert len(internal) > 100  # the chapters link to each other and to the review
    assert broken_links(ids, internal, SITE) == []
    print(f"{len(survey)} pages, {len(internal)} internal links checked")
