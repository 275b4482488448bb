"""Every name tinyexp gives a figure or a fact in MLflow, defined once.

The recorder writes these names, the report and the sweep logic read them, and
docs/architecture.md lists them (a test checks the doc against this module). A metric's name
carries its unit. Runs logged before a name changed still read correctly through
:data:`OLD_METRIC_NAMES` and :func:`canonical_quant_mode`.
"""

from __future__ import annotations

from typing import Final, Mapping


class Metric:
    """Metric names (numbers; the unit is in the name)."""

    MODEL_BYTES: Final = "model_bytes"
    FLOAT_MODEL_BYTES: Final = "float_model_bytes"
    SIZE_RATIO: Final = "size_ratio"  # float32 bytes / this model's bytes
    PARAMS: Final = "parameter_count"  # weights and biases; not MLflow's params (the config)
    MACS: Final = "macs"
    HIDDEN_TO_HIDDEN_WEIGHTS: Final = "hidden_to_hidden_weights"
    # The four arena figures, each a different question:
    ARENA_REQUIRED_BYTES: Final = "arena_required_bytes"  # smallest arena that allocates (host TFLM)
    ARENA_HOST_REPORTED_BYTES: Final = "arena_host_reported_bytes"  # TFLM's allocation report on the host
    ARENA_BOARD_USED_BYTES: Final = "arena_board_used_bytes"  # what the board's TFLM reports it used
    ARENA_CONFIGURED_BYTES: Final = "arena_configured_bytes"  # the arena the board's sketch reserves
    TEST_MSE: Final = "test_mse"
    TEST_MAE: Final = "test_mae"
    VAL_MSE: Final = "val_mse"
    # Classification (top-1 accuracy and, for two classes, ROC AUC; fractions in [0, 1]).
    TEST_ACCURACY: Final = "test_accuracy"
    TEST_AUC: Final = "test_auc"
    VAL_ACCURACY: Final = "val_accuracy"
    # A quantised classifier's float32 reference, and this model's figure minus it.
    TEST_ACCURACY_FLOAT32: Final = "test_accuracy_float32"
    TEST_ACCURACY_CHANGE_VS_FLOAT32: Final = "test_accuracy_change_vs_float32"
    TEST_AUC_FLOAT32: Final = "test_auc_float32"
    TEST_AUC_CHANGE_VS_FLOAT32: Final = "test_auc_change_vs_float32"
    TRAIN_SECONDS: Final = "train_seconds"
    TRAIN_FINAL_BATCH_LOSS: Final = "train_final_batch_loss"
    # Early stopping (train.early_stopping_patience >= 1): epochs trained (a count), the 1-based
    # epoch whose weights were kept, and its validation loss (in the unit of param train.loss).
    TRAIN_EPOCHS_RUN: Final = "train_epochs_run"
    TRAIN_BEST_EPOCH: Final = "train_best_epoch"
    VAL_LOSS_BEST: Final = "val_loss_best"
    # The run's one latency figure, measured or estimated (tag latency_source says which):
    # the column measured and estimated runs share in the MLflow UI and the report.
    LATENCY_US: Final = "latency_us"
    # A measured run's statistics over its invokes (never logged for an estimate).
    LATENCY_MEAN_US: Final = "latency_mean_us"
    LATENCY_STD_US: Final = "latency_std_us"
    LATENCY_MIN_US: Final = "latency_min_us"
    LATENCY_MEDIAN_US: Final = "latency_median_us"
    LATENCY_P95_US: Final = "latency_p95_us"
    LATENCY_MAX_US: Final = "latency_max_us"
    LATENCY_MEAN_CYCLES: Final = "latency_mean_cycles"
    MACS_PER_SECOND: Final = "macs_per_second"
    CYCLES_PER_MAC: Final = "cycles_per_mac"
    PARITY_MAX_ABS_ERROR: Final = "parity_max_abs_error"
    BUILD_FLASH_BYTES: Final = "build_flash_bytes"  # a real build's sketch size (arduino-cli), not board.flash_bytes
    BUILD_RAM_BYTES: Final = "build_ram_bytes"  # a real build's static RAM (arduino-cli), not board.ram_bytes
    LATENCY_ESTIMATE_LOO_MAX_ERROR_PCT: Final = "latency_estimate_loo_max_error_pct"
    # The per-operator profile (PROF, protocol 2): how many operators, their total time, and
    # the invoke's time outside them (the interpreter's own work).
    LATENCY_PROFILE_OPERATORS: Final = "latency_profile_operators"
    LATENCY_PROFILE_OPERATORS_US: Final = "latency_profile_operators_us"
    LATENCY_PROFILE_OUTSIDE_OPERATORS_US: Final = "latency_profile_outside_operators_us"
    # An estimated run's figure and its 80% prediction interval (the estimator's, docs/estimate.md).
    LATENCY_ESTIMATE_US: Final = "latency_estimate_us"
    LATENCY_ESTIMATE_LOW_US: Final = "latency_estimate_low_us"
    LATENCY_ESTIMATE_HIGH_US: Final = "latency_estimate_high_us"
    # Energy per inference (tag energy_source: estimate | measured | "none: <why>"), and an
    # estimate's interval from the latency's 80% interval and the current's range (docs/energy.md).
    ENERGY_PER_INFERENCE_UJ: Final = "energy_per_inference_uj"
    ENERGY_PER_INFERENCE_LOW_UJ: Final = "energy_per_inference_low_uj"
    ENERGY_PER_INFERENCE_HIGH_UJ: Final = "energy_per_inference_high_uj"


