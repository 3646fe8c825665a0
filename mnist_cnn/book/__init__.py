"""What the chapters use around the maths: checks and tables, figures, and the notebook runner.

* :mod:`.chapter` -- ``Verification`` (``check`` and the verification table) and ``show_code``;
* :mod:`.plots` -- the figures;
* :mod:`.run` -- ``python -m mnist_cnn.book NOTEBOOK...`` (what ``make book`` runs);
* :mod:`.slides` -- slide metadata (RISE) and the notebook walk-throughs (``make walkthrough``);
* :mod:`.lectures`, :mod:`.lecture_figures` -- the lecture decks (``make lectures``);
* :mod:`.student` -- the student edition (``make student``), :mod:`.exercises` its checks
  (no answer in them), :mod:`.answers` the key they are checked against (not handed out);
* :mod:`.handout` -- what students receive (``make handout``); :mod:`.grade` -- the grader,
  ``python -m mnist_cnn.book grade DIR --out grades.csv``;
* :mod:`.animations` -- the im2col, channel-stacking and max-pool routing animations.
"""
