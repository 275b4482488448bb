"""The small interface every current meter's reader implements, and the one that loads it.

`device.power_monitor` names the meter (ppk2 | joulescope | none). A reader starts capturing
before the session's timed invokes and stops after them; what it captured is a
`power_trace.PowerTrace`, and `power_trace.energy_per_inference` turns it into the figure. The
meters' packages (ppk2-api, joulescope) are the optional extra `power`, imported only when a
meter is asked for, so tinyexp installs and the recorded streams parse without them.
"""

from __future__ import annotations

import abc
import importlib
from types import ModuleType
from typing import Callable, TypeVar

from tinyexp.core.config import BoardConfig, DeviceConfig
from tinyexp.core.errors import ConfigError
from tinyexp.device.power_trace import MeasuredEnergy, PowerTrace, energy_per_inference

T = TypeVar("T")
NONE = "none"
_READERS = {"ppk2": "tinyexp.device.power_ppk2.Ppk2Monitor",
            "joulescope": "tinyexp.device.power_joulescope.JoulescopeMonitor"}


def import_meter_package(module: str, meter: str) -> ModuleType:
    """The meter's package, or one line naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"device.power_monitor={meter} needs the package {module!r}: "
                          f"pip install 'tinyexp[power]'") from exc


class PowerMonitor(abc.ABC):
    """A current meter on the board's supply, read while the board runs its timed invokes."""

    def __init__(self, device: DeviceConfig, board: BoardConfig) -> None:
        self.port = device.power_monitor_port
        self.channel = int(device.power_trigger_channel)
        self.windows = int(device.power_windows)
        self.supply_voltage_v = board.supply_voltage_v

    @abc.abstractmethod
    def check_package(self) -> None:
        """Import the meter's package now (a one-line error naming the extra when it is missing)."""

    @abc.abstractmethod
    def start(self) -> None:
        """Begin capturing current and the trigger input."""

    @abc.abstractmethod
    def stop(self) -> PowerTrace:
        """End the capture and return it (the meter is released either way)."""

    def measure(self, run: Callable[[], T], invokes: int) -> tuple[T, MeasuredEnergy]:
        """Run the session while capturing; the session's result and the energy per inference."""
        self.start()
        try:
            result = run()
        finally:
            trace = self.stop()
        return result, energy_per_inference(trace, invokes, self.windows)


def load_power_monitor(device: DeviceConfig, board: BoardConfig,
                       estimated_clock: bool) -> PowerMonitor | None:
    """The configured meter's reader (its package imported now, before any training), or None.
    A virtual board has no current to measure, and a meter needs the board's supply voltage."""
    name = str(device.power_monitor)
    if name == NONE:
        return None
    if estimated_clock:
        raise ConfigError(f"device.power_monitor={name} measures a real board; the virtual board draws no "
                          f"current (use device=serial, or power_monitor=none for an estimate)")
    if device.placement:
        raise ConfigError(f"device.power_monitor={name} reads a meter attached to this machine; a placed "
                          f"backend (device.placement) measures on another node")
    if board.supply_voltage_v is None:
        raise ConfigError(f"device.power_monitor={name} needs board.supply_voltage_v (the meter's supply "
                          f"or reference voltage)")
    module_name, _, class_name = _READERS[name].rpartition(".")
    reader: type[PowerMonitor] = getattr(importlib.import_module(module_name), class_name)
    monitor = reader(device, board)
    monitor.check_package()
    return monitor

