"""The checks a typed config gets before any work: what its types cannot say (a width of zero,
a split that does not sum to one, a choice outside its list), each a ConfigError with one line
naming the key and what is allowed. Numeric ranges, names and checks across fields are declared
in tinyexp.core.limits; keys outside the schema are refused at the entry, before the config is
typed (tinyexp.cli.schema).
"""

from __future__ import annotations

from typing import Any

from tinyexp.core.config import (ACTIVATIONS, DATASET_TASKS, DATASETS, LOSSES, MODELS, OPTIMIZERS, POWER_MONITORS,
                                 SWEEP_ID_PATTERN, SWEEP_ID_RULE, Config, DatasetSpec, DeviceConfig, QuantMode,
                                 hidden_widths)
from tinyexp.core.errors import ConfigError
from tinyexp.core.limits import check_across, check_names, check_ranges


def _require(condition: bool, key: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ConfigError(f"{key}={value!r} is invalid: {allowed}")


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    _require(value in allowed, key, value, "allowed values are " + ", ".join(allowed))


def _validate_model(cfg: Config) -> None:
    """The model group: its own keys, and the combinations with quant and train it allows."""
    m = cfg.model
    _choice("model.name", m.name, MODELS)
    if m.name == "dense":
        _choice("model.activation", m.activation, ACTIVATIONS)
    elif m.name == "layers":
        _require(len(m.layers) > 0, "model.layers", list(m.layers), "declare at least one layer")
    else:
        _require(bool(m.path), "model.path", m.path, f"model={m.name} needs the path of the model file")
    as_is = QuantMode(cfg.quant.mode) is QuantMode.as_is
    if m.name == "tflite":
        _require(as_is, "quant", QuantMode(cfg.quant.mode).value,
                 "model=tflite is used as it is: use quant=as_is (the default for this source)")
    else:
        _require(not as_is, "quant", "as_is", "only model=tflite has no conversion; "
                 "use quant=float32, dynamic, int8, float16 or int16x8")
    epochs_rule = ("must be an integer >= 0 (0: converted as it is)" if m.name == "keras"
                   else "must be an integer >= 1 (0 only for model=keras)")
    _require(cfg.train.epochs > 0 or (m.name == "keras" and cfg.train.epochs == 0), "train.epochs",
             cfg.train.epochs, epochs_rule)


def _validate_dataset(d: DatasetSpec) -> None:
    """The dataset group's choices and what its ranges (tinyexp.core.limits) cannot say."""
    _choice("dataset.name", d.name, DATASETS)
    split = list(d.split)
    _require(len(split) == 3 and abs(sum(split) - 1) < 1e-6,
             "dataset.split", split, "three positive fractions (train, validation, test) summing to 1")
    if d.name in DATASET_TASKS:
        _choice("dataset.task", d.task, DATASET_TASKS[d.name])
    if d.name in ("npz", "csv"):
        _require(bool(d.path), "dataset.path", d.path, f"dataset={d.name} needs the path of its file")
    if d.name == "sine":
        _require(d.x_max > d.x_min, "dataset.x_max", d.x_max, "must be greater than dataset.x_min")
    if d.name == "synthetic":
        shape = list(d.input_shape)
        _require(bool(shape) and all(s > 0 for s in shape), "dataset.input_shape", shape,
                 "a non-empty list of positive integers (without the batch dimension)")
        if d.task == "classification":
            _require(d.classes >= 2, "dataset.classes", d.classes, "must be at least 2")


def _validate_board_power(b: Any) -> None:
    """A declared current lies within its declared range, and a range needs its nominal figure."""
    low, nominal, high = b.active_current_low_ma, b.active_current_ma, b.active_current_high_ma
    if nominal is None:
        _require(low is None and high is None, "board.active_current_ma", None,
                 "declare the nominal active current with its range (active_current_low_ma/high_ma)")
        return
    _require((low is None or low <= nominal) and (high is None or nominal <= high), "board.active_current_ma",
             nominal, f"must lie within active_current_low_ma={low} and active_current_high_ma={high}")


def _validate_meter_trigger(d: DeviceConfig) -> None:
    """A meter needs the sketch's energy pin: the reader counts only the current inside its pulses
    (docs/energy.md), and a sketch built without the pin raises none, so the job would train,
    deploy and capture only to find no pulse, the meter having seen serial traffic and idle time."""
    if d.power_monitor != "none" and d.energy_pin is None:
        raise ConfigError(f"device.power_monitor={d.power_monitor} needs device.energy_pin: the board pin the "
                          f"sketch raises during each timed invoke, wired to the meter's input "
                          f"device.power_trigger_channel={d.power_trigger_channel} (e.g. device.energy_pin=2 "
                          f"for D2; docs/energy.md), else the meter cannot tell inference from serial traffic")


def validate(cfg: Config) -> None:
    """Check what the schema's types cannot; raise ConfigError naming the key and the rule.

    Numeric ranges, names and checks across fields are declared in tinyexp.core.limits (keys
    outside the schema are refused at the entry, on the composed config, before it is typed)."""
    check_ranges(cfg)
    check_names(cfg)
    _validate_model(cfg)
    _validate_dataset(cfg.dataset)

    _choice("device.power_monitor", cfg.device.power_monitor, POWER_MONITORS)
    _validate_meter_trigger(cfg.device)
    _validate_board_power(cfg.board)
    t = cfg.train
    _choice("train.loss", t.loss, LOSSES)
    _choice("train.optimizer", t.optimizer, OPTIMIZERS)
    _require(t.early_stopping_min_delta == 0 or t.early_stopping_patience > 0, "train.early_stopping_min_delta",
             t.early_stopping_min_delta, "applies only to early stopping: set train.early_stopping_patience >= 1 too")

    if cfg.sweep.id is not None:
        _require(SWEEP_ID_PATTERN.fullmatch(str(cfg.sweep.id)) is not None, "sweep.id", cfg.sweep.id,
                 SWEEP_ID_RULE)
    check_across(cfg, hidden_widths(cfg.model) if cfg.model.name == "dense" else [])
