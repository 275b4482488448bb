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

import functools
import json
import signal
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from tinyexp.core.config import Config, QuantMode, as_plain
from tinyexp.core.validation import validate
from tinyexp.core.names import Artifact, Tag
from tinyexp.core.provenance import provenance_tags
from tinyexp.device.base import DeployRequest, DeviceBackend, load_backend
from tinyexp.device.power_monitor import PowerMonitor, load_power_monitor
from tinyexp.estimate.per_operator import estimate_operators
from tinyexp.model import conversion_cache
from tinyexp.model import convert as convert_stage
from tinyexp.model import sources
from tinyexp.model.conversion_cache import Conversion
from tinyexp.model.data import CLASSIFICATION, Dataset, make_dataset
from tinyexp.model.train import train
from tinyexp.model.train_defaults import TASK_KEYS, choose_training
from tinyexp.pipeline import recorder
from tinyexp.pipeline.measure import DeviceMeasurement, DeviceMeasurementError, measure
from tinyexp.pipeline.stages import ConvertedModel, analysed, as_is, describe, refusal
from tinyexp.tflm import evaluate as evaluate_stage
from tinyexp.tflm.c_array import CArray, to_c_array
from tinyexp.tflm.evaluate import HostModel
from tinyexp.tflm.board_fit import check_fit
from tinyexp.tflm.graph import ModelGraph
from tinyexp.tflm.operators import graph_operators, operator_table
from tinyexp.tflm.package import ModelPackage, build_package
from tinyexp.tracking import sweep
from tinyexp.tracking.job_run import JobPlace, job_run
from tinyexp.tracking.store import RunRecord, flatten


@dataclass(frozen=True)
class JobOutcome:
    run_id: str
    deployed: bool
    summary: str
    skipped: bool = False
    experiment_id: str | None = None  # where the run is, for a single job to say


def _write_artifacts(out: Path, cfg: Config, model: ConvertedModel, float_tflite: bytes | None,
                     keras_file: Path | None, c_array: CArray | None) -> list[Path]:
    """The files a run keeps; the C array (None: not made) is the very one the device is given."""
    out.mkdir(parents=True, exist_ok=True)
    tflite_path = out / Artifact.tflite(model.mode.value)
    tflite_path.write_bytes(model.data)
    paths = [tflite_path]
    if float_tflite is not None:
        (out / Artifact.FLOAT_REFERENCE).write_bytes(float_tflite)
        paths.append(out / Artifact.FLOAT_REFERENCE)
    if c_array is not None:
        c_dir = out / Artifact.C_ARRAY_DIR
        c_dir.mkdir(exist_ok=True)
        for name, text in c_array.files().items():
            (c_dir / name).write_text(text)
        paths.append(c_dir)
    (out / Artifact.CONFIG).write_text(yaml.safe_dump(as_plain(cfg), sort_keys=False))
    (out / Artifact.MODEL_STATS).write_text(json.dumps(model.stats.as_dict(), indent=2, sort_keys=True))
    paths += [out / Artifact.CONFIG, out / Artifact.MODEL_STATS]
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


@dataclass(frozen=True)
class _KerasSource:
    """The Keras model a job converts, loaded only if a conversion is not already stored."""

    load: Callable[[], Any]  # the keras.Model, or the SavedModel directory the converter reads
    file: Path | None  # the file it was read from (kept as an artifact)
    cache_entry: Path | None  # where its conversions are stored: a trained model's cache entry
    training_note: str = ""  # how early stopping went, for the job's summary ("" without it)


def _load_trained(path: Path) -> Any:
    sources.import_tensorflow()
    import keras

    return keras.models.load_model(path, compile=False)


def _keras_source(cfg: Config, record: RunRecord, data: Dataset) -> _KerasSource:
    """The model to convert: trained (cached) when the source trains, else the user's file as it is."""
    if sources.trains(cfg.model, cfg.train):
        trained = train(cfg.model, cfg.train, cfg.dataset, data)
        recorder.record_training(record, trained)
        note = trained.stopping.describe(int(cfg.train.epochs)) if trained.stopping is not None else ""
        return _KerasSource(functools.cache(lambda: _load_trained(trained.keras_path)), trained.keras_path,
                            trained.entry, note)
    path = Path(str(cfg.model.path)).expanduser()
    if sources.is_saved_model(path):
        return _KerasSource(lambda: path, None, None)
    return _KerasSource(functools.cache(lambda: sources.load_keras(cfg.model)), path, None)


