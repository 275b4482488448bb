"""The rows of published_latency_found.csv in the estimator: the Nano 33 BLE's conv, pooling
and softmax prices come from its own board's rows, low-trust rows only check, and 1-D
signals run through k x k kernels are priced on the taps that read the input."""

from __future__ import annotations

import pytest

from tinyexp.estimate.calibration_cache import shipped_calibration
from tinyexp.estimate.opcost import live_fraction, operator_features
from tinyexp.estimate.predict import price_model
from tinyexp.estimate.calibration_rows import (BOARD_LENDERS, CHECKS, V1_SOURCE_NAMES, cached_operators, published_rows,
                                      withheld_dtypes)
from tinyexp.tflm.operators import Operator, Tensor

NANO_SOURCE = V1_SOURCE_NAMES["dokic2020"]  # the nano33ble's source for nets outside the study
NANO_LENDER = "adin2023-nano33ble"
FOUND = {"adin2023-nano33ble": 8, "adin2023-nucleo-l432kc": 7, "adin2023-nucleo-f401re": 7,
         "adin2023-sway-nano33ble": 8}


def test_every_found_row_is_a_row_of_its_source() -> None:
    rows = [r for r in published_rows() if r.origin.startswith("published_latency_found.csv")]
    assert {s: sum(r.source == s for r in rows) for s in FOUND} == FOUND
    assert len(rows) == sum(FOUND.values())


@pytest.mark.parametrize("key", ["PS_conv_v1|float32", "AE_custom_conv|float32"])
def test_the_nanos_conv_pooling_and_softmax_come_from_its_own_board(key: str) -> None:
    """A float32 conv net on the nano33ble's source: CONV_2D, MAX_POOL_2D and SOFTMAX are
    priced on the Nano 33 BLE's own rows (Adin et al., the same board and kernel library,
    x1), not the L4R5ZI's."""
    cal = shipped_calibration()
    ops = cached_operators()[key]
    _, _, priced = price_model(cal.model(NANO_SOURCE), ops, cal.ops_of)
    lender = cal.lenders[NANO_LENDER]
    wanted = [p for p in priced if p.op.type in ("CONV_2D", "MAX_POOL_2D", "SOFTMAX")]
    assert {p.op.type for p in wanted} == {"CONV_2D", "MAX_POOL_2D", "SOFTMAX"}
    for p in wanted:
        assert p.basis == "transferred" and NANO_LENDER in p.detail and "edgemark" not in p.detail, p.detail
        assert p.cycles == pytest.approx(lender.fit.operator_cycles(p.op), rel=1e-12)
    # ...and on the lender itself they are fitted.
    _, _, own = price_model(cal.model(NANO_LENDER), ops, cal.ops_of)
    assert all(p.basis == "fitted" for p in own if p.op.type in ("CONV_2D", "MAX_POOL_2D", "SOFTMAX"))


def test_int8_is_not_lent_where_the_kernel_libraries_differ() -> None:
    """Adin et al.'s int8 ran reference kernels; the nano33ble's firmware runs int8 through
    CMSIS-NN (conf/board/nano33ble.yaml kernels): int8 comes from the L4R5ZI's CMSIS-NN build."""
    assert withheld_dtypes(NANO_LENDER) == {"int8", "int16"}
    cal = shipped_calibration()
    _, _, priced = price_model(cal.model(NANO_SOURCE), cached_operators()["AE_custom_conv|int8_float_io"], cal.ops_of)
    conv = next(p for p in priced if p.op.type == "CONV_2D")
    assert conv.basis == "transferred" and "edgemark-l4r5zi-o3-cmsisnn" in conv.detail and "speed ratio" in conv.detail


def test_low_trust_sources_lend_nothing_and_only_check() -> None:
    lenders = {name for names in BOARD_LENDERS.values() for name in names}
    assert lenders == {NANO_LENDER}
    cal = shipped_calibration()
    checks = cal.checked_on("adin2023-sway-nano33ble", CHECKS["adin2023-sway-nano33ble"])
    assert len(checks) == FOUND["adin2023-sway-nano33ble"]
    assert all(p.low_us < p.predicted_us < p.high_us for p in checks)


def test_a_1d_signal_through_a_square_kernel_is_priced_on_its_live_taps() -> None:
    """AE_custom_conv: a 5x5 kernel over a 1000x1x1 input, SAME padding: one column in five
    reads the input (docs/reference_data_found.md: effective MACs about 40,000 of 200,000)."""
    conv = next(op for op in cached_operators()["AE_custom_conv|float32"] if op.type == "CONV_2D")
    assert conv.macs == 200_000
    assert conv.macs * live_fraction(conv) == 39_952  # 1000 rows: the first two and last two lose taps
    assert operator_features(conv)["CONV_2D/float32:macs"] == pytest.approx(39_952)
    pool = next(op for op in cached_operators()["AE_conv_paper2D|float32"] if op.type == "MAX_POOL_2D")
    assert live_fraction(pool) == pytest.approx(1 / 8)  # an 8x8 window over a width of 1


def _conv(size: int, out: int) -> Operator:
    """A 3x3 float32 conv, 4 -> 4 channels, stride 1, on a size x size image."""
    return Operator(0, "CONV_2D", "float32", (Tensor((1, size, size, 4), "float32"),),
                    Tensor((1, out, out, 4), "float32"), Tensor((4, 3, 3, 4), "float32"), out * out * 144, 148,
                    size * size * 4, out * out * 4, 4, 4, 9, (1, 1))


def test_valid_padding_counts_every_tap_and_same_padding_loses_the_edges() -> None:
    assert live_fraction(_conv(8, 6)) == 1.0  # VALID: every tap reads the input
    # SAME: per axis 8 outputs x 3 taps, of which the first and last output lose one each.
    assert live_fraction(_conv(8, 8)) == pytest.approx((22 / 24) ** 2)
