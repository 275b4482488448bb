"""Deploy a model through the configured device backend and measure it with the host agent.

Whatever the backend (the virtual board, a serial board, a board on a farm node, another
added later), this module calls the one method `DeviceBackend.measure` and the agent's session
runs the same way behind it, so figures differ only in where their timings come from, which
the board itself says (`latency_source` in its HELLO).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agent import protocol as p
from agent.client import write_transcript
from agent.errors import BoardLinkError
from agent.session import MeasurementError
from tinyexp.core.errors import DeviceError
from tinyexp.core.names import Artifact
from tinyexp.device.base import DeployRequest, DeviceBackend, SessionSettings
from tinyexp.tflm.evaluate import HostModel


@dataclass(frozen=True)
class DeviceMeasurement:
    """What the board said about the model, and how its outputs compare with the host's."""

    latency_source: str
    stats: dict[str, float]  # BENCH: n, mean_us, std_us, min_us, median_us, p95_us, max_us, mean_cycles
    identity: dict[str, str]
    info: dict[str, str]
    parity_max_abs_error: float
    build_flash_bytes: int | None
    build_ram_bytes: int | None
    transcript_path: Path
    timings_path: Path
    profile: p.Profile | None = None  # PROF, from a board of protocol 2
    no_profile_reason: str | None = None
    node: str | None = None  # the node that measured, when the backend placed it elsewhere (a farm)
    readiness: dict[str, str] = field(default_factory=dict)  # that node's check_ready tags


class DeviceMeasurementError(DeviceError):
    """The board failed mid-session; ``transcript_path`` keeps what it said up to then."""

    def __init__(self, message: str, transcript_path: Path) -> None:
        super().__init__(message)
        self.transcript_path = transcript_path


def measure(backend: DeviceBackend, request: DeployRequest, host: HostModel, samples: np.ndarray,
            warmup: int, invokes: int, baud: int, timeout_s: float, retries: int) -> DeviceMeasurement:
    """Deploy and measure through the backend, compare the board's outputs on ``samples`` with
    the host model's."""
    raw_inputs = [host.input_codec.encode(s).reshape(-1).tolist() for s in samples]
    transcript = request.workdir / Artifact.TRANSCRIPT
    settings = SessionSettings(warmup, invokes, baud, timeout_s, retries)
    try:
        board = backend.measure(request, raw_inputs, host.input_codec.dtype.name, settings)
    except MeasurementError as exc:
        write_transcript(transcript, exc.transcript)
        raise DeviceMeasurementError(str(exc), transcript) from exc
    except BoardLinkError as exc:
        raise DeviceError(str(exc)) from exc
    m = board.measurement
    write_transcript(transcript, m.transcript)
    timings = request.workdir / Artifact.PER_INVOKE_TIMINGS
    timings.write_text("invoke,latency_us,cycles\n" + "".join(
        f"{i},{us},{cyc}\n" for i, (us, cyc) in enumerate(zip(m.per_invoke_us, m.per_invoke_cycles))))
    dtype = host.output_codec.dtype
    device_out = np.stack([host.output_codec.decode(np.asarray(row, dtype=dtype)).reshape(-1) for row in m.outputs])
    parity = float(np.max(np.abs(device_out - host.predict(samples))))
    return DeviceMeasurement(m.identity.get("latency_source", "unknown"), m.stats, m.identity, m.info, parity,
                             board.flash_bytes, board.ram_bytes, transcript, timings,
                             m.profile, m.no_profile_reason, board.node, dict(board.readiness))
