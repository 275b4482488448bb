"""Deploy a model through the configured device backend and measure it with the host agent.

Whatever the backend (the virtual board, a serial board, another added later), the agent
measures through the port it gives, so figures differ only in where their timings come
from, which the board itself says (`latency_source` in its HELLO).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agent import protocol as p
from agent.client import write_transcript
from agent.errors import DeviceError as AgentDeviceError
from agent.session import MeasurementError, measure_board
from tinyexp.core.errors import DeviceError
from tinyexp.core.names import Artifact
from tinyexp.device.base import DeployRequest, DeviceBackend
from tinyexp.pipeline import farm
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
    node: str | None = None  # the farm node that measured (hydra/launcher=ray); None: here
    readiness: dict[str, str] = field(default_factory=dict)  # the farm node's check_ready tags


class DeviceMeasurementError(DeviceError):
    """The board failed mid-session; ``transcript_path`` keeps what it said up to then."""

    def __init__(self, message: str, transcript_path: Path) -> None:
        super().__init__(message)
        self.transcript_path = transcript_path


def measure(backend: DeviceBackend, request: DeployRequest, host: HostModel, samples: np.ndarray,
            warmup: int, invokes: int, baud: int, timeout_s: float, retries: int) -> DeviceMeasurement:
    """Deploy, measure, compare the board's outputs on ``samples`` with the host model's."""
    raw_inputs = [host.input_codec.encode(s).reshape(-1).tolist() for s in samples]
    in_dtype = host.input_codec.dtype.name
    transcript = request.workdir / Artifact.TRANSCRIPT
    options = {"warmup": warmup, "invokes": invokes, "baud": baud, "timeout_s": timeout_s, "retries": retries}
    node, readiness = None, {}
    try:
        if farm.in_ray_worker():
            remote = _on_board_node(backend, request, raw_inputs, in_dtype, options)
            m, flash_bytes, ram_bytes, node, readiness = (remote.measurement, remote.flash_bytes, remote.ram_bytes,
                                                          remote.node, dict(remote.readiness))
        else:
            with backend.deploy(request) as deployment:
                m = measure_board(deployment.port, request.model, raw_inputs, in_dtype, **options)
            flash_bytes, ram_bytes = deployment.flash_bytes, deployment.ram_bytes
    except MeasurementError as exc:
        write_transcript(transcript, exc.transcript)
        raise DeviceMeasurementError(str(exc), transcript) from exc
    except AgentDeviceError as exc:
        raise DeviceError(str(exc)) from exc
    write_transcript(transcript, m.transcript)
    timings = request.workdir / Artifact.PER_INVOKE_TIMINGS
    timings.write_text("invoke,latency_us,cycles\n" + "".join(
        f"{i},{us},{cyc}\n" for i, (us, cyc) in enumerate(zip(m.per_invoke_us, m.per_invoke_cycles))))
    dtype = host.output_codec.dtype
    device_out = np.stack([host.output_codec.decode(np.asarray(row, dtype=dtype)).reshape(-1) for row in m.outputs])
    parity = float(np.max(np.abs(device_out - host.predict(samples))))
    return DeviceMeasurement(m.identity.get("latency_source", "unknown"), m.stats, m.identity, m.info, parity,
                             flash_bytes, ram_bytes, transcript, timings,
                             m.profile, m.no_profile_reason, node, readiness)


def _on_board_node(backend: DeviceBackend, request: DeployRequest, raw_inputs: list, in_dtype: str,
                   options: dict) -> farm.RemoteMeasurement:
    """Deploy and measure on the farm node with the board; its failure raised as if local."""
    remote = farm.measure_on_board_node(backend.device, backend.board, request, raw_inputs, in_dtype, **options)
    if remote.measurement is None:
        where = f" (on farm node {remote.node})"
        if remote.transcript:
            raise MeasurementError(f"{remote.error}{where}", list(remote.transcript))
        raise DeviceError(f"{remote.error}{where}")
    return remote
