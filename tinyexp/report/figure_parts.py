"""What every report figure draws the same way, so a reader learns it once: latencies in a unit
chosen for the data, an estimate drawn hollow with its 80% interval (a measurement filled),
one legend per figure, and a note where a panel has nothing to show instead of empty axes.

Callers import matplotlib lazily (inside their figure functions); so does this module.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from tinyexp.report.units import TimeUnit, time_unit
from tinyexp.tracking.report_runs import Row, is_estimate, is_missing, latency_interval_us, latency_us, variant_order

NOTE_GID = "tinyexp-note"  # the gid of a panel's "nothing to show" text, so tests can find it
ESTIMATE_LABEL = "estimate (hollow; bar: 80% interval)"
MEASURED_LABEL = "measured (filled)"
INTERVAL_STYLE = {"fmt": "none", "ecolor": "grey", "elinewidth": 1, "capsize": 3}
_VARIANT_MARKERS = {"float32": "o", "float16": "D", "dynamic": "s", "int16x8": "v", "int8": "^"}


def latency_unit(rows: Iterable[Row]) -> TimeUnit:
    """The unit the rows' latencies read best in."""
    return time_unit(latency_us(r) for r in rows)


def latency_in(unit: TimeUnit) -> Callable[[Row], float | None]:
    """A row's latency in the unit; None where it has none."""
    return lambda row: None if (us := latency_us(row)) is None else unit.scale(us)


def interval_points(rows: Iterable[Row], x: str) -> list[tuple[float, float, float, float]]:
    """(x, latency, low, high) in us of every row whose latency estimate carries its 80% interval."""
    points = []
    for row in rows:
        at, latency, interval = row.get(x), latency_us(row), latency_interval_us(row)
        if not is_missing(at) and at and latency is not None and interval is not None:  # x on a log axis
            points.append((float(at), latency, *interval))
    return sorted(points)


def draw_intervals(ax: Any, points: Sequence[tuple[float, float, float, float]], unit: TimeUnit,
                   latency_on_x: bool = False) -> None:
    """Each estimate's 80% interval as an error bar along the latency axis."""
    if not points:
        return
    at, mid, low, high = (list(v) for v in zip(*points))
    mid, low, high = ([unit.scale(v) for v in vs] for vs in (mid, low, high))
    spread = [[m - lo for m, lo in zip(mid, low)], [h - m for m, h in zip(mid, high)]]
    if latency_on_x:
        ax.errorbar(mid, at, xerr=spread, **INTERVAL_STYLE)
    else:
        ax.errorbar(at, mid, yerr=spread, **INTERVAL_STYLE)


def source_style(row: Row, color: Any) -> dict[str, Any]:
    """Marker faces: hollow for an estimate, filled for a measurement (or an exact count)."""
    return {"markerfacecolor": "white" if is_estimate(row) else color, "markeredgecolor": color}


def variant_color(variant: str) -> str:
    """One colour per variant, the same in every panel and figure (float32 blue, dynamic green...)."""
    rank, per_channel = variant_order(variant)
    return f"C{rank + 5 * per_channel}"


def plain_ticks(axis: Any) -> None:
    """Log-axis tick labels as plain numbers (0.5, 2, 10), not powers of ten, in the unit shown."""
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))


def variant_marker(variant: str) -> str:
    return _VARIANT_MARKERS.get(variant.removesuffix("_per_channel"), "v")


def model_colors(models: Sequence[str]) -> dict[str, Any]:
    """A distinct colour per model: a qualitative map for up to ten, then a sequential one."""
    from matplotlib import colormaps

    if len(models) <= 10:
        return {m: colormaps["tab10"](i) for i, m in enumerate(models)}
    steps = len(models) - 1  # more models than distinct hues: a sequential map, in report order (by size)
    return {m: colormaps["viridis"](0.9 * i / steps) for i, m in enumerate(models)}


def source_handles(rows: Iterable[Row]) -> list[Any]:
    """Legend entries saying which points are estimates and which measurements, for those shown."""
    from matplotlib.lines import Line2D

    sources = {is_estimate(r) for r in rows if latency_us(r) is not None}
    handles = [Line2D([], [], linestyle="none", marker="o", color="dimgrey", markerfacecolor=face, label=label)
               for estimate, face, label in ((False, "dimgrey", MEASURED_LABEL), (True, "white", ESTIMATE_LABEL))
               if estimate in sources]
    return handles


def figure_legend(fig: Any, handles: Sequence[Any]) -> None:
    """One legend for the whole figure, outside the panels on the right, so no point is hidden."""
    if handles:
        fig.legend(handles=list(handles), loc="outside right upper", fontsize="small")


def note(ax: Any, text: str) -> None:
    """Say why a panel is empty instead of drawing meaningless axes."""
    ax.set_axis_off()  # no axes, ticks or grid to suggest a scale; the title stays
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes, color="dimgrey",
            fontsize="large", gid=NOTE_GID)


def panel_notes(fig: Any) -> list[str]:
    """The notes drawn in a figure's empty panels (for tests and checks)."""
    return [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == NOTE_GID]
