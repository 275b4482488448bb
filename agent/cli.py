"""`python -m agent`: measure a .tflite model on a board (or the virtual board) from a shell.

The same session the runner uses, without Hydra or MLflow, so a board can be checked by hand:
results go to stdout as JSON, followed by the per-operator table from a board of protocol v2
(--json prints the JSON alone, with the profile in it); any failure is one line on stderr and
exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

from agent import protocol as p
from agent.board_process import board_process
from agent.client import write_transcript
from agent.errors import DeviceError
from agent.profile_table import format_profile, profile_rows
from agent.session import Measurement, MeasurementError, measure_board

# The virtual board is tinyexp's (it needs TFLM and the latency estimate); the agent starts it
# as a process by module name and never imports it, so the agent runs without tinyexp.
VIRTUAL_BOARD_MODULE = "tinyexp.device.virtual_board"


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m agent", description=__doc__.split("\n")[0])
    target = ap.add_mutually_exclusive_group(required=True)
    target.add_argument("--port", help="serial port or pyserial URL of the board")
    target.add_argument("--virtual", action="store_true", help="start the virtual board")
    ap.add_argument("--board", default="nano33ble",
                    help="--virtual: a board name of tinyexp's conf/board/, or its JSON description")
    ap.add_argument("--latency-us", type=float, help="--virtual: fixed latency instead of the model")
    ap.add_argument("--model", type=Path, required=True, help="the .tflite model on the board")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--invokes", type=int, default=100)
    ap.add_argument("--samples", type=int, default=1, help="zero inputs run for output parity")
    ap.add_argument("--baud", type=int, default=p.DEFAULT_BAUD)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per command")
    ap.add_argument("--retries", type=int, default=3, help="HELLO tries in the handshake")
    ap.add_argument("--json", action="store_true",
                    help="JSON only: also outputs, per-invoke times and the per-operator rows")
    ap.add_argument("--transcript", type=Path, help="write every serial line to this file")
    return ap


@contextlib.contextmanager
def _port(args: argparse.Namespace) -> Iterator[str]:
    if not args.virtual:
        yield args.port
        return
    cmd = [sys.executable, "-m", VIRTUAL_BOARD_MODULE, "--model", str(args.model), "--board", args.board]
    cmd += ["--latency-us", repr(args.latency_us)] if args.latency_us is not None else []
    with board_process(cmd) as port:
        yield port


def _report(m: Measurement, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"identity": m.identity, "info": m.info, "stats": m.stats}
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
    args = _parser().parse_args(argv)
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
    except (DeviceError, OSError) as exc:
        return _fail(exc)
    finally:
        if args.transcript and transcript:
            write_transcript(args.transcript, transcript)


def _fail(exc: BaseException) -> int:
    print("error: " + " ".join(str(exc).split()), file=sys.stderr)
    return 1
