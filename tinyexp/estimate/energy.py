"""Energy per inference from a latency and the board's declared power: an estimate, said so.

Why a separate figure: battery-powered users choose on energy, not latency, and two boards at
the same latency can differ several-fold in current. Without a meter (device.power_monitor=none)
the energy is the latency times the power the board profile declares (conf/board/*.yaml:
supply_voltage_v, active_current_ma and the range active_current_low_ma..high_ma its datasheet's
conditions span). That is an estimate even when the latency was measured on the board, because
the current was not; the run's energy_basis says which parts were measured.

Propagation rule for the interval. E = V * I * t with every factor positive, so E grows with each
of them and the bounds are the products of the bounds:

    low  = V * I_low  * t_low          high = V * I_high * t_high

t_low..t_high is the latency estimate's 80% interval (a measured latency is taken as exact: its
spread over invokes is far smaller than the current's), I_low..I_high the declared range of
conditions (regulator, cache, where code runs) and V exact (a regulated rail). The current's
range is a set of conditions, not a probability, so if the board runs within it the energy
interval covers at least as often as the latency interval does (80%).

Units: us x mA x V = nJ, so uJ = V * mA * us / 1000.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyexp.core.config import BoardConfig

ESTIMATE = "estimate"
MEASURED = "measured"


@dataclass(frozen=True)
class BoardPower:
    """The board profile's declared power while an inference runs."""

    supply_voltage_v: float
    active_current_ma: float
    current_low_ma: float
    current_high_ma: float
    source: str

    def describe(self) -> str:
        spread = (f"{self.active_current_ma:g} mA" if self.current_low_ma == self.current_high_ma
                  else f"{self.active_current_ma:g} mA ({self.current_low_ma:g}-{self.current_high_ma:g})")
        return f"{self.supply_voltage_v:g} V x {spread}, from {self.source}"


@dataclass(frozen=True)
class Energy:
    """One run's energy per inference in uJ, where it comes from, and for an estimate its interval."""

    source: str  # estimate | measured | "none: <why>"
    basis: str  # how it was obtained, in words (logged as the energy_basis tag)
    uj: float | None = None
    low_uj: float | None = None
    high_uj: float | None = None


def board_power(board: BoardConfig) -> BoardPower | None:
    """The board's declared power, or None where the profile declares no voltage or current."""
    voltage, current = board.supply_voltage_v, board.active_current_ma
    if voltage is None or current is None:
        return None
    low, high = board.active_current_low_ma, board.active_current_high_ma
    return BoardPower(float(voltage), float(current), float(current if low is None else low),
                      float(current if high is None else high), str(board.power_source or "not stated"))


def _uj(voltage_v: float, current_ma: float, latency_us: float) -> float:
    return voltage_v * current_ma * latency_us / 1000.0


def estimate_energy(power: BoardPower, latency_us: float, latency_low_us: float | None = None,
                    latency_high_us: float | None = None, latency_measured: bool = False) -> Energy:
    """Latency x declared power, with the interval of the module's propagation rule. Without a
    latency interval (a measured latency) only the current's range widens it."""
    low_us = latency_us if latency_low_us is None else latency_low_us
    high_us = latency_us if latency_high_us is None else latency_high_us
    latency_kind = "measured latency" if latency_measured else "estimated latency (80% interval)"
    return Energy(ESTIMATE, f"{latency_kind} x declared power: {power.describe()}",
                  _uj(power.supply_voltage_v, power.active_current_ma, latency_us),
                  _uj(power.supply_voltage_v, power.current_low_ma, low_us),
                  _uj(power.supply_voltage_v, power.current_high_ma, high_us))


def no_energy(why: str) -> Energy:
    return Energy(f"none: {why}", why)
