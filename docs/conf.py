"""Sphinx configuration of the HTML book (`make site`); see docs/build.py for the build.

The stored notebooks are rendered as they are (no execution). MathJax 3.2.2 comes from the
PyPI package django-static-mathjax and is copied into the site, so the book needs no network.
"""

import re
from pathlib import Path

import mathjax  # django-static-mathjax: vendors MathJax 3.2.2

project = "MNIST-CNN: an executable textbook"
author = "The mnist-cnn maintainers"
copyright = "the mnist-cnn maintainers; code MIT, MNIST CC BY-SA 3.0"

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# The notebooks are executed by `make book` and stored with their outputs: never run here.
nb_execution_mode = "off"
nb_merge_streams = True
# Markdown outputs (chapter 6 renders its error table from data) are read as MyST, with maths.
nb_render_markdown_format = "myst"
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

# Offline maths: the es5 bundle and its fonts are copied to _static/mathjax (html_static_path),
# and `mathjax_path` is relative to _static. \tag{1.3} prints "(1.3)" as in the notebooks.
MATHJAX_ES5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
mathjax_path = "mathjax/tex-svg.js"
mathjax3_config = {
    "tex": {"tags": "ams", "inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]]},
    "svg": {"fontCache": "global"},
    "options": {"enableMenu": False},
}

html_theme = "sphinx_book_theme"
html_title = "MNIST-CNN"
html_static_path = [str(Path(__file__).parent / "_static")]
html_css_files = ["book.css"]
html_js_files = ["book.js"]  # the scroll cue on boxes wider than the column
# At 1280 px the text needs the width (equations, tables, 90-character outputs): the chapter's
# own table of contents goes under the chapter list on the left, not in a third column.
html_sidebars = {
    "**": ["navbar-logo.html", "search-button-field.html", "sbt-sidebar-nav.html",
           "page-toc.html"],
}
html_theme_options = {
    "secondary_sidebar_items": [],
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "show_navbar_depth": 1,
}
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False

# The parts of MathJax the book uses: the combined TeX-to-SVG component (fonts included, so
# nothing is fetched, which also makes file:// work) and the TeX extensions it may autoload.
MATHJAX_FILES = ["tex-svg.js", "input/tex/extensions"]


def copy_mathjax(app, exception):
    """Copy MathJax from the installed package into the built site's _static/mathjax."""
    if exception is not None or app.builder.format != "html":
        return
    import shutil

    target = Path(app.outdir) / "_static" / "mathjax"
    for name in MATHJAX_FILES:
        source = MATHJAX_ES5 / name
        if source.is_dir():
            shutil.copytree(source, target / name, dirs_exist_ok=True)
        else:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def display_math_as_written(app, doctree):
    """Give MathJax each display formula exactly as the notebook has it, in ``\\[...\\]``.

    Sphinx otherwise wraps a formula that contains ``\\\\`` in ``split``, where ``\\tag`` is
    not allowed, so (1.2) would lose its number.
    """
    from docutils import nodes

    for block in doctree.findall(nodes.math_block):
        if block.get("nowrap") or block.get("no-wrap"):
            continue
        block.children = [nodes.Text("\\[" + block.astext().strip() + "\\]")]
        block["nowrap"] = True


ANCHOR = re.compile(r'<a id="([A-Za-z][\w-]*)">(?:</a>)?')


def html_anchors_as_targets(app, doctree):
    """Make the notebooks' ``<a id="eq-1-3"></a>`` anchors known to Sphinx and MyST.

    The anchors are plain HTML so that they work in JupyterLab too; here each one becomes a
    docutils target with that id, so ``[...](01_scalar_forward.ipynb#eq-1-3)`` and
    ``[...](#error-12)`` resolve (and a link to a missing anchor fails the build).
    """
    from docutils import nodes

    slugs = app.env.metadata[app.env.docname].setdefault("myst_slugs", {})
    labels = app.env.get_domain("std").anonlabels
    for raw in list(doctree.findall(nodes.raw)):
        ids = ANCHOR.findall(raw.astext())
        if not ids or ANCHOR.sub("", raw.astext()).strip():
            continue
        closing = raw.next_node(nodes.raw, descend=False, siblings=True)
        if closing is not None and closing.astext().strip() == "</a>":
            closing.parent.remove(closing)  # inline HTML comes as two nodes: <a id=..> and </a>
        target = nodes.target("", "", ids=ids)
        raw.replace_self(target)
        for anchor in ids:
            doctree.ids[anchor] = target
            slugs[anchor] = (raw.line, anchor, "")
            labels[anchor] = (app.env.docname, anchor)


# The download menu: the page's notebook (copied beside the page by docs/build.py) and the book's
# PDF (`make pdf`, copied to the site's root by docs/build.py when it exists). The theme's own
# download button is off: its ".pdf" is the browser's print dialog, not a book.
PDF_NAME = "mnist-cnn.pdf"


def download_menu(app, pagename, templatename, context, doctree):
    """Add a "Download" group to the page's header: the chapter's .ipynb and the book's PDF."""
    buttons = []
    if pagename.startswith("notebooks/"):
        buttons.append({"type": "link", "url": context["pathto"](pagename + ".ipynb", 1),
                        "text": ".ipynb", "icon": "fas fa-code",
                        "tooltip": "Download this chapter as a notebook",
                        "label": "download-notebook-button"})
    if (Path(app.outdir) / PDF_NAME).is_file():
        buttons.append({"type": "link", "url": context["pathto"](PDF_NAME, 1),
                        "text": ".pdf (whole book)", "icon": "fas fa-file-pdf",
                        "tooltip": "Download the whole book as a PDF",
                        "label": "download-pdf-button"})
    if buttons and "header_buttons" in context:
        context["header_buttons"].insert(0, {
            "type": "group", "tooltip": "Download", "icon": "fas fa-download",
            "buttons": buttons, "label": "download-buttons"})


def setup(app):
    app.connect("html-page-context", download_menu, priority=502)
    app.connect("doctree-read", html_anchors_as_targets)
    app.connect("doctree-read", display_math_as_written)
    app.connect("build-finished", copy_mathjax)
