"""inspect_model on real converter output for each quantisation mode.

The models are built and converted here (untrained: the statistics do not depend on the
weights' values), with non-zero biases because the converter drops all-zero ones.
"""

from __future__ import annotations

import os

import pytest

from tinyexp.core.errors import TinyexpError
from tinyexp.tflm.inspect import inspect_model
from tests.helpers.models import convert_dense

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


MODES = ("float32", "dynamic", "int8", "float16")


@pytest.fixture(scope="module")
def small() -> dict[str, bytes]:
    return {mode: convert_dense([16, 16], mode) for mode in MODES}


@pytest.mark.parametrize("mode", MODES)
def test_counts_do_not_depend_on_mode(small: dict[str, bytes], mode: str) -> None:
    stats = inspect_model(small[mode])
    assert stats.params == 16 + 16 + 16 * 16 + 16 + 16 + 1 == 321
    assert stats.macs == 16 + 16 * 16 + 16 == 288
    assert [layer.macs for layer in stats.layers] == [16, 256, 16]
    assert [layer.outputs for layer in stats.layers] == [16, 16, 1]
    assert [layer.params for layer in stats.layers] == [32, 272, 17]
    assert stats.model_bytes == len(small[mode])
    assert (stats.input_len, stats.output_len) == (1, 1)
    assert stats.op_counts["FULLY_CONNECTED"] == 3


# (kernel_kind, io dtype, tensor dtype counts, extra ops before the layers)
EXPECTED = {
    # Dynamic-range mode leaves tensors under 1024 elements in float32: n=16 stays float.
    "float32": ("float32", "float32", {"float32": 10}, 0),
    "dynamic": ("float32", "float32", {"float32": 10}, 0),
    "int8": ("int8", "int8", {"int8": 7, "int32": 3}, 0),
    "float16": ("float16", "float32", {"float32": 10, "float16": 6}, 6),
}


@pytest.mark.parametrize("mode", MODES)
def test_types_and_ops_per_mode(small: dict[str, bytes], mode: str) -> None:
    kernel, io, dtypes, dequantize = EXPECTED[mode]
    stats = inspect_model(small[mode])
    assert stats.kernel_kind == kernel
    assert (stats.input_dtype, stats.output_dtype) == (io, io)
    assert stats.tensor_dtypes == dtypes
    assert stats.ops == ("DEQUANTIZE",) * dequantize + ("FULLY_CONNECTED",) * 3


def test_dynamic_range_with_large_layer_is_hybrid() -> None:
    stats = inspect_model(convert_dense([64, 64], "dynamic"))
    assert (stats.kernel_kind, stats.kernel_dtype) == ("hybrid", "int8")
    assert [layer.weight_dtype for layer in stats.layers] == ["float32", "int8", "float32"]
    assert stats.params == 64 + 64 + 64 * 64 + 64 + 64 + 1
    assert stats.macs == 64 + 64 * 64 + 64


def test_as_dict_is_plain_data(small: dict[str, bytes]) -> None:
    data = inspect_model(small["int8"]).as_dict()
    assert data["ops"] == ["FULLY_CONNECTED"] * 3
    assert data["layers"][1]["weight_dtype"] == "int8"


@pytest.mark.parametrize("blob", [b"", b"not a flatbuffer at all", b"\0" * 64])
def test_not_a_model_is_refused(blob: bytes) -> None:
    with pytest.raises(TinyexpError, match="not a TFLite model"):
        inspect_model(blob)


def test_truncated_model_is_refused(small: dict[str, bytes]) -> None:
    with pytest.raises(TinyexpError, match="damaged TFLite model"):
        inspect_model(small["float32"][:200])
