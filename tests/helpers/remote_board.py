"""A virtual board served over RFC 2217 for tests: the board on its pty, and
`python -m agent.rfc2217_server` bridging that pty to a TCP port of 127.0.0.1.

Shared by the remote-board measuring tests and the server's fuzz test.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import IO, Iterator

from agent.board_process import board_process
from tests.helpers import ROOT
from tinyexp.core.config import BoardConfig
from tinyexp.device.virtual import virtual_board_command

BOARD = BoardConfig(name="remoteboard", mcu="virtual", clock_hz=64_000_000, flash_bytes=983_040, ram_bytes=262_144)
LATENCY_US = 321.0


def virtual_board(model: Path):  # noqa: ANN201 - context manager yielding the pty path
    """The virtual board running ``model`` on a fresh pty."""
    return board_process(virtual_board_command(str(model), BOARD, latency_us=LATENCY_US))


@contextlib.contextmanager
def rfc2217_server(serial_port: str, stderr: int | IO[bytes] = subprocess.PIPE
                   ) -> Iterator[tuple[str, subprocess.Popen]]:
    """`python -m agent.rfc2217_server` on ``serial_port``; yields its URL (first stdout line).
    Give ``stderr`` a file where the server may write more than a pipe holds."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "agent.rfc2217_server", "--serial", serial_port],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)
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
