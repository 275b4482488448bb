"""estimate_operators: the public v2 estimate of a converted model on a board."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from tinyexp.core.boards import load_board
from tinyexp.core.errors import ConfigError
from tinyexp.estimate.convert_modes import convert_mode
from tinyexp.estimate.per_operator import estimate_operators
from tinyexp.model.layers import build_layers

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CONV = {"input_shape": [16, 16, 1], "layers": [
    {"type": "Conv2D", "filters": 8, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"},
    {"type": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"},
    {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 4, "activation": "softmax"}]}
DENSE = {"input_shape": [1], "layers": [{"type": "Dense", "units": 16, "activation": "relu"},
                                        {"type": "Dense", "units": 16, "activation": "relu"},
                                        {"type": "Dense", "units": 1}]}


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    import keras

    keras.utils.set_random_seed(0)
    return {"conv_int8": convert_mode(build_layers(CONV), "int8"),
            "dense_float32": convert_mode(build_layers(DENSE), "float32")}


def test_conv_on_the_l4r5zi_is_fitted_with_an_interval(models: dict[str, bytes]) -> None:
    e = estimate_operators(models["conv_int8"], load_board("nucleo_l4r5zi"))
    assert e.source == "edgemark-l4r5zi-o3-cmsisnn" and e.latency_source == "estimate"
    assert [op.type for op in e.operators] == ["CONV_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX"]
    assert {op.basis for op in e.operators} == {"fitted"} and not e.transferred and not e.extrapolated
    assert e.low_us < e.latency_us < e.high_us
    assert sum(op.us for op in e.operators) + e.overhead_us == pytest.approx(e.latency_us)
    assert e.operators[0].macs == 8 * 8 * 8 * 9
    assert "70 published rows" in e.calibration


def test_conv_on_the_nano_says_it_is_transferred(models: dict[str, bytes]) -> None:
    e = estimate_operators(models["conv_int8"], load_board("nano33ble"))
    assert e.source == "sudharsan2021-nano33"  # the Nano 33's source for nets outside the study
    assert any("CONV_2D int8" in t for t in e.transferred)
    assert "transferred" in e.summary() and "transferred" in e.provenance
    assert e.high_us / e.low_us > 2  # a transfer gets a wide interval


def test_study_dense_net_on_the_nano_is_priced_on_the_studys_source(models: dict[str, bytes]) -> None:
    """The study's 1-16-16-1 is one of its three given points (192.34 us): the dense-net
    formula's four prices, fitted on three rows, pass through it."""
    e = estimate_operators(models["dense_float32"], load_board("nano33ble"))
    assert e.latency_us == pytest.approx(192.34, rel=1e-6)
    assert e.method == "v2 per-operator" and e.source == "dokic2020-nano33ble" and e.low_us < e.latency_us < e.high_us
    assert "dense-net formula" in e.fit and "the study's 3 timings" in e.calibration
    assert sum(op.us for op in e.operators) + e.overhead_us == pytest.approx(e.latency_us)


def test_int8_study_net_on_the_nano_transfers_the_dtype_and_says_so(models: dict[str, bytes]) -> None:
    int8 = convert_mode(build_layers(DENSE), "int8")
    e = estimate_operators(int8, load_board("nano33ble"))
    assert e.source == "dokic2020-nano33ble" and any("FULLY_CONNECTED int8" in t for t in e.transferred)
    assert e.transferred_macs_share == pytest.approx(1.0)


def test_unknown_calibration_source_is_a_config_error(models: dict[str, bytes]) -> None:
    board = replace(load_board("nano33ble"), name="mystery_board", latency_calibration="nowhere")
    with pytest.raises(ConfigError, match="no latency calibration 'nowhere' for board 'mystery_board'"):
        estimate_operators(models["dense_float32"], board)


def test_a_board_may_name_any_v2_source(models: dict[str, bytes]) -> None:
    board = replace(load_board("nano33ble"), latency_calibration="sudharsan2021-nano33")
    e = estimate_operators(models["dense_float32"], board)
    assert e.source == "sudharsan2021-nano33" and e.method == "v2 per-operator"


def _dense(width: int) -> dict:
    return {"input_shape": [1], "layers": [{"type": "Dense", "units": width, "activation": "relu"},
                                           {"type": "Dense", "units": width, "activation": "relu"},
                                           {"type": "Dense", "units": 1}]}


def test_a_model_far_beyond_its_sources_networks_is_labelled_not_changed(models: dict[str, bytes]) -> None:
    """Issue 11: 5-15x the MACs of any calibrated net went unflagged. The study's largest
    calibrated net is 1-256-256-1 (66,048 MACs); 1-768-768-1 has 591,360."""
    board = load_board("nano33ble")
    wide = convert_mode(build_layers(_dense(768)), "float32")
    e = estimate_operators(wide, board)
    assert not e.size_range.within and e.size_range.high_macs == 66_048 and e.size_range.macs == 591_360
    assert "beyond its calibration (9.0x the largest calibrated network's MACs)" in e.summary()
    assert "beyond its calibration: 591,360 MACs, 9.0x the largest network calibrated on dokic2020-nano33ble" \
        in e.provenance
    # The label changes nothing: the study's table's figure for n=768 (v1's formula on the
    # study's timings, before v1 was folded into the v2 model) stands.
    assert e.latency_us == pytest.approx(201_160.956, rel=1e-6)

    small = estimate_operators(models["dense_float32"], board)  # 1-16-16-1: the study's smallest
    assert small.size_range.within and "calibration" not in small.summary().split(" on ")[-1]
    conv_nano = estimate_operators(models["conv_int8"], board)  # Sudharsan 2021's nets: 70-1,220 MACs
    assert not conv_nano.size_range.within and "beyond its calibration" in conv_nano.summary()
    assert estimate_operators(models["conv_int8"], load_board("nucleo_l4r5zi")).size_range.within


def test_a_model_far_below_its_sources_networks_is_labelled(models: dict[str, bytes]) -> None:
    tiny = convert_mode(build_layers(_dense(2)), "float32")  # 8 MACs against the study's 288
    e = estimate_operators(tiny, load_board("nano33ble"))
    assert not e.size_range.within and "below its calibration" in e.summary()
