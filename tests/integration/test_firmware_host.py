"""The firmware's portable protocol code (firmware/tinyexp_firmware/src), built for the host.

firmware/build/txp_host_harness replays each transcript through the C++ decoder and the
C++ dispatcher with a stub backend (firmware/host/harness.cpp documents its output). This
checks that the C++ and Python decoders agree with each other and with the transcripts,
that every frame the dispatcher formats is valid for the Python host, that BENCH
statistics match numpy, that PROF answers are what the Python encoder writes for the same
figures, and that the portable code also compiles for the board's Cortex-M4F.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.protocol import PROTO_VERSION, decode_line, decode_profile, encode_profile

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
HARNESS = FIRMWARE / "build" / "txp_host_harness"
TRANSCRIPTS = sorted((ROOT / "tests" / "transcripts").glob("*.txt"))
# Transcripts written by the harness itself: their "< " lines are the dispatcher's answers.
GOLDEN = [t for t in TRANSCRIPTS if t.name.startswith("fw_")]


def _make(target: str) -> subprocess.CompletedProcess:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    return subprocess.run(["make", "-C", str(FIRMWARE), target], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def harness() -> Path:
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed: the firmware host harness cannot be built")
    result = _make("host")
    assert result.returncode == 0, f"make -C firmware host failed:\n{result.stdout}\n{result.stderr}"
    return HARNESS


def _read(path: Path) -> list[str]:
    # newline="" keeps a '\r' inside a line, as a serial link would deliver it.
    with path.open(encoding="ascii", newline="") as f:
        return f.read().split("\n")


def _run(harness: Path, transcript: Path) -> tuple[dict[int, str], dict[int, list[str]]]:
    """Decodings by line number, and dispatcher answers by the number of the command's line."""
    out = subprocess.run([str(harness), str(transcript)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    decoded: dict[int, str] = {}
    answers: dict[int, list[str]] = defaultdict(list)
    for record in out.stdout.splitlines():
        tag, number, body = record.split(" ", 2)
        if tag == "D":
            decoded[int(number)] = body
        else:
            assert tag == "R", record
            answers[int(number)].append(body)
    return decoded, answers


def _received_with_expectations(lines: list[str]) -> list[tuple[int, str, str | None]]:
    """(line number, received text, expected json or None) for each "< " line."""
    found = []
    for i, line in enumerate(lines):
        if line.startswith("< "):
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            found.append((i + 1, line[2:], nxt[2:] if nxt.startswith("= ") else None))
    return found


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=lambda p: p.name)
def test_cpp_decoder_matches_transcript(harness, transcript):
    decoded, _ = _run(harness, transcript)
    for number, text, expected in _received_with_expectations(_read(transcript)):
        assert number in decoded, f"{transcript.name}:{number}: harness printed no decoding"
        if expected is not None:
            assert json.loads(decoded[number]) == json.loads(expected), f"{transcript.name}:{number}: {text!r}"


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=lambda p: p.name)
def test_cpp_decoder_matches_python_decoder(harness, transcript):
    decoded, _ = _run(harness, transcript)
    for number, text, _ in _received_with_expectations(_read(transcript)):
        python = decode_line(text)
        # Byte for byte: the harness prints what json.dumps(sort_keys=True) prints.
        assert decoded[number] == json.dumps(python, sort_keys=True), f"{transcript.name}:{number}: {text!r}"


def _frame_ok(frame: str) -> bool:
    body, star, crc = frame.rpartition("*")
    return bool(star) and body.endswith(" ") and re.fullmatch(r"[0-9a-f]{8}", crc) is not None \
        and zlib.crc32(body.encode("ascii")) == int(crc, 16)


@pytest.mark.parametrize("transcript", TRANSCRIPTS, ids=lambda p: p.name)
def test_dispatcher_frames_are_valid(harness, transcript):
    _, answers = _run(harness, transcript)
    frames = [f for group in answers.values() for f in group]
    assert frames, "the harness sends at least the BOOT frame"
    for frame in frames:
        assert len(frame) + 1 <= 200, frame
        assert _frame_ok(frame), f"bad CRC (zlib): {frame}"
    for frame in frames:
        assert "corrupt" not in decode_line(frame) and "junk" not in decode_line(frame), frame


