"""The typeset equations of the chapters, checked against the package (issue 16).

``latex`` reads the book's LaTeX (a small parser and a numpy evaluator); ``check`` holds the
twins (which package function computes each equation's left-hand side, on which tiny
instances) and the command ``python -m mnist_cnn.book.equations check NOTEBOOK...``.
"""

from mnist_cnn.book.equations.check import (
    EXEMPT,
    PACKAGE,
    TWINS,
    UNTAGGED,
    Result,
    Twin,
    book_notebooks,
    check_display,
    extract_displays,
    ledger_summary,
    main,
    seed_sizes,
    typeset_results,
    typeset_results_of,
    untagged_displays,
    untagged_results,
)

__all__ = ["PACKAGE", "TWINS", "UNTAGGED", "EXEMPT", "Twin", "untagged_results",
           "untagged_displays", "Result", "extract_displays", "book_notebooks",
           "check_display", "typeset_results", "typeset_results_of", "ledger_summary",
           "seed_sizes", "main"]
