"""`tinyexp report` against a synthetic MLflow store: the tables must say what the runs say.

The runs are logged with MLflow directly, with the names the runner logs, so the report is
tested without training anything: a sweep parent and its children, a duplicated configuration
(the later run must win), a FAILED run and a FINISHED one without the completeness marker
(both must be ignored), an older sweep (must not be picked by default) and a float32 model
too big for the board's flash.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Any

import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from tinyexp.cli import report as report_cli
from tinyexp.report import figure_parts, figures, tables
from tinyexp.report.document import loo_fact, range_fact
from tinyexp.tracking import report_runs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_clock = itertools.count(1_700_000_000_000, 1000)


def _params(n: int, mode: str, per_channel: bool = False) -> dict[str, str]:
    return {"model.neurons": str(n), "model.hidden_layers": "2", "model.widths": "None", "model.inputs": "1",
            "model.outputs": "1", "quant.mode": mode, "quant.per_channel": str(per_channel),
            "board.name": "nano33ble", "board.flash_bytes": "983040", "device.kind": "virtual"}


def _log(client: MlflowClient, exp: str, name: str, params: dict[str, str], metrics: dict[str, float],
         tags: dict[str, str], status: str = "FINISHED") -> str:
    start = next(_clock)
    run = client.create_run(exp, start_time=start, run_name=name, tags=tags)
    client.log_batch(run.info.run_id, metrics=[Metric(k, v, start, 0) for k, v in metrics.items()],
                     params=[Param(k, v) for k, v in params.items()],
                     tags=[RunTag(k, v) for k, v in tags.items()])
    client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def _job(client: MlflowClient, exp: str, sweep: str, parent: str, n: int, mode: str, *, model_bytes: float,
         float_bytes: float, mse: float, latency_us: float | None = None, fits_flash: bool = True,
         status: str = "FINISHED", complete: bool = True, old_names: bool = False) -> str:
    """One job's run; an estimated latency under today's names, or (old_names) as runs logged
    before latency_us did: every latency as latency_mean_us."""
    metrics = {"model_bytes": model_bytes, "float_model_bytes": float_bytes, "size_ratio": float_bytes / model_bytes,
               "hidden_to_hidden_weights": n * n, "test_mse": mse, "test_mae": mse * 5}
    tags = {"sweep_id": sweep, "mlflow.parentRunId": parent, "fits_flash": str(fits_flash).lower(),
            "latency_source": "not_measured", "deployable": "false"}
    if status == "FINISHED" and complete:  # the marker the runner sets once all of a run's data is written
        tags["tinyexp.complete"] = "true"
    if latency_us is not None:
        names = ["latency_mean_us"] if old_names else ["latency_us", "latency_estimate_us"]
        metrics.update(dict.fromkeys(names, latency_us))
        tags.update(latency_source="estimate", deployable="true")
    if not fits_flash:
        tags["not_deployed_reason"] = f"model of {int(model_bytes)} bytes exceeds flash | 983040"
    params = {**_params(n, mode), "sweep.id": sweep}
    return _log(client, exp, f"model.neurons={n} quant={mode}", params, metrics, tags, status)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store with an older sweep 'sw-old' and the latest sweep 'sw-new' of experiment 'tinyexp'."""
    root = tmp_path_factory.mktemp("report_store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("tinyexp", artifact_location=(root / "artifacts").as_uri())
    client.create_experiment("empty", artifact_location=(root / "artifacts_empty").as_uri())

    old = _log(client, exp, "sweep", {}, {}, {"tinyexp.role": "sweep", "sweep_id": "sw-old"})
    _job(client, exp, "sw-old", old, 16, "none", model_bytes=2700, float_bytes=2700, mse=0.5, latency_us=777.0,
         old_names=True)

    parent = _log(client, exp, "sweep", {}, {}, {"tinyexp.role": "sweep", "sweep_id": "sw-new"})
    job = lambda *a, **k: _job(client, exp, "sw-new", parent, *a, **k)  # noqa: E731
    job(16, "none", model_bytes=2700, float_bytes=2700, mse=0.010, latency_us=200.0)
    job(16, "dynamic", model_bytes=2680, float_bytes=2700, mse=0.011)
    job(16, "int8", model_bytes=3000, float_bytes=2700, mse=0.012, latency_us=150.0)
    job(64, "none", model_bytes=18700, float_bytes=18700, mse=0.008, latency_us=9999.0)  # superseded below
    job(64, "none", model_bytes=18700, float_bytes=18700, mse=0.008, latency_us=1800.0)
    job(64, "dynamic", model_bytes=6500, float_bytes=18700, mse=0.009)
    job(512, "none", model_bytes=1_060_000, float_bytes=1_060_000, mse=0.007, fits_flash=False)
    job(512, "int8", model_bytes=270_000, float_bytes=1_060_000, mse=99.0, latency_us=1.0, status="FAILED")
    job(128, "none", model_bytes=9e4, float_bytes=9e4, mse=0.1, latency_us=5.0, complete=False)  # half-written
    return {"uri": uri, "client": client, "parent": parent, "experiment_id": exp}


def _csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as f:
        return {row["n"]: row for row in csv.DictReader(f)}


@pytest.fixture(scope="module")
def out_dir(store: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report_out") / "sweep"
    assert report_cli.main([f"tracking.uri={store['uri']}", "--out", str(out)]) == 0
    return out


def test_table1_latency_against_published(out_dir: Path) -> None:
    rows = _csv(out_dir / "table1_latency.csv")
    assert set(rows) == {"16", "64", "512"}
    assert float(rows["16"]["latency_us"]) == 200.0  # sweep sw-new, not the older sweep's 777
    assert float(rows["16"]["published_latency_us"]) == 192.34
    assert float(rows["16"]["latency_ratio_ours_to_published"]) == pytest.approx(200.0 / 192.34)
    assert float(rows["64"]["latency_us"]) == 1800.0  # the later duplicate wins
    assert float(rows["64"]["published_latency_us"]) == 1732.54
    assert rows["16"]["latency_source"] == "estimate"
    assert rows["512"]["latency_us"] == "" and rows["512"]["published_latency_us"] == ""
    assert rows["512"]["latency_source"] == "not_measured"
    assert rows["16"]["hidden_to_hidden_weights"] == "256"


def test_table2_sizes_ratio_and_does_not_fit(out_dir: Path) -> None:
    rows = _csv(out_dir / "table2_size.csv")
    assert rows["16"]["float_model_bytes"] == "2700" and rows["16"]["dynamic_model_bytes"] == "2680"
    assert float(rows["64"]["size_ratio"]) == pytest.approx(18700 / 6500)
    assert rows["64"]["published_float_model_bytes"] == "18692"
    assert rows["64"]["published_dynamic_model_bytes"] == "6480"
    study = 18692 / 6480
    assert float(rows["64"]["published_size_ratio"]) == pytest.approx(study)
    assert float(rows["64"]["size_ratio_difference_pct"]) == pytest.approx((18700 / 6500 / study - 1) * 100)
    assert rows["512"]["flash_fit"] == "float32 does not fit nano33ble flash (1060000 bytes > 983040)"
    assert rows["16"]["flash_fit"] == "both fit (float32 and dynamic)" and rows["512"]["published_size_ratio"] == ""


def test_accuracy_increase_and_failed_run_ignored(out_dir: Path) -> None:
    rows = _csv(out_dir / "accuracy.csv")
    assert float(rows["16"]["test_mse_increase_pct_dynamic"]) == pytest.approx(10.0)
    assert float(rows["16"]["test_mse_increase_pct_int8"]) == pytest.approx(20.0)
    assert float(rows["16"]["test_mae_int8"]) == pytest.approx(0.06)
    assert rows["512"]["test_mse_int8"] == ""  # only the FAILED run had it


def test_figures_markdown_and_artifacts(out_dir: Path, store: dict[str, Any]) -> None:
    for name in ("latency.png", "sizes.png"):
        assert (out_dir / name).read_bytes().startswith(PNG_MAGIC)
    text = (out_dir / "report.md").read_text()
    assert "`sw-new`" in text and store["parent"] in text and store["uri"] in text
    assert "estimate: 3" in text and "not_measured: 3" in text
    assert "exceeds flash \\| 983040" in text  # a '|' in a reason must not break the Markdown table
    logged = {a.path for a in store["client"].list_artifacts(store["parent"], "report")}
    assert {"report/report.md", "report/latency.png", "report/table2_size.csv"} <= logged


def test_named_sweep_without_log(store: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "old"
    assert report_cli.main([f"tracking.uri={store['uri']}", "sweep.id=sw-old", "--out", str(out), "--no-log"]) == 0
    # sw-old was logged under the old name (latency_mean_us): it reports in today's column.
    assert _csv(out / "table1_latency.csv")["16"]["latency_us"] == "777"
    assert "logged" not in capsys.readouterr().out


def test_all_runs_latest_per_configuration_across_sweeps(store: dict[str, Any]) -> None:
    rows = report_runs.collect_runs(store["client"], store["experiment_id"], None)
    float32_n16 = [r for r in rows if r["n"] == 16 and r["variant"] == "float32"]
    assert [r["latency_us"] for r in float32_n16] == [200.0]  # sw-new's rerun, not sw-old's
    assert len(rows) == 6 and all(r["sweep_id"] == "sw-new" for r in rows)  # no parents, no FAILED run


@pytest.mark.parametrize(("args", "message"), [
    (["tracking.experiment=empty"], "no finished runs in experiment 'empty'"),
    (["sweep.id=nope"], "no finished runs in experiment 'tinyexp' (sweep 'nope')"),
    (["tracking.experiment=absent"], "no experiment 'absent'"),
])
def test_nothing_to_report_is_one_line_exit_2(store: dict[str, Any], tmp_path: Path, args: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert report_cli.main([f"tracking.uri={store['uri']}", "--out", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_missing_store_is_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report_cli.main([f"tracking.uri=sqlite:///{tmp_path / 'none.db'}"]) == 2
    assert "no MLflow store" in capsys.readouterr().err and not (tmp_path / "none.db").exists()


def test_rows_from_widths_and_per_channel() -> None:
    params = {**_params(16, "int8", per_channel=True), "model.widths": "[64, 32]"}
    row = report_runs.row_from_run(params, {"test_mse": 1.0}, {}, run_id="r", run_name="r", start_time_ms=0)
    assert (row["model"], row["n"], row["variant"]) == ("1-64-32-1", None, "int8_per_channel")
    assert tables.hidden_to_hidden_weights("1-64-64-1") == 4096


def test_header_says_how_far_estimates_are_trusted():
    rows = [{"latency_source": "estimate", "latency_estimate_loo_max_error_pct": 6.75},
            {"latency_source": "estimate"},
            {"latency_source": "not_measured"}]
    fact = loo_fact(rows)
    assert "worst 6.8%" in fact and "1 estimates have none" in fact
    assert loo_fact([{"latency_source": "measured"}]) is None


def test_estimate_intervals_become_error_bars_only_where_logged() -> None:
    rows = [{"hidden_to_hidden_weights": 256, "latency_us": 200.0, "latency_estimate_low_us": 180.0,
             "latency_estimate_high_us": 230.0},
            {"hidden_to_hidden_weights": 4096, "latency_us": 1800.0},  # measured: no interval
            {"hidden_to_hidden_weights": 1024, "latency_us": 700.0, "latency_estimate_low_us": float("nan"),
             "latency_estimate_high_us": 800.0}]
    assert figure_parts.interval_points(rows, "hidden_to_hidden_weights") == [(256.0, 200.0, 180.0, 230.0)]


def test_header_names_estimates_outside_their_calibrations_sizes() -> None:
    beyond = "beyond its calibration: 591,360 MACs, 9.0x the largest network calibrated on dokic2020-nano33ble"
    rows = [{"latency_source": "estimate", "model": "1-768-768-1", "variant": "int8", "board": "nano33ble",
             "latency_estimate_calibration_range": beyond},
            {"latency_source": "estimate", "model": "1-64-64-1", "variant": "int8", "board": "nano33ble",
             "latency_estimate_calibration_range": "within its calibration: 4,224 MACs; ..."},
            {"latency_source": "estimate", "model": "old run", "variant": "float32", "board": "nano33ble"}]
    fact = range_fact(rows)
    assert fact == f"- Latency estimates outside their calibration's sizes (1): 1-768-768-1 int8 on nano33ble: {beyond}"
    assert range_fact(rows[1:]) is None  # within, or logged before the tag existed


def test_latency_is_read_through_one_accessor() -> None:
    """latency_us (measured or estimated) wins; an older run's latency_mean_us reads as it through
    the names mapping; an estimate-only row reads its estimate."""
    from tinyexp.core.names import canonical_metrics

    assert report_runs.latency_us({"latency_us": 900.0, "latency_estimate_us": 5.0}) == 900.0
    assert report_runs.latency_us(canonical_metrics({"latency_mean_us": 777.0})) == 777.0
    assert report_runs.latency_us({"latency_us": float("nan"), "latency_estimate_us": 800.0}) == 800.0
    assert report_runs.latency_us({"latency_source": "not_measured"}) is None


def test_markdown_latency_in_the_unit_the_data_calls_for(out_dir: Path, store: dict[str, Any]) -> None:
    table = (out_dir / "table1_latency.md").read_text()
    # ours 200 and 1800 us beside the published 192.34 and 1732.54: median 966 us, so us
    assert "| latency_us |" in table and "| published_latency_us |" in table and "| 200 |" in table
    rows = report_runs.collect_runs(store["client"], store["experiment_id"], "sw-new")
    slow = [{**r, "latency_us": r["latency_us"] * 1000} for r in rows if r.get("latency_us")]
    pinned = tables.table1(slow, {})  # the study's table keeps the published table's unit
    assert "| latency_us |" in pinned.markdown() and "| 1800000 |" in pinned.markdown()
    text = tables.Table("any", "any", pinned.columns, pinned.rows).markdown()  # 0.2 and 1.8 s
    assert "| latency_s |" in text and "| 0.2 |" in text and "| 1.8 |" in text and "_us" not in text.splitlines()[0]


def test_study_latency_figure_unit_estimates_and_one_legend(store: dict[str, Any]) -> None:
    rows = report_runs.collect_runs(store["client"], store["experiment_id"], "sw-new")
    fig = figures.build_latency_figure(rows, tables.load_published())
    (ax,) = fig.axes
    assert ax.get_ylabel() == "latency (us)" and len(fig.legends) == 1  # median of 150-23285 us is 200 us
    assert ax.get_legend() is None  # the one legend is the figure's, not a panel's
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert figure_parts.ESTIMATE_LABEL in labels and figure_parts.MEASURED_LABEL not in labels



@pytest.mark.parametrize("hashed", [True, False], ids=["by the config hash", "by params without the tag"])
def test_a_rerun_by_a_newer_version_replaces_the_older_run_of_its_config(hashed: bool) -> None:
    """Issue 17: a version that adds options (device.placement, device.power_monitor) logs them in
    every run; the older sweep's runs lack them. Rerun, each configuration was listed twice."""
    def row(run_id: str, params: dict[str, str], config_hash: str) -> dict:
        tags = {"config_hash": config_hash} if hashed else {}
        return report_runs.row_from_run(params, {"test_mse": 1.0}, tags, run_id=run_id, run_name=run_id,
                                        start_time_ms=len(run_id))
    newer = {**_params(16, "int8"), "device.placement": "None", "device.realtime": "False",
             "board.calibration": "None", "tracking.reconnect_s": "60.0"}
    if hashed:  # an option hashed only away from its default (as device.power_monitor is): the hash says
        newer["device.power_monitor"] = "none"
    rows = report_runs.latest_per_config([row("old", _params(16, "int8"), "h1"), row("newer", newer, "h1"),
                                          row("another", {**newer, "board.calibration": "mine.json"}, "h2")])
    assert sorted(r["run_id"] for r in rows) == ["another", "newer"]  # a set option still tells configs apart
