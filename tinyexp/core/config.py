"""Typed schema of the configuration, and the checks that run before any work.

Hydra merges the YAML files in conf/ onto these dataclasses (registered by tinyexp.cli.schema),
so an unknown key or a value of the wrong type is refused at the entry; the entry then resolves
the composed config once into a :class:`Config` of these dataclasses, and only that travels
down the layers (nothing below the entry imports Hydra or OmegaConf). What types cannot say (a
width of zero, a split that does not sum to one) is checked by tinyexp.core.validation.
:func:`as_plain` is the config as plain data: MLflow params, config.yaml, hashes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any, Dict, Optional, Union



# OmegaConf's marker for a value that must be filled: the chosen model and dataset options fill it.
MISSING = "???"


class QuantMode(str, Enum):
    """How the converter quantises: float32 (no quantisation; `none` is the same mode),
    weight-only int8 (dynamic range), full int8, float16 weights, int16x8 (int16 activations,
    int8 weights); as_is: no conversion at all (a .tflite file given by `model=tflite`)."""

    float32 = "float32"
    none = "float32"  # an alias: `quant.mode=none` reads as float32 everywhere
    dynamic = "dynamic"
    int8 = "int8"
    float16 = "float16"
    int16x8 = "int16x8"
    as_is = "as_is"

    @classmethod
    def _missing_(cls, value: object) -> "QuantMode | None":
        return cls.float32 if value == "none" else None


@dataclass
class ModelConfig:
    """model=dense: the study's fully connected network, built by tinyexp."""

    name: str = "dense"
    inputs: int = 1
    outputs: int = 1
    hidden_layers: int = 2
    neurons: int = 16
    widths: Optional[list[int]] = None
    activation: str = "relu"


@dataclass
class LayersModelConfig:
    """model=layers: a network declared layer by layer (tinyexp.model.layers)."""

    name: str = "layers"
    label: Optional[str] = None  # the model's name in reports; null = derived (file name, spec hash)
    # Without the batch dimension; null = the dataset's input shape.
    input_shape: Optional[list[int]] = None
    layers: list[Any] = field(default_factory=list)


@dataclass
class KerasModelConfig:
    """model=keras: a user's .keras / .h5 file or SavedModel directory."""

    name: str = "keras"
    label: Optional[str] = None  # the model's name in reports; null = derived (file name, spec hash)
    path: Optional[str] = None


@dataclass
class TfliteModelConfig:
    """model=tflite: a user's .tflite file, used as it is (quant=as_is)."""

    name: str = "tflite"
    label: Optional[str] = None  # the model's name in reports; null = derived (file name, spec hash)
    path: Optional[str] = None


# The model's source, typed by its option's schema.
ModelSource = Union[ModelConfig, LayersModelConfig, KerasModelConfig, TfliteModelConfig]
MODEL_SCHEMAS = {"dense": ModelConfig, "layers": LayersModelConfig, "keras": KerasModelConfig,
                 "tflite": TfliteModelConfig}


@dataclass
class QuantConfig:
    mode: QuantMode = QuantMode.float32
    per_channel: bool = False
    # Drop tensor names and signatures TFLM never reads (TF's flatbuffer_utils.strip_strings):
    # about 600 bytes less flash, and sizes comparable with the 2020 converter's.
    strip_strings: bool = True


@dataclass
class BoardConfig:
    name: str = "nano33ble"
    mcu: str = "nRF52840"
    cpu: str = "cortex-m4f"
    clock_hz: int = 64_000_000
    flash_bytes: int = 983_040
    ram_bytes: int = 262_144
    fqbn: str = "arduino:mbed_nano:nano33ble"
    usb_vid: int = 0x2341
    usb_pid: int = 0x805A
    latency_calibration: str = "dokic2020"
    # A calibration file of this board's own measured runs (tinyexp calibrate); when set, the
    # latency estimate is fitted to it instead of the published source for the board.
    calibration: Optional[str] = None
    # Flash and RAM the sketch needs besides the model and the tensor arena. null = unknown:
    # fit checks then count the model and arena alone and say so; a real build measures it.
    sketch_flash_bytes: Optional[int] = None
    sketch_ram_bytes: Optional[int] = None
    # Power while an inference runs, for the energy estimate (tinyexp.estimate.energy): the
    # supply voltage and the MCU's active current at clock_hz, with the range the datasheet's
    # conditions span (regulator, cache, where code runs) and where the figures come from.
    # null = not declared: the run's energy_source says so instead of guessing.
    supply_voltage_v: Optional[float] = None
    active_current_ma: Optional[float] = None
    active_current_low_ma: Optional[float] = None
    active_current_high_ma: Optional[float] = None
    power_source: Optional[str] = None
    # What a latency transfer between boards compares (docs/estimate.md, "Transfers between
    # boards"); each board file says where its values come from. null/empty = not stated.
    fpu: Optional[str] = None
    flash_wait_states: Optional[int] = None
    # The kernel library of the deployed TFLM build per kernel dtype (reference | cmsis-nn);
    # a dtype not listed runs reference kernels.
    kernels: Dict[str, str] = field(default_factory=dict)


