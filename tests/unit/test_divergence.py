"""Divergence is a result, not a success (issue 11, defect 5): a converted model with
non-finite outputs or degenerate int8 quantisation parameters is refused."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tinyexp.core.errors import DivergenceError
from tinyexp.model.data import Dataset, Split
from tinyexp.model.train import divergence_advice
from tinyexp.tflm.graph import read_graph
from tinyexp.tflm.evaluate import Accuracy, check_result, degenerate_quantisation


def _int8_model(first_kernel: float | None) -> bytes:
    """A 1 -> 4 -> 1 network converted to full int8; its first kernel set to a value if given."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    if first_kernel is not None:
        kernel, bias = net.layers[0].get_weights()
        net.layers[0].set_weights([np.full_like(kernel, first_kernel), bias])
    conv = tf.lite.TFLiteConverter.from_keras_model(net)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([np.array([[x]], np.float32)] for x in np.linspace(0, 6, 20))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    return conv.convert()


def test_int8_model_of_diverged_weights_is_degenerate() -> None:
    assert degenerate_quantisation(read_graph(_int8_model(None))) is None
    why = degenerate_quantisation(read_graph(_int8_model(np.inf)))
    assert why is not None and "scale inf" in why
    with pytest.raises(DivergenceError, match="quantisation is degenerate: tensor .* scale inf"):
        check_result(read_graph(_int8_model(np.inf)), Accuracy({"test_mse": 0.1, "test_mae": 0.1}, "tflm"))


@pytest.mark.parametrize("metrics", [{"test_mse": float("nan"), "test_mae": 0.1}, {"test_accuracy": 0.1}])
def test_non_finite_outputs_are_refused(metrics: dict[str, float]) -> None:
    with pytest.raises(DivergenceError, match="non-finite outputs on the test split .*its weights are not usable "
                                              r"\(training diverged, or the model file.s weights hold inf/NaN\)"):
        check_result(read_graph(_int8_model(None)), Accuracy(metrics, "tflite", finite=False))


def test_a_tflite_used_as_it_is_is_not_said_to_have_diverged_in_training() -> None:
    """Issue 17: with model=tflite (no training) the message blamed training."""
    with pytest.raises(DivergenceError, match=r"the .tflite model gives non-finite outputs .*not trained here.*"
                                              "check the model file") as caught:
        check_result(read_graph(_int8_model(None)), Accuracy({"test_mse": float("nan")}, "tflite", finite=False), trained=False)
    assert "training diverged" not in str(caught.value)


def _regression(top: float) -> Dataset:
    split = Split(np.zeros((4, 1), np.float32), np.array([[0.5], [-top], [1.0], [2.0]], np.float32))
    return Dataset(split, split, split)


def test_divergence_with_large_targets_names_their_scale() -> None:
    """Issue 17: huge targets were reported as "lower the learning rate" alone."""
    assert divergence_advice(_regression(2.0)) == "lower the learning rate"
    assert divergence_advice(_regression(5e8)).startswith("the targets reach |y| = 5e+08, the likely cause: scale")