def _model(cfg: Config, record: RunRecord,
           data: Dataset) -> tuple[ConvertedModel, bytes | None, Path | None, str]:
    """The model to deploy, its float32 reference (None for a .tflite used as it is), the
    Keras file behind it and how early stopping went ("" without it). A trained model's
    conversions come from its cache entry when they were made before
    (tinyexp.model.conversion_cache): such a job never imports TensorFlow."""
    if cfg.model.name == "tflite":
        return as_is(sources.read_tflite(cfg.model)), None, None, ""
    source = _keras_source(cfg, record, data)
    batch_one = cfg.model.name != "dense"  # the study's nets keep their dynamic batch (and sizes)

    def tflite(mode: QuantMode, per_channel: bool) -> bytes:
        conversion = Conversion(mode.value, per_channel, cfg.quant.strip_strings, batch_one)
        return conversion_cache.converted(source.cache_entry, conversion, lambda: convert_stage.convert(
            source.load(), mode, per_channel, data.train.x, cfg.quant.strip_strings, batch_one))

    mode = QuantMode(cfg.quant.mode)
    model = analysed(mode, tflite(mode, cfg.quant.per_channel))
    float_tflite = model.data if mode is QuantMode.float32 else tflite(QuantMode.float32, False)
    return model, float_tflite, source.file, source.training_note


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
    # A broken model is a failure, never measured; a .tflite used as it is (no float reference) was not trained.
    evaluate_stage.check_result(model.graph, acc, trained=float_tflite is not None)
    if data.task == CLASSIFICATION:
        return f"test accuracy {acc.metrics['test_accuracy']:.4f} ({acc.runtime})"
    return f"test mse {acc.metrics['test_mse']:.5f} ({acc.runtime})"


def _write_package(workdir: Path, package: ModelPackage) -> Path:
    """The package's files in their artifact folder."""
    folder = workdir / Artifact.PACKAGE_DIR
    folder.mkdir(exist_ok=True)
    for name, text in package.files.items():
        (folder / name).write_text(text)
    return folder


def _measure(cfg: Config, backend: DeviceBackend, model: ConvertedModel, c_array: CArray,
             package: ModelPackage, host: HostModel, data: Dataset, record: RunRecord, workdir: Path,
             monitor: PowerMonitor | None) -> str:
    """Deploy and measure (with the current meter reading, if there is one); the estimate a
    virtual clock needs is computed here, once."""
    estimate = estimate_operators(model.graph, cfg.board) if backend.estimated_clock else None
    request = DeployRequest(model.data, c_array, int(model.support.arena_bytes or 0),
                            estimate.latency_us if estimate else None, workdir,
                            tuple((o.type, o.cycles) for o in estimate.operators) if estimate else None,
                            package.sketch_files())
    dev = cfg.device

    def session() -> DeviceMeasurement:
        return measure(backend, request, host, data.test.x[: dev.parity_samples], dev.warmup, dev.invokes,
                       dev.baud, dev.timeout_s, dev.retries)

    try:
        m, metered = monitor.measure(session, dev.invokes) if monitor is not None else (session(), None)
    except DeviceMeasurementError as exc:  # keep what the board said up to the failure
        record.artifacts.append(exc.transcript_path)
        raise
    recorder.record_measurement(record, m, model.stats, cfg.board)
    recorder.record_profile(record, m, model.stats, workdir)
    recorder.record_energy(record, cfg.board, m, estimate if m.latency_source == "estimate" else None, metered)
    if m.latency_source == "estimate" and estimate is not None:
        recorder.record_estimate(record, estimate)
        if m.profile is not None:
            recorder.record_operator_estimate(record, estimate)
        return estimate.summary()
    return f"{m.stats.get('mean_us', float('nan')):.1f} us mean ({m.latency_source})"


