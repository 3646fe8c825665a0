"""Lecture decks: one reveal.js deck per chapter, written for a 50-minute class.

What this is: the engine behind ``make lectures``. A lecture is a short source file,
``lectures/NN_name.md``, one block per slide, that says what the room sees and what the
lecturer says. It never holds an equation or a picture itself; it names them:

* ``{eq} 4.3`` -- the notebook's display with ``\\tag{4.3}``, copied from the chapter when the
  deck is built (the source may not contain ``$$``, so a slide cannot carry a drifting copy);
* ``{fig} name`` -- a figure drawn at slide size by a recipe of
  :mod:`mnist_cnn.book.lecture_figures`, each of which calls one plotting function of
  :mod:`mnist_cnn.plots` or :mod:`mnist_cnn.animations`;
* ``{frames} name 0,1,2`` -- frames of one of the package's animations, stacked and revealed
  one per key press (a reveal.js fragment each);
* ``{live} NN "text"`` -- "run this cell live": the chapter's code cell containing ``text``
  (the build fails if there is none), for RISE in JupyterLab;
* a trailing ``{+}`` on a paragraph, a bullet or a directive makes it a fragment, so a
  derivation is built up one step per key press.

A slide block starts with ``---`` and a ``## Title`` that states the slide's idea; the
``Note:`` line starts the speaker notes (reveal.js ``S`` opens the speaker view).

Output: ``build/lectures/NN_name.html``, one self-contained file per chapter (figures as data
URIs) beside ``_assets/`` (reveal.js and MathJax copied from the installed packages by
:func:`mnist_cnn.book.slides.copy_assets`): it opens from disk with no network.
What this is not: a notebook walk-through (that is ``make walkthrough``) nor a check of the
equations (``python -m mnist_cnn.book.equations`` checks the notebook displays this pulls).

Usage: ``python -m mnist_cnn.book.lectures lectures/*.md --out build/lectures``
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mnist_cnn.tools.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = ROOT / "lectures"
TEMPLATE_DIR = Path(__file__).resolve().parent / "deck_template"
WIDTH, HEIGHT = 1280, 720
FIGURE_DPI = 150  # figures are drawn at 150 dpi: a 12 pt label is 25 CSS px on the slide
PIXEL_RATIO = 1.5  # and rendered at 1.5x for a sharp projector image

_DIRECTIVE = re.compile(r"^\{(eq|fig|frames|live)\}\s*(.*?)\s*$")
_FRAGMENT = re.compile(r"\s*\{\+\}\s*$")


# --------------------------------------------------------------------------- equations


def notebook_for(prefix: str, notebooks: Path = NOTEBOOKS) -> Path:
    """The chapter notebook whose file name starts with ``prefix`` (e.g. ``"04"``)."""
    found = sorted(notebooks.glob(f"{prefix}_*.ipynb"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one notebook {prefix}_*.ipynb in {notebooks}; "
                                f"found {[p.name for p in found]}")
    return found[0]


def notebook_displays(path: Path) -> dict[str, str]:
    """Every tagged display of a notebook: ``{"4.3": "\\delta^{(fc2)}_{n,k} = ... \\tag{4.3}"}``.

    Parameters
    ----------
    path : pathlib.Path
        A chapter ``.ipynb``.

    Returns
    -------
    dict str -> str
        The TeX between the ``$$`` delimiters, exactly as the notebook has it.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    found = {}
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for match in re.finditer(r"\$\$(.*?)\$\$", cell.source, flags=re.S):
            tag = re.search(r"\\tag\{([^}]*)\}", match.group(1))
            if tag:
                found[tag.group(1)] = match.group(1)
    return found


class Equations:
    """The tagged displays of all chapters, read once per build."""

    def __init__(self, notebooks: Path = NOTEBOOKS):
        self.notebooks = notebooks
        self._by_chapter: dict[str, dict[str, str]] = {}

    def __call__(self, tag: str) -> str:
        chapter = f"{int(tag.split('.')[0]):02d}"
        if chapter not in self._by_chapter:
            self._by_chapter[chapter] = notebook_displays(notebook_for(chapter, self.notebooks))
        displays = self._by_chapter[chapter]
        if tag not in displays:
            raise KeyError(f"no display with \\tag{{{tag}}} in chapter {chapter}; it has "
                           f"{sorted(displays)}")
        return displays[tag]


# --------------------------------------------------------------------------- the source


@dataclass
class Slide:
    """One slide of a lecture source: its title, its blocks and its speaker notes."""

    title: str
    blocks: list[tuple[str, str, bool]] = field(default_factory=list)  # (kind, text, fragment)
    notes: str = ""
    line: int = 0


