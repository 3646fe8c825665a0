"""Training: the CLI, saving and loading, reproducibility, shifts, the optimiser, the schedule."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from mnist_cnn import train as T
from mnist_cnn.data import load_mnist
from mnist_cnn.reference import network as net
from mnist_cnn.train.optim import SGDMomentum, learning_rate

TINY = ["--limit", "256", "--batch-size", "32", "--no-progress"]


def run_cli(capsys, *argv):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    try:
        code = T.main(list(argv))
    except SystemExit as exc:  # argparse exits by itself
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny run through the CLI: 256 train + 256 val images, 20 steps of 32."""
    out = tmp_path_factory.mktemp("run")
    code = T.main(["--epochs", "3", "--max-steps", "20", "--split", "train", "--seed", "3",
                   "--out", str(out), *TINY])
    assert code == 0
    return out


# --------------------------------------------------------------------------- CLI


def test_help_reads_well(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    assert "train" in out and "evaluate" in out and "examples:" in out
    code, out, _ = run_cli(capsys, "train", "--help")
    assert code == 0
    for option in ("--epochs", "--batch-size", "--lr", "--seed", "--out", "--momentum",
                   "--weight-decay", "--shift", "--split", "--max-steps", "--warmup-epochs"):
        assert option in out
    assert "(default: 15)" in out  # defaults are shown


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["--epochs", "-1"], ["--epochs", ">= 1", "-1"]),
        (["--epochs", "0"], ["argument --epochs: must be >= 1; got 0"]),
        (["--epochs", "two"], ["--epochs", "must be an integer"]),
        (["--lr", "0"], ["argument --lr: must be > 0; got 0"]),
        (["--lr", "-0.1"], ["--lr", "must be > 0"]),
        (["--lr", "nan"], ["--lr", "must be > 0"]),
        (["--momentum", "1"], ["--momentum", "must be >= 0 and < 1"]),
        (["--weight-decay=-1e-4"], ["--weight-decay", "must be >= 0"]),
        (["--batch-size", "0"], ["--batch-size", "must be >= 1"]),
        (["--shift", "-2"], ["--shift", "must be >= 0"]),
        (["--split", "test"], ["invalid choice", "'test'", "train_full"]),
        (["--split", "banana"], ["invalid choice", "'banana'"]),
        (["--no-such-option"], ["unrecognized arguments"]),
        (["--epochs", "2", "--warmup-epochs", "2"], ["warmup_epochs must be in [0, epochs = 2)"]),
    ],
)
def test_bad_arguments_give_one_line_errors(capsys, argv, fragments):
    code, out, err = run_cli(capsys, *argv)
    assert_one_line_error(code, err, *fragments)
    assert out == ""


def test_train_config_rejects_bad_values():
    with pytest.raises(ValueError, match="split must be one of train, train_full"):
        T.TrainConfig(split="val")
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        T.TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        T.TrainConfig(lr=float("inf"))


# --------------------------------------------------------------------------- a tiny run


def test_tiny_run_learns_and_writes_loadable_files_atomically(trained_run):
    assert sorted(p.name for p in trained_run.iterdir()) == ["metrics.json", "weights.npz"]
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["steps"] == 20 and [e["steps"] for e in metrics["epochs"]] == [8, 8, 4]
    for epoch in metrics["epochs"]:
        assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= epoch.keys()
    assert metrics["config"]["seed"] == metrics["seed"] == 3
    assert metrics["config"]["split"] == "train" and metrics["config"]["limit"] == 256
    assert metrics["test"]["images"] == 256 and 0 <= metrics["test"]["accuracy"] <= 1
    assert metrics["wall_time_s"] > 0 and metrics["peak_rss_mib"] > 0  # pytest's own peak
    assert "--max-steps 20" in metrics["command"]

    # The loss went down: trained weights against the seed's initial weights, same images.
    params = T.load_weights(trained_run / "weights.npz")
    images, labels = load_mnist("train")
    images, labels = images[:256], labels[:256]
    init = net.init_params(T.seed_streams(3)[0])
    before = T.evaluate(init, images, labels)["loss"]
    after = T.evaluate(params, images, labels)["loss"]
    print(f"loss on the 256 training images: {before:.3f} -> {after:.3f}")
    assert after < 0.6 * before
    assert metrics["epochs"][-1]["train_loss"] < metrics["epochs"][0]["train_loss"]