def execute(cfg: Config, record: RunRecord, workdir: Path, backend: DeviceBackend,
            overrides: Sequence[str] = (), monitor: PowerMonitor | None = None) -> str:
    """Run every stage of one job, filling `record`; return a one-paragraph summary. The
    training values the config leaves at their defaults are the dataset's task's
    (tinyexp.model.train_defaults)."""
    data = make_dataset(cfg.dataset)
    recorder.record_source(record, sources.label(cfg.model), data.task)
    training = choose_training(cfg.train, data.task, overrides)
    record.params.update({f"train.{key}": str(value) for key, value in training.values.items()})
    record.tags[Tag.TRAIN_DEFAULTS] = training.describe() if cfg.model.name != "tflite" else "none: not trained"
    cfg = replace(cfg, train=replace(cfg.train, **training.values))  # the config as it runs (and config.yaml)
    model, float_tflite, keras_file, training_note = _model(cfg, record, data)
    recorder.record_model(record, model, None if float_tflite is None else len(float_tflite),
                          cfg.model.name == "dense")
    record.artifacts.append(_operator_table(model.graph, workdir))
    fit = check_fit(model.stats.model_bytes, model.support.arena_bytes, cfg.board)
    recorder.record_fit(record, fit)

    host = evaluate_stage.host_model(model.data, model.support.arena_bytes)
    accuracy = _accuracy(record, host, model, float_tflite, data)

    description = describe(cfg)
    # Never flashed, a model beyond the board's flash gets no C array: as text it is about six
    # times the model (a 144 MB .tflite wrote 912 MB per run).
    c_array = to_c_array(model.data, description) if fit.fits_flash else None
    record.artifacts.extend(_write_artifacts(workdir, cfg, model, float_tflite, keras_file, c_array))

    why_not = refusal(model, fit, cfg.board.name)
    recorder.record_deployability(record, why_not)
    if why_not is not None or c_array is None:
        latency = f"not measured: {why_not}"
        recorder.record_energy(record, cfg.board, None, None, None)
    else:
        package = build_package(model.graph, c_array, int(model.support.arena_bytes or 0), description)
        record.artifacts.append(_write_package(workdir, package))
        latency = _measure(cfg, backend, model, c_array, package, host, data, record, workdir, monitor)
    size = f"{model.stats.model_bytes} bytes"
    if float_tflite is not None:
        size += f" (float32 {len(float_tflite)}, ratio {len(float_tflite) / model.stats.model_bytes:.2f})"
    summary = f"{description}: {size}, {model.stats.macs} MACs, {accuracy}; latency {latency}"
    if training_note:
        summary += f"; training {training_note}"
    if c_array is None:
        summary += f"; no C array written (the model cannot fit {cfg.board.name}'s flash)"
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
    monitor = load_power_monitor(cfg.device, cfg.board, backend.estimated_clock)
    place = JobPlace(cfg.tracking, sweep.config_hash(cfg),
                     sweep_id=sweep.sweep_id(cfg, sweep_dir) if sweep_dir is not None else None,
                     input_files=sources.input_files_digest(cfg.model, cfg.dataset),
                     resume=bool(cfg.sweep.resume), ray_node=backend.job_node(),
                     dead_ray_nodes=frozenset(backend.dead_nodes()))
    record = RunRecord()
    record.params.update(flatten(as_plain(cfg)))
    for key in TASK_KEYS:  # logged once the dataset's task says what trains (execute)
        del record.params[f"train.{key}"]
    record.tags.update(provenance_tags())
    record.tags[Tag.HYDRA_OVERRIDES] = " ".join(overrides)
    with job_run(place, record) as job:
        if job.skipped is not None:
            return JobOutcome(job.skipped.run_id, False, f"skipped: {job.skipped.reason}", skipped=True)
        record.tags.update(backend.check_ready())  # before training: a missing board fails the job at once
        _install_sigterm_handler()
        with tempfile.TemporaryDirectory(prefix="tinyexp-") as tmp, job.tracked(run_name(overrides)) as run_id:
            summary = execute(cfg, record, Path(tmp), backend, overrides, monitor)
    return JobOutcome(run_id, record.tags.get(Tag.DEPLOYABLE) == "true", summary, experiment_id=job.experiment_id)


