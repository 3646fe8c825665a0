"""Tests of mnist_cnn.data.load: the loader, on the shipped ``data/mnist.npz``."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from mnist_cnn.data import (
    ChecksumMismatchError,
    DataFileMissingError,
    MnistDataError,
    default_data_path,
    load,
)

SHIPPED_NPZ = default_data_path()
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --- Fake source pickle ----------------------------------------------------------

def test_load_test_split():
    images, labels = load.load_mnist("test")
    assert images.shape == (10_000, 1, 28, 28)
    assert images.dtype == np.float32
    assert labels.shape == (10_000,)
    assert labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert np.bincount(labels, minlength=10).tolist() == TEST_LABEL_COUNTS


def test_load_float64_and_scaling():
    images64, _ = load.load_mnist("test", dtype=np.float64)
    images32, _ = load.load_mnist("test")
    assert images64.dtype == np.float64
    with np.load(SHIPPED_NPZ) as npz:
        pixels = npz["test_images"]
    np.testing.assert_array_equal(images64[:, 0], pixels / 255.0)
    np.testing.assert_allclose(images32, images64, rtol=1e-7, atol=0)


def test_split_sizes_and_train_full_is_train_then_val():
    train_images, train_labels = load.load_mnist("train")
    val_images, val_labels = load.load_mnist("val")
    full_images, full_labels = load.load_mnist("train_full")
    assert train_images.shape == (50_000, 1, 28, 28) and train_labels.shape == (50_000,)
    assert val_images.shape == (10_000, 1, 28, 28) and val_labels.shape == (10_000,)
    assert full_images.shape == (60_000, 1, 28, 28)
    np.testing.assert_array_equal(full_images, np.concatenate([train_images, val_images]))
    np.testing.assert_array_equal(full_labels, np.concatenate([train_labels, val_labels]))


def test_returned_arrays_are_independent_of_the_cache():
    images, labels = load.load_mnist("val")
    images[:] = -1
    labels[:] = -1
    again_images, again_labels = load.load_mnist("val")
    assert again_images.min() == 0.0
    assert again_labels.min() == 0


def test_env_var_chooses_file(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.npz"
    monkeypatch.setenv(load.DATA_PATH_ENV_VAR, str(missing))
    with pytest.raises(DataFileMissingError) as excinfo:
        load.load_mnist("test")
    assert str(missing) in str(excinfo.value)
    assert load.DATA_PATH_ENV_VAR in str(excinfo.value)


def test_corrupted_copy_fails_checksum(tmp_path):
    copy = tmp_path / "mnist.npz"
    shutil.copyfile(SHIPPED_NPZ, copy)
    shutil.copyfile(SHIPPED_NPZ.with_name("mnist.npz.sha256"), tmp_path / "mnist.npz.sha256")
    raw = bytearray(copy.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))
    with pytest.raises(ChecksumMismatchError) as excinfo:
        load.load_mnist("test", path=copy)
    assert str(copy) in str(excinfo.value)
    assert (tmp_path / "mnist.npz.sha256").read_text().split()[0] in str(excinfo.value)


def test_missing_file_error_names_path_and_rebuild(tmp_path):
    missing = tmp_path / "absent.npz"
    with pytest.raises(DataFileMissingError) as excinfo:
        load.load_mnist("test", path=missing)
    assert isinstance(excinfo.value, FileNotFoundError)
    assert isinstance(excinfo.value, MnistDataError)
    assert str(missing) in str(excinfo.value)
    assert "python -m mnist_cnn.book.data_build build" in str(excinfo.value)


def test_bad_split():
    with pytest.raises(ValueError, match="train, val, train_full, test"):
        load.load_mnist("validation")


@pytest.mark.parametrize("dtype", [np.float16, np.uint8, np.int64, "not a dtype", None])
def test_bad_dtype(dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        load.load_mnist("test", dtype=dtype)


# --- IDX files -----------------------------------------------------------------------




# --- Bad files whose checksum record was rebuilt: checked before they are read -------------


def _npy_member(shape, dtype, data=b"", header_override=None):
    """The bytes of one .npy member, its header written by hand (so it can lie)."""
    header = header_override or repr({"descr": np.dtype(dtype).str, "fortran_order": False,
                                      "shape": tuple(shape)})
    header = header.encode("latin1")
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + data


def _good_arrays(n=4):
    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 10, n).astype(np.uint8)
    return arrays


def _write(path, arrays=None, raw=None):
    """An npz of ``arrays`` (plus raw members) and a matching .sha256 record."""
    import hashlib
    import io
    import zipfile

    if raw is None or arrays is not None:
        buffer = io.BytesIO()
        np.savez(buffer, **(arrays if arrays is not None else _good_arrays()))
        payload = buffer.getvalue()
    if raw is not None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, member in _good_arrays().items():
                if name not in raw:
                    archive.writestr(name + ".npy", _npy_member(member.shape, member.dtype,
                                                                member.tobytes()))
            for name, member in raw.items():
                archive.writestr(name + ".npy", member)
        payload = buffer.getvalue()
    path.write_bytes(payload)
    path.with_name(path.name + ".sha256").write_text(
        f"{hashlib.sha256(payload).hexdigest()}  {path.name}\n")
    return path


def _with(**changes):
    arrays = _good_arrays()
    arrays.update(changes)
    return arrays


def _bad_data_files(tmp):
    """(label, path maker, fragment of the error message)."""
    p = tmp / "mnist.npz"
    return [
        ("label 200", lambda: _write(p, _with(test_labels=np.array([0, 1, 200, 3], np.uint8))),
         "test_labels must lie in 0..9; got values from 0 to 200"),
        ("label -3", lambda: _write(p, _with(val_labels=np.array([0, -3, 2, 3], np.int8))),
         "val_labels must lie in 0..9; got values from -3 to 3"),
        ("float labels", lambda: _write(p, _with(train_labels=np.array([3.7, 1, 2, 3]))),
         "train_labels must be integers; got float64 (float labels would be truncated)"),
        ("bool labels", lambda: _write(p, _with(train_labels=np.ones(4, bool))),
         "train_labels must be integers; got bool"),
        ("empty split", lambda: _write(p, _with(test_images=np.zeros((0, 28, 28), np.uint8),
                                                test_labels=np.zeros(0, np.uint8))),
         "the test split is empty (0 images)"),
        ("text file", lambda: (p.write_text("hello, I am text\n"), _rehash(p))[-1],
         "is a text file, not an .npz archive"),
        ("single npy", lambda: (np.save(tmp / "x.npy", np.zeros(3)),
                                (tmp / "x.npy").replace(p), _rehash(p))[-1],
         "is a single .npy array, not an .npz archive"),
        ("empty file", lambda: (p.write_bytes(b""), _rehash(p))[-1], "is empty"),
        ("corrupt npy header", lambda: _write(p, raw={"test_labels": _npy_member(
            (4,), np.uint8, b"\0" * 4, header_override="{'descr': <garbage>")}),
         "is not a readable .npz archive"),
        ("not npy magic", lambda: _write(p, raw={"test_labels": b"GARBAGE" * 20}),
         "is not a readable .npz archive"),
        ("object array", lambda: _write(p, raw={"test_labels": _npy_member(
            (4,), object, b"\0" * 32)}), "holds Python objects (object), which only pickle"),
        ("huge declared shape", lambda: _write(p, raw={"test_images": _npy_member(
            (500, 10**12), np.uint8, b"\0" * 100)}), "at most 78,400,000 are expected"),
        ("1 GB of zeros declared", lambda: _write(p, raw={"train_images": _npy_member(
            (1_500_000, 28, 28), np.uint8, b"\0" * 1000)}), "at most 78,400,000 are expected"),
        ("header and data disagree", lambda: _write(p, raw={"val_images": _npy_member(
            (4, 28, 28), np.uint8, b"\0" * 100)}), "but holds 100 bytes of data"),
        ("missing key", lambda: _write(p, {k: v for k, v in _good_arrays().items()
                                           if k != "val_labels"}), "lacks val_images/_labels"),
        ("float images", lambda: _write(p, _with(train_images=np.zeros((4, 28, 28)))),
         "train_images must be uint8 [n, 28, 28], got float64 (4, 28, 28)"),
        ("images 2-D", lambda: _write(p, _with(train_images=np.zeros((4, 784), np.uint8))),
         "train_images must be uint8 [n, 28, 28]"),
        ("label count", lambda: _write(p, _with(train_labels=np.zeros(3, np.uint8))),
         "train_labels has shape (3,), expected (4,)"),
        ("truncated zip", lambda: _truncate(_write(p)), "not a readable .npz archive"),
        ("a folder", lambda: (p.mkdir(), p)[-1], "MNIST data file not found"),
    ]


def _rehash(path):
    import hashlib

    path.with_name(path.name + ".sha256").write_text(
        f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n")
    return path


def _truncate(path):
    path.write_bytes(path.read_bytes()[:3000])
    return _rehash(path)


BAD_DATA_COUNT = 20


@pytest.mark.parametrize("case", range(BAD_DATA_COUNT))
def test_bad_data_files_raise_the_documented_error_before_reading(tmp_path, monkeypatch, case):
    label, make, fragment = _bad_data_files(tmp_path)[case]
    assert len(_bad_data_files(tmp_path)) == BAD_DATA_COUNT
    path = make()
    reads = []
    real_load = np.load
    monkeypatch.setattr(load.np, "load", lambda *a, **k: reads.append(a) or real_load(*a, **k))
    with pytest.raises(MnistDataError) as info:
        load.load_mnist("test", path=path)
    assert fragment in str(info.value), (label, str(info.value))
    header_cases = ("huge declared shape", "1 GB of zeros declared", "object array",
                    "float labels", "empty split", "text file", "header and data disagree")
    if label in header_cases:
        assert reads == [], f"{label}: the data was read before the headers were checked"


def test_the_clis_turn_a_bad_data_file_into_one_line_and_exit_2(tmp_path, monkeypatch, run_cli,
                                                                 clear_error):
    _write(tmp_path / "mnist.npz", _with(test_labels=np.array([0, 1, 200, 3], np.uint8)))
    monkeypatch.setenv("MNIST_CNN_DATA", str(tmp_path / "mnist.npz"))
    from mnist_cnn.reference.network import init_params
    from mnist_cnn.train import save_weights

    weights = save_weights(tmp_path / "w.npz", init_params(np.random.default_rng(0), np.float32))
    code, out, err = run_cli("evaluate", str(weights))
    clear_error(code, err, "test_labels must lie in 0..9")
    code, out, err = run_cli("--out", str(tmp_path / "run"), "--no-progress")
    clear_error(code, err, "test_labels must lie in 0..9")
