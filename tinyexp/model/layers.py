"""Build a Keras model from a declarative `layers` spec (the contract in the notes'
layers_spec.md): a plain mapping with `input_shape` and a list of layers, each a Keras
class name plus whitelisted keyword arguments, optionally `name` and `inputs` for
branches (a residual Add). Everything is checked before TensorFlow is asked, so a bad
spec is one LayerSpecError line naming the layer index, its type and the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from tinyexp.core.errors import ConfigError, first_line
from tinyexp.core.limits import MAX_SPEC_LAYERS

ACTIVATIONS = (None, "linear", "relu", "relu6", "tanh", "sigmoid", "softmax", "swish", "elu")
_CONV = ("strides", "padding", "activation", "use_bias")
_POOL = ("pool_size", "strides", "padding")
_STRUCTURAL = ("type", "name", "inputs")
# The Keras name of the model input, usable in `inputs`.
INPUT_NAME = "input"


@dataclass(frozen=True)
class _LayerType:
    """Which keyword arguments a spec may give a layer type, and which it must."""

    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    keras_class: str = ""  # defaults to the type name
    fixed: tuple[tuple[str, Any], ...] = ()  # arguments the type implies (ReLU6 -> max_value)
    merges: bool = False  # takes several inputs (Add)


LAYER_TYPES: dict[str, _LayerType] = {
    "Dense": _LayerType(("units",), ("activation", "use_bias")),
    "Conv1D": _LayerType(("filters", "kernel_size"), _CONV),
    "Conv2D": _LayerType(("filters", "kernel_size"), _CONV),
    "DepthwiseConv2D": _LayerType(("kernel_size",), _CONV + ("depth_multiplier",)),
    "SeparableConv2D": _LayerType(("filters", "kernel_size"), _CONV + ("depth_multiplier",)),
    "MaxPooling1D": _LayerType((), _POOL),
    "MaxPooling2D": _LayerType((), _POOL),
    "AveragePooling1D": _LayerType((), _POOL),
    "AveragePooling2D": _LayerType((), _POOL),
    "GlobalAveragePooling1D": _LayerType(),
    "GlobalAveragePooling2D": _LayerType(),
    "Flatten": _LayerType(),
    "Reshape": _LayerType(("target_shape",)),
    "Dropout": _LayerType(("rate",)),
    "BatchNormalization": _LayerType((), ("momentum", "epsilon")),
    "ReLU": _LayerType(),
    "ReLU6": _LayerType(keras_class="ReLU", fixed=(("max_value", 6.0),)),
    "Softmax": _LayerType(),
    "Add": _LayerType(merges=True),
}


class LayerSpecError(ConfigError):
    """A `layers` spec that cannot be built; the message names the layer and the reason."""


def _plain(value: Any) -> Any:
    """Hydra's DictConfig/ListConfig (or any mapping/sequence) as dicts, and lists as tuples
    so that Keras gets kernel_size=(3, 3) whatever the YAML said."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return tuple(_plain(item) for item in value)
    return value


