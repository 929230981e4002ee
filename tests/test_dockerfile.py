"""The image builds from the lock file alone and keeps its data in a volume. Checked
without a Docker engine: hadolint lints the Dockerfile, and the lock is compared with
pyproject.toml (the steps themselves were run in a fresh venv; see README)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
LOCK = (ROOT / "requirements.lock").read_text()


def _locked() -> dict[str, str]:
    pins: dict[str, str] = {}
    for match in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", LOCK, re.MULTILINE):
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def test_the_data_lives_in_a_volume() -> None:
    assert re.search(r'^VOLUME \["/data"\]$', DOCKERFILE, re.MULTILINE)
    assert "PARLEY_DATABASE_URL=sqlite:////data/parley.db" in DOCKERFILE


def test_dependencies_come_from_the_lock_only() -> None:
    installs = re.findall(r"pip install[^\n]*", DOCKERFILE)
    assert installs == [
        "pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock",
        "pip install --no-cache-dir --no-deps --no-build-isolation . \\",
    ]
    # Every pinned package carries its hashes.
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", LOCK.strip())
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)


def test_the_lock_satisfies_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = _locked()
    wanted = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    wanted += [Requirement(r) for r in pyproject["build-system"]["requires"]]
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in requirements.lock (run make lock)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{requirement.name}=={pins[name]} does not satisfy {requirement.specifier}"
        )
    # The extras asked for are locked too.
    for extra_package in ("psycopg-binary", "uvloop", "httptools", "watchfiles"):
        assert extra_package in pins


def test_hadolint_finds_nothing() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.fail("hadolint is missing: it comes with the dev dependencies (make install)")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
