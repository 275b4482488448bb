"""One job: train -> convert -> analyse -> evaluate -> package -> deploy/measure -> track.

Each stage is a plain function returning a small result; this module composes them and
fills a :class:`~tinyexp.tracking.RunRecord`, which the tracking sink logs to MLflow. A
model that TFLM refuses or that does not fit the board is a result, not a failure: its
sizes and accuracy are logged, and the run says plainly why it was not deployed.
"""

from __future__ import annotations

import json
import signal
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tinyexp import convert as convert_stage
from tinyexp import evaluate as evaluate_stage
from tinyexp import sweep
from tinyexp.config import QuantMode, hidden_widths, to_container, validate
from tinyexp.data import Dataset, make_dataset
from tinyexp.fit import FitCheck, check_fit
from tinyexp.measure import check_device_ready, measure
from tinyexp.package import to_c_array
from tinyexp.provenance import provenance_tags
from tinyexp.tflite_inspect import ModelStats, inspect_model
from tinyexp.tflm_runtime import TflmSupport, check_support
from tinyexp.tracking import RunRecord, configure, flatten, tracked_run
from tinyexp.train import TrainedModel, train


@dataclass(frozen=True)
class ConvertedModel:
    mode: QuantMode
    data: bytes
    stats: ModelStats
    support: TflmSupport


@dataclass(frozen=True)
class JobOutcome:
    run_id: str
    deployed: bool
    summary: str
    skipped: bool = False


def _convert_and_analyse(keras_model: Any, quant: Any, data: Dataset) -> ConvertedModel:
    mode = QuantMode(quant.mode)
    tflite = convert_stage.convert(keras_model, mode, quant.per_channel, data.train.x, quant.strip_strings)
    return ConvertedModel(mode, tflite, inspect_model(tflite), check_support(tflite))


def _record_model(record: RunRecord, model: ConvertedModel, float_bytes: int) -> None:
    s = model.stats
    record.metric("model_bytes", s.model_bytes)
    record.metric("float_model_bytes", float_bytes)
    record.metric("size_ratio", float_bytes / s.model_bytes)
    record.metric("params", s.params)
    record.metric("macs", s.macs)
    record.metric("hidden_to_hidden_weights", _hidden_to_hidden(s))
    record.metric("arena_bytes", model.support.arena_bytes)
    record.metric("arena_reported_bytes", model.support.arena_used_bytes)
    record.tags["model_ops"] = ",".join(s.ops)
    record.tags["tensor_dtypes"] = json.dumps(s.tensor_dtypes, sort_keys=True)
    record.tags["kernel_dtype"] = s.kernel_dtype
    record.tags["tflm_runs"] = str(model.support.runs).lower()
    if model.support.reason:
        record.tags["tflm_refusal"] = model.support.reason[:5000]


def _hidden_to_hidden(stats: ModelStats) -> int:
    """MACs of the layers between hidden layers: the study's x axis (n*n for 1-n-n-1)."""
    fc = [layer.macs for layer in stats.layers]
    return sum(fc[1:-1]) if len(fc) > 2 else 0


