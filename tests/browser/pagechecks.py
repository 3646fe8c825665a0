"""Checks on a loaded page, as a reader would see it; used by the browser tests.

What this is: plain functions that take a playwright ``Page`` (see ``conftest.py`` for the
fixtures that open one) and return what is wrong, as a list (empty when all is well), so a
test reads ``assert check(page) == []`` and a failure prints the offending items.
What this is not: a crawler or a test by itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

# Text a TeX renderer leaves behind when it did not run: delimiters and control words.
TEX_PATTERN = re.compile(
    r"\$\$|\\\(|\\\)|\\\[|\\\]|\\(?:begin|end|frac|tfrac|sum|tag|mathbb|mathrm|text|left|right|"
    r"partial|delta|alpha|sigma|cdot|times|le|ge|ne|big|xrightarrow|xleftarrow|tilde|hat|"
    r"lfloor|rfloor|in|qquad|quad)\b|\$[^$\s][^$]*\\[a-zA-Z]+[^$]*\$|\^\{|_\{"
)

# Visible text nodes outside code, scripts and MathJax output.
_TEXT_NODES_JS = """
() => {
  const skip = new Set(['SCRIPT', 'STYLE', 'PRE', 'CODE', 'TEXTAREA', 'NOSCRIPT',
                        'MJX-CONTAINER', 'MJX-ASSISTIVE-MML', 'SVG', 'TITLE']);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const out = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let el = node.parentElement, hidden = false;
    for (let a = el; a; a = a.parentElement) {
      if (skip.has(a.tagName.toUpperCase()) || a.classList.contains('highlight')) {
        hidden = true; break;
      }
    }
    if (!hidden && node.textContent.trim()) out.push(node.textContent);
  }
  return out;
}
"""


def site_pages(site: Path) -> list[Path]:
    """The built site's pages, sorted; Sphinx's own folders (``_static``, ``_sources``) left out.

    Returns an empty list when the site has not been built (no ``index.html``).
    """
    if not (site / "index.html").is_file():
        return []
    return [html for html in sorted(site.rglob("*.html")) if not html.parent.name.startswith("_")]


def wait_for_mathjax(page, timeout_ms: int = 60_000) -> None:
    """Wait until MathJax (if the page loads it) has typeset everything."""
    has_mathjax = page.evaluate(
        "() => !!document.querySelector('script[src*=\"mathjax\" i], script[id*=\"mathjax\" i]')"
    )
    if not has_mathjax:
        return
    page.wait_for_function(
        "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=timeout_ms
    )
    page.evaluate("() => MathJax.startup.promise")


def unrendered_tex(page) -> list[str]:
    """Snippets of visible text (outside code) that still look like TeX source."""
    found = []
    for text in page.evaluate(_TEXT_NODES_JS):
        match = TEX_PATTERN.search(text)
        if match:
            start = max(0, match.start() - 30)
            found.append(text[start:match.end() + 30].strip())
    return found


def mathjax_errors(page) -> list[str]:
    """Formulas MathJax could not typeset (``mjx-merror``), by their message."""
    return page.evaluate(
        "() => [...document.querySelectorAll('mjx-merror')]"
        ".map(e => e.getAttribute('data-mjx-error') || e.textContent)"
    )


def display_equations(page) -> dict:
    """Rendered display equations: ``{"total": n, "numbered": n, "tags": ["(1.1)", ...]}``.

    A numbered one carries an equation label (from ``\\tag``). The labels are read from
    MathJax's assistive MathML (``mlabeledtr``), which is there for CHTML and SVG output alike.
    """
    return page.evaluate(
        """() => {
          const shown = [...document.querySelectorAll('mjx-container[display="true"]')];
          const tags = [];
          let numbered = 0;
          for (const c of shown) {
            const rows = c.querySelectorAll('mlabeledtr');
            if (rows.length) numbered += 1;
            rows.forEach(r => tags.push(r.firstElementChild.textContent.trim()));
          }
          return {total: shown.length, numbered, tags};
        }"""
    )


def collect_links(page) -> list[str]:
    """Absolute URLs of every ``<a href>`` on the page, in document order."""
    return page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.href)")


def element_ids(page) -> set[str]:
    """Every ``id`` and ``<a name>`` on the page (the targets a ``#fragment`` can reach)."""
    return set(
        page.evaluate(
            "() => [...document.querySelectorAll('[id]')].map(e => e.id).concat("
            "[...document.querySelectorAll('a[name]')].map(e => e.name))"
        )
    )


def broken_links(pages_ids: dict[str, set[str]], links: list[str], root: Path) -> list[str]:
    """Internal links whose file is missing or whose ``#fragment`` names no element.

    Parameters
    ----------
    pages_ids : dict
        ``file path (str) -> element_ids(page)``; pages not in it are checked for existence
        only, unless the link has a fragment, which is then reported as unchecked.
    links : list of str
        Absolute ``file://`` URLs (others are ignored: the network is blocked anyway).
    root : pathlib.Path
        The site's folder; a link out of it is reported, since the site must stand alone.
    """
    problems = []
    root = root.resolve()
    for link in links:
        if not link.startswith("file://"):
            continue
        url, fragment = urldefrag(link)
        path = Path(unquote(urlparse(url).path))
        if path.is_dir():
            path = path / "index.html"
        if root not in path.parents and path != root:
            problems.append(f"{link}: outside the site")
        elif not path.is_file():
            problems.append(f"{link}: no such file")
        elif fragment:
            ids = pages_ids.get(str(path))
            if ids is None:
                problems.append(f"{link}: target page not opened, anchor unchecked")
            elif unquote(fragment) not in ids:
                problems.append(f"{link}: no element with id {fragment!r}")
    return problems


def images_without_alt(page) -> list[str]:
    """``src`` of every image whose ``alt`` is missing or blank."""
    return page.evaluate(
        "() => [...document.querySelectorAll('img')]"
        ".filter(i => !(i.getAttribute('alt') || '').trim()).map(i => i.src.slice(0, 80))"
    )


def broken_images(page) -> list[str]:
    """``src`` of every image that did not load (no pixels)."""
    return page.evaluate(
        "() => [...document.querySelectorAll('img')]"
        ".filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80))"
    )


_OVERFLOW_JS = """
(width) => {
  // Clipped (or scrolled) by an ancestor box that itself lies within the viewport.
  const clips = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') {
        const r = a.getBoundingClientRect();
        if (r.right <= width + 1 && r.left >= -1) return true;
      }
    }
    return false;
  };
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (typeof el.className === 'string' && el.className
      ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || s.position === 'fixed') continue;
    if ((r.right > width + 1 || r.left < -1) && !clips(el)) {
      out.push(`${name(el)} spans ${Math.round(r.left)}..${Math.round(r.right)} px`);
    }
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > width + 1) out.unshift(`document is ${doc.scrollWidth} px wide`);
  return out;
}
"""


def horizontal_overflow(page, width: int | None = None) -> list[str]:
    """Elements that stick out of the viewport sideways (not counting clipped scroll boxes).

    Parameters
    ----------
    width : int, optional
        The viewport width in px; default: the page's own (1280 from the fixtures).
    """
    width = width or page.viewport_size["width"]
    return page.evaluate(_OVERFLOW_JS, width)


def scrolled_boxes(page, selector: str = "*") -> list[str]:
    """Elements matching ``selector`` whose content is wider than the box (a sideways scroll).

    ``horizontal_overflow`` accepts a scroll box that fits the viewport; use this to insist
    that, e.g., equations and tables are readable without scrolling.
    """
    return page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)]
             .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 2 &&
                          ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
             .map(e => `${e.tagName.toLowerCase()}.${e.className} ` +
                       `${e.scrollWidth} > ${e.clientWidth} px`)""",
        selector,
    )


def downscaled_images(page, tolerance: float = 0.95) -> list[str]:
    """Images shown smaller than their natural size (their text shrinks with them).

    The book's figures are drawn at 150 dpi with 12 pt text and at most 930 px wide, so
    shown at natural size their text is 12 pt; one squeezed into a narrower box is not.
    """
    return page.evaluate(
        """(tolerance) => [...document.querySelectorAll('img')]
             .filter(i => i.naturalWidth > 0 && i.clientWidth < tolerance * i.naturalWidth)
             .map(i => `${i.src.split('/').pop().slice(0, 16)}: ${i.clientWidth} of ` +
                       `${i.naturalWidth} px`)""",
        tolerance,
    )
