"""Static checks run with the suite: lint, types (strict on fleet/) and the import layering."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]'")
    return path


def test_ruff_is_clean() -> None:
    folders = [f for f in ("fleet", "sim", "tests", "bench") if (ROOT / f).is_dir()]
    out = run(tool("ruff"), "check", *folders)
    assert out.returncode == 0, out.stdout + out.stderr


def test_mypy_strict_is_clean() -> None:
    out = run(tool("mypy"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_imports_follow_the_architecture() -> None:
    out = run(tool("lint-imports"))
    assert out.returncode == 0, out.stdout + out.stderr
