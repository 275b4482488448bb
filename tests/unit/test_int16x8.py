"""quant=int16x8: int16 activations and int8 weights behind float32 I/O, run by TFLM's 16x8 kernels,
and a refusal naming the operator where the converter or TFLM has no 16x8 kernel."""

from __future__ import annotations

import numpy as np
import pytest

from tinyexp.core.config import QuantMode
from tinyexp.core.errors import TinyexpError
from tinyexp.model.convert import convert
from tinyexp.tflm.graph import read_graph
from tinyexp.tflm.inspect import model_stats
from tinyexp.tflm.runtime import TflmModel, check_support

_X = np.random.default_rng(0).normal(size=(32, 4, 4, 2)).astype(np.float32)


def _model(layer):  # noqa: ANN001, ANN202 - a keras layer in, a keras model out
    import keras

    inputs = keras.Input((4, 4, 2))
    return keras.Model(inputs, layer(keras.layers.Conv2D(2, 1)(inputs)))


def test_int16x8_has_int16_activations_int8_weights_and_float_io():
    import keras

    model = convert(_model(keras.layers.ReLU()), QuantMode.int16x8, True, _X, batch_one=True)
    graph = read_graph(model)
    types = [op.type for op in graph.operators]
    assert types[0] == "QUANTIZE" and types[-1] == "DEQUANTIZE"
    assert {graph.tensors[i].dtype for i in (*graph.inputs, *graph.outputs)} == {"float32"}
    conv = next(op for op in graph.operators if op.type == "CONV_2D")
    assert graph.tensors[conv.inputs[0]].dtype == "int16" and graph.tensors[conv.inputs[1]].dtype == "int8"
    assert model_stats(graph).kernel_kind == "int16x8"
    support = check_support(model)
    assert support.runs, support.reason
    tflm = TflmModel(model, support.arena_bytes)
    out = tflm.invoke(_X[0])
    assert out.dtype == np.float32 and np.isfinite(out).all()


def test_tflm_without_a_16x8_kernel_refuses_naming_the_operator():
    import keras

    model = convert(_model(keras.layers.Lambda(lambda x: keras.ops.exp(x))), QuantMode.int16x8, True, _X,
                    batch_one=True)
    support = check_support(model)
    assert not support.runs and "EXP" in support.reason and "INT16" in support.reason


def test_converter_without_a_16x8_kernel_names_the_operator():
    import keras

    with pytest.raises(TinyexpError, match=r"int16x8.*'ELU'"):
        convert(_model(keras.layers.ELU()), QuantMode.int16x8, True, _X, batch_one=True)
