"""The linters stay clean: ruff over the sources and tests, mypy over the package (configured in pyproject.toml).

Run as tests so that the README's test command, and so CI, refuses a change that breaks
them. Every module of the package is type-checked: no mypy override may silence one.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean():
    pytest.importorskip("ruff")
    result = _run("ruff", "check", "src", "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean():
    pytest.importorskip("mypy")
    result = _run("mypy", "src/asirp")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_no_module_is_exempt_from_type_checking():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    exempt = [override["module"] for override in config.get("overrides", []) if override.get("ignore_errors")]
    assert not exempt, f"modules exempt from mypy (fix them instead): {exempt}"
    assert not config.get("ignore_errors", False)
