"""The training loop: a tiny run learns, one seed gives one set of weights, shifts, Eq. (5.3)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnist_cnn import train as T
from mnist_cnn.architecture import PARAM_NAMES
from mnist_cnn.data import load_mnist
from mnist_cnn.reference import network as net


def test_train_config_rejects_bad_values():
    with pytest.raises(ValueError, match="split must be one of train, train_full"):
        T.TrainConfig(split="val")
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        T.TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        T.TrainConfig(lr=float("inf"))


def test_tiny_run_learns_and_writes_loadable_files_atomically(trained_run):
    assert sorted(p.name for p in trained_run.iterdir()) == [
        "checkpoint.npz", "manifest.json", "metrics.json", "weights.npz"]
    assert T.verify_results(trained_run)  # the manifest names this pair
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["steps"] == 20 and [e["steps"] for e in metrics["epochs"]] == [8, 8, 4]
    for epoch in metrics["epochs"]:
        assert {"train_loss", "train_acc", "val_loss", "val_acc"} <= epoch.keys()
    assert metrics["config"]["seed"] == metrics["seed"] == 3
    assert metrics["config"]["split"] == "train" and metrics["config"]["limit"] == 256
    assert metrics["test"]["images"] == 256 and 0 <= metrics["test"]["accuracy"] <= 1
    assert metrics["wall_time_s"] > 0 and metrics["peak_rss_mib"] > 0  # pytest's own peak
    # The data path (shuffling, batching, shifts) is timed inside the training time.
    assert 0 < metrics["data_path_s"] < metrics["train_time_s"] <= metrics["wall_time_s"]
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


def test_same_seed_gives_bit_identical_weights_and_another_seed_does_not():
    config = T.TrainConfig(epochs=2, max_steps=12, limit=128, batch_size=16, seed=5)
    a = T.train(config, progress=False, log=lambda line: None)
    b = T.train(config, progress=False, log=lambda line: None)
    c = T.train(T.TrainConfig(epochs=2, max_steps=12, limit=128, batch_size=16, seed=6),
                progress=False, log=lambda line: None)
    for name in PARAM_NAMES:
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


def test_one_training_step_checks_its_input_once():
    """Checked at the door: at most 12 calls into mnist_cnn.validate per step (cProfile).

    One door, the network's: the door itself, the parameter mapping, its six arrays and ``x``
    (one ``require_array`` each) and the labels -- 11 calls; none from inside the layers.
    """
    import cProfile
    import pstats

    from mnist_cnn.reference.optim import SGDMomentum

    rng = np.random.default_rng(0)
    x = rng.random((8, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, 8)
    params = net.init_params(rng, np.float32)
    optimizer = SGDMomentum(params, momentum=0.9, weight_decay=5e-4)
    T.train_step(params, optimizer, x, labels, 0.01)  # warm-up
    profile = cProfile.Profile()
    profile.enable()
    T.train_step(params, optimizer, x, labels, 0.01)
    profile.disable()
    calls = sum(nc for (filename, _, _), (_, nc, *_) in pstats.Stats(profile).stats.items()
                if filename.endswith("mnist_cnn/validate.py"))
    assert 1 <= calls <= 12, calls
