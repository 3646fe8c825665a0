"""Build the HTML book from the stored notebooks: ``make site`` -> ``build/site/index.html``.

What this is: a small driver around Sphinx + myst-nb (configured in ``docs/conf.py``). It
copies the pages into a staging folder that mirrors the repository (``index.md``,
``notebooks/*.ipynb``, ``CONTRIBUTING.md``), so the notebooks' relative links
(``01_scalar_forward.ipynb#eq-1-3``, ``../CONTRIBUTING.md``) resolve in the book exactly as
in JupyterLab, then runs Sphinx with warnings as errors: a broken cross-link fails the build.
What this is not: an executor. The notebooks are rendered with the outputs ``make book``
stored; nothing is run.

Usage: ``python docs/build.py [--out build/site]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


# A folded worked solution (cell tag "solution") says what it holds, not "Show code cell content".
SOLUTION_PROMPTS = {"code_prompt_show": "Solution", "code_prompt_hide": "Hide the solution"}


def label_solutions(text: str) -> str:
    """The notebook JSON ``text`` with each solution cell's fold labelled "Solution" (myst-nb's
    cell-level ``mystnb`` metadata); the notebooks in the repository are not changed."""
    nb = json.loads(text)
    for cell in nb["cells"]:
        if "solution" in cell.get("metadata", {}).get("tags", []):
            cell["metadata"].setdefault("mystnb", {}).update(SOLUTION_PROMPTS)
    return json.dumps(nb, ensure_ascii=False, indent=1) + "\n"


def stage(staging: Path) -> list[Path]:
    """Copy the book's sources into ``staging`` (emptied first); return the notebooks."""
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "notebooks").mkdir(parents=True)
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in notebooks:
        (staging / "notebooks" / path.name).write_text(label_solutions(path.read_text()))
    shutil.copy2(DOCS / "index.md", staging / "index.md")
    shutil.copy2(ROOT / "CONTRIBUTING.md", staging / "CONTRIBUTING.md")
    # the glossary page and chapter 0's glossary section are one table (issue 27)
    from mnist_cnn.book.glossary import markdown_page
    (staging / "glossary.md").write_text(markdown_page(), encoding="utf-8")
    return notebooks


def main(argv: list[str] | None = None) -> int:
    """Stage, build, report. Returns Sphinx's exit status (0 = built with no warning)."""
    parser = argparse.ArgumentParser(prog="python docs/build.py",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--pdf", type=Path, default=ROOT / "build" / "pdf" / "mnist-cnn.pdf",
                        help="the book's PDF (`make pdf`), offered for download when it exists")
    args = parser.parse_args(argv)
    if sys.version_info < (3, 11):
        # Not an error: on 3.10 the rest of `make test` still runs; the site's tests skip.
        print("make site: skipped, the HTML book needs Python >= 3.11 (as the pinned Sphinx does)",
              file=sys.stderr)
        return 0
    from sphinx.cmd.build import build_main

    start = time.perf_counter()
    staging = args.out.parent / (args.out.name + "-src")
    notebooks = stage(staging)
    if args.out.exists():
        shutil.rmtree(args.out)  # a clean build: no page left over from a renamed chapter
    if args.pdf.is_file():  # before Sphinx runs: the pages offer it only if it is there
        args.out.mkdir(parents=True)
        shutil.copy2(args.pdf, args.out / "mnist-cnn.pdf")  # the name conf.py links to
    else:
        print(f"make site: no {args.pdf.name} yet, so the pages offer only the notebooks "
              "(run `make pdf` first for the PDF)", file=sys.stderr)
    status = build_main(["-b", "html", "-q", "-W", "--keep-going", "-c", str(DOCS),
                         str(staging), str(args.out)])
    if status == 0:
        for path in notebooks:  # the download button's .ipynb, beside its page
            shutil.copy2(path, args.out / "notebooks" / path.name)
        print(f"built {len(notebooks)} chapters in {time.perf_counter() - start:.1f} s: "
              f"open {args.out / 'index.html'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
