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
    assert "python -m mnist_cnn.data build" in str(excinfo.value)


def test_bad_split():
    with pytest.raises(ValueError, match="train, val, train_full, test"):
        load.load_mnist("validation")


@pytest.mark.parametrize("dtype", [np.float16, np.uint8, np.int64, "not a dtype", None])
def test_bad_dtype(dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        load.load_mnist("test", dtype=dtype)


# --- IDX files -----------------------------------------------------------------------


