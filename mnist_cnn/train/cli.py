"""The command line of ``python -m mnist_cnn.train``: ``train`` (the default) and ``evaluate``.

What this is: argparse that converts the options' types, a :class:`TrainConfig`
that checks their values (the one place), and the two subcommands' output.
What this is not: the loop (:mod:`.loop`), the file format (:mod:`.artifacts`).

Examples
--------
The full run (about 3 minutes on 2 idle cores, longer on a busy machine)::

    python -m mnist_cnn.train --epochs 15 --out runs/full

Continuing it after Ctrl-C or a crash (from ``runs/full/checkpoint.npz``)::

    python -m mnist_cnn.train --out runs/full --resume

A smoke test, and evaluating saved weights::

    python -m mnist_cnn.train --epochs 1 --max-steps 20 --limit 512 --out runs/smoke
    python -m mnist_cnn.train evaluate runs/full/weights.npz
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

from mnist_cnn.data import MnistDataError, load_mnist
from mnist_cnn.tools.runtime import set_blas_threads
from mnist_cnn.train.artifacts import WeightsFileError, commit_results, load_weights
from mnist_cnn.train.checkpoint import (
    CHECKPOINT,
    CheckpointError,
    load_checkpoint,
    prepare_out,
    save_checkpoint,
)
from mnist_cnn.train.loop import (
    EVAL_SPLITS,
    LIMIT_REASONS,
    LIMITS,
    TRAIN_SPLITS,
    TrainConfig,
    TrainingInterrupted,
    _subset,
    train,
)
from mnist_cnn.train.metrics import evaluate
from mnist_cnn.validate import require_positive_int

__all__ = ["main"]

#: More BLAS threads than this is a typo (the machines this runs on have a few cores).
MAX_THREADS = 1024


def _parser(explicit_only: bool = False) -> argparse.ArgumentParser:
    """The parser; with ``explicit_only``, train options not given are None in the result."""
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m mnist_cnn.train",
        description=(
            "Train the seed CNN (conv 20@5x5, max-pool 2x2, fc 500, ReLU, fc 10) on MNIST with "
            "the book's numpy code, or evaluate saved weights. With no subcommand, 'train' runs "
            "and its options may follow directly."
        ),
        epilog=(
            "examples:\n"
            "  python -m mnist_cnn.train --epochs 15 --out runs/full\n"
            "  python -m mnist_cnn.train --max-steps 20 --limit 512 --out runs/smoke\n"
            "  python -m mnist_cnn.train --out runs/full --resume   # after Ctrl-C or a crash\n"
            "  python -m mnist_cnn.train evaluate runs/full/weights.npz\n"
            "'python -m mnist_cnn.train SUBCOMMAND --help' lists the options of one subcommand."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")

    t = sub.add_parser(
        "train", help="train, then test; save weights.npz and metrics.json",
        description=(
            "Mini-batch SGD with momentum and weight decay (Eq. 5.1), linear warm-up then cosine "
            "learning rate (Eq. 5.2) and random shifts of the training images (Eq. 5.3). Prints "
            "a progress bar per epoch, then the test accuracy, the wall time and the peak memory. "
            "OUT is checked before the first step. A checkpoint (weights, optimiser velocity, "
            "random-generator states, epoch and step, metrics so far) is written atomically to "
            "OUT/checkpoint.npz after every epoch and on Ctrl-C at the next step; --resume "
            "continues it bit for bit (same machine and --threads). At the end OUT/weights.npz "
            "and OUT/metrics.json are written, then OUT/manifest.json with their sha256."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    t.add_argument("--epochs", type=int, default=defaults.epochs,
                   metavar="N",
                   help="passes over the training split")
    t.add_argument("--batch-size", type=int, metavar="N",
                   default=defaults.batch_size, help="images per SGD step")
    t.add_argument("--lr", type=float, default=defaults.lr,
                   help="peak learning rate eta_0")
    t.add_argument("--momentum", type=float, default=defaults.momentum,
                   metavar="MU",
                   help="momentum mu, in [0, 1)")
    t.add_argument("--weight-decay", type=float, metavar="LAMBDA",
                   default=defaults.weight_decay, help="L2 weight decay lambda")
    t.add_argument("--warmup-epochs", type=float, metavar="E",
                   default=defaults.warmup_epochs,
                   help="linear warm-up length in epochs (may be fractional), then cosine decay")
    t.add_argument("--shift", type=int, default=defaults.shift,
                   metavar="PX",
                   help="largest random shift of a training image in pixels (0: none)")
    t.add_argument("--split", choices=TRAIN_SPLITS, default=defaults.split,
                   help="train: 50,000 images and validation on the other 10,000 after each "
                        "epoch; train_full: all 60,000, no validation")
    t.add_argument("--seed", type=int, default=defaults.seed, metavar="N",
                   help="seed of the initial weights, the shuffling and the shifts")
    t.add_argument("--out", type=Path, default=Path("runs/train"), metavar="DIR",
                   help="folder for weights.npz and metrics.json (created if needed)")
    t.add_argument("--max-steps", type=int, default=None,
                   metavar="N",
                   help="stop after this many steps in total (smoke tests)")
    t.add_argument("--limit", type=int, default=None, metavar="N",
                   help="use only the first N images of every split (smoke tests)")
    t.add_argument("--eval-batch-size", type=int, metavar="N",
                   default=defaults.eval_batch_size, help="images per forward pass when evaluating")
    t.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads of the training step, and of BLAS outside it (default: "
                        "BLAS's own choice, usually one per core; 1 can be faster on a busy "
                        "machine)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint.npz (options not given "
                        "are the checkpoint's; given ones must equal them)")
    t.add_argument("--force", action="store_true",
                   help="replace an earlier run in --out (without it, an earlier run is refused)")
    if explicit_only:
        t.set_defaults(**{action.dest: None for action in t._actions})

    e = sub.add_parser(
        "evaluate", help="accuracy and loss of saved weights on a split",
        description="Load WEIGHTS (an npz written by 'train'), check it, and report its "
                    "accuracy and mean cross-entropy on one MNIST split.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    e.add_argument("weights", type=Path, metavar="WEIGHTS", help="path to weights.npz")
    e.add_argument("--split", choices=EVAL_SPLITS, default="test", help="split to evaluate on")
    e.add_argument("--limit", type=int, default=None, metavar="N",
                   help="use only the first N images")
    e.add_argument("--batch-size", type=int, default=1000,
                   metavar="N",
                   help="images per forward pass")
    e.add_argument("--threads", type=int, default=None, metavar="N",
                   help="BLAS threads (default: the library's own choice)")
    return parser


_CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def _config(args: argparse.Namespace, argv: list[str], out: Path) -> tuple[TrainConfig, object]:
    """The run's config (checked by TrainConfig), and the state to resume from, if any."""
    given = {k: v for k, v in vars(args).items() if k in _CONFIG_FIELDS}
    if not args.resume:
        return TrainConfig(**given), None
    state = load_checkpoint(out)
    explicit = {k for k, v in vars(_parser(explicit_only=True).parse_args(argv)).items()
                if v is not None}
    stored = {k: v for k, v in state.config.items() if k in _CONFIG_FIELDS}
    try:
        TrainConfig(**stored)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{out / CHECKPOINT}: its config is not a valid run ({exc})"
                              ) from None
    return TrainConfig(**{**stored, **{k: given[k] for k in explicit if k in given}}), state


