"""Board descriptions (conf/board/*.yaml) for tools that run outside a Hydra run.

The estimate CLI, calibrate, the virtual board process and doctor name a board and need its
clock, limits and latency calibration without composing the whole Hydra config. They read
the same YAML into the same schema (:class:`~tinyexp.core.config.BoardConfig`) a run is
resolved into, with the checks Hydra would make (no unknown key, each value of its field's
type), so the two cannot drift apart; the name is looked up by those tools, at their edge.
"""

from __future__ import annotations

import typing
from typing import Any, Mapping

import yaml

from tinyexp.core.config import BoardConfig
from tinyexp.core.errors import ConfigError
from tinyexp.core.resources import conf_dir

BOARD_DIR = conf_dir() / "board"


def available_boards() -> list[str]:
    """Names of the boards described in conf/board/, sorted."""
    return sorted(path.stem for path in BOARD_DIR.glob("*.yaml"))


def load_board(name: str) -> BoardConfig:
    """The board conf/board/<name>.yaml describes, checked against the BoardConfig schema."""
    boards = available_boards()
    if name not in boards:
        raise ConfigError(
            f"unknown board {name!r}: available boards are {', '.join(boards) or 'none'}"
            f" (conf/board/*.yaml)")
    path = BOARD_DIR / f"{name}.yaml"
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"invalid board file {path}: {exc}".replace("\n", " ")) from exc
    return board_from_mapping(data, str(path))


def _accepts(hint: Any, value: Any) -> bool:  # noqa: ANN401 - a field's type and any value
    """Whether ``value`` is of the field's type (a bool is no int; Optional allows None)."""
    if typing.get_origin(hint) is typing.Union:
        return any(_accepts(arm, value) for arm in typing.get_args(hint))
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:  # YAML writes 3.3 V as a float and 5 V as an int
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    origin = typing.get_origin(hint)
    if origin is dict:
        key_type, value_type = typing.get_args(hint)
        return isinstance(value, dict) and all(_accepts(key_type, k) and _accepts(value_type, v)
                                               for k, v in value.items())
    return isinstance(value, hint)


def board_from_mapping(data: Any, source: str) -> BoardConfig:  # noqa: ANN401 - parsed YAML/JSON
    """A board description (parsed YAML or JSON) as a BoardConfig; a key outside the schema
    or a value of the wrong type is a ConfigError naming ``source`` and the key."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"invalid board file {source}: not a mapping of board fields")
    hints = typing.get_type_hints(BoardConfig)
    for key, value in data.items():
        if key not in hints:
            raise ConfigError(f"invalid board file {source}: {key}: unknown key; allowed keys are "
                              + ", ".join(sorted(hints)))
        if not _accepts(hints[key], value):
            raise ConfigError(f"invalid board file {source}: {key}={value!r} is not of type "
                              f"{getattr(hints[key], '__name__', str(hints[key]))}")
    return BoardConfig(**data)

