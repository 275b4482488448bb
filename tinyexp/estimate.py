"""Estimate a .tflite model's latency on a board, without the board: prints JSON.

    python -m tinyexp.estimate MODEL.tflite --board nano33ble [--validate]
    python -m tinyexp.estimate --validate

The figure is an estimate from published measurements (see tinyexp.latency) and the output
says so (source "estimate", calibration, provenance); --validate adds the leave-one-out
errors of the calibration so the reader can judge it. Errors are one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from tinyexp.boards import load_board
from tinyexp.errors import TinyexpError
from tinyexp.latency import estimate_latency, validate_calibration
from tinyexp.tflite_inspect import inspect_model

EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tinyexp.estimate", description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", type=Path, help="the .tflite file")
    parser.add_argument("--board", help="a board in conf/board/ (e.g. nano33ble)")
    parser.add_argument("--validate", action="store_true",
                        help="add the calibration's leave-one-out errors")
    return parser


def _estimate(model_path: Path, board_name: str) -> dict[str, Any]:
    try:
        blob = model_path.read_bytes()
    except OSError as exc:
        raise TinyexpError(f"cannot read {model_path}: {exc.strerror or exc}") from exc
    try:
        stats = inspect_model(blob)
    except TinyexpError as exc:
        raise TinyexpError(f"{model_path}: {exc}") from exc
    board = load_board(board_name)
    estimate = estimate_latency(stats, board)
    return {"model": str(model_path), "macs": stats.macs, "params": stats.params,
            "model_bytes": stats.model_bytes, **asdict(estimate)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.model is None and not args.validate:
        parser.error("give a MODEL.tflite with --board, or --validate")
    if args.model is not None and not args.board:
        parser.error("--board is required with a model")
    try:
        report = _estimate(args.model, args.board) if args.model is not None else {}
        if args.validate:
            report["validation"] = [asdict(result) for result in validate_calibration()]
    except TinyexpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
