"""The host side of protocol v2: talk to a board (real or virtual) over a serial port.

A v1 board is still measured (every v1 command is unchanged); it only has no PROF, which
:attr:`BoardClient.supports_profile` tells after the handshake.

Every answer is read through a bounded line reader under a deadline on time.monotonic(), so a
silent, chatty or corrupted link ends in one BoardLinkError that names the port, the command and
the likely causes, never in a hang: each command has one deadline, fixed when it is sent,
that nothing the board sends can extend, and a command takes no more DATA lines than it asked
for. Every figure is checked (agent/figures.py) before it is returned. Every line sent and
received is kept in :attr:`BoardClient.transcript` in the format of tests/transcripts/, because a transcript is
what one needs to tell a firmware bug from a host bug after the fact.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Callable, Sequence

import serial
import serial.rfc2217

from agent import figures
from agent import protocol as p
from agent.errors import BoardLinkError

_READ_SLICE_S = 0.05  # longest a single read blocks; the deadline is checked between reads
_READ_MAX_BYTES = 4096  # most taken from the port at once, however much a chatty board queued
MIN_TIMEOUT_S = 0.1  # a shorter deadline cannot cover one write and one answer on any link
# A board's clock may run a little fast against the host's: an invoke it timed may exceed the
# host's wall time of the whole exchange by this fraction (plus 1 ms) before it is impossible.
_CLOCK_SLACK = 0.05
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?\Z")
_SILENT_CAUSES = ("wrong port, wrong baud rate (the board expects {baud}), or the sketch is "
                  "not running (reset the board, or flash the tinyexp firmware)")
_CORRUPT_CAUSES = ("wrong baud rate, a noisy cable, or another program using the port")
_IMPOSSIBLE_CAUSES = "a firmware bug, a wrong timer, or a corrupted link"
STAT_KEYS = ("n", "mean_us", "std_us", "min_us", "median_us", "p95_us", "max_us", "mean_cycles")


class BoardRefused(BoardLinkError):
    """The board answered ERR; ``code`` is the protocol's error code (e.g. no_profile)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BenchResult:
    """Statistics the board computed, and each timed invoke when RAW was asked for."""

    stats: dict[str, float]
    per_invoke_us: list[float] = field(default_factory=list)
    per_invoke_cycles: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class _Answer:
    """The DATA frames and the final OK frame's fields of one command."""

    data: list[dict[str, str]]
    ok: dict[str, str]
    elapsed_s: float  # host wall time from sending the command to its OK


def write_transcript(path: str | Path, lines: Sequence[str]) -> None:
    """Write transcript lines in the format of tests/transcripts/: one a line, latin-1, so every
    byte the board sent is kept as it was."""
    Path(path).write_text("\n".join(lines) + "\n", encoding="latin-1")


def number(value: str, what: str) -> float:
    """A strict decimal from the board (no nan, inf, exponents or '_'), or ValueError."""
    if not _NUMBER.match(value):
        raise ValueError(f"{what}={value!r} is not a decimal number")
    return float(value)


