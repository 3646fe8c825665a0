"""The glossary of notation (mnist_cnn.book.glossary) against the chapters' own LaTeX.

* No chapter uses a symbol before the chapter that defines it, in homework order 0 -> 4.
* No symbol has two meanings: each is listed once, and every index letter runs only over the
  ranges the glossary gives it (the slip it catches: ``u = 1..K_p^2`` beside ``u = 1..H_in``).
* Chapter 0's glossary cell is what ``python -m mnist_cnn.book.glossary sync`` writes, so the
  chapter and the site page (docs/build.py) show one table.
"""

import re
from pathlib import Path

import pytest

from mnist_cnn.book import glossary

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = {k: ROOT / "notebooks" / f"{stem}.ipynb" for k, stem in glossary.CHAPTERS.items()}


def test_every_symbol_is_listed_once():
    symbols = [s.latex for s in glossary.GLOSSARY]
    assert sorted({s for s in symbols if symbols.count(s) > 1}) == []
    letters = [letter for s in glossary.GLOSSARY for letter in re.split(r",\s*", s.latex)]
    assert sorted({x for x in letters if letters.count(x) > 1}) == []


def test_meanings_keep_their_maths_between_dollars():
    # the site and the notebook render the meanings as markdown: bare TeX would show as source
    bare = [s.meaning for s in glossary.GLOSSARY
            if re.search(r"[_^\\]", re.sub(r"\$[^$]*\$", "", s.meaning))]
    assert bare == []


def test_chapters_are_defined_in_homework_order():
    assert [s.chapter for s in glossary.GLOSSARY] == sorted(s.chapter for s in glossary.GLOSSARY)


def test_no_chapter_uses_a_symbol_before_its_chapter():
    first = glossary.first_use(CHAPTERS)
    early = {s.latex: (first[s.latex], s.chapter) for s in glossary.GLOSSARY
             if first[s.latex] is not None and first[s.latex] < s.chapter}
    assert early == {}, "symbol: (first used in chapter, defined in chapter)"


def test_every_symbol_is_used_where_it_is_defined():
    first = glossary.first_use(CHAPTERS)
    unused = [s.latex for s in glossary.GLOSSARY if first[s.latex] is None]
    assert unused == []


@pytest.mark.parametrize("chapter", sorted(CHAPTERS), ids=lambda k: f"chapter{k}")
def test_no_index_letter_has_two_meanings(chapter):
    allowed = glossary.allowed_ranges()
    wrong = sorted({(letter, limit, where) for letter, limit, where in
                    glossary.index_ranges(CHAPTERS[chapter])
                    if letter in allowed and limit not in allowed[letter]
                    and not limit.isdigit()})  # a number is an instance, as 1..2 by hand
    assert wrong == []


def test_the_range_scan_finds_a_second_meaning():
    # the slip of issue 24: u as the pooling-window row beside u as the pixel row
    allowed = glossary.allowed_ranges()
    assert "K_p^2" not in allowed["u"] and "H_{in}" in allowed["u"]
    found = glossary._RANGE.findall(r"\max_{x} X_{u, q} \qquad u = 1..K_p^2")
    assert [(letters, glossary._norm(limit)) for letters, limit in found] == [("u", "K_p^2")]


def test_chapter_0_glossary_cell_is_current():
    assert glossary.cell_is_current(CHAPTERS[0]), \
        "run: python -m mnist_cnn.book.glossary sync notebooks/00_notation_and_data.ipynb"


def test_site_page_is_the_same_table():
    assert glossary.markdown_table() in glossary.markdown_page()
