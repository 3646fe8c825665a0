"""The harness itself: each check must catch what it is for, on a page made to fail it."""

from .pagechecks import (
    broken_images,
    broken_links,
    collect_links,
    element_ids,
    horizontal_overflow,
    images_without_alt,
    unrendered_tex,
)

PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

BAD_PAGE = f"""<!doctype html><html><body>
<p id="top">Raw maths: $$x \\xrightarrow{{\\text{{pad}}}} \\tilde x$$ and $N = 64$.</p>
<pre>$$ in code is fine $$</pre>
<img src="{PIXEL}" alt="one pixel"><img src="{PIXEL}"><img src="missing.png" alt="gone">
<div style="width: 1500px">too wide</div>
<div style="overflow-x: auto; width: 600px"><div style="width: 2000px">scrolls, fits</div></div>
<a href="#top">ok</a> <a href="#nowhere">bad anchor</a> <a href="other.html">missing page</a>
<script src="https://cdn.example.org/mathjax.js"></script>
</body></html>"""


def test_checks_catch_a_bad_page(tmp_path, new_page):
    html = tmp_path / "bad.html"
    html.write_text(BAD_PAGE)
    page = new_page()
    page.goto(html.as_uri(), wait_until="load")

    assert any("xrightarrow" in s for s in unrendered_tex(page))
    assert not any("in code is fine" in s for s in unrendered_tex(page))
    assert len(images_without_alt(page)) == 1
    assert len(broken_images(page)) == 1
    overflow = horizontal_overflow(page)
    assert overflow[0].startswith("document is")
    assert not any("2000" in s for s in overflow[1:])  # clipped by its scroll box
    problems = broken_links({str(html): element_ids(page)}, collect_links(page), tmp_path)
    assert sorted(p.split(": ", 1)[1] for p in problems) == [
        "no element with id 'nowhere'",
        "no such file",
    ]
    # The CDN script was stopped, and the fixture would fail this test for it: clear it.
    assert page.blocked_requests == ["https://cdn.example.org/mathjax.js"]
    page.blocked_requests.clear()
