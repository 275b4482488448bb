"""Stage results -> MLflow params, metrics, tags and artifacts, under the names of core/names.py.

The only module that decides what a result is called in MLflow. Each function takes one
stage's typed result and adds it to the job's RunRecord as soon as the stage ends, so a job
that fails later still shows how far it got.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent.profile_table import outside_operators_us
from tinyexp.core.config import BoardConfig
from tinyexp.core.names import DEVICE_IDENTITY_TAGS, LATENCY_STAT_METRICS, Artifact, Metric, Tag
from tinyexp.core.units import us_to_cycles
from tinyexp.device.power_trace import MeasuredEnergy
from tinyexp.estimate.energy import MEASURED as ENERGY_MEASURED
from tinyexp.estimate.energy import Energy, board_power, estimate_energy, no_energy
from tinyexp.estimate.per_operator import Estimate
from tinyexp.model.train import TrainedModel
from tinyexp.pipeline.measure import DeviceMeasurement
from tinyexp.pipeline.profile import bar_chart, profile_table
from tinyexp.pipeline.stages import ConvertedModel
from tinyexp.tflm.evaluate import Accuracy
from tinyexp.tflm.board_fit import FitCheck
from tinyexp.tflm.inspect import ModelStats
from tinyexp.tracking.store import RunRecord

_MAX_TAG_CHARS = 5000
MEASURED = "measured"
_ESTIMATE_OPERATOR_COLUMNS = ("index", "type", "dtype", "macs", "us", "cycles", "basis", "detail")


def _flag(value: bool) -> str:
    return str(value).lower()


_VALIDATION_METRICS = {"val_mse": Metric.VAL_MSE, "val_accuracy": Metric.VAL_ACCURACY}
_TEST_METRICS = {"test_mse": Metric.TEST_MSE, "test_mae": Metric.TEST_MAE, "test_accuracy": Metric.TEST_ACCURACY,
                 "test_auc": Metric.TEST_AUC}
_FLOAT32_REFERENCE = {"test_accuracy": (Metric.TEST_ACCURACY_FLOAT32, Metric.TEST_ACCURACY_CHANGE_VS_FLOAT32),
                      "test_auc": (Metric.TEST_AUC_FLOAT32, Metric.TEST_AUC_CHANGE_VS_FLOAT32)}


def record_source(record: RunRecord, model_label: str, task: str) -> None:
    """Which model (its name in reports) and which kind of task the run is about."""
    record.tags[Tag.MODEL_LABEL] = model_label
    record.tags[Tag.DATASET_TASK] = task


def record_training(record: RunRecord, trained: TrainedModel) -> None:
    record.metric(Metric.TRAIN_SECONDS, trained.train_seconds)
    for key, value in trained.val_metrics.items():
        record.metric(_VALIDATION_METRICS[key], value)
    record.metric(Metric.TRAIN_FINAL_BATCH_LOSS, trained.final_train_loss)
    if trained.stopping is not None:
        record.metric(Metric.TRAIN_EPOCHS_RUN, trained.stopping.epochs_run)
        record.metric(Metric.TRAIN_BEST_EPOCH, trained.stopping.best_epoch)
        record.metric(Metric.VAL_LOSS_BEST, trained.stopping.val_loss_best)
    record.tags[Tag.TRAIN_CACHE] = "hit" if trained.from_cache else "miss"
    record.tags[Tag.TRAIN_CACHE_KEY] = trained.cache_key


def hidden_to_hidden_weights(stats: ModelStats) -> int:
    """MACs of the layers between hidden layers: the study's x axis (n*n for 1-n-n-1)."""
    fc = [layer.macs for layer in stats.layers]
    return sum(fc[1:-1]) if len(fc) > 2 else 0


def record_model(record: RunRecord, model: ConvertedModel, float_bytes: int | None, dense: bool) -> None:
    """Sizes, work and TFLM's verdict; the float32 comparison when there is a float32
    reference (not for a .tflite used as it is), the study's n*n axis for dense models."""
    s = model.stats
    record.metric(Metric.MODEL_BYTES, s.model_bytes)
    if float_bytes is not None:
        record.metric(Metric.FLOAT_MODEL_BYTES, float_bytes)
        record.metric(Metric.SIZE_RATIO, float_bytes / s.model_bytes)
    record.metric(Metric.PARAMS, s.params)
    record.metric(Metric.MACS, s.macs)
    if dense:
        record.metric(Metric.HIDDEN_TO_HIDDEN_WEIGHTS, hidden_to_hidden_weights(s))
    record.metric(Metric.ARENA_REQUIRED_BYTES, model.support.arena_bytes)
    record.metric(Metric.ARENA_HOST_REPORTED_BYTES, model.support.arena_used_bytes)
    record.tags[Tag.MODEL_OPS] = ",".join(s.ops)
    record.tags[Tag.TENSOR_DTYPES] = json.dumps(s.tensor_dtypes, sort_keys=True)
    record.tags[Tag.KERNEL_DTYPE] = s.kernel_dtype
    record.tags[Tag.KERNEL_KIND] = s.kernel_kind
    record.tags[Tag.TFLM_RUNS] = _flag(model.support.runs)
    if model.support.reason:
        record.tags[Tag.TFLM_REFUSAL] = model.support.reason[:_MAX_TAG_CHARS]


