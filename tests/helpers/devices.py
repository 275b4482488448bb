"""A device backend for in-process runner tests: the virtual board's command handling served
on a real pseudo-terminal by a thread of the test process, instead of a separate process.

Everything the pipeline does is real (deploy request, agent over pyserial, parity, recorder);
only the board process is replaced, so a runner test needs no subprocess. The clock and the
per-operator figures are the estimates the pipeline hands over, as for the virtual board.
"""

from __future__ import annotations

import contextlib
import os
import threading
import tty
from typing import Iterator

from tinyexp.device.base import DeployRequest, Deployment, PortBackend
from tinyexp.device.virtual_board import serve
from tinyexp.device.virtual_clock import fixed_latency
from tinyexp.device.virtual_commands import BoardState

DEPLOYED: list[DeployRequest] = []  # what the pipeline handed over, for the tests to inspect


@contextlib.contextmanager
def served(state: BoardState) -> Iterator[str]:
    """serve() in a thread on a fresh pty; yields the port the agent opens."""
    master, slave = os.openpty()
    tty.setraw(slave)
    stop_read, stop_write = os.pipe()
    thread = threading.Thread(target=serve, args=(master, state, stop_read), daemon=True)
    thread.start()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(stop_write)
        thread.join(timeout=10)
        for fd in (master, slave, stop_read):
            os.close(fd)


class ThreadBoardDevice(PortBackend):
    """device.backend=tests.helpers.devices.ThreadBoardDevice."""

    estimated_clock = True

    @contextlib.contextmanager
    def deploy(self, request: DeployRequest) -> Iterator[Deployment]:
        DEPLOYED.append(request)
        assert request.latency_estimate_us is not None
        operators = request.operator_cycles
        state = BoardState(request.model, self.board, fixed_latency(request.latency_estimate_us),
                           request.arena_bytes, (lambda *_: operators) if operators is not None else None)
        with served(state) as port:
            yield Deployment(port)