@dataclass
class DeviceConfig:
    kind: str = "virtual"  # a label for people; `backend` decides what runs
    # The device backend, module.Class, a subclass of tinyexp.device.base.DeviceBackend.
    backend: str = "tinyexp.device.virtual.VirtualDevice"
    port: Optional[str] = None
    baud: int = 115200
    timeout_s: float = 20.0
    retries: int = 3
    warmup: int = 5
    invokes: int = 100
    parity_samples: int = 16
    # Virtual board only: each invoke takes its estimated latency in wall-clock time, as on a
    # real board (for simulating a farm); the recorded figures are the same either way.
    realtime: bool = False
    # Under hydra/launcher=ray: the Ray custom resource the measuring step asks for, so it
    # runs on a node with this board (board:${board.name} for real boards); null = one CPU.
    ray_resource: Optional[str] = None
    # Where the backend's deploy-and-measure runs, as a backend (module.Class) that wraps the
    # one `backend` names; null = in the job's process. hydra/launcher=farm sets
    # tinyexp.device.farm.FarmDevice (a Ray task on a node offering `ray_resource`).
    placement: Optional[str] = None
    # Path of the arduino-cli executable for device=serial; null = find it on PATH.
    arduino_cli: Optional[str] = None
    # A current meter read during the timed invokes (docs/energy.md): ppk2 | joulescope | none.
    power_monitor: str = "none"
    # The meter: a PPK2's serial port or a Joulescope's serial number; null = the only one attached.
    power_monitor_port: Optional[str] = None
    # The meter's digital input the firmware's energy pin drives (PPK2 D0-D7, Joulescope IN0-IN1).
    power_trigger_channel: int = 0
    # Windows of consecutive timed invokes; energy per inference is the median of the windows'.
    power_windows: int = 5
    # The sketch's pin held high during each timed invoke, wired to the meter's trigger input:
    # the serial backend compiles it in (-DTXP_ENERGY_PIN=N, docs/energy.md). Needed with a meter;
    # without one it is only compiled in. null = the sketch drives no pin.
    energy_pin: Optional[int] = None


def _default_split() -> list[float]:
    return [0.6, 0.2, 0.2]


@dataclass
class DatasetConfig:
    """dataset=sine: the study's y = sin(x) + noise."""

    name: str = "sine"
    samples: int = 1000
    x_min: float = 0.0
    x_max: float = 2 * math.pi
    noise: float = 0.1
    split: list[float] = field(default_factory=_default_split)
    seed: int = 1


@dataclass
class NpzDatasetConfig:
    """dataset=npz: x_train/y_train/x_test/y_test arrays, or x/y split by `split`."""

    name: str = "npz"
    path: Optional[str] = None
    # auto: integer targets of one column are class labels, anything else is regression.
    task: str = "auto"
    split: list[float] = field(default_factory=_default_split)
    seed: int = 1


@dataclass
class CsvDatasetConfig:
    """dataset=csv: a header row, numeric feature columns and one target column."""

    name: str = "csv"
    path: Optional[str] = None
    target: Optional[str] = None  # the target column's header; null = the last column
    features: Optional[list[str]] = None  # null = every column but the target
    delimiter: str = ","
    task: str = "auto"  # auto: a target column of whole numbers holds class labels
    split: list[float] = field(default_factory=_default_split)
    seed: int = 1


@dataclass
class DigitsDatasetConfig:
    """dataset=digits: scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes)."""

    name: str = "digits"
    split: list[float] = field(default_factory=_default_split)
    seed: int = 1


@dataclass
class SyntheticDatasetConfig:
    """dataset=synthetic: random data of any shape with learnable structure, for sizing and timing."""

    name: str = "synthetic"
    input_shape: list[int] = field(default_factory=lambda: [16])
    # classification: one noisy prototype per class; reconstruction: the target is the input
    # itself (an autoencoder's task), drawn from a low-dimensional manifold.
    task: str = "classification"
    classes: int = 2
    samples: int = 512
    noise: float = 1.0
    split: list[float] = field(default_factory=_default_split)
    seed: int = 1


# The dataset, typed by its option's schema.
DatasetSpec = Union[DatasetConfig, NpzDatasetConfig, CsvDatasetConfig, DigitsDatasetConfig, SyntheticDatasetConfig]
DATASET_SCHEMAS = {"sine": DatasetConfig, "npz": NpzDatasetConfig, "csv": CsvDatasetConfig,
                   "digits": DigitsDatasetConfig, "synthetic": SyntheticDatasetConfig}


