"""The notebook walk-throughs (``make walkthrough``) in headless Chromium, network blocked.

Not the lectures (those are ``make lectures``, tested in ``test_lectures.py``): a walk-through
pages a whole notebook as slides, for reading a chapter on a projector or in RISE.

Every deck opens from disk, has a slide for each ``##`` section, every slide fits the
1280 x 720 slide without overflow, the maths is typeset, and each animation steps.
The decks come from ``$MNIST_CNN_SLIDES`` (``make test`` builds them first) or are built here.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from mnist_cnn.book import slides

from .pagechecks import mathjax_errors, unrendered_tex

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ANIMATED = ("02", "03", "04")

MEASURE_JS = """() => {
  const out = [];
  for (const section of Reveal.getSlides()) {
    const idx = Reveal.getIndices(section);
    Reveal.slide(idx.h, idx.v);
    const slide = Reveal.getCurrentSlide();
    const scale = Reveal.getScale(), left = slide.getBoundingClientRect().left;
    let right = slide.scrollWidth;
    slide.querySelectorAll('mjx-container, img, pre, table, p, li').forEach(e => {
      right = Math.max(right, Math.round((e.getBoundingClientRect().right - left) / scale));
    });
    const heading = slide.querySelector('h1, h2, h3, h4');
    out.push({h: idx.h, v: idx.v, height: slide.scrollHeight, width: right,
              heading: heading ? heading.textContent.replace('\u00b6', '').trim() : ''});
  }
  Reveal.slide(0, 0);
  return out;
}"""


@pytest.fixture(scope="session")
def decks(built_or_given) -> Path:
    """The folder of the decks: ``$MNIST_CNN_SLIDES`` if given, else freshly built."""
    return built_or_given("MNIST_CNN_SLIDES", "slides",
                          lambda out: slides.main(["build", *map(str, CHAPTERS),
                                                  "--out", str(out)]))


def open_deck(open_page, decks: Path, chapter: Path):
    deck = decks / f"{chapter.stem}.slides.html"
    assert deck.is_file(), f"no walk-through for {chapter.name}: run make walkthrough"
    page = open_page(deck)
    page.set_viewport_size({"width": slides.WIDTH, "height": slides.HEIGHT})
    page.wait_for_function("() => window.Reveal && Reveal.isReady()")
    return page


def section_titles(chapter: Path) -> list[str]:
    nb = nbformat.read(chapter, as_version=4)
    titles = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            source = re.sub(r"```.*?```", "", cell.source, flags=re.S)
            titles += re.findall(r"^#{1,2} +(.+)$", source, flags=re.M)
    return titles


def visible_text(title: str) -> str:
    """A heading's text as the browser shows it: maths and markup reduced to words."""
    return re.sub(r"\$[^$]*\$|[*`]", "", title).split()[0]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name[:2])
def test_deck_fits_and_renders(chapter, decks, open_page):
    page = open_deck(open_page, decks, chapter)
    measured = page.evaluate(MEASURE_JS)
    too_tall = [m for m in measured if m["height"] > slides.HEIGHT]
    too_wide = [m for m in measured if m["width"] > slides.WIDTH]
    assert too_tall == [] and too_wide == []
    # a slide (top-level, v = 0) for the title and every ## section, in the notebook's order
    tops = [m["heading"] for m in measured if m["v"] == 0]
    titles = section_titles(chapter)
    assert len(tops) == len(titles)
    for shown, title in zip(tops, titles, strict=True):
        assert visible_text(title) in shown, (shown, title)
    assert page.locator("mjx-container").count() > 0
    assert mathjax_errors(page) == []
    assert unrendered_tex(page) == []
    print(f"{chapter.stem}: {len(measured)} slides, largest "
          f"{max(m['height'] for m in measured)} px")


@pytest.mark.parametrize("chapter", [c for c in CHAPTERS if c.name[:2] in ANIMATED],
                         ids=lambda p: p.name[:2])
def test_animations_step(chapter, decks, open_page):
    page = open_deck(open_page, decks, chapter)
    players = page.locator(".animation")
    assert players.count() >= 1, f"{chapter.name} has no animation"
    for index in range(players.count()):
        player = players.nth(index)
        page.evaluate("""(el) => {
            const slide = el.closest('section');
            const idx = Reveal.getIndices(slide);
            Reveal.slide(idx.h, idx.v);
        }""", player.element_handle())
        frame = player.locator("img")
        before = frame.get_attribute("src")
        assert before and before.startswith("data:image/png")
        player.locator("button[title='Next frame']").click()
        assert frame.get_attribute("src") != before, "stepping did not change the frame"
        assert frame.get_attribute("alt")
