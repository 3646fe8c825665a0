"""The equation ledger covers every numbered equation with an independent check, and no identity."""

import ast
import re
from pathlib import Path

import nbformat
import pytest
import scipy.signal

from mnist_cnn.book import ledger
from mnist_cnn.reference import im2col, layers, loops

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = {int(p.name[:2]): p for p in sorted((ROOT / "notebooks").glob("0[0-5]_*.ipynb"))}


def _cells(path, cell_type):
    return ["".join(c.source) for c in nbformat.read(path, as_version=4).cells
            if c.cell_type == cell_type]


def _tags(path):
    return [t for s in _cells(path, "markdown") for t in re.findall(r"\\tag\{([^}]*)\}", s)]


def test_the_ledger_lists_exactly_the_tagged_equations_of_chapters_0_to_5():
    tags = [t for path in CHAPTERS.values() for t in _tags(path)]
    assert len(tags) == len(set(tags)), "an equation number is used twice"
    assert set(tags) == set(ledger.EQUATIONS)


@pytest.mark.parametrize("tag", list(ledger.EQUATIONS))
def test_every_equation_has_an_independent_check_that_is_not_only_its_typeset_form(tag):
    independent = ledger.checks_for(tag, "independent")
    assert [c for c in independent if c.source != "typeset form"], f"({tag}) has none"


def test_no_independent_check_is_an_identity():
    for check in ledger.CHECKS:
        if check.kind == "independent":
            assert check.source in ledger.INDEPENDENT_SOURCES, check
            assert not ledger.shares_code(check), f"same code on both sides: {check}"
            assert set(check.tested).isdisjoint(check.referee), check


def test_the_identity_detector_can_fail():
    # batched W_c X from im2col_per_channel against the layer that calls im2col_per_channel
    same = ledger.find("(2.4)", "batched F_c X vs layers.conv_forward_per_channel")
    assert same.kind == "consistency" and ledger.shares_code(same)
    assert ledger.shares_code(ledger.Check("(3.3)", "x", "independent", "loops",
                                           (im2col.im2col,), (layers.conv_forward,)))


def test_an_undeclared_side_fails_the_independence_test():
    for tested, referee in (((layers.conv_forward,), ()), ((), (loops.conv_forward_loops,)),
                            ((), ())):
        check = ledger.Check("(1.3)", "x", "independent", "loops", tested, referee)
        assert ledger.shares_code(check)
    declared = ledger.Check("(1.3)", "x", "independent", "scipy", (loops.conv_forward_loops,),
                            (scipy.signal.correlate2d,))
    assert not ledger.shares_code(declared)


def test_kinds_sources_and_sides_are_known_and_labels_unique():
    seen = set()
    for check in ledger.CHECKS:
        assert check.kind in ledger.KINDS and check.source in ledger.SOURCES, check
        assert check.kind != "transcription", "typeset checks come from book.equations"
        assert all(ledger.equations_of(check.equation)), check
        assert set(ledger.equations_of(check.equation)) <= set(ledger.EQUATIONS), check
        assert set(check.not_for) <= set(ledger.equations_of(check.equation)), check
        for side in check.tested + check.referee:  # objects, not names
            assert isinstance(side, ledger.Written) or callable(side), check
            assert ledger.name_of(side)
        assert (check.equation, check.label) not in seen, check
        seen.add((check.equation, check.label))


def test_the_squared_error_delta_is_credited_only_to_checks_of_its_loss():
    credited = ledger.checks_for("4.4", "independent")
    assert credited and all("squared-error" in c.label for c in credited), credited
    assert all(ledger.equations_of(c.equation) == ["4.4"] for c in credited)


def test_the_first_argmax_of_4_11_is_found_independently():
    check = ledger.find("(4.11)", "delta_conv at the first argmax = delta_pool")
    assert check.kind == "independent" and not ledger.shares_code(check)
    source = "\n".join(_cells(CHAPTERS[4], "code"))
    cell = source[source.index("# the routed delta sits at the first maximum"):]
    cell = cell[: cell.index("delta_conv at the first argmax")]
    assert ".argmax(" not in cell and ".transpose(" not in cell


def test_every_check_runs_somewhere():
    """A book check is recorded in its chapter (through the ledger); a test check exists."""
    for check in ledger.CHECKS:
        if check.where == "book":
            source = "\n".join(_cells(CHAPTERS[check.notebook], "code"))
            assert f"chapter={check.notebook}" in source, CHAPTERS[check.notebook].name
            for part in check.label.split("{name}"):
                assert part.strip() in source, f"chapter {check.notebook} lacks {check.label!r}"
        else:
            file, _, name = check.where.partition("::")
            tree = ast.parse((ROOT / file).read_text())
            assert name in {f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}


def test_the_ledger_prints_every_equation():
    text = ledger.format_ledger()
    assert all(f"({tag})" in text for tag in ledger.EQUATIONS)
    counts = ledger.summary()
    assert counts["independent"] >= len(ledger.EQUATIONS) and counts["consistency"] > 0


def test_typeset_results_become_transcription_checks():
    results = {"1.3": {"status": "ok"}, "2.6": {"status": "exempt"}, "9.9": {"status": "ok"}}
    checks = ledger.typeset_checks(results)
    assert [(c.equation, c.kind, c.source) for c in checks] == [
        ("(1.3)", "transcription", "typeset form")]
    text = ledger.format_ledger(chapters=[1], typeset=results)
    assert "typeset LaTeX vs the package" in text and "1 transcription" in text
