"""The benchmark runner: every subcommand runs with tiny repeat counts and prints its table."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from mnist_cnn.book import bench
from mnist_cnn.book.bench.cli import main
from mnist_cnn.tools import runtime

HAS_TORCH = importlib.util.find_spec("torch") is not None


def test_conv_subcommand_prints_its_table(capsys):
    assert main(["conv", "--batch", "4", "--loop-batch", "1", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "loops, Eq. (1.3)" in out and "channel-parallel im2col, Eq. (3.3)" in out


def test_train_subcommand_without_torch(capsys):
    argv = ["train", "--repeat", "1", "--number", "1", "--batch", "8", "--no-torch",
            "--epoch-images", "24", "--epoch-rounds", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for text in ("conv 20@5x5, im2col (3.3)", "max-pool 2x2 (2.5)", "fc1 2880 -> 500 (2.7)",
                 "sum of the layers", "whole step, measured", "training step", "inference",
                 "numpy img/s", "epoch of 24", "kernel", "OpenBLAS override:",
                 "a process of its own", "fc1 backward     5.760 M", "total            9.822 M",
                 "hardware limit:", "share of the limit: numpy", "memory bandwidth",
                 "the hot path (mnist_cnn.fast: what train runs) by phase",
                 "conv + pool forward, by images", "fc1 backward + update, by rows",
                 "on the calling thread alone"):
        assert text in out, text
    assert "numpy/torch" in out and "PyTorch is not installed" not in out  # skipped on request


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is optional (pip install -e '.[bench]')")
def test_train_subcommand_with_torch_reports_a_ratio(capsys):
    argv = ["train", "--repeat", "1", "--number", "1", "--no-layers", "--threads", "1",
            "--epoch-images", "0", "--no-limits"]
    before = runtime.blas_threads()
    try:
        assert main(argv) == 0
    finally:  # --threads changes the whole process: give the other tests their setting back
        if before is not None:
            runtime.set_blas_threads(before)
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("training step"))
    numpy_rate, torch_rate, ratio = (float(v.replace(",", "")) for v in line.split()[2:])
    assert numpy_rate > 0 and torch_rate > 0
    assert ratio == pytest.approx(numpy_rate / torch_rate, rel=0.01)
    assert "loss and gradients matched numpy's" in out


def test_layer_timings_cover_every_layer():
    rows, step_ms = bench.layer_timings(batch=4, repeat=1, number=1)
    assert [r.name.split()[0] for r in rows] == ["conv", "max-pool", "flatten", "fc1", "ReLU",
                                                 "fc2", "softmax"]
    assert all(r.forward_ms > 0 and r.backward_ms > 0 for r in rows)
    assert [r.update_ms > 0 for r in rows] == [True, False, False, True, False, True, False]
    assert step_ms > 0
    table = bench.format_layer_table(rows, step_ms)
    assert "share" in table and table.count("\n") == len(rows) + 4


def test_throughput_without_torch_has_no_torch_numbers():
    from mnist_cnn.fast.step import PHASES

    t = bench.throughput(batch=4, repeat=1, number=1, use_torch=False)
    assert t.numpy_train > 0 and t.numpy_infer > 0
    assert list(t.phases) == [*PHASES, "step"] and t.phases["step"] >= sum(
        t.phases[p] for p in PHASES)
    table = bench.format_phases(t)
    assert table.count("\n") == len(PHASES) + 4 and "whole step" in table
    assert t.torch_train is None and t.torch_version is None
    assert "PyTorch comparison skipped" in bench.format_throughput(t)


BAD_BENCH_ARGUMENTS = [
    (["train", "--repeat", "0"], "--repeat must be in [1, 1,000]; got 0"),
    (["train", "--batch", "0"], "--batch must be in [1, 4,096]; got 0"),
    (["train", "--number", "-1"], "--number must be in [1, 10,000]; got -1"),
    (["train", "--threads", "0"], "--threads must be in [1, 1,024]; got 0"),
    (["conv", "--batch", "0"], "--batch must be in [1, 4,096]; got 0"),
    (["conv", "--kernel", "40"], "--kernel 40 does not fit into --size 28"),
    (["conv", "--kernel", "0"], "--kernel must be in [1, 1,024]; got 0"),
    (["conv", "--size", "100000"], "--size must be in [1, 1,024]; got 100,000"),
    (["conv", "--repeat", "0"], "--repeat must be in [1, 1,000]; got 0"),
    (["conv", "--channels-in", "0"], "--channels-in must be in [1, 256]; got 0"),
    (["conv", "--channels-out", "0"], "--channels-out must be in [1, 1,024]; got 0"),
    (["conv", "--loop-batch", "0"], "--loop-batch must be in [1, 64]; got 0"),
    (["conv", "--loop-batch", "8", "--batch", "4"], "--loop-batch must be <= --batch = 4"),
    (["conv", "--seed", "-1"], "--seed must be in [0, "),
    (["conv", "--batch", "4096", "--size", "1024", "--no-loops"], "would allocate"),
    (["conv", "--size", "200", "--channels-out", "100"], "the loop version would take"),
    (["--batch", "0"], "--batch must be in [1, 4,096]; got 0"),  # conv is the default
]


@pytest.mark.parametrize(("argv", "message"), BAD_BENCH_ARGUMENTS)
def test_bad_bench_arguments_give_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert message in err.strip().splitlines()[-1]


@pytest.mark.parametrize(("argv", "message"), [
    (["--epochs", "0"], "--epochs must be >= 1; got 0"),
    (["--threads", "0"], "--threads must be >= 1; got 0"),
    (["--lr", "nan"], "--lr must be a finite number > 0; got nan"),
])
def test_torch_recipe_checks_its_options_before_importing_torch(capsys, argv, message):
    from mnist_cnn.book.bench.torch_train import main as torch_main

    with pytest.raises(SystemExit) as stop:
        torch_main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is optional (pip install -e '.[bench]')")
@pytest.mark.parametrize("loader", ["tensor", "dataloader"])
def test_torch_recipe_trains_and_reports_its_rate(capsys, loader):
    from mnist_cnn.book.bench.torch_train import main as torch_main

    assert torch_main(["--epochs", "2", "--limit", "256", "--threads", "1",
                       "--loader", loader]) == 0
    out = capsys.readouterr().out
    losses = [float(line.split("train loss ")[1].split()[0]) for line in out.splitlines()
              if line.startswith("epoch ")]
    assert len(losses) == 2 and losses[1] < losses[0]  # it learns
    assert "training images/s" in out and f"loader {loader}" in out


def test_flops_per_image_follow_from_the_architecture():
    from mnist_cnn.architecture import SEED
    from mnist_cnn.book.bench.limits import flops_per_image, parameter_count, update_bytes

    # Counted another way: a conv weight is used once per output position, an fc weight once;
    # a use is a multiply and an add; the backward pass repeats each product once per gradient.
    for arch in (SEED, SEED.replace(C_out=7, K=3, D_1=30), SEED.replace(C_in=3, S=2, P=1)):
        shapes = arch.param_shapes
        size = {k: int(np.prod(s)) for k, s in shapes.items()}
        f = flops_per_image(arch)
        assert f["conv forward"] == f["conv backward"] == 2 * size["w_conv"] * arch.H_c * arch.W_c
        assert f["fc1 forward"] == 2 * size["w_fc1"] and f["fc1 backward"] == 4 * size["w_fc1"]
        assert f["fc2 backward"] == 2 * f["fc2 forward"] == 4 * size["w_fc2"]
        assert f["total"] == sum(v for k, v in f.items() if k != "total")
        assert update_bytes(arch) == 20 * parameter_count(arch) == 20 * sum(size.values())
    assert flops_per_image()["total"] == 9_822_000  # the "about 9.8 M"
