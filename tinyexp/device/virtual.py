"""The virtual board as a device backend: a separate process on a real pseudo-terminal.

The board process (tinyexp.device.virtual_board) is given the arena the pipeline found and
the latency and per-operator figures the estimator gave, so it repeats none of them; it
still loads the model in the real TFLM kernels, because refusing what TFLM refuses is its job.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Iterator, Sequence

from agent.board_process import board_process
from agent.errors import BoardLinkError
from tinyexp.core.config import BoardConfig, as_plain
from tinyexp.core.errors import DeviceError
from tinyexp.device.base import DeployRequest, Deployment, PortBackend

VIRTUAL_BOARD_MODULE = "tinyexp.device.virtual_board"


def virtual_board_command(model_path: str, board: BoardConfig, *, arena_bytes: int | None = None,
                          latency_us: float | None = None,
                          operator_cycles: Sequence[tuple[str, float]] | None = None,
                          realtime: bool = False) -> list[str]:
    """The argument list that starts a virtual board serving ``model_path``."""
    cmd = [sys.executable, "-m", VIRTUAL_BOARD_MODULE, "--model", model_path, "--board", json.dumps(as_plain(board))]
    cmd += ["--arena-bytes", str(arena_bytes)] if arena_bytes is not None else []
    cmd += ["--latency-us", repr(float(latency_us))] if latency_us is not None else []
    cmd += ["--operator-cycles", json.dumps(list(operator_cycles))] if operator_cycles is not None else []
    cmd += ["--realtime"] if realtime else []
    return cmd


class VirtualDevice(PortBackend):
    """device=virtual: the firmware's protocol served by a local process with real TFLM kernels."""

    estimated_clock = True

    @contextlib.contextmanager
    def deploy(self, request: DeployRequest) -> Iterator[Deployment]:
        model_path = request.workdir / "deployed.tflite"
        model_path.write_bytes(request.model)
        cmd = virtual_board_command(str(model_path), self.board, arena_bytes=request.arena_bytes,
                                    latency_us=request.latency_estimate_us,
                                    operator_cycles=request.operator_cycles,
                                    realtime=self.device.realtime)
        try:
            with board_process(cmd) as port:
                yield Deployment(port)
        except BoardLinkError as exc:
            raise DeviceError(str(exc)) from exc
