"""Mutation testing: would the book's checks notice a wrong equation?

What this is: a table of targeted mutations of the equation implementations
(one exact source snippet, one replacement, one sentence saying which mistake
it is), and a runner. For each mutant the package, the tests and the notebooks
are copied to a temporary directory, the snippet is replaced *in the copy*
(the working tree is never touched), and the tests relevant to the mutated
file are run there with the copy first on ``PYTHONPATH``. A mutant survives
the tests only if every one passes; it is then run against the notebooks'
checks (the chapters that use the file, executed with nbclient: their assert
cells). A mutant is *killed* when something fails. Run::

    python -m mnist_cnn.book.mutants            # all, 2 workers
    python -m mnist_cnn.book.mutants --list     # the table
    python -m mnist_cnn.book.mutants conv-stride-ignored pool-tie-last

The last line printed is ``killed K of N``; the exit status is 0 only if K = N.

What this is not: a general mutation-testing framework (mutmut, cosmic-ray). The
mutations are chosen by hand, one per plausible mistake in an equation, so
that each surviving mutant names a hole in the verification.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MUTANTS", "Mutant", "apply", "main", "run_one"]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutant:
    """One wrong equation: replace ``old`` (unique in ``file``) by ``new``.

    Attributes
    ----------
    name : str
        Short identifier.
    file : str
        Path relative to the repository root.
    old, new : str
        The exact snippet (must occur once) and its replacement.
    mistake : str
        The mistake in words, with the equation it breaks.
    tests : tuple of str
        pytest arguments run against the mutant (files, ``-k`` expressions).
    notebooks : tuple of str
        Chapters whose checks are run if the tests do not kill it.
    """

    name: str
    file: str
    old: str
    new: str
    mistake: str
    tests: tuple[str, ...]
    notebooks: tuple[str, ...] = ()


_LOOPS, _IM2COL, _LAYERS = ("mnist_cnn/reference/loops.py", "mnist_cnn/reference/im2col.py",
                            "mnist_cnn/reference/layers.py")
_NET, _POOL = "mnist_cnn/reference/network.py", "mnist_cnn/fast/pool.py"
T_LOOPS = ("tests/test_loops.py",)
T_IM2COL = ("tests/test_im2col.py", "tests/test_layers.py")
T_LAYERS = ("tests/test_layers.py", "tests/test_network.py")
NB1, NB2, NB3, NB4 = ("notebooks/01_scalar_forward.ipynb", "notebooks/02_im2col_forward.ipynb",
                      "notebooks/03_channel_parallel_im2col.ipynb",
                      "notebooks/04_delta_rule_backward.ipynb")


def _m(name, file, old, new, mistake, tests, notebooks=()):
    return Mutant(name, file, old, new, mistake, tuple(tests), tuple(notebooks))


MUTANTS: tuple[Mutant, ...] = (
    # ---- the loops, chapter 1 and 4 ------------------------------------------------------------
    _m("pad-transposed", _LOOPS, "x_pad[n, c, m, l] = x[n, c, m - P, l - P]",
       "x_pad[n, c, m, l] = x[n, c, l - P, m - P]", "(1.2): rows and columns swapped", T_LOOPS,
       (NB1,)),
    _m("conv-stride-ignored", _LOOPS,
       "acc += w[o, c, i, j] * x_pad[n, c, m * S + i, l * S + j]",
       "acc += w[o, c, i, j] * x_pad[n, c, m + i, l * S + j]",
       "(1.3): row index (m-1) + i instead of (m-1)S + i", T_LOOPS, (NB1,)),
    _m("conv-kernel-flipped", _LOOPS,
       "acc += w[o, c, i, j] * x_pad[n, c, m * S + i, l * S + j]",
       "acc += w[o, c, K - 1 - i, j] * x_pad[n, c, m * S + i, l * S + j]",
       "(1.3): a true convolution (flipped rows) instead of a correlation", T_LOOPS, (NB1,)),
    _m("conv-size-no-padding", _LOOPS,
       "H_c = output_size.unchecked(H_in, K, S, P)  # Eq. (1.4)\n"
       "    W_c = output_size.unchecked(W_in, K, S, P)\n    x_pad = pad_loops(x, P)\n    z = ",
       "H_c = output_size.unchecked(H_in, K, S, 0)  # Eq. (1.4)\n"
       "    W_c = output_size.unchecked(W_in, K, S, P)\n    x_pad = pad_loops(x, P)\n    z = ",
       "(1.4): the 2P forgotten in the output height", T_LOOPS, (NB1,)),
    _m("pool-window-offset", _LOOPS,
       "                            if _beats(z[n, o, p * S_p + i, q * S_p + j], acc):\n"
       "                                acc = z[n, o, p * S_p + i, q * S_p + j]",
       "                            if _beats(z[n, o, p * S_p + i, q * S_p + i], acc):\n"
       "                                acc = z[n, o, p * S_p + i, q * S_p + i]",
       "(1.5): the window's column offset j read as i (diagonal only)", T_LOOPS, (NB1,)),
    _m("flatten-index-order", _LOOPS, "return (o - 1) * H_p * W_p + (p - 1) * W_p + q",
       "return (o - 1) * H_p * W_p + (q - 1) * H_p + p",
       "(1.6): column-major inside a map (q before p)", T_LOOPS, (NB1,)),
    _m("unflatten-divmod", _LOOPS, "p_minus_1, q_minus_1 = divmod(rest, W_p)",
       "q_minus_1, p_minus_1 = divmod(rest, W_p)", "(1.7): p and q swapped in the inverse",
       T_LOOPS, (NB1,)),
    _m("fc-loops-transposed", _LOOPS, "acc += w[k, h] * a[n, h]\n            z[n, k] = acc",
       "acc += w[k, h] * a[n, k % a.shape[1]]\n            z[n, k] = acc",
       "(1.8): wrong input index in the fc sum", T_LOOPS, (NB1,)),
    _m("relu-ge", _LOOPS, "            if z[n, h] > 0:\n                z_relu[n, h] = z[n, h]",
       "            if z[n, h] > -0.1:\n                z_relu[n, h] = z[n, h]",
       "(1.9): threshold not at 0", T_LOOPS, (NB1,)),
    _m("softmax-no-shift", _LOOPS, "y[n, k] = np.exp(z[n, k] - M) / total",
       "y[n, k] = np.exp(z[n, k]) / total", "(1.12): numerator not shifted by the maximum",
       T_LOOPS, (NB1,)),
    _m("loops-delta-no-mean", _LOOPS, "delta[n, k] = (y[n, k] - t[n, k]) / y.dtype.type(N)",
       "delta[n, k] = (y[n, k] - t[n, k])", "(4.3): missing 1/N in the loop reference",
       T_LOOPS, (NB4,)),
    _m("loops-tie-last", _LOOPS,
       "                            if _beats(z[n, o, p * S_p + i, q * S_p + j],\n"
       "                                      z[n, o, p * S_p + i_star, q * S_p + j_star]):",
       "                            if not _beats(z[n, o, p * S_p + i_star, q * S_p + j_star],\n"
       "                                          z[n, o, p * S_p + i, q * S_p + j]):",
       "(4.11): the tie rule flipped to the last maximum (loops)", T_LOOPS, (NB4,)),
    _m("loops-db-conv-one-n", _LOOPS,
       "                    acc += delta[n, o, m, l]\n        db[o] = acc",
       "                    acc = delta[n, o, m, l] + 0 * acc\n        db[o] = acc",
       "(4.13): the bias gradient keeps only the last term of the sums", T_LOOPS, (NB4,)),
    _m("loops-dx-no-crop", _LOOPS, "dx[n, c, m, l] = dx_pad[n, c, m + P, l + P]",
       "dx[n, c, m, l] = dx_pad[n, c, m, l]", "(4.14): padding not cropped (shifted dx)",
       T_LOOPS, (NB4,)),
    _m("im2col-loops-row-order", _LOOPS, "X_col[n, c * K * K + i * K + j, m * W_c + l] = (",
       "X_col[n, c * K * K + j * K + i, m * W_c + l] = (",
       "(3.1): kernel offsets in column-major order (loop reference)", T_LOOPS),
    # ---- im2col, chapters 2-3 ------------------------------------------------------------------
    _m("im2col-column-order", _IM2COL, "    return view.transpose(0, 1, 4, 5, 2, 3)",
       "    return view.transpose(0, 1, 4, 5, 3, 2)",
       "(2.1)/(3.1): column index (l-1)H_c + m instead of (m-1)W_c + l", T_IM2COL, (NB2,)),
    _m("im2col-row-order", _IM2COL, "    return view.transpose(0, 1, 4, 5, 2, 3)",
       "    return view.transpose(0, 1, 5, 4, 2, 3)",
       "(2.1)/(3.1): row index (j-1)K + i instead of (i-1)K + j", T_IM2COL, (NB2,)),
    _m("im2col-stride-ignored", _IM2COL, "    view = view[:, :, ::stride, ::stride]\n    return",
       "    view = view[:, :, ::1, ::stride]\n    return",
       "(2.1): the row stride S ignored", T_IM2COL, (NB2,)),
    _m("col2im-no-crop", _IM2COL,
       "return np.ascontiguousarray(dxp[:, :, padding:-padding, padding:-padding])",
       "return np.ascontiguousarray(dxp[:, :, :-2 * padding, :-2 * padding])",
       "(4.15): col2im crops the padding from one side only", T_IM2COL, (NB4,)),
    _m("col2im-stride-1", _IM2COL,
       "dxp[:, :, i : i + stride * h_c : stride, j : j + stride * w_c : stride] += cols[",
       "dxp[:, :, i : i + h_c, j : j + stride * w_c : stride] += cols[",
       "(4.15): col2im scatters rows with stride 1", T_IM2COL, (NB4,)),
    # ---- vectorised layers, chapters 2-4 -------------------------------------------------------
    _m("conv-w-reshape-order", _LAYERS,
       "    z = np.matmul(W_mat, X_col)  # [N, C_out, H_c*W_c]",
       "    z = np.matmul(w.transpose(0, 1, 3, 2).reshape(c_out, -1), X_col)",
       "(3.2): W_mat built with (j, i) instead of (i, j)", T_LAYERS, (NB3,)),
    _m("conv-bias-per-position", _LAYERS, "    z = np.matmul(W_mat, X_col)  # [N, C_out, H_c*W_c]\n"
       "    z += b[:, None]", "    z = np.matmul(W_mat, X_col)  # [N, C_out, H_c*W_c]\n"
       "    z += b[:, None] * (np.arange(z.shape[-1]) == 0)",
       "(3.3): b added to the first position only, not b 1^T", T_LAYERS, (NB3,)),
    _m("per-channel-first-channel-only", _LAYERS, "    for c in range(1, c_in):",
       "    for c in range(1, 1):", "(2.3): the sum over c stops after channel 1", T_LAYERS,
       (NB2,)),
    _m("einsum-wrong-axes", _LAYERS, "z = np.tensordot(view, w, axes=([1, 4, 5], [1, 2, 3]))",
       "z = np.tensordot(view, w, axes=([1, 4, 5], [1, 3, 2]))",
       "(3.3): the tensordot form pairs (i, j) with (j, i)", T_LAYERS, (NB3,)),
    _m("conv-dw-missing-transpose", _LAYERS,
       "dW_mat = np.matmul(d, X_col.transpose(0, 2, 1)).sum(axis=0)",
       "dW_mat = np.matmul(d, X_col.transpose(0, 2, 1)).sum(axis=0)"
       ".reshape(w.shape).transpose(0, 1, 3, 2).reshape(c_out, -1)",
       "(4.12): each kernel's gradient transposed (i and j swapped)", T_LAYERS, (NB4,)),
    _m("conv-db-sum-n-only", _LAYERS, "db = delta.sum(axis=(0, 2, 3))",
       "db = delta.sum(axis=0)[:, 0, 0]", "(4.13): the bias gradient summed over n only",
       T_LAYERS, (NB4,)),
    _m("conv-dx-missing-transpose", _LAYERS,
       "dX_col = np.matmul(w.reshape(c_out, -1).T, d)",
       "dX_col = np.matmul(w.transpose(0, 1, 3, 2).reshape(c_out, -1).T, d)",
       "(4.15): W_mat^T built from the transposed kernel", T_LAYERS, (NB4,)),
    _m("pool-reshape-order", _LAYERS,
       "windows = tiles.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, h_p, w_p, K_p * K_p)",
       "windows = tiles.transpose(0, 1, 2, 4, 5, 3).reshape(n, c, h_p, w_p, K_p * K_p)",
       "(2.5): window offsets stored column-major, so the argmax is routed to the wrong entry",
       T_LAYERS, (NB2,)),
    _m("pool-backward-shifted", _LAYERS, "cols = cols.reshape(n, c * pool * pool, h_p * w_p)",
       "cols = np.roll(cols, 1, axis=2).reshape(n, c * pool * pool, h_p * w_p)",
       "(4.11): the routed delta put one offset too far", T_LAYERS, (NB4,)),
    _m("fc-missing-transpose", _LAYERS, "return delta @ w, delta.T @ a, delta.sum(axis=0)",
       "return delta @ w, (delta.T @ a)[::-1], delta.sum(axis=0)",
       "(4.5)/(4.8): dW rows in reverse order", T_LAYERS, (NB4,)),
    _m("fc-db-sum-wrong-axis", _LAYERS, "return delta @ w, delta.T @ a, delta.sum(axis=0)",
       "return delta @ w, delta.T @ a, delta.mean(axis=0)",
       "(4.5)/(4.8): bias gradient averaged instead of summed (an extra 1/N)", T_LAYERS,
       (NB4,)),
    _m("delta-no-mean", _LAYERS, "    delta /= y.shape[0]", "    delta /= 1",
       "(4.3): the output delta y - t without 1/N", T_LAYERS, (NB4,)),
    _m("relu-backward-ge", _LAYERS, "z = cache.z", "z = cache.z + 1e-3",
       "(4.7): the ReLU mask taken at the wrong point (z > -1e-3)", T_LAYERS, (NB4,)),
    _m("softmax-axis", _LAYERS, "e /= e.sum(axis=1, keepdims=True)",
       "e /= e.sum(axis=0, keepdims=True)", "(2.8): softmax normalised over the batch",
       T_LAYERS, (NB2,)),
    # ---- the network and the fast forms --------------------------------------------------------
    _m("network-delta-fc1-skips-relu", _NET,
       "delta_fc1 = _relu_backward(delta_relu, c[\"relu\"])",
       "delta_fc1 = delta_relu", "(4.7): the ReLU derivative left out of the chain",
       ("tests/test_network.py",), (NB4,)),
    _m("fast-pool-tie-last", _POOL, "np.greater(entry, out, out=greater)",
       "np.greater_equal(entry, out, out=greater)",
       "(4.11): the fast max-pool routes ties to the last maximum", ("tests/test_fast.py",)),
    _m("closed-form-filters-reversed", "mnist_cnn/reference/transposed.py",
       "out[:, :, ::stride, ::stride] = delta", "out[:, :, ::stride, ::stride] = delta[:, ::-1]",
       "(4.14): the closed form with the filters of delta in reverse order",
       ("tests/test_transposed.py",)),
    _m("closed-form-kernel-not-flipped", "mnist_cnn/reference/transposed.py",
       "w[o, c, ::-1, ::-1], mode=\"full\"", "w[o, c, ::-1, :], mode=\"full\"",
       "(4.14): the kernel flipped in one axis only", ("tests/test_transposed.py",)),
)


def apply(mutant: Mutant, root: Path) -> None:
    """Replace the snippet in ``root / mutant.file``; it must occur exactly once."""
    path = root / mutant.file
    text = path.read_text()
    count = text.count(mutant.old)
    if count != 1:
        raise ValueError(f"{mutant.name}: snippet found {count} times in {mutant.file} "
                         "(the table is stale)")
    path.write_text(text.replace(mutant.old, mutant.new))


def _copy_tree(destination: Path) -> None:
    for name in ("mnist_cnn", "tests", "notebooks"):
        shutil.copytree(ROOT / name, destination / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    for name in ("pyproject.toml",):
        shutil.copy2(ROOT / name, destination / name)
    (destination / "data").symlink_to(ROOT / "data")


def _run_notebook(path: Path, env: dict[str, str], timeout: int) -> bool:
    """Execute a chapter in the mutant's copy; True if every cell ran (every assert held)."""
    code = ("import nbformat, sys; from nbclient import NotebookClient; "
            "nb = nbformat.read(sys.argv[1], as_version=4); "
            f"NotebookClient(nb, timeout={timeout}, kernel_name='python3', "
            "resources={'metadata': {'path': sys.argv[2]}}).execute()")
    result = subprocess.run([sys.executable, "-c", code, str(path), str(path.parent)], env=env,
                            capture_output=True, text=True)
    return result.returncode == 0


