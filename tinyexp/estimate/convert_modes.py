"""Convert a Keras model in the quantisation variants published measurements used.

The calibration rows were measured on models converted in modes tinyexp's own pipeline
does not offer (int8 kernels behind float input/output, int16 activations), so the
rebuilt networks need them to get the operator lists the boards actually ran:

- float32: no quantisation;
- int8: full integer, int8 input and output;
- int8_float_io: int8 kernels with float input/output (a QUANTIZE first, a DEQUANTIZE last);
- int16x8: int16 activations, int8 weights, int16 input and output;
- int16x8_float_io: the same with float input/output.

Weights come from the model as given and the representative data are random: the
operator list does not depend on either (the converter keeps zero biases out, so layers
get non-zero ones in rebuild).
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from typing import Any, Iterator

import numpy as np

from tinyexp.core.errors import TinyexpError, first_line
from tinyexp.core.native_output import capture_native_stderr
from tinyexp.model.convert import set_full_integer

MODES = ("float32", "int8", "int8_float_io", "int16x8", "int16x8_float_io")


def _representative(shape: tuple[int, ...], count: int = 8) -> Iterator[list[np.ndarray]]:
    rng = np.random.default_rng(0)
    for _ in range(count):
        yield [rng.normal(0.0, 1.0, (1, *shape)).astype(np.float32)]


def convert_mode(keras_model: Any, mode: str, free_batch: bool = False) -> bytes:  # noqa: ANN401 - keras.Model
    """The .tflite bytes of keras_model in one of MODES; with free_batch, converted as the
    Keras model stands (batch dimension free), as some published networks were."""
    if mode not in MODES:
        raise TinyexpError(f"unknown conversion mode {mode!r}: expected one of {', '.join(MODES)}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    # A fixed batch of 1, as on most boards' published networks, unless free_batch: with a
    # free batch, Keras 3's Flatten and Reshape become SHAPE, STRIDED_SLICE, PACK and RESHAPE
    # instead of one RESHAPE.
    shape = tuple(int(d) for d in keras_model.input_shape[1:])
    import keras

    fixed_input = keras.Input(batch_shape=(1, *shape))
    converter = tf.lite.TFLiteConverter.from_keras_model(
        keras_model if free_batch else keras.Model(fixed_input, keras_model(fixed_input)))
    if mode != "float32":
        set_full_integer(converter, tf, lambda: _representative(shape), int16_activations=mode.startswith("int16"),
                         integer_io=not mode.endswith("float_io"))
    try:
        with contextlib.redirect_stdout(io.StringIO()), capture_native_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bytes(converter.convert())
    except Exception as exc:  # noqa: BLE001 - the converter raises many types
        raise TinyexpError(f"TFLite conversion ({mode}) failed: {first_line(str(exc)) or type(exc).__name__}") from exc
