"""Plausibility of every figure a board reports, before the host accepts it.

A board's numbers are untrusted input like its bytes: a firmware bug, a wrong timer or a
corrupted link can produce a CRC-valid frame that says something impossible (a negative
mean, a summary its own rows contradict, every row labelled i=0, a NaN output). Each check
here raises ValueError naming the figure, so the client can turn it into one BoardLinkError and
no such figure is ever recorded. Pure functions of the standard library: no I/O, no clocks.
"""

from __future__ import annotations

import math
import statistics
from typing import Mapping, Sequence

# The board prints exact values rounded half up to 3 decimals, and its per-invoke rows are
# rounded the same way, so a statistic recomputed from the rows may differ from the board's
# by at most 0.0005 (rows) + 0.0005 (summary); anything beyond that is a contradiction.
_ROUNDING = 1e-3
NO_CYCLES = -1.0  # the protocol's "no cycle counter"


def check_timing(us: float, cycles: float, bound_us: float, name: str = "us") -> None:
    """One time ``name`` (in us): finite, above zero and within ``bound_us`` (no invoke can
    outlast the command that timed it); its cycles -1 (no counter) or finite and above zero."""
    if not math.isfinite(us) or us <= 0:
        raise ValueError(f"{name}={us:g} is impossible (an invoke takes more than 0 us)")
    if us > bound_us:
        raise ValueError(f"{name}={us:g} is longer than the {bound_us:.0f} us the command "
                         "took or was allowed")
    check_cycles(cycles, name.replace("us", "cycles"))


def check_cycles(cycles: float, name: str) -> None:
    """A cycle count: -1 (no counter) or finite and above zero."""
    if cycles != NO_CYCLES and (not math.isfinite(cycles) or cycles <= 0):
        raise ValueError(f"{name}={cycles:g} is impossible (-1 or a count above 0)")


def check_outputs(values: Sequence[float]) -> None:
    """Output values must be finite: a NaN or inf from the board is never compared or kept."""
    bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        raise ValueError(f"output {bad[0]} is {values[bad[0]]} ({len(bad)} non-finite outputs)")


def check_indices(indices: Sequence[int], n: int) -> None:
    """RAW rows are numbered 0..n-1, each once, in order."""
    if list(indices) != list(range(n)):
        first = next((k for k, i in enumerate(indices) if i != k), len(indices))
        got = indices[first] if first < len(indices) else "nothing"
        raise ValueError(f"RAW row {first} is labelled i={got}; rows must count 0..{n - 1}")


def check_summary(stats: Mapping[str, float], n: int, bound_us: float) -> None:
    """The board's summary on its own: n as asked, each time finite and within (0, bound],
    min <= mean, median, p95 <= max, median <= p95, and 0 <= std <= (max - min) / 2 (the
    largest population spread values in [min, max] can have)."""
    if stats["n"] != n:
        raise ValueError(f"asked for {n} invokes, the board reported n={stats['n']:g}")
    for key in ("mean_us", "min_us", "median_us", "p95_us", "max_us"):
        check_timing(stats[key], NO_CYCLES, bound_us, key)
    low, high = stats["min_us"] - _ROUNDING, stats["max_us"] + _ROUNDING
    for key in ("mean_us", "median_us", "p95_us"):
        if not low <= stats[key] <= high:
            raise ValueError(f"{key}={stats[key]:g} lies outside min_us={stats['min_us']:g} .. "
                             f"max_us={stats['max_us']:g}")
    if stats["median_us"] > stats["p95_us"] + _ROUNDING:
        raise ValueError(f"median_us={stats['median_us']:g} exceeds p95_us={stats['p95_us']:g}")
    spread = (stats["max_us"] - stats["min_us"]) / 2 + _ROUNDING
    if not math.isfinite(stats["std_us"]) or not 0 <= stats["std_us"] <= spread:
        raise ValueError(f"std_us={stats['std_us']:g} is impossible for values between "
                         f"{stats['min_us']:g} and {stats['max_us']:g}")
    check_cycles(stats["mean_cycles"], "mean_cycles")


def check_rows_agree(stats: Mapping[str, float], rows_us: Sequence[float],
                     rows_cycles: Sequence[float]) -> None:
    """The summary is what the rows give by firmware/PROTOCOL.md's definitions (numpy's:
    population std, linear p95), to the protocol's rounding; cycles all -1 or none."""
    us = sorted(rows_us)
    expected = {"mean_us": statistics.fmean(us), "std_us": statistics.pstdev(us),
                "min_us": us[0], "median_us": statistics.median(us), "p95_us": percentile(us, 95),
                "max_us": us[-1]}
    for key, value in expected.items():
        if abs(stats[key] - value) > _ROUNDING + 1e-9 * abs(value):
            raise ValueError(f"{key}={stats[key]:g} contradicts the {len(us)} rows received "
                             f"(they give {value:.3f})")
    without = [c == NO_CYCLES for c in rows_cycles]
    if any(without) and not all(without):
        raise ValueError("some rows have a cycle count and others -1")
    mean_cycles = NO_CYCLES if all(without) else statistics.fmean(rows_cycles)
    if abs(stats["mean_cycles"] - mean_cycles) > _ROUNDING + 1e-9 * abs(mean_cycles):
        raise ValueError(f"mean_cycles={stats['mean_cycles']:g} contradicts the rows "
                         f"(they give {mean_cycles:.3f})")


def percentile(ordered: Sequence[float], q: float) -> float:
    """numpy.percentile's default (linear between order statistics at rank q/100*(n-1))."""
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
