"""A Joulescope (JS110 through the `joulescope` package), and its recorded streams.

The reader opens the one Joulescope attached (`joulescope.scan_require_one`) or the one whose
serial number is device.power_monitor_port, routes the general-purpose input the firmware's
energy pin drives into the voltage channel's least significant bit (`parameter_set('voltage_lsb',
'gpi0')`), and streams from start() to stop() (`start()`, `stop()`). It then reads the stream
buffer (`stream_buffer.data_get(*stream_buffer.sample_id_range)`): an array of samples x 6 fields
x 4 statistics, the fields current (A), voltage (V), power, current range, current LSB and
voltage LSB, statistic 0 the sample's mean, at `sampling_frequency` (2 MS/s by default). Voltage
is measured per sample, so energy integrates the meter's own power, not a declared voltage.

A recorded stream is that array and its rate in a NumPy .npz file (`data`, `sampling_frequency`);
parsing one needs neither the package nor a Joulescope.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tinyexp.core.errors import ConfigError, DeviceError
from tinyexp.device.power_monitor import PowerMonitor, import_meter_package
from tinyexp.device.power_trace import PowerTrace

CURRENT, VOLTAGE, VOLTAGE_LSB, MEAN = 0, 1, 5, 0
FIELDS = 6
STATISTICS = 4


def joulescope_trace(data: np.ndarray, sampling_hz: float, channel: int) -> PowerTrace:
    """A stream-buffer array as a trace gated by the voltage LSB (the routed input IN<channel>)."""
    if data.ndim != 3 or data.shape[1:] != (FIELDS, STATISTICS):
        raise DeviceError(f"joulescope: expected samples x {FIELDS} fields x {STATISTICS} statistics, "
                          f"got the shape {data.shape}")
    return PowerTrace(float(sampling_hz), data[:, CURRENT, MEAN].astype(np.float64),
                      data[:, VOLTAGE, MEAN].astype(np.float64), data[:, VOLTAGE_LSB, MEAN] >= 0.5,
                      f"joulescope IN{channel}")


def read_joulescope_recording(path: Path, channel: int) -> PowerTrace:
    """A recorded stream (the module's .npz format) as a trace."""
    try:
        with np.load(path, allow_pickle=False) as recording:
            return joulescope_trace(recording["data"], float(recording["sampling_frequency"]), channel)
    except (OSError, KeyError, ValueError) as exc:
        raise DeviceError(f"{path}: not a recorded Joulescope stream (.npz with data and "
                          f"sampling_frequency): {exc}") from exc


class JoulescopeMonitor(PowerMonitor):
    """Streams a Joulescope from start() to stop()."""

    _device: Any = None

    def check_package(self) -> None:
        if self.channel > 1:
            raise ConfigError(f"device.power_trigger_channel={self.channel} is invalid for a Joulescope: "
                              f"it has the inputs IN0 and IN1 (0 or 1)")
        import_meter_package("joulescope", "joulescope")

    def _open(self) -> Any:
        joulescope = import_meter_package("joulescope", "joulescope")
        if not self.port:
            return joulescope.scan_require_one(config="auto")
        matches = [d for d in joulescope.scan(config="auto") if str(d.device_serial_number) == str(self.port)]
        if not matches:
            raise DeviceError(f"joulescope: no Joulescope with serial number {self.port} attached")
        return matches[0]

    def start(self) -> None:
        self._device = self._open()
        self._device.open()
        self._device.parameter_set("voltage_lsb", f"gpi{self.channel}")
        self._device.parameter_set("i_range", "auto")
        self._device.start()

    def stop(self) -> PowerTrace:
        try:
            self._device.stop()
            buffer = self._device.stream_buffer
            data = np.asarray(buffer.data_get(*buffer.sample_id_range))
            return joulescope_trace(data, float(self._device.sampling_frequency), self.channel)
        finally:
            self._device.close()
