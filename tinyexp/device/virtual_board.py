"""The virtual board: a second implementation of the firmware's side of protocol v2.

It is not a mock. It runs as a separate process on a real pseudo-terminal, so the host agent
measures it through the very code path (pyserial, bounded lines, deadlines) it uses for a
real board. It loads the model with the real TFLM kernels, enforces the board's flash and RAM
limits, refuses what TFLM refuses with the firmware's ERR codes, and really invokes the model
for RUN and BENCH. Only its clock is modelled: timings come from a latency estimate, the
same for every invoke (no invented jitter), and HELLO says ``timer=estimate
latency_source=estimate`` so no figure can pass for a measurement. PROF answers the
per-operator estimates of tinyexp.estimate.per_operator, in ticks of the board's clock.
``--proto 1`` makes it a board of protocol v1 (no PROF), as old firmware is. With
``--realtime`` each invoke also takes its estimated latency in wall-clock time (it sleeps
what the host's invoke did not use), so a farm of virtual boards is as busy as one of real
boards.

    python -m tinyexp.device.virtual_board --model M.tflite --board nano33ble

prints the pseudo-terminal's path as its first line of stdout, then serves until stdin
closes or it gets SIGTERM. This module is that process (the pty loop and its command line);
the board's answers are tinyexp.device.virtual_commands, what it refuses
tinyexp.device.virtual_limits, and its clock tinyexp.device.virtual_clock.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import tty
from pathlib import Path
from typing import Sequence

from agent import protocol as p
from tinyexp.core.boards import board_from_mapping, load_board
from tinyexp.core.config import BoardConfig
from tinyexp.core.errors import TinyexpError
from tinyexp.device.virtual_clock import OperatorsFn, estimate_from_model, fixed_latency, operators_from_model
from tinyexp.device.virtual_commands import BoardState


def serve(fd: int, state: BoardState, stop_fd: int | None = None) -> None:
    """Answer commands on ``fd`` until ``stop_fd`` reaches end of file (or is readable and
    empty), or ``fd`` is closed. Lines are assembled with the bounded reader."""
    lines = p.LineAssembler()
    _write_lines(fd, state.boot())
    watched = [fd] + ([stop_fd] if stop_fd is not None else [])
    while True:
        ready, _, _ = select.select(watched, [], [])
        if stop_fd in ready and not os.read(stop_fd, 4096):
            return
        if fd in ready:
            try:
                data = os.read(fd, 4096)
            except OSError:  # the other side of the pty is gone
                return
            if not data:
                return
            for line in lines.feed(data):
                _write_lines(fd, state.handle(line))


def _write_lines(fd: int, lines: Sequence[str]) -> None:
    data = "".join(line + "\n" for line in lines).encode("latin-1")
    while data:
        data = data[os.write(fd, data):]


def board_from_arg(value: str) -> BoardConfig:
    """A board name from conf/board/ (looked up here, at the process's edge), or the board's
    description as a JSON object, checked against the BoardConfig schema."""
    if value.lstrip().startswith("{"):
        board = json.loads(value)
        if not isinstance(board, dict):
            raise TinyexpError("--board JSON must be an object")
        missing = [k for k in ("name", "clock_hz", "flash_bytes", "ram_bytes") if k not in board]
        if missing:
            raise TinyexpError(f"--board JSON lacks {', '.join(missing)}")
        return board_from_mapping(board, "--board JSON")
    return load_board(value)


def _operator_cycles(text: str) -> tuple[tuple[str, float], ...]:
    """--operator-cycles: a JSON list of [operator name, cycles >= 0] pairs."""
    try:
        pairs = json.loads(text)
        out = tuple((str(name), float(cycles)) for name, cycles in pairs)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(f"expected [[\"OP\", cycles], ...]: {exc}") from None
    if any(not name or cycles < 0 or cycles != cycles for name, cycles in out):
        raise argparse.ArgumentTypeError("operator names must be non-empty and cycles >= 0")
    return out


def _operators_fn(given: tuple[tuple[str, float], ...] | None, latency_us: float | None) -> OperatorsFn | None:
    """PROF's figures: those given, else estimated here, except beside a latency given by hand
    (a fixed figure has no per-operator split, and an estimated one would not add up to it)."""
    if given is not None:
        return lambda _model, _board: given
    return None if latency_us else operators_from_model


def main(argv: Sequence[str] | None = None) -> int:
    """Open a pty, print its path, serve the protocol on it until stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m tinyexp.device.virtual_board", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="the .tflite model 'compiled into the sketch'")
    parser.add_argument("--board", required=True, help="board name (conf/board/) or JSON object")
    parser.add_argument("--arena-bytes", type=int, help="the sketch's arena (default: all free RAM)")
    parser.add_argument("--latency-us", type=float,
                        help="use this latency instead of the latency model (e.g. measured once)")
    parser.add_argument("--operator-cycles", type=_operator_cycles, metavar="JSON",
                        help='PROF\'s per-operator figures, [["OP", cycles], ...] in execution order '
                             "(default: estimated here; with --latency-us alone, none)")
    parser.add_argument("--proto", type=int, choices=p.SUPPORTED_PROTOS, default=p.PROTO_VERSION,
                        help="protocol version to speak (1: an old firmware, without PROF)")
    parser.add_argument("--realtime", action="store_true",
                        help="each invoke takes its estimated latency in wall-clock time")
    args = parser.parse_args(argv)
    try:
        board = board_from_arg(args.board)
        model = args.model.read_bytes() if args.model else None
        latency_fn = fixed_latency(args.latency_us) if args.latency_us else estimate_from_model
        state = BoardState(model, board, latency_fn, args.arena_bytes,
                           _operators_fn(args.operator_cycles, args.latency_us), args.proto, args.realtime)
    except (TinyexpError, OSError, ValueError, ImportError) as exc:
        print(f"virtual board: {exc}", file=sys.stderr)
        return 2
    master, slave = os.openpty()
    tty.setraw(slave)  # no echo, no line editing: bytes pass as on a UART
    print(os.ttyname(slave), flush=True)
    try:
        serve(master, state, stop_fd=sys.stdin.fileno())
    finally:
        os.close(master)
        os.close(slave)
    return 0


if __name__ == "__main__":
    sys.exit(main())
