"""The runner in-process, with a board served by a thread (tests/helpers/devices.py)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

from tests.helpers import devices
from tinyexp.cli.schema import register_schema, resolve
from tinyexp.core.names import Artifact, Metric, Tag
from tinyexp.core.resources import conf_dir
from tinyexp.pipeline.runner import run_job

pytestmark = pytest.mark.slow
PARSED: list[int] = []  # the size of every .tflite flatbuffer parsed while the job ran


def _config(store: Path, *overrides: str):  # noqa: ANN202 - tinyexp.core.config.Config
    register_schema()
    with initialize_config_dir(str(conf_dir()), version_base=None):
        return resolve(compose("config", overrides=[
            "device.backend=tests.helpers.devices.ThreadBoardDevice", "train.epochs=5",
            f"tracking.uri=sqlite:///{store}", *overrides]))


@pytest.fixture(scope="module")
def int8_job(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    home = tmp_path_factory.mktemp("runner")
    store = home / "mlflow.db"
    mp = pytest.MonkeyPatch()
    mp.setenv("TINYEXP_CACHE_DIR", str(home / "cache"))
    mp.chdir(home)
    devices.DEPLOYED.clear()
    _count_flatbuffer_parses(mp)
    outcome = run_job(_config(store, "quant=int8", "model.neurons=12"), ["quant=int8", "model.neurons=12"])
    mp.undo()
    run = MlflowClient(tracking_uri=f"sqlite:///{store}").get_run(outcome.run_id)
    return outcome, run, list(devices.DEPLOYED)


def _count_flatbuffer_parses(mp: pytest.MonkeyPatch) -> None:
    """Record every parse of a .tflite that tinyexp's code makes with the flatbuffer schema:
    the graph reader's, or any that would bypass it. The TFLM interpreter reads the file again
    on each load (the support probe, host evaluation, the board); that is TFLM's, not counted."""
    import sys

    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

    parse = schema_fb.Model.GetRootAsModel
    PARSED.clear()

    def counted(buf: bytes, offset: int = 0):  # noqa: ANN202 - schema_fb.Model
        if sys._getframe(1).f_globals.get("__name__", "").startswith("tinyexp."):
            PARSED.append(len(buf))
        return parse(buf, offset)

    mp.setattr(schema_fb.Model, "GetRootAsModel", staticmethod(counted))


def test_job_is_recorded_under_the_names_of_core_names(int8_job) -> None:  # noqa: ANN001
    outcome, run, _ = int8_job
    m, t = run.data.metrics, run.data.tags
    assert run.info.status == "FINISHED" and outcome.deployed
    assert t[Tag.LATENCY_SOURCE] == "estimate" and t[Tag.KERNEL_DTYPE] == "int8"
    assert m[Metric.ARENA_CONFIGURED_BYTES] == m[Metric.ARENA_REQUIRED_BYTES]
    assert m[Metric.PARITY_MAX_ABS_ERROR] == 0.0
    assert m[Metric.MACS] == 12 + 12 * 12 + 12
    assert run.data.params["train.loss"] == "mse"  # a regression trains on the configured loss
    assert run.data.params["train.epochs"] == "5" and run.data.params["train.optimizer"] == "rmsprop"
    assert run.data.tags[Tag.TRAIN_DEFAULTS] == "batch_size=16, optimizer=rmsprop, loss=mse (the study's regression defaults)"


def test_device_gets_what_the_pipeline_computed_once(int8_job) -> None:  # noqa: ANN001
    """The C array handed to the device is the one logged; the estimate is the one recorded."""
    _, run, deployed = int8_job
    (request,) = deployed
    logged = Path(run.info.artifact_uri.removeprefix("file://")) / Artifact.C_ARRAY_DIR
    assert (logged / "model_data.cc").read_text() == request.c_array.files()["model_data.cc"]
    assert request.latency_estimate_us == pytest.approx(run.data.metrics[Metric.LATENCY_ESTIMATE_US], abs=1e-3)
    assert request.arena_bytes == run.data.metrics[Metric.ARENA_REQUIRED_BYTES]


