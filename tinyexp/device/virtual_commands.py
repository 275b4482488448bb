"""The virtual board's command handling: the firmware's answers to protocol v2, without I/O.

One received line in, the frames a board would send out: HELLO, INFO, IN, RUN, BENCH and PROF,
with the firmware's ERR codes. Whether the model runs at all is decided once, at start, by
tinyexp.device.virtual_limits; every timing comes from tinyexp.device.virtual_clock.
``proto=1`` answers as old firmware does (PROF is an unknown verb).
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from typing import Sequence

import numpy as np

import tinyexp
from agent import protocol as p
from tinyexp.core.config import BoardConfig
from tinyexp.device.virtual_clock import LatencyFn, OperatorsFn
from tinyexp.device.virtual_limits import LoadedModel, Refused, load_model, sketch_base


def token(value: object) -> str:
    """A frame value: printable ASCII without spaces (the board config is user data)."""
    return "".join(c if "!" <= c <= "~" else "_" for c in str(value)) or "_"


class BoardState:
    """The firmware's command handling, without I/O: one received line in, frames out."""

    def __init__(self, model: bytes | None, board: BoardConfig, latency_fn: LatencyFn,
                 arena_bytes: int | None = None, operators_fn: OperatorsFn | None = None,
                 proto: int = p.PROTO_VERSION, realtime: bool = False) -> None:
        if proto not in p.SUPPORTED_PROTOS:
            raise ValueError(f"protocol {proto} is not one of {p.SUPPORTED_PROTOS}")
        self.board = board
        self.proto = proto
        self.realtime = realtime
        ram_free = board.ram_bytes - sketch_base(board, "ram")
        self.arena_bytes = arena_bytes if arena_bytes is not None else max(ram_free, 0)
        self.model: LoadedModel | None = None
        self.refusal: Refused | None = None
        if model is None:
            self.refusal = Refused("no_model", "no model given to the virtual board")
        else:
            try:
                self.model = load_model(model, board, self.arena_bytes, arena_bytes is not None, latency_fn,
                                        operators_fn)
            except Refused as exc:
                self.refusal = exc
        in_len = int(self.model.info["in_len"]) if self.model else 0
        self.input = np.zeros(in_len, dtype=self.model.tflm.input_dtype if self.model else np.int8)

    def boot(self) -> list[str]:
        """What a board prints after reset: a line of boot text, then the BOOT frame."""
        return [f"tinyexp virtual board {token(self.board.name)} (estimated clock)",
                p.encode_frame(0, "BOOT", {"proto": str(self.proto), "fw": self._fw(),
                                           "model": self._model_state()})]

    def identity(self) -> dict[str, str]:
        """HELLO's fields; the clock is an estimate, and says so."""
        return {
            "proto": str(self.proto), "fw": self._fw(), "board": token(self.board.name),
            "mcu": token(self.board.mcu),
            "clock_hz": str(self.board.clock_hz),
            "tflm": token(importlib.metadata.version("tflite-micro")),
            "compiler": token(f"cpython-{platform.python_version()}"),
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

    def _do_info(self, cmd: p.Command, model: LoadedModel) -> list[str]:
        return [p.encode_frame(cmd.seq, "OK", model.info)]

    def _do_in(self, cmd: p.Command, model: LoadedModel) -> list[str]:
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

    def _invoke(self, cmd: p.Command, model: LoadedModel) -> np.ndarray:
        start = time.perf_counter()
        try:
            out = model.tflm.invoke(self.input).reshape(-1)
        except (RuntimeError, ValueError) as exc:
            raise p.CommandError("invoke_failed", str(exc), cmd.seq) from None
        if self.realtime:  # last as long as the board would: sleep what the host did not use
            time.sleep(max(0.0, model.latency_us * 1e-6 - (time.perf_counter() - start)))
        return out

    def _do_run(self, cmd: p.Command, model: LoadedModel) -> list[str]:
        out = self._invoke(cmd, model)
        tokens = p.encode_values(out.tolist(), model.info["out_dtype"])
        frames = [p.encode_frame(cmd.seq, "DATA", {"off": str(off), "v": ",".join(
            tokens[off:off + p.MAX_VALUES_PER_LINE])})
            for off in range(0, len(tokens), p.MAX_VALUES_PER_LINE)]
        return frames + [p.encode_frame(cmd.seq, "OK", {"us": p.format_fixed3(model.latency_us),
                                                       "cycles": str(model.cycles)})]

    def _do_bench(self, cmd: p.Command, model: LoadedModel) -> list[str]:
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

    def _do_prof(self, cmd: p.Command, model: LoadedModel) -> list[str]:
        """The per-operator estimates as a profile in ticks of the board's clock (one tick a
        cycle), after one real invoke, as the firmware profiles one invoke."""
        if model.operators is None:
            raise p.CommandError("no_profile", "this virtual board has a fixed latency and no "
                                               "per-operator figures", cmd.seq)
        if len(model.operators) > p.MAX_PROFILED_OPS:
            raise p.CommandError("too_big", "model runs more operators than PROF records "
                                            f"({p.MAX_PROFILED_OPS})", cmd.seq)
        self._invoke(cmd, model)
        return p.encode_profile(cmd.seq, [(token(op), ticks, ticks) for op, ticks in model.operators],
                                self.board.clock_hz, model.latency_us, model.cycles)


def bench_stats(per_us: Sequence[float], mean_cycles: float) -> dict[str, str]:
    """BENCH's OK fields from the per-invoke times, floats with 3 decimals as the spec says."""
    us = np.asarray(per_us, dtype=np.float64)
    figures = {"mean_us": us.mean(), "std_us": us.std(), "min_us": us.min(),
               "median_us": np.median(us), "p95_us": np.percentile(us, 95), "max_us": us.max()}
    fields = {"n": str(us.size)} | {k: p.format_fixed3(v) for k, v in figures.items()}
    fields["mean_cycles"] = p.format_fixed3(mean_cycles) if mean_cycles >= 0 else "-1"
    return fields
