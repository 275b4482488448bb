"""The multirun form of a search (`python -m tinyexp -m hydra/sweeper=search ...`): the command
line Hydra gets hands the search's arguments to the sweeper unchanged, and what the sweeper
cannot take is one line before any work."""

from __future__ import annotations

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from tinyexp.cli.search_cmd import (SWEEPER, is_search_multirun, multirun_argv, refuse_search_arguments,
                                    search_arguments)
from tinyexp.core.errors import ConfigError

SEARCH_ARGS = ["search=cnn_digits", "search.trials=6", "train.epochs=3", "search.limits.latency_ms=2.5",
               "search.id=it's", "search.storage=sqlite:///C:\\runs\\", "model.widths=[8,16]",
               "tracking.experiment=a b,c", "search.id=\\'x\\\\'", "board=café"]


def test_hydra_keeps_its_own_arguments_and_the_sweeper_gets_the_rest_verbatim() -> None:
    argv = ["-m", SWEEPER, SEARCH_ARGS[0], "hydra.sweep.dir=out", *SEARCH_ARGS[1:]]
    hydra_argv = multirun_argv(argv)
    assert hydra_argv[:3] == ["-m", SWEEPER, "hydra.sweep.dir=out"]
    assert search_arguments(argv) == SEARCH_ARGS
    (handed,) = OverridesParser.create().parse_overrides(hydra_argv[3:])
    assert handed.key_or_group == "hydra.sweeper.argv" and handed.value() == SEARCH_ARGS


@pytest.mark.parametrize("arg, message", [
    ("hydra/launcher=joblib", "hydra/launcher=joblib: a search runs its trials itself"),
    ("search.id=${now:%H}", "search.id=${now:%H}: an interpolation cannot be handed to the search sweeper"),
])
def test_what_the_sweeper_cannot_take_is_refused(arg: str, message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("$", r"\$").replace("{", r"\{")):
        multirun_argv(["-m", SWEEPER, "search=dense_sine", arg])


def test_the_sweep_callbacks_know_a_search() -> None:
    def hydra(choice: str) -> object:
        return OmegaConf.create({"runtime": {"choices": {"hydra/sweeper": choice}}})

    assert is_search_multirun(hydra("search")) and not is_search_multirun(hydra("basic"))


def test_a_search_argument_outside_a_search_says_how_to_start_one() -> None:
    refuse_search_arguments(["model.neurons=4", "sweep.id=x"])
    with pytest.raises(ConfigError, match=f"^search=cnn_digits: not a job key.*-m {SWEEPER} search=cnn_digits"):
        refuse_search_arguments(["train.epochs=3", "search=cnn_digits"])