def run_one(mutant: Mutant, timeout: int = 900) -> tuple[str, float]:
    """Run one mutant in a fresh copy; return ``(verdict, seconds)``.

    The verdict is ``"killed by tests"``, ``"killed by <notebook>"`` or ``"SURVIVED"``.
    """
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutant.name}-") as tmp:
        root = Path(tmp)
        _copy_tree(root)
        apply(mutant, root)
        env = dict(os.environ, PYTHONPATH=str(root), MPLBACKEND="Agg",
                   PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1",
                   OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        probe = subprocess.run(
            [sys.executable, "-c", "import mnist_cnn; print(mnist_cnn.__file__)"],
            env=env, cwd=root, capture_output=True, text=True)
        if not probe.stdout.strip().startswith(str(root)):
            raise RuntimeError(f"the mutant's copy is not imported first: {probe.stdout!r}")
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
             "--hypothesis-seed=0", *mutant.tests],
            env=env, cwd=root, capture_output=True, text=True, timeout=timeout)
        if tests.returncode != 0:
            return "killed by tests", time.perf_counter() - start
        for notebook in mutant.notebooks:
            if not _run_notebook(root / notebook, env, timeout):
                return f"killed by {Path(notebook).name[:2]}", time.perf_counter() - start
    return "SURVIVED", time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Command line: run the mutants, print one line each, then ``killed K of N``."""
    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.mutants",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="print the table and exit")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    if args.names and len(chosen) != len(set(args.names)):
        parser.error(f"unknown mutant among {args.names}")
    if args.list:
        for m in chosen:
            print(f"{m.name:<32} {m.file.split('/')[-1]:<14} {m.mistake}")
        return 0
    for m in chosen:  # a stale snippet fails before anything runs
        apply_check = (ROOT / m.file).read_text().count(m.old)
        if apply_check != 1:
            raise SystemExit(f"{m.name}: snippet found {apply_check} times in {m.file}")
    start = time.perf_counter()
    killed = 0
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        for m, (verdict, seconds) in zip(chosen, pool.map(run_one, chosen), strict=True):
            killed += verdict != "SURVIVED"
            print(f"{m.name:<32} {verdict:<18} {seconds:6.1f} s   {m.mistake}", flush=True)
    print(f"{time.perf_counter() - start:.0f} s with {args.workers} workers")
    print(f"killed {killed} of {len(chosen)}")
    return 0 if killed == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
