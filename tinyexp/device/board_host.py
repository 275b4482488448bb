"""A board host's file: which serial ports hold which boards, and the Ray resources they make.

    # board_host.yaml
    boards:
      - {board: nano33ble, port: /dev/ttyACM0}
      - {board: nano33ble, port: /dev/ttyACM1}
      - {board: nucleo_l4r5zi, port: null}   # null: found by the board's USB ids

``python -m tinyexp.device.board_host board_host.yaml`` prints the ``--resources`` JSON for
``ray start`` (``{"board:nano33ble": 2, "board:nucleo_l4r5zi": 1}``). A measuring task on the
host picks a port of its board that no other job holds (the per-port lock files).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

import yaml

from tinyexp.core.errors import ConfigError

BOARD_HOST_ENV = "TINYEXP_BOARD_HOST_FILE"
RESOURCE_PREFIX = "board:"


def board_resource(board_name: str) -> str:
    """The Ray custom resource of one board kind."""
    return RESOURCE_PREFIX + board_name


def load(path: Path) -> list[tuple[str, str | None]]:
    """The (board, port) pairs of a board-host file; ConfigError naming what is wrong."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"board-host file {path}: {exc}") from exc
    entries = data.get("boards") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"board-host file {path}: needs a non-empty list `boards` of {{board, port}}")
    pairs = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("board"), str):
            raise ConfigError(f"board-host file {path}: boards[{i}] needs `board: NAME` (and `port:`)")
        port = entry.get("port")
        pairs.append((entry["board"], None if port is None else str(port)))
    return pairs


def resources(path: Path) -> dict[str, int]:
    """How many boards of each kind the host has, as Ray custom resources."""
    return {board_resource(b): n for b, n in Counter(b for b, _ in load(path)).items()}


def free_port_for(path: Path, board_name: str) -> str | None:
    """A port of ``board_name`` on this host whose lock is free now (None: find by USB ids)."""
    from tinyexp.device.serial import port_lock

    ports = [port for board, port in load(path) if board == board_name]
    if not ports:
        raise ConfigError(f"board-host file {path} lists no {board_name}")
    for port in ports:
        if port is None:
            return None
        lock = port_lock(port)
        try:
            lock.acquire(timeout=0)
        except TimeoutError:
            continue
        lock.release()
        return port
    return ports[0]  # all busy: wait for the first one in the deploy step's own lock


def main(argv: Sequence[str] | None = None) -> int:
    """Print the --resources JSON for `ray start` on this board host."""
    parser = argparse.ArgumentParser(prog="python -m tinyexp.device.board_host", description=main.__doc__)
    parser.add_argument("file", type=Path, help="the board host's file (boards: [{board, port}, ...])")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(resources(args.file), sort_keys=True))
    except ConfigError as exc:
        print(f"tinyexp: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
