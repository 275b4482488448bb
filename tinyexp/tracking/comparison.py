"""The part of `tinyexp report` that fits any sweep: one comparison table of every run, and
the trade-off figures (accuracy against latency and against model size with the Pareto
front; latency per MAC by model).

Accuracy is the classification top-1 accuracy where runs have it (higher is better), else the
regression test mse (lower is better); a figure says which. Rows are the report's plain
dicts, so everything here is testable without an MLflow store.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

Row = dict[str, Any]

COMPARISON_COLUMNS = ("model", "variant", "board", "model_bytes", "arena_required_bytes", "macs", "latency_us",
                      "latency_source", "test_accuracy", "test_auc", "test_mse", "fits_flash", "fits_ram",
                      "run_id")


def _value(row: Mapping[str, Any], key: str) -> float | None:
    value = row.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def accuracy_measure(rows: Sequence[Row]) -> tuple[str, bool]:
    """The accuracy column the figures use and whether higher is better."""
    if any(_value(r, "test_accuracy") is not None for r in rows):
        return "test_accuracy", True
    return "test_mse", False


def pareto_front(points: Iterable[tuple[float, float]], higher_is_better: bool) -> list[tuple[float, float]]:
    """The points no other point beats on both cost (x, lower is better) and accuracy (y),
    sorted by cost."""
    front: list[tuple[float, float]] = []
    best: float | None = None
    sign = 1.0 if higher_is_better else -1.0
    for x, y in sorted(points, key=lambda p: (p[0], -sign * p[1])):
        if best is None or sign * y > sign * best:
            front.append((x, y))
            best = y
    return front


def comparison_rows(rows: Sequence[Row]) -> list[Row]:
    """The comparison table's rows, by model then variant, with latency per MAC added."""
    out = []
    for row in rows:
        latency, macs = _value(row, "latency_us"), _value(row, "macs")
        per_mac = latency * 1000.0 / macs if latency is not None and macs else None
        out.append({**{c: row.get(c) for c in COMPARISON_COLUMNS}, "latency_per_mac_ns": per_mac})
    return out


def _points(rows: Sequence[Row], x: str, y: str) -> dict[str, list[tuple[float, float]]]:
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        px, py = _value(row, x), _value(row, y)
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
    sources = {r.get("latency_source") for r in rows if _value(r, "latency_us") is not None}
    note = " (estimates, not measured)" if sources == {"estimate"} else (
        " (some estimated)" if "estimate" in sources else "")
    _tradeoff_axes(latency_ax, rows, "latency_us", "latency (us)" + note)
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
