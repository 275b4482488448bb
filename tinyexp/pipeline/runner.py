"""One job: train -> convert -> analyse -> evaluate -> package -> deploy/measure -> track.

The model comes from its source (tinyexp.model.sources): built and trained (dense, layers,
keras with epochs > 0), converted as it is (keras with epochs = 0), or a .tflite used as it
is (no training, no conversion, no float32 reference).

Each stage is a plain function returning a small typed result; this module composes them and
hands each result to the recorder, which fills the job's RunRecord that the tracking sink
logs to MLflow. A model that TFLM refuses or that does not fit the board is a result, not a
failure: its sizes and accuracy are logged, and the run says plainly why it was not deployed.
"""

from __future__ import annotations

import json
import signal
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tinyexp.core.config import Config, QuantMode, as_plain, validate
from tinyexp.core.names import Artifact, Tag
from tinyexp.core.provenance import provenance_tags
from tinyexp.device.base import DeployRequest, DeviceBackend, load_backend
from tinyexp.estimate.operator_split import from_estimate
from tinyexp.estimate.per_operator import estimate_operators
from tinyexp.model import convert as convert_stage
from tinyexp.model import sources
from tinyexp.model.data import CLASSIFICATION, Dataset, make_dataset
from tinyexp.model.train import train
from tinyexp.pipeline import recorder
from tinyexp.pipeline.measure import DeviceMeasurementError, measure
from tinyexp.pipeline.stages import ConvertedModel, as_is, convert_and_analyse, describe, refusal
from tinyexp.tflm import evaluate as evaluate_stage
from tinyexp.tflm.c_array import CArray, to_c_array
from tinyexp.tflm.evaluate import HostModel
from tinyexp.tflm.fit import check_fit
from tinyexp.tflm.graph import ModelGraph
from tinyexp.tflm.operators import graph_operators, operator_table
from tinyexp.tracking import sweep
from tinyexp.tracking.job_run import JobPlace, job_run
from tinyexp.tracking.store import RunRecord, flatten


@dataclass(frozen=True)
class JobOutcome:
    run_id: str
    deployed: bool
    summary: str
    skipped: bool = False


def _write_artifacts(out: Path, cfg: Config, model: ConvertedModel, float_tflite: bytes | None,
                     keras_file: Path | None, c_array: CArray) -> list[Path]:
    """The files a run keeps; the C array is the very one the device is given."""
    out.mkdir(parents=True, exist_ok=True)
    tflite_path = out / Artifact.tflite(model.mode.value)
    tflite_path.write_bytes(model.data)
    paths = [tflite_path]
    if float_tflite is not None:
        (out / Artifact.FLOAT_REFERENCE).write_bytes(float_tflite)
        paths.append(out / Artifact.FLOAT_REFERENCE)
    c_dir = out / Artifact.C_ARRAY_DIR
    c_dir.mkdir(exist_ok=True)
    for name, text in c_array.files().items():
        (c_dir / name).write_text(text)
    (out / Artifact.CONFIG).write_text(yaml.safe_dump(as_plain(cfg), sort_keys=False))
    (out / Artifact.MODEL_STATS).write_text(json.dumps(model.stats.as_dict(), indent=2, sort_keys=True))
    paths += [c_dir, out / Artifact.CONFIG, out / Artifact.MODEL_STATS]
    if keras_file is not None and keras_file.suffix == ".keras" and keras_file.is_file():
        keras_copy = out / Artifact.KERAS_MODEL
        keras_copy.write_bytes(keras_file.read_bytes())
        paths.append(keras_copy)
    return paths


def _operator_table(graph: ModelGraph, workdir: Path) -> Path:
    """Every operator TFLM runs (type, dtype, shapes, MACs, params), as a table in
    mlflow.log_table's JSON form."""
    rows = operator_table(graph_operators(graph))
    columns = list(rows[0]) if rows else []
    path = workdir / Artifact.OPERATORS
    path.write_text(json.dumps({"columns": columns, "data": [[r[c] for c in columns] for r in rows]}, indent=1))
    return path


