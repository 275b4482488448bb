"""The declared range of every numeric config field, names that every tool accepts, and the
checks across fields (dataset shape, splits, memory) that no single range can express.

Why a table: validation must be complete by construction. tests/unit/test_config_limits.py
walks the schema (tinyexp.core.config) and fails for any numeric field without an entry here,
then feeds every field values below, above, non-finite and of the wrong type. Every value must
also be finite: OmegaConf lets `inf` and `nan` through a float field.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from tinyexp.core.errors import ConfigError

SEED_MAX = 2**32 - 1  # numpy.random.seed and keras.utils.set_random_seed take 0..2**32-1
U32 = 2**32


@dataclass(frozen=True)
class Range:
    """Inclusive bounds, unless ``above`` (then the value must exceed ``low``)."""

    low: float
    high: float
    integer: bool
    why: str = ""
    above: bool = False

    def contains(self, value: float) -> bool:
        low_ok = value > self.low if self.above else value >= self.low
        return math.isfinite(value) and low_ok and value <= self.high

    def describe(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        show = (lambda v: str(int(v))) if self.integer else (lambda v: f"{v:g}")
        low = f"above {show(self.low)}" if self.above else f">= {show(self.low)}"
        return f"must be {kind} {low} and <= {show(self.high)}" + (f" ({self.why})" if self.why else "")


def _int(low: int, high: int, why: str = "") -> Range:
    return Range(low, high, True, why)


# Dotted path -> range. A list field's range applies to each element ("model.widths").
RANGES: dict[str, Range] = {
    "model.inputs": _int(1, 4096),
    "model.outputs": _int(1, 4096),
    "model.hidden_layers": _int(0, 64),
    "model.neurons": _int(1, 65536),
    "model.widths": _int(1, 65536),
    "model.input_shape": _int(1, 1_000_000),
    "board.clock_hz": _int(1_000, 10**10),
    "board.flash_bytes": _int(1, U32),
    "board.ram_bytes": _int(1, U32),
    "board.usb_vid": _int(0, 0xFFFF, "a 16-bit USB id"),
    "board.usb_pid": _int(0, 0xFFFF, "a 16-bit USB id"),
    "board.sketch_flash_bytes": _int(0, U32),
    "board.sketch_ram_bytes": _int(0, U32),
    "board.supply_voltage_v": Range(0.5, 60.0, False, "volts"),
    "board.active_current_ma": Range(0.0, 10_000.0, False, "milliamperes", above=True),
    "board.active_current_low_ma": Range(0.0, 10_000.0, False, "milliamperes", above=True),
    "board.active_current_high_ma": Range(0.0, 10_000.0, False, "milliamperes", above=True),
    "board.flash_wait_states": _int(0, 15, "the flash latency setting of Cortex-M parts is 0-15 cycles"),
    "device.baud": _int(300, 10_000_000),
    "device.timeout_s": Range(0.1, 3600.0, False, "seconds per command"),
    "device.retries": _int(1, 100),
    "device.warmup": _int(0, 1000, "the protocol's BENCH limit"),
    "device.invokes": _int(1, 1000, "the protocol's BENCH limit"),
    "device.parity_samples": _int(1, 1000),
    "device.power_trigger_channel": _int(0, 7, "a PPK2 has D0-D7, a Joulescope IN0-IN1"),
    "device.power_windows": _int(1, 100),
    "device.energy_pin": _int(0, 255, "an Arduino pin number: ArduinoCore-API's pin_size_t is 8 bits"),
    "dataset.samples": _int(10, 10_000_000),
    "dataset.x_min": Range(-1e6, 1e6, False),
    "dataset.x_max": Range(-1e6, 1e6, False),
    "dataset.noise": Range(0.0, 1e6, False),
    "dataset.split": Range(0.0, 1.0, False, "a fraction", above=True),
    "dataset.seed": _int(0, SEED_MAX, "what numpy and TensorFlow accept"),
    "dataset.input_shape": _int(1, 1_000_000),
    "dataset.classes": _int(2, 65536),
    "train.epochs": _int(0, 10_000_000, "0 only for model=keras: converted as it is"),
    "train.batch_size": _int(1, 1_000_000),
    "train.learning_rate": Range(0.0, 1e4, False, above=True),
    "train.seed": _int(0, SEED_MAX, "what numpy and TensorFlow accept"),
    "train.early_stopping_patience": _int(0, 10_000_000, "epochs without improvement; 0 = off"),
    "train.early_stopping_min_delta": Range(0.0, 1e6, False, "a fall of the validation loss"),
    "tracking.reconnect_s": Range(0.0, 86400.0, False, "seconds to wait for a dropped tracking server"),
}

# Names that become Keras layer/model names, file and folder names, and MLflow tags: ASCII
# letters, digits, '_', '.', '-', starting with a letter or digit.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NAME_RULE = "use 1-64 ASCII letters, digits, '_', '.' or '-', starting with a letter or digit"
NAMES = ("model.name", "board.name")
# MLflow experiment names are free text, but a control character or a very long one is a mistake.
EXPERIMENT_PATTERN = re.compile(r"[\x20-\x7e]{1,200}")

# Input and output width of each built-in dataset (tinyexp.model.data).
DATASET_SHAPES: dict[str, tuple[int, int]] = {"sine": (1, 1)}
# Extra float32 copies of the weights an optimiser keeps (Keras: rmsprop 1, adam 2, sgd 0).
OPTIMIZER_SLOTS = {"rmsprop": 1, "adam": 2, "sgd": 0}
# Training may use at most this share of the machine's memory.
MEMORY_SHARE = 0.5
# The most layers a `layers` spec may declare: Keras walks a model's graph recursively, a level
# per layer, under Python's recursion limit (1000); a 1000-layer spec fails there, and a
# 10,000-layer one did after 83 s of building (issue 17). 500 builds and converts.
MAX_SPEC_LAYERS = 500


def _fail(key: str, value: Any, rule: str) -> ConfigError:
    return ConfigError(f"{key}={value!r} is invalid: {rule}")


def _get(cfg: Any, path: str) -> Any:  # noqa: ANN401 - any config value
    node = cfg
    for part in path.split("."):
        node = getattr(node, part)
    return node


def check_ranges(cfg: Any) -> None:
    """Every declared field (None allowed where the schema is Optional) within its range."""
    for path, rule in RANGES.items():
        group, _, key = path.partition(".")
        if not hasattr(getattr(cfg, group), key):  # a field of another option of the group (model.neurons for layers)
            continue
        value = _get(cfg, path)
        is_list = isinstance(value, Sequence) and not isinstance(value, str)
        for i, item in enumerate(list(value) if is_list else [value]):
            if item is None:
                continue
            wrong_type = isinstance(item, bool) or not isinstance(item, (int, float))
            if wrong_type or (rule.integer and not float(item).is_integer()) or not rule.contains(float(item)):
                raise _fail(f"{path}[{i}]" if is_list else path, item, rule.describe())


def check_known_keys(cfg: Any, schema: Any, prefix: str = "") -> None:  # noqa: ANN401
    """No key outside the schema (Hydra's `+model.extra=1` adds one past OmegaConf's check):
    run at the entry on the composed mapping, before it becomes typed."""
    allowed = {f.name: f for f in dataclasses.fields(schema)}
    for key in cfg.keys():
        name = f"{prefix}{key}"
        if key not in allowed:
            raise ConfigError(f"{name}: unknown key; allowed keys{' in ' + prefix[:-1] if prefix else ''} "
                              f"are {', '.join(sorted(allowed))}")
        factory = allowed[key].default_factory
        group = factory() if factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(group) and cfg[key] is not None:
            check_known_keys(cfg[key], type(group), name + ".")


def check_names(cfg: Any) -> None:
    for path in NAMES:
        value = str(_get(cfg, path))
        if not NAME_PATTERN.fullmatch(value):
            raise _fail(path, value, NAME_RULE)
    experiment = str(cfg.tracking.experiment)
    if not EXPERIMENT_PATTERN.fullmatch(experiment):
        raise _fail("tracking.experiment", experiment, "use 1-200 printable ASCII characters")


def split_sizes(samples: int, split: Sequence[float]) -> tuple[int, int, int]:
    """Train, validation and test sizes, exactly as tinyexp.model.data splits them."""
    n_train = int(round(split[0] * samples))
    n_val = int(round(split[1] * samples))
    return n_train, n_val, samples - n_train - n_val


def machine_memory_bytes() -> int:
    """Physical memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def model_state_bytes(params: int, optimizer: str) -> int:
    """Bytes of a model's float32 weights, their gradients and the optimiser's slots."""
    return 4 * params * (2 + OPTIMIZER_SLOTS.get(optimizer, 2))


