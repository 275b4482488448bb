"""Property-based fuzzing of both protocol codecs: agent/protocol.py and the firmware's C++.

Hypothesis draws lines of four sorts: valid frames (or commands), the same after one to three
mutations (truncation, bit flip, byte insertion or deletion, random bytes spliced in, over-long
padding, a stray '\\r', and a CRC recomputed after the damage so the grammar behind the CRC is
reached: a deliberate CRC collision), biased random bytes near the grammar, and raw random bytes
(NUL, non-UTF-8). Each line goes to the Python codec and to the C++ codec (one
`txp_host_harness --stream` process for all lines), and must be:
- decoded into the canonical shape, or refused with the protocol's own result, never another
  exception, within a bound;
- never a wrong value: a frame accepted is byte for byte what the encoder makes of its fields,
  and an unmutated frame decodes to the fields it was built from;
- the same on both sides (the C++ JSON is json.dumps(sort_keys=True) of Python's decoding; the
  C++ board answers each command as the Python codec says it must).

Fixed seed (derandomize), no example database, a bounded budget: FUZZ_EXAMPLES lines per codec
(10,500 by default, at least 10,000 of them distinct; about 10 s a test on a loaded 2-core
machine). A longer run: TINYEXP_FUZZ_EXAMPLES=200000 (docs/reliability.md has its result).
Found by this harness and fixed: the C++ board answered `IN 00 ...` and `IN RAW 0` with
no_model where the spec (and Python) say bad_args: leading zeros were accepted, and IN's
offset was parsed only after the model check (10,000-line run); Python's receive path
stripped two trailing '\r' (line assembler and decoder), so it accepted `1 HELLO\r\r`,
which the firmware refuses (200,000-line run).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent import protocol as p

ROOT = Path(__file__).resolve().parents[2]
FUZZ_EXAMPLES = int(os.environ.get("TINYEXP_FUZZ_EXAMPLES", "10500"))  # >= 10,000 distinct
LINE_BOUND_S = 2.0  # one line through the Python codec; a hang fails here
CPP_BOUND_S = 60.0  # every line through the C++ codec, one process
SETTINGS = settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck))


def cpp_answers(mode: str, records: list[bytes]) -> list[list[str]]:
    """The C++ harness's output lines for each record, all records through one process
    (`txp_host_harness --stream`), within CPP_BOUND_S: a hang or a crash fails here."""
    blob = b"".join(struct.pack("<I", len(r)) + r for r in records)
    out = subprocess.run([str(ROOT / "firmware" / "build" / "txp_host_harness"), "--stream", mode],
                         input=blob, capture_output=True, timeout=CPP_BOUND_S)
    assert out.returncode == 0, out.stderr
    groups = out.stdout.decode("latin-1").split("E\n")
    assert groups[-1] == "" and len(groups) == len(records) + 1, "C++ output does not match input"
    return [g.splitlines() for g in groups[:-1]]


def first_disagreement(records: list[bytes], python: list[list[str]],
                       cpp: list[list[str]]) -> str | None:
    for record, mine, theirs in zip(records, python, cpp):
        if mine != theirs:
            return f"line {record!r}: Python says {mine}, C++ says {theirs}"
    return None


@pytest.fixture(scope="module")
def harness_built() -> None:
    if shutil.which("g++") is None or shutil.which("make") is None:
        pytest.skip("g++/make are not installed: the firmware host harness cannot be built")
    out = subprocess.run(["make", "-C", str(ROOT / "firmware"), "host"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr


# ------------------------------------------------------------ strategies
# Hypothesis pays per draw, so each line is built from one drawn byte string (a "tape") read
# by a small deterministic interpreter: the budget buys lines, and Hypothesis still shrinks a
# failure (shorter tapes, smaller bytes) to a small line.

_KEYS = ["n", "us", "i", "cycles", "proto", "v", "off", "code", "a_1", "z" * 40, "Key", "k-1",
         "", "msg"]
_VALUES = ["1", "-1", "3f800000", "7fc00000", "100.000", "a,b", "=", "*", "@", "x" * 150, "",
           "a b", "\x7f", "~"]
_MSGS = ["", "no op X", " lead", "a=b c", "x" * 250, " *deadbeef", "tab\there"]
_NEAR = b"@ *=,-0123456789abcdef\r\n\x00\xffOKDATERBOUNINFLHX"
_ARGS = ["0", "1", "16", "999", "1000", "1001", "RAW", "raw", "3f800000", "-128", "127", "x",
         "00", "-0", "4294967296", "2147483647", "2147483648", "01", ""]
_SEQS = ["1", "65535", "65536", "0", "01", "7", "+1", "99999", "123456"]
_VERBS = [*p.VERBS, "NOPE", "hello", "", "IN\x00"]
TAPE = st.binary(min_size=8, max_size=64)


class Tape:
    """Reads choices from drawn bytes, then from a generator seeded with them once they run
    out: the line is a function of the tape alone, and every tape gives a different line."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0
        self.rest = random.Random(data)

    def byte(self) -> int:
        self.at += 1
        return self.data[self.at - 1] if self.at <= len(self.data) else self.rest.randrange(256)

    def below(self, n: int) -> int:
        return (self.byte() << 8 | self.byte()) % n

    def pick(self, pool: list):  # noqa: ANN201 - an element of pool
        return pool[self.below(len(pool))]


