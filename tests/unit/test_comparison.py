"""The comparison part of the report: Pareto front, accuracy measure, per-MAC latency, and
that the study's tables appear only for dense grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tinyexp.tflm.evaluate import classification_metrics
from tinyexp.tracking import comparison, report


def test_pareto_front_lower_cost_higher_accuracy() -> None:
    points = [(10, 0.80), (20, 0.90), (15, 0.70), (30, 0.85), (40, 0.95), (10, 0.75)]
    assert comparison.pareto_front(points, higher_is_better=True) == [(10, 0.80), (20, 0.90), (40, 0.95)]
    assert comparison.pareto_front([(1, 0.5), (2, 0.1), (3, 0.2)], higher_is_better=False) == [(1, 0.5), (2, 0.1)]


def test_classification_metrics_by_hand() -> None:
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.5], [0.2, 0.1]])
    labels = np.array([0, 1, 1, 0])
    m = classification_metrics(logits, labels)
    assert m["test_accuracy"] == 0.75
    # class-1 scores (output 1 - output 0): -2, 1, -0.5, -0.1; positives {1, -0.5}, negatives {-2, -0.1}:
    # of the 4 (positive, negative) pairs, 3 are ordered right
    assert m["test_auc"] == 0.75
    assert "test_auc" not in classification_metrics(np.eye(3), np.arange(3))


def _row(model: str, variant: str, **values: object) -> dict:
    return {"run_id": f"{model}-{variant}", "run_name": model, "start_time_ms": 0, "model": model,
            "variant": variant, "board": "nano33ble", "dense": False, "n": None, "flash_limit_bytes": 983040.0,
            "config": (model, variant), **values}


def test_any_sweep_report_has_comparison_and_no_study_tables(tmp_path: Path) -> None:
    rows = [_row("kws", "float32", model_bytes=90000.0, macs=2.6e6, latency_us=5.0e5, test_accuracy=0.5,
                 latency_source="estimate"),
            _row("kws", "int8", model_bytes=30000.0, macs=2.6e6, latency_us=2.0e5, test_accuracy=0.45,
                 latency_source="estimate")]
    paths = {p.name for p in report.write_report(rows, tmp_path)}
    assert {"comparison.csv", "tradeoffs.png", "latency_per_mac.png", "report.md"} <= paths
    assert "table1_latency.csv" not in paths
    table = comparison.comparison_rows(rows)
    assert table[1]["latency_per_mac_ns"] == 2.0e5 * 1000 / 2.6e6
