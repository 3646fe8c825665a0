"""The weights file: atomic writes, and a clear error for every kind of bad file."""

from __future__ import annotations

import os

import numpy as np
import pytest

from mnist_cnn import train as T
from mnist_cnn.reference import network as net


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


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.fixture
def good_arrays():
    return {k: v for k, v in net.init_params(np.random.default_rng(1)).items()}


def test_bad_weight_files_give_clear_errors(tmp_path, run_cli, clear_error, good_arrays):
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
        code, out, err = run_cli("evaluate", str(path), "--limit", "10")
        clear_error(code, err, *fragments)
        assert out == "", name