def valid_frame(t: Tape) -> tuple[str, dict]:
    """(line, the decoding it must have), from fields the encoder accepts."""
    seq = t.below(p.MAX_SEQ + 1)
    kind = t.pick(list(p.KINDS))
    fields: dict[str, str] = {}
    for _ in range(t.below(6)):
        key, value = t.pick(_KEYS), t.pick(_VALUES)
        if key != "msg" and p._KEY.match(key) and p._VALUE.match(value):
            fields[key] = value
    msg = t.pick([None, *_MSGS])
    try:
        line = p.encode_frame(seq, kind, fields, msg)
    except ValueError:  # does not fit in a line: the encoder refuses it, as it must
        fields = {}
        line = p.encode_frame(seq, kind, fields, msg)
    cut = {"msg": p.decode_line(line)["fields"]["msg"]} if msg is not None else {}
    return line, {"seq": seq, "kind": kind, "fields": fields | cut}


def mutate(t: Tape, base: bytes) -> bytes:
    """``base`` after 1 to 3 mutations; sometimes with its CRC made valid again (a CRC
    collision: the right CRC on a damaged body, so the grammar behind the CRC is reached)."""
    data = bytearray(base)
    for _ in range(1 + t.below(3)):
        op, at = t.below(7), t.below(len(data) + 1)
        if op == 0:
            del data[at:]
        elif op == 1 and data:
            data[min(at, len(data) - 1)] ^= 1 << t.below(8)
        elif op == 2:
            data[at:at] = bytes([t.pick(list(_NEAR)) if t.below(2) else t.byte()])
        elif op == 3:
            del data[at:at + 1]
        elif op == 4:
            data[at:at + t.below(9)] = bytes(t.byte() for _ in range(t.below(9)))
        elif op == 5:
            data[at:at] = b"x" * t.pick([1, 2, 60, 200, 201, 5000])
        else:
            data[at:at] = b"\r"
    if t.below(2) and b" *" in data:
        body = bytes(data[: data.rindex(b" *") + 1])
        data = bytearray(body + b"*" + f"{p.crc32(body):08x}".encode())
    return bytes(data)


def random_line(t: Tape, raw: bytes) -> bytes:
    """Bytes near the grammar ('@' and frame characters), or the raw tape itself."""
    if t.below(2):
        return b"@" + bytes(t.pick(list(_NEAR)) for _ in range(t.below(80)))
    return raw


@st.composite
def frame_lines(draw: st.DrawFn) -> tuple[bytes, dict | None]:
    """(line bytes, its decoding when it is an untouched valid frame, else None)."""
    sort, raw = draw(st.integers(0, 9)), draw(TAPE)
    t = Tape(raw)
    if sort < 3:
        line, expected = valid_frame(t)
        cr = t.pick([b"", b"\r"]) if len(line) + 2 <= p.MAX_LINE_BYTES else b""
        return line.encode("latin-1") + cr, expected
    if sort < 8:
        return mutate(t, valid_frame(t)[0].encode("latin-1")), None
    return random_line(t, raw), None


@st.composite
def command_lines(draw: st.DrawFn) -> bytes:
    sort, raw = draw(st.integers(0, 9)), draw(TAPE)
    t = Tape(raw)
    line = " ".join([t.pick(_SEQS), t.pick(_VERBS), *(t.pick(_ARGS) for _ in range(t.below(19)))])
    if sort < 2:
        return line.encode("latin-1")
    if sort < 8:
        return mutate(t, line.encode("latin-1")).replace(b"\n", b"")
    return random_line(t, raw).replace(b"\n", b"")


