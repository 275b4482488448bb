"""A board's per-operator profile (PROF) as a run's table and bar chart.

The figures are the board's: measured on a real board, estimated on the virtual board (the
run's ``latency_source`` and the chart's title say which). MACs come from the host's own
reading of the model (the board does not count them), matched to the board's operators by
position and checked by type: when the board ran another operator list, the table has no
MACs rather than misattributed ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent import protocol as p
from agent.profile_table import profile_rows
from tinyexp.tflm.inspect import ModelStats

COLUMNS = ("operator", "type", "macs", "time_us", "cycles", "share")
_LAYER_OPS = frozenset({"FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D"})


def operator_work(stats: ModelStats) -> list[tuple[str, int]]:
    """(type, MACs) per operator in execution order; only layers do MACs."""
    layers = iter(stats.layers)
    return [(op, next(layers).macs if op in _LAYER_OPS else 0) for op in stats.ops]


def profile_table(profile: p.Profile, stats: ModelStats) -> tuple[dict[str, list[Any]], bool]:
    """Columns for mlflow.log_table, and whether the MACs could be matched to the model."""
    rows = profile_rows(profile)
    work = operator_work(stats)
    matched = [r["type"] for r in rows] == [op for op, _ in work]
    for row, item in zip(rows, work if matched else [None] * len(rows)):
        row["macs"] = item[1] if item else None
    return {column: [row.get(column) for row in rows] for column in COLUMNS}, matched


def bar_chart(table: dict[str, list[Any]], source: str, path: Path) -> Path:
    """Horizontal bars of time per operator, in execution order from the top, with shares."""
    from matplotlib.figure import Figure

    labels = [f"{i} {t}" for i, t in zip(table["operator"], table["type"])]
    times = [t if t is not None else 0.0 for t in table["time_us"]]
    fig = Figure(figsize=(7.5, 1.2 + 0.35 * len(labels)), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.barh(range(len(labels)), times, color="tab:orange" if source == "estimate" else "tab:blue")
    ax.bar_label(bars, labels=["" if s is None else f"{100 * s:.1f}%" for s in table["share"]],
                 padding=3, fontsize="small")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    what = "estimated, not measured" if source == "estimate" else source
    ax.set(xlabel="time per invoke (us)", title=f"Per-operator time ({what})")
    ax.grid(True, axis="x", alpha=0.3)
    fig.savefig(path, dpi=120)
    return path
