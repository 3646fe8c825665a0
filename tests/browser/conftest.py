"""Browser-test harness: Debian's Chromium, driven by playwright, with the network blocked.

How to use it (site tests and slide tests alike)
-----------------------------------------------
Put a ``test_*.py`` beside this file (``tests/browser`` is a package: import the helpers
relatively) and ask for the fixtures below::

    from .pagechecks import unrendered_tex, images_without_alt, horizontal_overflow

    def test_my_page(open_page):
        page = open_page(Path("build/site/index.html"))   # file:// URL; waits for MathJax
        assert unrendered_tex(page) == []
        assert horizontal_overflow(page) == []

Fixtures
    ``browser``     one Chromium for the whole session (``/usr/bin/chromium``, or ``$CHROMIUM``).
    ``new_page``    a fresh page, 1280 x 800 viewport, every request that is not ``file:``,
                    ``data:``, ``blob:`` or to localhost aborted; call it to get a page.
                    (``blocked_page(browser)``, a plain function, does the same for
                    module-scoped fixtures; ``test_site.py`` surveys a whole site with it.)
    ``open_page``   ``open_page(path_or_url, wait_for_mathjax=True)``: a new page that has
                    loaded the document and, where the page uses MathJax, finished typesetting.
    Every page remembers the requests it blocked (``page.blocked_requests``); at the end of
    the test the fixture fails the test if any request tried to leave the machine.

Helpers (plain functions in ``pagechecks.py``; each returns a list of problems, empty = good)
    ``unrendered_tex``, ``mathjax_errors``, ``display_equations``, ``collect_links``,
    ``broken_links``, ``images_without_alt``, ``broken_images``, ``horizontal_overflow``,
    ``scrolled_boxes``.

When there is no browser
    Without Chromium (or without the ``playwright`` package) every test that uses these
    fixtures is skipped with a one-line reason, so a reader's ``make test`` still passes.
    With ``CI=true`` in the environment a missing browser is an error instead: CI must
    test the pages (``.ci/run`` installs Debian's ``chromium`` first).

Never run ``playwright install``: it downloads a browser build, which is not allowed here;
the harness only drives the system Chromium.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
LOCAL_SCHEMES = {"file", "data", "blob", "about"}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str):
    """Skip on a reader's machine; fail in CI, where the browser tests must run."""
    if _in_ci():
        pytest.fail(f"browser tests cannot run: {reason} (CI=true: they must)", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


def chromium_executable() -> str | None:
    """``$CHROMIUM`` if set, else Debian's ``/usr/bin/chromium``, else ``chromium`` on PATH."""
    candidate = os.environ.get("CHROMIUM")
    if candidate:  # an explicit choice is honoured, even when it is missing
        return candidate if Path(candidate).is_file() else None
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def is_local(url: str) -> bool:
    """True for URLs that never leave the machine (file:, data:, blob:, about:, localhost)."""
    parsed = urlparse(url)
    if parsed.scheme in LOCAL_SCHEMES:
        return True
    return parsed.scheme in {"http", "https", "ws", "wss"} and parsed.hostname in LOCAL_HOSTS


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (skipped, or failed in CI, when missing)."""
    executable = chromium_executable()
    if executable is None:
        _unavailable("no Chromium at /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def blocked_page(browser):
    """A new page (own context, 1280 x 800) whose non-local requests are aborted and logged.

    Use it where a function-scoped fixture does not fit (e.g. a module-scoped survey of a
    whole site); check ``page.blocked_requests`` yourself and close ``page.context``.
    """
    context = browser.new_context(viewport=VIEWPORT, service_workers="block")
    page = context.new_page()
    page.blocked_requests = []
    page.console_errors = []

    def route(request_route):
        url = request_route.request.url
        if is_local(url):
            request_route.continue_()
        else:
            page.blocked_requests.append(url)
            request_route.abort("blockedbyclient")

    context.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    return page


@pytest.fixture
def new_page(browser):
    """Factory of fresh pages with the network blocked; fails the test if one was attempted."""
    pages = []

    def make():
        pages.append(blocked_page(browser))
        return pages[-1]

    yield make
    blocked = sorted({url for page in pages for url in page.blocked_requests})
    for page in pages:
        page.context.close()
    if blocked:
        pytest.fail(f"pages tried to reach the network: {blocked[:10]}", pytrace=False)


@pytest.fixture
def open_page(new_page):
    """``open_page(path_or_url, wait_for_mathjax=True)`` -> a loaded page (see module doc)."""
    from .pagechecks import wait_for_mathjax

    def open_(target, wait_for_mathjax_=True):
        url = target if isinstance(target, str) and "://" in target else Path(
            target).resolve().as_uri()
        page = new_page()
        page.goto(url, wait_until="load")
        if wait_for_mathjax_:
            wait_for_mathjax(page)
        return page

    return open_