def _keras_model(cfg: Config, record: RunRecord, data: Dataset) -> tuple[Any, Path | None]:
    """The Keras model to convert (or the SavedModel directory) and the file it was read from:
    trained (cached) when the source trains, else the user's file as it is."""
    import keras

    if sources.trains(cfg.model, cfg.train):
        trained = train(cfg.model, cfg.train, cfg.dataset, data)
        recorder.record_training(record, trained)
        return keras.models.load_model(trained.keras_path, compile=False), trained.keras_path
    path = Path(str(cfg.model.path)).expanduser()
    if sources.is_saved_model(path):
        return path, None
    return sources.load_keras(cfg.model), path


def _model(cfg: Config, record: RunRecord, data: Dataset) -> tuple[ConvertedModel, bytes | None, Path | None]:
    """The model to deploy, its float32 reference (None for a .tflite used as it is) and the
    Keras file behind it."""
    if cfg.model.name == "tflite":
        return as_is(sources.read_tflite(cfg.model)), None, None
    keras_model, keras_file = _keras_model(cfg, record, data)
    batch_one = cfg.model.name != "dense"  # the study's nets keep their dynamic batch (and sizes)
    model = convert_and_analyse(keras_model, cfg.quant, data, batch_one)
    float_tflite = (model.data if model.mode is QuantMode.float32
                    else convert_stage.convert(keras_model, QuantMode.float32, False, data.train.x,
                                               cfg.quant.strip_strings, batch_one))
    return model, float_tflite, keras_file


def _accuracy(record: RunRecord, host: HostModel, model: ConvertedModel, float_tflite: bytes | None,
              data: Dataset) -> str:
    """The task's test metrics of the converted model itself (and, for a quantised classifier,
    of its float32 reference); returns the headline figure in words."""
    acc = evaluate_stage.accuracy(host, data.test.x, data.test.y, data.task)
    reference = None
    if data.task == CLASSIFICATION and float_tflite is not None and model.mode is not QuantMode.float32:
        reference = evaluate_stage.accuracy(evaluate_stage.host_model(float_tflite, None), data.test.x,
                                            data.test.y, data.task)
    recorder.record_accuracy(record, acc, reference)
    evaluate_stage.check_result(model.data, acc)  # a broken model is a failure, never measured
    if data.task == CLASSIFICATION:
        return f"test accuracy {acc.metrics['test_accuracy']:.4f} ({acc.runtime})"
    return f"test mse {acc.metrics['test_mse']:.5f} ({acc.runtime})"


def _measure(cfg: Config, backend: DeviceBackend, model: ConvertedModel, c_array: CArray,
             host: HostModel, data: Dataset, record: RunRecord, workdir: Path) -> str:
    """Deploy and measure; the estimate a virtual clock needs is computed here, once."""
    estimate = estimate_operators(model.graph, cfg.board) if backend.estimated_clock else None
    operators = from_estimate(estimate) if estimate is not None else None
    request = DeployRequest(model.data, c_array, int(model.support.arena_bytes or 0),
                            estimate.latency_us if estimate else None, workdir,
                            tuple((o.type, o.cycles) for o in operators.operators) if operators else None)
    dev = cfg.device
    try:
        m = measure(backend, request, host, data.test.x[: dev.parity_samples], dev.warmup, dev.invokes,
                    dev.baud, dev.timeout_s, dev.retries)
    except DeviceMeasurementError as exc:  # keep what the board said up to the failure
        record.artifacts.append(exc.transcript_path)
        raise
    recorder.record_measurement(record, m, model.stats, cfg.board)
    recorder.record_profile(record, m, model.stats, workdir)
    if m.latency_source == "estimate" and estimate is not None and operators is not None:
        recorder.record_estimate(record, estimate)
        if m.profile is not None:
            recorder.record_operator_estimate(record, operators)
        return f"{m.stats.get('mean_us', float('nan')):.1f} us mean (estimate: {estimate.qualifiers()})"
    return f"{m.stats.get('mean_us', float('nan')):.1f} us mean ({m.latency_source})"


