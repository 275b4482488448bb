"""Users' board files (``--config-dir DIR`` with ``DIR/board/NAME.yaml``), checked before Hydra
merges them onto the schema's defaults: an empty file, or one without its clock or memory,
would otherwise run silently as the default board (nano33ble's flash, RAM and 64 MHz clock)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import yaml

from tinyexp.core.errors import ConfigError, first_line

REQUIRED_KEYS = ("name", "clock_hz", "flash_bytes", "ram_bytes")


def check_board_files(choices: Iterable[str | None], search_dirs: Sequence[str]) -> None:
    """Every user board file the chosen boards resolve to holds the keys a board needs."""
    for choice in sorted({c for c in choices if c}):
        for folder in search_dirs:
            path = Path(folder) / "board" / f"{choice}.yaml"
            if path.is_file():
                _check_board_file(path)


def _check_board_file(path: Path) -> None:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"board file {path}: cannot read it as YAML ({first_line(str(exc))})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"board file {path} is empty or not a mapping; it needs {', '.join(REQUIRED_KEYS)} "
                          "(see conf/board/nano33ble.yaml)")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise ConfigError(f"board file {path} has no {', '.join(missing)}; a board needs each of "
                          f"{', '.join(REQUIRED_KEYS)} (see conf/board/nano33ble.yaml)")
