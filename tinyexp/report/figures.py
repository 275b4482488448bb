"""The report's figures (matplotlib, PNG): the study's latency and size plots beside the
published points, and, for any sweep, the accuracy trade-offs and latency per MAC.

matplotlib is imported inside each figure function: reading runs and building tables must not
pay for it. A figure whose latencies are estimates says so in its title or axis label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from tinyexp.core.names import FLOAT32, Metric
from tinyexp.report.comparison import accuracy_measure, comparison_rows, pareto_front, value
from tinyexp.report.tables import hidden_to_hidden_weights, ratio
from tinyexp.tracking.report_runs import Row, is_missing, variant_order

# ------------------------------------------------------------------- the study's figures


def _series(rows: Iterable[Row], x: str, y: str, several_boards: bool) -> dict[str, list[tuple[float, float]]]:
    """(x, y) points per variant (and board, when the report spans several), sorted by x."""
    series: dict[str, list[tuple[float, float]]] = {}
    for row in sorted(rows, key=lambda r: variant_order(r["variant"])):
        if is_missing(row.get(x)) or is_missing(row.get(y)) or not row[x] or not row[y]:
            continue
        label = row["variant"] + (f" @ {row['board']}" if several_boards else "")
        series.setdefault(label, []).append((float(row[x]), float(row[y])))
    return {label: sorted(points) for label, points in series.items()}


def _plot(ax: Any, series: Mapping[str, list[tuple[float, float]]]) -> None:
    for label, points in series.items():
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", label=label)


def interval_points(rows: Iterable[Row], x: str) -> list[tuple[float, float, float, float]]:
    """(x, mean, low, high) of every row whose latency estimate carries its 80% interval."""
    points = []
    for row in rows:
        values = [row.get(k) for k in (x, Metric.LATENCY_MEAN_US, Metric.LATENCY_ESTIMATE_LOW_US,
                                       Metric.LATENCY_ESTIMATE_HIGH_US)]
        if not any(is_missing(v) for v in values) and values[0]:
            points.append(tuple(float(v) for v in values))
    return sorted(points)


def _interval_bars(ax: Any, rows: Sequence[Row], x: str) -> None:
    """The estimates' 80% prediction intervals as error bars around their points."""
    points = interval_points(rows, x)
    if points:
        xs, means, lows, highs = zip(*points)
        ax.errorbar(xs, means, yerr=[[m - lo for m, lo in zip(means, lows)], [h - m for m, h in zip(means, highs)]],
                    fmt="none", ecolor="grey", elinewidth=1, capsize=3, label="80% interval of the estimate")


def _plot_study(ax: Any, points: list[tuple[float, float | None]], label: str, marker: str = "x") -> None:
    shown = [(x, y) for x, y in points if y]
    if shown:
        xs, ys = zip(*shown)
        ax.plot(xs, ys, linestyle="none", marker=marker, markersize=9, color="black", label=label)


def _latency_title(rows: Sequence[Row]) -> str:
    sources = {r.get("latency_source") for r in rows if not is_missing(r.get("latency_mean_us"))}
    title = "Inference latency vs hidden-to-hidden weights"
    if sources == {"estimate"}:
        return title + "\n(ours: estimates on the virtual board, not measured)"
    return title + ("\n(some of ours are estimates, not measured)" if "estimate" in sources else "")