def test_the_estimated_per_operator_profile_is_logged(int8_job) -> None:  # noqa: ANN001
    """The board answers PROF with the per-operator estimates the pipeline handed it; the run
    gets them as a table (with the host's MACs) and a chart, labelled an estimate."""
    import json

    _, run, deployed = int8_job
    (request,) = deployed
    t = run.data.tags
    assert t[Tag.LATENCY_PROFILE_SOURCE] == "estimate" and t[Tag.LATENCY_PROFILE_MACS] == "matched"
    assert t[Tag.LATENCY_PROFILE_METHOD] == "v2 per-operator"
    artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
    table = json.loads((artifacts / Artifact.PER_OPERATOR_TABLE).read_text())
    rows = [dict(zip(table["columns"], row)) for row in table["data"]]
    assert [r["type"] for r in rows] == [op for op, _ in request.operator_cycles]
    # Whole cycles per operator, cut so that they add up to the whole part of the total.
    assert all(abs(r["cycles"] - c) <= 1 for r, (_, c) in zip(rows, request.operator_cycles))
    assert sum(r["cycles"] for r in rows) == math.floor(sum(c for _, c in request.operator_cycles))
    assert sum(r["macs"] for r in rows) == run.data.metrics[Metric.MACS]
    assert (artifacts / Artifact.PER_OPERATOR_CHART).read_bytes()[:4] == b"\x89PNG"


def test_estimated_run_records_interval_and_labels(int8_job) -> None:  # noqa: ANN001
    """An estimated run carries v2's 80% interval and what was transferred (int8 on the
    nano33ble has no int8 rows of its own)."""
    _, run, _ = int8_job
    m, t = run.data.metrics, run.data.tags
    assert m[Metric.LATENCY_ESTIMATE_LOW_US] < m[Metric.LATENCY_ESTIMATE_US] < m[Metric.LATENCY_ESTIMATE_HIGH_US]
    assert t[Tag.LATENCY_ESTIMATE_SOURCE] == "dokic2020-nano33ble"
    assert "FULLY_CONNECTED int8" in t[Tag.LATENCY_ESTIMATE_TRANSFERRED]
    assert t[Tag.LATENCY_ESTIMATE_EXTRAPOLATED] == ""


def test_an_estimated_run_records_its_energy_as_an_estimate_with_its_interval(int8_job) -> None:  # noqa: ANN001
    """Energy = the latency estimate x the nano33ble's declared 3.3 V and 6.3 mA (3.3-6.3 mA),
    labelled an estimate; its bounds are the latency bounds times the current's."""
    _, run, _ = int8_job
    m, t = run.data.metrics, run.data.tags
    assert t[Tag.ENERGY_SOURCE] == "estimate" and t[Tag.ENERGY_BASIS].startswith("estimated latency")
    assert m[Metric.ENERGY_PER_INFERENCE_UJ] == pytest.approx(3.3 * 6.3 * m[Metric.LATENCY_ESTIMATE_US] / 1000)
    assert m[Metric.ENERGY_PER_INFERENCE_LOW_UJ] == pytest.approx(3.3 * 3.3 * m[Metric.LATENCY_ESTIMATE_LOW_US] / 1000)
    assert m[Metric.ENERGY_PER_INFERENCE_HIGH_UJ] == pytest.approx(3.3 * 6.3 * m[Metric.LATENCY_ESTIMATE_HIGH_US] / 1000)


def test_a_virtual_board_job_parses_its_tflite_once(int8_job) -> None:  # noqa: ANN001
    """Statistics, the operator table and the latency estimate all read one graph."""
    _, run, deployed = int8_job
    (request,) = deployed
    assert deployed and run.data.tags[Tag.LATENCY_SOURCE] == "estimate"  # the estimate was made
    assert PARSED == [len(request.model)]