def test_the_command_in_a_fresh_process_stays_under_1_gib(tmp_path):
    """A real `python -m mnist_cnn.train`: exit code 0, and the peak memory of a process that
    holds all 60,000 training images in float32, as the full run does."""
    command = [sys.executable, "-m", "mnist_cnn.train", "--split", "train_full", "--max-steps",
               "3", "--limit", "192", "--out", str(tmp_path), "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout and "peak RSS" in done.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    print(f"peak RSS {metrics['peak_rss_mib']:.0f} MiB")
    assert 0 < metrics["peak_rss_mib"] < 1024
    bad = subprocess.run([sys.executable, "-m", "mnist_cnn.train", "--lr", "0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "--lr: must be > 0" in bad.stderr


def test_evaluate_round_trips(trained_run, capsys):
    params = T.load_weights(trained_run / "weights.npz")
    assert all(params[k].dtype == np.float32 for k in net.PARAM_NAMES)
    images, labels = load_mnist("test")
    expected = T.evaluate(params, images[:256], labels[:256], batch_size=100)
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert expected["correct"] == metrics["test"]["correct"]
    code, out, err = run_cli(capsys, "evaluate", str(trained_run / "weights.npz"),
                             "--limit", "256", "--batch-size", "64")
    assert code == 0, err
    assert f"test accuracy {100 * expected['accuracy']:.2f}% ({expected['correct']}/256)" in out


def test_save_weights_is_atomic(tmp_path, monkeypatch):
    params = net.init_params(np.random.default_rng(0))
    target = tmp_path / "weights.npz"
    T.save_weights(target, params)
    before = target.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    changed = {k: v + 1 for k, v in params.items()}
    with pytest.raises(OSError, match="disk full"):
        T.save_weights(target, changed)
    assert target.read_bytes() == before  # the old file is intact ...
    assert [p.name for p in tmp_path.iterdir()] == ["weights.npz"]  # ... and no temp file is left


# --------------------------------------------------------------------------- bad weight files


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.fixture
def good_arrays():
    return {k: v for k, v in net.init_params(np.random.default_rng(1)).items()}


def test_bad_weight_files_give_one_line_errors(tmp_path, capsys, good_arrays):
    cases = {}
    cases["missing"] = (tmp_path / "nope.npz", ["weights file not found", "nope.npz"])
    (tmp_path / "garbage.npz").write_bytes(b"this is not a zip file at all")
    cases["garbage"] = (tmp_path / "garbage.npz", ["is not a readable .npz file"])
    full = _write_npz(tmp_path / "full.npz", **good_arrays).read_bytes()
    (tmp_path / "truncated.npz").write_bytes(full[: len(full) // 2])
    cases["truncated"] = (tmp_path / "truncated.npz", ["is not a readable .npz file"])
    cases["missing key"] = (
        _write_npz(tmp_path / "nokey.npz",
                   **{k: v for k, v in good_arrays.items() if k != "w_fc2"}),
        ["lacks w_fc2"])
    cases["wrong shape"] = (
        _write_npz(tmp_path / "shape.npz", **{**good_arrays, "w_fc1": np.zeros((500, 2881),
                                                                               np.float32)}),
        ["w_fc1 must have shape (500, 2880); got (500, 2881)"])
    cases["wrong dtype"] = (
        _write_npz(tmp_path / "dtype.npz", **{**good_arrays, "b_conv": np.zeros(20, np.int32)}),
        ["b_conv must be float32 or float64; got int32"])
    cases["mixed dtypes"] = (
        _write_npz(tmp_path / "mixed.npz",
                   **{**good_arrays, "b_fc2": good_arrays["b_fc2"].astype(np.float64)}),
        ["mix dtypes"])
    bad = good_arrays["w_conv"].copy()
    bad[0, 0, 0, 0] = np.nan
    cases["nan"] = (_write_npz(tmp_path / "nan.npz", **{**good_arrays, "w_conv": bad}),
                    ["non-finite", "w_conv"])
    np.save(tmp_path / "single.npy", good_arrays["w_conv"])
    cases["npy"] = (tmp_path / "single.npy", ["single .npy array"])
    cases["directory"] = (tmp_path, ["not a file"])
    for name, (path, fragments) in cases.items():
        with pytest.raises(T.WeightsFileError):
            T.load_weights(path)
        code, out, err = run_cli(capsys, "evaluate", str(path), "--limit", "10")
        assert_one_line_error(code, err, *fragments)
        assert out == "", name


# --------------------------------------------------------------------------- reproducibility


def test_same_seed_gives_bit_identical_weights_and_another_seed_does_not():
    config = T.TrainConfig(epochs=2, max_steps=12, limit=128, batch_size=16, seed=5)
    a = T.train(config, progress=False, log=lambda line: None)
    b = T.train(config, progress=False, log=lambda line: None)
    c = T.train(T.TrainConfig(epochs=2, max_steps=12, limit=128, batch_size=16, seed=6),
                progress=False, log=lambda line: None)
    for name in net.PARAM_NAMES:
        assert a.params[name].tobytes() == b.params[name].tobytes(), name
    assert [e["train_loss"] for e in a.metrics["epochs"]] == \
        [e["train_loss"] for e in b.metrics["epochs"]]
    assert not np.array_equal(a.params["w_fc1"], c.params["w_fc1"])


def test_curve_points_are_recorded():
    config = T.TrainConfig(epochs=1, max_steps=6, limit=96, batch_size=16, split="train")
    result = T.train(config, progress=False, log=lambda line: None, curve_every=2,
                     curve_images=32)
    curve = result.metrics["curve"]
    assert [p["step"] for p in curve] == [2, 4, 6]
    assert all({"train_loss", "train_acc", "val_loss", "val_acc"} <= p.keys() for p in curve)


# --------------------------------------------------------------------------- shifts, Eq. (5.3)


def test_shift_moves_a_pixel_as_intended():
    x = np.zeros((3, 1, 28, 28), dtype=np.float32)
    x[:, 0, 10, 12] = 1.0
    shifts = np.array([[2, -1], [-2, 2], [0, 0]])
    moved = T.shift_images(x, shifts)
    assert moved.shape == x.shape and moved.dtype == np.float32
    assert moved is not x and x[:, 0, 10, 12].all()  # the input is untouched
    for n, (dy, dx) in enumerate(shifts):
        assert moved[n, 0].sum() == 1.0
        assert moved[n, 0, 10 + dy, 12 + dx] == 1.0  # down by dy, right by dx


def test_shift_matches_a_loop_reference_and_fills_with_zeros():
    rng = np.random.default_rng(0)
    x = rng.random((16, 2, 9, 7))  # float64, 2 channels, not square: nothing is special-cased
    shifts = T.random_shifts(rng, 16, 3)
    moved = T.shift_images(x, shifts)
    assert moved.dtype == np.float64
    expected = np.zeros_like(x)
    for n, (dy, dx) in enumerate(shifts):
        for m in range(9):
            for l in range(7):
                if 0 <= m - dy < 9 and 0 <= l - dx < 7:
                    expected[n, :, m, l] = x[n, :, m - dy, l - dx]
    np.testing.assert_array_equal(moved, expected)


def test_random_shifts_cover_the_range_and_zero_shift_is_a_copy():
    shifts = T.random_shifts(np.random.default_rng(1), 2000, 2)
    assert shifts.shape == (2000, 2)
    assert set(np.unique(shifts)) == {-2, -1, 0, 1, 2}
    x = np.ones((2, 1, 4, 4), np.float32)
    same = T.shift_images(x, np.zeros((2, 2), int))
    assert same is not x and np.array_equal(same, x)
    with pytest.raises(ValueError, match=r"integer array \[N, 2\]"):
        T.shift_images(x, np.zeros((3, 2), int))


# --------------------------------------------------------------------------- SGD, Eq. (5.1)


def test_momentum_sgd_equals_its_formula():
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(3)]
    rates = [0.1, 0.05, 0.02]
    mu, lam = 0.9, 0.01
    params = {"w": w0.copy()}
    opt = SGDMomentum(params, momentum=mu, weight_decay=lam)
    w, v = w0.copy(), np.zeros_like(w0)
    for g, lr in zip(grads, rates, strict=True):
        v = mu * v + (g + lam * w)
        w = w - lr * v
        opt.step({"dw": g}, lr)
        np.testing.assert_allclose(params["w"], w, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(opt.velocity["w"], v, rtol=1e-14, atol=1e-15)
    assert opt.steps == 3


def test_momentum_sgd_matches_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((5, 2)).astype(np.float32)
    grads = [rng.standard_normal((5, 2)).astype(np.float32) for _ in range(4)]
    params = {"w": w0.copy()}
    opt = SGDMomentum(params, momentum=0.9, weight_decay=5e-4)
    wt = torch.nn.Parameter(torch.from_numpy(w0.copy()))
    topt = torch.optim.SGD([wt], lr=0.05, momentum=0.9, weight_decay=5e-4)
    for g in grads:
        opt.step({"dw": g}, 0.05)
        wt.grad = torch.from_numpy(g.copy())
        topt.step()
    np.testing.assert_allclose(params["w"], wt.detach().numpy(), rtol=1e-6, atol=1e-7)


def test_momentum_sgd_keeps_float32_and_checks_its_input():
    params = {"w": np.ones(3, np.float32)}
    opt = SGDMomentum(params, momentum=0.5)
    opt.step({"dw": np.ones(3, np.float32)}, 0.1)
    assert params["w"].dtype == opt.velocity["w"].dtype == np.float32
    with pytest.raises(KeyError, match="dw"):
        opt.step({"dv": np.ones(3, np.float32)}, 0.1)
    with pytest.raises(ValueError, match="float32"):
        opt.step({"dw": np.ones(3)}, 0.1)
    with pytest.raises(ValueError, match="lr"):
        opt.step({"dw": np.ones(3, np.float32)}, 0.0)
    with pytest.raises(ValueError, match="momentum"):
        SGDMomentum(params, momentum=1.0)


# --------------------------------------------------------------------------- schedule, Eq. (5.2)


def test_learning_rate_warmup_then_cosine():
    total, warm, base = 100, 10, 0.05
    rates = [learning_rate(t, total, base, warm) for t in range(total)]
    assert rates[:warm] == pytest.approx([base * (t + 1) / warm for t in range(warm)])
    assert rates[warm] == pytest.approx(base)
    midpoint = warm + (total - warm) // 2
    assert rates[midpoint] == pytest.approx(base / 2)
    assert all(a >= b for a, b in zip(rates[warm:], rates[warm + 1:], strict=False))
    assert 0 < rates[-1] < 1e-3 * base
    assert learning_rate(0, 1, base) == base
    assert learning_rate(50, 100, base) == pytest.approx(base * 0.5 * (1 + math.cos(math.pi / 2)))
    with pytest.raises(ValueError, match="step must be < total_steps"):
        learning_rate(100, 100, base)
    with pytest.raises(ValueError, match="warmup_steps must be < total_steps"):
        learning_rate(0, 10, base, 10)


def test_accuracy_and_predict():
    y = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert T.accuracy(y, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    params = net.init_params(np.random.default_rng(4))
    x = np.random.default_rng(5).random((7, 1, 28, 28), dtype=np.float32)
    # Another batch size may block the matrix products differently: equal up to rounding.
    np.testing.assert_allclose(T.predict(params, x, batch_size=3), net.forward(params, x)[0],
                               rtol=1e-5, atol=1e-7)


def test_confusion_matrix_counts_pairs():
    labels = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 0, 2])
    expected = np.zeros((3, 3), int)
    for a, b in zip(labels, predicted, strict=True):
        expected[a, b] += 1
    matrix = T.confusion_matrix(labels, predicted, classes=3)
    np.testing.assert_array_equal(matrix, expected)
    assert np.trace(matrix) / len(labels) == T.accuracy(np.eye(3)[predicted], labels)
    with pytest.raises(ValueError, match=r"lie in \[0, 2\]"):
        T.confusion_matrix(labels, predicted + 1, classes=3)


# --------------------------------------------------------------------------- the fast paths


def test_need_dx_false_changes_no_gradient():
    params = net.init_params(np.random.default_rng(6))
    x = np.random.default_rng(7).random((8, 1, 28, 28), dtype=np.float32)
    labels = np.arange(8) % 10
    loss_a, grads_a, inter_a = net.loss_and_grads(params, x, labels)
    loss_b, grads_b, inter_b = net.loss_and_grads(params, x, labels, need_dx=False)
    assert loss_a == loss_b and inter_b["dx"] is None and inter_a["dx"].shape == x.shape
    for name in net.GRAD_NAMES:
        assert np.array_equal(grads_a[name], grads_b[name]), name


def test_fast_max_pool_routes_like_the_im2col_form_and_gives_no_negative_zeros():
    from mnist_cnn import layers

    rng = np.random.default_rng(8)
    z = rng.standard_normal((4, 3, 24, 24)).astype(np.float32)
    z[:, :, :6, :6] = 0.5  # whole windows of ties: the first (row-major) entry must win
    out, cache = layers.maxpool_forward(z)
    out2, cache2 = layers.maxpool_forward_im2col(z, 2)
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_array_equal(cache.argmax, cache2.argmax)
    assert cache.argmax.dtype == np.intp and (cache.argmax[:, :, :3, :3] == 0).all()
    dout = -np.abs(rng.standard_normal(out.shape)).astype(np.float32)  # all negative
    dz = layers.maxpool_backward(dout, cache)
    np.testing.assert_array_equal(dz, layers.maxpool_backward(dout, cache2))
    assert not np.signbit(dz[dz == 0]).any()  # +0.0 where nothing is routed, as before