@dataclass
class Lecture:
    """A parsed lecture source: the deck's title, the chapter it teaches and its slides."""

    title: str
    chapter: str
    slides: list[Slide]
    path: Path


def parse(path: Path) -> Lecture:
    """Read a lecture source (format: the module docstring).

    Parameters
    ----------
    path : pathlib.Path
        ``lectures/NN_name.md``.

    Returns
    -------
    Lecture

    Raises
    ------
    ValueError
        A display ``$$`` in the source (equations come from the notebook by tag), a slide
        without a ``## title``, or an unknown directive; the message names the line.
    """
    text = path.read_text(encoding="utf-8")
    if "$$" in text:
        line = text[: text.index("$$")].count("\n") + 1
        raise ValueError(f"{path}:{line}: a display equation in a lecture source; "
                         "pull it from the notebook with {eq} TAG instead")
    head, *bodies = re.split(r"^---\s*$", text, flags=re.M)
    meta = dict(re.findall(r"^(\w+):\s*(.+?)\s*$", head, flags=re.M))
    if "title" not in meta or "chapter" not in meta:
        raise ValueError(f"{path}: the header needs 'title:' and 'chapter:' lines; got {meta}")
    slides, line = [], head.count("\n") + 1
    for body in bodies:
        slides.append(_parse_slide(body, path, line))
        line += body.count("\n")
    return Lecture(meta["title"], meta["chapter"], slides, path)


def _parse_slide(body: str, path: Path, line: int) -> Slide:
    lines = body.strip("\n").splitlines()
    if not lines or not lines[0].startswith("## "):
        raise ValueError(f"{path}:{line + 1}: a slide starts with '## Title'; got "
                         f"{lines[0] if lines else 'nothing'!r}")
    slide = Slide(lines[0][3:].strip(), line=line)
    rest = "\n".join(lines[1:])
    if "\nNote:" in "\n" + rest:
        rest, notes = re.split(r"^Note:", rest, maxsplit=1, flags=re.M)
        slide.notes = notes.strip()
    fence = False
    chunk: list[str] = []

    def flush():
        if chunk:
            block = "\n".join(chunk)
            fragment = bool(_FRAGMENT.search(block))
            kind = "code" if block.startswith("```") else "text"
            slide.blocks.append((kind, _FRAGMENT.sub("", block), fragment))
            chunk.clear()

    for raw in rest.splitlines():
        if raw.startswith("```"):
            fence = not fence
            chunk.append(raw)
            if not fence:
                flush()
            continue
        if fence:
            chunk.append(raw)
            continue
        directive = _DIRECTIVE.match(_FRAGMENT.sub("", raw))
        if directive:
            flush()
            slide.blocks.append((directive.group(1), directive.group(2),
                                 bool(_FRAGMENT.search(raw))))
        elif raw.startswith("{"):
            raise ValueError(f"{path}: unknown directive {raw!r} on slide {slide.title!r}")
        elif not raw.strip() or raw.startswith("- "):
            flush()
            if raw.strip():
                chunk.append(raw)
        else:
            chunk.append(raw)
    flush()
    return slide


# --------------------------------------------------------------------------- rendering


def _inline(text: str) -> str:
    """Markdown to HTML with ``$...$`` left for MathJax, untouched by the markdown parser."""
    import mistune

    maths: list[str] = []

    def keep(match: re.Match) -> str:
        maths.append(html.escape(match.group(0), quote=False))
        return f"\x00{len(maths) - 1}\x00"

    protected = re.sub(r"\$[^$\n]+\$", keep, text)
    rendered = mistune.html(protected).strip()
    return re.sub(r"\x00(\d+)\x00", lambda m: maths[int(m.group(1))], rendered)


def _png(fig, width: int, height: int) -> str:
    import matplotlib.pyplot as plt

    fig.set_size_inches(width / FIGURE_DPI, height / FIGURE_DPI)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI * PIXEL_RATIO, facecolor="white")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _img(data: str, width: int, height: int, alt: str, css: str = "") -> str:
    return (f'<img class="figure{css}" src="data:image/png;base64,{data}" width="{width}" '
            f'height="{height}" alt="{html.escape(alt)}">')


def _size(spec: str) -> tuple[int, int]:
    """A figure's box in CSS px: the recipe's, or ``WxH`` given after its name in the source."""
    from mnist_cnn.book import lecture_figures

    name, *args = spec.split()
    given = [a for a in args if re.fullmatch(r"\d+x\d+", a)]
    if given:
        width, height = map(int, given[0].split("x"))
        return width, height
    return lecture_figures.RECIPES[name].size