LATENCY_STAT_METRICS: Final = {
    "mean_us": Metric.LATENCY_MEAN_US, "std_us": Metric.LATENCY_STD_US, "min_us": Metric.LATENCY_MIN_US,
    "median_us": Metric.LATENCY_MEDIAN_US, "p95_us": Metric.LATENCY_P95_US, "max_us": Metric.LATENCY_MAX_US,
}


class Tag:
    """Tag names (facts as text)."""

    LATENCY_SOURCE: Final = "latency_source"  # measured | estimate | not_measured
    DEPLOYABLE: Final = "deployable"
    NOT_DEPLOYED_REASON: Final = "not_deployed_reason"
    TFLM_RUNS: Final = "tflm_runs"
    TFLM_REFUSAL: Final = "tflm_refusal"
    KERNEL_DTYPE: Final = "kernel_dtype"  # a dtype: the weights' (float32, int8, float16)
    KERNEL_KIND: Final = "kernel_kind"  # float32 | int8 | hybrid | float16 | int16x8 | mixed
    MODEL_OPS: Final = "model_ops"
    TENSOR_DTYPES: Final = "tensor_dtypes"
    ACCURACY_RUNTIME: Final = "accuracy_runtime"  # tflm | tflite
    FITS_FLASH: Final = "fits_flash"
    FITS_RAM: Final = "fits_ram"
    FIT_BASIS: Final = "fit_basis"
    CONFIG_HASH: Final = "config_hash"
    # The job's model and dataset files' contents (model.sources.input_files_digest), on a job
    # that reads any: resume skips a finished run only if it read the same contents.
    INPUT_FILES_DIGEST: Final = "input_files_digest"
    SWEEP_ID: Final = "sweep_id"
    ROLE: Final = "tinyexp.role"  # "sweep" on a sweep's parent run
    HOST: Final = "tinyexp.host"
    PID: Final = "tinyexp.pid"
    COMMAND: Final = "tinyexp.command"  # the command (process id-random) that launched the job
    RAY_NODE: Final = "tinyexp.ray_node"  # the Ray node the job ran on (hydra/launcher=farm)
    # "true", set after every other datum of a FINISHED run: resume trusts no run without it.
    COMPLETE: Final = "tinyexp.complete"
    MEASURE_NODE: Final = "tinyexp.measure_node"  # host/Ray node id that measured (hydra/launcher=ray)
    HYDRA_OVERRIDES: Final = "hydra_overrides"
    TRAIN_CACHE: Final = "train_cache"  # hit | miss
    TRAIN_CACHE_KEY: Final = "train_cache_key"
    DEVICE_TIMER: Final = "device_timer"
    DEVICE_PORT: Final = "device.port"
    LATENCY_ESTIMATE_CALIBRATION: Final = "latency_estimate_calibration"
    LATENCY_ESTIMATE_PROVENANCE: Final = "latency_estimate_provenance"
    # measured | estimate (the board's latency_source), or "none: <why>" (a v1 board, ...)
    LATENCY_PROFILE_SOURCE: Final = "latency_profile_source"
    LATENCY_PROFILE_MACS: Final = "latency_profile_macs"  # matched | why the MACs are left out
    LATENCY_PROFILE_METHOD: Final = "latency_profile_method"  # estimates: per-operator model
    LATENCY_PROFILE_PROVENANCE: Final = "latency_profile_provenance"  # estimates: how they were made
    LATENCY_ESTIMATE_SOURCE: Final = "latency_estimate_source"  # the calibration source used
    LATENCY_ESTIMATE_METHOD: Final = "latency_estimate_method"
    LATENCY_ESTIMATE_TRANSFERRED: Final = "latency_estimate_transferred"  # "" when nothing was
    LATENCY_ESTIMATE_EXTRAPOLATED: Final = "latency_estimate_extrapolated"  # "" when nothing was
    # "within its calibration: ..." | "beyond ..." | "below ...": the model's MACs against its source's nets'
    LATENCY_ESTIMATE_CALIBRATION_RANGE: Final = "latency_estimate_calibration_range"
    ENERGY_SOURCE: Final = "energy_source"  # estimate | measured | "none: <why>"
    ENERGY_BASIS: Final = "energy_basis"  # how: the meter and its windows, or latency x declared power
    MODEL_LABEL: Final = "model_label"  # the model's name in reports (dense widths, label, file name)
    DATASET_TASK: Final = "dataset_task"  # regression | classification
    # The training values taken from the task's defaults, e.g. "epochs=50, ... (classification defaults)"
    TRAIN_DEFAULTS: Final = "train_defaults"
    ERROR: Final = "error"
    ERROR_TYPE: Final = "error_type"
    # The local lost-run record of a run whose tracking server dropped (set when it is settled).
    LOST_RECORD: Final = "tinyexp.lost_record"
    PARENT_RUN_ID: Final = "mlflow.parentRunId"
    # A search (tinyexp search): its trials' Optuna number, why a trial was pruned before
    # training, why a kept trial's latency is uncertain, the front's trials and the objectives
    # each is the best of (on the parent: each objective's chosen trial), the trial's chosen
    # values (JSON), and on the parent run where the Optuna study is stored, the search's
    # declaration (JSON) and the study's trials by state (JSON): what `tinyexp report` reads.
    SEARCH_TRIAL: Final = "tinyexp.search.trial"
    SEARCH_PARAMS: Final = "tinyexp.search.params"
    SEARCH_SPEC: Final = "tinyexp.search.spec"
    SEARCH_COUNTS: Final = "tinyexp.search.counts"
    SEARCH_PRUNED: Final = "tinyexp.search.pruned"
    SEARCH_LATENCY_FLAG: Final = "tinyexp.search.latency_flag"
    SEARCH_FRONT: Final = "tinyexp.search.front"
    SEARCH_BEST: Final = "tinyexp.search.best"
    SEARCH_STORAGE: Final = "tinyexp.search.storage"