def _input_shape(spec: Mapping[str, Any]) -> tuple[int, ...]:
    shape = spec.get("input_shape")
    if (not isinstance(shape, tuple) or not shape
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
        raise LayerSpecError(f"layers spec: input_shape must be a non-empty list of positive "
                             f"integers (without the batch dimension), got {shape!r}")
    return shape


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_values(where: str, layer: Mapping[str, Any]) -> None:
    """Values Keras would take without complaint but build a different model from than the spec
    says (``use_bias: maybe`` is truthy) or train to a non-finite loss (``epsilon: -1``)."""
    if "use_bias" in layer and not isinstance(layer["use_bias"], bool):
        raise LayerSpecError(f"{where}: use_bias must be true or false, got {layer['use_bias']!r}")
    if "epsilon" in layer and not (_is_real(layer["epsilon"]) and layer["epsilon"] > 0):
        raise LayerSpecError(f"{where}: epsilon must be a number > 0, got {layer['epsilon']!r}")
    if "momentum" in layer and not (_is_real(layer["momentum"]) and 0 <= layer["momentum"] <= 1):
        raise LayerSpecError(f"{where}: momentum must be a number from 0 to 1, got {layer['momentum']!r}")


def _check_layer(index: int, layer: Any, known: set[str]) -> tuple[str, _LayerType, dict[str, Any]]:
    """The layer's type, its rules and its Keras keyword arguments, or LayerSpecError."""
    if not isinstance(layer, dict) or "type" not in layer:
        raise LayerSpecError(f"layers[{index}]: each layer must be a mapping with a 'type' key, got {layer!r}")
    kind = layer["type"]
    where = f"layers[{index}] ({kind})"
    rules = LAYER_TYPES.get(kind) if isinstance(kind, str) else None
    if rules is None:
        raise LayerSpecError(f"{where}: unknown layer type; supported: {', '.join(LAYER_TYPES)}")
    allowed = set(rules.required) | set(rules.optional)
    for key in layer:
        if key not in allowed and key not in _STRUCTURAL:
            hint = f"allowed: {', '.join(sorted(allowed))}" if allowed else "it takes no arguments"
            raise LayerSpecError(f"{where}: unknown key {key!r} ({hint})")
    for key in rules.required:
        if key not in layer:
            raise LayerSpecError(f"{where}: missing required key {key!r}")
    if "activation" in layer and layer["activation"] not in ACTIVATIONS:
        raise LayerSpecError(f"{where}: activation {layer['activation']!r} is not one of "
                             f"{', '.join(str(a).lower() for a in ACTIVATIONS)}")
    _check_values(where, layer)
    name = layer.get("name")
    if name is not None and (not isinstance(name, str) or not name or name in known):
        raise LayerSpecError(f"{where}: name {name!r} must be a new, non-empty string "
                             f"(already used: {', '.join(sorted(known))})")
    inputs = layer.get("inputs")
    if inputs is not None:
        if not isinstance(inputs, tuple) or not inputs:
            raise LayerSpecError(f"{where}: inputs must be a non-empty list of names, got {inputs!r}")
        for source in inputs:
            if source not in known:
                raise LayerSpecError(f"{where}: unknown input name {source!r} "
                                     f"(defined so far: {', '.join(sorted(known))})")
        if not rules.merges and len(inputs) != 1:
            raise LayerSpecError(f"{where}: takes one input, got {len(inputs)}")
    if rules.merges and (inputs is None or len(inputs) < 2):
        raise LayerSpecError(f"{where}: needs inputs: a list of at least two layer names")
    kwargs = {key: value for key, value in layer.items() if key not in _STRUCTURAL}
    kwargs.update(rules.fixed)
    if name is not None:
        kwargs["name"] = name
    return kind, rules, kwargs


def _check_window(where: str, rules: _LayerType, kwargs: Mapping[str, Any], shape: tuple[Any, ...]) -> None:
    """A pooling or convolution window larger than its input under `valid` padding: Keras says
    only "Exception encountered when calling MaxPooling2D.call()"."""
    if "padding" not in rules.optional or str(kwargs.get("padding", "valid")).lower() != "valid":
        return
    key = "pool_size" if "pool_size" in rules.optional else "kernel_size"
    size = kwargs.get(key, 2)  # Keras' default pool size
    spatial = shape[:-1]
    window = tuple(size) if isinstance(size, tuple) else (size,) * len(spatial)
    whole = all(isinstance(w, int) and isinstance(d, int) for w, d in zip(window, spatial))
    if len(window) != len(spatial) or not whole:
        return  # a wrong rank or type: Keras' own message says it
    if any(w > d for w, d in zip(window, spatial)):
        what = key.replace("_", " ")
        raise LayerSpecError(f"{where}: its {what} {list(window)} is larger than its input {list(shape)} "
                             f"(spatial {list(spatial)}); use a {what} of at most {list(spatial)}, "
                             "or padding: same")


def build_layers(spec: Mapping[str, Any]):  # noqa: ANN201 - keras.Model (TF imported lazily)
    """The uncompiled keras.Model the spec describes; LayerSpecError if it cannot be built.

    Weights come from Keras' initialisers, so keras.utils.set_random_seed makes the model
    deterministic.
    """
    spec = _plain(spec)
    if not isinstance(spec, dict):
        raise LayerSpecError(f"layers spec: expected a mapping with input_shape and layers, got {spec!r}")
    shape = _input_shape(spec)
    layers = spec.get("layers")
    if not isinstance(layers, tuple) or not layers:
        raise LayerSpecError("layers spec: 'layers' must be a non-empty list of layers")
    if len(layers) > MAX_SPEC_LAYERS:
        raise LayerSpecError(f"layers spec: {len(layers)} layers, more than the {MAX_SPEC_LAYERS} tinyexp builds "
                             "(Keras walks a model's graph recursively and fails near 1000 layers); use fewer layers")
    known = {INPUT_NAME}
    checked = []
    for index, layer in enumerate(layers):
        checked.append(_check_layer(index, layer, known))
        if checked[-1][2].get("name"):
            known.add(checked[-1][2]["name"])

    import keras

    outputs = {INPUT_NAME: keras.Input(shape=shape, name=INPUT_NAME)}
    previous = outputs[INPUT_NAME]
    for index, (layer, (kind, rules, kwargs)) in enumerate(zip(layers, checked)):
        sources = [outputs[name] for name in layer.get("inputs", ())] or [previous]
        _check_window(f"layers[{index}] ({kind})", rules, kwargs, tuple(sources[0].shape[1:]))
        try:
            keras_layer = getattr(keras.layers, rules.keras_class or kind)(**kwargs)
            previous = keras_layer(sources if rules.merges else sources[0])
        except Exception as exc:  # noqa: BLE001 - Keras raises many types; all are spec errors
            raise LayerSpecError(f"layers[{index}] ({kind}): {first_line(str(exc)) or type(exc).__name__}") from exc
        if "name" in kwargs:
            outputs[kwargs["name"]] = previous
    return keras.Model(outputs[INPUT_NAME], previous)
