"""Models tinyexp would run wrongly are refused in the preflight (issue 17): a model with two
inputs was fed its first input only, one with two outputs was scored on its first only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import compose_config as compose
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


def _custom_op_tflite() -> bytes:
    """A .tflite holding one custom operator (BesselI0e: no TFLite builtin)."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 1], tf.float32)])
    def bessel(x):  # noqa: ANN001, ANN202
        return tf.math.bessel_i0e(x) * 2.0

    converter = tf.lite.TFLiteConverter.from_concrete_functions([bessel.get_concrete_function()], bessel)
    converter.allow_custom_ops = True
    return converter.convert()


def test_a_custom_operator_is_named_not_called_damage(tmp_path: Path) -> None:
    (tmp_path / "c.tflite").write_bytes(_custom_op_tflite())
    cfg = compose(["model=tflite", f"model.path={tmp_path / 'c.tflite'}"])
    with pytest.raises(ConfigError, match=r"c.tflite': the model uses the custom operator 'BesselI0e', which TFLM "
                                          "cannot run") as caught:
        sources.check_source(cfg)
    assert "damaged" not in str(caught.value)


def test_a_truncated_keras_file_is_called_truncated_not_missing(tmp_path: Path) -> None:
    import keras

    keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]).save(tmp_path / "whole.keras")
    whole = (tmp_path / "whole.keras").read_bytes()
    (tmp_path / "m.keras").write_bytes(whole[: len(whole) // 2])
    cfg = compose(["model=keras", f"model.path={tmp_path / 'm.keras'}", "train.epochs=0"])
    with pytest.raises(ConfigError, match=r"m.keras': truncated or damaged .keras file .*save or copy the model again"):
        sources.check_source(cfg)


def test_a_refused_tflite_is_one_line_without_tflites_own_log(tmp_path: Path) -> None:
    """TFLite wrote "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." before the error."""
    import subprocess
    import sys

    (tmp_path / "two.tflite").write_bytes(_tflite(_two_input_model()))
    done = subprocess.run([sys.executable, "-m", "tinyexp", "model=tflite", f"model.path={tmp_path / 'two.tflite'}",
                           f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("tinyexp: error: model.path=") and done.stderr.count("\n") == 1, done.stderr
    assert not (tmp_path / "mlflow.db").exists()
