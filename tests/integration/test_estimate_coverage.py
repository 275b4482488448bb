"""Every network of ../shared/reference/architectures.md (the calibration architectures),
converted as a user's Keras model usually is, with a free batch dimension, gets an estimate
on both boards."""

from __future__ import annotations

import os

import pytest

from tinyexp.core.boards import load_board
from tinyexp.estimate.per_operator import estimate_operators
from tinyexp.estimate.calibration_rows import architectures

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _free_batch(spec: dict) -> bytes:
    import tensorflow as tf

    from tinyexp.model.layers import build_layers

    return tf.lite.TFLiteConverter.from_keras_model(build_layers(spec)).convert()


def _distinct_architectures() -> list[str]:
    seen, names = set(), []
    for name, entry in architectures().items():
        if repr(entry["spec"]) not in seen:
            seen.add(repr(entry["spec"]))
            names.append(name)
    return names


@pytest.mark.parametrize("name", _distinct_architectures())
def test_every_architecture_with_a_free_batch_is_estimated(name: str) -> None:
    tflite = _free_batch(architectures()[name]["spec"])
    for board in ("nano33ble", "nucleo_l4r5zi"):
        e = estimate_operators(tflite, load_board(board))
        assert 0 < e.low_us < e.latency_us < e.high_us, (name, board)
