"""Energy per inference against accuracy and against latency: one figure, two panels.

Battery-powered users choose on energy; these panels show what each variant costs per
inference beside what it gains in accuracy and how energy tracks latency. An estimated energy
(latency x the board's declared power) is hollow with its interval, a meter's reading filled;
an estimated latency keeps its own 80% interval along the latency axis. A panel with nothing to
show carries a note saying so.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Sequence

from tinyexp.report import figure_parts as parts
from tinyexp.report.comparison import accuracy_measure, value
from tinyexp.tracking.report_runs import (Row, energy_interval_uj, energy_uj, is_energy_estimate,
                                          latency_interval_us, latency_us)

_NO_ENERGY = "no run has an energy figure\n(why: energy_source in the runs)"
_ENERGY_UNITS = (("nJ", 1e3), ("uJ", 1.0), ("mJ", 1e-3), ("J", 1e-6))


def energy_unit(rows: Sequence[Row]) -> tuple[str, float]:
    """The unit (and its factor from uJ) in which the rows' median energy is at least 1."""
    values = [e for r in rows if (e := energy_uj(r)) is not None]
    median = statistics.median(values) if values else 1.0
    fitting = [(name, factor) for name, factor in _ENERGY_UNITS if median * factor >= 1.0]
    return fitting[-1] if fitting else _ENERGY_UNITS[0]


def _kind(rows: Sequence[Row]) -> str:
    sources = {is_energy_estimate(r) for r in rows}
    return "estimated" if sources == {True} else "some estimated" if True in sources else "measured"


def _spread(mid: float, interval: tuple[float, float] | None, factor: float) -> list[list[float]] | None:
    return None if interval is None else [[mid - interval[0] * factor], [interval[1] * factor - mid]]


def _point(ax: Any, row: Row, x: float, y: float, color: Any, xerr: Any = None, yerr: Any = None) -> None:
    face = "white" if is_energy_estimate(row) else color
    if xerr is not None or yerr is not None:
        ax.errorbar([x], [y], xerr=xerr, yerr=yerr, **parts.INTERVAL_STYLE)
    ax.plot([x], [y], linestyle="none", marker=parts.variant_marker(row["variant"]), markersize=7, color=color,
            markerfacecolor=face, markeredgecolor=color)


def _legend(rows: Sequence[Row], colors: dict[str, Any]) -> list[Any]:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, linewidth=6, label=m) for m, c in colors.items()]
    handles += [Line2D([], [], linestyle="none", marker=parts.variant_marker(v), color="dimgrey", label=v)
                for v in dict.fromkeys(r["variant"] for r in rows)]
    sources = {is_energy_estimate(r) for r in rows}
    handles += [Line2D([], [], linestyle="none", marker="o", color="dimgrey", markerfacecolor=face, label=label)
                for estimate, face, label in ((False, "dimgrey", "energy measured (filled)"),
                                              (True, "white", "energy estimated (hollow; bar: interval)"))
                if estimate in sources]
    if any(energy_interval_uj(r) is not None or latency_interval_us(r) is not None for r in rows):
        handles.append(Line2D([], [], color="grey", marker="|", markersize=10,
                              label="interval of an estimate (docs/energy.md)"))
    return handles


def build_energy_figure(rows: Sequence[Row]) -> Any:
    """Accuracy against energy per inference, and energy per inference against latency."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14.0, 5.5), layout="constrained")
    accuracy_ax, latency_ax = fig.subplots(1, 2)
    accuracy_ax.set_title("Accuracy vs energy per inference")
    latency_ax.set_title("Energy per inference vs latency")
    with_energy = [r for r in rows if (energy_uj(r) or 0) > 0]
    if not with_energy:
        parts.note(accuracy_ax, _NO_ENERGY)
        parts.note(latency_ax, _NO_ENERGY)
        return fig
    unit, factor = energy_unit(with_energy)
    colors = parts.model_colors(list(dict.fromkeys(r["model"] for r in with_energy)))
    energy_label = f"energy per inference ({unit}, {_kind(with_energy)})"
    measure, higher = accuracy_measure(with_energy)
    scored = [r for r in with_energy if value(r, measure) is not None]
    for row in scored:
        e = energy_uj(row) * factor
        _point(accuracy_ax, row, e, value(row, measure), colors[row["model"]],
               xerr=_spread(e, energy_interval_uj(row), factor))
    if scored:
        accuracy_ax.set(xscale="log", xlabel=energy_label,
                        ylabel=f"{measure} ({'higher' if higher else 'lower'} is better)")
        parts.plain_ticks(accuracy_ax.xaxis)
        accuracy_ax.grid(True, which="both", alpha=0.3)
    else:
        parts.note(accuracy_ax, f"no run with an energy figure recorded {measure}")
    time_unit = parts.latency_unit(with_energy)
    for row in with_energy:
        e, t = energy_uj(row) * factor, time_unit.scale(latency_us(row) or 0.0)
        interval = latency_interval_us(row)
        t_spread = None if interval is None else [[t - time_unit.scale(interval[0])], [time_unit.scale(interval[1]) - t]]
        _point(latency_ax, row, t, e, colors[row["model"]], xerr=t_spread,
               yerr=_spread(e, energy_interval_uj(row), factor))
    latency_ax.set(xscale="log", yscale="log", xlabel=f"latency ({time_unit.name})", ylabel=energy_label)
    parts.plain_ticks(latency_ax.xaxis)
    parts.plain_ticks(latency_ax.yaxis)
    latency_ax.grid(True, which="both", alpha=0.3)
    parts.figure_legend(fig, _legend(with_energy, colors))
    return fig


def energy_figure(rows: Sequence[Row], path: Path) -> Path:
    build_energy_figure(rows).savefig(path, dpi=120)
    return path
