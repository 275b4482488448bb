"""A finished sweep served by a real `mlflow server`, shared by the server and UI tests: the
sweep and the server start cost tens of seconds, and neither test changes the store. A tiny
converted model for the remote-board tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers.mlflow_server import Server, mlflow_server, run_sweep
from tests.helpers.models import convert_dense


@pytest.fixture(scope="session")
def served_sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """A fresh home holding one finished sweep, and a running server on its store."""
    home = tmp_path_factory.mktemp("mlflow_server")
    run_sweep(home)
    with mlflow_server(home) as server:
        yield server, home


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A float32 1 -> 8 -> 1 network converted by the real TFLite converter (the remote-board tests)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    path = tmp_path_factory.mktemp("remote") / "tiny.tflite"
    path.write_bytes(convert_dense([8], "float32"))
    return path
