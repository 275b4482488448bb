"""A current meter's capture of the timed invokes, and the energy per inference in it.

Whatever the meter (PPK2, Joulescope), its reader hands over a `PowerTrace`: current samples at
a fixed rate, the supply voltage (per sample where the meter measures it, else the declared
one), and the digital input the firmware drives: high during each timed invoke of BENCH
(TXP_ENERGY_PIN in the sketch), so only inference is counted, never the serial traffic or the
idle time between invokes.

The energy follows MLPerf Tiny's energy mode: the inferences are split into windows, each
window's energy per inference is its energy divided by its inferences, and the figure is the
median over the windows (robust to one window disturbed by, say, a USB interrupt). MLPerf Tiny's
EnergyRunner marks each window with a timestamp GPIO and runs five; here the pin marks every
invoke, `device.power_windows` (5) consecutive groups of them are the windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinyexp.core.errors import DeviceError

MAX_SAMPLES = 200_000_000  # 2 MS/s x 100 s: a capture beyond this is a mistake, not a measurement


@dataclass(frozen=True)
class PowerTrace:
    """One capture: current in A, voltage in V (per sample, or one declared value), the trigger."""

    sampling_hz: float
    current_a: np.ndarray
    voltage_v: np.ndarray | float
    trigger: np.ndarray  # bool per sample: the firmware's energy pin
    meter: str  # e.g. "ppk2 D0" or "joulescope IN0"

    def __post_init__(self) -> None:
        n = len(self.current_a)
        if n > MAX_SAMPLES:
            raise DeviceError(f"{self.meter}: {n} samples captured, more than the {MAX_SAMPLES} one "
                              f"measurement may hold; lower device.invokes")
        if len(self.trigger) != n or (isinstance(self.voltage_v, np.ndarray) and len(self.voltage_v) != n):
            raise DeviceError(f"{self.meter}: the capture's current, voltage and trigger differ in length")
        if not (self.sampling_hz > 0 and np.all(np.isfinite(self.current_a))):
            raise DeviceError(f"{self.meter}: the capture holds a non-finite current or sampling rate")


@dataclass(frozen=True)
class MeasuredEnergy:
    """Energy per inference from a capture: the median over windows, each window's figure, in uJ."""

    uj: float
    window_uj: tuple[float, ...]
    inferences: int
    meter: str

    def describe(self) -> str:
        return (f"{self.meter}: median over {len(self.window_uj)} windows of {self.inferences} timed invokes "
                f"(windows {min(self.window_uj):.4g}-{max(self.window_uj):.4g} uJ), trigger-gated")


def pulses(trigger: np.ndarray) -> list[tuple[int, int]]:
    """The [start, end) sample ranges where the trigger is high; a pulse cut by the capture's
    start or end is left out (its energy is not all there)."""
    level = np.asarray(trigger, dtype=bool).astype(np.int8)
    edges = np.diff(level)
    rises, falls = np.flatnonzero(edges == 1) + 1, np.flatnonzero(edges == -1) + 1
    if len(falls) and (not len(rises) or falls[0] < rises[0]):
        falls = falls[1:]  # high at the start: a cut pulse
    return list(zip(rises.tolist(), falls.tolist()))  # a rise without a fall (cut at the end) drops out


def energy_per_inference(trace: PowerTrace, invokes: int, windows: int) -> MeasuredEnergy:
    """The median over `windows` consecutive groups of the trace's pulses of each group's energy
    per inference. The pulses must be exactly the timed invokes: anything else is a wiring or
    trigger fault, said in one line."""
    found = pulses(trace.trigger)
    if len(found) != invokes:
        raise DeviceError(f"{trace.meter}: saw {len(found)} inference pulses, expected {invokes} (the timed "
                          f"invokes); check that TXP_ENERGY_PIN is wired to that input and the sketch sets it")
    if invokes < windows:
        raise DeviceError(f"{trace.meter}: {invokes} invokes cannot fill device.power_windows={windows}; "
                          f"raise device.invokes")
    power_w = trace.current_a * trace.voltage_v
    cumulative = np.concatenate(([0.0], np.cumsum(power_w, dtype=np.float64)))
    per_pulse_j = np.array([cumulative[end] - cumulative[start] for start, end in found]) / trace.sampling_hz
    window_uj = tuple(float(group.mean() * 1e6) for group in np.array_split(per_pulse_j, windows))
    return MeasuredEnergy(float(np.median(window_uj)), window_uj, invokes, trace.meter)
