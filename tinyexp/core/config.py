"""Typed schema of the Hydra configuration, and the checks that run before any work.

Hydra merges the YAML files in conf/ onto these dataclasses, so an unknown key or a value
of the wrong type is refused by OmegaConf itself. What types cannot say (a width of zero, a
split that does not sum to one) is checked by :func:`validate`, which raises
:class:`~tinyexp.core.errors.ConfigError` with a one-line message naming the key and what is
allowed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from tinyexp.core.errors import ConfigError
from tinyexp.core.limits import check_across, check_known_keys, check_names, check_ranges


class QuantMode(str, Enum):
    """How the converter quantises: float32 (no quantisation; `none` is the same mode),
    weight-only int8 (dynamic range), full int8, float16 weights."""

    float32 = "float32"
    none = "float32"  # an alias: `quant.mode=none` reads as float32 everywhere
    dynamic = "dynamic"
    int8 = "int8"
    float16 = "float16"

    @classmethod
    def _missing_(cls, value: object) -> "QuantMode | None":
        return cls.float32 if value == "none" else None


@dataclass
class ModelConfig:
    name: str = "dense"
    inputs: int = 1
    outputs: int = 1
    hidden_layers: int = 2
    neurons: int = 16
    widths: Optional[list[int]] = None
    activation: str = "relu"


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
    # Path of the arduino-cli executable for device=serial; null = find it on PATH.
    arduino_cli: Optional[str] = None


@dataclass
class DatasetConfig:
    name: str = "sine"
    samples: int = 1000
    x_min: float = 0.0
    x_max: float = 2 * math.pi
    noise: float = 0.1
    split: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])
    seed: int = 1


@dataclass
class TrainConfig:
    epochs: int = 600
    batch_size: int = 16
    loss: str = "mse"
    optimizer: str = "rmsprop"
    learning_rate: float = 0.001
    seed: int = 0


@dataclass
class TrackingConfig:
    uri: Optional[str] = None
    experiment: str = "tinyexp"


@dataclass
class SweepConfig:
    # A sweep's name; null = derived from the sweep's command line. Running a sweep with the
    # same id again adds to the same MLflow parent run (and resumes it).
    id: Optional[str] = None
    # In a multirun, skip jobs whose identical resolved config already FINISHED in this sweep.
    resume: bool = True


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    quant: QuantConfig = field(default_factory=QuantConfig)
    board: BoardConfig = field(default_factory=BoardConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)


ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
LOSSES = ("mse", "mae")
OPTIMIZERS = ("rmsprop", "adam", "sgd")
DATASETS = ("sine",)
# A sweep id is quoted into MLflow filter strings (sweep.py, report.py), so it may hold no
# character that could end or escape the quoted literal.
SWEEP_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
SWEEP_ID_RULE = "use 1-64 letters, digits, '_', '.' or '-'"


def register_schema() -> None:
    """Register the schema under the name conf/config.yaml lists first in its defaults."""
    ConfigStore.instance().store(name="tinyexp_schema", node=Config)


def hidden_widths(model: Any) -> list[int]:
    """The widths of the hidden layers: the explicit list, or hidden_layers x neurons."""
    if model.widths is not None:
        return [int(w) for w in model.widths]
    return [int(model.neurons)] * int(model.hidden_layers)


def _require(condition: bool, key: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ConfigError(f"{key}={value!r} is invalid: {allowed}")


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    _require(value in allowed, key, value, "allowed values are " + ", ".join(allowed))


def validate(cfg: DictConfig) -> None:
    """Check what the schema's types cannot; raise ConfigError naming the key and the rule.

    Numeric ranges, names and checks across fields are declared in tinyexp.core.limits."""
    check_known_keys(cfg, Config)
    check_ranges(cfg)
    check_names(cfg)
    m = cfg.model
    _choice("model.activation", m.activation, ACTIVATIONS)

    d = cfg.dataset
    _choice("dataset.name", d.name, DATASETS)
    split = list(d.split)
    _require(len(split) == 3 and abs(sum(split) - 1) < 1e-6,
             "dataset.split", split, "three positive fractions (train, validation, test) summing to 1")
    _require(d.x_max > d.x_min, "dataset.x_max", d.x_max, "must be greater than dataset.x_min")

    t = cfg.train
    _choice("train.loss", t.loss, LOSSES)
    _choice("train.optimizer", t.optimizer, OPTIMIZERS)

    if cfg.sweep.id is not None:
        _require(SWEEP_ID_PATTERN.fullmatch(str(cfg.sweep.id)) is not None, "sweep.id", cfg.sweep.id,
                 SWEEP_ID_RULE)
    check_across(cfg, hidden_widths(m))


def to_container(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python data (enums as their string values)."""
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # type: ignore[return-value]
