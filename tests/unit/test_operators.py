"""analyse_operators on small converted models, checked against counts done by hand."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tinyexp.core.errors import TinyexpError
from tinyexp.estimate.convert_modes import convert_mode
from tinyexp.model.layers import build_layers
from tinyexp.tflm.operators import Operator, analyse_operators, operator_table, total_macs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Small enough to count by hand: 8x8x3 -> conv 3x3 (4) -> depthwise 3x3 s2 -> avgpool 2 ->
# conv 1x1 (4) -> add -> maxpool 2 -> dense 5 -> softmax.
CNN = {
    "input_shape": [8, 8, 3],
    "layers": [
        {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu",
         "name": "conv"},
        {"type": "DepthwiseConv2D", "kernel_size": 3, "strides": 2, "padding": "same", "name": "dw"},
        {"type": "AveragePooling2D", "pool_size": 2},
        {"type": "Conv2D", "filters": 4, "kernel_size": 1, "name": "pw"},
        {"type": "Add", "inputs": ["pw", "pw"]},
        {"type": "MaxPooling2D", "pool_size": 2},
        {"type": "Flatten"},
        {"type": "Dense", "units": 5, "activation": "softmax"},
    ],
}


@pytest.fixture(scope="module", params=["float32", "int8", "int8_float_io"])
def cnn(request: pytest.FixtureRequest) -> tuple[str, tuple[Operator, ...]]:
    model = build_layers(CNN)
    # Non-zero biases: the converter leaves all-zero ones out of the file.
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    return request.param, analyse_operators(convert_mode(model, request.param))


def _only(ops: tuple[Operator, ...], kind: str) -> Operator:
    found = [op for op in ops if op.type == kind]
    assert len(found) == 1, [op.type for op in ops]
    return found[0]


def test_execution_order_and_types(cnn: tuple[str, tuple[Operator, ...]]) -> None:
    mode, ops = cnn
    # With a fixed batch of 1 the converter folds Flatten into FULLY_CONNECTED (no RESHAPE).
    body = ["CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "CONV_2D", "ADD", "MAX_POOL_2D",
            "FULLY_CONNECTED", "SOFTMAX"]
    expected = ["QUANTIZE", *body, "DEQUANTIZE"] if mode == "int8_float_io" else body
    assert [op.type for op in ops] == expected
    assert [op.index for op in ops] == list(range(len(ops)))


def test_conv_hand_count(cnn: tuple[str, tuple[Operator, ...]]) -> None:
    mode, ops = cnn
    conv = [op for op in ops if op.type == "CONV_2D"][0]
    # 8x8 outputs x 4 filters, each summing 3x3x3 products
    assert conv.macs == 8 * 8 * 4 * 3 * 3 * 3 == 6912
    assert conv.params == 4 * 3 * 3 * 3 + 4 == 112
    assert conv.output.shape == (1, 8, 8, 4) and conv.filter.shape == (4, 3, 3, 3)
    assert (conv.input_elements, conv.output_elements) == (192, 256)
    assert (conv.in_channels, conv.out_channels, conv.window) == (3, 4, 9)
    assert conv.dtype == ("float32" if mode == "float32" else "int8")


def test_depthwise_hand_count(cnn: tuple[str, tuple[Operator, ...]]) -> None:
    dw = _only(cnn[1], "DEPTHWISE_CONV_2D")
    # stride 2 same: 4x4 outputs x 4 channels, each a 3x3 window of one channel
    assert dw.macs == 4 * 4 * 4 * 9 == 576
    assert dw.params == 9 * 4 + 4 == 40
    assert dw.strides == (2, 2) and dw.output_elements == 64


def test_pools_add_fc_softmax_hand_counts(cnn: tuple[str, tuple[Operator, ...]]) -> None:
    ops = cnn[1]
    avg, mx = _only(ops, "AVERAGE_POOL_2D"), _only(ops, "MAX_POOL_2D")
    assert (avg.macs, avg.params, avg.window, avg.input_elements, avg.output_elements) == (0, 0, 4, 64, 16)
    assert (mx.window, mx.input_elements, mx.output_elements) == (4, 16, 4)
    pw = [op for op in ops if op.type == "CONV_2D"][1]
    assert pw.macs == 2 * 2 * 4 * 4 == 64 and pw.window == 1
    add = _only(ops, "ADD")
    assert (add.macs, add.params, add.input_elements, add.output_elements) == (0, 0, 32, 16)
    fc = _only(ops, "FULLY_CONNECTED")
    assert (fc.macs, fc.params, fc.in_channels, fc.out_channels) == (4 * 5, 4 * 5 + 5, 4, 5)
    softmax = _only(ops, "SOFTMAX")
    assert (softmax.macs, softmax.input_elements, softmax.output_elements) == (0, 5, 5)
    assert total_macs(ops) == 6912 + 576 + 64 + 20


def test_round_trip_and_table(cnn: tuple[str, tuple[Operator, ...]]) -> None:
    ops = cnn[1]
    assert tuple(Operator.from_dict(op.as_dict()) for op in ops) == ops
    table = operator_table(ops)
    assert [row["type"] for row in table] == [op.type for op in ops]
    assert table[0 if cnn[0] != "int8_float_io" else 1]["filter_shape"] == "4x3x3x3"


def test_quantize_dequantize_dtypes() -> None:
    import keras

    keras.utils.set_random_seed(0)
    model = build_layers({"input_shape": [3], "layers": [{"type": "Dense", "units": 2}]})
    ops = analyse_operators(convert_mode(model, "int16x8_float_io"))
    assert [(op.type, op.dtype) for op in ops] == [("QUANTIZE", "int16"), ("FULLY_CONNECTED", "int16"),
                                                   ("DEQUANTIZE", "int16")]
    assert ops[0].input_elements == 3 and ops[1].macs == 6


def test_not_a_model_is_an_error() -> None:
    with pytest.raises(TinyexpError, match="not a TFLite model"):
        analyse_operators(b"not a flatbuffer at all")