def check_model_memory(what: str, state: int, memory: Callable[[], int] = machine_memory_bytes) -> None:
    """Refuse a model whose training state (model_state_bytes) exceeds the machine's budget."""
    budget = int(memory() * MEMORY_SHARE)
    if state > budget:
        raise ConfigError(f"{what} is too big to train here: it needs at least {state / 2**30:.1f} GiB (weights, "
                          f"gradients and optimiser state), more than the {budget / 2**30:.1f} GiB allowed on "
                          "this machine (half its memory)")


def training_bytes(cfg: Any, widths: Sequence[int]) -> tuple[int, int]:
    """(model state, epoch index) bytes a training run needs at least: float32 weights,
    gradients and optimiser slots, plus a batch of activations; and the int32 shuffle index
    of every epoch (tinyexp.model.train._epoch_batches)."""
    m, t = cfg.model, cfg.train
    sizes = [int(m.inputs), *widths, int(m.outputs)]
    params = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    state = model_state_bytes(params, str(t.optimizer))
    activations = 4 * 2 * int(t.batch_size) * sum(sizes)
    n_train = split_sizes(int(cfg.dataset.samples), list(cfg.dataset.split))[0]
    steps = -(-max(n_train, 1) // int(t.batch_size))
    index = 4 * int(t.epochs) * steps * int(t.batch_size)
    return state + activations, index


def check_across(cfg: Any, widths: Sequence[int],
                 memory: Callable[[], int] = machine_memory_bytes) -> None:
    """What holds between fields: the model against its dataset, each split non-empty (the
    training split at least one batch), parity samples within the test split, and memory."""
    shape = DATASET_SHAPES.get(str(cfg.dataset.name))
    if shape is not None and cfg.model.name == "dense":  # other sources: tinyexp.model.sources.check_source
        for key, want, what in zip(("model.inputs", "model.outputs"), shape, ("inputs", "outputs")):
            if int(_get(cfg, key)) != want:
                raise _fail(key, int(_get(cfg, key)), f"the dataset {cfg.dataset.name} has {want} {what}")
    if not hasattr(cfg.dataset, "samples"):  # a file's or a package's dataset: sized when it is read
        return
    n_train, n_val, n_test = split_sizes(int(cfg.dataset.samples), list(cfg.dataset.split))
    if n_train < int(cfg.train.batch_size):
        raise _fail("dataset.split", list(cfg.dataset.split),
                    f"the training split has {n_train} samples, less than one batch "
                    f"(train.batch_size={cfg.train.batch_size}) of dataset.samples={cfg.dataset.samples}")
    if n_val < 1 or n_test < 1:
        raise _fail("dataset.split", list(cfg.dataset.split),
                    f"the validation and test splits need a sample each; they get {n_val} and {n_test} "
                    f"of dataset.samples={cfg.dataset.samples}")
    if int(cfg.device.parity_samples) > n_test:
        raise _fail("device.parity_samples", int(cfg.device.parity_samples),
                    f"at most the {n_test} samples of the test split")
    if cfg.model.name != "dense":  # the memory bound below counts a dense net's weights
        return
    budget = int(memory() * MEMORY_SHARE)
    state, index = training_bytes(cfg, widths)
    check_model_memory(f"model with hidden widths {list(widths)}", state, memory)
    if index > budget:
        raise _fail("train.epochs", int(cfg.train.epochs),
                    f"the shuffle index of {cfg.train.epochs} epochs x {n_train} samples needs "
                    f"{index / 2**30:.1f} GiB, more than the {budget / 2**30:.1f} GiB allowed on this machine")
