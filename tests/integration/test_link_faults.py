"""Link faults and impossible figures against the host agent, on real pseudo-terminals.

A scripted board (a thread on the master side of a pty) plays one fault during a full
measuring session (measure_board: HELLO, INFO, IN, RUN, BENCH RAW). Each fault must end in
one BoardLinkError within an asserted bound, with the transcript kept, and no figure returned.
"""

from __future__ import annotations

import contextlib
import time
from typing import Callable, Iterator

import pytest

from agent import protocol as p
from agent.client import BoardClient
from agent.session import MeasurementError, measure_board
from agent.errors import BoardLinkError
from tests.helpers.scripted_board import Link, scripted_board

TIMEOUT_S = 1.0
BOUND_S = TIMEOUT_S + 1.5  # the session's deadline plus scheduling slack on a loaded machine
MODEL = b"model bytes"
IDENTITY = {"proto": "1", "fw": "fake", "board": "fake", "mcu": "x", "clock_hz": "1",
            "tflm": "x", "compiler": "x", "timer": "micros", "latency_source": "measured"}
INFO = {"model_bytes": str(len(MODEL)), "model_crc32": f"{p.crc32(MODEL):08x}",
        "arena_bytes": "4096", "arena_used_bytes": "100", "in_dtype": "float32", "in_len": "1",
        "out_dtype": "float32", "out_len": "1"}
US = 100  # every fake invoke: 100 us, no cycle counter


def frame(seq: int, kind: str, **fields: str) -> bytes:
    return (p.encode_frame(seq, kind, fields) + "\n").encode("ascii")


def bench_rows(seq: int, n: int) -> list[bytes]:
    return [frame(seq, "DATA", i=str(i), us=str(US), cycles="-1") for i in range(n)]


def bench_ok(seq: int, n: int, **change: str) -> bytes:
    stats = {"n": str(n), "mean_us": f"{US}.000", "std_us": "0.000", "min_us": f"{US}.000",
             "median_us": f"{US}.000", "p95_us": f"{US}.000", "max_us": f"{US}.000",
             "mean_cycles": "-1"}
    return frame(seq, "OK", **(stats | change))


class Board:
    """A well-behaved fake board; a test replaces the answer of one verb with a fault.

    An answer is a function of (seq, the command, the link), where the link can write raw
    bytes, sleep, or close the pty (``link.hang_up()``), as a failing board would.
    """

    def __init__(self, **faults: Callable[[int, p.Command, "Link"], None]) -> None:
        self.answers = {
            "HELLO": lambda s, c, link: link.write(frame(s, "OK", **IDENTITY)),
            "INFO": lambda s, c, link: link.write(frame(s, "OK", **INFO)),
            "IN": lambda s, c, link: link.write(frame(s, "OK", n=str(len(c.args) - 1))),
            "RUN": lambda s, c, link: link.write(frame(s, "DATA", off="0", v="3f800000")
                                                 + frame(s, "OK", us=str(US), cycles="-1")),
            "BENCH": lambda s, c, link: link.write(b"".join(bench_rows(s, int(c.args[1])))
                                                   + bench_ok(s, int(c.args[1]))),
        } | faults


@contextlib.contextmanager
def served(board: Board) -> Iterator[str]:
    with scripted_board(lambda cmd, link: board.answers[cmd.verb](cmd.seq, cmd, link)) as port:
        yield port


def session_fails(board: Board, match: str) -> MeasurementError:
    """The whole session on ``board`` ends in one MeasurementError within BOUND_S."""
    with served(board) as port:
        start = time.monotonic()
        with pytest.raises(MeasurementError, match=match) as info:
            measure_board(port, MODEL, 1, warmup=0, invokes=5,
                          timeout_s=TIMEOUT_S, retries=1)
        elapsed = time.monotonic() - start
    assert elapsed < BOUND_S, f"took {elapsed:.2f} s"
    transcript = info.value.transcript
    assert transcript[0] == "> 1 HELLO" and len(transcript) >= 2  # what the board said is kept
    return info.value


def test_the_fake_board_is_measured_when_it_behaves() -> None:
    with served(Board()) as port:
        m = measure_board(port, MODEL, 1, warmup=0, invokes=5,
                          timeout_s=TIMEOUT_S, retries=1)
    assert m.stats["mean_us"] == US and m.per_invoke_us == [US] * 5


# ------------------------------------------------------------ link faults (issue 11, item 4)


def test_board_resets_mid_benchmark() -> None:
    def reset(s: int, c: p.Command, link: Link) -> None:
        link.write(b"".join(bench_rows(s, 2)) + b"Mbed OS 6.17\r\n" + frame(0, "BOOT", proto="1", fw="x"))

    error = session_fails(Board(BENCH=reset), "BENCH: the board reset")
    assert any("BOOT" in t for t in error.transcript)


def test_board_disconnects_mid_line() -> None:
    def unplug(s: int, c: p.Command, link: Link) -> None:
        link.write(b"".join(bench_rows(s, 2)) + frame(s, "DATA", i="2", us="100")[:12])
        time.sleep(0.05)
        link.hang_up()

    error = session_fails(Board(BENCH=unplug), "reading .* failed.*12 bytes without a line end")
    assert error.transcript[-1].startswith("# unterminated: 12 bytes")


def test_board_stalls_after_a_partial_frame() -> None:
    stall = lambda s, c, link: link.write(frame(s, "DATA", off="0", v="3f800000")[:20])  # noqa: E731
    error = session_fails(Board(RUN=stall), "RUN: no answer within 1 s; the board sent 20 bytes "
                                             "without a line end")
    assert error.transcript[-1].startswith("# unterminated: 20 bytes")


