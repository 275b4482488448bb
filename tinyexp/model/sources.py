"""Where the network comes from: the options of the `model` config group.

- dense:  the study's fully connected network, built here.
- layers: a network declared layer by layer (tinyexp.model.layers).
- keras:  a user's .keras / .h5 file (trained when train.epochs > 0, converted as it is when
          0) or a SavedModel directory (converted as it is; Keras 3 cannot train one).
- tflite: a user's .tflite file, used as it is.

:func:`check_source` is the preflight: it opens or builds the model and compares it with the
dataset's shape, so a bad path, an unreadable file, an unsupported layer or a shape mismatch
is one ConfigError line naming the file and the reason, before any work.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyexp.core.config import (Config, DatasetSpec, KerasModelConfig, LayersModelConfig, ModelConfig, ModelSource,
                                 TfliteModelConfig, TrainConfig, as_plain, hidden_widths)
from tinyexp.model.data import CLASSIFICATION, make_dataset
from tinyexp.model.layer_sizes import check_spec_memory
from tinyexp.core.errors import ConfigError, first_line
from tinyexp.core.native_output import capture_native_stderr

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
# How TFLite names an operator it has no kernel for: "Encountered unresolved custom op: Name."
_CUSTOM_OP = re.compile(r"unresolved custom op: ([^\s.]+)")
_CHECKED: dict[str, "SourceCheck"] = {}


@dataclass(frozen=True)
class SourceCheck:
    """What the preflight learnt: the model's input shape and output size, and the data's."""

    input_shape: tuple[int, ...]
    output_size: int
    dataset_task: str


def import_tensorflow() -> None:
    """Import TensorFlow and Keras with their start-up banner (oneDNN, CPU features: written
    to the C-level stderr before absl's logging starts, whatever TF_CPP_MIN_LOG_LEVEL says)
    kept off the console, so a preflight error stays one line and a job prints only its own
    lines. A log level below 3 (`tinyexp --verbose`, or TF_CPP_MIN_LOG_LEVEL set so) shows it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    quiet = os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    with capture_native_stderr() if quiet else contextlib.nullcontext():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


def dense_model(model_cfg: ModelConfig):  # noqa: ANN201 - keras.Model
    """The dense network the config describes: inputs -> hidden widths -> outputs (linear)."""
    import keras

    layers = [keras.Input((int(model_cfg.inputs),), name="x")]
    for i, width in enumerate(hidden_widths(model_cfg)):
        layers.append(keras.layers.Dense(width, activation=model_cfg.activation, name=f"hidden{i + 1}"))
    layers.append(keras.layers.Dense(int(model_cfg.outputs), name="y"))
    return keras.Sequential(layers, name=model_cfg.name)


def layers_spec(model_cfg: LayersModelConfig, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """The `layers` spec with its input shape filled from the dataset when it gives none."""
    spec = as_plain(model_cfg)
    if spec.get("input_shape") is None:
        spec["input_shape"] = list(input_shape)
    return {"input_shape": spec["input_shape"], "layers": spec["layers"]}


def _path(model_cfg: KerasModelConfig | TfliteModelConfig) -> Path:
    path = Path(str(model_cfg.path)).expanduser()
    if not path.exists():
        raise ConfigError(f"model.path={str(path)!r}: no such file or directory")
    return path


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def load_keras(model_cfg: KerasModelConfig):  # noqa: ANN201 - keras.Model
    """The Keras model in model.path (.keras or .h5), uncompiled; ConfigError if unreadable."""
    path = _path(model_cfg)
    if path.is_dir() or path.suffix.lower() not in KERAS_SUFFIXES:
        raise ConfigError(f"model.path={str(path)!r}: not a Keras model file (.keras, .h5) or SavedModel "
                          "directory (with saved_model.pb)")
    if path.suffix.lower() == ".keras" and not zipfile.is_zipfile(path):  # Keras calls this "File not found"
        raise ConfigError(f"model.path={str(path)!r}: truncated or damaged .keras file (a .keras file is a zip "
                          "archive and this one does not read as one); save or copy the model again")
    import_tensorflow()
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
        raise ConfigError(f"model.path={str(path)!r}: Keras cannot load it: "
                          f"{first_line(str(exc)) or type(exc).__name__}") from exc


def _saved_model_signature(path: Path) -> tuple[tuple[int, ...], int]:
    import_tensorflow()
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
        fn = loaded.signatures["serving_default"]
    except Exception as exc:  # noqa: BLE001 - TF raises many types for a bad directory
        raise ConfigError(f"model.path={str(path)!r}: TensorFlow cannot load this SavedModel: "
                          f"{first_line(str(exc)) or type(exc).__name__}") from exc
    where = f"model.path={str(path)!r}"
    _refuse_several_tensors(where, len(fn.structured_input_signature[1]), len(fn.structured_outputs))
    spec = next(iter(fn.structured_input_signature[1].values()))
    out = next(iter(fn.structured_outputs.values()))
    return _known_dims(where, "input", spec.shape[1:]), int(_known_dims(where, "output", out.shape[-1:])[0])


def _refuse_several_tensors(where: str, inputs: int, outputs: int) -> None:
    """tinyexp feeds a model one input tensor and scores one output tensor: a model with more
    would be fed its first input only and scored on its first output, a wrong figure."""
    if inputs != 1 or outputs != 1:
        raise ConfigError(f"{where}: the model has {inputs} input and {outputs} output tensors; tinyexp runs "
                          "models with exactly one of each (concatenate the inputs or the outputs into one "
                          "tensor, or export each output as its own model)")


def _known_dims(where: str, what: str, dims: Any) -> tuple[int, ...]:
    """A tensor's per-sample shape, refused where a dimension is unknown (None)."""
    shape = tuple(dims)
    if any(d is None for d in shape):
        raise ConfigError(f"{where}: the model's {what} shape {[d for d in shape]} has an unknown dimension "
                          f"(None); export it with a fixed {what} shape")
    return tuple(int(d) for d in shape)


def read_tflite(model_cfg: TfliteModelConfig) -> bytes:
    """The bytes of the .tflite file in model.path (check_source has had TFLite load it)."""
    path = _path(model_cfg)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"model.path={str(path)!r}: cannot read it ({exc.strerror})") from exc
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ConfigError(f"model.path={str(path)!r}: not a TFLite model (no 'TFL3' flatbuffer identifier)")
    return data


def _tflite_signature(data: bytes, path: Path) -> tuple[tuple[int, ...], int]:
    import warnings

    import_tensorflow()
    import tensorflow as tf

    try:  # TFLite's native log ("INFO: Created TensorFlow Lite XNNPACK delegate") kept off the console
        with warnings.catch_warnings(), capture_native_stderr():
            warnings.simplefilter("ignore")
            interp = tf.lite.Interpreter(model_content=data)
            interp.allocate_tensors()
    except Exception as exc:  # noqa: BLE001 - the loader raises ValueError/RuntimeError for damage
        raise ConfigError(f"model.path={str(path)!r}: {_tflite_refusal(str(exc)) or type(exc).__name__}") from exc
    _refuse_several_tensors(f"model.path={str(path)!r}", len(interp.get_input_details()),
                            len(interp.get_output_details()))
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    return tuple(int(d) for d in inp["shape"][1:]), int(math.prod(int(d) for d in out["shape"][1:]))


def _tflite_refusal(reason: str) -> str:
    """TFLite's reason for not loading a model, in the user's terms: a custom operator is a
    valid model TFLM cannot run, not damage."""
    custom = _CUSTOM_OP.search(reason)
    if custom:
        return (f"the model uses the custom operator {custom.group(1)!r}, which TFLM cannot run (the firmware "
                "registers TFLite's built-in operators only); convert it without custom operators")
    return f"damaged TFLite model: {first_line(reason)}" if first_line(reason) else ""


def file_digest(path: Path) -> str:
    """SHA-256 of a model file, or of every file of a SavedModel directory, for cache keys."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def trains(model_cfg: ModelSource, train_cfg: TrainConfig) -> bool:
    """Whether the job trains: always for dense and layers, for keras when epochs > 0."""
    return model_cfg.name in ("dense", "layers") or (model_cfg.name == "keras" and int(train_cfg.epochs) > 0)


def build(model_cfg: ModelSource, input_shape: tuple[int, ...]):  # noqa: ANN201 - keras.Model
    """The Keras model to train (dense, layers: fresh weights; keras: the file's weights)."""
    import_tensorflow()
    if model_cfg.name == "dense":
        return dense_model(model_cfg)
    if model_cfg.name == "layers":
        from tinyexp.model.layers import build_layers

        return build_layers(layers_spec(model_cfg, input_shape))
    return load_keras(model_cfg)


def cache_identity(model_cfg: ModelSource) -> dict[str, Any]:
    """What, besides the config, determines a trained model: a keras file's contents."""
    return model_file_identity(model_cfg) if model_cfg.name == "keras" else {}


def model_file_identity(model_cfg: ModelSource) -> dict[str, Any]:
    """A model file's contents (keras or tflite), which its path in the config does not name."""
    if model_cfg.name in ("keras", "tflite"):
        return {"model_file_sha256": file_digest(_path(model_cfg))}
    return {}


def reads_data_file(dataset_cfg: DatasetSpec) -> bool:
    """Whether the dataset is a user's file (npz, csv), not a built-in one made from the config."""
    return dataset_cfg.name in ("npz", "csv") and bool(getattr(dataset_cfg, "path", None))


def data_identity(dataset_cfg: DatasetSpec) -> dict[str, Any]:
    """What, besides the config, determines the data a model trains on: a dataset file's
    contents (a file rewritten at the same path is other data). Built-in datasets have none."""
    if reads_data_file(dataset_cfg):
        return {"data_file_sha256": file_digest(Path(str(dataset_cfg.path)).expanduser())}
    return {}


def reads_input_files(model_cfg: ModelSource, dataset_cfg: DatasetSpec) -> bool:
    """Whether a job reads files its config names only by path (a model file, a dataset file)."""
    return model_cfg.name in ("keras", "tflite") or reads_data_file(dataset_cfg)


def input_files_digest(model_cfg: ModelSource, dataset_cfg: DatasetSpec) -> str | None:
    """One digest of the files a job reads besides its config (a keras or tflite model, an npz
    or csv dataset), or None for a job that reads none. The config hash names a file by its
    path only, so a sweep's finished run on a file since rewritten is not this job's result."""
    if not reads_input_files(model_cfg, dataset_cfg):
        return None
    identity = {**model_file_identity(model_cfg), **data_identity(dataset_cfg)}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def describe(model_cfg: ModelSource) -> str:
    """A short name of the network for summaries and progress bars: its source and its
    :func:`label`, the one name reports and MLflow know it by."""
    if model_cfg.name == "layers":
        return f"layers {label(model_cfg)} ({len(model_cfg.layers)} layers)"
    return f"{model_cfg.name} {label(model_cfg)}"


def label(model_cfg: ModelSource) -> str:
    """The model's name in reports: dense widths, the configured label, the file name, or
    for a `layers` spec "layers-" and a hash of it."""
    if model_cfg.name == "dense":
        return "-".join(str(w) for w in [model_cfg.inputs, *hidden_widths(model_cfg), model_cfg.outputs])
    if getattr(model_cfg, "label", None):
        return str(model_cfg.label)
    if model_cfg.name == "layers":
        plain = as_plain(model_cfg)
        spec = json.dumps({"input_shape": plain.get("input_shape"), "layers": plain["layers"]}, sort_keys=True)
        return "layers-" + hashlib.sha256(spec.encode()).hexdigest()[:8]
    return Path(str(model_cfg.path)).name


def _keras_signature(model: Any, where: str) -> tuple[tuple[int, ...], int]:
    _refuse_several_tensors(where, len(model.inputs), len(model.outputs))
    return (_known_dims(where, "input", model.input_shape[1:]),
            math.prod(_known_dims(where, "output", model.output_shape[1:])))


def _model_signature(model_cfg: ModelSource, train_cfg: TrainConfig,
                     data_shape: tuple[int, ...]) -> tuple[tuple[int, ...], int]:
    if model_cfg.name == "dense":
        return (int(model_cfg.inputs),), int(model_cfg.outputs)
    if model_cfg.name == "tflite":
        return _tflite_signature(read_tflite(model_cfg), _path(model_cfg))
    if model_cfg.name == "keras" and is_saved_model(_path(model_cfg)):
        if int(train_cfg.epochs) > 0:
            raise ConfigError(f"model.path={str(model_cfg.path)!r}: a SavedModel directory cannot be trained "
                              "(Keras 3 loads it for inference only); use train.epochs=0, or save it as .keras")
        return _saved_model_signature(_path(model_cfg))
    where = f"model.path={str(model_cfg.path)!r}" if model_cfg.name == "keras" else f"model={model_cfg.name}"
    return _keras_signature(build(model_cfg, data_shape), where)


def _data_signature(dataset_cfg: DatasetSpec) -> tuple[str, tuple[int, ...], int]:
    """The dataset's task, input shape and output size (from its config where that says it)."""
    if dataset_cfg.name == "sine":
        return "regression", (1,), 1
    if dataset_cfg.name == "synthetic":
        shape = tuple(int(d) for d in dataset_cfg.input_shape)
        if dataset_cfg.task == "reconstruction":
            return "regression", shape, math.prod(shape)
        return CLASSIFICATION, shape, int(dataset_cfg.classes)
    data = make_dataset(dataset_cfg)
    return data.task, data.input_shape, data.output_size


def check_source(cfg: Config) -> SourceCheck:
    """Open or build the configured model and check it against the dataset (the preflight).

    Results are kept per process by config, so a sweep opens each model file once.
    """
    key = json.dumps({"model": as_plain(cfg.model), "dataset": as_plain(cfg.dataset),
                      "epochs": int(cfg.train.epochs)}, sort_keys=True)
    if key in _CHECKED:
        return _CHECKED[key]
    task, data_shape, data_outputs = _data_signature(cfg.dataset)
    if cfg.model.name == "layers":  # bounded before Keras allocates its weights
        check_spec_memory(layers_spec(cfg.model, data_shape), str(cfg.train.optimizer))
    shape, outputs = _model_signature(cfg.model, cfg.train, data_shape)
    name = cfg.model.name
    if math.prod(shape) != math.prod(data_shape) or (name != "tflite" and len(shape) != len(data_shape)):
        raise ConfigError(f"model={name} takes inputs of shape {list(shape)}, but dataset={cfg.dataset.name} "
                          f"gives {list(data_shape)}")
    if outputs != data_outputs:
        what = f"{data_outputs} classes" if task == CLASSIFICATION else f"{data_outputs} target values"
        raise ConfigError(f"model={name} has {outputs} outputs, but dataset={cfg.dataset.name} has {what} per sample")
    _CHECKED[key] = SourceCheck(shape, outputs, task)
    return _CHECKED[key]
