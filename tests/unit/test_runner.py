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


def test_device_gets_what_the_pipeline_computed_once(int8_job) -> None:  # noqa: ANN001
    """The C array handed to the device is the one logged; the estimate is the one recorded."""
    _, run, deployed = int8_job
    (request,) = deployed
    logged = Path(run.info.artifact_uri.removeprefix("file://")) / Artifact.C_ARRAY_DIR
    assert (logged / "model_data.cc").read_text() == request.c_array.files()["model_data.cc"]
    assert request.latency_estimate_us == pytest.approx(run.data.metrics[Metric.LATENCY_MEAN_US], abs=1e-3)
    assert request.arena_bytes == run.data.metrics[Metric.ARENA_REQUIRED_BYTES]


def test_the_estimated_per_operator_profile_is_logged(int8_job) -> None:  # noqa: ANN001
    """The board answers PROF with the per-operator estimates the pipeline handed it; the run
    gets them as a table (with the host's MACs) and a chart, labelled an estimate."""
    import json

    _, run, deployed = int8_job
    (request,) = deployed
    t = run.data.tags
    assert t[Tag.LATENCY_PROFILE_SOURCE] == "estimate" and t[Tag.LATENCY_PROFILE_MACS] == "matched"
    assert t[Tag.LATENCY_PROFILE_METHOD] == "per-operator model"
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
    assert m[Metric.LATENCY_ESTIMATE_LOW_US] < m[Metric.LATENCY_MEAN_US] < m[Metric.LATENCY_ESTIMATE_HIGH_US]
    assert t[Tag.LATENCY_ESTIMATE_SOURCE] == "dokic2020-nano33ble"
    assert "FULLY_CONNECTED int8" in t[Tag.LATENCY_ESTIMATE_TRANSFERRED]
    assert t[Tag.LATENCY_ESTIMATE_EXTRAPOLATED] == ""


def test_a_virtual_board_job_parses_its_tflite_once(int8_job) -> None:  # noqa: ANN001
    """Statistics, the operator table and the latency estimate all read one graph."""
    _, run, deployed = int8_job
    (request,) = deployed
    assert deployed and run.data.tags[Tag.LATENCY_SOURCE] == "estimate"  # the estimate was made
    assert PARSED == [len(request.model)]