@pytest.mark.parametrize("transcript", GOLDEN, ids=lambda p: p.name)
def test_dispatcher_answers_match_golden(harness, transcript):
    """For fw_*.txt, the "< " lines after each "> " line are exactly what the dispatcher answers."""
    lines = _read(transcript)
    _, answers = _run(harness, transcript)
    expected: dict[int, list[str]] = defaultdict(list)
    current = 0  # before any command: the BOOT frame
    for number, line in enumerate(lines, start=1):
        if line.startswith("> "):
            current = number
            expected[current]  # a command may have no answer (empty line)
        elif line.startswith("< ") and line[2:].startswith("@") and (current or "BOOT" in line):
            expected[current].append(line[2:])
    if transcript.name == "fw_decoding.txt":
        expected = {0: expected[0]}  # its other "< " lines are decoder cases, not answers
    assert {k: v for k, v in answers.items()} == {k: v for k, v in expected.items() if v or k in answers}


def _fields(frame: str) -> dict[str, str]:
    head = frame.rsplit(" *", 1)[0]
    return dict(token.split("=", 1) for token in head.split(" ")[2:])


def test_bench_statistics_match_numpy(harness, tmp_path):
    """Device statistics = numpy's on the same timings, to the protocol's 3 decimals.

    Definitions (firmware/PROTOCOL.md): population std (numpy ddof=0), numpy.median,
    p95 = numpy.percentile(us, 95) with the default linear method. The board prints the
    exact value rounded half up to 3 decimals, so it is within 0.0005 of numpy's.
    """
    sizes = [1, 2, 3, 4, 5, 19, 20, 21, 100, 999, 1000]
    script = tmp_path / "bench.txt"
    script.write_text("".join(f"> {i + 1} BENCH 0 {n} RAW\n" for i, n in enumerate(sizes)), encoding="ascii")
    _, answers = _run(harness, script)
    for i, n in enumerate(sizes):
        frames = answers[i + 1]
        data = [_fields(f) for f in frames[:-1]]
        ok = _fields(frames[-1])
        assert [int(d["i"]) for d in data] == list(range(n))
        us = np.array([int(d["us"]) for d in data], dtype=np.float64)
        cycles = np.array([int(d["cycles"]) for d in data], dtype=np.float64)
        expected = {
            "mean_us": us.mean(), "std_us": us.std(), "min_us": us.min(), "median_us": np.median(us),
            "p95_us": np.percentile(us, 95), "max_us": us.max(), "mean_cycles": cycles.mean(),
        }
        assert int(ok["n"]) == n
        for key, value in expected.items():
            assert re.fullmatch(r"[0-9]+\.[0-9]{3}", ok[key]), (key, ok[key])
            assert abs(float(ok[key]) - value) <= 0.0005 + 1e-9, (n, key, ok[key], value)


def _prof_answers(harness: Path, transcript: Path) -> list[list[str]]:
    """The dispatcher's frames answering each PROF line of a transcript."""
    _, answers = _run(harness, transcript)
    lines = _read(transcript)
    return [answers[number] for number, line in enumerate(lines, start=1)
            if line.startswith("> ") and line.split(" ")[2:] == ["PROF"]]


def _assert_python_writes_the_same(frames: list[str]) -> None:
    """Decode a PROF answer in Python, encode its figures again: byte for byte the same."""
    decoded = [decode_line(f) for f in frames]
    assert all(d["kind"] == "DATA" for d in decoded[:-1]) and decoded[-1]["kind"] == "OK", frames
    profile = decode_profile([d["fields"] for d in decoded[:-1]], decoded[-1]["fields"])
    again = encode_profile(decoded[-1]["seq"], [(o.op, o.ticks, o.cycles) for o in profile.operators],
                           profile.ticks_per_s, profile.invoke_us, profile.invoke_cycles)
    assert again == frames


@pytest.mark.parametrize("transcript", [t for t in GOLDEN if t.name.startswith("fw_prof")], ids=lambda p: p.name)
def test_prof_answers_are_what_the_python_encoder_writes(harness, transcript):
    answers = [a for a in _prof_answers(harness, transcript) if decode_line(a[-1])["kind"] == "OK"]
    if transcript.name in ("fw_prof.txt", "fw_prof_rate.txt", "fw_prof_no_timer.txt"):
        assert answers, "these transcripts profile successfully"
    for frames in answers:
        _assert_python_writes_the_same(frames)


