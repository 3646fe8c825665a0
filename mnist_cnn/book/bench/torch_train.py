"""``python -m mnist_cnn.book.bench.torch_train``: the recipe of chapter 5 in idiomatic PyTorch.

What this is: the yardstick the training command is compared with, as a whole
process. The same network (:func:`mnist_cnn.book.bench.worker.torch_network`,
``nn.Sequential`` of ``Conv2d``, ``MaxPool2d``, ``Flatten``, ``Linear``,
``ReLU``, ``Linear``), the same data (``data/mnist.npz``, ``train_full`` and
``test``), batch, optimiser (``torch.optim.SGD`` with momentum and weight
decay, Eq. (5.1)), cosine schedule (Eq. (5.2), ``LambdaLR``), epochs and test
evaluation as ``python -m mnist_cnn.train``, written the way the PyTorch
tutorials write a training loop. Two loaders:

* ``--loader tensor`` (the default, the faster one here): the images stay one
  tensor in memory, ``torch.randperm`` shuffles, and a batch is an index into it;
* ``--loader dataloader``: ``DataLoader(TensorDataset(x, t), shuffle=True)``,
  the tutorials' form, which collates every batch image by image.

No random shifts (Eq. (5.3)): the comparison "like for like" runs the
training command with ``--shift 0``. It prints the training images per second
(the steps, shuffling and batching; not the loading and not the test) and the
test accuracy, in the words of ``python -m mnist_cnn.train``.

What this is not: part of the book's computation, or a test of PyTorch.
PyTorch is optional: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from mnist_cnn.book.bench.worker import torch_network
from mnist_cnn.data import load_mnist
from mnist_cnn.reference.network import init_params

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Train and test the seed network in PyTorch; print the rate and the accuracy."""
    parser = argparse.ArgumentParser(prog="python -m mnist_cnn.book.bench.torch_train",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=15, help="passes over train_full (15)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per step (64)")
    parser.add_argument("--lr", type=float, default=0.05, help="peak learning rate (0.05)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch.set_num_threads (default: PyTorch's choice)")
    parser.add_argument("--loader", choices=["tensor", "dataloader"], default="tensor")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None,
                        help="use only the first N images of each split (smoke tests)")
    args = parser.parse_args(argv)
    for name in ("epochs", "batch_size", "limit", "threads"):
        if getattr(args, name) is None:
            continue
        if getattr(args, name) < 1:  # one line from argparse, exit 2
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    if not (math.isfinite(args.lr) and args.lr > 0):
        parser.error(f"--lr must be a finite number > 0; got {args.lr}")
    try:
        import torch  # optional (pip install -e '.[bench]')
        import torch.nn.functional as F
    except ImportError:
        print("PyTorch is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 1
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    x, t = (torch.from_numpy(a[: args.limit]) for a in load_mnist("train_full", np.float32))
    x_test, t_test = (torch.from_numpy(a[: args.limit]) for a in load_mnist("test", np.float32))
    model = torch_network(init_params(np.random.default_rng(args.seed), np.float32))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(t) / args.batch_size)
    total = args.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    if args.loader == "dataloader":
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, t),
                                             batch_size=args.batch_size, shuffle=True)

    def batches():
        if args.loader == "dataloader":
            yield from loader
            return
        order = torch.randperm(len(t))
        for s in range(0, len(t), args.batch_size):
            idx = order[s : s + args.batch_size]
            yield x[idx], t[idx]

    train_seconds = 0.0
    model.train()
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.perf_counter()
        total_loss = 0.0
        for xb, tb in batches():
            loss = F.cross_entropy(model(xb), tb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * len(tb)
        seconds = time.perf_counter() - epoch_start
        train_seconds += seconds
        print(f"epoch {epoch}/{args.epochs}: train loss {total_loss / len(t):.4f} "
              f"({seconds:.1f} s)", flush=True)
    model.eval()
    with torch.inference_mode():
        correct = sum(int((model(x_test[s : s + 1000]).argmax(1) == t_test[s : s + 1000]).sum())
                      for s in range(0, len(t_test), 1000))
    print(f"test accuracy {100 * correct / len(t_test):.2f}%; "
          f"{len(t) * args.epochs / train_seconds:,.0f} training images/s; "
          f"wall {time.perf_counter() - start:.1f} s; torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, loader {args.loader}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
