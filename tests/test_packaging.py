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
    """'numpy >= 1.26' -> 'numpy>=1.26'; names lower-case with '-' for '_'; markers dropped."""
    spec = spec.split(";")[0].replace(" ", "")
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
    env_side = conda_side | {_normalise(s) for s in pip_lines}
    assert env_side == pip_side, {
        "only in environment.yml": sorted(env_side - pip_side),
        "only in pyproject.toml": sorted(pip_side - env_side),
    }
    # repo2docker builds the environment before the repository is there: no `-e .` in it;
    # postBuild installs the package instead.
    assert not any(line.startswith("-e") for line in pip_lines)
    post_build = ROOT / "postBuild"
    assert "pip install --no-deps -e ." in post_build.read_text()
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