def _run_train(args: argparse.Namespace, argv: list[str], prog: str) -> int:
    out = prepare_out(args.out, force=args.force, resume=args.resume)  # before the first step
    config, resume = _config(args, argv, out)
    interrupted = []
    saved: list[str] = []

    def on_sigint(signum, frame):  # noqa: ARG001 - the signal module's signature
        if interrupted:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        interrupted.append(signum)
        print(f"{prog}: Ctrl-C: stopping after this step and saving a checkpoint "
              "(Ctrl-C again to stop at once)", file=sys.stderr)

    def checkpoint(state) -> None:
        path = save_checkpoint(out, state)
        saved[:] = [f"{path} ({state.describe()})"]

    def last_checkpoint() -> str:
        again = f"continue with: python -m mnist_cnn.train --out {shlex.quote(str(out))} --resume"
        if saved:
            return f"the last checkpoint is {saved[0]}; {again}"
        if resume is not None:
            return f"nothing new was saved; {out / CHECKPOINT} is unchanged; {again}"
        return "nothing was saved (no epoch had finished)"

    # The handler stays until the results are written: a Ctrl-C then only sets the flag.
    previous = (signal.signal(signal.SIGINT, on_sigint)
                if threading.current_thread() is threading.main_thread() else None)
    try:
        result = train(config, progress=not args.no_progress, resume=resume,
                       checkpoint=checkpoint, stop=lambda: bool(interrupted))
        metrics = result.metrics
        metrics["weights"] = str(out / "weights.npz")
        metrics["command"] = shlex.join(["python", "-m", "mnist_cnn.train", *argv])
        paths = commit_results(out, result.params, metrics)
    except TrainingInterrupted:
        print(f"{prog}: interrupted; saved {saved[0]}. Continue with: "
              f"python -m mnist_cnn.train --out {shlex.quote(str(out))} --resume",
              file=sys.stderr)
        return 130
    except KeyboardInterrupt:  # a second Ctrl-C, or one before the loop started
        print(f"{prog}: interrupted; {last_checkpoint()}", file=sys.stderr)
        return 130
    except (FloatingPointError, OSError) as exc:
        print(f"{prog}: error: {exc}; {last_checkpoint()}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    test = metrics["test"]
    print(f"test accuracy {100 * test['accuracy']:.2f}% ({test['correct']}/{test['images']}), "
          f"test loss {test['loss']:.4f}")
    share = metrics["data_path_s"] / max(metrics["train_time_s"], 1e-9)
    print(f"wall time {metrics['wall_time_s']:.1f} s ({metrics['images_per_s']:.0f} training "
          f"images/s; shuffling, batching and shifts {100 * share:.1f}% of the training time), "
          f"peak RSS {metrics['peak_rss_mib']:.0f} MiB")
    print(f"saved {paths['weights']} and {paths['metrics']}, then {paths['manifest']} "
          f"(their sha256); the checkpoint {out / CHECKPOINT} holds the last epoch's state")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    if args.limit is not None:
        require_positive_int("--limit", args.limit)
    require_positive_int("--batch-size", args.batch_size)
    if args.batch_size > LIMITS["eval_batch_size"]:
        raise ValueError(f"--batch-size must be <= {LIMITS['eval_batch_size']:,} "
                         f"({LIMIT_REASONS['eval_batch_size']}); got {args.batch_size:,}")
    params = load_weights(args.weights)
    images, labels = _subset(*load_mnist(args.split, params["w_fc1"].dtype), args.limit)
    start = time.perf_counter()
    result = evaluate(params, images, labels, args.batch_size)
    seconds = time.perf_counter() - start
    print(f"{args.split} accuracy {100 * result['accuracy']:.2f}% "
          f"({result['correct']}/{result['images']}), loss {result['loss']:.4f}, "
          f"{seconds:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point of ``python -m mnist_cnn.train``.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``. Without a
        subcommand, ``train`` is assumed.

    Returns
    -------
    int
        0 on success, 1 on a failure, 2 on bad input (arguments, weights, data or
        checkpoint file, output folder), 130 on Ctrl-C.
    """
    parser = _parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in ("train", "evaluate", "-h", "--help"):
        argv = ["train", *argv]
    args = parser.parse_args(argv)
    prog = parser.prog
    try:
        if args.threads is not None:
            require_positive_int("threads", args.threads)
            if args.threads > MAX_THREADS:
                raise ValueError(f"threads must be <= {MAX_THREADS}; got {args.threads:,}")
            set_blas_threads(args.threads)
        if args.command == "evaluate":
            return _run_evaluate(args)
        return _run_train(args, argv, prog)
    except (WeightsFileError, ValueError, TypeError) as exc:  # bad input: one line, exit 2
        print(f"{prog}: error: {exc} (see --help)", file=sys.stderr)
        return 2
    except MnistDataError as exc:  # a data file that cannot be used: one line, exit 2
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except (FloatingPointError, OSError, RuntimeError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; nothing was saved", file=sys.stderr)
        return 130

