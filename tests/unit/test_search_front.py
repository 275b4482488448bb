"""The front's latency labels: each trial's own source and interval; the estimate's interval
is never shown or drawn around a measured latency."""

from __future__ import annotations

from pathlib import Path

import optuna

from tinyexp.search import front
from tinyexp.search.figure import _xerr, front_figure
from tinyexp.search.space import parse_spec

SPEC = parse_spec({"objectives": ["mse", "latency_ms"], "params": {"model.neurons": {"choices": [4, 8]}},
                   "limits": {"latency_ms": 0.1}}, "unit")
ESTIMATE = {front.LATENCY_LOW_ATTR: 0.02, front.LATENCY_HIGH_ATTR: 0.09}  # the screen's, before training


def _trial(number: int, latency_ms: float, **attrs: object) -> optuna.trial.FrozenTrial:
    trial = optuna.trial.create_trial(params={"model.neurons": "4"}, values=[0.1, latency_ms], user_attrs=attrs,
                                      distributions={"model.neurons": optuna.distributions.CategoricalDistribution(
                                          ["4", "8"])})
    trial.number = number
    return trial


def test_a_measured_row_shows_the_boards_spread_and_an_estimated_row_its_80_percent_interval() -> None:
    measured = _trial(0, 0.07, **ESTIMATE, latency_source="measured", measured_min_ms=0.068, measured_max_ms=0.075,
                      latency_flag="80% interval straddles", run_id="a" * 32)
    estimated = _trial(1, 0.05, **ESTIMATE, latency_source="estimate", run_id="b" * 32)
    bare = _trial(2, 0.06, **ESTIMATE, latency_source="measured", run_id="c" * 32)  # no min/max logged
    table = front.front_table(SPEC, [measured, estimated, bare]).as_log_table()
    assert "latency (estimate/measured) [ms]" in table
    assert table["latency source"] == ["measured", "estimate", "measured"]
    assert table["latency interval [ms]"] == ["0.068-0.075 (measured min-max)", "0.02-0.09 (estimate's 80%)", "-"]
    assert table["flag"][0] == "estimate straddles limit, then measured"
    assert _xerr([measured, bare], [0.07, 0.06]) == [[0.07 - 0.068, 0.0], [0.075 - 0.07, 0.0]]


def test_the_figure_draws_measured_and_estimated_trials(tmp_path: Path) -> None:
    trials = [_trial(0, 0.07, latency_source="measured", measured_min_ms=0.07, measured_max_ms=0.07),
              _trial(1, 0.05, **ESTIMATE)]
    drawn = front_figure(SPEC, trials, trials[:1], tmp_path / "front.png")
    assert drawn is not None and drawn.stat().st_size > 0
