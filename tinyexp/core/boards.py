"""Board descriptions (conf/board/*.yaml) for tools that run outside a Hydra run.

The estimate CLI and the virtual board need a board's clock, limits and latency calibration
without composing the whole Hydra config; reading the same YAML through the same schema
(:class:`~tinyexp.core.config.BoardConfig`) keeps them from drifting apart from a real run.
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from tinyexp.core.config import BoardConfig
from tinyexp.core.errors import ConfigError
from tinyexp.core.resources import conf_dir

BOARD_DIR = conf_dir() / "board"


def available_boards() -> list[str]:
    """Names of the boards described in conf/board/, sorted."""
    return sorted(path.stem for path in BOARD_DIR.glob("*.yaml"))


def load_board(name: str) -> dict[str, Any]:
    """The board's description as plain data, checked against the BoardConfig schema."""
    boards = available_boards()
    if name not in boards:
        raise ConfigError(
            f"unknown board {name!r}: available boards are {', '.join(boards) or 'none'}"
            f" (conf/board/*.yaml)")
    path = BOARD_DIR / f"{name}.yaml"
    try:
        merged = OmegaConf.merge(OmegaConf.structured(BoardConfig), OmegaConf.load(path))
    except (OmegaConfBaseException, OSError, ValueError) as exc:
        raise ConfigError(f"invalid board file {path}: {exc}".replace("\n", " ")) from exc
    return OmegaConf.to_container(merged, resolve=True)  # type: ignore[return-value]
