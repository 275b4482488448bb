"""SYNTHETIC recorded streams of a PPK2 and a Joulescope, with a known energy per inference.

No meter exists on this machine. These writers produce files in the formats the readers parse
(tinyexp/device/power_ppk2.py: the samples ppk2-api's get_samples returns, one `current_ua,digital`
line each; tinyexp/device/power_joulescope.py: the stream buffer's samples x 6 fields x 4
statistics array in an .npz), generated from a stated scenario: an idle current between invokes,
a fixed active current during each invoke with zero-mean noise, the trigger input high exactly
during each invoke, and optionally one window disturbed. They are not captures from a device;
the expected energy is computed from the scenario (V x I x duration), not from the recording.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Scenario:
    sampling_hz: float
    voltage_v: float
    active_a: float
    idle_a: float
    invoke_samples: int
    gap_samples: int
    invokes: int
    channel: int
    disturbed_window: int | None = None  # this window's invokes draw 30% more (the median ignores it)
    windows: int = 5

    @property
    def expected_uj(self) -> float:
        """The undisturbed energy per inference: V x I x invoke duration."""
        return self.voltage_v * self.active_a * (self.invoke_samples / self.sampling_hz) * 1e6


def _signals(s: Scenario, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Current (A) and trigger (bool) per sample: a lead-in, then invoke/gap pairs."""
    rng = np.random.default_rng(seed)
    per_window = np.array_split(np.arange(s.invokes), s.windows)
    current, trigger = [np.full(s.gap_samples, s.idle_a)], [np.zeros(s.gap_samples, bool)]
    for window, invokes in enumerate(per_window):
        level = s.active_a * (1.3 if window == s.disturbed_window else 1.0)
        for _ in invokes:
            current += [level + rng.normal(0, 0.02 * s.active_a, s.invoke_samples), np.full(s.gap_samples, s.idle_a)]
            trigger += [np.ones(s.invoke_samples, bool), np.zeros(s.gap_samples, bool)]
    return np.concatenate(current), np.concatenate(trigger)


def write_ppk2_recording(path: Path, s: Scenario, seed: int = 1) -> Path:
    """The PPK2 format: header, column names, then current_ua,digital per sample at 100 kHz."""
    current, trigger = _signals(s, seed)
    digital = trigger.astype(np.int64) << s.channel | 0b1000_0000  # D7 held high: another input, ignored
    lines = [f"# ppk2 synthetic recording sampling_hz={s.sampling_hz:g} supply_voltage_v={s.voltage_v:g}",
             "current_ua,digital"]
    lines += [f"{ua:.3f},{bits}" for ua, bits in zip(current * 1e6, digital)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_joulescope_recording(path: Path, s: Scenario, seed: int = 2) -> Path:
    """The Joulescope format: samples x (current, voltage, power, range, current LSB, voltage LSB)
    x (mean, var, min, max), the trigger in the voltage LSB; the voltage ripples around V."""
    current, trigger = _signals(s, seed)
    n = len(current)
    voltage = s.voltage_v + 0.01 * np.sin(np.arange(n) * 2 * np.pi / 97)  # zero-mean ripple
    data = np.zeros((n, 6, 4), dtype=np.float32)
    data[:, 0, 0], data[:, 1, 0], data[:, 2, 0] = current, voltage, current * voltage
    data[:, 5, 0] = trigger
    np.savez(path, data=data, sampling_frequency=np.float64(s.sampling_hz))
    return path
