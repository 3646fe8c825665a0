"""What the chapters use around the maths: checks and tables, figures, and the notebook runner.

* :mod:`.chapter` -- ``Verification`` (``check`` and the verification table) and ``show_code``;
* :mod:`.plots` -- the figures;
* :mod:`.run` -- ``python -m mnist_cnn.book NOTEBOOK...`` (what ``make book`` runs);
* :mod:`.slides` -- slide metadata (RISE) and the notebook walk-throughs (``make walkthrough``);
* :mod:`.lectures`, :mod:`.lecture_figures` -- the lecture decks (``make lectures``);
* :mod:`.student` -- the student edition (``make student``), :mod:`.exercises` its checks;
* :mod:`.animations` -- the im2col, channel-stacking and max-pool routing animations.
"""