def record_fit(record: RunRecord, fit: FitCheck) -> None:
    record.tags[Tag.FITS_FLASH] = _flag(fit.fits_flash)
    record.tags[Tag.FITS_RAM] = _flag(fit.fits_ram)
    record.tags[Tag.FIT_BASIS] = fit.basis


def record_accuracy(record: RunRecord, acc: Accuracy, float32: Accuracy | None = None) -> None:
    """The task's test metrics; with a float32 reference, its figures and the change against them."""
    for key, value in acc.metrics.items():
        record.metric(_TEST_METRICS[key], value)
    record.tags[Tag.ACCURACY_RUNTIME] = acc.runtime
    for key, (reference, change) in _FLOAT32_REFERENCE.items():
        if float32 is not None and key in acc.metrics and key in float32.metrics:
            record.metric(reference, float32.metrics[key])
            record.metric(change, acc.metrics[key] - float32.metrics[key])


def record_deployability(record: RunRecord, refusal: str | None) -> None:
    """Whether the model goes to the board; if not, why, and that no latency was measured."""
    record.tags[Tag.DEPLOYABLE] = _flag(refusal is None)
    if refusal is not None:
        record.tags[Tag.NOT_DEPLOYED_REASON] = refusal[:_MAX_TAG_CHARS]
        record.tags[Tag.LATENCY_SOURCE] = "not_measured"


def record_estimate(record: RunRecord, estimate: Estimate) -> None:
    """An estimated run's latency: the estimate (latency_us beside latency_source=estimate,
    and latency_estimate_us), its 80% interval, its operators, where it comes from, what in
    it was transferred or extrapolated, and whether the model's size is inside what its
    source was calibrated on. Nothing here is a measurement, and nothing measured-looking
    (spread, per-invoke rows) is derived from it."""
    record.metric(Metric.LATENCY_US, estimate.latency_us)
    record.metric(Metric.LATENCY_ESTIMATE_US, estimate.latency_us)
    record.metric(Metric.LATENCY_ESTIMATE_LOW_US, estimate.low_us)
    record.metric(Metric.LATENCY_ESTIMATE_HIGH_US, estimate.high_us)
    record.metric(Metric.LATENCY_ESTIMATE_LOO_MAX_ERROR_PCT, estimate.loo_max_abs_error_pct)
    record.tables[Artifact.LATENCY_ESTIMATE_OPERATORS] = {
        column: [getattr(op, column) for op in estimate.operators] for column in _ESTIMATE_OPERATOR_COLUMNS}
    record.tags[Tag.LATENCY_ESTIMATE_CALIBRATION] = estimate.calibration[:_MAX_TAG_CHARS]
    record.tags[Tag.LATENCY_ESTIMATE_PROVENANCE] = estimate.provenance[:_MAX_TAG_CHARS]
    record.tags[Tag.LATENCY_ESTIMATE_SOURCE] = estimate.source
    record.tags[Tag.LATENCY_ESTIMATE_METHOD] = estimate.method
    record.tags[Tag.LATENCY_ESTIMATE_TRANSFERRED] = "; ".join(estimate.transferred)[:_MAX_TAG_CHARS]
    record.tags[Tag.LATENCY_ESTIMATE_EXTRAPOLATED] = "; ".join(estimate.extrapolated)[:_MAX_TAG_CHARS]
    record.tags[Tag.LATENCY_ESTIMATE_CALIBRATION_RANGE] = estimate.size_range.describe()


def record_measurement(record: RunRecord, m: DeviceMeasurement, stats: ModelStats,
                       board: BoardConfig) -> None:
    """The board's memory and identity, and, when the board measured its timings (not a
    virtual board's modelled clock: latency_source "estimate"), the timings and the figures
    derived from them. An estimated run's latency is record_estimate's."""
    record.metric(Metric.ARENA_BOARD_USED_BYTES, _optional_int(m.info.get("arena_used_bytes")))
    record.metric(Metric.ARENA_CONFIGURED_BYTES, _optional_int(m.info.get("arena_bytes")))
    record.metric(Metric.PARITY_MAX_ABS_ERROR, m.parity_max_abs_error)
    record.metric(Metric.BUILD_FLASH_BYTES, m.build_flash_bytes)
    record.metric(Metric.BUILD_RAM_BYTES, m.build_ram_bytes)
    record.tags[Tag.LATENCY_SOURCE] = m.latency_source
    record.tags[Tag.DEVICE_TIMER] = m.identity.get("timer", "unknown")
    for key, name in DEVICE_IDENTITY_TAGS.items():
        if key in m.identity:
            record.tags[name] = m.identity[key]
    if m.node is not None:
        record.tags[Tag.MEASURE_NODE] = m.node
    record.tags.update(m.readiness)
    record.artifacts.append(m.transcript_path)
    if m.latency_source == MEASURED:
        _record_timings(record, m, stats, board)