class BoardClient:
    """One open connection to a board speaking protocol v1 or v2.

    Use as a context manager; call :meth:`hello` first. ``timeout_s`` is the deadline of each
    command (and of the whole handshake, split over ``retries`` tries of HELLO); it must be
    finite and at least MIN_TIMEOUT_S, else BoardLinkError says so before the port is opened.
    """

    def __init__(self, port: str, baud: int = p.DEFAULT_BAUD, timeout_s: float = 5.0,
                 retries: int = 3) -> None:
        self.port = port
        self.baud = baud
        self.timeout_s = _checked_timeout(timeout_s)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 1:
            raise BoardLinkError(f"retries={retries!r} is not usable: give a whole number >= 1")
        self.retries = retries
        self.transcript: list[str] = []
        self._lines = p.LineAssembler()
        self._pending: list[p.Received] = []
        self._seq = 0
        self._info: dict[str, str] | None = None
        self.proto: int | None = None  # the board's protocol version, known after hello()
        self._identity: dict[str, str] = {}
        self._last_invoke_s = 0.0
        try:
            self._link = serial.serial_for_url(port, baudrate=baud, timeout=_READ_SLICE_S,
                                               do_not_open=True)
            # Bounded writes where the transport has them; pyserial's rfc2217:// refuses the
            # setting (its writes go to a TCP socket, bounded by TCP's own timeouts).
            if not isinstance(self._link, serial.rfc2217.Serial):
                self._link.write_timeout = self.timeout_s
            self._link.open()
        except (serial.SerialException, ValueError, OSError) as exc:
            raise BoardLinkError(
                f"cannot open serial port {port}: {_one_line(exc)}; likely causes: wrong port "
                "(list ports with `python -m serial.tools.list_ports`), the port is busy (close "
                "any serial monitor), or no permission (join the dialout group)") from exc

    def __enter__(self) -> "BoardClient":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the port; safe to call twice."""
        self._link.close()

    def save_transcript(self, path: str | Path) -> None:
        """Write the transcript, one line each, in the format of tests/transcripts/."""
        write_transcript(path, self.transcript)

    # ------------------------------------------------------------ commands

    def hello(self) -> dict[str, str]:
        """Handshake: HELLO until an OK for one of our HELLOs arrives; check the protocol.

        Junk, BOOT frames, answers to other seqs and corrupted lines are skipped here (a board
        that just reset may print anything), but counted so a failure can say what was seen.
        """
        per_try = self.timeout_s / self.retries
        sent: set[int] = set()
        seen = {"junk": 0, "corrupt": 0}
        for _ in range(self.retries):
            sent.add(self._send("HELLO", ()))
            deadline = time.monotonic() + per_try
            while (frame := self._next_frame(deadline, "HELLO", seen)) is not None:
                if frame.get("seq") in sent and frame["kind"] in ("OK", "ERR"):
                    self._identity = self._check_identity(frame)
                    return self._identity
        heard = (f"; heard {seen['junk']} non-frame lines and {seen['corrupt']} corrupted frames"
                 if seen["junk"] or seen["corrupt"] else "")
        raise BoardLinkError(
            f"no answer to HELLO on {self.port} within {self.timeout_s:g} s ({self.retries} "
            f"tries){heard}{self._unterminated() or ('' if heard else '; the board sent nothing')}"
            f"; likely causes: {_SILENT_CAUSES.format(baud=self.baud)}")

    def info(self) -> dict[str, str]:
        """The board's model: size, CRC-32, arena, input/output dtype and length."""
        if self._info is None:
            ok = self._request("INFO", ()).ok
            self._require(ok, "INFO", ("model_bytes", "model_crc32", "arena_bytes",
                                       "arena_used_bytes", "in_dtype", "in_len", "out_dtype",
                                       "out_len"))
            for key in ("in_dtype", "out_dtype"):
                if ok[key] not in p.DTYPES:
                    raise self._error("INFO", f"unsupported {key}={ok[key]}", _CORRUPT_CAUSES)
            self._info = ok
        return self._info

    def verify_model(self, model_bytes: bytes) -> None:
        """Refuse to measure unless the board holds exactly these model bytes (CRC-32 and size)."""
        info = self.info()
        host_crc = f"{p.crc32(model_bytes):08x}"
        if info["model_crc32"] != host_crc or info["model_bytes"] != str(len(model_bytes)):
            raise BoardLinkError(
                f"the board on {self.port} runs a different model: board model_crc32="
                f"{info['model_crc32']} ({info['model_bytes']} bytes), host model crc32="
                f"{host_crc} ({len(model_bytes)} bytes); flash the model being measured")

    def set_input(self, values: Sequence[float], dtype: str) -> None:
        """Store one input sample (a flat sequence) on the board, at most 16 values per IN line."""
        info = self.info()
        flat = list(values)
        if dtype != info["in_dtype"] or len(flat) != int(info["in_len"]):
            raise BoardLinkError(
                f"input mismatch for the board on {self.port}: host gives {len(flat)} x {dtype}, "
                f"the model takes {info['in_len']} x {info['in_dtype']}")
        tokens = p.encode_values(flat, dtype)
        for off in range(0, len(tokens), p.MAX_VALUES_PER_LINE):
            chunk = tokens[off:off + p.MAX_VALUES_PER_LINE]
            ok = self._request("IN", (str(off), *chunk)).ok
            if ok.get("n") != str(len(chunk)):
                raise self._error("IN", f"board stored n={ok.get('n')} of {len(chunk)} values",
                                  "a firmware bug")

    def run(self) -> tuple[list[float] | list[int], float, int]:
        """One invoke on the stored input: (raw outputs, invoke microseconds, cycles or -1)."""
        info = self.info()
        dtype, out_len = info["out_dtype"], int(info["out_len"])
        answer = self._request("RUN", (), max_data=-(-out_len // p.MAX_VALUES_PER_LINE))
        outputs = self._parse("RUN", lambda: _assemble(answer.data, dtype, out_len))
        us, cycles = self._parse("RUN", lambda: (number(answer.ok.get("us", ""), "us"),
                                                 int(number(answer.ok.get("cycles", ""), "cycles"))))
        self._plausible("RUN", lambda: (figures.check_outputs(outputs), figures.check_timing(
            us, cycles, self._bound_us(answer.elapsed_s))))
        self._last_invoke_s = min(us * 1e-6, answer.elapsed_s)
        return outputs, us, cycles

    def bench(self, warmup: int, n: int, raw: bool = True) -> BenchResult:
        """Time ``n`` invokes after ``warmup`` on the board; statistics as the board computed them.

        The deadline, fixed when BENCH is sent, is the usual timeout plus twice the work asked
        for at the last RUN's duration (the board's figure, never more than the host saw it
        take). The summary must agree with itself and, with RAW, with the rows 0..n-1.
        """
        expected_s = (warmup + n) * 2 * self._last_invoke_s
        args = (str(warmup), str(n), *(("RAW",) if raw else ()))
        answer = self._request("BENCH", args, extra_s=expected_s, max_data=n if raw else 0)
        stats = self._parse("BENCH", lambda: {k: number(answer.ok.get(k, ""), k) for k in STAT_KEYS})
        rows = self._parse("BENCH", lambda: [(int(p.parse_uint(d.get("i", ""), 0, p.BENCH_MAX_N)),
                                              number(d.get("us", ""), "us"),
                                              number(d.get("cycles", ""), "cycles"))
                                             for d in answer.data])
        bound_us = self._bound_us(answer.elapsed_s)

        def check() -> None:
            figures.check_summary(stats, n, bound_us)
            if self._measured() and n * stats["mean_us"] > bound_us:
                raise ValueError(f"{n} invokes of mean_us={stats['mean_us']:g} take longer than "
                                 f"the {answer.elapsed_s:.3f} s the whole BENCH took")
            if raw:
                figures.check_indices([r[0] for r in rows], n)
                for i, us, cycles in rows:
                    figures.check_timing(us, cycles, bound_us, f"RAW row {i} us")
                figures.check_rows_agree(stats, [r[1] for r in rows], [r[2] for r in rows])

        self._plausible("BENCH", check)
        return BenchResult(stats, [r[1] for r in rows], [r[2] for r in rows])

    @property
    def supports_profile(self) -> bool:
        """True once hello() met a board of protocol 2 or later (PROF)."""
        return self.proto is not None and self.proto >= p.PROF_MIN_PROTO

    def profile(self) -> p.Profile:
        """One invoke of the stored input with the board's per-operator profiler (PROF, v2)."""
        if not self.supports_profile:
            raise BoardLinkError(f"the board on {self.port} speaks protocol {self.proto}, which has "
                              f"no per-operator profile (PROF needs {p.PROF_MIN_PROTO}); flash "
                              "the firmware that ships with this tinyexp for one")
        expected_s = 2 * self._last_invoke_s
        answer = self._request("PROF", (), extra_s=expected_s, max_data=p.MAX_PROFILED_OPS)
        return self._parse("PROF", lambda: p.decode_profile(answer.data, answer.ok))

    # ------------------------------------------------------------ plumbing

    def _send(self, verb: str, args: Sequence[str]) -> int:
        self._seq = self._seq % p.MAX_SEQ + 1
        data = p.encode_command(self._seq, verb, args)
        self.transcript.append("> " + data.decode("ascii").rstrip("\n"))
        try:
            self._link.write(data)
            self._link.flush()
        except (serial.SerialException, OSError) as exc:
            raise self._error(verb, f"write failed: {_one_line(exc)}",
                              "the board was unplugged or reset") from exc
        return self._seq

    def _request(self, verb: str, args: Sequence[str], extra_s: float = 0.0,
                 max_data: int = 0) -> _Answer:
        """Send one command and collect its DATA frames (at most ``max_data``) up to its OK,
        all before one deadline fixed here; ERR becomes BoardLinkError."""
        start = time.monotonic()
        seq = self._send(verb, args)
        allowed_s = self.timeout_s + extra_s
        deadline = start + allowed_s
        data: list[dict[str, str]] = []
        stale = 0
        while (frame := self._next_frame(deadline, verb, None)) is not None:
            if frame["kind"] == "BOOT":
                raise self._error(verb, "the board reset (BOOT frame) in the middle of a session",
                                  "a brown-out, a crash in the firmware, or a reset button")
            if frame["seq"] != seq:
                stale += 1  # a late answer to an earlier command
                continue
            if frame["kind"] == "ERR":
                f = frame["fields"]
                raise BoardRefused(f"the board on {self.port} refused {verb}: "
                                   f"{f.get('code', '?')}: {f.get('msg', '')}".rstrip(": "),
                                   f.get("code", "?"))
            if frame["kind"] == "OK":
                return _Answer(data, frame["fields"], time.monotonic() - start)
            if len(data) == max_data:
                raise self._error(verb, f"more than the {max_data} DATA lines asked for",
                                  "a firmware bug or another protocol version")
            data.append(frame["fields"])
        heard = f"; {stale} frames carried an earlier seq, not {seq}" if stale else ""
        raise self._error(verb, f"no answer within {allowed_s:.3g} s{heard}{self._unterminated()}",
                          _SILENT_CAUSES.format(baud=self.baud))

    def _unterminated(self) -> str:
        """'' or a note (also kept in the transcript) of a line the board started but never
        ended, e.g. a flood without newlines or a stall after a partial frame."""
        size, kept = self._lines.unfinished
        if not size:
            return ""
        self.transcript.append(f"# unterminated: {size} bytes without a line end, from: {kept[:60]}")
        longer = f", longer than the {p.MAX_LINE_BYTES}-byte limit" if size >= p.MAX_LINE_BYTES else ""
        return f"; the board sent {size} bytes without a line end{longer}"

    def _measured(self) -> bool:
        return self._identity.get("latency_source", "measured") != "estimate"

    def _bound_us(self, elapsed_s: float) -> float:
        """The longest time a board may report for what one exchange timed: what the host saw
        it take (with clock slack) for a measuring board, the command timeout for estimates."""
        if self._measured():
            return (elapsed_s * (1 + _CLOCK_SLACK) + 1e-3) * 1e6
        return self.timeout_s * 1e6

    def _plausible(self, verb: str, check: Callable[[], object]) -> None:
        try:
            check()
        except ValueError as exc:
            raise self._error(verb, f"impossible figure: {_one_line(exc)}",
                              _IMPOSSIBLE_CAUSES) from exc

    def _next_frame(self, deadline: float, verb: str, tolerate: dict[str, int] | None) -> dict | None:
        """The next valid frame before the deadline, or None. Junk is skipped; a corrupted line
        raises BoardLinkError unless ``tolerate`` is given, which then counts it instead."""
        while (line := self._next_line(deadline)) is not None:
            text = line.prefix if isinstance(line, p.TooLong) else line
            self.transcript.append("< " + text)
            decoded = p.decode_line(text)
            if "junk" in decoded:
                if tolerate is not None:
                    tolerate["junk"] += 1
            elif "corrupt" in decoded:
                if tolerate is None:
                    raise self._error(verb, f"corrupted line from the board ({decoded['corrupt']}):"
                                      f" {text[:60]!r}", _CORRUPT_CAUSES)
                tolerate["corrupt"] += 1
            else:
                return decoded
        return None

    def _next_line(self, deadline: float) -> p.Received | None:
        while not self._pending:
            if time.monotonic() >= deadline:
                return None
            try:
                chunk = self._link.read(min(max(1, self._link.in_waiting), _READ_MAX_BYTES))
            except (serial.SerialException, OSError) as exc:
                raise BoardLinkError(f"reading {self.port} failed: {_one_line(exc)}"
                                  f"{self._unterminated()}; likely causes: the board was "
                                  "unplugged, reset, or another program opened the port") from exc
            self._pending.extend(self._lines.feed(chunk))
        return self._pending.pop(0)

    def _check_identity(self, frame: dict) -> dict[str, str]:
        fields = frame["fields"]
        if frame["kind"] == "ERR":
            raise BoardLinkError(f"the board on {self.port} refused HELLO: {fields.get('code')}: "
                              f"{fields.get('msg', '')}")
        if fields.get("proto") not in [str(v) for v in p.SUPPORTED_PROTOS]:
            raise BoardLinkError(
                f"the board on {self.port} speaks protocol version {fields.get('proto', '?')}, "
                f"this host speaks version {p.PROTO_VERSION} (and reads "
                f"{', '.join(map(str, p.SUPPORTED_PROTOS))}); flash the firmware that ships "
                "with this tinyexp (firmware/), or use a matching tinyexp")
        self.proto = int(fields["proto"])
        return fields

    def _require(self, fields: dict[str, str], verb: str, keys: Sequence[str]) -> None:
        missing = [k for k in keys if k not in fields]
        if missing:
            raise self._error(verb, f"answer lacks {', '.join(missing)}",
                              "firmware of another protocol version")

    def _parse(self, verb: str, parse: Callable):  # noqa: ANN202 - returns what parse returns
        try:
            return parse()
        except (ValueError, KeyError) as exc:
            raise self._error(verb, f"malformed answer: {_one_line(exc)}",
                              "a firmware bug or another protocol version") from exc

    def _error(self, verb: str, problem: str, causes: str) -> BoardLinkError:
        return BoardLinkError(f"{self.port}: {verb}: {problem}; likely causes: {causes}")


def _assemble(data: list[dict[str, str]], dtype: str, out_len: int) -> list[float] | list[int]:
    """The output tensor (flat) from RUN's DATA lines; every index exactly once, or ValueError."""
    out: list = [None] * out_len
    for fields in data:
        off = p.parse_uint(fields["off"], 0, max(out_len - 1, 0))
        values = p.decode_values(fields["v"].split(","), dtype)
        end = off + len(values)
        if end > out_len or any(v is not None for v in out[off:end]):
            raise ValueError(f"DATA off={off} with {len(values)} values overlaps or overflows "
                             f"{out_len} outputs")
        out[off:end] = values
    missing = out.count(None)
    if missing:
        raise ValueError(f"only {out_len - missing} of {out_len} outputs received")
    return out


def _checked_timeout(timeout_s: float) -> float:
    try:
        value = float(timeout_s)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < MIN_TIMEOUT_S:
        raise BoardLinkError(f"timeout_s={timeout_s!r} is not a usable deadline: give a finite "
                          f"number of seconds >= {MIN_TIMEOUT_S:g} per command")
    return value


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
