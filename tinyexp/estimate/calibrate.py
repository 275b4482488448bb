"""`tinyexp calibrate`: fit a board's own latency source from its measured runs in MLflow.

    python -m tinyexp.estimate.calibrate board=NAME out=PATH [tracking.uri=URI] [source=NAME]

Reads every complete run (FINISHED with all of its data: tinyexp.tracking.completeness) with
`latency_source=measured` whose `board.name` param is NAME, takes each run's converted model
(artifact model_<quant.mode>.tflite), its mean latency (latency_mean_us) and, where the run
logged one, its per-operator profile (the per_operator_profile.json table, time_us per
operator in execution order), and writes a calibration file (tinyexp.estimate.calibration_file).
A board config with `calibration: PATH` (board.calibration=PATH) then prices models with that
board's own fit: per-operator prices from the profiles when every run has one, else the
published reference source's prices scaled by factors fitted to the runs (tinyexp.estimate.price_fit).
Every estimate names the file and how many runs it came from.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from tinyexp.core.cli_args import EXIT_FAILED, EXIT_USAGE, config_arg_parser, print_error, split_config_args
from tinyexp.core.errors import ConfigError, TinyexpError
from tinyexp.core.names import Artifact, Metric, Tag
from tinyexp.core.limits import NAME_PATTERN, NAME_RULE
from tinyexp.estimate.calibration_file import (MeasuredRun, is_positive_time, positive_time, read_calibration,
                                               write_calibration)
from tinyexp.tflm.operators import analyse_operators
from tinyexp.tracking.completeness import complete_runs
from tinyexp.tracking.store import default_store_path, existing_store_client

_KEYS = {"board": "the board whose measured runs to fit (its conf/board name)",
         "out": "the calibration file to write (JSON)",
         "tracking.uri": "the MLflow store (default: ./mlruns/mlflow.db)",
         "source": "a name for this source (default: BOARD-measured)"}
_TIME_COLUMNS = ("time_us", "us")


def _client(uri: str | None) -> Any:  # noqa: ANN401 - MlflowClient
    """A client of the store; ConfigError if it does not exist (reading never creates one) or
    is not a readable SQLite store."""
    client = existing_store_client(uri)
    if client is None:
        missing = uri.removeprefix("sqlite:///") if uri else str(default_store_path())
        hint = f" (tracking.uri={uri})" if uri else "; give tracking.uri="
        raise ConfigError(f"no MLflow store at {missing}{hint}")
    return client


def _check_arguments(board: str, out: Path) -> None:
    """The board name goes into an MLflow filter string, and the file is written after minutes
    of downloads: both are checked first."""
    if NAME_PATTERN.fullmatch(board) is None:
        raise ConfigError(f"board={board!r} is invalid: {NAME_RULE}")
    if out.is_dir():
        raise ConfigError(f"out={out} is a directory; give the calibration file's path (e.g. {out / (board + '.json')})")
    if not out.parent.is_dir():
        raise ConfigError(f"out={out}: no such directory {out.parent}; create it first")


def _with_usable_latency(found: list[tuple[Any, MeasuredRun]]) -> tuple[list[tuple[Any, MeasuredRun]], list[str]]:
    """The runs whose measured latency is a finite number > 0, and the ids of the others (a NaN
    would be written as invalid JSON, a negative latency as a negative price)."""
    usable = [(run, measured) for run, measured in found if is_positive_time(measured.latency_us)]
    return usable, [measured.run_id for _, measured in found if not is_positive_time(measured.latency_us)]


def _profile(client: Any, run_id: str, workdir: Path, operators: int,  # noqa: ANN401
             names: set[str]) -> tuple[float, ...] | None:
    if Artifact.PER_OPERATOR_TABLE not in names:
        return None
    table = json.loads(Path(client.download_artifacts(run_id, Artifact.PER_OPERATOR_TABLE, str(workdir))).read_text())
    columns = table.get("columns", [])
    column = next((columns.index(c) for c in _TIME_COLUMNS if c in columns), None)
    rows = table.get("data", [])
    if column is None or len(rows) != operators:
        return None  # not a profile of this model's operators; fall back to the total
    try:
        return tuple(positive_time(row[column], "a profile entry") for row in rows)
    except (TypeError, ValueError, IndexError):
        return None  # a cell that is not a usable time: the profile is unusable; fall back to the total


def measured_runs(client: Any, board: str) -> tuple[list[tuple[Any, MeasuredRun]], list[str]]:  # noqa: ANN401
    """(mlflow run, MeasuredRun) for every complete measured run of the board (the rule of
    tinyexp.tracking.completeness: a run whose data was not all written is not used), and the
    ids of those left out because they lack a latency, a quant mode or the model artifact."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return [], []
    runs = complete_runs(client, experiments, f"tags.{Tag.LATENCY_SOURCE} = 'measured'",
                         f"params.`board.name` = '{board}'")
    result, skipped = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in runs:
            run_id, mode = run.info.run_id, run.data.params.get("quant.mode", "")
            latency = run.data.metrics.get(Metric.LATENCY_MEAN_US)
            workdir = Path(tmp) / run_id
            workdir.mkdir()
            names = {item.path for item in client.list_artifacts(run_id)}
            if latency is None or not mode or Artifact.tflite(mode) not in names:
                skipped.append(run_id)
                continue
            model = Path(client.download_artifacts(run_id, Artifact.tflite(mode), str(workdir))).read_bytes()
            operators = analyse_operators(model)
            result.append((run, MeasuredRun(run_id, mode, float(latency), operators,
                                            _profile(client, run_id, workdir, len(operators), names))))
    return result, skipped


