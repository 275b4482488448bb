"""The protocol codec, and the transcripts both decoders (Python and C++) must agree on."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest

from agent import protocol as p
from tests.helpers import TRANSCRIPTS_DIR

TRANSCRIPTS = sorted(TRANSCRIPTS_DIR.glob("*.txt"))


def _board_lines(path: Path) -> list[tuple[str, str | None]]:
    """Every '< ' line of a transcript with the '= ' expectation that follows it (or None)."""
    lines = path.read_text(encoding="ascii").split("\n")
    pairs = []
    for i, line in enumerate(lines):
        if line.startswith("< "):
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            pairs.append((line[2:], nxt[2:] if nxt.startswith("= ") else None))
    return pairs


def test_there_are_enough_transcripts() -> None:
    names = {t.stem for t in TRANSCRIPTS}
    assert {"hello", "info", "run", "bench_raw", "junk_before_banner", "corrupt",
            "wrong_proto"} <= names


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda t: t.stem)
def test_transcript_decodes_as_expected(path: Path) -> None:
    pairs = _board_lines(path)
    assert pairs
    for line, expected in pairs:
        assert expected is not None, f"{path.name}: no '= ' expectation after {line[:40]!r}"
        decoded = p.decode_line(line)
        assert decoded == json.loads(expected), line
        assert json.dumps(decoded, sort_keys=True) == expected, "expectation not canonical"


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda t: t.stem)
def test_transcript_commands_parse_or_are_refused_with_the_code_the_board_sent(path: Path) -> None:
    lines = path.read_text(encoding="ascii").split("\n")
    for i, line in enumerate(lines):
        if not line.startswith("> ") or line == "> ":
            continue  # boards do not answer an empty line
        try:
            p.decode_command(line[2:])
        except p.CommandError as exc:
            answer = next(p.decode_line(x[2:]) for x in lines[i + 1:] if x.startswith("< "))
            assert answer["kind"] == "ERR" and answer["fields"]["code"] == exc.code, line
            assert answer["seq"] == exc.seq


def test_frame_round_trip_and_crc_matches_zlib() -> None:
    line = p.encode_frame(7, "OK", {"us": "192", "cycles": "-1"})
    body = line[: line.rindex("*")]
    assert line.endswith(f"*{zlib.crc32(body.encode()):08x}")
    assert p.decode_line(line) == {"seq": 7, "kind": "OK", "fields": {"us": "192", "cycles": "-1"}}
    assert p.decode_line(line + "\r") == p.decode_line(line)


def test_msg_is_sanitised_and_shortened_to_fit_a_line() -> None:
    line = p.encode_frame(3, "ERR", {"code": "model_refused"}, "tab\there\n" + "z" * 400)
    assert len(line) + 1 == p.MAX_LINE_BYTES
    fields = p.decode_line(line)["fields"]
    assert fields["msg"].startswith("tab?here?zz")


@pytest.mark.parametrize("fields", [{"Key": "1"}, {"k": "a b"}, {"k": ""}, {"msg": "x"}])
def test_encode_frame_refuses_invalid_fields(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        p.encode_frame(1, "OK", fields)


def test_non_ascii_and_control_bytes_are_bad_grammar() -> None:
    """A correct CRC does not make a byte outside printable ASCII acceptable."""
    for body in ("@1 OK k=\xe9 ", "@1 OK k=\x01 ", "@1 OK msg=a\tb "):
        crc = zlib.crc32(body.encode("latin-1"))
        assert p.decode_line(f"{body}*{crc:08x}") == {"corrupt": "bad_grammar"}
    assert p.decode_line("@1 OK k=\u20ac *00000000") == {"corrupt": "bad_grammar"}


def test_float32_codec_is_exact() -> None:
    assert p.encode_f32(1.0) == "3f800000"
    for v in (0.0, -0.0, 1e-38, 3.4e38, -2.5, float(np.float32(math.pi))):
        assert p.decode_f32(p.encode_f32(v)) == np.float32(v)
    assert math.isnan(p.decode_f32("7fc00000"))
    for bad in ("3F800000", "3f80000", "3f8000000", "0x3f8000", "1.0"):
        with pytest.raises(ValueError):
            p.decode_f32(bad)


def test_int8_codec_is_strict() -> None:
    assert p.decode_values(["-128", "0", "127"], "int8") == [-128, 0, 127]
    for bad in ("128", "-129", "+1", "-0", "01", "1.0", ""):
        with pytest.raises(ValueError):
            p.decode_i8(bad)
    with pytest.raises(ValueError):
        p.encode_i8(200)


def test_values_round_trip_in_both_dtypes() -> None:
    f = np.array([0.5, -1.25, 7.0], dtype=np.float32)
    assert np.array_equal(p.decode_values(p.encode_values(f, "float32"), "float32"), f)
    i = np.array([-5, 0, 9], dtype=np.int8)
    assert np.array_equal(p.decode_values(p.encode_values(i, "int8"), "int8"), i)
    with pytest.raises(ValueError):
        p.encode_values([1], "float16")


def test_commands_encode_and_decode() -> None:
    assert p.encode_command(1, "HELLO") == b"1 HELLO\n"
    assert p.encode_command(2, "BENCH", [5, 100, "RAW"]) == b"2 BENCH 5 100 RAW\n"
    cmd = p.decode_command("2 BENCH 5 100 RAW\r")
    assert cmd == p.Command(2, "BENCH", ("5", "100", "RAW"))
    with pytest.raises(ValueError):
        p.encode_command(0, "HELLO")
    with pytest.raises(ValueError):
        p.encode_command(1, "IN", ["0"] + ["3f800000"] * 30)


@pytest.mark.parametrize("line, code, seq", [
    ("", "bad_command", 0),
    ("8  INFO", "bad_command", 0),
    ("9 INFO ", "bad_command", 0),
    ("HELLO", "bad_command", 0),
    ("0 HELLO", "bad_command", 0),
    ("65536 HELLO", "bad_command", 0),
    ("01 HELLO", "bad_command", 0),
    ("5 HEL\tLO", "bad_command", 0),
    ("1\tHELLO", "bad_command", 0),
    ("1  HELLO", "bad_command", 0),
    ("4 hello", "bad_command", 4),
    ("4 HELLO x", "bad_args", 4),
    ("5 IN", "bad_args", 5),
    ("5 IN -1 3f800000", "bad_args", 5),
    ("5 IN 0 " + " ".join(["1"] * 17), "bad_args", 5),
    ("6 BENCH 1001 5", "bad_args", 6),
    ("6 BENCH 0 0", "bad_args", 6),
    ("6 BENCH 0 5 raw", "bad_args", 6),
    ("7 RUN " + "x" * 200, "line_too_long", 0),
    ("x" * 200, "line_too_long", 0),
])
def test_bad_commands_get_the_right_code(line: str, code: str, seq: int) -> None:
    with pytest.raises(p.CommandError) as info:
        p.decode_command(line)
    assert (info.value.code, info.value.seq) == (code, seq)


def test_line_assembler_bounds_every_line() -> None:
    asm = p.LineAssembler()
    assert asm.feed(b"boot te") == []
    assert asm.feed(b"xt\r\n@0 BO") == ["boot text\r"]  # the decoder strips the one \\r
    out = asm.feed(b"OT *x\n" + b"a" * 1000 + b"b" * 1000)
    assert out == ["@0 BOOT *x"]
    assert len(asm._buf) == 0  # the long line is not buffered
    out = asm.feed(b"tail\nok\n")
    assert out[0] == p.TooLong("a" * p.MAX_LINE_BYTES) and out[1] == "ok"
    assert p.decode_line(out[0].prefix) == {"corrupt": "too_long"}
    assert asm.too_long_count == 1


def test_line_assembler_limit_counts_the_terminator() -> None:
    asm = p.LineAssembler()
    ok, long = b"x" * (p.MAX_LINE_BYTES - 1), b"y" * p.MAX_LINE_BYTES
    assert asm.feed(ok + b"\n") == [ok.decode()]
    assert isinstance(asm.feed(long + b"\n")[0], p.TooLong)
    assert isinstance(asm.feed(ok + b"\r\n")[0], p.TooLong)


def test_fixed3_rounds_half_up_like_the_firmware() -> None:
    assert [p.format_fixed3(x) for x in (192.0625, 0.0005, 1.5, -1, 2.87e6)] == \
        ["192.063", "0.001", "1.500", "-1.000", "2870000.000"]


def test_the_receive_path_strips_one_carriage_return_like_the_firmware() -> None:
    """Found by the 200,000-line fuzz run: the assembler and the decoder each stripped a
    '\\r', so the Python side accepted '1 HELLO\\r\\r', which the C++ board refuses (seq 0)."""
    once, twice = p.LineAssembler().feed(b"1 HELLO\r\n1 HELLO\r\r\n")
    assert p.decode_command(once).verb == "HELLO"
    with pytest.raises(p.CommandError) as info:
        p.decode_command(twice)
    assert (info.value.code, info.value.seq) == ("bad_command", 0)
    frame = p.encode_frame(1, "OK", {"n": "1"})
    (got,) = p.LineAssembler().feed((frame + "\r\r\n").encode())
    assert p.decode_line(got) == {"corrupt": "bad_grammar"}
