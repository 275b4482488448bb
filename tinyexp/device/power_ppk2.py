"""Nordic's Power Profiler Kit II through the `ppk2-api` package, and its recorded streams.

The PPK2 samples current at 100 kHz. `PPK2_API.get_data()` returns the bytes read so far (4-byte
words) and `get_samples(bytes)` turns them into two lists per read: the current of each sample in
uA (calibrated with the kit's modifiers from `get_modifiers()`) and each sample's logic byte, the
eight digital inputs D0-D7 (bit n is Dn, as `PPK2_API.digital_channels` splits them). The reader
runs the kit as an ampere meter in series with the board's supply (the board stays powered across
deploy and session; source-meter mode would power-cycle it), its voltage set to the board's supply.

A recorded stream is what `get_samples` returned, one sample a line: `current_ua,digital`, after
a `# ppk2 ...` header line giving `sampling_hz=` and `supply_voltage_v=`. Parsing one needs
neither the package nor a kit.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from tinyexp.core.errors import DeviceError
from tinyexp.device.power_monitor import PowerMonitor, import_meter_package
from tinyexp.device.power_trace import MAX_SAMPLES, PowerTrace

SAMPLING_HZ = 100_000.0
_POLL_S = 0.005
_HEADER = "# ppk2"


def ppk2_trace(current_ua: np.ndarray, digital: np.ndarray, channel: int, supply_voltage_v: float,
               sampling_hz: float = SAMPLING_HZ) -> PowerTrace:
    """The samples as get_samples gives them, as a trace gated by input D<channel>."""
    bits = np.asarray(digital, dtype=np.int64)
    return PowerTrace(sampling_hz, np.asarray(current_ua, dtype=np.float64) * 1e-6, float(supply_voltage_v),
                      ((bits >> channel) & 1).astype(bool), f"ppk2 D{channel}")


def _header_fields(line: str, path: Path) -> dict[str, float]:
    if not line.startswith(_HEADER):
        raise DeviceError(f"{path}: not a recorded PPK2 stream (no '{_HEADER} ...' header line)")
    fields = dict(item.split("=", 1) for item in line[len(_HEADER):].split() if "=" in item)
    try:
        return {key: float(fields[key]) for key in ("sampling_hz", "supply_voltage_v")}
    except (KeyError, ValueError) as exc:
        raise DeviceError(f"{path}: the header needs sampling_hz= and supply_voltage_v= numbers") from exc


def read_ppk2_recording(path: Path, channel: int) -> PowerTrace:
    """A recorded stream (the module's format) as a trace gated by D<channel>."""
    with path.open() as stream:
        header = _header_fields(stream.readline().strip(), path)
        if stream.readline().strip() != "current_ua,digital":
            raise DeviceError(f"{path}: the second line must be the column header current_ua,digital")
        try:
            table = np.loadtxt(stream, delimiter=",", ndmin=2, max_rows=MAX_SAMPLES)
        except ValueError as exc:
            raise DeviceError(f"{path}: a sample line is not 'current_ua,digital' numbers: {exc}") from exc
    if table.shape[1] != 2:
        raise DeviceError(f"{path}: each sample line holds current_ua,digital")
    return ppk2_trace(table[:, 0], table[:, 1], channel, header["supply_voltage_v"], header["sampling_hz"])


class Ppk2Monitor(PowerMonitor):
    """Reads a PPK2 (ppk2-api) in a thread from start() to stop()."""

    def __init__(self, device: Mapping[str, Any], board: Mapping[str, Any]) -> None:
        super().__init__(device, board)
        self._api: Any = None
        self._chunks: list[tuple[list[float], list[int]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_package(self) -> None:
        import_meter_package("ppk2_api.ppk2_api", "ppk2")

    def _port(self, api_class: Any) -> str:
        if self.port:
            return str(self.port)
        found = api_class.list_devices()
        if len(found) != 1:
            raise DeviceError(f"device.power_monitor=ppk2: {len(found)} PPK2s attached "
                              f"({', '.join(map(str, found)) or 'none'}); set device.power_monitor_port")
        return str(found[0])

    def start(self) -> None:
        api_class = import_meter_package("ppk2_api.ppk2_api", "ppk2").PPK2_API
        self._api = api_class(self._port(api_class), timeout=1, write_timeout=1, exclusive=True)
        self._api.get_modifiers()
        self._api.set_source_voltage(int(round(float(self.supply_voltage_v) * 1000)))
        self._api.use_ampere_meter()
        self._chunks, self._stop = [], threading.Event()
        self._api.start_measuring()
        self._thread = threading.Thread(target=self._read, name="ppk2-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        count = 0
        while not self._stop.wait(_POLL_S) and count <= MAX_SAMPLES:
            data = self._api.get_data()
            if data:
                samples, digital = self._api.get_samples(data)
                self._chunks.append((samples, digital))
                count += len(samples)

    def stop(self) -> PowerTrace:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._api.stop_measuring()
        current = np.concatenate([np.asarray(s, dtype=np.float64) for s, _ in self._chunks] or [np.zeros(0)])
        digital = np.concatenate([np.asarray(d, dtype=np.int64) for _, d in self._chunks] or [np.zeros(0, int)])
        if len(current) != len(digital):
            raise DeviceError("ppk2: the kit returned a different number of current and logic samples")
        return ppk2_trace(current, digital, self.channel, float(self.supply_voltage_v))
