"""Static checks run with the suite: lint, types (strict on fleet/) and the import layering."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def tool(name: str) -> str:
    path = shutil.which(name, path=str(ROOT / ".venv" / "bin")) or shutil.which(
        name, path=str(__import__("pathlib").Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return path


def test_ruff_is_clean() -> None:
    out = run(tool("ruff"), "check", "fleet", "sim", "tests", "bench")
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict_is_clean() -> None:
    out = run(tool("mypy"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_imports_follow_the_architecture() -> None:
    out = run(tool("lint-imports"))
    assert out.returncode == 0, out.stdout + out.stderr
