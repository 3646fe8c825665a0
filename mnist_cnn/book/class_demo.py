"""A class to try the grader on: copies of the student edition, answered and perturbed.

What this is: the maintainers' way to measure the grader (issue 22: "the time to grade a class
of 30 students x 6 chapters"): every student gets the hand-out's notebooks with each answer cell
filled, seeded: 10% left as ``...``, 20% a classic wrong answer (a wrong value, or the right
function scaled by 2), the rest right. It holds right answers in readable form, so it is left
out of the hand-out like :mod:`mnist_cnn.book.answers`.

Usage: ``python -m mnist_cnn.book.class_demo build/handout/notebooks OUT --students 30
--chapters 0,1,2,3,4,5``, then ``python -m mnist_cnn.book grade OUT --chapters 0,1,2,3,4,5``.
"""

from __future__ import annotations

import argparse
import random
import sys
import textwrap
from pathlib import Path

# Right answers as a student would type them, and one classic wrong value per value exercise.
NP = "__import__('numpy')"
RIGHT = {
    "0.1": "((64, 20, 28, 28), (64, 20, 14, 14), 1960500)",
    "0.2": "(12, True)",
    "0.3": "(1520, 3920)",
    "1.1": "(28, 14, 3920, (500, 3920), ['fc1'])",
    "1.2": "(12, [28])",
    "1.3": "((64, 3, 32, 32), (20, 3, 5, 5), (64, 20, 28, 28), (64, 20, 14, 14), (64, 3920), "
           "1520, 'c')",
    "1.4": "(18432000, 92160000, 'fc1', 'fc1')",
    "2.1": "((25, 196), (20, 25), (20, 196))",
    "2.2": f"{NP}.outer(*[{NP}.minimum.reduce([{NP}.arange(1, 29), {NP}.full(28, 5), "
           f"{NP}.arange(28, 0, -1)])] * 2)",
    "2.3": "(12, 1, False)",
    "2.4": "lambda z, w, b, n, h: b[h] + sum(z[n, r] * w[h, r] for r in range(z.shape[1]))",
    "3.1": "((75, 784), (6, 75), (6, 784))",
    "3.2": "lambda X, C, K: X.reshape(C, K, K, -1).transpose(1, 2, 0, 3).reshape(C * K * K, -1)",
    "3.3": "((500, 4096), (50, 4096))",
    "3.4": f"lambda x, w: {NP}.einsum('oc,nchw->nohw', w, x)",
    "4.1": textwrap.dedent("""\
        def answer(x, delta, K):
            import numpy as np
            from scipy.signal import correlate
            N, C_out, H_c, W_c = delta.shape
            d = np.zeros((N, C_out, 2 * H_c - 1, 2 * W_c - 1))
            d[:, :, ::2, ::2] = delta
            return np.array([[sum(correlate(x[n, c], d[n, o], mode="valid")[:K, :K]
                                  for n in range(N)) for c in range(x.shape[1])]
                             for o in range(C_out)])"""),
    "4.2": textwrap.dedent("""\
        def answer(delta, w):
            import numpy as np
            from scipy.signal import correlate
            full = np.array([[sum(correlate(delta[n, o], w[o, c, ::-1, ::-1], mode="full")
                                  for o in range(w.shape[0])) for c in range(w.shape[1])]
                             for n in range(delta.shape[0])])
            return full[:, :, 1:-1, 1:-1]"""),
    "4.3": "((1, 2), (0, 1), ['dx'])",
    "4.4": f"lambda y, labels: -{NP}.sum({NP}.log(y[{NP}.arange(len(labels)), labels]))",
    "5.1": "lambda eta, mu: eta / (1 - mu)",
    "5.2": "lambda g, w, lam: g + lam * w",
    "5.3": "(11.3, 0.23)",
    "5.4": "lambda T, eta0: eta0 / 2 * (1 + 1 / T)",
}
WRONG_VALUE = {
    "0.1": "((64, 20, 24, 24), (64, 20, 12, 12), 1440500)",
    "0.2": "(12, False)",
    "0.3": "(1500, 3920)",
    "1.1": "(28, 14, 3920, (3920, 500), ['fc1'])",
    "1.2": "(12, 28)",
    "1.3": "((20, 3, 5, 5), (64, 20, 28, 28), (64, 3920), 1520)",
    "1.4": "(288000, 1440000, 'fc1', 'fc1')",
    "2.1": "((25, 576), (20, 25), (20, 576))",
    "2.2": f"{NP}.full((28, 28), 25)",
    "2.3": "(12, 0, False)",
    "3.1": "((25, 784), (6, 25), (6, 784))",
    "3.3": "((500, 64), (50, 64))",
    "4.3": "((0, 1), (0, 1), ['dx'])",
    "5.3": "(0.113, 0.0023)",
}


def answer_source(key: str, roll: float) -> str | None:
    """The source of an answer cell's answer (None: leave ``...``)."""
    if roll < 0.1:
        return None
    source = RIGHT[key]
    if roll < 0.3:
        if key in WRONG_VALUE:
            source = WRONG_VALUE[key]
        elif source.startswith("def"):
            return source + "\n_right = answer\nanswer = lambda *a: 2 * _right(*a)"
        else:
            source = f"(lambda *a: 2 * ({source})(*a))"
    return source if source.startswith("def") else f"answer = {source}"


def make_class(edition: Path, out: Path, students: int, chapters: list[str],
               seed: int = 30) -> int:
    """Write ``out/studentNN/<chapter>.ipynb`` for every student; returns the notebook count."""
    import nbformat

    rng = random.Random(seed)
    count = 0
    for s in range(students):
        for path in sorted(edition.glob("*.ipynb")):
            if str(int(path.name[:2])) not in chapters:
                continue
            nb = nbformat.read(path, 4)
            for cell in nb.cells:
                if "answer" not in cell.metadata.get("tags", []):
                    continue
                key = cell.source.split("Exercise ", 1)[1].split(".", 2)
                source = answer_source(f"{key[0]}.{key[1]}", rng.random())
                if source is not None:
                    cell.source = cell.source.replace("answer = ...", source)
            folder = out / f"student{s:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, folder / path.name)
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.class_demo",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("edition", type=Path, help="the student edition's notebooks folder")
    parser.add_argument("out", type=Path)
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--chapters", default="0,1,2,3,4,5")
    args = parser.parse_args(argv)
    if not args.edition.is_dir():
        print(f"error: no such folder: {args.edition}", file=sys.stderr)
        return 2
    count = make_class(args.edition, args.out, args.students, args.chapters.split(","))
    print(f"wrote {count} notebooks for {args.students} students in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
