"""The symbols CONTRIBUTING.md reserves keep their one meaning in every equation of the book.

CONTRIBUTING's notation table reserves the sizes (``N``, ``K``, ``S``, ``P``, ``C_in``, ...,
``D_2``) and the index letters. A single-letter size such as ``S`` (the stride) must not be
the stem of another symbol: ``S_in`` beside ``S`` reads as "the stride of the input". The test
reads the table itself, so a symbol added there is protected at once, and parses every
equation the book checks (numbered or marked ``% check:``), so a quoted wrong form in chapter
6 is not held against the book. (The glossary's tests cover "no symbol has two meanings" and
"no use before definition" for the prose; this one is about the reserved table.)
"""

from __future__ import annotations

import re
from pathlib import Path

from mnist_cnn.book.equations import check
from mnist_cnn.book.equations.latex import Node, parse_display

ROOT = Path(__file__).resolve().parents[1]

#: Symbols built on a reserved stem that CONTRIBUTING itself defines, with where.
ALLOWED = {"D_in": "Eq. (0.2): the sizes of a generic fc layer",
           "D_out": "Eq. (0.2): the sizes of a generic fc layer"}
#: Known reuses outside this branch's area, each with the change that removes it.
#: (S_in, S_out of (0.1) were renamed H_in, H_out in the chapter 0 rewrite: none is left.)
KNOWN: dict[str, str] = {}
#: Index letters that are also an array, each with where and the change that removes it.
#: (v, the pixel column of (4.14), was also the velocity of (5.1) until the velocity was
#: renamed \nu: none is left.)
KNOWN_INDEX: dict[str, str] = {}


def reserved() -> tuple[set[str], set[str]]:
    """The sizes and the index letters of CONTRIBUTING's notation table."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    table = text[text.index("| symbol | meaning"):text.index("## Equation numbers")]
    names = set()
    for row in table.splitlines()[2:]:
        if row.startswith("|"):
            names |= set(re.findall(r"`([^`]+)`", row.split("|")[1]))
    return {n for n in names if n[0].isupper()}, {n for n in names if len(n) == 1
                                                   and n.islower()}


def _symbols(node, out: set[str]) -> set[str]:
    if isinstance(node, Node):
        if node.kind == "sym":
            out.add(node.name if node.extra is None or "_" in node.name
                    else f"{node.name}_{node.extra}")
        for part in node.args:
            _symbols(part, out)
        if node.kind == "cases":
            for value, cond in node.extra:
                _symbols(value, out)
                _symbols(cond, out)
        elif isinstance(node.extra, tuple):
            for part in node.extra:
                _symbols(part, out)
    return out


def book_symbols() -> dict[str, set[str]]:
    """Symbol -> the equations that use it, over every display the check reads."""
    out: dict[str, set[str]] = {}
    for nb in check.book_notebooks():
        displays = [(t, x) for t, xs in check.extract_displays(nb).items() for x in xs]
        displays += [(w, x) for w, x in check.untagged_displays(nb) if "% check:" in x]
        for where, text in displays:
            found: set[str] = set()
            for clause in parse_display(where, text).clauses:
                for term in clause.terms:
                    _symbols(term, found)
                for var, lo, hi in clause.ranges:
                    found.add(var)
                    _symbols(lo, found)
                    _symbols(hi, found)
            for name in found:
                out.setdefault(name, set()).add(where)
    return out


def test_the_table_is_read():
    sizes, indices = reserved()
    assert {"N", "K", "S", "P", "C_in", "K_p", "S_p", "D_0", "D_2"} <= sizes
    assert set("ncomlijpqrhk") <= indices


def reuses(symbols: dict[str, set[str]]) -> dict[str, list[str]]:
    """Symbols built on a reserved single-letter size (``S_in`` beside the stride ``S``)."""
    sizes, _ = reserved()
    stems = {s for s in sizes if len(s) == 1} | {"D"}
    out = {}
    for name, where in symbols.items():
        stem, _, sub = name.partition("_")
        if sub and stem in stems and name not in sizes and name not in ALLOWED | KNOWN.keys():
            out[name] = sorted(where)
    return out


def test_no_reserved_size_is_the_stem_of_another_symbol():
    assert not reuses(book_symbols()), "symbols built on a reserved size"


def test_the_detector_can_fail():
    found = reuses({"K_c": {"9.1"}, "P_x": {"9.2"}, "N_b": {"9.3"}, "K_p": {"1.5"},
                    "D_3": {"9.4"}, "W_mat": {"3.2"}})
    assert set(found) == {"K_c", "P_x", "N_b", "D_3"}


def test_no_index_letter_is_a_size_or_an_array():
    _, indices = reserved()
    sizes = set(check.seed_sizes())
    arrays = set()
    for tag, twin in {**check.TWINS, **check.UNTAGGED}.items():
        if tag != "1.7":  # (1.7) writes the indices o, p, q as functions of r: same meaning
            arrays |= set(twin.targets) | set(twin.inputs)
    clashes = indices & (sizes | arrays)
    assert not clashes - KNOWN_INDEX.keys(), clashes - KNOWN_INDEX.keys()
    # a known clash that has been renamed must leave the list (it cannot hide a new one)
    assert set(KNOWN_INDEX) <= clashes, set(KNOWN_INDEX) - clashes


def test_the_exceptions_are_still_needed_or_gone():
    used = book_symbols()
    assert all(name in used for name in ALLOWED)
    # a known reuse that has been renamed can be dropped from KNOWN (it is not required)
    assert set(KNOWN) <= {"S_in", "S_out"}
