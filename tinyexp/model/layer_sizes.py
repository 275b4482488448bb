"""The parameter count of a `layers` spec, worked out from the spec alone, before Keras builds it.

Why: Keras allocates a layer's weights as it builds it, so a spec with a Dense of 10^6 units
after a 10^5-wide input exhausts the machine's memory in the preflight itself. The dense
source is bounded by its widths (tinyexp.core.limits.check_across); a `layers` spec is bounded
by this count, checked against the same memory budget before anything is built. Shapes follow
Keras' rules for the layer types of tinyexp.model.layers; a spec this module cannot follow
(an unknown type, a malformed argument) counts what it could, and build_layers then refuses
it with its own message.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

from tinyexp.core.limits import check_model_memory, machine_memory_bytes, model_state_bytes
from tinyexp.model.layers import INPUT_NAME

Shape = tuple[int, ...]


def _window(value: Any, rank: int) -> Shape:
    """A kernel, pool or stride size given as one number or one per spatial dimension."""
    return tuple(int(v) for v in value) if isinstance(value, Sequence) else (int(value),) * rank


def _spatial(shape: Shape, layer: Mapping[str, Any], window_key: str, default_window: int) -> Shape:
    """Spatial output size of a windowed layer (convolution or pooling) under Keras' padding rules."""
    rank = len(shape) - 1
    window = _window(layer.get(window_key, default_window), rank)
    strides = _window(layer.get("strides", window if window_key == "pool_size" else 1), rank)
    same = str(layer.get("padding", "valid")).lower() == "same"
    return tuple(max(1, -(-(d if same else d - w + 1) // s)) for d, w, s in zip(shape[:-1], window, strides))


def _layer(shape: Shape, layer: Mapping[str, Any]) -> tuple[Shape, int]:
    """One layer's output shape (without the batch) and parameter count, from its input shape."""
    kind, channels = layer["type"], shape[-1]
    bias = bool(layer.get("use_bias", True))
    if kind == "Dense":
        units = int(layer["units"])
        return (*shape[:-1], units), channels * units + units * bias
    if kind in ("Conv1D", "Conv2D", "SeparableConv2D", "DepthwiseConv2D"):
        taps = math.prod(_window(layer["kernel_size"], len(shape) - 1))
        depth = int(layer.get("depth_multiplier", 1))
        filters = channels * depth if kind == "DepthwiseConv2D" else int(layer["filters"])
        weights = {"SeparableConv2D": taps * channels * depth + channels * depth * filters,
                   "DepthwiseConv2D": taps * channels * depth}.get(kind, taps * channels * filters)
        return (*_spatial(shape, layer, "kernel_size", 1), filters), weights + filters * bias
    if kind.startswith(("MaxPooling", "AveragePooling")):
        return (*_spatial(shape, layer, "pool_size", 2), channels), 0
    if kind.startswith("GlobalAveragePooling"):
        return (channels,), 0
    if kind == "Flatten":
        return (math.prod(shape),), 0
    if kind == "Reshape":
        return tuple(int(d) for d in layer["target_shape"]), 0
    if kind == "BatchNormalization":  # gamma, beta, moving mean and variance
        return shape, 4 * channels
    return shape, 0  # element-wise: activations, dropout, softmax, Add


def spec_parameters(spec: Mapping[str, Any]) -> int:
    """The parameters the spec's model will hold (trainable or not), or as many as could be
    followed before a layer the spec gets wrong."""
    total = 0
    try:
        shapes: dict[str, Shape] = {INPUT_NAME: tuple(int(d) for d in spec["input_shape"])}
        previous = shapes[INPUT_NAME]
        for layer in spec["layers"]:
            inputs = layer.get("inputs") or ()
            previous, params = _layer(shapes[inputs[0]] if inputs else previous, layer)
            total += params
            if layer.get("name"):
                shapes[str(layer["name"])] = previous
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        pass  # build_layers names what is wrong with this layer
    return total


def check_spec_memory(spec: Mapping[str, Any], optimizer: str,
                      memory: Callable[[], int] = machine_memory_bytes) -> None:
    """Refuse, before Keras allocates anything, a spec whose training state exceeds the
    machine's budget (the bound the dense source's widths get)."""
    params = spec_parameters(spec)
    check_model_memory(f"the layers spec ({params:,} parameters)", model_state_bytes(params, optimizer), memory)
