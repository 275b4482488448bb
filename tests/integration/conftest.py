"""A finished sweep served by a real `mlflow server`, shared by the server and UI tests: the
sweep and the server start cost tens of seconds, and neither test changes the store."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers.mlflow_server import Server, mlflow_server, run_sweep


@pytest.fixture(scope="session")
def served_sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """A fresh home holding one finished sweep, and a running server on its store."""
    home = tmp_path_factory.mktemp("mlflow_server")
    run_sweep(home)
    with mlflow_server(home) as server:
        yield server, home
