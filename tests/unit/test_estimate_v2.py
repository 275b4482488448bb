"""The v2 per-operator latency model: its shipped data, its fits, and what an estimate says."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from tinyexp.core.errors import TinyexpError
from tinyexp.estimate.calibration import calibration_ops
from tinyexp.estimate.calibration_cache import shipped_calibration
from tinyexp.estimate.price_fit import fit_full, fit_profiled
from tinyexp.estimate.opcost import model_features, operator_features
from tinyexp.estimate.predict import Bounds, SourceModel, price_model
from tinyexp.estimate.rebuild import differences
from tinyexp.estimate.calibration_rows import Row, architectures, cached_operators, published_rows
from tinyexp.tflm.operators import Operator, Tensor, total_macs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def test_every_row_has_a_rebuilt_operator_list_with_the_published_macs() -> None:
    ops = cached_operators()
    for row in published_rows():
        assert row.key in ops, row.key
        assert total_macs(ops[row.key]) == architectures()[row.architecture]["reference_macs"], row.key


def test_cache_matches_a_fresh_rebuild() -> None:
    # A dense net and a conv net with float I/O: a converter or builder change shows.
    assert differences([("FC_3", "int8"), ("CNN_1", "int8_float_io")]) == []


def _op(index: int, kind: str, dtype: str, macs: int = 0, outputs: int = 1, inputs: int = 1) -> Operator:
    shape = (1, outputs)
    return Operator(index, kind, dtype, (Tensor((1, inputs), dtype),), Tensor(shape, dtype), None, macs, 0,
                    inputs, outputs, inputs, outputs, 1, (1, 1))


def _synthetic(prices: dict[str, float], nets: list[list[Operator]], source: str = "synthetic") -> list[Row]:
    rows = []
    for i, ops in enumerate(nets):
        features = model_features(ops)
        cycles = sum(prices.get(name, 0.0) * value for name, value in features.items())
        rows.append(Row(source, "b", 1_000_000, "test", "float32", f"net{i}", cycles, "test", "synthetic"))
    return rows


def test_full_fit_recovers_known_prices() -> None:
    prices = {"invoke": 500.0, "per_operator": 80.0, "FULLY_CONNECTED/float32:macs": 3.0,
              "FULLY_CONNECTED/float32:outputs": 20.0}
    nets = [[_op(j, "FULLY_CONNECTED", "float32", macs=w * (j + 1), outputs=w) for j in range(n)]
            for n, w in [(1, 4), (2, 16), (3, 8), (4, 64), (2, 100), (5, 3), (1, 300)]]
    rows = _synthetic(prices, nets)
    by_key = {r.key: ops for r, ops in zip(rows, nets)}
    fit = fit_full(rows, lambda r: by_key[r.key])
    for name, value in prices.items():
        assert fit.prices[name] == pytest.approx(value, rel=1e-6), name


def test_profiled_fit_prices_operators_from_their_own_times() -> None:
    per_op = {"per_operator": 50.0, "CONV_2D/int8:macs": 1.5, "ADD/int8:outputs": 4.0}
    nets = [[_op(0, "CONV_2D", "int8", macs=900 * k, outputs=30 * k), _op(1, "ADD", "int8", outputs=30 * k)]
            for k in (1, 2, 5)]
    rows, profiles = [], {}
    for i, ops in enumerate(nets):
        times = [sum(per_op.get(n, 0.0) * v for n, v in operator_features(op).items()) for op in ops]
        row = Row("s", "b", 1_000_000, "t", "int8", f"n{i}", sum(times) + 700.0, "t", "o")
        rows.append(row)
        profiles[row.key] = (ops, times)
    fit = fit_profiled(rows, lambda r: profiles[r.key][0], lambda r: profiles[r.key][1])
    assert fit.prices["CONV_2D/int8:macs"] == pytest.approx(1.5, rel=1e-6)
    assert fit.prices["invoke"] == pytest.approx(700.0, rel=1e-6)


def test_bounds_from_residuals() -> None:
    many = Bounds.from_residuals(np.linspace(-0.2, 0.2, 41))
    assert many.lo == pytest.approx(-0.17) and many.hi == pytest.approx(0.17)  # 4th from each end of 41
    few = Bounds.from_residuals([0.05, -0.2])
    assert few.lo == pytest.approx(-0.3) and few.hi == pytest.approx(0.3)
    assert Bounds.from_residuals([]).hi == pytest.approx(math.log(1.1))


def test_an_operator_no_source_can_price_is_refused_by_name() -> None:
    cal = shipped_calibration()
    model = cal.model("edgemark-l4r5zi-o3-cmsisnn")
    with pytest.raises(TinyexpError, match=r"100% of the estimate .* \(TANH \(float64\)\)"):
        price_model(model, [_op(0, "TANH", "float64", inputs=8, outputs=8)], cal.ops_of)


def test_an_uncovered_operator_type_is_extrapolated_and_labelled() -> None:
    cal = shipped_calibration()
    model = cal.model("edgemark-l4r5zi-o3-cmsisnn")
    total, bounds, priced = price_model(model, [_op(0, "TANH", "float32", inputs=64, outputs=64)], cal.ops_of)
    assert priced[0].basis == "extrapolated" and "TANH float32" in priced[0].detail
    assert priced[0].bounds.lo <= math.log(0.5) and priced[0].bounds.hi >= math.log(2.0)
    assert bounds.lo < 0 < bounds.hi and total > 0


def test_in_sample_prices_reproduce_the_reference_rows_closely() -> None:
    cal = shipped_calibration()
    errors = [abs(p.error_pct) for p in cal.in_sample("edgemark-l4r5zi-o3-cmsisnn")]
    assert np.median(errors) < 5.0


def test_a_model_priced_on_a_scaled_source_uses_its_own_rows() -> None:
    cal = shipped_calibration()
    model: SourceModel = cal.model("edgemark-l4r5zi-os")
    row = cal.groups["edgemark-l4r5zi-os"][0]
    total, _, priced = price_model(model, calibration_ops(row), cal.ops_of)
    assert all(p.basis == "fitted" for p in priced)
    assert total == pytest.approx(row.cycles, rel=0.3)


def test_validate_prints_the_v2_table(capsys: pytest.CaptureFixture) -> None:
    from tinyexp.estimate.cli import main

    assert main(["--validate"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("edgemark-l4r5zi-o3-cmsisnn ")]
    assert " 70 full " in lines[0] and len(lines) == 1 + 3  # its LOO line, then one per held-out family
    assert "target (LOO >= 90% of rows within 15% in every source with >= 10 rows)" in out
    assert out.index("leave-one-row-out") < out.index("leave-one-family-out") < out.index("pooled: ")


@pytest.mark.parametrize("text, message", [
    ("{not json", "is not JSON"),
    ('{"format": "something-else"}', "is not a tinyexp-latency-calibration/1 file"),
    ('{"format": "tinyexp-latency-calibration/1", "source": "s", "board": "b", "clock_hz": 1, "runs": []}',
     "has no runs"),
    ('{"format": "tinyexp-latency-calibration/1", "source": "s", "board": "b", "clock_hz": 1, "runs": [{}]}',
     "is damaged"),
])
def test_a_bad_calibration_file_is_one_line(tmp_path, text: str, message: str) -> None:  # noqa: ANN001
    from tinyexp.estimate.calibration_file import read_calibration

    path = tmp_path / "cal.json"
    path.write_text(text)
    with pytest.raises(TinyexpError, match=message) as info:
        read_calibration(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_missing_board_calibration_file_is_a_config_error(tmp_path) -> None:  # noqa: ANN001
    from tinyexp.core.config import BoardConfig
    from tinyexp.core.errors import ConfigError
    from tinyexp.estimate.per_operator import estimate_operators

    board = BoardConfig(name="b", clock_hz=1_000_000, calibration=str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="board.calibration="):
        estimate_operators(b"", board)


def _reference_model() -> SourceModel:
    return shipped_calibration().model("edgemark-l4r5zi-o3-cmsisnn")


def test_shape_operators_of_a_free_batch_are_priced_as_copies_with_a_wide_interval() -> None:
    """SHAPE, STRIDED_SLICE and PACK on int32 scalars (Flatten with a free batch dimension):
    no source measured them; each is priced as a copy of its few elements, labelled."""
    from tinyexp.estimate.predict import DATA_MOVEMENT_BOUNDS

    cal = shipped_calibration()
    net = [_op(0, "FULLY_CONNECTED", "float32", macs=640, outputs=64, inputs=10), _op(1, "SHAPE", "float32", inputs=64),
           _op(2, "STRIDED_SLICE", "int32", inputs=4), _op(3, "PACK", "int32", inputs=2)]
    total, bounds, priced = price_model(_reference_model(), net, cal.ops_of)
    fc, *shape_ops = priced
    assert fc.basis == "fitted"
    for p in shape_ops:
        assert p.basis == "extrapolated" and "(a copy of its input)" in p.detail and not p.unpriced
        assert p.bounds.lo <= DATA_MOVEMENT_BOUNDS[0] and p.bounds.hi >= DATA_MOVEMENT_BOUNDS[1]
        assert 0 < p.cycles < fc.cycles
    assert bounds.hi - bounds.lo > _reference_model().bounds.hi - _reference_model().bounds.lo


def test_unpriced_operators_are_refused_only_when_they_dominate() -> None:
    """An element-wise operator with no like operator anywhere gets the generic price while it
    is a small part of the model; the estimate is refused, naming it and its share, when not."""
    cal = shipped_calibration()
    big_fc = _op(0, "FULLY_CONNECTED", "float32", macs=200_000, outputs=200, inputs=1000)
    odd = _op(1, "SOME_FUTURE_OP", "int32", inputs=10)
    _, _, priced = price_model(_reference_model(), [big_fc, odd], cal.ops_of)
    assert priced[1].unpriced and "generic element-wise work" in priced[1].detail
    small_fc = _op(0, "FULLY_CONNECTED", "float32", macs=4, outputs=2, inputs=2)
    heavy = _op(1, "SOME_FUTURE_OP", "int32", inputs=100_000)
    with pytest.raises(TinyexpError, match=r"no latency estimate: \d+% of the estimate would be operators with no "
                                           r"calibration nor a like operator \(SOME_FUTURE_OP \(int32\)\)"):
        price_model(_reference_model(), [small_fc, heavy], cal.ops_of)


def test_leave_one_family_out_intervals_cover_at_least_80_percent() -> None:
    """A family held out is priced as a user's unseen family would be (transferred from a
    source that has it, widened for distance); its 80% intervals must hold 80% of its rows."""
    from tinyexp.estimate.validate import TARGET_COVERAGE, family_out_table

    lines, pooled = family_out_table(shipped_calibration())
    assert pooled >= TARGET_COVERAGE
    assert lines[-1].startswith("pooled: 303 rows") and "(target >= 80%: met)" in lines[-1]


def test_an_interval_widens_with_the_distance_from_the_sources_networks() -> None:
    """The same source, the same operator type: a FULLY_CONNECTED 100x beyond the largest its
    rows held gets a wider interval than one inside them."""
    cal = shipped_calibration()
    model = cal.model("dokic2020-nano33ble")  # FCs of 16 to 65,536 MACs
    inside = price_model(model, [_op(0, "FULLY_CONNECTED", "float32", macs=4096, outputs=64, inputs=64)], cal.ops_of)
    beyond = price_model(model, [_op(0, "FULLY_CONNECTED", "float32", macs=6_553_600, outputs=2560, inputs=2560)],
                         cal.ops_of)
    assert beyond[1].hi - beyond[1].lo > inside[1].hi - inside[1].lo + 0.5
