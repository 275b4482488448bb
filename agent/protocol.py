"""Codec of the tinyexp serial protocol v2 (firmware/PROTOCOL.md), shared by host and virtual board.

Version 2 adds PROF (one invoke's per-operator profile); every v1 command and frame is
unchanged, so a v1 board is still read and simply has no profile.

Everything here is pure: no I/O, no clocks. Serial input is untrusted, so every decoder
works on a bounded line, follows a strict grammar and never evaluates anything. The
canonical decoding of a board line (:func:`decode_line`) is what the transcripts in
tests/transcripts/ record and what the C++ decoder must reproduce byte for byte as JSON
(``json.dumps(..., sort_keys=True)``), so its shape must not change without a new ``proto``.

A line is handled as text with one character per byte (latin-1): lengths in characters are
lengths in bytes, and any byte outside printable ASCII is simply a grammar violation.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Iterable, Sequence, Union


PROTO_VERSION = 2
SUPPORTED_PROTOS = (1, 2)  # what the host reads: v2 boards, and v1 boards without PROF
PROF_MIN_PROTO = 2
MAX_PROFILED_OPS = 128  # most operators one PROF answer covers (firmware: kMaxProfiledOps)
MAX_LINE_BYTES = 200  # terminator included, both directions
DEFAULT_BAUD = 115200
MAX_VALUES_PER_LINE = 16
MAX_SEQ = 65535
BENCH_MAX_WARMUP = 1000
BENCH_MAX_N = 1000

KINDS = ("OK", "DATA", "ERR", "BOOT")
VERBS = ("HELLO", "INFO", "IN", "RUN", "BENCH", "PROF")
DTYPES = ("float32", "int8")

_SEQ = r"(?:0|[1-9][0-9]{0,4})"
_FRAME_TAIL = re.compile(r" \*([0-9a-f]{8})\Z")
_FRAME_HEAD = re.compile(r"@(" + _SEQ + r") (" + "|".join(KINDS) + r")(?: (.*))?\Z", re.DOTALL)
_KEY = re.compile(r"[a-z0-9_]+\Z")
_VALUE = re.compile(r"[\x21-\x7e]+\Z")
_MSG = re.compile(r"[\x20-\x7e]*\Z")
_UINT = re.compile(r"(?:0|[1-9][0-9]{0,9})\Z")
_F32 = re.compile(r"[0-9a-f]{8}\Z")
_I8 = re.compile(r"(?:0|-?[1-9][0-9]{0,2})\Z")
_FIXED = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]{1,3})?\Z")


def crc32(data: bytes) -> int:
    """CRC-32 (IEEE 802.3), as zlib computes it and as the firmware must."""
    return zlib.crc32(data) & 0xFFFFFFFF


# ---------------------------------------------------------------- values

def encode_f32(value: float) -> str:
    """8 lower-case hex digits of the IEEE-754 single bit pattern: exact and locale-free."""
    return struct.pack(">f", value).hex()


def decode_f32(token: str) -> float:
    """The float32 whose bit pattern ``token`` spells; ValueError unless exactly 8 hex digits."""
    if not _F32.match(token):
        raise ValueError(f"not a float32 bit pattern (8 lower-case hex digits): {token!r}")
    return struct.unpack(">f", bytes.fromhex(token))[0]


def encode_i8(value: int) -> str:
    """A signed decimal in -128..127."""
    value = int(value)
    if not -128 <= value <= 127:
        raise ValueError(f"int8 value out of range: {value}")
    return str(value)


def decode_i8(token: str) -> int:
    """The int8 a signed decimal spells; ValueError for anything else (no '+', no '-0')."""
    if not _I8.match(token) or not -128 <= int(token) <= 127:
        raise ValueError(f"not an int8 decimal in -128..127: {token!r}")
    return int(token)


def encode_values(values: Iterable[float], dtype: str) -> list[str]:
    """Tokens for tensor values of ``dtype`` ('float32' or 'int8')."""
    encode = {"float32": encode_f32, "int8": encode_i8}[_check_dtype(dtype)]
    return [encode(v) for v in values]


def decode_values(tokens: Sequence[str], dtype: str) -> list[float] | list[int]:
    """Tensor values of ``dtype`` from their tokens; ValueError on any malformed token."""
    decode = {"float32": decode_f32, "int8": decode_i8}[_check_dtype(dtype)]
    return [decode(t) for t in tokens]


def _check_dtype(dtype: str) -> str:
    if dtype not in DTYPES:
        raise ValueError(f"unsupported tensor dtype {dtype!r}; protocol v1 carries {DTYPES}")
    return dtype


def format_fixed3(value: float) -> str:
    """A float as the spec writes statistics: the exact value rounded half up to 3 decimals
    (Python's own formatting rounds ties to even, which a C++ board would not match)."""
    return str(Decimal(value).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP))


