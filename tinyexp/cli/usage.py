"""What `tinyexp --help` says: the commands and the config groups a user chooses from.

Hydra's own help page lists every option its ConfigStore holds, including the typed schemas
tinyexp registers as `<option>_schema` (internal: the structure Hydra merges a YAML option
onto). A user chooses from the YAML files of conf/ (and of their own --config-dir), so those
are what this page lists and what :func:`refuse_internal_options` allows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from tinyexp.core.errors import ConfigError
from tinyexp.core.resources import conf_dir

INTERNAL_SUFFIX = "_schema"

COMMANDS = (
    ("(none)", "run one job, or a sweep with -m: train, convert, deploy, measure, log to MLflow",
     "tinyexp model.neurons=64 quant=int8"),
    ("report", "tables and figures of a sweep's runs (reports/<sweep>/)",
     "tinyexp report sweep.id=paper"),
    ("doctor", "store, cache, toolchain and board: one line each",
     "tinyexp doctor board=nucleo_l4r5zi"),
    ("package", "a run's model package for your own firmware (docs/package.md)",
     "tinyexp package RUN_ID --out mymodel/"),
    ("calibrate", "fit a board's own latency source from its measured runs",
     "tinyexp calibrate board=myboard out=myboard.json"),
    ("search", "the best network under a board's latency, flash and RAM limits (Optuna; or -m hydra/sweeper=search)",
     "tinyexp search search=dense_sine search.trials=20"),
)

PLUGIN_OPTIONS = {"hydra/launcher": ("basic", "joblib"), "hydra/sweeper": ("basic",)}  # Hydra's own, not in conf/

GROUP_EXAMPLES = {
    "model": "model=layers", "quant": "quant=int8", "board": "board=nucleo_l4r5zi",
    "device": "device=serial", "dataset": "dataset=digits", "train": "train.epochs=50",
    "tracking": "tracking.uri=http://127.0.0.1:5000", "experiment": "-m experiment=paper",
    "hydra/launcher": "-m hydra/launcher=joblib", "search": "search search=cnn_digits",
    "hydra/sweeper": "-m hydra/sweeper=search search=cnn_digits",
}


def config_groups(search_dirs: Iterable[str] = ()) -> dict[str, list[str]]:
    """Every config group a user chooses from and its options: the YAML files of conf/ and
    of the users' --config-dir directories."""
    groups: dict[str, set[str]] = {}
    for root in (conf_dir(), *map(Path, search_dirs)):
        for path in root.rglob("*.yaml"):
            group = path.parent.relative_to(root).as_posix()
            if group != ".":
                groups.setdefault(group, set()).add(path.stem)
    for group, options in PLUGIN_OPTIONS.items():
        groups.setdefault(group, set()).update(options)
    return {group: sorted(options) for group, options in sorted(groups.items())}


def refuse_internal_options(overrides: Sequence[str], search_dirs: Iterable[str] = ()) -> None:
    """A `group=<option>_schema` choice is a ConfigError naming the options of that group:
    the schemas are how tinyexp types a config, not configs of their own."""
    for override in overrides:
        key, _, value = override.partition("=")
        group = key.lstrip("+~")
        if value.endswith(INTERNAL_SUFFIX) and group in (groups := config_groups(search_dirs)):
            raise ConfigError(f"{group}={value} is invalid: allowed values are " + ", ".join(groups[group]))


def main_help() -> str:
    """The text of `tinyexp --help`."""
    lines = ["usage: tinyexp [COMMAND] [key=value ...] [-m] [--verbose] [--cfg job|hydra|all] [--info] [--hydra-help]",
             "",
             "How fast, how big and how accurate a network is on a microcontroller, as Hydra experiments", "",
             "commands:"]
    lines += [f"  {name:<10} {what}\n  {'':<10}   e.g. {example}" for name, what, example in COMMANDS]
    lines += ["  (every command takes --help)", "", "config groups (group=option; any key: group.key=value):"]
    for group, options in config_groups().items():
        example = GROUP_EXAMPLES.get(group, f"{group}={options[0]}")
        lines.append(f"  {group:<15} {', '.join(options)}\n  {'':<15}   e.g. tinyexp {example}")
    lines += ["", "--verbose: show TensorFlow's C++ and absl logs (off by default; also shown when "
              "TF_CPP_MIN_LOG_LEVEL is set below 3)"]
    lines += ["", "other flags (Hydra's): -m/--multirun sweep over comma-separated values; --cfg job shows the",
              "composed config without running; --info shows where configs come from; --hydra-help for Hydra's own.",
              "docs: README.md, docs/models.md, docs/farm.md, docs/reliability.md"]
    return "\n".join(lines)
