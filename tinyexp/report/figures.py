"""The study's figures (matplotlib, PNG): latency by hidden-to-hidden weights and model size by n,
beside the published points. Any sweep's figures are in tinyexp.report.tradeoffs.

matplotlib is imported inside each figure function: reading runs and building tables must not
pay for it. Estimates are drawn hollow with their 80% interval and say so in the legend and title;
latencies are shown in the unit their values call for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from tinyexp.core.names import FLOAT32
from tinyexp.report import figure_parts as parts
from tinyexp.report.comparison import value
from tinyexp.report.tables import hidden_to_hidden_weights, ratio
from tinyexp.report.units import time_unit
from tinyexp.tracking.report_runs import Row, is_estimate, is_missing, latency_us, variant_order

# ------------------------------------------------------------------- the study's figures

Series = dict[tuple[str, str | None], list[tuple[float, float, bool]]]


def _series(rows: Iterable[Row], x: str, y: Callable[[Row], float | None], several_boards: bool) -> Series:
    """(x, y, is it an estimate) per variant (and board, when the report spans several), sorted by x."""
    series: Series = {}
    for row in sorted(rows, key=lambda r: variant_order(r["variant"])):
        at, shown = row.get(x), y(row)
        if is_missing(at) or not at or not shown:
            continue
        series.setdefault((row["variant"], row["board"] if several_boards else None), []).append(
            (float(at), shown, is_estimate(row)))
    return {key: sorted(points) for key, points in series.items()}


def _plot(ax: Any, series: Series, suffix: str = "") -> None:
    """A line per series, coloured by variant in every panel; estimated points hollow, measured (or
    exact) points filled."""
    for i, ((variant, board), points) in enumerate(series.items()):
        color = parts.variant_color(variant) if board is None else f"C{i % 10}"
        ax.plot([p[0] for p in points], [p[1] for p in points], color=color,
                label=variant + (f" @ {board}" if board else "") + suffix)
        for estimate in (False, True):
            chosen = [(px, py) for px, py, e in points if e == estimate]
            if chosen:
                ax.plot(*zip(*chosen), linestyle="none", marker="o", color=color, markeredgecolor=color,
                        markerfacecolor="white" if estimate else color)


def _plot_study(ax: Any, points: list[tuple[float, float | None]], label: str, marker: str = "x") -> None:
    shown = [(x, y) for x, y in points if y]
    if shown:
        xs, ys = zip(*shown)
        ax.plot(xs, ys, linestyle="none", marker=marker, markersize=9, color="black", label=label)


def _latency_title(rows: Sequence[Row]) -> str:
    sources = {is_estimate(r) for r in rows if latency_us(r) is not None}
    title = "Inference latency vs hidden-to-hidden weights"
    if sources == {True}:
        return title + "\n(ours: estimates on the virtual board, not measured)"
    return title + ("\n(some of ours are estimates, not measured)" if True in sources else "")


def _legend(fig: Any, axes: Sequence[Any], rows: Sequence[Row]) -> None:
    """The figure's one legend: every labelled line of its panels, then which points are estimates."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    parts.figure_legend(fig, [*seen.values(), *parts.source_handles(rows)])


def build_latency_figure(rows: Sequence[Row], published: Mapping[str, Row]) -> Any:
    """Latency against n*n on log-log axes: the study's linear law is a straight line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 5.0), layout="constrained")
    ax = fig.add_subplot()
    studied = {m: p for m, p in published.items() if p["latency_float32_us"]}
    unit = time_unit([*(latency_us(r) for r in rows), *(p["latency_float32_us"] for p in studied.values())])
    ours = _series(rows, "hidden_to_hidden_weights", parts.latency_in(unit), _several_boards(rows))
    if not ours:
        parts.note(ax, "nothing deployed: no latency of ours to plot")
        return fig
    _plot(ax, ours)
    parts.draw_intervals(ax, parts.interval_points(rows, "hidden_to_hidden_weights"), unit)
    _plot_study(ax, [(hidden_to_hidden_weights(m), unit.scale(p["latency_float32_us"])) for m, p in studied.items()],
                "Dokic et al. 2020 (float32, measured)")
    ax.set(xscale="log", yscale="log", xlabel="hidden-to-hidden weights (n*n)", ylabel=f"latency ({unit.name})",
           title=_latency_title(rows))
    parts.plain_ticks(ax.yaxis)
    ax.grid(True, which="both", alpha=0.3)
    _legend(fig, [ax], rows)
    return fig


def latency_figure(rows: Sequence[Row], path: Path, published: Mapping[str, Row]) -> Path:
    build_latency_figure(rows, published).savefig(path, dpi=120)
    return path


def _field(key: str) -> Callable[[Row], float | None]:
    return lambda row: value(row, key)


def _exact(series: Series) -> Series:
    """Sizes are counted, never estimated: every point filled."""
    return {key: [(x, y, False) for x, y, _ in points] for key, points in series.items()}


def build_sizes_figure(rows: Sequence[Row], published: Mapping[str, Row]) -> Any:
    """Model size per variant and the float/quantised ratio against n, with the flash limit."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13.0, 5.0), layout="constrained")
    size_ax, ratio_ax = fig.subplots(1, 2)
    several = _several_boards(rows)
    _plot(size_ax, _exact(_series(rows, "n", _field("model_bytes"), several)))
    _plot_study(size_ax, [(p["n"], p["float_model_bytes"]) for p in published.values()], "study float32")
    _plot_study(size_ax, [(p["n"], p["quantised_model_bytes"]) for p in published.values()], "study dynamic", "+")
    for board, limit in sorted({(r["board"], r["flash_limit_bytes"]) for r in rows if r["flash_limit_bytes"]}):
        size_ax.axhline(limit, color="red", linestyle="--", linewidth=1, label=f"{board} flash limit")
    size_ax.set(yscale="log", ylabel="model size (bytes)", title="TFLite model size")
    ratios = _series([r for r in rows if r["variant"] != FLOAT32], "n", _field("size_ratio"), several)
    ratio_ax.set_title("Size ratio float32 / quantised")
    if ratios:
        _plot(ratio_ax, _exact(ratios), " ratio")
        _plot_study(ratio_ax, [(p["n"], ratio(p["float_model_bytes"], p["quantised_model_bytes"]))
                               for p in published.values()], "study float32/dynamic ratio", "D")
        ratio_ax.set_ylabel("size ratio (float32 bytes / bytes)")
    else:
        parts.note(ratio_ax, "no quantised runs: no size ratio")
    for ax in (size_ax, ratio_ax):
        _n_axis(ax)
        ax.grid(True, which="both", alpha=0.3)
    _legend(fig, [size_ax, ratio_ax], [])
    return fig


def sizes_figure(rows: Sequence[Row], path: Path, published: Mapping[str, Row]) -> Path:
    build_sizes_figure(rows, published).savefig(path, dpi=120)
    return path


def _n_axis(ax: Any) -> None:
    """n doubles along the study's range, so a base-2 log axis with plain numbers reads best."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("n (neurons per hidden layer)")


def _several_boards(rows: Sequence[Row]) -> bool:
    return len({r["board"] for r in rows}) > 1