def test_board_floods_without_newlines() -> None:
    def flood(s: int, c: p.Command, link: Link) -> None:
        end = time.monotonic() + 3 * TIMEOUT_S
        while time.monotonic() < end and not link.closed.is_set():
            link.write(b"A" * 4096)

    session_fails(Board(INFO=flood), r"INFO: no answer within 1 s; the board sent \d+ bytes "
                                     "without a line end, longer than the 200-byte limit")


def test_a_65kb_line_before_hello_is_named_not_silence() -> None:
    """Defect 11: a 65 KB line without a newline was reported as 'the board sent nothing'."""
    error = session_fails(Board(HELLO=lambda s, c, link: link.write(b"x" * 65_536)),
                          "no answer to HELLO .* 65536 bytes without a line end, longer than")
    assert "sent nothing" not in str(error)


def test_board_answers_with_a_stale_sequence_number() -> None:
    stale = lambda s, c, link: link.write(frame(s - 1, "OK", **INFO))  # noqa: E731
    session_fails(Board(INFO=stale), "INFO: no answer within 1 s; 1 frames carried an earlier seq")


def test_an_endless_data_stream_cannot_extend_the_deadline() -> None:
    """Defect 3: each matching DATA frame pushed the deadline on, so a board that kept sending
    them held the client until the port closed."""
    def endless(s: int, c: p.Command, link: Link) -> None:
        for i in range(int(c.args[1])):  # slow: one valid row per 0.1 s, never the OK
            link.write(frame(s, "DATA", i=str(i), us=str(US), cycles="-1"))
            time.sleep(0.1)
            if link.closed.is_set():
                return

    with served(Board(BENCH=endless)) as port, BoardClient(port, timeout_s=TIMEOUT_S) as client:
        client.hello()
        start = time.monotonic()
        with pytest.raises(BoardLinkError, match="BENCH: no answer within 1 s"):
            client.bench(0, 1000)
        assert time.monotonic() - start < BOUND_S


def test_more_data_lines_than_asked_for_are_refused_at_once() -> None:
    many = lambda s, c, link: link.write(b"".join(bench_rows(s, 50)) + bench_ok(s, 50))  # noqa: E731
    session_fails(Board(BENCH=many), "more than the 5 DATA lines asked for")


# ------------------------------------------------------------ impossible figures (defect 4)


def _run_answer(**ok: str) -> Callable[[int, p.Command, Link], None]:
    fields = {"us": str(US), "cycles": "-1"} | ok
    return lambda s, c, link: link.write(frame(s, "DATA", off="0", v="3f800000") + frame(s, "OK", **fields))


@pytest.mark.parametrize("fields, words", [
    ({"us": "-5"}, "us=-5 is impossible"),
    ({"us": "0"}, "us=0 is impossible"),
    ({"us": "900000000"}, "us=9e[+]08 is longer than"),
    ({"cycles": "0"}, "cycles=0 is impossible"),
])
def test_impossible_run_timings(fields: dict[str, str], words: str) -> None:
    session_fails(Board(RUN=_run_answer(**fields)), f"RUN: impossible figure: {words}")


def test_a_nan_output_is_refused() -> None:
    nan = lambda s, c, link: link.write(frame(s, "DATA", off="0", v="7fc00000")  # noqa: E731
                                        + frame(s, "OK", us=str(US), cycles="-1"))
    session_fails(Board(RUN=nan), "RUN: impossible figure: output 0 is nan")


def _bench(rows: Callable[[int, int], list[bytes]], **ok: str) -> Callable[[int, p.Command, Link], None]:
    return lambda s, c, link: link.write(b"".join(rows(s, int(c.args[1]))) + bench_ok(s, int(c.args[1]), **ok))


@pytest.mark.parametrize("board, words", [
    (_bench(bench_rows, mean_us="-5.000"), "mean_us=-5 is impossible"),
    (_bench(bench_rows, mean_us="5.000", min_us="100.000", max_us="50.000", std_us="-3.000"),
     "mean_us=5 lies outside min_us=100 .. max_us=50"),
    (_bench(bench_rows, std_us="-3.000"), "std_us=-3 is impossible"),
    (_bench(bench_rows, mean_us="101.000", max_us="102.000"), "mean_us=101 contradicts the 5 rows"),
    (_bench(lambda s, n: [frame(s, "DATA", i="0", us=str(US), cycles="-1")] * n),
     "RAW row 1 is labelled i=0"),
    (_bench(lambda s, n: [frame(s, "DATA", i=str(i), us="-1", cycles="-1") for i in range(n)],
            mean_us="-1.000", min_us="-1.000", max_us="-1.000", median_us="-1.000", p95_us="-1.000"),
     "mean_us=-1 is impossible"),
    (_bench(bench_rows, mean_us="900000.000", min_us="900000.000", max_us="900000.000",
            median_us="900000.000", p95_us="900000.000"), "mean_us=900000 is longer than"),
])
def test_impossible_bench_figures(board: Callable, words: str) -> None:
    session_fails(Board(BENCH=board), f"BENCH: impossible figure: {words}")


# ------------------------------------------------------------ unusable deadlines (defect 11)


@pytest.mark.parametrize("timeout_s", [1e-9, 0.0, -1.0, float("nan"), float("inf"), "soon"])
def test_an_unusable_timeout_is_named_not_blamed_on_the_board(timeout_s: object) -> None:
    with pytest.raises(BoardLinkError, match=r"timeout_s=.* is not a usable deadline") as info:
        BoardClient("/dev/null", timeout_s=timeout_s)  # type: ignore[arg-type]
    assert "unplugged" not in str(info.value)
