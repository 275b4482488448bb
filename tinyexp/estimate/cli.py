"""Estimate a .tflite model's latency on a board, without the board: prints JSON.

    python -m tinyexp.estimate MODEL.tflite board=nano33ble [--validate] [--calibration CSV]
    python -m tinyexp.estimate --validate [--calibration CSV]
    python -m tinyexp.estimate --validate              (no model, no CSV: the v2 validation table)

With a model, the JSON has v1's estimate (tinyexp.estimate.latency) and, under "v2", the
per-operator estimate with its 80% interval (tinyexp.estimate.per_operator); with a v1
--calibration CSV, "v2" is null (v2 takes a board's own runs through tinyexp calibrate).

The figure is an estimate from published measurements (see tinyexp.estimate.latency) and the output
says so (source "estimate", calibration, provenance); --validate adds the leave-one-out
errors of the calibration so the reader can judge it. Users who time their own board can
fit on those rows instead (--calibration), because a board's own measurements beat any
transfer from another board's. Config values are key=value as in the main command (board=),
actions are flags; errors are one line ("tinyexp: error: ...") and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Sequence

from tinyexp.core.boards import load_board
from tinyexp.core.cli_args import EXIT_USAGE, print_error, split_config_args
from tinyexp.core.config import BoardConfig
from tinyexp.core.errors import TinyexpError
from tinyexp.estimate.latency import CalibrationRow, estimate_latency, load_calibration, validate_calibration
from tinyexp.estimate.per_operator import estimate_operators
from tinyexp.estimate.validate import validation_table
from tinyexp.tflm.graph import read_graph
from tinyexp.tflm.inspect import model_stats

_CONFIG_KEYS = {"board": "a board of conf/board/, e.g. nano33ble"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tinyexp.estimate", description=__doc__.split("\n")[0])
    parser.add_argument("model", nargs="?", type=Path, help="the .tflite file")
    parser.add_argument("--validate", action="store_true",
                        help="add the calibration's leave-one-out errors")
    parser.add_argument("--calibration", type=Path, metavar="CSV",
                        help="latencies you measured on your own board, with the columns of tinyexp/reference_data/"
                             "published_latency.csv (plus optionally ops, the operators the model "
                             "invoked): the board's estimate is fitted to the one source in CSV "
                             "measured on that board instead of its published calibration, and "
                             "--validate covers these rows too")
    return parser


def _calibration(path: Path | None, board: BoardConfig | None
                 ) -> tuple[tuple[CalibrationRow, ...], BoardConfig | None]:
    """The rows to fit and the board pointed at its calibration source.

    The user's rows come first and the published ones stay available, so a user's float32-only
    source can still borrow the int8/float32 ratio; source names must not clash, or the user's
    rows would silently be fitted together with a paper's.
    """
    published = load_calibration()
    if path is None:
        return published, board
    try:
        own = load_calibration(path)
    except OSError as exc:
        raise TinyexpError(f"cannot read {path}: {exc.strerror or exc}") from exc
    clash = sorted({r.source for r in own} & {r.source for r in published})
    if clash:
        raise TinyexpError(f"{path}: source {', '.join(clash)} is a published source; name yours differently")
    if board is not None:
        sources = sorted({r.source for r in own if r.board == board.name})
        if len(sources) != 1:
            raise TinyexpError(f"{path}: needs rows of exactly one source measured on board "
                               f"{board.name} (found {', '.join(sources) or 'none'})")
        board = replace(board, latency_calibration=sources[0])
    return (*own, *published), board


def _estimate(model_path: Path, board: BoardConfig, rows: Sequence[CalibrationRow],
              own_rows: bool) -> dict[str, Any]:
    try:
        blob = model_path.read_bytes()
    except OSError as exc:
        raise TinyexpError(f"cannot read {model_path}: {exc.strerror or exc}") from exc
    try:
        graph = read_graph(blob)
    except TinyexpError as exc:
        raise TinyexpError(f"{model_path}: {exc}") from exc
    stats = model_stats(graph)
    estimate = estimate_latency(stats, board, rows)
    v2 = None if own_rows else estimate_operators(graph, board)
    return {"model": str(model_path), "macs": stats.macs, "params": stats.params,
            "model_bytes": stats.model_bytes, **asdict(estimate),
            "v2": None if v2 is None else {**asdict(v2), "provenance": v2.provenance, "summary": v2.summary()}}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        values, rest = split_config_args(sys.argv[1:] if argv is None else argv, _CONFIG_KEYS)
    except TinyexpError as exc:
        print_error(exc)
        return EXIT_USAGE
    parser = _parser()
    args = parser.parse_args(rest)
    args.board = values.get("board")
    if args.model is None and not args.validate:
        parser.error("give a MODEL.tflite with board=NAME, or --validate")
    if args.model is not None and not args.board:
        parser.error("board=NAME is required with a model")
    if args.validate and args.model is None and args.calibration is None:
        print(validation_table())
        return 0
    try:
        rows, board = _calibration(args.calibration, load_board(args.board) if args.board else None)
        report = (_estimate(args.model, board, rows, args.calibration is not None)
                  if args.model is not None and board is not None else {})
        if args.validate:
            report["validation"] = [asdict(result) for result in validate_calibration(rows)]
    except TinyexpError as exc:
        print_error(exc)
        return EXIT_USAGE
    print(json.dumps(report, indent=2))
    return 0
