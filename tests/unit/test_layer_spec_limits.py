"""A `layers` spec that cannot be built is refused from the spec, before Keras works on it
(issue 17): a window larger than its input, too many layers, more parameters than the
machine's memory can train; and the parameter count behind the memory bound is Keras' own."""

from __future__ import annotations

import time

import pytest

from tinyexp.core.errors import ConfigError
from tinyexp.core.limits import MAX_SPEC_LAYERS
from tinyexp.model.layer_sizes import check_spec_memory, spec_parameters
from tinyexp.model.layers import LayerSpecError, build_layers
from tests.unit.test_layers import CASES, RESNET

SPECS = {kind: {"input_shape": list(shape), "layers": before + [layer]}
         for kind, (shape, before, layer, _) in CASES.items()}
SPECS["resnet"] = RESNET
SPECS["strided valid pooling"] = {"input_shape": [9, 7, 2], "layers": [
    {"type": "Conv2D", "filters": 3, "kernel_size": 2, "strides": 2},
    {"type": "MaxPooling2D", "pool_size": [2, 1], "strides": [1, 2]}, {"type": "Flatten"},
    {"type": "Dense", "units": 4, "use_bias": False}]}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_spec_parameter_count_is_keras_own(name: str) -> None:
    assert spec_parameters(SPECS[name]) == build_layers(SPECS[name]).count_params()


@pytest.mark.parametrize("layer,message", [
    ({"type": "MaxPooling2D", "pool_size": 4},
     r"^layers\[1\] \(MaxPooling2D\): its pool size \[4, 4\] is larger than its input \[3, 3, 2\] "
     r"\(spatial \[3, 3\]\); use a pool size of at most \[3, 3\], or padding: same$"),
    ({"type": "Conv2D", "filters": 2, "kernel_size": [1, 5]},
     r"^layers\[1\] \(Conv2D\): its kernel size \[1, 5\] is larger than its input \[3, 3, 2\]"),
])
def test_a_window_larger_than_its_input_names_the_layer_the_size_and_the_shape(layer: dict, message: str) -> None:
    spec = {"input_shape": [6, 6, 1], "layers": [{"type": "Conv2D", "filters": 2, "kernel_size": 2, "strides": 2},
                                                 layer]}
    with pytest.raises(LayerSpecError, match=message):
        build_layers(spec)
    layer["padding"] = "same"  # the fix the message offers
    build_layers(spec)


def test_more_layers_than_the_limit_are_refused_before_building() -> None:
    spec = {"input_shape": [2], "layers": [{"type": "ReLU"}] * 10_000}
    start = time.monotonic()
    with pytest.raises(LayerSpecError, match=rf"^layers spec: 10000 layers, more than the {MAX_SPEC_LAYERS} "):
        build_layers(spec)
    assert time.monotonic() - start < 1.0  # was 83 s, then "maximum recursion depth exceeded"


def test_a_spec_too_big_to_train_is_refused_from_the_spec() -> None:
    spec = {"input_shape": [100_000], "layers": [{"type": "Dense", "units": 1_000_000}, {"type": "Dense", "units": 1}]}
    params = 100_000 * 1_000_000 + 1_000_000 + 1_000_001
    assert spec_parameters(spec) == params
    with pytest.raises(ConfigError, match=rf"^the layers spec \({params:,} parameters\) is too big to train here: "
                                          r"it needs at least 1117\.6 GiB .*more than the 8\.0 GiB allowed"):
        check_spec_memory(spec, "rmsprop", memory=lambda: 16 * 2**30)
    check_spec_memory(SPECS["resnet"], "rmsprop", memory=lambda: 16 * 2**30)


def test_the_preflight_bounds_a_layers_spec_before_building_it() -> None:
    from tests.helpers import compose_config as compose
    from tinyexp.model.sources import check_source

    cfg = compose(["model=layers", "dataset=synthetic", "dataset.input_shape=[100000]",
                   "+model.layers=[{type: Dense, units: 1000000}, {type: Dense, units: 2}]"])
    with pytest.raises(ConfigError, match=r"^the layers spec \(100,003,000,002 parameters\) is too big to train"):
        check_source(cfg)
