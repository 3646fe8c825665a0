"""Browser tests of the HTML book; the harness is conftest.py + pagechecks.py (see conftest)."""
