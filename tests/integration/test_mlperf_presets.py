"""The MLPerf Tiny presets are the reference architectures: Keras parameters and the MACs of
the converted model within 2% of the published counts (reference_data/mlperf_tiny_models.csv)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import compose, compose_config
from tinyexp.core.boards import load_board
from tinyexp.core.config import QuantMode
from tinyexp.core.validation import validate
from tinyexp.model.convert import convert
from tinyexp.model import sources
from tinyexp.tflm.inspect import inspect_model

REFERENCE = Path(__file__).resolve().parents[2] / "tinyexp" / "reference_data" / "mlperf_tiny_models.csv"
PUBLISHED = {row["preset"]: row for row in csv.DictReader(REFERENCE.open())}


@pytest.mark.parametrize("preset", sorted(PUBLISHED))
def test_preset_matches_published_params_and_macs(preset: str) -> None:
    cfg = compose_config([f"experiment={preset}"])
    validate(cfg)
    check = sources.check_source(cfg)
    model = sources.build(cfg.model, check.input_shape)
    published = PUBLISHED[preset]
    assert model.count_params() == pytest.approx(int(published["keras_params"]), rel=0.02)
    tflite = convert(model, QuantMode.float32, False, np.zeros((1, *check.input_shape), np.float32), batch_one=True)
    macs = inspect_model(tflite).macs
    assert macs == pytest.approx(int(published["macs"]), rel=0.02)
    assert macs == pytest.approx(int(published["source_macs"]), rel=0.02)


@pytest.mark.parametrize("preset", sorted(PUBLISHED))
def test_preset_sweeps_float32_and_int8_on_the_nano(preset: str) -> None:
    cfg = compose([f"experiment={preset}"], with_hydra=True)
    assert cfg.board.name == "nano33ble"
    assert cfg.hydra.sweeper.params.quant == "float32,int8"
    assert cfg.dataset.name == "synthetic" and 0 < cfg.train.epochs <= 5


@pytest.mark.parametrize("preset", sorted(PUBLISHED))
def test_preset_converted_with_a_free_batch_gets_an_estimate(preset: str) -> None:
    """TFLiteConverter.from_keras_model keeps a free batch dimension, so Flatten/Reshape
    become SHAPE, STRIDED_SLICE, PACK and RESHAPE on int32 scalars: every network is still
    estimated, those operators priced by the like-operator rule and labelled, except on the
    nano33ble, whose own free-batch rows (Adin et al. 2023) price them, by transfer."""
    from tinyexp.estimate.per_operator import estimate_operators

    cfg = compose_config([f"experiment={preset}"])
    check = sources.check_source(cfg)
    model = sources.build(cfg.model, check.input_shape)
    tflite = convert(model, QuantMode.float32, False, np.zeros((1, *check.input_shape), np.float32))
    for board in ("nano33ble", "nucleo_l4r5zi"):
        e = estimate_operators(tflite, load_board(board))
        assert 0 < e.low_us < e.latency_us < e.high_us
        for op in e.operators:
            if op.type in ("SHAPE", "STRIDED_SLICE", "PACK") and board == "nano33ble":
                assert op.basis == "transferred" and "adin2023-nano33ble" in op.detail and op.detail in e.transferred
            elif op.type in ("SHAPE", "STRIDED_SLICE", "PACK"):
                assert op.basis == "extrapolated" and op.detail in e.extrapolated
