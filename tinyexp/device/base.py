"""The device interface: what every backend (virtual board, serial board, ...) offers the pipeline.

The pipeline hands a backend everything it already computed (the model bytes, the C array it
logged, the arena the sketch must reserve, the latency estimate) and gets back a port that
speaks the firmware protocol; the agent measures through that port the same way whatever
the backend. A backend is chosen by `device.backend`, a dotted path, so adding one (a remote
board, an emulator) is a new module and a new conf/device/*.yaml, not a new branch here.
"""

from __future__ import annotations

import abc
import contextlib
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

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


@dataclass(frozen=True)
class Deployment:
    """A board holding the model: its port, and the build's sizes where a real build ran."""

    port: str
    flash_bytes: int | None = None
    ram_bytes: int | None = None


class DeviceBackend(abc.ABC):
    """A way to reach a board. ``device`` and ``board`` are the resolved config groups."""

    # True when the board's clock is modelled: the pipeline then computes the latency
    # estimate once and hands it over with the model.
    estimated_clock: bool = False

    def __init__(self, device: Mapping[str, Any], board: Mapping[str, Any]) -> None:
        self.device = device
        self.board = board

    def check_ready(self) -> dict[str, str]:
        """Before training: fail fast if the board or its toolchain is missing; return tags."""
        return {}

    @abc.abstractmethod
    def deploy(self, request: DeployRequest) -> contextlib.AbstractContextManager[Deployment]:
        """Put the model on the board; the board stays reserved until the block ends."""


def load_backend(device: Mapping[str, Any], board: Mapping[str, Any]) -> DeviceBackend:
    """The backend class named by ``device.backend`` (module.Class), constructed."""
    return backend_class(str(device["backend"]))(device, board)


def backend_class(path: str) -> type[DeviceBackend]:
    """Import ``module.Class`` and check it is a DeviceBackend; ConfigError if not."""
    module_name, _, class_name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"device.backend={path!r} is invalid: cannot import it ({exc})") from exc
    if not (isinstance(cls, type) and issubclass(cls, DeviceBackend)):
        raise ConfigError(f"device.backend={path!r} is invalid: not a tinyexp.device.base.DeviceBackend")
    return cls
