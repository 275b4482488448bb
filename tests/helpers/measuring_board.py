"""A board that MEASURES, for tests: the stand-in board's timing (tests/helpers/standin_board.py,
a documented cost model that tinyexp's estimator does not know) served over the firmware's
protocol on a real pseudo-terminal, saying ``timer=micros latency_source=measured`` in its
HELLO as the real firmware does.

From the host's side it is a physical board: the agent opens the pty with pyserial, uploads
nothing (the model is "flashed" by deploy, as device=serial's arduino-cli would), checks the
CRC, runs the inputs with real TFLM kernels and reads BENCH and PROF. Only the numbers come
from a formula instead of a cycle counter, so a test can compute what the board must report
without trusting tinyexp's own estimate. Use it as device=serial's backend:

    device=serial device.backend=tests.helpers.measuring_board.StandinMeasuringDevice
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from tests.helpers import standin_board as standin
from tests.helpers.devices import served
from tinyexp.device.base import DeployRequest, Deployment, PortBackend
from tinyexp.device.virtual_clock import fixed_latency
from tinyexp.device.virtual_commands import BoardState, token
from tinyexp.tflm.operators import analyse_operators


def standin_latency_us(model: bytes) -> float:
    """What the stand-in board reports for ``model``: its cost model, not tinyexp's estimate."""
    return standin.latency_us(list(analyse_operators(model)))


class MeasuringBoardState(BoardState):
    """The firmware's answers, with the stand-in's timings labelled as a board's measurements."""

    def boot(self) -> list[str]:
        frames = super().boot()
        return [f"tinyexp stand-in board {token(self.board.name)} (measured clock)", *frames[1:]]

    def identity(self) -> dict[str, str]:
        return {**super().identity(), "timer": "micros", "latency_source": "measured"}


class StandinMeasuringDevice(PortBackend):
    """device.backend=tests.helpers.measuring_board.StandinMeasuringDevice: deploy serves the
    stand-in board holding the model on a fresh pty (the agent's session is the real one)."""

    @contextlib.contextmanager
    def deploy(self, request: DeployRequest) -> Iterator[Deployment]:
        ops = list(analyse_operators(request.model))
        ticks_per_cycle = self.board.clock_hz / standin.CLOCK_HZ  # PROF counts the board's own clock
        profile = [(op.type, standin.operator_cycles(op) * ticks_per_cycle) for op in ops]
        state = MeasuringBoardState(request.model, self.board, fixed_latency(standin.latency_us(ops)),
                                    request.arena_bytes, lambda *_: profile)
        with served(state) as port:
            yield Deployment(port)
