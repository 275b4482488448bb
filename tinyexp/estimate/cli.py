"""Estimate a .tflite model's latency on a board, without the board: prints JSON.

    python -m tinyexp.estimate MODEL.tflite board=nano33ble [--calibration FILE.json]
    python -m tinyexp.estimate --validate [--calibration FILE.json]

With a model, the JSON is the estimate a run of the same model on the same board logs
(tinyexp.estimate.per_operator, the one estimator), field by field in docs/estimate.md,
versioned by SCHEMA_VERSION: an estimate from published measurements, never a measurement
(latency_source "estimate"), with its 80% interval, its source and what in it was
transferred or extrapolated. --calibration takes the file `tinyexp calibrate` writes from a
board's own measured runs (the one user-calibration format), as board.calibration does in a
run. --validate prints the validation table: leave-one-row-out and leave-one-family-out
errors and interval coverage per source. Config values are key=value as in the main command
(board=), actions are flags; errors are one line ("tinyexp: error: ...") and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from tinyexp.core.boards import load_board
from tinyexp.core.cli_args import EXIT_USAGE, print_error, split_config_args
from tinyexp.core.config import BoardConfig
from tinyexp.core.errors import TinyexpError
from tinyexp.estimate.per_operator import calibration_set, estimate_operators
from tinyexp.estimate.validate import validation_table
from tinyexp.tflm.graph import read_graph
from tinyexp.tflm.inspect import model_stats

# Bumped when a field of the JSON changes meaning or goes away (docs/estimate.md).
SCHEMA_VERSION = 2
_CONFIG_KEYS = {"board": "a board of conf/board/, e.g. nano33ble"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tinyexp.estimate", description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", type=Path, help="the .tflite file")
    parser.add_argument("--validate", action="store_true",
                        help="print the validation table (leave-one-row-out and leave-one-family-out)")
    parser.add_argument("--calibration", type=Path, metavar="FILE.json",
                        help="a board's own calibration, as `tinyexp calibrate` writes it: the estimate "
                             "is priced on its runs (and --validate covers them too)")
    return parser


def estimate_report(model_path: Path, board: BoardConfig, calibration: Path | None) -> dict[str, Any]:
    """The CLI's JSON for one model on one board (docs/estimate.md)."""
    try:
        blob = model_path.read_bytes()
    except OSError as exc:
        raise TinyexpError(f"cannot read {model_path}: {exc.strerror or exc}") from exc
    try:
        graph = read_graph(blob)
    except TinyexpError as exc:
        raise TinyexpError(f"{model_path}: {exc}") from exc
    stats = model_stats(graph)
    estimate = estimate_operators(graph, board, calibration)
    fields = asdict(estimate)
    fields["size_range"] = {**fields["size_range"], "description": estimate.size_range.describe()}
    return {"schema_version": SCHEMA_VERSION, "model": str(model_path), "macs": stats.macs,
            "params": stats.params, "model_bytes": stats.model_bytes, **fields,
            "provenance": estimate.provenance, "summary": estimate.summary()}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        values, rest = split_config_args(sys.argv[1:] if argv is None else argv, _CONFIG_KEYS)
    except TinyexpError as exc:
        print_error(exc)
        return EXIT_USAGE
    parser = _parser()
    args = parser.parse_args(rest)
    board_name = values.get("board")
    if args.model is None and not args.validate:
        parser.error("give a MODEL.tflite with board=NAME, or --validate")
    if args.model is not None and args.validate:
        parser.error("--validate takes no model: it validates the calibration, not one estimate")
    if args.model is not None and not board_name:
        parser.error("board=NAME is required with a model")
    try:
        if args.validate:
            print(validation_table(calibration_set(args.calibration)))
            return 0
        report = estimate_report(args.model, load_board(board_name), args.calibration)
    except TinyexpError as exc:
        print_error(exc)
        return EXIT_USAGE
    print(json.dumps(report, indent=2))
    return 0
