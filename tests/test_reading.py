"""The reading-time measure of a chapter's main path (mnist_cnn.book.reading)."""

from mnist_cnn.book.reading import main_path_words


def _cell(kind, text, tags=()):
    return {"cell_type": kind, "source": [text], "metadata": {"tags": list(tags)}}


def test_marked_parts_solutions_and_the_glossary_are_off_the_main_path():
    nb = {"cells": [
        _cell("markdown", "## Teaching\none two three"),
        _cell("code", "x = 1"),                                     # 3 words
        _cell("markdown", "## How we know (1): loops\nfour five"),
        _cell("code", "skipped code here"),
        _cell("markdown", "## Back to teaching\nsix"),
        _cell("markdown", "<!-- glossary: x --> table words"),
        _cell("markdown", "## Pitfalls\nseven"),
        _cell("markdown", "## Summary\neight"),
        _cell("code", "solution words", tags=["solution"]),
        _cell("markdown", "## Exercises\nnine"),
    ]}
    main, total = main_path_words(nb)
    assert main == 5 + 3 + 5 + 3  # Teaching (5), code (3), Back to teaching (5), Summary (3)
    assert total == sum(len("".join(c["source"]).split()) for c in nb["cells"])
