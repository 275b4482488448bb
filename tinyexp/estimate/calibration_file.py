"""A board's own calibration file (written by tinyexp.estimate.calibrate, read when a board
config sets `calibration: PATH`): the measured runs of one board, each with its model's
operator list and, where the run had one, its per-operator profile.

    {"format": "tinyexp-latency-calibration/1", "source": NAME, "board": BOARD,
     "clock_hz": HZ, "created_from": TEXT,
     "runs": [{"run_id": ID, "mode": QUANT, "latency_us": US,
               "operators": [Operator.as_dict(), ...], "profile_us": [US per operator] | null}]}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from tinyexp.core.errors import TinyexpError
from tinyexp.estimate.calibration_rows import Row
from tinyexp.tflm.operators import Operator

FORMAT = "tinyexp-latency-calibration/1"


@dataclass(frozen=True)
class MeasuredRun:
    run_id: str
    mode: str
    latency_us: float
    operators: tuple[Operator, ...]
    profile_us: tuple[float, ...] | None


@dataclass(frozen=True)
class CalibrationFile:
    path: Path
    source: str
    board: str
    clock_hz: int
    created_from: str
    runs: tuple[MeasuredRun, ...]

    def rows(self) -> tuple[Row, ...]:
        return tuple(Row(self.source, self.board, self.clock_hz, "measured by tinyexp", run.mode,
                         f"run:{run.run_id}", run.latency_us, "measured", f"MLflow run {run.run_id}")
                     for run in self.runs)

    def operators(self) -> dict[str, tuple[Operator, ...]]:
        """Operator lists by Row.key."""
        return {row.key: run.operators for row, run in zip(self.rows(), self.runs)}

    @property
    def provenance(self) -> str:
        profiled = sum(run.profile_us is not None for run in self.runs)
        return (f"{self.path} ({len(self.runs)} measured runs of board {self.board}, {profiled} with "
                f"per-operator profiles; {self.created_from})")


def write_calibration(path: Path, source: str, board: str, clock_hz: int, created_from: str,
                      runs: Sequence[MeasuredRun]) -> None:
    data = {"format": FORMAT, "source": source, "board": board, "clock_hz": clock_hz,
            "created_from": created_from,
            "runs": [{"run_id": r.run_id, "mode": r.mode, "latency_us": r.latency_us,
                      "operators": [op.as_dict() for op in r.operators],
                      "profile_us": None if r.profile_us is None else list(r.profile_us)} for r in runs]}
    path.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")


def is_positive_time(value: float) -> bool:
    """Whether a time in microseconds is usable: a finite number > 0 (a NaN, negative or zero
    latency would price every model wrongly, at 0 cycles or less)."""
    return math.isfinite(value) and value > 0


def positive_time(value: Any, what: str) -> float:
    """``value`` as a usable time in microseconds, else ValueError naming ``what``."""
    number = float(value)
    if not is_positive_time(number):
        raise ValueError(f"{what} is {number}; a measured time must be a finite number > 0")
    return number


def _run(item: Mapping[str, Any]) -> MeasuredRun:
    profile = item.get("profile_us")
    operators = tuple(Operator.from_dict(op) for op in item["operators"])
    if profile is not None and len(profile) != len(operators):
        raise ValueError(f"run {item['run_id']}: {len(profile)} profile entries for {len(operators)} operators")
    where = f"run {item['run_id']}"
    return MeasuredRun(str(item["run_id"]), str(item["mode"]), positive_time(item["latency_us"], f"{where}: latency_us"),
                       operators, None if profile is None else tuple(positive_time(v, f"{where}: a profile entry")
                                                                     for v in profile))


def read_calibration(path: Path | str) -> CalibrationFile:
    """The file's runs, or one TinyexpError line naming the file and what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise TinyexpError(f"cannot read calibration file {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise TinyexpError(f"calibration file {path} is not a text file (write one with tinyexp calibrate)") from exc
    except json.JSONDecodeError as exc:
        raise TinyexpError(f"calibration file {path} is not JSON: {exc.msg} (line {exc.lineno})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TinyexpError(f"calibration file {path} is not a {FORMAT} file (write one with tinyexp calibrate)")
    try:
        runs = tuple(_run(item) for item in data["runs"])
        clock_hz = int(data["clock_hz"])
        if clock_hz <= 0:
            raise ValueError(f"clock_hz is {clock_hz}; it must be > 0")
        result = CalibrationFile(path, str(data["source"]), str(data["board"]), clock_hz,
                                 str(data.get("created_from", "")), runs)
    except (KeyError, TypeError, ValueError) as exc:
        raise TinyexpError(f"calibration file {path} is damaged: {exc}") from exc
    if not runs:
        raise TinyexpError(f"calibration file {path} has no runs")
    return result
