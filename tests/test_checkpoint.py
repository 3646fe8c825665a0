"""Checkpoint and resume: bit for bit after a stop, an --out that is checked first, SIGKILL x 20."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mnist_cnn import train as T
from mnist_cnn.architecture import PARAM_NAMES
from mnist_cnn.data import load_mnist
from mnist_cnn.train.checkpoint import WRITE_DELAY_ENV

TINY = dict(epochs=2, batch_size=16, limit=48, split="train", seed=5, shift=2)  # 2 x 3 steps


def _quiet(_line):
    pass


def _without_timings(epochs):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in epochs]


@pytest.fixture(scope="module")
def uninterrupted():
    config = T.TrainConfig(**TINY)
    return config, T.train(config, progress=False, log=_quiet)


@pytest.mark.parametrize("stop_after", [2, 3])  # mid-epoch, epoch boundary
def test_stop_then_resume_is_bit_for_bit(tmp_path, uninterrupted, stop_after):
    config, whole = uninterrupted
    steps = iter(range(1, 100))
    saved = []

    def checkpoint(state):
        saved.append(T.save_checkpoint(tmp_path, state))

    with pytest.raises(T.TrainingInterrupted, match=f"stopped at step {stop_after} "):
        T.train(config, progress=False, log=_quiet, checkpoint=checkpoint,
                stop=lambda: next(steps) >= stop_after)
    state = T.load_checkpoint(tmp_path)
    assert state.step == stop_after
    resumed = T.train(config, progress=False, log=_quiet, resume=state)
    for name in PARAM_NAMES:
        assert np.array_equal(resumed.params[name], whole.params[name]), name
    assert _without_timings(resumed.metrics["epochs"]) == _without_timings(
        whole.metrics["epochs"])
    assert resumed.metrics["test"] == whole.metrics["test"]


def test_resume_with_other_options_names_them(tmp_path, uninterrupted):
    config, _ = uninterrupted
    with pytest.raises(T.TrainingInterrupted):
        T.train(config, progress=False, log=_quiet, stop=lambda: True,
                checkpoint=lambda s: T.save_checkpoint(tmp_path, s))
    other = T.TrainConfig(**{**TINY, "lr": 0.01})
    with pytest.raises(ValueError, match=r"these differ: lr \(checkpoint 0.05, now 0.01\)"):
        T.train(other, progress=False, log=_quiet, resume=T.load_checkpoint(tmp_path))


def _bad_checkpoints(folder: Path):
    """Yield (label, expected message) after making folder/checkpoint.npz bad in one way."""
    path = folder / "checkpoint.npz"
    path.write_text("not a zip")
    yield "text", "is a text file, not an .npz archive"
    np.savez(path, state=np.frombuffer(b'{"format": "other/9"}', dtype=np.uint8))
    yield "format", "has format 'other/9'"
    np.savez(path, state=np.frombuffer(b"\xff\xfe", dtype=np.uint8))
    yield "utf8", "is not a readable checkpoint"
    np.savez(path, order=np.zeros(0))
    yield "no state", "is not a readable checkpoint"
    meta = json.dumps({"format": "mnist_cnn.checkpoint/1"}).encode()
    np.savez(path, state=np.frombuffer(meta, dtype=np.uint8), **{"param.w_conv": np.zeros(3)})
    yield "shape", "param.w_conv must be float32 (20, 1, 5, 5); got float64 (3,)"


def test_bad_checkpoints_are_refused_by_name(tmp_path):
    count = 0
    for _label, message in _bad_checkpoints(tmp_path):
        with pytest.raises(T.CheckpointError, match=message.replace("(", r"\(").replace(
                ")", r"\)")):
            T.load_checkpoint(tmp_path)
        count += 1
    assert count == 5


def _out_cases(tmp: Path):
    """(argv, fragments of the one-line error) for bad --out/--force/--resume use."""
    a_file = tmp / "a_file"
    a_file.write_text("x")
    run = tmp / "run"
    run.mkdir()
    (run / "weights.npz").write_bytes(b"")
    ro = tmp / "read_only"
    ro.mkdir()
    ro.chmod(0o500)
    cases = [
        (["--out", str(a_file)], ["exists and is not a folder"]),
        (["--out", str(a_file / "sub")], ["is not a writable folder"]),
        (["--out", str(run)], ["already holds a run (weights.npz)", "--resume", "--force"]),
        (["--out", str(tmp / "empty"), "--resume"], ["holds no checkpoint.npz"]),
        (["--out", str(run), "--resume", "--force"], ["exclude each other"]),
        (["--shift", "14"], ["shift must be <= 13", "got 14"]),
        (["--shift", "1000000"], ["shift must be <= 13"]),
        (["--batch-size", "100000"], ["batch_size must be <= 10,000"]),
        (["--eval-batch-size", "1000000"], ["eval_batch_size must be <= 10,000"]),
        (["--epochs", "1000000"], ["epochs must be <= 10,000"]),
        (["--lr", "inf"], ["lr must be a finite number > 0; got inf"]),
        (["--seed", str(2**64)], ["seed must be <= "]),
        (["--limit", "0"], ["limit must be >= 1"]),
        (["--max-steps", "0"], ["max_steps must be >= 1"]),
        (["--threads", "100000"], ["threads must be <= 1024"]),
        (["evaluate", "w.npz", "--batch-size", "0"], ["--batch-size must be >= 1"]),
        (["evaluate", "w.npz", "--batch-size", "10000000"], ["--batch-size must be <= 10,000"]),
        (["evaluate", "w.npz", "--limit", "-5"], ["--limit must be >= 1"]),
    ]
    if os.geteuid() != 0:  # root writes anywhere: the read-only case needs a normal user
        cases.append((["--out", str(ro / "sub")], ["is not a writable folder"]))
    return cases


def test_bad_out_and_numbers_are_refused_before_the_first_step(tmp_path, run_cli, clear_error,
                                                               monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr("mnist_cnn.train.cli.train", no_training)
    cases = _out_cases(tmp_path)
    for argv, fragments in cases:
        code, out, err = run_cli(*argv, *(() if argv[0] == "evaluate" else ("--no-progress",)))
        clear_error(code, err, *fragments)
    assert (tmp_path / "run" / "weights.npz").exists()  # the refused run is untouched
    assert len(cases) >= 18


def test_force_replaces_and_resume_continues_through_the_cli(tmp_path, run_cli):
    argv = ["--out", str(tmp_path), "--limit", "64", "--batch-size", "32", "--epochs", "2",
            "--split", "train_full", "--no-progress", "--threads", "1"]
    assert run_cli(*argv)[0] == 0
    first = T.load_weights(tmp_path / "weights.npz")
    code, _, err = run_cli(*argv)
    assert code == 2 and "already holds a run" in err
    code, out, err = run_cli(*argv, "--force")
    assert code == 0, err
    assert "manifest.json" in out and T.verify_results(tmp_path)
    again = T.load_weights(tmp_path / "weights.npz")
    assert all(np.array_equal(first[k], again[k]) for k in PARAM_NAMES)
    # Resuming a finished run re-tests and re-commits the same weights; options may be omitted.
    code, out, err = run_cli("--out", str(tmp_path), "--resume", "--no-progress")
    assert code == 0, err
    assert all(np.array_equal(first[k], v) for k, v in T.load_weights(
        tmp_path / "weights.npz").items())
    code, _, err = run_cli("--out", str(tmp_path), "--resume", "--lr", "0.2", "--no-progress")
    assert code == 2 and "these differ: lr" in err


def test_ctrl_c_saves_a_checkpoint_and_says_what(tmp_path, run_cli, monkeypatch):
    """SIGINT during training: the handler asks the loop to stop at the next step boundary."""
    real_step = T.loop.train_step
    calls = []

    def step_then_ctrl_c(*args):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(*args)

    monkeypatch.setattr(T.loop, "train_step", step_then_ctrl_c)
    code, _, err = run_cli("--out", str(tmp_path), "--limit", "128", "--batch-size", "32",
                           "--epochs", "2", "--split", "train_full", "--no-progress")
    assert code == 130, err
    last = err.strip().splitlines()[-1]
    assert f"saved {tmp_path / 'checkpoint.npz'} (step 3 (in epoch 1 after batch 3)" in last
    assert "weights, optimiser velocity, random-generator states" in last and "--resume" in last
    assert not (tmp_path / "weights.npz").exists()
    assert T.load_checkpoint(tmp_path).step == 3
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


# --------------------------------------------------------------------------- fault injection


def _tiny_data(folder: Path) -> Path:
    """A 64-images-per-split copy of MNIST with its sha256, so each process starts fast."""
    arrays = {}
    for split in ("train", "val", "test"):
        images, labels = load_mnist(split, np.float64)
        arrays[f"{split}_images"] = np.round(images[:64, 0] * 255).astype(np.uint8)
        arrays[f"{split}_labels"] = labels[:64].astype(np.uint8)
    path = folder / "mnist.npz"
    np.savez(path, **arrays)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "mnist.npz.sha256").write_text(f"{digest}  mnist.npz\n")
    return path


def _check_folder(out: Path, last_step: int) -> int:
    """The folder holds a complete checkpoint (or none yet) and never a mixed result pair."""
    step = last_step
    if (out / "checkpoint.npz").exists():
        step = T.load_checkpoint(out).step  # loads in full: a complete file
        assert step >= last_step, "the checkpoint went backwards"
    if (out / "manifest.json").exists():
        assert T.verify_results(out), "manifest does not match weights.npz/metrics.json"
    return step


def _kill_moment(process, out: Path, rng, nth_write: int, latest: float) -> bool:
    """SIGKILL at a random moment, or inside the ``nth_write``-th checkpoint write (if > 0).

    Returns True if the process was still running when killed.
    """
    deadline = time.perf_counter() + (60 if nth_write else rng.uniform(0.05, latest))
    writes, writing = 0, False
    while time.perf_counter() < deadline and process.poll() is None:
        now_writing = any(out.glob(".checkpoint.npz.*.tmp"))
        writes += now_writing and not writing
        writing = now_writing
        if nth_write and writes == nth_write:
            time.sleep(rng.uniform(0, DELAY))  # somewhere inside the (slowed) write
            break
        time.sleep(0.005)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    return True


DELAY = 0.1  # seconds the test hook sleeps half-way through each checkpoint write


def test_sigkill_at_20_random_moments_then_resume_is_bit_for_bit(tmp_path):
    env = {**os.environ, "MNIST_CNN_DATA": str(_tiny_data(tmp_path)), WRITE_DELAY_ENV: str(DELAY),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "mnist_cnn.train", "--split", "train_full", "--limit", "32",
            "--batch-size", "16", "--epochs", "6", "--threads", "1", "--no-progress"]
    reference = tmp_path / "reference"
    started = time.perf_counter()
    done = subprocess.run([*argv, "--out", str(reference)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    run_seconds = time.perf_counter() - started

    out = tmp_path / "killed"
    rng = np.random.default_rng(11)
    reference_weights = T.load_weights(reference / "weights.npz")
    kills = in_write = attempts = finished = 0
    step, restart = 0, []
    while kills < 20 and attempts < 40:
        attempts += 1
        resume = ["--resume"] if (out / "checkpoint.npz").exists() and not restart else restart
        process = subprocess.Popen([*argv, "--out", str(out), *resume], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        nth_write = int(rng.integers(4)) // 2 * int(rng.integers(1, 3))  # half: 0, a random moment
        landed = _kill_moment(process, out, rng, nth_write, run_seconds)
        kills += landed
        if process.returncode == 0:  # the run finished before the kill: check it, start over
            finished += 1
            assert T.verify_results(out)
            assert all(np.array_equal(reference_weights[k], v)
                       for k, v in T.load_weights(out / "weights.npz").items())
            restart, step = ["--force"], 0
            continue
        restart = []
        in_write += landed and any(out.glob(".checkpoint.npz.*.tmp"))
        step = _check_folder(out, step)
    resume = ["--resume"] if (out / "checkpoint.npz").exists() and not restart else restart
    done = subprocess.run([*argv, "--out", str(out), *resume], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert T.verify_results(out) and not list(out.glob(".*.tmp"))
    got = T.load_weights(out / "weights.npz")
    identical = all(np.array_equal(reference_weights[k], got[k]) for k in PARAM_NAMES)
    print(f"fault injection: {kills} kills of 20 landed ({in_write} inside a checkpoint "
          f"write) in {attempts} starts ({finished} runs finished between kills and were "
          f"bit-identical); final resume bit-identical: {identical}; "
          f"{time.perf_counter() - started:.0f} s")
    assert kills == 20 and in_write >= 5
    assert identical
    metrics = [json.loads((folder / "metrics.json").read_text()) for folder in (reference, out)]
    assert _without_timings(metrics[0]["epochs"]) == _without_timings(metrics[1]["epochs"])


def test_a_failure_while_writing_the_results_says_what_is_safe(tmp_path, run_cli, monkeypatch):
    """Issue 11: weights written, metrics not: no manifest, and the message names the checkpoint."""
    argv = ["--out", str(tmp_path), "--limit", "64", "--batch-size", "32", "--epochs", "1",
            "--split", "train_full", "--no-progress"]
    real_write_json = T.artifacts.write_json

    def disk_full(path, obj):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(T.artifacts, "write_json", disk_full)
    code, _, err = run_cli(*argv)
    last = err.strip().splitlines()[-1]
    assert code == 1 and "No space left on device" in last
    assert f"the last checkpoint is {tmp_path / 'checkpoint.npz'} (step 2 (after epoch 1)" in last
    assert "--resume" in last
    assert (tmp_path / "weights.npz").exists() and not (tmp_path / "manifest.json").exists()
    assert not T.verify_results(tmp_path)  # a reader sees: no complete pair

    def interrupted(path, obj):
        raise KeyboardInterrupt

    monkeypatch.setattr(T.artifacts, "write_json", interrupted)
    code, _, err = run_cli("--out", str(tmp_path), "--resume", "--no-progress")
    assert code == 130 and "interrupted; nothing new was saved; " in err.strip().splitlines()[-1]
    monkeypatch.setattr(T.artifacts, "write_json", real_write_json)
    code, _, err = run_cli("--out", str(tmp_path), "--resume", "--no-progress")
    assert code == 0, err
    assert T.verify_results(tmp_path)
