"""The search's front, computed once (search/front.py) for the Optuna study and for a report
from the trials' runs: the same trials as Optuna's own front, and a run read back as its trial."""

from __future__ import annotations

import random
from pathlib import Path

import optuna
import yaml

from tinyexp.core.names import Metric, Tag
from tinyexp.search import front as front_mod
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
    assert row == ("3", "0.9", "1.5", "2048", "1-2", "", "abcdef01", "model.neurons=8")
    assert run_trial(SPEC, TrialRun("x", run.tags, {Metric.TEST_ACCURACY: 0.9})) is None  # no latency: failed
