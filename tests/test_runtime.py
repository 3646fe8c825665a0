"""BLAS threads and the runtime helpers of mnist_cnn.tools.runtime."""

from __future__ import annotations

import pytest

from mnist_cnn.tools import runtime


def test_blas_threads_can_be_read_and_set():
    before = runtime.blas_threads()
    if before is None:
        pytest.skip("numpy's BLAS is not an OpenBLAS this helper can find")
    try:
        assert runtime.set_blas_threads(1) == 1
        assert runtime.blas_threads() == 1
    finally:
        runtime.set_blas_threads(before)
    assert runtime.blas_threads() == before
    with pytest.raises(ValueError, match=">= 1"):
        runtime.set_blas_threads(0)


def test_environment_and_peak_memory_are_reported():
    env = runtime.environment()
    assert {"python", "numpy", "platform", "cpu_count", "blas_threads"} <= set(env)
    assert runtime.peak_rss_mib() > 0
    assert "numpy" in runtime.machine_summary()