def latency_figure(rows: Sequence[Row], path: Path, published: Mapping[str, Row]) -> Path:
    """Latency against n*n on log-log axes: the study's linear law is a straight line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.0), layout="constrained")
    ax = fig.add_subplot()
    _plot(ax, _series(rows, "hidden_to_hidden_weights", "latency_mean_us", _several_boards(rows)))
    _interval_bars(ax, rows, "hidden_to_hidden_weights")
    _plot_study(ax, [(hidden_to_hidden_weights(m), p["latency_float32_us"]) for m, p in published.items()],
                "Dokic et al. 2020 (float32, measured)")
    ax.set(xscale="log", yscale="log", xlabel="hidden-to-hidden weights (n*n)", ylabel="mean latency (us)",
           title=_latency_title(rows))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=120)
    return path


def sizes_figure(rows: Sequence[Row], path: Path, published: Mapping[str, Row]) -> Path:
    """Model size per variant and the float/quantised ratio against n, with the flash limit."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12.0, 5.0), layout="constrained")
    size_ax, ratio_ax = fig.subplots(1, 2)
    several = _several_boards(rows)
    _plot(size_ax, _series(rows, "n", "model_bytes", several))
    _plot_study(size_ax, [(p["n"], p["float_model_bytes"]) for p in published.values()], "study float32")
    _plot_study(size_ax, [(p["n"], p["quantised_model_bytes"]) for p in published.values()], "study dynamic", "+")
    for board, limit in sorted({(r["board"], r["flash_limit_bytes"]) for r in rows if r["flash_limit_bytes"]}):
        size_ax.axhline(limit, color="red", linestyle="--", linewidth=1, label=f"{board} flash limit")
    size_ax.set(yscale="log", ylabel="model size (bytes)", title="TFLite model size")
    _plot(ratio_ax, _series([r for r in rows if r["variant"] != FLOAT32], "n", "size_ratio", several))
    _plot_study(ratio_ax, [(p["n"], ratio(p["float_model_bytes"], p["quantised_model_bytes"]))
                           for p in published.values()], "study float32/dynamic")
    ratio_ax.set(ylabel="size ratio (float32 bytes / bytes)", title="Size ratio float32 / quantised")
    for ax in (size_ax, ratio_ax):
        _n_axis(ax)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.savefig(path, dpi=120)
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


# ------------------------------------------------------------------- any sweep's figures


def _points(rows: Sequence[Row], x: str, y: str) -> dict[str, list[tuple[float, float]]]:
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        px, py = value(row, x), value(row, y)
        if px is not None and py is not None and px > 0:
            series.setdefault(f"{row.get('model')} {row.get('variant')}", []).append((px, py))
    return series


def _tradeoff_axes(ax: Any, rows: Sequence[Row], x: str, xlabel: str) -> None:
    measure, higher = accuracy_measure(rows)
    series = _points(rows, x, measure)
    for label, pts in sorted(series.items()):
        xs, ys = zip(*pts)
        ax.plot(xs, ys, linestyle="none", marker="o", label=label)
    front = pareto_front([p for pts in series.values() for p in pts], higher)
    if front:
        fx, fy = zip(*front)
        ax.plot(fx, fy, drawstyle="steps-post", color="black", linewidth=1, marker="o", markersize=12,
                markerfacecolor="none", label="Pareto front (ringed)")
    ax.set(xscale="log", xlabel=xlabel, ylabel=f"{measure} ({'higher' if higher else 'lower'} is better)")
    ax.grid(True, which="both", alpha=0.3)


def tradeoff_figure(rows: Sequence[Row], path: Path) -> Path:
    """Accuracy against latency and against model size, each with its Pareto front."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13.0, 5.5), layout="constrained")
    latency_ax, size_ax = fig.subplots(1, 2)
    sources = {r.get("latency_source") for r in rows if value(r, "latency_mean_us") is not None}
    note = " (estimates, not measured)" if sources == {"estimate"} else (
        " (some estimated)" if "estimate" in sources else "")
    _tradeoff_axes(latency_ax, rows, "latency_mean_us", "mean latency (us)" + note)
    latency_ax.set_title("Accuracy vs latency")
    _tradeoff_axes(size_ax, rows, "model_bytes", "model size (bytes)")
    size_ax.set_title("Accuracy vs model size")
    size_ax.legend(fontsize="small", loc="best")
    fig.savefig(path, dpi=120)
    return path


def latency_per_mac_figure(rows: Sequence[Row], path: Path) -> Path:
    """Latency per MAC (ns) of every run, grouped by model: how well each uses the MCU."""
    from matplotlib.figure import Figure

    table = [r for r in comparison_rows(rows) if r["latency_per_mac_ns"] is not None]
    fig = Figure(figsize=(max(6.0, 0.6 * len(table) + 2), 5.0), layout="constrained")
    ax = fig.add_subplot()
    labels = [f"{r['model']}\n{r['variant']}" for r in table]
    ax.bar(range(len(table)), [r["latency_per_mac_ns"] for r in table])
    ax.set_xticks(range(len(table)), labels, rotation=60, ha="right", fontsize="small")
    ax.set(ylabel="latency per MAC (ns)", title="Latency per MAC by model")
    ax.grid(True, axis="y", alpha=0.3)
    fig.savefig(path, dpi=120)
    return path