def calibrate(board: str, out: Path, uri: str | None = None, source: str | None = None) -> str:
    """Write the calibration file; return a one-line summary. ConfigError when the store
    has no usable measured run of the board."""
    _check_arguments(board, out)
    client = _client(uri)
    found, skipped = measured_runs(client, board)
    found, bad_latency = _with_usable_latency(found)
    unusable = (f"; left out {len(bad_latency)} runs whose latency is not a finite number > 0 "
                f"({', '.join(bad_latency[:3])})") if bad_latency else ""
    if not found:
        raise ConfigError(f"no finished runs of board {board!r} with latency_source=measured, a usable latency "
                          f"and a model artifact in the MLflow store; measure some configurations first{unusable}")
    clocks = {run.data.params.get("board.clock_hz") for run, _ in found}
    if len(clocks) != 1 or None in clocks:
        raise ConfigError(f"the measured runs of board {board!r} disagree on board.clock_hz ({sorted(map(str, clocks))})")
    clock = clocks.pop()
    if not str(clock).isdigit() or int(clock) <= 0:
        raise ConfigError(f"the measured runs of board {board!r} give board.clock_hz={clock!r}, not a whole "
                          "number of Hz > 0; fix the board file the runs were made with")
    runs = [measured for _, measured in found]
    name = source or f"{board}-measured"
    try:
        write_calibration(out, name, board, int(clock), f"MLflow store {client.tracking_uri}", runs)
    except OSError as exc:
        raise ConfigError(f"out={out}: cannot write it ({exc.strerror or exc})") from exc
    written = read_calibration(out)  # what a board will read back, checked now
    left_out = f"; left out {len(skipped)} runs without a latency or model artifact" if skipped else ""
    return f"wrote {out}: {written.provenance}{left_out}{unusable}"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `tinyexp calibrate`; returns the exit code (`--help` exits 0)."""
    try:
        values, rest = split_config_args(sys.argv[1:] if argv is None else argv, _KEYS)
        config_arg_parser("tinyexp calibrate", __doc__.splitlines()[0], _KEYS).parse_args(rest)
        missing = [key for key in ("board", "out") if key not in values]
        if missing:
            raise ConfigError(f"{'=... and '.join(missing)}=... missing; usage: tinyexp calibrate board=NAME "
                              "out=PATH [tracking.uri=URI] [source=NAME]")
    except ConfigError as exc:
        print_error(exc)
        return EXIT_USAGE
    try:
        print(calibrate(values["board"], Path(values["out"]), values.get("tracking.uri"), values.get("source")))
    except ConfigError as exc:
        print_error(exc)
        return EXIT_USAGE
    except TinyexpError as exc:
        print_error(exc)
        return EXIT_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