def _write_artifacts(out: Path, cfg: DictConfig, model: ConvertedModel, float_tflite: bytes,
                     trained: TrainedModel, description: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    tflite_path = out / f"model_{model.mode.value}.tflite"
    tflite_path.write_bytes(model.data)
    (out / "model_float32_reference.tflite").write_bytes(float_tflite)
    c_dir = out / "c_array"
    c_dir.mkdir(exist_ok=True)
    for name, text in to_c_array(model.data, description).files().items():
        (c_dir / name).write_text(text)
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    (out / "model_stats.json").write_text(json.dumps(model.stats.as_dict(), indent=2, sort_keys=True))
    keras_copy = out / "keras_model.keras"
    keras_copy.write_bytes(trained.keras_path.read_bytes())
    return [tflite_path, out / "model_float32_reference.tflite", c_dir, out / "config.yaml",
            out / "model_stats.json", keras_copy]


def _describe(cfg: DictConfig) -> str:
    widths = [cfg.model.inputs, *hidden_widths(cfg.model), cfg.model.outputs]
    return f"dense {'-'.join(str(w) for w in widths)}, quant={QuantMode(cfg.quant.mode).value}" + (
        ", per-channel" if cfg.quant.per_channel else ", per-tensor")


def _refusal(model: ConvertedModel, fit: FitCheck, board_name: str) -> str | None:
    """Why this model cannot be deployed to the configured board; None if it can."""
    if not model.support.runs:
        return f"TFLM cannot run this {model.stats.kernel_dtype} model: {model.support.reason}"
    return fit.reason(board_name)


def execute(cfg: DictConfig, record: RunRecord, workdir: Path) -> str:
    """Run every stage of one job, filling `record`; return a one-paragraph summary."""
    import keras

    data = make_dataset(cfg.dataset)
    trained = train(cfg.model, cfg.train, cfg.dataset, data)
    record.metric("train_seconds", trained.train_seconds)
    record.metric("val_mse", trained.val_mse)
    record.metric("train_final_batch_loss", trained.final_train_loss)
    record.tags["train_cache"] = "hit" if trained.from_cache else "miss"
    record.tags["train_cache_key"] = trained.cache_key

    keras_model = keras.models.load_model(trained.keras_path, compile=False)
    model = _convert_and_analyse(keras_model, cfg.quant, data)
    float_tflite = (model.data if model.mode is QuantMode.none
                    else convert_stage.convert(keras_model, QuantMode.none, False, data.train.x,
                                               cfg.quant.strip_strings))
    _record_model(record, model, len(float_tflite))
    fit = check_fit(model.stats.model_bytes, model.support.arena_bytes, cfg.board)
    record.tags["fits_flash"] = str(fit.fits_flash).lower()
    record.tags["fits_ram"] = str(fit.fits_ram).lower()
    record.tags["fit_basis"] = fit.basis

    host = evaluate_stage.host_model(model.data, model.support.arena_bytes)
    acc = evaluate_stage.accuracy(host, data.test.x, data.test.y)
    record.metric("test_mse", acc.mse)
    record.metric("test_mae", acc.mae)
    record.tags["accuracy_runtime"] = acc.runtime

    description = _describe(cfg)
    record.artifacts.extend(_write_artifacts(workdir, cfg, model, float_tflite, trained, description))

    refusal = _refusal(model, fit, cfg.board.name)
    record.tags["deployable"] = str(refusal is None).lower()
    if refusal is not None:
        record.tags["not_deployed_reason"] = refusal[:5000]
        record.tags["latency_source"] = "not_measured"
        latency = f"not measured: {refusal}"
    else:
        latency = measure(cfg, model.data, model.stats, host, data, record, workdir)
    summary = (f"{description}: {model.stats.model_bytes} bytes "
               f"(float32 {len(float_tflite)}, ratio {len(float_tflite) / model.stats.model_bytes:.2f}), "
               f"{model.stats.macs} MACs, test mse {acc.mse:.5f} ({acc.runtime}); latency {latency}")
    (workdir / "summary.txt").write_text(summary + "\n")
    record.artifacts.append(workdir / "summary.txt")
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


def run_job(cfg: DictConfig, overrides: list[str], sweep_dir: str | None = None) -> JobOutcome:
    """Validate, then execute one job inside its own MLflow run.

    In a sweep (`sweep_dir` given) the run is nested under the sweep's parent run, and a job
    whose identical config already finished is skipped when `sweep.resume` is on.
    """
    from mlflow.tracking import MlflowClient

    validate(cfg)
    experiment_id = configure(cfg.tracking.uri, cfg.tracking.experiment)
    client = MlflowClient()
    sweep.reap_orphans(client, experiment_id)
    digest = sweep.config_hash(cfg)
    parent_id = None
    record = RunRecord()
    if sweep_dir is not None:
        sweep_name = sweep.sweep_id(cfg, sweep_dir)
        parent_id = sweep.ensure_parent(client, experiment_id, sweep_name)
        record.tags[sweep.SWEEP_TAG] = sweep_name
        duplicate = sweep.finished_duplicate(client, experiment_id, sweep_name, digest) if cfg.sweep.resume else None
        if duplicate is not None:
            return JobOutcome(duplicate, False, f"skipped: an identical config already finished (run {duplicate})",
                              skipped=True)
    record.params.update(flatten(to_container(cfg)))
    record.tags.update(provenance_tags())
    record.tags.update(sweep.owner_tags())
    record.tags[sweep.HASH_TAG] = digest
    record.tags["hydra_overrides"] = " ".join(overrides)
    record.tags.update(check_device_ready(cfg))  # a missing board or toolchain fails before training
    _install_sigterm_handler()
    with tempfile.TemporaryDirectory(prefix="tinyexp-") as tmp:
        with tracked_run(experiment_id, run_name(overrides), record, parent_id) as run_id:
            summary = execute(cfg, record, Path(tmp))
    return JobOutcome(run_id, record.tags.get("deployable") == "true", summary)
