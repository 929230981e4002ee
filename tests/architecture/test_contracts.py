"""The import contracts in pyproject.toml are the ones the package layout calls for (a
new module or domain must be covered), and they hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.architecture import contracts


def test_pyproject_contracts_cover_every_module() -> None:
    expected = contracts.render().rstrip("\n") + "\n"
    assert contracts.current() == expected, (
        "regenerate: python -m tests.architecture.contracts, paste over [tool.importlinter]"
    )


def test_every_domain_is_a_leaf() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint_imports is None:
        pytest.skip("import-linter is not installed")
    result = subprocess.run(
        [lint_imports, "--no-cache"],
        cwd=contracts.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
