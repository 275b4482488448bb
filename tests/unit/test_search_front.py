"""The search's front, computed once (search/front.py) for the Optuna study and for a report
from the trials' runs: the same trials as Optuna's own front, a run read back as its trial, and
each trial's own latency source and interval (the estimate's interval is never shown or drawn
around a measured latency)."""

from __future__ import annotations

import random
from pathlib import Path

import optuna
import yaml

from tinyexp.core.names import Metric, Tag
from tinyexp.search import front as front_mod
from tinyexp.search.figure import _xerr, front_figure
from tinyexp.search.report_section import run_trial
from tinyexp.search.space import parse_spec, spec_from_json, spec_json
from tinyexp.tracking.report_runs import TrialRun

ROOT = Path(__file__).resolve().parents[2]
SPEC = parse_spec({"objectives": ["accuracy", "latency_ms", "model_bytes"], "limits": {"latency_ms": 1.0},
                   "params": {"model.neurons": {"int": [4, 64]}}}, "t")


def _study(seed: int) -> optuna.Study:
    """Random values on a coarse grid (ties and duplicates happen), some over the limit."""
    rng = random.Random(seed)
    study = optuna.create_study(directions=SPEC.directions)
    for _ in range(40):
        trial = study.ask()
        values = [rng.choice([0.5, 0.7, 0.9]), rng.choice([0.2, 0.8, 1.5]), float(rng.choice([1000, 2000, 3000]))]
        for key, value in front_mod.violations(values[1], SPEC, accuracy=values[0]).items():
            trial.set_constraint(key, value)
        study.tell(trial, values)
    return study


def test_the_front_is_optunas_front() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for seed in range(5):
        study = _study(seed)
        ours = front_mod.pareto_front(SPEC, study.get_trials(deepcopy=False))
        assert ours and sorted(t.number for t in ours) == sorted(t.number for t in study.best_trials)
        assert all(t.values[1] <= 1.0 for t in ours)  # over the latency limit: never on the front


def test_every_preset_round_trips_through_its_json() -> None:
    for path in sorted((ROOT / "conf" / "search").glob("*.yaml")):
        spec = parse_spec(yaml.safe_load(path.read_text()), path.stem)
        assert spec_from_json(spec_json(spec)) == spec


def test_a_run_reads_back_as_its_trial() -> None:
    run = TrialRun("abcdef0123456789", {Tag.SEARCH_TRIAL: "3", Tag.SEARCH_PARAMS: '{"model.neurons": 8}',
                                        Tag.LATENCY_SOURCE: "estimate"},
                   {Metric.TEST_ACCURACY: 0.9, Metric.LATENCY_US: 1500.0, Metric.MODEL_BYTES: 2048.0,
                    Metric.LATENCY_ESTIMATE_LOW_US: 1000.0, Metric.LATENCY_ESTIMATE_HIGH_US: 2000.0})
    trial = run_trial(SPEC, run)
    assert trial is not None and trial.number == 3 and trial.values == (0.9, 1.5, 2048.0)
    assert trial.constraints["latency_ms_over"] == 0.5  # over the 1 ms limit: off the front
    assert front_mod.pareto_front(SPEC, [trial]) == []
    row = front_mod.front_table(SPEC, [trial]).rows[0]
    assert row == ("3", "0.9", "1.5", "2048", "estimate", "1-2 (estimate's 80%)", "", "abcdef01", "model.neurons=8")
    assert run_trial(SPEC, TrialRun("x", run.tags, {Metric.TEST_ACCURACY: 0.9})) is None  # no latency: failed


LATENCY_SPEC = parse_spec({"objectives": ["mse", "latency_ms"], "params": {"model.neurons": {"choices": [4, 8]}},
                   "limits": {"latency_ms": 0.1}}, "unit")
ESTIMATE = {front_mod.LATENCY_LOW_ATTR: 0.02, front_mod.LATENCY_HIGH_ATTR: 0.09}  # the screen's, before training


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
    table = front_mod.front_table(LATENCY_SPEC, [measured, estimated, bare]).as_log_table()
    assert "latency (estimate/measured) [ms]" in table
    assert table["latency source"] == ["measured", "estimate", "measured"]
    assert table["latency interval [ms]"] == ["0.068-0.075 (measured min-max)", "0.02-0.09 (estimate's 80%)", "-"]
    assert table["flag"][0] == "estimate straddles limit, then measured"
    assert _xerr([measured, bare], [0.07, 0.06]) == [[0.07 - 0.068, 0.0], [0.075 - 0.07, 0.0]]


def test_the_figure_draws_measured_and_estimated_trials(tmp_path: Path) -> None:
    trials = [_trial(0, 0.07, latency_source="measured", measured_min_ms=0.07, measured_max_ms=0.07),
              _trial(1, 0.05, **ESTIMATE)]
    drawn = front_figure(LATENCY_SPEC, trials, trials[:1], tmp_path / "front.png")
    assert drawn is not None and drawn.stat().st_size > 0
