"""The linters stay clean: ruff over the sources and tests, mypy over the package (configured in pyproject.toml).

Run as tests so that the README's test command, and so CI, refuses a change that breaks
them; the modules mypy does not check yet are listed in pyproject.toml as typing debt.
"""

from __future__ import annotations

import subprocess
import sys
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
