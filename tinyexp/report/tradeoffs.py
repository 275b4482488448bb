"""Any sweep's figures (matplotlib, PNG): accuracy against latency and against model size, each
with its Pareto front, and latency per MAC by model.

A point's colour is its model, its marker its variant; an estimated latency is hollow with its
80% interval, a measured one filled; one legend per figure says all this. A panel with nothing
to show (nothing deployed, no accuracy recorded) carries a note saying so instead of empty axes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from tinyexp.report import figure_parts as parts
from tinyexp.report.comparison import accuracy_measure, comparison_rows, pareto_front, value
from tinyexp.tracking.report_runs import Row, is_estimate, latency_interval_us, latency_us, variant_order

_NOTHING_DEPLOYED = "nothing deployed: no latency"
_WHY = "\n(why: not_deployed_reason in the runs table)"


def _scatter(ax: Any, rows: Sequence[Row], x: Callable[[Row], float | None], measure: str, higher: bool,
             colors: dict[str, Any], hollow_estimates: bool) -> list[Row]:
    """Each row with an x and an accuracy as one point, the Pareto front ringed; the rows drawn.
    Estimates are hollow only where x is the estimated latency (a size is counted, never estimated)."""
    drawn = [r for r in rows if (x(r) or 0) > 0 and value(r, measure) is not None]
    for row in drawn:
        color = colors[row["model"]]
        face = parts.source_style(row, color) if hollow_estimates else {"markerfacecolor": color}
        ax.plot([x(row)], [value(row, measure)], linestyle="none", marker=parts.variant_marker(row["variant"]),
                markersize=7, color=color, **face)
    front = pareto_front([(x(r), value(r, measure)) for r in drawn], higher)
    if front:
        fx, fy = zip(*front)
        ax.plot(fx, fy, drawstyle="steps-post", color="black", linewidth=1, marker="o", markersize=13,
                markerfacecolor="none")
    ax.set(xscale="log", ylabel=f"{measure} ({'higher' if higher else 'lower'} is better)")
    ax.grid(True, which="both", alpha=0.3)
    return drawn


def _legend_handles(rows: Sequence[Row], colors: dict[str, Any], intervals: bool) -> list[Any]:
    """Models by colour, variants by marker, estimates vs measurements, Pareto front, interval."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, linewidth=6, label=m) for m, c in colors.items()]
    variants = sorted({r["variant"] for r in rows}, key=variant_order)
    handles += [Line2D([], [], linestyle="none", marker=parts.variant_marker(v), color="dimgrey", label=v)
                for v in variants]
    handles += parts.source_handles(rows)
    handles.append(Line2D([], [], color="black", linewidth=1, marker="o", markersize=11, markerfacecolor="none",
                          label="Pareto front (ringed)"))
    if intervals:
        handles.append(Line2D([], [], color="grey", marker="|", markersize=10, label="80% interval of an estimate"))
    return handles


def _latency_note(rows: Sequence[Row], measure: str) -> str:
    if not any(latency_us(r) is not None for r in rows):
        return _NOTHING_DEPLOYED + _WHY  # (rows: all the sweep's, not only those with the measure)
    return f"no run has both a latency and {measure}"


