"""The virtual board: a second implementation of the firmware's side of protocol v2.

It is not a mock. It runs as a separate process on a real pseudo-terminal, so the host agent
measures it through the very code path (pyserial, bounded lines, deadlines) it uses for a
real board. It loads the model with the real TFLM kernels, enforces the board's flash and RAM
limits, refuses what TFLM refuses with the firmware's ERR codes, and really invokes the model
for RUN and BENCH. Only its clock is modelled: timings come from a latency estimate, the
same for every invoke (no invented jitter), and HELLO says ``timer=estimate
latency_source=estimate`` so no figure can pass for a measurement. PROF answers the
per-operator estimates of tinyexp.estimate.operator_split, in ticks of the board's clock.
``--proto 1`` makes it a board of protocol v1 (no PROF), as old firmware is. With
``--realtime`` each invoke also takes its estimated latency in wall-clock time (it sleeps
what the host's invoke did not use), so a farm of virtual boards is as busy as one of real
boards.

    python -m tinyexp.device.virtual_board --model M.tflite --board nano33ble

prints the pseudo-terminal's path as its first line of stdout, then serves until stdin
closes or it gets SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import select
import struct
import sys
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

import tinyexp
from agent import protocol as p
from tinyexp.core.errors import TinyexpError
from tinyexp.core.units import us_to_cycles
from tinyexp.tflm.runtime import TflmModel, TflmRefusal, check_support



class LatencyEstimate(Protocol):
    """What a latency model returns (tinyexp.estimate.per_operator.estimate_operators' result)."""

    latency_us: float
    cycles: float


LatencyFn = Callable[[bytes, Mapping[str, Any]], LatencyEstimate]
# Per-operator estimates for PROF: (operator name, cycles) in execution order.
OperatorsFn = Callable[[bytes, Mapping[str, Any]], Sequence[tuple[str, float]]]


@dataclass(frozen=True)
class FixedLatency:
    """A latency given by the user (for example measured once on hardware) instead of a model."""

    latency_us: float
    cycles: float


def estimate_from_model(model: bytes, board: Mapping[str, Any]) -> LatencyEstimate:
    """The default latency model: the per-operator estimate (tinyexp.estimate.per_operator)."""
    from tinyexp.estimate.per_operator import estimate_operators

    return estimate_operators(model, board)


def operators_from_model(model: bytes, board: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The default per-operator figures: tinyexp.estimate.operator_split (estimates, labelled so)."""
    from tinyexp.estimate.operator_split import estimate_operator_latency

    return [(o.type, o.cycles) for o in estimate_operator_latency(model, board).operators]


def fixed_latency(latency_us: float) -> LatencyFn:
    """A LatencyFn that always answers ``latency_us`` (cycles from the board's clock)."""
    return lambda _model, board: FixedLatency(latency_us, us_to_cycles(latency_us, board["clock_hz"]))


class _Refused(Exception):
    """The model cannot run here; ``code`` is the ERR code the firmware would send."""

    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code


@dataclass(frozen=True)
class _Loaded:
    """A model that passed every check, with what INFO reports and the clock's estimate."""

    tflm: TflmModel
    info: dict[str, str]
    latency_us: float
    cycles: int
    operators: tuple[tuple[str, int], ...] | None  # (name, cycles) for PROF; None: no figures


def _token(value: object) -> str:
    """A frame value: printable ASCII without spaces (the board config is user data)."""
    return "".join(c if "!" <= c <= "~" else "_" for c in str(value)) or "_"


def _sketch_base(board: Mapping[str, Any], memory: str) -> int:
    """Bytes of flash or RAM the sketch takes besides model and arena; 0 while unknown (null)."""
    return int(board.get(f"sketch_{memory}_bytes") or 0)


def _load(model: bytes, board: Mapping[str, Any], arena_bytes: int, arena_given: bool,
          latency_fn: LatencyFn, operators_fn: OperatorsFn | None) -> _Loaded:
    """Check the model as the firmware and its build would, cheapest check first.

    ``arena_given``: the sketch's arena was sized by the host (the runner's probe), so the board
    only has to allocate in it, as firmware does; otherwise the arena a sketch would need is
    probed here first, for a model given by hand.
    """
    flash_base, ram_base = _sketch_base(board, "flash"), _sketch_base(board, "ram")
    if len(model) + flash_base > board["flash_bytes"]:
        raise _Refused("too_big", f"flash: model {len(model)} + sketch {flash_base} > "
                                  f"{board['flash_bytes']} bytes")
    needed = arena_bytes if arena_given else _probed_arena(model)
    if needed + ram_base > board["ram_bytes"]:
        raise _Refused("too_big", f"RAM: arena {needed} + sketch {ram_base} > "
                                  f"{board['ram_bytes']} bytes")
    if needed > arena_bytes:
        raise _Refused("model_refused", f"needs a {needed}-byte arena, the sketch has {arena_bytes}")
    try:
        tflm = TflmModel(model, arena_bytes)
    except struct.error as exc:  # the binding parses the flatbuffer in Python first
        raise _Refused("model_refused", f"not a TFLite flatbuffer: {exc}") from exc
    except TflmRefusal as exc:
        raise _Refused("model_refused", str(exc)) from exc
    for side, dtype in (("input", tflm.input_dtype), ("output", tflm.output_dtype)):
        if dtype.name not in p.DTYPES:
            raise _Refused("model_refused", f"{side} dtype {dtype.name} is not carried by "
                                            f"protocol v1 ({', '.join(p.DTYPES)})")
    estimate = latency_fn(model, board)
    info = {
        "model_bytes": str(len(model)), "model_crc32": f"{p.crc32(model):08x}",
        "arena_bytes": str(arena_bytes), "arena_used_bytes": str(tflm.arena_used_bytes()),
        "in_dtype": tflm.input_dtype.name, "in_len": str(int(np.prod(tflm.input_shape))),
        "out_dtype": tflm.output_dtype.name,
        "out_len": str(int(np.prod(tflm.output_details["shape"]))),
    }
    operators = _whole_ticks(operators_fn(model, board)) if operators_fn is not None else None
    return _Loaded(tflm, info, float(estimate.latency_us), int(round(estimate.cycles)), operators)


def _whole_ticks(operators: Sequence[tuple[str, float]]) -> tuple[tuple[str, int], ...]:
    """Whole cycles per operator, each within one of its figure, from the running total cut
    down to a whole cycle: they add up to the whole part of the sum, so the operators never
    take more of the invoke than the estimate gives them, as on a board."""
    out, running, before = [], 0.0, 0
    for name, cycles in operators:
        running += cycles
        out.append((_token(name), math.floor(running) - before))
        before = math.floor(running)
    return tuple(out)


def _probed_arena(model: bytes) -> int:
    """The arena a sketch must reserve for ``model``, found with TFLM; refusal if it cannot run."""
    try:
        support = check_support(model)
    except struct.error as exc:
        raise _Refused("model_refused", f"not a TFLite flatbuffer: {exc}") from exc
    if not support.runs:
        raise _Refused("model_refused", support.reason or "TFLM refused the model")
    return int(support.arena_bytes or 0)


class BoardState:
    """The firmware's command handling, without I/O: one received line in, frames out."""

    def __init__(self, model: bytes | None, board: Mapping[str, Any], latency_fn: LatencyFn,
                 arena_bytes: int | None = None, operators_fn: OperatorsFn | None = None,
                 proto: int = p.PROTO_VERSION, realtime: bool = False) -> None:
        if proto not in p.SUPPORTED_PROTOS:
            raise ValueError(f"protocol {proto} is not one of {p.SUPPORTED_PROTOS}")
        self.board = board
        self.proto = proto
        self.realtime = realtime
        ram_free = int(board["ram_bytes"]) - _sketch_base(board, "ram")
        self.arena_bytes = arena_bytes if arena_bytes is not None else max(ram_free, 0)
        self.model: _Loaded | None = None
        self.refusal: _Refused | None = None
        if model is None:
            self.refusal = _Refused("no_model", "no model given to the virtual board")
        else:
            try:
                self.model = _load(model, board, self.arena_bytes, arena_bytes is not None, latency_fn,
                                   operators_fn)
            except _Refused as exc:
                self.refusal = exc
        in_len = int(self.model.info["in_len"]) if self.model else 0
        self.input = np.zeros(in_len, dtype=self.model.tflm.input_dtype if self.model else np.int8)

    def boot(self) -> list[str]:
        """What a board prints after reset: a line of boot text, then the BOOT frame."""
        return [f"tinyexp virtual board {_token(self.board['name'])} (estimated clock)",
                p.encode_frame(0, "BOOT", {"proto": str(self.proto), "fw": self._fw(),
                                           "model": self._model_state()})]

    def identity(self) -> dict[str, str]:
        """HELLO's fields; the clock is an estimate, and says so."""
        return {
            "proto": str(self.proto), "fw": self._fw(), "board": _token(self.board["name"]),
            "mcu": _token(self.board.get("mcu", "unknown")),
            "clock_hz": str(int(self.board["clock_hz"])),
            "tflm": _token(importlib.metadata.version("tflite-micro")),
            "compiler": _token(f"cpython-{platform.python_version()}"),
            "timer": "estimate", "latency_source": "estimate",
        }

    def _model_state(self) -> str:
        """BOOT's model key, as the firmware sends it."""
        if self.model is not None:
            return "ready"
        return "no_model" if self.refusal and self.refusal.code == "no_model" else "refused"

    @staticmethod
    def _fw() -> str:
        return f"virtual-{tinyexp.__version__}"

    def handle(self, line: p.Received) -> list[str]:
        """The frames answering one received line."""
        if line in ("", "\r"):
            return []  # an empty line (a terminal's stray Enter) gets no answer
        try:
            cmd = p.decode_command(line.prefix if isinstance(line, p.TooLong) else line)
            if cmd.verb == "HELLO":
                return [p.encode_frame(cmd.seq, "OK", self.identity())]
            if cmd.verb == "PROF" and self.proto < p.PROF_MIN_PROTO:
                raise p.CommandError("bad_command", f"unknown verb {cmd.verb}", cmd.seq)
            if self.model is None:
                assert self.refusal is not None
                raise p.CommandError(self.refusal.code, str(self.refusal), cmd.seq)
            return getattr(self, f"_do_{cmd.verb.lower()}")(cmd, self.model)
        except p.CommandError as exc:
            return [p.encode_frame(exc.seq, "ERR", {"code": exc.code}, str(exc))]

    def _do_info(self, cmd: p.Command, model: _Loaded) -> list[str]:
        return [p.encode_frame(cmd.seq, "OK", model.info)]

    def _do_in(self, cmd: p.Command, model: _Loaded) -> list[str]:
        offset = int(cmd.args[0])
        try:
            values = np.asarray(p.decode_values(cmd.args[1:], model.info["in_dtype"]), dtype=self.input.dtype)
        except ValueError as exc:
            raise p.CommandError("bad_args", f"IN: {exc}", cmd.seq) from None
        if offset + values.size > self.input.size:
            raise p.CommandError("bad_args", f"IN: offset {offset} + {values.size} values > "
                                             f"in_len {self.input.size}", cmd.seq)
        self.input[offset:offset + values.size] = values
        return [p.encode_frame(cmd.seq, "OK", {"n": str(values.size)})]

    def _invoke(self, cmd: p.Command, model: _Loaded) -> np.ndarray:
        start = time.perf_counter()
        try:
            out = model.tflm.invoke(self.input).reshape(-1)
        except (RuntimeError, ValueError) as exc:
            raise p.CommandError("invoke_failed", str(exc), cmd.seq) from None
        if self.realtime:  # last as long as the board would: sleep what the host did not use
            time.sleep(max(0.0, model.latency_us * 1e-6 - (time.perf_counter() - start)))
        return out

    def _do_run(self, cmd: p.Command, model: _Loaded) -> list[str]:
        out = self._invoke(cmd, model)
        tokens = p.encode_values(out.tolist(), model.info["out_dtype"])
        frames = [p.encode_frame(cmd.seq, "DATA", {"off": str(off), "v": ",".join(
            tokens[off:off + p.MAX_VALUES_PER_LINE])})
            for off in range(0, len(tokens), p.MAX_VALUES_PER_LINE)]
        return frames + [p.encode_frame(cmd.seq, "OK", {"us": p.format_fixed3(model.latency_us),
                                                       "cycles": str(model.cycles)})]

    def _do_bench(self, cmd: p.Command, model: _Loaded) -> list[str]:
        warmup, n, raw = int(cmd.args[0]), int(cmd.args[1]), len(cmd.args) == 3
        for _ in range(warmup):
            self._invoke(cmd, model)
        per_us = []
        for _ in range(n):
            self._invoke(cmd, model)
            per_us.append(model.latency_us)  # the modelled clock: one figure per invoke
        frames = [p.encode_frame(cmd.seq, "DATA", {"i": str(i), "us": p.format_fixed3(us),
                                                  "cycles": str(model.cycles)})
                  for i, us in enumerate(per_us)] if raw else []
        return frames + [p.encode_frame(cmd.seq, "OK", bench_stats(per_us, float(model.cycles)))]

    def _do_prof(self, cmd: p.Command, model: _Loaded) -> list[str]:
        """The per-operator estimates as a profile in ticks of the board's clock (one tick a
        cycle), after one real invoke, as the firmware profiles one invoke."""
        if model.operators is None:
            raise p.CommandError("no_profile", "this virtual board has a fixed latency and no "
                                               "per-operator figures", cmd.seq)
        if len(model.operators) > p.MAX_PROFILED_OPS:
            raise p.CommandError("too_big", "model runs more operators than PROF records "
                                            f"({p.MAX_PROFILED_OPS})", cmd.seq)
        self._invoke(cmd, model)
        return p.encode_profile(cmd.seq, [(op, ticks, ticks) for op, ticks in model.operators],
                                int(self.board["clock_hz"]), model.latency_us, model.cycles)


def bench_stats(per_us: Sequence[float], mean_cycles: float) -> dict[str, str]:
    """BENCH's OK fields from the per-invoke times, floats with 3 decimals as the spec says."""
    us = np.asarray(per_us, dtype=np.float64)
    figures = {"mean_us": us.mean(), "std_us": us.std(), "min_us": us.min(),
               "median_us": np.median(us), "p95_us": np.percentile(us, 95), "max_us": us.max()}
    fields = {"n": str(us.size)} | {k: p.format_fixed3(v) for k, v in figures.items()}
    fields["mean_cycles"] = p.format_fixed3(mean_cycles) if mean_cycles >= 0 else "-1"
    return fields


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


# ------------------------------------------------------------------ the process


def board_from_arg(value: str) -> dict[str, Any]:
    """A board name from conf/board/, or the board's description as a JSON object."""
    if value.lstrip().startswith("{"):
        board = json.loads(value)
        if not isinstance(board, dict):
            raise TinyexpError("--board JSON must be an object")
        missing = [k for k in ("name", "clock_hz", "flash_bytes", "ram_bytes") if k not in board]
        if missing:
            raise TinyexpError(f"--board JSON lacks {', '.join(missing)}")
        return board
    from tinyexp.core.boards import load_board

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