def _exact_us_field(ticks: int, ticks_per_s: int) -> str:
    """ticks in microseconds, 3 decimals rounded half up, in integers only (no Decimal, no float)."""
    milli = (ticks * 2_000_000_000 // ticks_per_s + 1) // 2
    return f"{milli // 1000}.{milli % 1000:03d}"


@settings(max_examples=40, deadline=None)
@given(table=st.lists(st.tuples(st.sampled_from(["FULLY_CONNECTED", "CONV_2D", "QUANTIZE", "ADD"]),
                                st.integers(0, 2**24 - 1)), min_size=1, max_size=128),
       ticks_per_s=st.integers(1, 2**32 - 1))
def test_prof_time_conversion_matches_python_and_exact_arithmetic(harness, tmp_path_factory, table, ticks_per_s):
    """Any table of operator ticks at any tick rate: the board's microseconds are the exact
    quotient rounded half up, and the Python encoder writes the same frames."""
    script = tmp_path_factory.mktemp("prof") / "prof.txt"
    ops = ",".join(f"{op}:{ticks}" for op, ticks in table)
    script.write_text(f"# stub: ops={ops}\n# stub: ticks_per_s={ticks_per_s}\n> 9 PROF\n", encoding="ascii")
    [frames] = _prof_answers(harness, script)
    assert len(frames) == len(table) + 1
    for (op, ticks), frame in zip(table, frames):
        fields = _fields(frame)
        assert (fields["op"], int(fields["ticks"])) == (op, ticks)
        assert fields["us"] == _exact_us_field(ticks, ticks_per_s)
    assert _fields(frames[-1])["us"] == _exact_us_field(sum(t for _, t in table), ticks_per_s)
    _assert_python_writes_the_same(frames)


def test_versions_json_matches_firmware(harness):
    versions = json.loads((FIRMWARE / "versions.json").read_text(encoding="utf-8"))
    header = (FIRMWARE / "tinyexp_firmware" / "src" / "txp_version.h").read_text(encoding="ascii")
    assert f'#define TXP_FW_VERSION "{versions["firmware_version"]}"' in header
    _, answers = _run(harness, GOLDEN[0])
    boot = _fields(answers[0][0])
    assert boot["fw"] == versions["firmware_version"]
    assert int(boot["proto"]) == versions["protocol_version"] == PROTO_VERSION
    assert versions["fqbn"].startswith(versions["core"] + ":")
    for key in ("core_version", "library", "library_version"):
        assert versions[key]


# Symbols the portable objects may need from the board's toolchain: string functions,
# the EABI's software double and 64-bit helpers, and the C++ ABI's pure-virtual trap.
_ALLOWED_UNDEFINED = re.compile(r"(memcpy|memmove|memcmp|memset|strlen|__aeabi_\w+|__cxa_pure_virtual"
                                r"|_ZTV\w+|__gxx_personality_v0)\Z")


def test_portable_code_builds_for_cortex_m4():
    if shutil.which("arm-none-eabi-g++") is None:
        pytest.skip("arm-none-eabi-g++ is not installed (Debian: gcc-arm-none-eabi, "
                    "libnewlib-arm-none-eabi, libstdc++-arm-none-eabi-newlib)")
    result = _make("arm")
    assert result.returncode == 0, f"make -C firmware arm failed:\n{result.stdout}\n{result.stderr}"
    assert "txp_dispatch.o" in result.stdout  # the size table
    objects = sorted((FIRMWARE / "build" / "arm").glob("*.o"))
    nm = shutil.which("arm-none-eabi-nm")
    if nm is None:
        return
    def symbols(*flags: str) -> set[str]:
        out = subprocess.run([nm, *flags, *map(str, objects)], capture_output=True, text=True, check=True)
        return {line.split()[-1] for line in out.stdout.splitlines() if line.strip() and ":" not in line}

    external = symbols("--undefined-only") - symbols("--defined-only")
    unexpected = sorted(s for s in external if not _ALLOWED_UNDEFINED.match(s))
    assert not unexpected, f"portable firmware code needs host-only symbols: {unexpected}"