def _figure(spec: str, frames: bool) -> str:
    from mnist_cnn.book import lecture_figures

    name, *args = spec.split()
    args = [a for a in args if not re.fullmatch(r"\d+x\d+", a)]
    recipe = lecture_figures.RECIPES.get(name)
    if recipe is None:
        raise KeyError(f"no figure recipe {name!r}; known: {sorted(lecture_figures.RECIPES)}")
    width, height = _size(spec)
    if not frames:
        return (f'<figure class="pic" data-figure="{name}">'
                f'{_img(_png(recipe.draw(), width, height), width, height, recipe.alt)}</figure>')
    made = recipe.draw()
    fig, draw, count = made.fig, made.draw, made.count
    chosen = [int(a) for a in args[0].split(",")] if args else list(range(count))
    fig.set_size_inches(width / FIGURE_DPI, height / FIGURE_DPI)
    images = []
    for k, frame in enumerate(chosen):
        draw(frame)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=FIGURE_DPI * PIXEL_RATIO, facecolor="white")
        data = base64.b64encode(buffer.getvalue()).decode()
        images.append(_img(data, width, height, f"{recipe.alt} (step {k + 1} of {len(chosen)})",
                           " fragment" if k else ""))
    import matplotlib.pyplot as plt

    plt.close(fig)
    return (f'<figure class="pic r-stack" data-figure="{name}" data-frames="{len(chosen)}">'
            + "".join(images) + "</figure>")


def _live(spec: str) -> str:
    import nbformat

    match = re.match(r'(\d\d)\s+"(.+)"$', spec)
    if not match:
        raise ValueError(f'{{live}} wants: NN "text of the cell"; got {spec!r}')
    path = notebook_for(match.group(1))
    nb = nbformat.read(path, as_version=4)
    codes = [c for c in nb.cells if c.cell_type == "code"]
    hits = [k for k, c in enumerate(codes) if match.group(2) in c.source]
    if not hits:
        raise KeyError(f"{path.name} has no code cell containing {match.group(2)!r}")
    return (f'<p class="live">Live in JupyterLab: {html.escape(path.name)}, code cell '
            f'{hits[0] + 1}: <code>{html.escape(match.group(2))}</code></p>')


def render_block(kind: str, text: str, fragment: bool, equations: Equations) -> str:
    """One block of a slide as HTML (an equation, a figure, a list item, a paragraph...)."""
    css = " fragment" if fragment else ""
    if kind == "eq":
        tag = text.strip()
        return (f'<div class="eq{css}" data-tag="{html.escape(tag)}">'
                f"$${html.escape(equations(tag), quote=False)}$$</div>")
    if kind in ("fig", "frames"):
        figure = _figure(text, frames=kind == "frames")
        return figure.replace('<figure class="pic', f'<figure class="pic{css}', 1)
    if kind == "live":
        return _live(text).replace('class="live"', f'class="live{css}"')
    if kind == "code":
        body = "\n".join(text.splitlines()[1:-1])
        return f'<pre class="code{css}"><code>{html.escape(body)}</code></pre>'
    if text.startswith("- "):
        item = _inline(text[2:]).removeprefix("<p>").removesuffix("</p>")
        return f'<ul><li class="{css.strip()}">{item}</li></ul>'
    return _inline(text).replace("<p>", f'<p class="{css.strip()}">', 1)


