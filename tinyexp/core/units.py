"""Cycles and microseconds at a board's clock: one conversion for every module that needs it.

Latency is measured and published in microseconds but modelled in cycles, because a cycle
count carries over between boards of one core at different clocks.
"""

from __future__ import annotations

MICROSECONDS_PER_SECOND = 1_000_000


def us_to_cycles(us: float, clock_hz: float) -> float:
    """Clock cycles in ``us`` microseconds at ``clock_hz``."""
    return us * clock_hz / MICROSECONDS_PER_SECOND


def cycles_to_us(cycles: float, clock_hz: float) -> float:
    """Microseconds that ``cycles`` clock cycles take at ``clock_hz``."""
    return cycles / clock_hz * MICROSECONDS_PER_SECOND
