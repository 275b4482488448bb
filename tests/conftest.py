"""Shared fixtures: an isolated MLflow store and training cache per test session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


def store_client(home: Path):  # noqa: ANN201 - MlflowClient
    """A client of the test home's default SQLite store."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")


def store_runs(home: Path):  # noqa: ANN201 - list of mlflow Run
    """Every run in the test home's default SQLite store (empty if there is no store)."""
    if not (home / "mlruns" / "mlflow.db").exists():
        return []
    client = store_client(home)
    experiments = client.search_experiments()
    return client.search_runs([e.experiment_id for e in experiments]) if experiments else []
