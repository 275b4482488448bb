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

from agent.session import measure_board
from agent.virtual_board import VirtualBoard
from tinyexp.errors import DeviceError
from tinyexp.tflm_runtime import TflmModel

REPO = Path(__file__).resolve().parents[1]
BOARD = {"name": "remoteboard", "mcu": "virtual", "clock_hz": 64_000_000,
         "flash_bytes": 983_040, "ram_bytes": 262_144}
LATENCY_US = 321.0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A float32 2 -> 8 -> 3 network converted by the real TFLite converter."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(1)
    net = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(8, activation="tanh"),
                               tf.keras.layers.Dense(3)])
    path = tmp_path_factory.mktemp("remote") / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(net).convert())
    return path


@contextlib.contextmanager
def rfc2217_server(serial_port: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python -m agent.rfc2217_server` on ``serial_port``; yields its URL (first stdout line)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "agent.rfc2217_server", "--serial", serial_port],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert select.select([proc.stdout], [], [], 30)[0], "the server printed no URL within 30 s"
        url = proc.stdout.readline().decode().strip()
        yield url, proc
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_measure_a_virtual_board_through_rfc2217(tiny_model: Path) -> None:
    model = tiny_model.read_bytes()
    samples = np.array([[0.5, -1.0], [2.0, 0.125], [0.0, 0.0]], dtype=np.float32)
    with VirtualBoard.start(tiny_model, BOARD, latency_us=LATENCY_US) as vb, rfc2217_server(vb.port) as (url, _):
        assert url.startswith("rfc2217://127.0.0.1:")
        first = measure_board(url, model, samples, warmup=1, invokes=5, timeout_s=10)
        again = measure_board(url, model, samples[:1], warmup=0, invokes=2, timeout_s=10)  # next client
    host = TflmModel(model, 1 << 20)
    expected = np.stack([host.invoke(s).reshape(-1) for s in samples])
    assert np.array_equal(first.outputs, expected)
    assert first.stats["n"] == 5 and first.stats["mean_us"] == LATENCY_US
    assert first.identity["board"] == "remoteboard" and first.identity["latency_source"] == "estimate"
    assert np.array_equal(again.outputs, expected[:1]) and again.stats["n"] == 2


def test_server_binds_loopback_and_a_stopped_server_is_one_clear_error(tiny_model: Path) -> None:
    with VirtualBoard.start(tiny_model, BOARD, latency_us=LATENCY_US) as vb, rfc2217_server(vb.port) as (url, proc):
        pass
    assert proc.returncode == 0, proc.stderr.read().decode()
    start = time.monotonic()
    with pytest.raises(DeviceError, match=f"cannot open serial port {url}"):
        measure_board(url, tiny_model.read_bytes(), np.zeros((1, 2), np.float32), timeout_s=5)
    assert time.monotonic() - start < 15


def test_server_refuses_a_missing_serial_port_in_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "agent.rfc2217_server", "--serial", str(tmp_path / "ttyNONE")],
                          input=b"", capture_output=True, env=env, timeout=30)
    err = done.stderr.decode().strip()
    assert done.returncode == 1 and len(err.splitlines()) == 1 and "ttyNONE" in err, err
