"""The comparison part of the report: Pareto front, accuracy measure, per-MAC latency, and
that the study's tables appear only for dense grids."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from tinyexp.tflm.evaluate import classification_metrics
import pytest

from tinyexp.report import comparison, figure_parts, tradeoffs
from tinyexp.report.document import study_grid, write_report
from tinyexp.report.units import time_unit


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
    paths = {p.name for p in write_report(rows, tmp_path)}
    assert {"comparison.csv", "tradeoffs.png", "latency_per_mac.png", "report.md"} <= paths
    assert "table1_latency.csv" not in paths
    table = comparison.comparison_rows(rows)
    assert table[1]["latency_per_mac_ns"] == 2.0e5 * 1000 / 2.6e6
    header = (tmp_path / "comparison.md").read_text().splitlines()[2]
    assert "latency_ms" in header and "test_mse" not in header  # 2e5-5e5 us read in ms; an empty column dropped
    assert "test_mse" not in (tmp_path / "comparison.csv").read_text().splitlines()[0]


def test_a_quantised_classifiers_accuracy_change_stands_beside_its_accuracy(tmp_path: Path) -> None:
    """int8 and int16x8 read against float32 in one table: each quantised run's own change."""
    rows = [_row("cnn", "float32", test_accuracy=0.94), _row("cnn", "int8", test_accuracy=0.90,
                                                              test_accuracy_change_vs_float32=-0.04),
            _row("cnn", "int16x8", test_accuracy=0.94, test_accuracy_change_vs_float32=0.0)]
    write_report(rows, tmp_path)
    table = {r["variant"]: r for r in csv.DictReader((tmp_path / "comparison.csv").open())}
    assert table["int8"]["test_accuracy_change_vs_float32"] == "-0.04"
    assert table["int16x8"]["test_accuracy_change_vs_float32"] == "0"
    assert table["float32"]["test_accuracy_change_vs_float32"] == ""


@pytest.mark.parametrize(("values_us", "unit"), [
    ([192.0, 534.0, 999.0], "us"), ([192.0, 2588.0, 23285.0], "ms"), ([4.0e5, 1.0e6, 2.0e6], "s"),
    ([4.0e5, 6.0e5, 9.0e5], "ms"), ([], "us"), ([None, 3.0e6], "s")])
def test_time_unit_puts_the_typical_value_between_1_and_1000(values_us: list, unit: str) -> None:
    assert time_unit(values_us).name == unit


def _dense(n: int, variant: str, **values: object) -> dict:
    return {**_row(f"1-{n}-{n}-1", variant, **values), "dense": True, "n": n}


def test_nothing_deployed_draws_notes_not_empty_panels(tmp_path: Path) -> None:
    rows = [_dense(n, "dynamic", model_bytes=n * 100.0, float_model_bytes=n * 300.0, size_ratio=3.0, test_mse=0.1,
                   latency_source="not_measured", fits_flash="true") for n in (32, 64)]
    fig = tradeoffs.build_tradeoff_figure(rows)
    (note,) = figure_parts.panel_notes(fig)
    assert note.startswith("nothing deployed: no latency") and fig.axes[0].get_title() == "Accuracy vs latency"
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in fig.axes)
    assert figure_parts.panel_notes(tradeoffs.build_latency_per_mac_figure(rows))
    paths = {p.name for p in write_report(rows, tmp_path)}
    assert "table1_latency.csv" not in paths and "latency.png" not in paths  # no float32 runs: no Table 1
    assert {"table2_size.csv", "sizes.png"} <= paths
    assert "fits (dynamic)" in (tmp_path / "table2_size.md").read_text()


def test_study_tables_only_for_the_studys_kind_of_grid(tmp_path: Path) -> None:
    floats = [_dense(n, "float32", model_bytes=n * 300.0, test_mse=0.1) for n in (16, 64)]
    assert study_grid(floats) == {"float32"}  # no dynamic-range runs: no Table 2
    paths = {p.name for p in write_report(floats, tmp_path)}
    assert "table1_latency.csv" in paths and "table2_size.csv" not in paths and "sizes.png" not in paths
    wide = {**_dense(16, "dynamic"), "model": "1-16-16-16-1"}
    assert study_grid([*floats, wide]) == set()  # a model off the 1-n-n-1 grid: none of the study's tables


def test_estimates_hollow_with_intervals_measurements_filled() -> None:
    rows = [_row("kws", "float32", model_bytes=9.0e4, latency_us=5.0e5, test_accuracy=0.5,
                 latency_source="estimate", latency_estimate_low_us=3.0e5, latency_estimate_high_us=8.0e5),
            _row("vww", "int8", model_bytes=3.0e5, latency_us=9.0e5, test_accuracy=0.6, latency_source="measured")]
    fig = tradeoffs.build_tradeoff_figure(rows)
    latency_ax = fig.axes[0]
    assert latency_ax.get_xlabel() == "latency (ms, some estimated)"
    faces = sorted(str(line.get_markerfacecolor()) for line in latency_ax.lines[:2])
    assert "white" in faces and len(set(faces)) == 2
    assert latency_ax.containers  # the estimate's interval bar
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert figure_parts.ESTIMATE_LABEL in labels and figure_parts.MEASURED_LABEL in labels


def test_every_table_column_filled_or_dropped(tmp_path: Path) -> None:
    rows = [_dense(16, "float32", model_bytes=2524.0, test_mse=0.1, latency_source="not_measured", fits_flash="true"),
            _dense(16, "dynamic", model_bytes=2524.0, float_model_bytes=2524.0, test_mse=0.1, fits_flash="true")]
    write_report(rows, tmp_path)
    for table in tmp_path.glob("*.csv"):
        found = list(csv.DictReader(table.open()))
        empty = [c for c in found[0] if all(r[c] == "" for r in found)]
        assert not empty, f"{table.name}: empty columns {empty}"
