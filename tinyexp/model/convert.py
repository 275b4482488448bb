"""Convert a trained Keras model to a TensorFlow Lite flatbuffer in one quantisation mode.

- none:    float32 throughout.
- dynamic: weight-only int8 (Optimize.DEFAULT, no representative data); activations stay
           float, so FULLY_CONNECTED runs as a "hybrid" kernel. Tensors under 1024 elements
           stay float, which is why small models barely shrink (the study's Table 2).
- int8:    full integer, int8 input and output, calibrated on the training split.
- float16: float16 weights, dequantised to float32 at run time.
- int16x8: int16 activations, int8 weights (the converter's experimental 16x8 op set), calibrated
           on the training split; input and output stay float32 (a QUANTIZE first, a
           DEQUANTIZE last), the converter's default for this mode and what the board
           protocol carries.

Int8 calibration uses the training split (at most its first 1000 samples). A SavedModel
directory (a path instead of a Keras model) is converted with TF's SavedModel converter.

`per_channel=False` asks the converter for one scale per tensor, as the 2020 converter did.
`strip_strings=True` removes tensor names, the model description and signature defs, which
TFLM never reads; what is left is what the board stores.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from tinyexp.core.config import QuantMode
from tinyexp.core.errors import TinyexpError, first_line
from tinyexp.core.native_output import capture_native_stderr
from tinyexp.model.sources import import_tensorflow


def _quiet_converter_logs() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # "Assets written to ..." per call


MAX_CALIBRATION_SAMPLES = 1000


def _representative(samples: np.ndarray) -> Iterator[list[np.ndarray]]:
    for row in samples[:MAX_CALIBRATION_SAMPLES]:
        yield [row[np.newaxis, ...].astype(np.float32)]


def strip_strings(model: bytes) -> bytes:
    """The model without the strings TFLM does not use (TensorFlow's own flatbuffer tool)."""
    from tensorflow.lite.tools import flatbuffer_utils

    parsed = flatbuffer_utils.read_model_from_bytearray(bytearray(model))
    flatbuffer_utils.strip_strings(parsed)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(parsed))


def set_full_integer(converter: Any, tf: Any, representative: Callable[[], Iterator[list[np.ndarray]]],
                     int16_activations: bool, integer_io: bool) -> None:
    """Ask `converter` for full-integer kernels: int8 activations, or int16 activations with
    int8 weights (16x8); integer_io makes the input and output int8/int16 too, else they stay
    float32. Shared with tinyexp.estimate.convert_modes (the calibration nets' modes)."""
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8 if int16_activations
        else tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if integer_io:
        converter.inference_input_type = converter.inference_output_type = (
            tf.int16 if int16_activations else tf.int8)


def _batch_one_converter(tf: Any, keras_model: Any) -> Any:
    """A converter for the model traced with a batch of exactly 1, as a board runs it: a
    Flatten or Reshape then becomes one static RESHAPE, not SHAPE/STRIDED_SLICE/PACK ops."""
    import keras

    inputs = keras.Input(batch_shape=(1, *keras_model.input_shape[1:]))
    return tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, keras_model(inputs)))


def convert(keras_model: Any, mode: QuantMode | str, per_channel: bool, calibration_x: np.ndarray,
            strip: bool = True, batch_one: bool = False) -> bytes:
    """The .tflite bytes of `keras_model` (or of the SavedModel directory it names) in `mode`.

    batch_one traces the model for a batch of 1 (every source but the study's dense nets,
    whose flatbuffers keep the 2020 converter's dynamic batch and so their sizes)."""
    _quiet_converter_logs()
    import_tensorflow()
    import tensorflow as tf

    mode = QuantMode(mode)
    if isinstance(keras_model, (str, Path)):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(keras_model))
    elif batch_one:
        converter = _batch_one_converter(tf, keras_model)
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    if mode is not QuantMode.float32:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode in (QuantMode.int8, QuantMode.int16x8):
        set_full_integer(converter, tf, lambda: _representative(calibration_x),
                         int16_activations=mode is QuantMode.int16x8, integer_io=mode is QuantMode.int8)
    elif mode is QuantMode.float16:
        converter.target_spec.supported_types = [tf.float16]
    if not per_channel:
        # Private switches of the TF converter; both exist in TF 2.14 and later.
        converter._experimental_disable_per_channel = True
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    try:
        # Keras prints its export signature to stdout; the converter its settings to fd 2.
        with contextlib.redirect_stdout(io.StringIO()), capture_native_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = bytes(converter.convert())
    except Exception as exc:  # the converter raises many types; the message is what matters
        first = first_line(str(exc)) or type(exc).__name__
        raise TinyexpError(f"TFLite conversion ({mode.value}) failed: {first}") from exc
    return strip_strings(model) if strip else model