def _record_timings(record: RunRecord, m: DeviceMeasurement, stats: ModelStats, board: BoardConfig) -> None:
    """A measured run's timings: the statistics over its invokes, cycles, the figures per MAC
    and the per-invoke rows."""
    for key, name in LATENCY_STAT_METRICS.items():
        record.metric(name, m.stats.get(key))
    mean_us = m.stats.get("mean_us")
    record.metric(Metric.LATENCY_US, mean_us)
    cycles = m.stats.get("mean_cycles")
    if cycles is not None and cycles < 0:  # -1: the board has no cycle counter
        cycles = None
    record.metric(Metric.LATENCY_MEAN_CYCLES, cycles)
    if mean_us and stats.macs:
        clock_hz = board.clock_hz
        record.metric(Metric.MACS_PER_SECOND, stats.macs / (mean_us * 1e-6))
        record.metric(Metric.CYCLES_PER_MAC,
                      (cycles if cycles is not None else us_to_cycles(mean_us, clock_hz)) / stats.macs)
    record.artifacts.append(m.timings_path)


def record_profile(record: RunRecord, m: DeviceMeasurement, stats: ModelStats, workdir: Path) -> None:
    """The board's per-operator profile: table, bar chart, totals; or why there is none."""
    if m.profile is None:
        record.tags[Tag.LATENCY_PROFILE_SOURCE] = f"none: {m.no_profile_reason}"[:_MAX_TAG_CHARS]
        return
    table, matched = profile_table(m.profile, stats)
    record.tables[Artifact.PER_OPERATOR_TABLE] = table
    record.artifacts.append(bar_chart(table, m.latency_source, workdir / Artifact.PER_OPERATOR_CHART))
    record.tags[Tag.LATENCY_PROFILE_SOURCE] = m.latency_source
    record.tags[Tag.LATENCY_PROFILE_MACS] = "matched" if matched else "left out: the board ran other operators"
    record.metric(Metric.LATENCY_PROFILE_OPERATORS, len(m.profile.operators))
    record.metric(Metric.LATENCY_PROFILE_OPERATORS_US, m.profile.us)
    record.metric(Metric.LATENCY_PROFILE_OUTSIDE_OPERATORS_US, outside_operators_us(m.profile))


def record_operator_estimate(record: RunRecord, estimate: Estimate) -> None:
    """How an estimated per-operator profile was made: the estimate's own operators."""
    record.tags[Tag.LATENCY_PROFILE_METHOD] = estimate.method
    record.tags[Tag.LATENCY_PROFILE_PROVENANCE] = estimate.provenance[:_MAX_TAG_CHARS]


def _optional_int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def record_energy(record: RunRecord, board: BoardConfig, m: DeviceMeasurement | None,
                  estimate: Estimate | None, metered: MeasuredEnergy | None) -> Energy:
    """Energy per inference with its source: a meter's reading (measured), else the run's latency
    times the board's declared power (an estimate, even on a measured latency: the current was
    not measured), else none and why. Only an estimate carries the low/high interval."""
    energy = _energy(board, m, estimate, metered)
    record.tags[Tag.ENERGY_SOURCE] = energy.source[:_MAX_TAG_CHARS]
    record.tags[Tag.ENERGY_BASIS] = energy.basis[:_MAX_TAG_CHARS]
    record.metric(Metric.ENERGY_PER_INFERENCE_UJ, energy.uj)
    record.metric(Metric.ENERGY_PER_INFERENCE_LOW_UJ, energy.low_uj)
    record.metric(Metric.ENERGY_PER_INFERENCE_HIGH_UJ, energy.high_uj)
    return energy


def _energy(board: BoardConfig, m: DeviceMeasurement | None, estimate: Estimate | None,
            metered: MeasuredEnergy | None) -> Energy:
    if m is None:
        return no_energy("not deployed: no inference ran")
    if metered is not None:
        return Energy(ENERGY_MEASURED, metered.describe(), metered.uj)
    power = board_power(board)
    if power is None:
        return no_energy(f"board {board.name} declares no supply_voltage_v and active_current_ma")
    mean_us = m.stats.get("mean_us")
    if m.latency_source == MEASURED and mean_us:
        return estimate_energy(power, float(mean_us), latency_measured=True)
    if estimate is not None:
        return estimate_energy(power, estimate.latency_us, estimate.low_us, estimate.high_us)
    return no_energy(f"no latency: the board's clock is {m.latency_source}")
