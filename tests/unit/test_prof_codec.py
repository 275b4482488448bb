"""PROF's codec (protocol v2): what the board sends decodes to a Profile, and inconsistent
answers are refused rather than half-trusted."""

from __future__ import annotations

import pytest

from agent import protocol as p


def _frames_fields(frames: list[str]) -> tuple[list[dict[str, str]], dict[str, str]]:
    decoded = [p.decode_line(f)["fields"] for f in frames]
    return decoded[:-1], decoded[-1]


def test_profile_round_trips_and_refuses_inconsistent_answers() -> None:
    frames = p.encode_profile(3, [("QUANTIZE", 10, 640), ("FULLY_CONNECTED", 95, None)],
                              1_000_000, 120.0, 7680)
    data, ok = _frames_fields(frames)
    profile = p.decode_profile(data, ok)
    assert [(o.op, o.ticks, o.us, o.cycles) for o in profile.operators] == [
        ("QUANTIZE", 10, 10.0, 640), ("FULLY_CONNECTED", 95, 95.0, None)]
    assert (profile.ticks, profile.us, profile.invoke_us, profile.invoke_cycles) == (105, 105.0, 120.0, 7680)
    bad = {
        "n": (data, ok | {"n": "3"}),
        "i=": ([data[1] | {"i": "0"}, data[0]], ok),
        "more than the profiler's total": (data, ok | {"ticks": "104"}),
        "3 decimals": ([data[0] | {"us": "10.0001"}, data[1]], ok),
        "not a decimal": ([data[0], data[1] | {"us": "nan"}], ok),
        "no operator name": ([data[0] | {"op": ""}, data[1]], ok),
        "unsigned": (data, ok | {"ticks_per_s": "-5"}),
        "more than one PROF answer carries": (data, ok | {"n": str(p.MAX_PROFILED_OPS + 1)}),
    }
    for words, (d, o) in bad.items():
        with pytest.raises(ValueError, match=words):
            p.decode_profile(d, o)


def test_prof_takes_no_arguments() -> None:
    assert p.decode_command("9 PROF") == p.Command(9, "PROF", ())
    with pytest.raises(p.CommandError) as info:
        p.decode_command("9 PROF RAW")
    assert info.value.code == "bad_args" and info.value.seq == 9
