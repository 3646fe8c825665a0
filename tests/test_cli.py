"""The command line of python -m mnist_cnn.train: help, clear errors, evaluate, a real process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mnist_cnn import train as T
from mnist_cnn.architecture import PARAM_NAMES
from mnist_cnn.data import load_mnist


def test_help_reads_well(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    assert "train" in out and "evaluate" in out and "examples:" in out
    code, out, _ = run_cli("train", "--help")
    assert code == 0
    for option in ("--epochs", "--batch-size", "--lr", "--seed", "--out", "--momentum",
                   "--weight-decay", "--shift", "--split", "--max-steps", "--warmup-epochs"):
        assert option in out
    assert "(default: 15)" in out  # defaults are shown


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["--epochs", "-1"], ["epochs must be >= 1; got -1"]),
        (["--epochs", "0"], ["epochs must be >= 1; got 0"]),
        (["--epochs", "two"], ["--epochs", "invalid int value: 'two'"]),
        (["--lr", "0"], ["lr must be a finite number > 0; got 0.0"]),
        (["--lr", "-0.1"], ["lr must be a finite number > 0"]),
        (["--lr", "nan"], ["lr must be a finite number > 0"]),
        (["--momentum", "1"], ["momentum must be in [0, 1); got 1.0"]),
        (["--weight-decay=-1e-4"], ["weight_decay must be a finite number >= 0"]),
        (["--batch-size", "0"], ["batch_size must be >= 1"]),
        (["--shift", "-2"], ["shift must be >= 0"]),
        (["--split", "test"], ["invalid choice", "'test'", "train_full"]),
        (["--split", "banana"], ["invalid choice", "'banana'"]),
        (["--no-such-option"], ["unrecognized arguments"]),
        (["--epochs", "2", "--warmup-epochs", "2"], ["warmup_epochs must be in [0, epochs = 2)"]),
        (["--threads", "0"], ["threads must be >= 1"]),
    ],
)
def test_bad_arguments_give_clear_errors(run_cli, clear_error, argv, fragments):
    code, out, err = run_cli(*argv)
    clear_error(code, err, *fragments)  # checked once, by TrainConfig: argparse only converts
    assert out == ""


def test_evaluate_round_trips(trained_run, run_cli):
    params = T.load_weights(trained_run / "weights.npz")
    assert all(params[k].dtype == np.float32 for k in PARAM_NAMES)
    images, labels = load_mnist("test")
    expected = T.evaluate(params, images[:256], labels[:256], batch_size=100)
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert expected["correct"] == metrics["test"]["correct"]
    code, out, err = run_cli("evaluate", str(trained_run / "weights.npz"),
                             "--limit", "256", "--batch-size", "64")
    assert code == 0, err
    assert f"test accuracy {100 * expected['accuracy']:.2f}% ({expected['correct']}/256)" in out


def test_the_command_in_a_fresh_process_stays_under_1_gib(tmp_path):
    """A real `python -m mnist_cnn.train`: exit code 0, and the peak memory of a process that
    holds all 60,000 training images in float32, as the full run does."""
    command = [sys.executable, "-m", "mnist_cnn.train", "--split", "train_full", "--max-steps",
               "3", "--limit", "192", "--out", str(tmp_path), "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout and "peak RSS" in done.stdout
    assert "shuffling, batching and shifts" in done.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    print(f"peak RSS {metrics['peak_rss_mib']:.0f} MiB")
    assert 0 < metrics["peak_rss_mib"] < 1024
    bad = subprocess.run([sys.executable, "-m", "mnist_cnn.train", "--lr", "0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "lr must be a finite number > 0" in bad.stderr.strip().splitlines()[-1]