def render_slide(slide: Slide, equations: Equations) -> str:
    """A ``<section>`` of the deck: title, body (figure beside the text where there is one)."""
    parts = [render_block(kind, text, frag, equations) for kind, text, frag in slide.blocks]
    body = "\n".join(parts)
    body = re.sub(r"</ul>\s*<ul>", "", body)  # consecutive bullets make one list
    layout = ""
    pictures = [t for k, t, _ in slide.blocks if k in ("fig", "frames")]
    if pictures and _size(pictures[0])[0] <= 760:
        # a narrow figure on the left, the words on the right, the equations below both
        pic = next(p for p in parts if p.startswith("<figure"))
        words = [p for (k, _, _), p in zip(slide.blocks, parts, strict=True)
                 if p is not pic and k != "eq"]
        eqs = [p for (k, _, _), p in zip(slide.blocks, parts, strict=True) if k == "eq"]
        text = re.sub(r"</ul>\s*<ul>", "", "\n".join(words))
        body = (f'<div class="row"><div class="left">{pic}</div><div class="right">{text}'
                f'</div></div>\n' + "\n".join(eqs))
        layout = " side"
    title = _inline(slide.title).removeprefix("<p>").removesuffix("</p>")
    notes = _inline(slide.notes) if slide.notes else ""
    aside = f'\n<aside class="notes">{notes}</aside>' if notes else ""
    return f'<section class="lecture{layout}">\n<h2>{title}</h2>\n{body}{aside}\n</section>'


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="_assets/reveal/dist/reveal.css">
<link rel="stylesheet" href="_assets/reveal/dist/theme/white.css" id="theme">
<link rel="stylesheet" href="_assets/lecture.css">
<script>
window.MathJax = {{
  tex: {{ inlineMath: [['$', '$']], displayMath: [['$$', '$$']], processEscapes: true }},
  options: {{ enableMenu: false }},
  chtml: {{ matchFontHeight: false }},
  startup: {{
    pageReady: function () {{
      return MathJax.startup.defaultPageReady().then(function () {{
        document.body.setAttribute('data-math', 'typeset');
        if (window.Reveal && Reveal.isReady()) {{ fitEquations(Reveal.getCurrentSlide()); }}
      }});
    }}
  }}
}};
</script>
<script defer src="_assets/mathjax/tex-chtml-full.js"></script>
</head>
<body>
<div class="reveal"><div class="slides">
{slides}
</div></div>
<script src="_assets/reveal/dist/reveal.js"></script>
<script src="_assets/reveal/plugin/notes/notes.js"></script>
<script>
// A display wider than the slide is set smaller, 1 px at a time, never below 24 px (MathJax
// does not break lines). The test fails a slide whose maths ends smaller than its prose.
function fitEquations(slide) {{
  if (!slide || !document.body.hasAttribute('data-math')) return;
  slide.querySelectorAll('.eq').forEach(function (eq) {{
    var box = eq.querySelector('mjx-container');
    if (!box) return;
    eq.style.fontSize = '';
    var size = parseFloat(getComputedStyle(eq).fontSize);
    var room = slide.clientWidth - 48;
    var wide = function () {{
      return box.firstElementChild.getBoundingClientRect().width / Reveal.getScale() > room;
    }};
    while (size > 24 && wide()) {{
      size -= 1;
      eq.style.fontSize = size + 'px';
    }}
  }});
}}
Reveal.on('ready', function (event) {{ fitEquations(event.currentSlide); }});
Reveal.on('slidechanged', function (event) {{ fitEquations(event.currentSlide); }});
Reveal.initialize({{
  width: {width}, height: {height}, margin: 0, center: false, hash: true,
  controls: true, progress: true, slideNumber: 'c/t', transition: 'none',
  plugins: [RevealNotes]
}});
</script>
</body>
</html>
"""


def build_deck(source: Path, out_dir: Path, equations: Equations | None = None) -> Path:
    """Write the deck of one lecture source.

    Parameters
    ----------
    source : pathlib.Path
        ``lectures/NN_name.md``.
    out_dir : pathlib.Path
        Where the deck goes; :func:`copy_assets` supplies its scripts.
    equations : Equations, optional
        Shared between decks of one build (each notebook is read once).

    Returns
    -------
    pathlib.Path
        ``out_dir/NN_name.html``.
    """
    equations = equations or Equations()
    lecture = parse(source)
    sections = [render_slide(slide, equations) for slide in lecture.slides]
    page = PAGE.format(title=html.escape(lecture.title), slides="\n".join(sections),
                       width=WIDTH, height=HEIGHT)
    target = out_dir / f"{source.stem}.html"
    atomic_write_text(target, page)
    return target


def copy_assets(out_dir: Path) -> None:
    """reveal.js and MathJax (from the installed packages) and the style sheet, offline."""
    from mnist_cnn.book import slides

    slides.copy_assets(out_dir)
    shutil.copy2(TEMPLATE_DIR / "lecture.css", out_dir / "_assets" / "lecture.css")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``python -m mnist_cnn.book.lectures``.

    Parameters
    ----------
    argv : list of str, optional
        ``SOURCES... --out DIR``; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success.
    """
    import matplotlib

    matplotlib.use("Agg")
    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.lectures",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="*", type=Path,
                        help="lecture sources (default: lectures/*.md)")
    parser.add_argument("--out", type=Path, default=Path("build/lectures"))
    args = parser.parse_args(argv)
    sources = args.sources or sorted(SOURCES.glob("*.md"))
    missing = [p for p in sources if not p.is_file()]
    if missing:
        parser.error(f"no such lecture source: {', '.join(map(str, missing))}")
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    copy_assets(args.out)
    equations = Equations()
    for source in sources:
        began = time.perf_counter()
        target = build_deck(source, args.out, equations)
        print(f"wrote {target} in {time.perf_counter() - began:.1f} s")
    print(f"{len(sources)} decks in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
