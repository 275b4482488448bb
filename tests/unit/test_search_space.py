"""A search's declaration (space, objectives, limits) and the rule that prunes before training."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from tinyexp.core.errors import ConfigError, TinyexpError
from tinyexp.search.screen import Screen, latency_flag, prune_reason
from tinyexp.search.space import Limits, as_overrides, parse_spec, suggest
from tinyexp.search.study import check_storage, default_storage, open_study

ROOT = Path(__file__).resolve().parents[2]


def _spec(**changes: object) -> dict:
    base = {"objectives": ["mse", "latency_ms"], "params": {
        "model.neurons": {"int": [4, 64], "log": True},
        "quant": {"choices": ["float32", "int8"]},
        "quant.per_channel": {"choices": [False, True], "when": {"quant": "int8"}},
        "model.widths": {"choices": [[16, 8], [4]]},
        "train.learning_rate": {"float": [0.001, 0.01], "log": True}}}
    base.update(changes)
    return base


def test_every_preset_parses() -> None:
    presets = sorted((ROOT / "conf" / "search").glob("*.yaml"))
    assert len(presets) >= 2
    for path in presets:
        spec = parse_spec(yaml.safe_load(path.read_text()), path.stem)
        assert spec.params and spec.objectives


def test_conditional_key_only_when_its_condition_holds() -> None:
    spec = parse_spec(_spec(), "t")
    int8 = suggest(spec, optuna.trial.FixedTrial({"model.neurons": 8, "quant": "int8", "quant.per_channel": "true",
                                                  "model.widths": "[16,8]", "train.learning_rate": 0.002}))
    float32 = suggest(spec, optuna.trial.FixedTrial({"model.neurons": 8, "quant": "float32",
                                                     "model.widths": "[4]", "train.learning_rate": 0.002}))
    assert as_overrides(int8) == ["model.neurons=8", "quant=int8", "quant.per_channel=true", "model.widths=[16,8]",
                                  "train.learning_rate=0.002"]
    assert "quant.per_channel" not in float32


@pytest.mark.parametrize("change, message", [
    ({"params": {"model.neurons": {"int": [64, 4]}}}, "empty range"),
    ({"params": {"quant": {"choices": []}}}, "empty range"),
    ({"params": {"train.learning_rate": {"float": [0, 0.1], "log": True}}}, "log range needs low > 0"),
    ({"params": {"model.neurons": {"int": [4, 8], "float": [1, 2]}}}, "exactly one of"),
    ({"params": {"model.neurons": {"ints": [4, 8]}}}, "unknown key"),
    ({"params": {"quant.per_channel": {"choices": [True], "when": {"quant": "int8"}}}},
     "not a parameter declared before"),
    ({"params": {}}, "the space is empty"),
    ({"objectives": ["speed"]}, "search.objectives"),
    ({"limits": {"latency_ms": -1}}, "must be positive"),
    ({"limits": {"latency": 1}}, "unknown key"),
    ({"sampler": "grid"}, "allowed values are"),
    ({"id": "a b"}, "search.id"),
    ({"trials": 0}, "integer >= 1"),
])
def test_bad_declarations_are_one_line(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_spec(_spec(**change), "t")
    assert "\n" not in str(err.value)


def _screen(**changes: object) -> Screen:
    fields = {"model_bytes": 3000, "arena_bytes": 1000, "tflm_refusal": None, "flash_needed": 3000,
              "flash_limit": 983040, "ram_needed": 1000, "ram_limit": 262144, "fit_basis": "model_only",
              "latency_ms": 1.0, "latency_low_ms": 0.5, "latency_high_ms": 2.0}
    fields.update(changes)
    return Screen(**fields)


def test_whole_interval_above_the_limit_is_pruned_straddling_is_kept_and_flagged() -> None:
    assert "wholly above the 0.4 ms limit" in prune_reason(_screen(), Limits(latency_ms=0.4))
    straddling = Limits(latency_ms=1.5)
    assert prune_reason(_screen(), straddling) is None
    assert "straddles the 1.5 ms limit" in latency_flag(_screen(), straddling)
    relaxed = Limits(latency_ms=3)
    assert prune_reason(_screen(), relaxed) is None and latency_flag(_screen(), relaxed) is None
    assert latency_flag(_screen(), Limits()) is None


def test_flash_ram_and_tflm_refusal_prune() -> None:
    assert "needs 5000 B of flash, the limit is 4000 B" in prune_reason(_screen(flash_needed=5000, flash_limit=4000),
                                                                         Limits())
    assert "B of RAM" in prune_reason(_screen(ram_needed=300000), Limits())
    assert prune_reason(_screen(ram_needed=None), Limits()) is None  # an arena TFLM could not size is no proof
    assert prune_reason(_screen(tflm_refusal="no kernel for X"), Limits()).startswith("TFLM cannot run it")


def test_an_unpriced_latency_is_kept_and_flagged_under_a_latency_limit() -> None:
    s = _screen(latency_ms=None, latency_low_ms=None, latency_high_ms=None, estimate_problem="unknown op")
    assert prune_reason(s, Limits(latency_ms=1)) is None
    assert "not estimated" in latency_flag(s, Limits(latency_ms=1))


def test_study_lives_beside_a_local_store_and_a_server_needs_one_named() -> None:
    assert default_storage("sqlite:////data/mlruns/mlflow.db") == "sqlite:////data/mlruns/optuna.db"
    with pytest.raises(ConfigError, match="search.storage="):
        default_storage("http://127.0.0.1:5000")


@pytest.mark.parametrize("storage, words", [("ftp://host/x", "Can't load plugin"),
                                            ("not a url", "Could not parse"),
                                            ("mysql://u@127.0.0.1/db", "No module named")])
def test_a_study_database_sqlalchemy_cannot_open_is_refused_before_work(storage: str, words: str) -> None:
    with pytest.raises(ConfigError, match=f"search.storage={storage!r} is invalid: .*{words}") as info:
        check_storage(storage)
    assert "\n" not in str(info.value)
    check_storage("sqlite:////data/mlruns/optuna.db")  # a URL it can open passes (nothing is opened yet)


def test_a_study_database_that_cannot_be_reached_is_one_line() -> None:
    """A PostgreSQL URL to a port nothing listens on: the server is down, not the input bad."""
    with pytest.raises(TinyexpError, match="the study's database cannot be opened .*OperationalError") as info:
        open_study(parse_spec(_spec(), "s"), "s", "postgresql://u@127.0.0.1:1/db")
    assert not isinstance(info.value, ConfigError) and "\n" not in str(info.value)


def test_one_parameter_may_set_several_keys() -> None:
    spec = parse_spec(_spec(params={"width": {"choices": [8, 16], "keys": ["model.layers.0.filters",
                                                                           "model.layers.2.filters"]}}), "t")
    chosen = suggest(spec, optuna.trial.FixedTrial({"width": "16"}))
    assert as_overrides(chosen, spec) == ["model.layers.0.filters=16", "model.layers.2.filters=16"]
