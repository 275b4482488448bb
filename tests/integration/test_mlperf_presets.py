"""The MLPerf Tiny presets are the reference architectures: Keras parameters and the MACs of
the converted model within 2% of the published counts (reference_data/mlperf_tiny_models.csv)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import compose, compose_config
from tinyexp.core.config import QuantMode, validate
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