# ---------------------------------------------------------------- board -> host frames

def encode_frame(seq: int, kind: str, fields: dict[str, str], msg: str | None = None) -> str:
    """One board frame, without its '\\n'. ``msg`` is sanitised to printable ASCII and
    shortened so the line fits; other fields must already be valid (ValueError if not)."""
    if not 0 <= seq <= MAX_SEQ or kind not in KINDS:
        raise ValueError(f"invalid frame header: seq={seq} kind={kind!r}")
    parts = [f"@{seq}", kind]
    for key, value in fields.items():
        if key == "msg" or not _KEY.match(key) or not _VALUE.match(value):
            raise ValueError(f"invalid frame field {key!r}={value!r}")
        parts.append(f"{key}={value}")
    head = " ".join(parts)
    if msg is not None:
        clean = "".join(c if " " <= c <= "~" else "?" for c in msg)
        room = MAX_LINE_BYTES - 1 - len(head) - len(" msg=") - len(" *00000000")
        head += " msg=" + clean[:max(room, 0)]
    body = head + " "
    line = f"{body}*{crc32(body.encode('latin-1')):08x}"
    if len(line) + 1 > MAX_LINE_BYTES:
        raise ValueError(f"frame longer than {MAX_LINE_BYTES} bytes: {line[:40]}...")
    return line


def decode_line(line: str) -> dict:
    """The canonical decoding of one line from the board (given without its '\\n').

    Returns ``{"corrupt": "too_long"}`` if the line with its terminator exceeds
    MAX_LINE_BYTES (checked first, whatever the line holds); ``{"junk": True}`` for a line
    not starting with '@'; ``{"corrupt": "bad_grammar"}`` if the line does not end in
    `` *<8 hex>``; ``{"corrupt": "bad_crc"}`` if the CRC disagrees; ``bad_grammar`` again if
    the CRC-checked body breaks the frame grammar; else
    ``{"seq": int, "kind": str, "fields": {key: value}}`` with ``msg`` as a field.
    """
    if len(line) + 1 > MAX_LINE_BYTES:
        return {"corrupt": "too_long"}
    if line.endswith("\r"):
        line = line[:-1]
    if not line.startswith("@"):
        return {"junk": True}
    tail = _FRAME_TAIL.search(line)
    if tail is None:
        return {"corrupt": "bad_grammar"}
    body = line[: tail.start() + 1]  # up to and including the space before '*'
    try:
        raw = body.encode("latin-1")
    except UnicodeEncodeError:
        return {"corrupt": "bad_grammar"}
    if crc32(raw) != int(tail.group(1), 16):
        return {"corrupt": "bad_crc"}
    head = _FRAME_HEAD.match(body[:-1])
    fields = _parse_payload(head.group(3)) if head else None
    if head is None or fields is None or int(head.group(1)) > MAX_SEQ:
        return {"corrupt": "bad_grammar"}
    return {"seq": int(head.group(1)), "kind": head.group(2), "fields": fields}


def _parse_payload(payload: str | None) -> dict[str, str] | None:
    """``key=value`` tokens split by single spaces, ``msg`` last and free-text; None if invalid."""
    fields: dict[str, str] = {}
    rest = payload
    while rest is not None:
        if rest.startswith("msg="):
            token, rest = rest, None
        else:
            token, _, after = rest.partition(" ")
            rest = after if " " in rest else None
        key, eq, value = token.partition("=")
        ok_value = _MSG.match(value) if key == "msg" else _VALUE.match(value)
        if not eq or not _KEY.match(key) or not ok_value or key in fields:
            return None
        fields[key] = value
    return fields


# ---------------------------------------------------------------- host -> board commands

@dataclass(frozen=True)
class Command:
    """One host command as the board understood it."""

    seq: int
    verb: str
    args: tuple[str, ...]