class ExperimentTag:
    """Tags on the experiment itself: how MLflow's UI (3.x) shows it."""

    # MLflow's experiment kind: custom_model_development opens the experiment on its runs
    # (unset, MLflow 3 infers a GenAI experiment and opens on traces).
    KIND: Final = "mlflow.experimentKind"
    KIND_RUNS: Final = "custom_model_development"
    NOTE: Final = "mlflow.note.content"  # the experiment's description (markdown)
    # A saved view of the runs table (its columns), opened with ?viewStateShareKey=<key>.
    SHARED_VIEW_PREFIX: Final = "mlflow.sharedViewState."


DEVICE_IDENTITY_TAGS: Final = {key: f"device.{key}" for key in ("fw", "tflm", "compiler", "board", "clock_hz")}


class Artifact:
    """Artifact file and folder names."""

    C_ARRAY_DIR: Final = "c_array"
    PACKAGE_DIR: Final = "package"  # the model package (tinyexp.tflm.package), deployable runs only
    FLOAT_REFERENCE: Final = "model_float32_reference.tflite"
    CONFIG: Final = "config.yaml"
    MODEL_STATS: Final = "model_stats.json"
    KERAS_MODEL: Final = "keras_model.keras"
    SUMMARY: Final = "summary.txt"
    TRANSCRIPT: Final = "serial_transcript.txt"
    PER_INVOKE_TIMINGS: Final = "per_invoke_timings.csv"  # measured runs only
    # mlflow.log_table: an estimated run's operators: index, type, dtype, macs, us, cycles, basis, detail
    LATENCY_ESTIMATE_OPERATORS: Final = "latency_estimate_operators.json"
    # mlflow.log_table: operator, type, macs, time_us, cycles, share
    PER_OPERATOR_TABLE: Final = "per_operator_profile.json"
    PER_OPERATOR_CHART: Final = "per_operator_profile.png"
    OPERATORS: Final = "operators.json"  # per-operator table in mlflow.log_table's JSON form
    SEARCH_SPEC: Final = "search_spec.json"  # a search's declaration (also its parent's tag, when it fits one)
    SEARCH_FRONT_TABLE: Final = "search_front.json"  # a search's Pareto front (mlflow.log_table)
    SEARCH_FRONT_TEXT: Final = "search_front.txt"  # the same front as the table the command prints
    SEARCH_FRONT_FIGURE: Final = "search_front.png"  # the front against latency and size, limits drawn

    @staticmethod
    def tflite(quant_mode: str) -> str:
        return f"model_{quant_mode}.tflite"


