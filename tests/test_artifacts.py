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


def _with_raw_member(path, arrays, name, shape, descr="<f4"):
    """An npz of ``arrays`` plus a member ``name`` whose header declares ``shape`` (little data)."""
    import zipfile

    _write_npz(path, **arrays)
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    member = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 4096
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name + ".npy", member)
    return path


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.fixture
def good_arrays():
    return {k: v for k, v in net.init_params(np.random.default_rng(1)).items()}


def test_bad_weight_files_give_clear_errors(tmp_path, run_cli, clear_error, good_arrays,
                                            monkeypatch):
    cases = {}
    cases["missing"] = (tmp_path / "nope.npz", ["weights file not found", "nope.npz"])
    (tmp_path / "garbage.npz").write_bytes(b"this is not a zip file at all")
    cases["garbage"] = (tmp_path / "garbage.npz", ["is a text file, not an .npz archive"])
    (tmp_path / "binary.npz").write_bytes(bytes(range(256)))
    cases["binary"] = (tmp_path / "binary.npz", ["not an .npz archive (no zip signature"])
    full = _write_npz(tmp_path / "full.npz", **good_arrays).read_bytes()
    (tmp_path / "truncated.npz").write_bytes(full[: len(full) // 2])
    cases["truncated"] = (tmp_path / "truncated.npz", ["is not a readable .npz"])
    # Issue 11: headers that declare huge arrays are refused before anything is allocated.
    huge = {**good_arrays}
    del huge["w_fc1"]
    cases["huge header"] = (_with_raw_member(tmp_path / "huge.npz", huge, "w_fc1", (500, 10**12)),
                            ["w_fc1 declares shape (500, 1000000000000)"])
    cases["1 GB of zeros"] = (
        _with_raw_member(tmp_path / "zeros.npz", huge, "w_fc1", (500, 575_000)),
        ["w_fc1 declares shape (500, 575000) float32, 1,150,000,000 bytes"])
    cases["object array"] = (
        _with_raw_member(tmp_path / "object.npz", huge, "w_fc1", (500, 2880), "|O"),
        ["w_fc1 holds Python objects"])
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
    real_load, reads = np.load, []
    for name, (path, fragments) in cases.items():
        reads.clear()
        with monkeypatch.context() as patch:
            patch.setattr(np, "load", lambda *a, **k: reads.append(a) or real_load(*a, **k))
            with pytest.raises(T.WeightsFileError):
                T.load_weights(path)
        if name in ("huge header", "1 GB of zeros", "object array"):
            assert reads == [], f"{name}: read before the headers were checked"
        code, out, err = run_cli("evaluate", str(path), "--limit", "10")
        clear_error(code, err, *fragments)
        assert out == "", name