class CommandError(ValueError):
    """A command the board must refuse; ``code`` is the protocol's ERR code."""

    def __init__(self, code: str, message: str, seq: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.seq = seq


def encode_command(seq: int, verb: str, args: Sequence[str | int] = ()) -> bytes:
    """The bytes of one command line, '\\n' included; ValueError if it would break the spec."""
    if not 1 <= seq <= MAX_SEQ or verb not in VERBS:
        raise ValueError(f"invalid command header: seq={seq} verb={verb!r}")
    text = " ".join([str(seq), verb, *(str(a) for a in args)]) + "\n"
    if len(text) > MAX_LINE_BYTES or not _MSG.match(text[:-1]) or "  " in text:
        raise ValueError(f"invalid command line: {text[:40]!r}")
    return text.encode("ascii")


def parse_uint(token: str, low: int, high: int) -> int:
    """A strict decimal in [low, high]; ValueError otherwise (no sign, no leading zeros)."""
    if not _UINT.match(token) or not low <= int(token) <= high:
        raise ValueError(f"expected an integer in {low}..{high}, got {token!r}")
    return int(token)


def decode_command(line: str) -> Command:
    """Parse one host line (without '\n') or raise CommandError with the ERR code to send.

    The ERR echoes the seq only once the line is well formed up to its verb (within
    MAX_LINE_BYTES, printable ASCII, single spaces, a seq in 1..65535 without leading
    zeros); otherwise it says seq 0, since nothing in a malformed line can be trusted. The
    arity and ranges of every verb are checked here, before any model state; IN's value
    tokens are checked by the board with :func:`decode_values`, because only the model
    knows the input dtype. Boards ignore empty lines before calling this.
    """
    if len(line) + 1 > MAX_LINE_BYTES:
        raise CommandError("line_too_long", f"line longer than {MAX_LINE_BYTES} bytes")
    if line.endswith("\r"):
        line = line[:-1]
    tokens = line.split(" ")
    malformed = CommandError("bad_command", "expected '<seq 1..65535> <VERB> [arg ...]', "
                             "single spaces, printable ASCII")
    if len(tokens) < 2 or "" in tokens or not _MSG.match(line):
        raise malformed
    try:
        seq = parse_uint(tokens[0], 1, MAX_SEQ)
    except ValueError:
        raise malformed from None
    verb, args = tokens[1], tuple(tokens[2:])
    if verb not in VERBS:
        raise CommandError("bad_command", f"unknown verb {verb[:20]}", seq)
    try:
        _check_args(verb, args)
    except ValueError as exc:
        raise CommandError("bad_args", f"{verb}: {exc}", seq) from None
    return Command(seq, verb, args)


def _check_args(verb: str, args: tuple[str, ...]) -> None:
    if verb in ("HELLO", "INFO", "RUN", "PROF"):
        if args:
            raise ValueError("takes no arguments")
    elif verb == "IN":
        if not 2 <= len(args) <= 1 + MAX_VALUES_PER_LINE:
            raise ValueError(f"expected <offset> and 1..{MAX_VALUES_PER_LINE} values")
        parse_uint(args[0], 0, 2**31 - 1)
    elif verb == "BENCH":
        if len(args) not in (2, 3) or (len(args) == 3 and args[2] != "RAW"):
            raise ValueError("expected <warmup> <n> [RAW]")
        parse_uint(args[0], 0, BENCH_MAX_WARMUP)
        parse_uint(args[1], 1, BENCH_MAX_N)


# ---------------------------------------------------------------- PROF (protocol v2)

@dataclass(frozen=True)
class OperatorTiming:
    """One operator of a profiled invoke, as the board reported it (DATA line ``i``).

    ``us`` is None where the board's profiler has no tick source, ``cycles`` None where it
    has no cycle counter (both sent as -1)."""

    index: int
    op: str
    ticks: int
    us: float | None
    cycles: int | None


@dataclass(frozen=True)
class Profile:
    """PROF's answer: the operators in the order the interpreter ran them, the profiler's
    own total, and the whole invoke timed as RUN times it."""

    operators: tuple[OperatorTiming, ...]
    ticks: int
    ticks_per_s: int
    us: float | None
    invoke_us: float
    invoke_cycles: int | None


def _strict_uint(value: str, what: str) -> int:
    if not _UINT.match(value):
        raise ValueError(f"{what}={value!r} is not an unsigned decimal")
    return int(value)


def _fixed(value: str, what: str) -> float:
    if not _FIXED.match(value):
        raise ValueError(f"{what}={value!r} is not a decimal with at most 3 decimals")
    return float(value)


def _optional(value: str, what: str, parse: type) -> float | int | None:
    """A figure or -1 for 'not available'; ValueError for anything else."""
    if value == "-1":
        return None
    return _strict_uint(value, what) if parse is int else _fixed(value, what)


def decode_profile(data: Sequence[dict[str, str]], ok: dict[str, str]) -> Profile:
    """PROF's DATA fields and OK fields as a Profile; ValueError unless they are complete and
    consistent: indices 0..n-1 in order, operator names frame tokens, and the operators'
    ticks at most the profiler's total (the firmware reads each operator's ticks just
    inside the profiler's own reads; the virtual board's add up exactly)."""
    n = _strict_uint(ok.get("n", ""), "n")
    if n > MAX_PROFILED_OPS:
        raise ValueError(f"n={n} operators, more than one PROF answer carries ({MAX_PROFILED_OPS})")
    if len(data) != n:
        raise ValueError(f"OK says n={n} operators, {len(data)} DATA lines came")
    operators = []
    for i, fields in enumerate(data):
        if _strict_uint(fields.get("i", ""), "i") != i:
            raise ValueError(f"DATA i={fields.get('i')} where i={i} was due")
        op = fields.get("op", "")
        if not _VALUE.match(op):
            raise ValueError(f"DATA i={i} has no operator name")
        operators.append(OperatorTiming(i, op, _strict_uint(fields.get("ticks", ""), "ticks"),
                                        _optional(fields.get("us", ""), "us", float),
                                        _optional(fields.get("cycles", ""), "cycles", int)))
    profile = Profile(tuple(operators), _strict_uint(ok.get("ticks", ""), "ticks"),
                      _strict_uint(ok.get("ticks_per_s", ""), "ticks_per_s"),
                      _optional(ok.get("us", ""), "us", float),
                      _fixed(ok.get("invoke_us", ""), "invoke_us"),
                      _optional(ok.get("invoke_cycles", ""), "invoke_cycles", int))
    if sum(o.ticks for o in operators) > profile.ticks:
        raise ValueError(f"operators' ticks add up to {sum(o.ticks for o in operators)}, more "
                         f"than the profiler's total {profile.ticks}")
    return profile


def encode_profile(seq: int, operators: Sequence[tuple[str, int, int | None]], ticks_per_s: int,
                   invoke_us: float, invoke_cycles: int | None) -> list[str]:
    """PROF's answer frames for (operator name, ticks, cycles or None) triples, as the firmware
    formats them: times in us with 3 decimals rounded half up (-1 if ticks_per_s is 0), None
    cycles as -1, the OK's ticks and us the operators' total."""
    def us(ticks: int) -> str:
        return format_fixed3(Decimal(ticks) * 1_000_000 / Decimal(ticks_per_s)) if ticks_per_s else "-1"

    def count(cycles: int | None) -> str:
        return "-1" if cycles is None else str(cycles)

    frames = [encode_frame(seq, "DATA", {"i": str(i), "op": op, "ticks": str(ticks), "us": us(ticks),
                                         "cycles": count(cycles)})
              for i, (op, ticks, cycles) in enumerate(operators)]
    total = sum(ticks for _, ticks, _ in operators)
    return frames + [encode_frame(seq, "OK", {
        "n": str(len(operators)), "ticks": str(total), "ticks_per_s": str(ticks_per_s),
        "us": us(total), "invoke_us": format_fixed3(invoke_us), "invoke_cycles": count(invoke_cycles)})]


# ---------------------------------------------------------------- bounded line assembly

@dataclass(frozen=True)
class TooLong:
    """A line that exceeded MAX_LINE_BYTES and was discarded; ``prefix`` is what was kept."""

    prefix: str


Received = Union[str, TooLong]


class LineAssembler:
    """Splits a byte stream into lines, never holding more than MAX_LINE_BYTES of one line.

    A longer line is dropped up to its '\\n' and reported once as :class:`TooLong` with its
    first MAX_LINE_BYTES bytes, which still decode as ``too_long``.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._overflow: str | None = None
        self._unfinished = 0
        self.too_long_count = 0

    @property
    def unfinished(self) -> tuple[int, str]:
        """The line being received: bytes so far (also those dropped) and the kept prefix."""
        return self._unfinished, self._overflow or self._buf.decode("latin-1")

    def feed(self, data: bytes) -> list[Received]:
        """Add bytes; return the lines they complete (text without its '\\n'). A trailing
        '\\r' is left for the decoder, which strips exactly one: stripping here as well would
        accept '\\r\\r', which the firmware refuses."""
        out: list[Received] = []
        for piece in re.split(b"(\n)", data):
            if piece == b"\n":
                out.append(self._finish())
                self._unfinished = 0
            elif piece:
                self._append(piece)
                self._unfinished += len(piece)
        return out

    def _append(self, piece: bytes) -> None:
        if self._overflow is not None:
            return
        room = MAX_LINE_BYTES - len(self._buf)
        self._buf += piece[:room]
        if len(self._buf) >= MAX_LINE_BYTES:  # no room left for the '\n'
            self._overflow = self._buf.decode("latin-1")
            self._buf.clear()

    def _finish(self) -> Received:
        if self._overflow is not None:
            kept, self._overflow = self._overflow, None
            self.too_long_count += 1
            return TooLong(kept)
        text = self._buf.decode("latin-1")
        self._buf.clear()
        return text
