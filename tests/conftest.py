"""Shared fixtures: an isolated MLflow store and training cache per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tinyexp_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory holding this test session's mlruns/ store and training cache."""
    return tmp_path_factory.mktemp("tinyexp_home")


@pytest.fixture(scope="session")
def run_tinyexp(tinyexp_home: Path):
    """Run `python -m tinyexp ARGS` in the test home; return the CompletedProcess."""

    def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, TINYEXP_CACHE_DIR=str(tinyexp_home / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
        return subprocess.run([sys.executable, "-m", "tinyexp", *args], cwd=tinyexp_home, env=env,
                              capture_output=True, text=True, timeout=timeout)

    return run
