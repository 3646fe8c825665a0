"""mnist_cnn.tools.files: atomic writes that never touch the process umask."""

from __future__ import annotations

import os
import stat

import pytest

from mnist_cnn.tools.files import atomic_write_bytes


def test_atomic_write_never_changes_the_umask_and_honours_it(tmp_path, monkeypatch):
    old = os.umask(0o027)
    try:
        def no_umask(*args):
            raise AssertionError("os.umask was called: a process-wide change")

        monkeypatch.setattr(os, "umask", no_umask)
        atomic_write_bytes(tmp_path / "a.bin", b"abc")
        assert (tmp_path / "a.bin").read_bytes() == b"abc"
        assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o640
        monkeypatch.undo()
    finally:
        os.umask(old)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"old")

    class Boom(Exception):
        pass

    from mnist_cnn.tools.files import atomic_write

    def half_then_fail(stream):
        stream.write(b"ne")
        raise Boom

    with pytest.raises(Boom):
        atomic_write(target, half_then_fail)
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]
