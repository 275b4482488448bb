"""A board on another host: the measuring path through rfc2217://127.0.0.1:PORT.

The virtual board runs on its pseudo-terminal; agent.rfc2217_server (pyserial's RFC 2217
port manager) serves that pty on a TCP port of 127.0.0.1, and the agent session measures
through the URL exactly as it would a local port. Only the board is virtual.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from agent.board_process import board_process
from agent.errors import DeviceError
from agent.session import measure_board
from tests.helpers import ROOT
from tests.helpers.models import convert_dense
from tinyexp.core.config import BoardConfig
from tinyexp.device.virtual import virtual_board_command
from tinyexp.tflm.runtime import TflmModel

BOARD = BoardConfig(name="remoteboard", mcu="virtual", clock_hz=64_000_000, flash_bytes=983_040, ram_bytes=262_144)
LATENCY_US = 321.0
SAMPLES = [[0.5], [2.0], [-1.25]]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A float32 1 -> 8 -> 1 network converted by the real TFLite converter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    path = tmp_path_factory.mktemp("remote") / "tiny.tflite"
    path.write_bytes(convert_dense([8], "float32"))
    return path


def _board(model: Path):  # noqa: ANN202 - context manager yielding the pty path
    return board_process(virtual_board_command(str(model), BOARD, latency_us=LATENCY_US))


@contextlib.contextmanager
def rfc2217_server(serial_port: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python -m agent.rfc2217_server` on ``serial_port``; yields its URL (first stdout line)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "agent.rfc2217_server", "--serial", serial_port],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert select.select([proc.stdout], [], [], 30)[0], "the server printed no URL within 30 s"
        yield proc.stdout.readline().decode().strip(), proc
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_measure_a_virtual_board_through_rfc2217(tiny_model: Path) -> None:
    model = tiny_model.read_bytes()
    with _board(tiny_model) as pty, rfc2217_server(pty) as (url, _):
        assert url.startswith("rfc2217://127.0.0.1:")
        first = measure_board(url, model, SAMPLES, "float32", warmup=1, invokes=5, timeout_s=10)
        again = measure_board(url, model, SAMPLES[:1], "float32", warmup=0, invokes=2, timeout_s=10)  # next client
    host = TflmModel(model, 1 << 20)
    expected = [host.invoke(np.array(s, np.float32)).reshape(-1).tolist() for s in SAMPLES]
    assert [list(o) for o in first.outputs] == expected
    assert first.stats["n"] == 5 and first.stats["mean_us"] == LATENCY_US
    assert first.identity["board"] == "remoteboard" and first.identity["latency_source"] == "estimate"
    assert [list(o) for o in again.outputs] == expected[:1] and again.stats["n"] == 2


def test_a_stopped_server_is_one_clear_error(tiny_model: Path) -> None:
    with _board(tiny_model) as pty, rfc2217_server(pty) as (url, proc):
        pass
    assert proc.returncode == 0, proc.stderr.read().decode()
    start = time.monotonic()
    with pytest.raises(DeviceError, match=f"cannot open serial port {url}"):
        measure_board(url, tiny_model.read_bytes(), 1, warmup=0, invokes=1, timeout_s=5)
    assert time.monotonic() - start < 15


def test_server_refuses_a_missing_serial_port_in_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "agent.rfc2217_server", "--serial", str(tmp_path / "ttyNONE")],
                          input=b"", capture_output=True, env=env, timeout=30)
    err = done.stderr.decode().strip()
    assert done.returncode == 1 and len(err.splitlines()) == 1 and "ttyNONE" in err, err
