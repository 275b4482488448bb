"""`python -m agent`: measure a .tflite model on a board (or the virtual board) from a shell.

The same session the runner uses, without Hydra or MLflow, so a board can be checked by hand:
results go to stdout as JSON, followed by the per-operator table from a board of protocol v2
(--json prints the JSON alone, with the profile in it). A bad argument is one line on stderr
and exit status 2, checked before any port is opened or board started; a failure of the board
is one line and exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, Sequence

from agent import protocol as p
from agent.board_process import BoardStartError, board_process
from agent.client import MIN_TIMEOUT_S, write_transcript
from agent.errors import BoardLinkError
from agent.profile_table import format_profile, profile_rows
from agent.session import Measurement, MeasurementError, measure_board

# The virtual board is tinyexp's (it needs TFLM and the latency estimate); the agent starts it
# as a process by module name and never imports it, so the agent runs without tinyexp.
VIRTUAL_BOARD_MODULE = "tinyexp.device.virtual_board"


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def _checked(convert: Callable[[str], Any], ok: Callable[[Any], bool],
             what: str) -> Callable[[str], Any]:
    """An argparse type: ``convert`` the text, and refuse it unless ``ok``, saying ``what``."""
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a {what}")
        return value
    return parse


def _int_in(low: int, high: int) -> Callable[[str], int]:
    return _checked(int, lambda v: low <= v <= high, f"whole number in {low}..{high}")


_SECONDS = _checked(float, lambda v: math.isfinite(v) and v >= MIN_TIMEOUT_S,
                    f"finite number of seconds >= {MIN_TIMEOUT_S:g}")
_MICROSECONDS = _checked(float, lambda v: math.isfinite(v) and v > 0,
                         "finite number of microseconds above 0")


def _parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="python -m agent", description=__doc__.split("\n")[0])
    target = ap.add_mutually_exclusive_group(required=True)
    target.add_argument("--port", help="serial port or pyserial URL of the board")
    target.add_argument("--virtual", action="store_true", help="start the virtual board")
    ap.add_argument("--board", default="nano33ble",
                    help="--virtual: a board name of tinyexp's conf/board/, or its JSON description")
    ap.add_argument("--latency-us", type=_MICROSECONDS,
                    help="--virtual: fixed latency instead of the model")
    ap.add_argument("--model", type=Path, required=True, help="the .tflite model on the board")
    ap.add_argument("--warmup", type=_int_in(0, p.BENCH_MAX_WARMUP), default=5)
    ap.add_argument("--invokes", type=_int_in(1, p.BENCH_MAX_N), default=100)
    ap.add_argument("--samples", type=_int_in(1, 1000), default=1,
                    help="zero inputs run for output parity")
    ap.add_argument("--baud", type=_int_in(1, 10_000_000), default=p.DEFAULT_BAUD)
    ap.add_argument("--timeout", type=_SECONDS, default=20.0, help="seconds per command")
    ap.add_argument("--retries", type=_int_in(1, 100), default=3,
                    help="HELLO tries in the handshake")
    ap.add_argument("--json", action="store_true",
                    help="JSON only: also outputs, per-invoke times and the per-operator rows")
    ap.add_argument("--transcript", type=Path, help="write every serial line to this file")
    return ap


def _check_files_and_board(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """What argparse cannot see: the model is a readable file, the transcript's place is
    writable, and a --board that looks like JSON parses as an object. (Whether a board name
    exists only the virtual board knows: it refuses an unknown one at start, exit 2 here too.)"""
    if not os.access(args.model, os.R_OK) or not args.model.is_file():
        ap.error(f"argument --model: cannot read {args.model}")
    if args.transcript is not None:
        target = args.transcript if args.transcript.exists() else args.transcript.parent
        if args.transcript.is_dir() or not os.access(target, os.W_OK):
            ap.error(f"argument --transcript: cannot write {args.transcript}")
    if args.virtual and args.board.lstrip().startswith("{"):
        try:
            if not isinstance(json.loads(args.board), dict):
                raise ValueError("not an object")
        except ValueError as exc:
            ap.error(f"argument --board: neither a board name nor a JSON object: {exc}")


@contextlib.contextmanager
def _port(args: argparse.Namespace) -> Iterator[str]:
    if not args.virtual:
        yield args.port
        return
    cmd = [sys.executable, "-m", VIRTUAL_BOARD_MODULE, "--model", str(args.model), "--board", args.board]
    cmd += ["--latency-us", repr(args.latency_us)] if args.latency_us is not None else []
    with board_process(cmd) as port:
        yield port


_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]+\.[0-9]+(?:[eE][-+]?[0-9]+)?")


def _typed(fields: dict[str, str]) -> dict[str, Any]:
    """A board's key=value fields for JSON: whole numbers and decimals as numbers
    ("clock_hz": 64000000), everything else (versions such as 1.2.0, names, and checksums,
    hexadecimal even when every digit is 0-9) as text."""
    def value(key: str, text: str) -> Any:  # noqa: ANN401 - int | float | str
        if key.endswith("crc32"):
            return text
        if _INTEGER.fullmatch(text):
            return int(text)
        return float(text) if _DECIMAL.fullmatch(text) else text

    return {key: value(key, text) for key, text in fields.items()}


def _report(m: Measurement, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"identity": _typed(m.identity), "info": _typed(m.info), "stats": m.stats}
    if full:
        out |= {"per_invoke_us": m.per_invoke_us, "per_invoke_cycles": m.per_invoke_cycles,
                "outputs": m.outputs,
                "profile": profile_rows(m.profile) if m.profile is not None else None}
    return out


def _profile_text(m: Measurement) -> str:
    """The per-operator table, or why there is none (a board of protocol v1)."""
    if m.profile is None:
        return f"no per-operator profile: {m.no_profile_reason}"
    return format_profile(m.profile, m.identity.get("latency_source", "unknown"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run one measurement; print JSON; return the exit status."""
    ap = _parser()
    args = ap.parse_args(argv)
    _check_files_and_board(ap, args)
    transcript: list[str] = []
    try:
        model = args.model.read_bytes()
        with _port(args) as port:
            m = measure_board(port, model, args.samples, warmup=args.warmup, invokes=args.invokes,
                              baud=args.baud, timeout_s=args.timeout, retries=args.retries)
        transcript = m.transcript
        print(json.dumps(_report(m, args.json), indent=2))
        if not args.json:
            print(_profile_text(m))
        return 0
    except MeasurementError as exc:
        transcript = exc.transcript
        return _fail(exc)
    except BoardStartError as exc:
        if exc.status == 2:  # the virtual board refused its arguments (--board, --model)
            ap.error(f"argument --board or --model: {exc}")
        return _fail(exc)
    except (BoardLinkError, OSError) as exc:
        return _fail(exc)
    finally:
        if args.transcript and transcript:
            try:
                write_transcript(args.transcript, transcript)
            except OSError as exc:
                _fail(exc)


def _fail(exc: BaseException) -> int:
    print("error: " + " ".join(str(exc).split()), file=sys.stderr)
    return 1
