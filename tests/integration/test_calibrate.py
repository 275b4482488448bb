"""tinyexp calibrate against a STAND-IN board (tests/helpers/standin_board.py, a documented
per-operator cost model, not hardware): 8 measured runs in a real MLflow store, then 20
other configurations estimated with board.calibration=PATH, each within 5%."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers import standin_board as standin
from tinyexp.core.errors import ConfigError
from tinyexp.core.names import Artifact, Metric, Tag
from tinyexp.estimate.calibrate import calibrate, main, measured_runs
from tinyexp.estimate.convert_modes import convert_mode
from tinyexp.estimate.per_operator import estimate_operators
from tinyexp.model.layers import build_layers
from tinyexp.tflm.operators import analyse_operators

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def dense(widths: list[int]) -> dict:
    return {"input_shape": [widths[0]], "layers": [{"type": "Dense", "units": w, "activation": "relu"}
                                                   for w in widths[1:-1]] + [{"type": "Dense", "units": widths[-1]}]}


def conv(filters: int, size: int, depthwise: bool) -> dict:
    layers = [{"type": "Conv2D", "filters": filters, "kernel_size": 3, "strides": 2, "padding": "same",
               "activation": "relu"}]
    if depthwise:
        layers.append({"type": "DepthwiseConv2D", "kernel_size": 3, "padding": "same", "activation": "relu"})
    layers += [{"type": "Conv2D", "filters": filters * 2, "kernel_size": 1, "activation": "relu"},
               {"type": "MaxPooling2D", "pool_size": 2}, {"type": "GlobalAveragePooling2D"},
               {"type": "Dense", "units": 5, "activation": "softmax"}]
    return {"input_shape": [size, size, 1], "layers": layers}


CALIBRATION = [dense([4, 16, 2]), dense([32, 64, 64, 4]), dense([100, 30, 10]), dense([8, 128, 1]),
               conv(4, 16, False), conv(8, 24, True), conv(16, 12, True), conv(6, 32, False)]
HELD_OUT = ([dense([w, h, h, o]) for w, h, o in [(3, 8, 1), (16, 32, 3), (64, 16, 10), (10, 100, 2), (20, 48, 6),
                                                  (50, 20, 5), (12, 200, 1), (6, 12, 12), (40, 80, 8), (2, 64, 2)]]
            + [conv(f, s, d) for f, s, d in [(4, 20, True), (8, 16, False), (12, 28, True), (16, 20, False),
                                            (6, 12, True), (10, 24, False), (5, 32, True), (20, 16, True),
                                            (3, 28, False), (12, 12, False)]])


def tflite(spec: dict) -> bytes:
    import keras

    keras.utils.set_random_seed(1)
    return convert_mode(build_layers(spec), "int8")


STANDIN = (standin.BOARD.name, standin.CLOCK_HZ)
HALF_WRITTEN = "half-written"


def _log_run(folder: Path, name: str, board: tuple[str, int], latency_source: str, latency_us: float,
             model: bytes | None = None, complete: bool = True) -> None:
    """One run as the runner records it: the model and its per-operator profile if given, and
    (unless ``complete`` is False) the completeness marker once all of its data is written."""
    import mlflow

    with mlflow.start_run(run_name=name):
        mlflow.log_params({"board.name": board[0], "board.clock_hz": board[1], "quant.mode": "int8"})
        mlflow.set_tag(Tag.LATENCY_SOURCE, latency_source)
        mlflow.log_metric(Metric.LATENCY_MEAN_US, latency_us)
        if model is not None:
            ops = list(analyse_operators(model))
            path = folder / name / Artifact.tflite("int8")
            path.parent.mkdir()
            path.write_bytes(model)
            mlflow.log_artifact(str(path))
            mlflow.log_table({"operator": [f"{op.index}:{op.type}" for op in ops], "type": [op.type for op in ops],
                              "macs": [op.macs for op in ops], "time_us": standin.profile_us(ops)},
                             Artifact.PER_OPERATOR_TABLE)
        if complete:
            mlflow.set_tag(Tag.COMPLETE, "true")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real MLflow store holding the stand-in board's 8 measured runs."""
    import mlflow

    home = tmp_path_factory.mktemp("standin")
    uri = f"sqlite:///{home / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("standin")
    for number, spec in enumerate(CALIBRATION):
        model = tflite(spec)
        _log_run(home, f"standin-{number}", STANDIN, "measured", standin.latency_us(list(analyse_operators(model))),
                 model)
    # A run of another board and an estimated run: not selected; a measured run without its
    # model: left out, and said so; a FINISHED run whose data was not all written (no
    # completeness marker, and a latency 1000x off): never read.
    _log_run(home, "no-model-artifact", STANDIN, "measured", 1.0)
    _log_run(home, "other-board", ("nano33ble", 64_000_000), "measured", 1.0)
    _log_run(home, "estimated", STANDIN, "estimate", 1.0)
    model = tflite(CALIBRATION[0])
    _log_run(home, HALF_WRITTEN, STANDIN, "measured", 1000 * standin.latency_us(list(analyse_operators(model))),
             model, complete=False)
    return uri


def test_a_finished_run_without_the_completeness_marker_is_not_read(store: str) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store)
    (half_written,) = client.search_runs([e.experiment_id for e in client.search_experiments()],
                                         f"attributes.run_name = '{HALF_WRITTEN}'")
    assert half_written.info.status == "FINISHED" and Tag.COMPLETE not in half_written.data.tags
    found, left_out = measured_runs(client, standin.BOARD.name)
    assert len(found) == 8 and len(left_out) == 1
    assert half_written.info.run_id not in {run.info.run_id for run, _ in found} | set(left_out)


def test_calibrate_then_predict_twenty_other_configurations(store: str, tmp_path: Path) -> None:
    out = tmp_path / "standin.json"
    summary = calibrate(standin.BOARD.name, out, store)
    assert "8 measured runs of board standin_m4, 8 with per-operator profiles" in summary
    assert "left out 1 runs without a latency or model artifact" in summary
    assert len(json.loads(out.read_text())["runs"]) == 8
    board = replace(standin.BOARD, calibration=str(out))
    errors = []
    for spec in HELD_OUT:
        model = tflite(spec)
        estimate = estimate_operators(model, board)
        truth = standin.latency_us(list(analyse_operators(model)))
        assert estimate.source == "standin_m4-measured" and str(out) in estimate.calibration
        assert not estimate.transferred and not estimate.extrapolated
        errors.append(100 * (estimate.latency_us - truth) / truth)
    assert len(errors) == 20
    print("standin errors %:", [round(e, 2) for e in errors])
    assert max(abs(e) for e in errors) < 5.0, [round(e, 2) for e in errors]


def test_no_measured_runs_is_one_line_and_exit_2(store: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(ConfigError, match="no finished runs of board 'nowhere'"):
        calibrate("nowhere", tmp_path / "x.json", store)
    assert main(["board=nowhere", f"out={tmp_path / 'x.json'}", f"tracking.uri={store}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tinyexp: error: no finished runs") and err.count("\n") == 1
