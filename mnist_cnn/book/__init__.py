"""What the chapters use around the maths: checks and tables, figures, and the notebook runner.

* :mod:`.chapter` -- ``Verification`` (``check`` and the verification table) and ``show_code``;
* :mod:`.plots` -- the figures;
* :mod:`.run` -- ``python -m mnist_cnn.book NOTEBOOK...`` (what ``make book`` runs).
"""