def test_an_estimated_run_logs_no_figure_it_did_not_measure(int8_job) -> None:  # noqa: ANN001
    """The virtual board answers BENCH from a modelled clock: the run keeps its estimate, in
    the column measured runs fill too (latency_us beside latency_source), and no spread,
    per-invoke rows or per-MAC figures, which a modelled clock cannot give."""
    import json

    outcome, run, _ = int8_job
    m, t = run.data.metrics, run.data.tags
    assert t[Tag.LATENCY_SOURCE] == "estimate" and m[Metric.LATENCY_US] == m[Metric.LATENCY_ESTIMATE_US]
    unmeasured = {Metric.LATENCY_MEAN_US, Metric.LATENCY_STD_US, Metric.LATENCY_MIN_US, Metric.LATENCY_MAX_US,
                  Metric.LATENCY_MEDIAN_US, Metric.LATENCY_P95_US, Metric.LATENCY_MEAN_CYCLES,
                  Metric.MACS_PER_SECOND, Metric.CYCLES_PER_MAC}
    assert unmeasured.isdisjoint(m)
    artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
    assert not (artifacts / Artifact.PER_INVOKE_TIMINGS).exists()
    table = json.loads((artifacts / Artifact.LATENCY_ESTIMATE_OPERATORS).read_text())
    rows = [dict(zip(table["columns"], row)) for row in table["data"]]
    assert sum(r["macs"] for r in rows) == m[Metric.MACS] and {r["basis"] for r in rows} <= {"fitted", "transferred"}
    assert "us estimated (80% interval" in outcome.summary


def test_the_estimate_cli_gives_the_runs_figure(int8_job, capsys: pytest.CaptureFixture) -> None:  # noqa: ANN001
    """python -m tinyexp.estimate on the run's own model and board prints the run's figure."""
    import json

    from tinyexp.estimate.cli import main

    _, run, _ = int8_job
    model = Path(run.info.artifact_uri.removeprefix("file://")) / Artifact.tflite("int8")
    assert main([str(model), f"board={run.data.params['board.name']}"]) == 0
    report = json.loads(capsys.readouterr().out)
    m = run.data.metrics
    assert report["latency_us"] == pytest.approx(m[Metric.LATENCY_US], rel=1e-9)
    assert (report["low_us"], report["high_us"]) == pytest.approx(
        (m[Metric.LATENCY_ESTIMATE_LOW_US], m[Metric.LATENCY_ESTIMATE_HIGH_US]), rel=1e-9)


def test_a_classification_run_logs_the_loss_it_trained_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default train.loss is mse (the study's regression); a classifier trains on
    cross-entropy with the classification defaults, and its params, tags and config.yaml say so."""
    store = tmp_path / "mlflow.db"
    monkeypatch.setenv("TINYEXP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    overrides = ["dataset=synthetic", "dataset.samples=128", "model.inputs=16", "model.outputs=2", "model.neurons=8"]
    cfg = _config(store, *overrides)
    assert cfg.train.loss == "mse"
    run = MlflowClient(tracking_uri=f"sqlite:///{store}").get_run(run_job(cfg, overrides).run_id)
    assert run.data.params["train.loss"] == "crossentropy" and run.data.tags[Tag.DATASET_TASK] == "classification"
    # train.epochs=5 was set (by _config); the rest were the study's, so the classifier's defaults trained
    assert run.data.params["train.epochs"] == "5" and run.data.params["train.optimizer"] == "adam"
    assert run.data.tags[Tag.TRAIN_DEFAULTS] == "batch_size=32, optimizer=adam, loss=crossentropy (classification defaults)"
    logged = Path(run.info.artifact_uri.removeprefix("file://")) / Artifact.CONFIG
    assert "loss: crossentropy" in logged.read_text()


def test_the_package_is_logged_and_is_what_the_sketch_is_built_with(int8_job) -> None:  # noqa: ANN001
    _, run, deployed = int8_job
    (request,) = deployed
    logged = Path(run.info.artifact_uri.removeprefix("file://")) / Artifact.PACKAGE_DIR
    names = {p.name for p in logged.iterdir()}
    assert names == {"model_data.h", "model_data.cc", "model_settings.h", "model_ops.h", "example_main.cc",
                     "package.json"}
    assert {n: (logged / n).read_text() for n in request.sketch_files} == dict(request.sketch_files)
    assert (logged / "model_data.cc").read_text() == request.c_array.files()["model_data.cc"]
    required = int(run.data.metrics[Metric.ARENA_REQUIRED_BYTES])
    assert f"kArenaRequiredBytes = {required};" in (logged / "model_settings.h").read_text()
    assert "resolver.AddFullyConnected()" in (logged / "model_ops.h").read_text()
