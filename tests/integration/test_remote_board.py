"""A board on another host: the measuring path through rfc2217://127.0.0.1:PORT.

The virtual board runs on its pseudo-terminal; agent.rfc2217_server (pyserial's RFC 2217
port manager) serves that pty on a TCP port of 127.0.0.1, and the agent session measures
through the URL exactly as it would a local port. Only the board is virtual.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from agent.errors import BoardLinkError
from agent.session import measure_board
from tests.helpers import ROOT
from tests.helpers.remote_board import LATENCY_US, rfc2217_server, virtual_board
from tinyexp.tflm.runtime import TflmModel

SAMPLES = [[0.5], [2.0], [-1.25]]


def test_measure_a_virtual_board_through_rfc2217(tiny_model: Path) -> None:
    model = tiny_model.read_bytes()
    with virtual_board(tiny_model) as pty, rfc2217_server(pty) as (url, _):
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
    with virtual_board(tiny_model) as pty, rfc2217_server(pty) as (url, proc):
        pass
    assert proc.returncode == 0, proc.stderr.read().decode()
    start = time.monotonic()
    with pytest.raises(BoardLinkError, match=f"cannot open serial port {url}"):
        measure_board(url, tiny_model.read_bytes(), 1, warmup=0, invokes=1, timeout_s=5)
    assert time.monotonic() - start < 15


def test_server_refuses_a_missing_serial_port_in_one_line(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "agent.rfc2217_server", "--serial", str(tmp_path / "ttyNONE")],
                          input=b"", capture_output=True, env=env, timeout=30)
    err = done.stderr.decode().strip()
    assert done.returncode == 1 and len(err.splitlines()) == 1 and "ttyNONE" in err, err