def execute(cfg: Config, record: RunRecord, workdir: Path, backend: DeviceBackend) -> str:
    """Run every stage of one job, filling `record`; return a one-paragraph summary."""
    data = make_dataset(cfg.dataset)
    recorder.record_source(record, sources.label(cfg.model), data.task)
    model, float_tflite, keras_file = _model(cfg, record, data)
    recorder.record_model(record, model, None if float_tflite is None else len(float_tflite),
                          cfg.model.name == "dense")
    record.artifacts.append(_operator_table(model.graph, workdir))
    fit = check_fit(model.stats.model_bytes, model.support.arena_bytes, cfg.board)
    recorder.record_fit(record, fit)

    host = evaluate_stage.host_model(model.data, model.support.arena_bytes)
    accuracy = _accuracy(record, host, model, float_tflite, data)

    description = describe(cfg)
    c_array = to_c_array(model.data, description)
    record.artifacts.extend(_write_artifacts(workdir, cfg, model, float_tflite, keras_file, c_array))

    why_not = refusal(model, fit, cfg.board.name)
    recorder.record_deployability(record, why_not)
    if why_not is not None:
        latency = f"not measured: {why_not}"
    else:
        latency = _measure(cfg, backend, model, c_array, host, data, record, workdir)
    size = f"{model.stats.model_bytes} bytes"
    if float_tflite is not None:
        size += f" (float32 {len(float_tflite)}, ratio {len(float_tflite) / model.stats.model_bytes:.2f})"
    summary = f"{description}: {size}, {model.stats.macs} MACs, {accuracy}; latency {latency}"
    (workdir / Artifact.SUMMARY).write_text(summary + "\n")
    record.artifacts.append(workdir / Artifact.SUMMARY)
    return summary


def run_name(overrides: list[str]) -> str:
    """A run is named after the overrides that made it, e.g. "model.neurons=256 quant=int8"."""
    shown = [o for o in overrides if not o.startswith(("hydra.", "tracking."))]
    return " ".join(shown) if shown else "defaults"


def _install_sigterm_handler() -> None:
    """Turn SIGTERM into KeyboardInterrupt so the open run ends KILLED, not RUNNING forever."""
    if threading.current_thread() is not threading.main_thread():
        return

    def interrupt(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal handler signature
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


def run_job(cfg: Config, overrides: list[str], sweep_dir: str | None = None) -> JobOutcome:
    """Validate, then execute one job inside its own MLflow run (tinyexp.tracking.job_run).

    In a sweep (`sweep_dir` given) the run is nested under the sweep's parent run, and when
    `sweep.resume` is on a job is skipped if its identical config already finished in the
    sweep, or is running now (claimed by another command).
    """
    validate(cfg)
    sources.check_source(cfg)
    backend = load_backend(cfg.device, cfg.board)
    backend.check_tracking(cfg.tracking.uri)
    place = JobPlace(cfg.tracking, sweep.config_hash(cfg),
                     sweep_id=sweep.sweep_id(cfg, sweep_dir) if sweep_dir is not None else None,
                     resume=bool(cfg.sweep.resume), ray_node=backend.job_node(),
                     dead_ray_nodes=frozenset(backend.dead_nodes()))
    record = RunRecord()
    record.params.update(flatten(as_plain(cfg)))
    record.tags.update(provenance_tags())
    record.tags[Tag.HYDRA_OVERRIDES] = " ".join(overrides)
    with job_run(place, record) as job:
        if job.skipped is not None:
            return JobOutcome(job.skipped.run_id, False, f"skipped: {job.skipped.reason}", skipped=True)
        record.tags.update(backend.check_ready())  # before training: a missing board fails the job at once
        _install_sigterm_handler()
        with tempfile.TemporaryDirectory(prefix="tinyexp-") as tmp, job.tracked(run_name(overrides)) as run_id:
            summary = execute(cfg, record, Path(tmp), backend)
    return JobOutcome(run_id, record.tags.get(Tag.DEPLOYABLE) == "true", summary)


