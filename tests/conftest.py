"""Shared pytest setup: a headless plotting backend, a CI-sized hypothesis profile, a tiny run."""

import os
from pathlib import Path

import matplotlib
import pytest
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

# Loop implementations are slow by design, so keep examples few and drop the deadline.
settings.register_profile(
    "book",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.load_profile("book")


def _run_cli(capsys, *argv):
    """Run ``python -m mnist_cnn.train`` in-process; return (exit code, stdout, stderr)."""
    from mnist_cnn.train.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse exits by itself
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def run_cli(capsys):
    """``run_cli(*argv) -> (code, stdout, stderr)`` for the training command line."""
    return lambda *argv: _run_cli(capsys, *argv)


def assert_clear_error(code, err, *fragments):
    """Exit code 2, no traceback, and the last line names the problem."""
    assert code == 2, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in last, (fragment, err)


@pytest.fixture
def clear_error():
    return assert_clear_error


#: Options of a tiny training run.
TINY_RUN = ["--limit", "256", "--batch-size", "32", "--no-progress"]


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """One tiny run through the CLI: 256 train + 256 val images, 20 steps of 32."""
    from mnist_cnn.train.cli import main

    out = tmp_path_factory.mktemp("run")
    code = main(["--epochs", "3", "--max-steps", "20", "--split", "train", "--seed", "3",
                 "--out", str(out), *TINY_RUN])
    assert code == 0
    return out


@pytest.fixture(scope="session")
def built_or_given(tmp_path_factory):
    """``get(variable, name, build)``: the folder a make target writes, to test.

    ``$variable`` when it is set (``make test`` builds the folder first and passes it), else
    a fresh temporary folder ``name`` that ``build(folder)`` fills here.
    """

    def get(variable: str, name: str, build) -> Path:
        given = os.environ.get(variable)
        if given:
            return Path(given)
        out = tmp_path_factory.mktemp(name)
        build(out)
        return out

    return get
