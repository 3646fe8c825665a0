"""environment.yml (conda, Binder) and pyproject.toml (pip) list the same dependencies."""

import re
from pathlib import Path

import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent


def _normalise(spec: str) -> str:
    """'numpy >= 1.26' -> 'numpy>=1.26'; names lower-case with '-' for '_'."""
    spec = spec.replace(" ", "")
    name, rest = re.match(r"([A-Za-z0-9_.\-]+)(.*)", spec).groups()
    return name.lower().replace("_", "-") + rest


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = {_normalise(s) for s in project["dependencies"]}
    pip_side |= {_normalise(s) for s in project["optional-dependencies"]["dev"]}

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    conda_side, pip_lines = set(), []
    for entry in env["dependencies"]:
        if isinstance(entry, dict):
            pip_lines.extend(entry["pip"])
        elif not entry.startswith(("python", "pip")):
            conda_side.add(_normalise(entry))
    assert conda_side == pip_side, {
        "only in environment.yml": sorted(conda_side - pip_side),
        "only in pyproject.toml": sorted(pip_side - conda_side),
    }
    assert pip_lines == ["-e .[dev]"]


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
