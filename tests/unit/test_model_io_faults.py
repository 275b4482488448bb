"""Models tinyexp would run wrongly are refused in the preflight (issue 17): a model with two
inputs was fed its first input only, one with two outputs was scored on its first only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import compose
from tinyexp.core.errors import ConfigError
from tinyexp.model import sources

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _two_input_model():  # noqa: ANN202 - keras.Model
    import keras

    a, b = keras.Input((1,), name="a"), keras.Input((1,), name="b")
    return keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))


def _two_output_model():  # noqa: ANN202 - keras.Model
    import keras

    x = keras.Input((1,))
    return keras.Model(x, [keras.layers.Dense(1)(x), keras.layers.Dense(1)(x)])


def _tflite(model) -> bytes:  # noqa: ANN001 - keras.Model
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


@pytest.mark.parametrize("make,counts", [(_two_input_model, "2 input and 1 output"),
                                         (_two_output_model, "1 input and 2 output")])
@pytest.mark.parametrize("kind", ["keras", "tflite"])
def test_several_inputs_or_outputs_are_refused_with_the_count(tmp_path: Path, make, counts: str,
                                                              kind: str) -> None:
    model = make()
    path = tmp_path / f"m.{kind}"
    if kind == "keras":
        model.save(path)
    else:
        path.write_bytes(_tflite(model))
    cfg = compose([f"model={kind}", f"model.path={path}", "train.epochs=0"])
    with pytest.raises(ConfigError, match=f"m.{kind}'.*has {counts} tensors; tinyexp runs models with exactly one"):
        sources.check_source(cfg)


def test_an_unknown_input_dimension_is_refused(tmp_path: Path) -> None:
    import keras

    x = keras.Input((None, 1))  # any length of sequence
    keras.Model(x, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(x))).save(tmp_path / "m.keras")
    cfg = compose(["model=keras", f"model.path={tmp_path / 'm.keras'}", "train.epochs=0"])
    with pytest.raises(ConfigError, match=r"input shape \[None, 1\] has an unknown dimension"):
        sources.check_source(cfg)