# Names older stores hold, mapped to today's when a run is read back.
OLD_METRIC_NAMES: Final[Mapping[str, str]] = {
    "arena_bytes": Metric.ARENA_REQUIRED_BYTES,
    "arena_reported_bytes": Metric.ARENA_HOST_REPORTED_BYTES,
    "arena_used_bytes": Metric.ARENA_BOARD_USED_BYTES,
    # renamed so a metric never shares a name with a config param (board.flash_bytes: a limit)
    "flash_bytes": Metric.BUILD_FLASH_BYTES,
    "ram_bytes": Metric.BUILD_RAM_BYTES,
    "params": Metric.PARAMS,
}
# Today's names a run logged before them lacks, read from the old name it did log, which
# keeps its meaning: runs before latency_us logged every latency, measured or estimated, as
# latency_mean_us (and an estimated one tagged latency_source=estimate).
FILLED_METRIC_NAMES: Final[Mapping[str, str]] = {Metric.LATENCY_US: Metric.LATENCY_MEAN_US}
FLOAT32: Final = "float32"
_OLD_QUANT_MODES: Final = {"none": FLOAT32}
_KERNEL_KINDS_NOT_DTYPES: Final = ("hybrid", "mixed")


def canonical_quant_mode(mode: str) -> str:
    """Today's name of a quantisation mode ("none", the old name of float32, reads as float32)."""
    return _OLD_QUANT_MODES.get(mode, mode)


def canonical_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """A run's metrics under today's names (a run logged under both keeps today's figure)."""
    out = {OLD_METRIC_NAMES.get(k, k): v for k, v in metrics.items() if k in OLD_METRIC_NAMES}
    out.update({k: v for k, v in metrics.items() if k not in OLD_METRIC_NAMES})
    for new, old in FILLED_METRIC_NAMES.items():
        if new not in out and old in out:
            out[new] = out[old]
    return out


def canonical_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """A run's tags under today's meaning: an old `kernel_dtype` of hybrid/mixed was a kind."""
    out = dict(tags)
    if Tag.KERNEL_KIND not in out and Tag.KERNEL_DTYPE in out:
        kind = out[Tag.KERNEL_KIND] = out.pop(Tag.KERNEL_DTYPE)
        if kind not in _KERNEL_KINDS_NOT_DTYPES:
            out[Tag.KERNEL_DTYPE] = kind
        elif kind == "hybrid":
            out[Tag.KERNEL_DTYPE] = "int8"  # hybrid means int8 weights by definition
    return out