def build_tradeoff_figure(rows: Sequence[Row]) -> Any:
    """Accuracy against latency and against model size, each with its Pareto front."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14.0, 5.5), layout="constrained")
    latency_ax, size_ax = fig.subplots(1, 2)
    measure, higher = accuracy_measure(rows)
    shown = [r for r in rows if value(r, measure) is not None]
    colors = parts.model_colors(list(dict.fromkeys(r["model"] for r in shown)))
    unit = parts.latency_unit(shown)
    drawn = _scatter(latency_ax, shown, parts.latency_in(unit), measure, higher, colors, hollow_estimates=True)
    intervals = parts.interval_points(drawn, measure)
    if drawn:
        parts.draw_intervals(latency_ax, intervals, unit, latency_on_x=True)
        sources = {is_estimate(r) for r in drawn}
        kind = "estimated" if sources == {True} else "some estimated" if True in sources else "measured"
        latency_ax.set_xlabel(f"latency ({unit.name}, {kind})")
        parts.plain_ticks(latency_ax.xaxis)
    else:
        parts.note(latency_ax, _latency_note(rows, measure))
    latency_ax.set_title("Accuracy vs latency")
    if not _scatter(size_ax, shown, lambda r: value(r, "model_bytes"), measure, higher, colors, hollow_estimates=False):
        parts.note(size_ax, f"no run recorded {measure}")
    size_ax.set(xlabel="model size (bytes)", title="Accuracy vs model size")
    parts.figure_legend(fig, _legend_handles(shown, colors, bool(intervals)))
    left_out = sorted({r["model"] for r in rows} - set(colors))
    if left_out:  # a sweep mixing tasks: say which models the accuracy measure leaves out
        fig.supxlabel(f"Not shown (no {measure}): " + ", ".join(left_out), fontsize="small", color="dimgrey")
    return fig


def tradeoff_figure(rows: Sequence[Row], path: Path) -> Path:
    build_tradeoff_figure(rows).savefig(path, dpi=120)
    return path


def _per_mac_interval(row: Row) -> tuple[float, float] | None:
    interval, macs = latency_interval_us(row), value(row, "macs")
    return None if interval is None or not macs else (interval[0] * 1000.0 / macs, interval[1] * 1000.0 / macs)


def build_latency_per_mac_figure(rows: Sequence[Row]) -> Any:
    """Latency per MAC (ns) of every run, grouped by model: how well each uses the MCU."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    by_id = {r["run_id"]: r for r in rows}
    table = [r for r in comparison_rows(rows) if r["latency_per_mac_ns"] is not None]
    fig = Figure(figsize=(max(7.0, 0.6 * len(table) + 3.5), 5.0), layout="constrained")
    ax = fig.add_subplot()
    ax.set_title("Latency per MAC by model")
    if not table:
        parts.note(ax, _NOTHING_DEPLOYED + " per MAC" + _WHY)
        return fig
    estimated = [is_estimate(by_id[r["run_id"]]) for r in table]
    ax.bar(range(len(table)), [r["latency_per_mac_ns"] for r in table], color="tab:blue", edgecolor="tab:blue",
           fill=False, hatch="//")
    ax.bar([i for i, e in enumerate(estimated) if not e],
           [r["latency_per_mac_ns"] for r, e in zip(table, estimated) if not e], color="tab:blue")
    bars = [(i, r["latency_per_mac_ns"], _per_mac_interval(by_id[r["run_id"]])) for i, r in enumerate(table)]
    bars = [(i, mid, interval) for i, mid, interval in bars if interval is not None]
    if bars:
        ax.errorbar([i for i, _, _ in bars], [m for _, m, _ in bars],
                    yerr=[[m - lo for _, m, (lo, _) in bars], [hi - m for _, m, (_, hi) in bars]],
                    **parts.INTERVAL_STYLE)
    labels = [f"{r['model']}\n{r['variant']}" for r in table]
    ax.set_xticks(range(len(table)), labels, rotation=60, ha="right", fontsize="small")
    ax.set(ylabel="latency per MAC (ns)")
    ax.grid(True, axis="y", alpha=0.3)
    handles = [Patch(facecolor="tab:blue", label="measured")] if not all(estimated) else []
    handles += [Patch(facecolor="white", edgecolor="tab:blue", hatch="//", label="estimate")] if any(estimated) else []
    handles += [Line2D([], [], color="grey", marker="_", label="80% interval of an estimate")] if bars else []
    parts.figure_legend(fig, handles)
    return fig


def latency_per_mac_figure(rows: Sequence[Row], path: Path) -> Path:
    build_latency_per_mac_figure(rows).savefig(path, dpi=120)
    return path
