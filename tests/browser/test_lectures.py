"""The lecture decks (``make lectures``) measured slide by slide in Chromium at 1280 x 720.

For every slide of every deck: it fits; its smallest prose, maths and code in px; its words of
prose; its speaker notes; its pictures; and every display equation on it is the notebook's
display with the same ``\\tag``, character for character (the deck pulls it when it is built,
so an edited notebook changes the slide). Fragments are all shown before a slide is measured,
so the fully built-up slide must fit.

The decks come from ``$MNIST_CNN_LECTURES`` (``make test`` builds them first) or are built here.
Run ``pytest tests/browser/test_lectures.py -s`` to see the numbers of each deck.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest

from mnist_cnn.book import lectures

from .pagechecks import mathjax_errors, unrendered_tex

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "lectures").glob("*.md"))

MIN_SLIDES, MAX_SLIDES = 12, 35
MIN_PROSE_PX, MIN_CODE_PX = 24, 20
MAX_MEDIAN_WORDS = 40
NOTES_SHARE, NOTE_WORDS = 0.9, 8
PICTURE_SHARE = 0.3

MEASURE_JS = r"""() => {
  const out = [];
  const px = el => parseFloat(getComputedStyle(el).fontSize) * Reveal.getScale();
  const words = t => (t.match(/[A-Za-z0-9\u00C0-\u024F\u0370-\u03FF]+/g) || []).length;
  for (const section of Reveal.getSlides()) {
    const idx = Reveal.getIndices(section);
    Reveal.slide(idx.h, idx.v);
    section.querySelectorAll('.fragment').forEach(f => f.classList.add('visible'));
    const slide = Reveal.getCurrentSlide();
    const scale = Reveal.getScale(), box = slide.getBoundingClientRect();
    let right = 0, bottom = 0;
    slide.querySelectorAll('h2, p, li, pre, img, mjx-container, figure').forEach(e => {
      const r = e.getBoundingClientRect();
      right = Math.max(right, (r.right - box.left) / scale);
      bottom = Math.max(bottom, (r.bottom - box.top) / scale);
    });
    // (MathJax's assistive MathML is clipped off screen, so the visible boxes are measured,
    // not the section's scroll size.)
    // prose: text nodes outside maths, code and notes; its smallest font
    let prose = Infinity, proseWords = 0;
    const walker = document.createTreeWalker(slide, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (!n.textContent.trim()) continue;
      const el = n.parentElement;
      if (el.closest('mjx-container, pre, aside.notes, h2')) continue;
      if (el.closest('code')) continue;
      prose = Math.min(prose, px(el));
      proseWords += words(n.textContent);
    }
    let maths = Infinity;
    slide.querySelectorAll('mjx-container').forEach(m => { maths = Math.min(maths, px(m)); });
    let code = Infinity;
    slide.querySelectorAll('pre, code').forEach(c => {
      if (!c.closest('aside.notes')) code = Math.min(code, px(c));
    });
    const notes = slide.querySelector('aside.notes');
    const items = MathJax.startup.document.getMathItemsWithin(slide);
    const displays = [...slide.querySelectorAll('mjx-container[display="true"]')].map(c => {
      const holder = c.closest('.eq');
      const item = items.find(i => i.typesetRoot === c);
      return {tag: holder ? holder.dataset.tag : null, tex: item ? item.math : null};
    });
    out.push({
      h: idx.h, title: (slide.querySelector('h2') || {}).textContent || '',
      width: Math.round(right), height: Math.round(bottom),
      prose: prose === Infinity ? null : prose, maths: maths === Infinity ? null : maths,
      code: code === Infinity ? null : code, words: proseWords,
      notes: notes ? notes.textContent.trim() : '',
      notesCode: notes ? notes.querySelectorAll('pre, code').length : 0,
      pictures: slide.querySelectorAll('figure.pic img').length,
      fragments: slide.querySelectorAll('.fragment').length,
      displays: displays,
    });
    section.querySelectorAll('.fragment').forEach(f => f.classList.remove('visible'));
  }
  Reveal.slide(0, 0);
  return out;
}"""


@pytest.fixture(scope="session")
def decks(built_or_given) -> Path:
    """The folder of the decks: ``$MNIST_CNN_LECTURES`` if given, else freshly built."""
    return built_or_given("MNIST_CNN_LECTURES", "lectures",
                          lambda out: lectures.main([*map(str, SOURCES), "--out", str(out)]))


@pytest.fixture(scope="session")
def displays() -> lectures.Equations:
    return lectures.Equations()


def open_deck(open_page, decks: Path, source: Path):
    deck = decks / f"{source.stem}.html"
    assert deck.is_file(), f"no deck for {source.name}: run make lectures"
    page = open_page(deck)
    page.set_viewport_size({"width": lectures.WIDTH, "height": lectures.HEIGHT})
    page.wait_for_function("() => window.Reveal && Reveal.isReady()")
    return page


def measure(open_page, decks: Path, source: Path) -> list[dict]:
    page = open_deck(open_page, decks, source)
    assert mathjax_errors(page) == []
    assert unrendered_tex(page) == []
    return page.evaluate(MEASURE_JS)


def summary(measured: list[dict]) -> dict:
    """The numbers the closing note reports for one deck."""
    n = len(measured)

    def smallest(key):
        values = [m[key] for m in measured if m[key] is not None]
        return round(min(values), 1) if values else None

    return {
        "slides": n,
        "prose_px": smallest("prose"), "maths_px": smallest("maths"), "code_px": smallest("code"),
        "median_words": statistics.median(m["words"] for m in measured),
        "notes": sum(len(m["notes"].split()) >= NOTE_WORDS for m in measured) / n,
        "pictures": sum(m["pictures"] > 0 for m in measured) / n,
        "fragments": sum(m["fragments"] > 0 for m in measured),
    }


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name[:2])
def test_lecture_deck(source, decks, open_page, displays):
    measured = measure(open_page, decks, source)
    numbers = summary(measured)
    print(f"\n{source.stem}: {numbers}")
    assert MIN_SLIDES <= numbers["slides"] <= MAX_SLIDES
    # it fits: nothing beyond the slide, with every fragment shown
    over = [(m["title"], m["width"], m["height"]) for m in measured
            if m["width"] > lectures.WIDTH or m["height"] > lectures.HEIGHT]
    assert over == []
    # type: prose and maths >= 24 px, code >= 20 px, equations never smaller than the text
    small = [(m["title"], m["prose"], m["maths"], m["code"]) for m in measured
             if (m["prose"] or 99) < MIN_PROSE_PX or (m["maths"] or 99) < MIN_PROSE_PX
             or (m["code"] or 99) < MIN_CODE_PX
             or (m["maths"] and m["prose"] and m["maths"] < m["prose"])]
    assert small == []
    assert numbers["median_words"] <= MAX_MEDIAN_WORDS
    # notes on >= 90% of slides, >= 8 words each, no code in them
    assert numbers["notes"] >= NOTES_SHARE, [m["title"] for m in measured
                                             if len(m["notes"].split()) < NOTE_WORDS]
    assert [m["title"] for m in measured if m["notesCode"]] == []
    # pictures first: >= 30% of slides carry a figure drawn by the package
    assert numbers["pictures"] >= PICTURE_SHARE
    # one source: every display is the notebook's display with that tag, as typeset
    for m in measured:
        for shown in m["displays"]:
            assert shown["tag"], f"{m['title']!r}: a display equation not pulled by tag"
            assert shown["tex"] == displays(shown["tag"]), (m["title"], shown["tag"])
    # the titles state ideas: no bare section names
    assert all(len(m["title"].split()) >= 4 for m in measured), [m["title"] for m in measured]


def test_a_derivation_builds_up(decks, open_page):
    """Chapter 4 reveals its chain of deltas step by step; chapter 2 steps im2col's columns."""
    text = {s.name[:2]: (decks / f"{s.stem}.html").read_text() for s in SOURCES}
    chain = re.findall(r'<div class="eq fragment" data-tag="(4\.\d+)"', text["04"])
    assert {"4.6", "4.7", "4.9"} <= set(chain), chain
    frames = re.search(r'data-figure="im2col_frames" data-frames="(\d+)"', text["02"])
    assert frames and int(frames.group(1)) >= 5


def test_a_drifted_equation_fails(tmp_path, displays):
    """The comparison has teeth: a source with its own copy of an equation is refused."""
    source = tmp_path / "99_copy.md"
    source.write_text("title: x\nchapter: 01\n\n---\n## A slide with a copied equation\n"
                      "$$y = x \\tag{1.9}$$\nNote: this must be refused by the build.\n")
    with pytest.raises(ValueError, match="pull it from the notebook"):
        lectures.parse(source)
    with pytest.raises(KeyError, match="no display"):
        displays("1.99")
