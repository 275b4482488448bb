"""The device interface: what every backend (virtual board, serial board, farm, ...) offers the pipeline.

The pipeline hands a backend everything it already computed (the model bytes, the C array it
logged, the arena the sketch must reserve, the latency estimate) and the inputs to run, and
gets back what the board measured; it calls the same method whatever the backend. A backend
that reaches the board by a port (`PortBackend`) deploys and lets the agent measure through
that port; a placement (`device.placement`, e.g. the farm's `tinyexp.device.farm.FarmDevice`)
wraps such a backend and runs its deploy-and-measure elsewhere. Both are chosen by dotted
paths in config, so adding one (a remote board, an emulator, another cluster) is a new module
and a new conf/device/*.yaml, not a new branch here or in the pipeline.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from agent.session import Measurement, measure_board
from tinyexp.core.config import BoardConfig, DeviceConfig
from tinyexp.core.errors import ConfigError
from tinyexp.tflm.c_array import CArray


@dataclass(frozen=True)
class DeployRequest:
    """One model to put on the board, with what the pipeline already knows about it."""

    model: bytes
    c_array: CArray
    arena_bytes: int
    latency_estimate_us: float | None
    workdir: Path
    # Estimated (operator name, cycles) in execution order, for a modelled clock's PROF.
    operator_cycles: tuple[tuple[str, float], ...] | None = None
    # The model package's headers a sketch is built with (arena, op resolver: tinyexp.tflm.package).
    sketch_files: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionSettings:
    """How the agent measures (conf/device): the keyword arguments of agent.session.measure_board."""

    warmup: int
    invokes: int
    baud: int
    timeout_s: float
    retries: int


@dataclass(frozen=True)
class Deployment:
    """A board holding the model: its port, and the build's sizes where a real build ran."""

    port: str
    flash_bytes: int | None = None
    ram_bytes: int | None = None


@dataclass(frozen=True)
class BoardMeasurement:
    """What one deploy-and-measure gave: the agent's measurement, the build's sizes where a real
    build ran, and, when it ran on another node, which one and that node's readiness tags."""

    measurement: Measurement
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    node: str | None = None
    readiness: Mapping[str, str] = field(default_factory=dict)


class DeviceBackend(abc.ABC):
    """A way to reach a board. ``device`` and ``board`` are the job's typed config groups."""

    # True when the board's clock is modelled: the pipeline then computes the latency
    # estimate once and hands it over with the model.
    estimated_clock: bool = False

    def __init__(self, device: DeviceConfig, board: BoardConfig) -> None:
        self.device = device
        self.board = board

    def check_tracking(self, uri: str | None) -> None:
        """Before the store is opened: ConfigError if runs could not be tracked at ``uri`` from
        where this job runs (None: the default store under the working directory)."""

    def job_node(self) -> str | None:
        """The cluster node this job runs on, recorded as its runs' owner (None: no cluster)."""
        return None

    def dead_nodes(self) -> set[str]:
        """Cluster nodes known dead: the runs they owned can be ended by any job."""
        return set()

    def check_ready(self) -> dict[str, str]:
        """Before training: fail fast if the board or its toolchain is missing; return tags."""
        return {}

    @abc.abstractmethod
    def measure(self, request: DeployRequest, inputs: Sequence[Sequence[float]], input_dtype: str,
                settings: SessionSettings) -> BoardMeasurement:
        """Put the model on the board and measure it on ``inputs`` (flat, in ``input_dtype``).

        Raises agent.session.MeasurementError (with the transcript) when the board fails
        mid-session, a DeviceError (agent's or tinyexp's) when it cannot be reached."""


class PortBackend(DeviceBackend):
    """A backend that deploys the model to a board this process reaches by a port; the agent
    measures through that port the same way whatever the backend."""

    @abc.abstractmethod
    def deploy(self, request: DeployRequest) -> contextlib.AbstractContextManager[Deployment]:
        """Put the model on the board; the board stays reserved until the block ends."""

    def measure(self, request: DeployRequest, inputs: Sequence[Sequence[float]], input_dtype: str,
                settings: SessionSettings) -> BoardMeasurement:
        """Deploy, then the agent's measuring session on the deployment's port."""
        with self.deploy(request) as deployment:
            m = measure_board(deployment.port, request.model, inputs, input_dtype, **dataclasses.asdict(settings))
        return BoardMeasurement(m, deployment.flash_bytes, deployment.ram_bytes)


def load_backend(device: DeviceConfig, board: BoardConfig) -> DeviceBackend:
    """The backend the config chooses, constructed: the placement (``device.placement``) when
    one is set, which wraps the backend it names in ``device.backend``; else that backend."""
    if device.placement:
        return backend_class(device.placement, "device.placement")(device, board)
    return backend_class(device.backend)(device, board)


def backend_class(path: str, key: str = "device.backend") -> type[DeviceBackend]:
    """Import ``module.Class`` and check it is a DeviceBackend; ConfigError (naming the config
    ``key``) if not."""
    module_name, _, class_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"{key}={path!r} is invalid: cannot import it ({exc})") from exc
    if not (isinstance(cls, type) and issubclass(cls, DeviceBackend)):
        raise ConfigError(f"{key}={path!r} is invalid: not a tinyexp.device.base.DeviceBackend")
    return cls
