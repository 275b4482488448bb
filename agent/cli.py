"""`python -m agent`: measure a .tflite model on a board (or the virtual board) from a shell.

The same session the runner uses, without Hydra or MLflow, so a board can be checked by hand:
results go to stdout as JSON; any failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import struct
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from agent import protocol as p
from agent.client import write_transcript
from agent.session import Measurement, MeasurementError, measure_board
from tinyexp.errors import TinyexpError
from tinyexp.tflm_runtime import TflmModel


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m agent", description=__doc__.split("\n")[0])
    target = ap.add_mutually_exclusive_group(required=True)
    target.add_argument("--port", help="serial port or pyserial URL of the board")
    target.add_argument("--virtual", action="store_true", help="start the virtual board")
    ap.add_argument("--board", default="nano33ble", help="board for --virtual (conf/board/)")
    ap.add_argument("--latency-us", type=float, help="--virtual: fixed latency instead of the model")
    ap.add_argument("--model", type=Path, required=True, help="the .tflite model on the board")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--invokes", type=int, default=100)
    ap.add_argument("--samples", type=int, default=1, help="zero inputs run for output parity")
    ap.add_argument("--baud", type=int, default=p.DEFAULT_BAUD)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per command")
    ap.add_argument("--retries", type=int, default=3, help="HELLO tries in the handshake")
    ap.add_argument("--json", action="store_true", help="also print outputs and per-invoke times")
    ap.add_argument("--transcript", type=Path, help="write every serial line to this file")
    return ap


@contextlib.contextmanager
def _port(args: argparse.Namespace) -> Iterator[str]:
    if not args.virtual:
        yield args.port
        return
    from agent.virtual_board import VirtualBoard, board_from_arg

    with VirtualBoard.start(args.model, board_from_arg(args.board), latency_us=args.latency_us) as vb:
        yield vb.port


def _zero_samples(model: bytes, k: int) -> np.ndarray:
    """k all-zero inputs in the model's input dtype (the host reads it with TFLM itself)."""
    try:
        tflm = TflmModel(model, 16 * 1024 * 1024)
    except struct.error as exc:
        raise TinyexpError(f"the model file is not a TFLite flatbuffer: {exc}") from exc
    return np.zeros((k, int(np.prod(tflm.input_shape))), dtype=tflm.input_dtype)


def _report(m: Measurement, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"identity": m.identity, "info": m.info, "stats": m.stats}
    if full:
        out |= {"per_invoke_us": m.per_invoke_us, "per_invoke_cycles": m.per_invoke_cycles,
                "outputs": m.outputs.tolist()}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run one measurement; print JSON; return the exit status."""
    args = _parser().parse_args(argv)
    transcript: list[str] = []
    try:
        model = args.model.read_bytes()
        with _port(args) as port:
            m = measure_board(port, model, _zero_samples(model, args.samples), args.warmup,
                              args.invokes, args.baud, args.timeout, args.retries)
        transcript = m.transcript
        print(json.dumps(_report(m, args.json), indent=2))
        return 0
    except MeasurementError as exc:
        transcript = exc.transcript
        return _fail(exc)
    except (TinyexpError, OSError) as exc:
        return _fail(exc)
    finally:
        if args.transcript and transcript:
            write_transcript(args.transcript, transcript)


def _fail(exc: BaseException) -> int:
    print("error: " + " ".join(str(exc).split()), file=sys.stderr)
    return 1
