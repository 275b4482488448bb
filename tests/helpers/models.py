"""Small dense networks converted as tinyexp's quantisation modes convert them, for tests."""

from __future__ import annotations

import numpy as np


def convert_dense(widths: list[int], mode: str) -> bytes:
    """A 1 -> widths... -> 1 relu dense net converted as tinyexp's quant modes convert it."""
    import tensorflow as tf

    layers = [tf.keras.Input((1,))]
    layers += [tf.keras.layers.Dense(w, activation="relu") for w in widths]
    model = tf.keras.Sequential(layers + [tf.keras.layers.Dense(1)])
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])

    def representative():
        for x in np.linspace(0, 2 * np.pi, 32, dtype=np.float32):
            yield [np.array([[x]], dtype=np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "int8":
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()