# ------------------------------------------------------------ properties


def _report(tried: list[bytes]) -> None:
    """Every example ran (Hypothesis stops early only on a failure), most of them distinct."""
    distinct = len(set(tried))
    print(f"fuzz: {len(tried)} lines tried, {distinct} distinct, both codecs agreed")
    assert len(tried) >= FUZZ_EXAMPLES, len(tried)
    assert distinct >= min(10_000, 0.9 * FUZZ_EXAMPLES), distinct


def _canonical(decoded: dict) -> str:
    """The line the encoder makes of a decoding: accepted frames must be exactly this."""
    fields = {k: v for k, v in decoded["fields"].items() if k != "msg"}
    return p.encode_frame(decoded["seq"], decoded["kind"], fields, decoded["fields"].get("msg"))


def _python_frame(text: str) -> dict:
    start = time.monotonic()
    decoded = p.decode_line(text)
    assert time.monotonic() - start < LINE_BOUND_S
    if "junk" in decoded:
        assert decoded == {"junk": True}
    elif "corrupt" in decoded:
        assert decoded["corrupt"] in ("too_long", "bad_grammar", "bad_crc") and len(decoded) == 1
    else:
        assert set(decoded) == {"seq", "kind", "fields"} and 0 <= decoded["seq"] <= p.MAX_SEQ
        stripped = text[:-1] if text.endswith("\r") else text
        assert _canonical(decoded) == stripped, "accepted a line the encoder would not write"
    return decoded


def test_both_frame_decoders_agree_on_fuzzed_lines(harness_built: None) -> None:
    tried: list[bytes] = []
    python: list[list[str]] = []

    @SETTINGS
    @given(frame_lines())
    def check(case: tuple[bytes, dict | None]) -> None:
        line, expected = case
        decoded = _python_frame(line.decode("latin-1"))
        if expected is not None:
            assert decoded == expected
        if b"\n" not in line:  # the host's receive path: assembler, then decoder
            received = _received(line)
            text = received.prefix if isinstance(received, p.TooLong) else received
            assert p.decode_line(text) == decoded
        tried.append(line)
        python.append([json.dumps(decoded, sort_keys=True)])

    check()
    _report(tried)
    assert first_disagreement(tried, python, cpp_answers("frames", tried)) is None


def _received(line: bytes) -> p.Received:
    """The line as the Python side receives it: through the bounded line assembler."""
    (got,) = p.LineAssembler().feed(line + b"\n")
    return got


def _python_answer(line: bytes) -> tuple[str, int] | None:
    """(ERR code or 'OK', seq) the board must answer, per agent/protocol.py's receive path
    (as the virtual board runs it); None: no answer. The board has no model, so a
    well-formed INFO/IN/RUN/BENCH gets no_model."""
    text = _received(line)
    if isinstance(text, p.TooLong):
        return "line_too_long", 0
    if text in ("", "\r"):
        return None
    try:
        cmd = p.decode_command(text)
    except p.CommandError as exc:
        return exc.code, exc.seq
    return ("OK" if cmd.verb == "HELLO" else "no_model"), cmd.seq


def _as_answer(frame_line: str) -> tuple[str, int]:
    """('OK' or the ERR code, seq) of a frame the C++ board sent; it must be a valid frame."""
    frame = p.decode_line(frame_line)
    assert "corrupt" not in frame and "junk" not in frame, frame_line
    return ("OK" if frame["kind"] == "OK" else frame["fields"].get("code", "?")), frame["seq"]


def test_both_command_decoders_agree_on_fuzzed_lines(harness_built: None) -> None:
    tried: list[bytes] = []
    python: list[list[str]] = []

    @SETTINGS
    @given(command_lines())
    def check(line: bytes) -> None:
        expected = _python_answer(line)
        tried.append(line)
        python.append([] if expected is None else [f"{expected[0]} {expected[1]}"])

    check()
    _report(tried)
    cpp = [[" ".join(map(str, _as_answer(a[2:]))) for a in answers if a.startswith("R ")]
           + [a for a in answers if not a.startswith("R ")]
           for answers in cpp_answers("commands", tried)]
    assert first_disagreement(tried, python, cpp) is None
