"""The part of `tinyexp report` that fits any sweep: one comparison table of every run, and
what its trade-off figures need (the accuracy measure, the Pareto front).

Accuracy is the classification top-1 accuracy where runs have it (higher is better), else the
regression test mse (lower is better); a figure says which. Rows are the report's plain
dicts, so everything here is testable without an MLflow store.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from tinyexp.report.tables import Table
from tinyexp.tracking.report_runs import Row, is_missing, latency_us

# A quantised classifier's accuracy change against its own float32 reference sits beside its
# accuracy, so int8 and int16x8 read side by side (the column is dropped where no run has it).
COMPARISON_COLUMNS = ("model", "variant", "board", "model_bytes", "arena_required_bytes", "macs", "latency_us",
                      "latency_source", "energy_per_inference_uj", "energy_source", "test_accuracy",
                      "test_accuracy_change_vs_float32", "test_auc", "test_mse", "fits_flash", "fits_ram",
                      "run_id")


def value(row: Mapping[str, Any], key: str) -> float | None:
    """A row's figure as a float; None where the run did not record it."""
    recorded = row.get(key)
    return None if is_missing(recorded) else float(recorded)


def accuracy_measure(rows: Sequence[Row]) -> tuple[str, bool]:
    """The accuracy column the figures use and whether higher is better."""
    if any(value(r, "test_accuracy") is not None for r in rows):
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
        latency, macs = latency_us(row), value(row, "macs")
        per_mac = latency * 1000.0 / macs if latency is not None and macs else None
        energy_source = row.get("energy_source")  # "none: <why>" shortened: the why is in the run
        out.append({**{c: row.get(c) for c in COMPARISON_COLUMNS}, "latency_us": latency,
                    "latency_per_mac_ns": per_mac,
                    "energy_source": energy_source.split(":")[0] if energy_source else None})
    return out


def comparison_table(rows: Sequence[Row]) -> Table:
    """Every run's size, memory, work, latency (and per MAC), energy and accuracy, run id last."""
    return Table("comparison", "Every run: size, memory, work, latency, energy and accuracy",
                 (*COMPARISON_COLUMNS[:-1], "latency_per_mac_ns", "run_id"), comparison_rows(rows))