@dataclass
class TrainConfig:
    # 0 = no training: only for model=keras (the file is converted as it is).
    epochs: int = 600
    batch_size: int = 16
    # The regression loss (mse | mae); classification datasets always train with cross-entropy,
    # and their runs log train.loss=crossentropy.
    loss: str = "mse"
    optimizer: str = "rmsprop"
    learning_rate: float = 0.001
    seed: int = 0
    # Stop when the validation loss (the loss trained on) has not improved for this many epochs,
    # and keep the best epoch's weights, as Keras' EarlyStopping(restore_best_weights=True);
    # 0 = off: every epoch runs (the study's training).
    early_stopping_patience: int = 0
    # The least fall of the validation loss that counts as an improvement (with patience >= 1).
    early_stopping_min_delta: float = 0.0


# Train keys added after the study, left out of the config hash and the training cache key while
# at these defaults (tinyexp.tracking.sweep, tinyexp.model.train): configs written before them
# keep their hash (resume) and their trained models (cache).
TRAIN_KEYED_UNLESS = {"early_stopping_patience": 0, "early_stopping_min_delta": 0.0}


@dataclass
class TrackingConfig:
    uri: Optional[str] = None
    experiment: str = "tinyexp"
    # Seconds in all a job waits for an http(s) tracking server that stops answering while
    # the run's data is written; then the run ends FAILED in a local lost-run record.
    reconnect_s: float = 60.0


@dataclass
class SweepConfig:
    # A sweep's name; null = derived from the sweep's command line. Running a sweep with the
    # same id again adds to the same MLflow parent run (and resumes it).
    id: Optional[str] = None
    # In a multirun, skip jobs whose identical resolved config already FINISHED in this sweep.
    resume: bool = True


@dataclass
class Config:
    # model and dataset are typed by the chosen option's schema (MODEL_SCHEMAS, DATASET_SCHEMAS),
    # which its YAML file names first in its defaults list: a ModelSource and a DatasetSpec once
    # resolved (annotated Any because OmegaConf takes no union of dataclasses).
    model: Any = MISSING
    quant: QuantConfig = field(default_factory=QuantConfig)
    board: BoardConfig = field(default_factory=BoardConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    dataset: Any = MISSING
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)


ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
CROSSENTROPY = "crossentropy"  # sparse categorical, on labels: what every classification run trains on
LOSSES = ("mse", "mae", CROSSENTROPY)
OPTIMIZERS = ("rmsprop", "adam", "sgd")
POWER_MONITORS = ("none", "ppk2", "joulescope")
DATASETS = tuple(DATASET_SCHEMAS)
MODELS = tuple(MODEL_SCHEMAS)
DATASET_TASKS = {"npz": ("auto", "classification", "regression"), "csv": ("auto", "classification", "regression"),
                 "synthetic": ("classification", "reconstruction")}
# A sweep id is quoted into MLflow filter strings (sweep.py, report_runs.py), so it may hold no
# character that could end or escape the quoted literal.
SWEEP_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
SWEEP_ID_RULE = "use 1-64 letters, digits, '_', '.' or '-'"


def default_config() -> Config:
    """The schema's defaults with the default options (model=dense, dataset=sine), for tools
    and tests that build a config without Hydra."""
    return Config(model=ModelConfig(), dataset=DatasetConfig())


def as_plain(config: Any) -> Any:  # noqa: ANN401 - a config dataclass, or any value inside one
    """A typed config (or any part of it) as plain data: dicts in field order, lists, enums as
    their values; the shape OmegaConf's to_container(resolve=True, enum_to_str=True) gave, so
    MLflow params, config.yaml, the config hash and the training cache key stay as they were."""
    if is_dataclass(config) and not isinstance(config, type):
        return {f.name: as_plain(getattr(config, f.name)) for f in fields(config)}
    if isinstance(config, Enum):
        return config.value
    if isinstance(config, dict):
        return {key: as_plain(value) for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return [as_plain(value) for value in config]
    return config


def schema_keys(group: str, option: str | None = None) -> list[str]:
    """The keys a config group accepts (for the chosen option, where the group has several)."""
    per_option = {"model": MODEL_SCHEMAS, "dataset": DATASET_SCHEMAS}.get(group)
    if per_option is not None:
        node = per_option.get(option or "", next(iter(per_option.values())))
        return sorted(f.name for f in fields(node))
    found = {f.name: f for f in fields(Config)}.get(group)
    if found is None:
        return sorted(f.name for f in fields(Config))
    return sorted(f.name for f in fields(found.default_factory()))  # type: ignore[misc]


def hidden_widths(model: ModelConfig) -> list[int]:
    """The widths of the hidden layers: the explicit list, or hidden_layers x neurons."""
    if model.widths is not None:
        return [int(w) for w in model.widths]
    return [int(model.neurons)] * int(model.hidden_layers)
