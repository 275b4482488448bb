"""build_layers: every supported type builds, a residual net builds, and each kind of bad
spec is one LayerSpecError line naming the layer."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tinyexp.core.errors import ConfigError
from tinyexp.model.layers import LAYER_TYPES, LayerSpecError, build_layers

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# One small spec per layer type: (input_shape, layers before it, the layer, expected output shape).
CASES = {
    "Dense": ((4,), [], {"type": "Dense", "units": 3, "activation": "relu"}, (3,)),
    "Conv1D": ((10, 2), [], {"type": "Conv1D", "filters": 4, "kernel_size": 3}, (8, 4)),
    "Conv2D": ((8, 6, 1), [], {"type": "Conv2D", "filters": 5, "kernel_size": [3, 2],
                               "strides": [2, 2], "padding": "same", "use_bias": False}, (4, 3, 5)),
    "DepthwiseConv2D": ((6, 6, 3), [], {"type": "DepthwiseConv2D", "kernel_size": 3,
                                        "padding": "same", "depth_multiplier": 2}, (6, 6, 6)),
    "SeparableConv2D": ((6, 6, 3), [], {"type": "SeparableConv2D", "filters": 4, "kernel_size": 3}, (4, 4, 4)),
    "MaxPooling1D": ((8, 2), [], {"type": "MaxPooling1D", "pool_size": 2}, (4, 2)),
    "MaxPooling2D": ((8, 8, 2), [], {"type": "MaxPooling2D", "pool_size": 2}, (4, 4, 2)),
    "AveragePooling1D": ((8, 2), [], {"type": "AveragePooling1D", "pool_size": 4}, (2, 2)),
    "AveragePooling2D": ((8, 8, 2), [], {"type": "AveragePooling2D", "pool_size": [2, 4]}, (4, 2, 2)),
    "GlobalAveragePooling1D": ((8, 3), [], {"type": "GlobalAveragePooling1D"}, (3,)),
    "GlobalAveragePooling2D": ((4, 4, 3), [], {"type": "GlobalAveragePooling2D"}, (3,)),
    "Flatten": ((4, 3, 2), [], {"type": "Flatten"}, (24,)),
    "Reshape": ((12,), [], {"type": "Reshape", "target_shape": [3, 4]}, (3, 4)),
    "Dropout": ((5,), [], {"type": "Dropout", "rate": 0.1}, (5,)),
    "BatchNormalization": ((5,), [], {"type": "BatchNormalization", "momentum": 0.9, "epsilon": 1e-3}, (5,)),
    "ReLU": ((5,), [], {"type": "ReLU"}, (5,)),
    "ReLU6": ((5,), [], {"type": "ReLU6"}, (5,)),
    "Softmax": ((5,), [], {"type": "Softmax"}, (5,)),
    "Add": ((5,), [{"type": "Dense", "units": 5, "name": "a"}],
            {"type": "Add", "inputs": ["input", "a"]}, (5,)),
}


def test_every_supported_type_has_a_case() -> None:
    assert set(CASES) == set(LAYER_TYPES)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_each_type_builds(kind: str) -> None:
    shape, before, layer, expected = CASES[kind]
    model = build_layers({"input_shape": list(shape), "layers": before + [layer]})
    assert tuple(model.output.shape[1:]) == expected


def test_relu6_clips_at_six() -> None:
    model = build_layers({"input_shape": [3], "layers": [{"type": "ReLU6"}]})
    out = model(np.array([[-1.0, 3.0, 9.0]], dtype=np.float32)).numpy()
    assert out.tolist() == [[0.0, 3.0, 6.0]]


RESNET = {
    "input_shape": [16, 16, 3],
    "layers": [
        {"type": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same", "name": "stem"},
        {"type": "BatchNormalization"},
        {"type": "ReLU", "name": "skip"},
        {"type": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same"},
        {"type": "ReLU"},
        {"type": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same", "name": "conv2b"},
        {"type": "Add", "inputs": ["skip", "conv2b"], "name": "res1"},
        {"type": "ReLU"},
        {"type": "GlobalAveragePooling2D"},
        {"type": "Dense", "units": 10, "activation": "softmax"},
    ],
}


def test_resnet_with_add_builds_deterministically() -> None:
    import keras

    keras.utils.set_random_seed(3)
    first = build_layers(RESNET)
    keras.utils.set_random_seed(3)
    second = build_layers(RESNET)
    add = first.get_layer("res1")
    assert [t.name for t in add.input] and len(add.input) == 2
    assert tuple(first.output.shape[1:]) == (10,)
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_accepts_hydra_containers() -> None:
    from omegaconf import OmegaConf

    model = build_layers(OmegaConf.create(RESNET))
    assert tuple(model.output.shape[1:]) == (10,)


BAD = {
    "unknown type": ({"type": "LSTM", "units": 3}, "layers[0] (LSTM): unknown layer type; supported: Dense"),
    "unknown key": ({"type": "Dense", "units": 3, "kernel_initializer": "zeros"},
                    "layers[0] (Dense): unknown key 'kernel_initializer'"),
    "missing key": ({"type": "Conv1D", "kernel_size": 3}, "layers[0] (Conv1D): missing required key 'filters'"),
    "unknown input": ({"type": "Add", "inputs": ["input", "nowhere"]},
                      "layers[0] (Add): unknown input name 'nowhere'"),
    "bad activation": ({"type": "Dense", "units": 3, "activation": "gelu"},
                       "layers[0] (Dense): activation 'gelu' is not one of"),
    "shape mismatch": ({"type": "Conv2D", "filters": 2, "kernel_size": 3}, "layers[0] (Conv2D): "),
    "use_bias not a boolean": ({"type": "Dense", "units": 3, "use_bias": "maybe"},
                               "layers[0] (Dense): use_bias must be true or false, got 'maybe'"),
    "negative epsilon": ({"type": "BatchNormalization", "epsilon": -1},
                         "layers[0] (BatchNormalization): epsilon must be a number > 0, got -1"),
    "momentum above 1": ({"type": "BatchNormalization", "momentum": 2},
                         "layers[0] (BatchNormalization): momentum must be a number from 0 to 1"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_spec_is_one_line(case: str) -> None:
    layer, start = BAD[case]
    with pytest.raises(LayerSpecError) as info:
        build_layers({"input_shape": [4], "layers": [layer]})
    message = str(info.value)
    assert message.startswith(start), message
    assert "\n" not in message
    assert isinstance(info.value, ConfigError)


def test_add_of_mismatched_shapes_names_the_add() -> None:
    spec = {"input_shape": [4], "layers": [{"type": "Dense", "units": 3, "name": "a"},
                                           {"type": "Add", "inputs": ["input", "a"]}]}
    with pytest.raises(LayerSpecError, match=r"^layers\[1\] \(Add\): ") as info:
        build_layers(spec)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("spec", [{"layers": [{"type": "ReLU"}]}, {"input_shape": [0], "layers": []},
                                  {"input_shape": [3], "layers": []}])
def test_bad_top_level_is_one_line(spec: dict) -> None:
    with pytest.raises(LayerSpecError, match=r"^layers spec: ") as info:
        build_layers(spec)
    assert "\n" not in str(info.value)
