"""Time units chosen for the data shown: latencies of a second read as 1 s, not 1e6 us.

Runs log every latency in microseconds; a figure or table shows them in the unit (us, ms, s)
that puts their typical (median) value between 1 and 1000, and names that unit in its axis
label or column header. The CSV files keep microseconds, so numbers read by programs never move.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class TimeUnit:
    """A unit for latencies: its name and how many microseconds make one."""

    name: str
    us: float

    def scale(self, value_us: float) -> float:
        return value_us / self.us


MICROSECONDS = TimeUnit("us", 1.0)
_UNITS = (TimeUnit("s", 1e6), TimeUnit("ms", 1e3), MICROSECONDS)


def time_unit(values_us: Iterable[float | None]) -> TimeUnit:
    """The largest unit in which the median of the values is at least 1 (us when there are none)."""
    shown = [abs(v) for v in values_us if v is not None]
    if not shown:
        return MICROSECONDS
    typical = statistics.median(shown)
    return next((u for u in _UNITS if typical >= u.us), MICROSECONDS)
