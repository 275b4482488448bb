"""`tinyexp calibrate`: fit a board's own latency source from its measured runs in MLflow.

    python -m tinyexp.estimate.calibrate board=NAME out=PATH [tracking.uri=URI] [source=NAME]

Reads every FINISHED run with `latency_source=measured` whose `board.name` param is NAME,
takes each run's converted model (artifact model_<quant.mode>.tflite), its mean latency
(latency_mean_us) and, where the run logged one, its per-operator profile (the
per_operator_profile.json table, time_us per operator in execution order), and writes a
calibration file (tinyexp.estimate.calibration_file). A board config with
`calibration: PATH` (board.calibration=PATH) then prices models with that board's own fit:
per-operator prices from the profiles when every run has one, else the published reference
source's prices scaled by factors fitted to the runs (tinyexp.estimate.fit). Every estimate
names the file and how many runs it came from.
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
from tinyexp.estimate.calibration_file import MeasuredRun, read_calibration, write_calibration
from tinyexp.tflm.operators import analyse_operators

_KEYS = {"board": "the board whose measured runs to fit (its conf/board name)",
         "out": "the calibration file to write (JSON)",
         "tracking.uri": "the MLflow store (default: ./mlruns/mlflow.db)",
         "source": "a name for this source (default: BOARD-measured)"}
_TIME_COLUMNS = ("time_us", "us")


def _client(uri: str | None) -> Any:  # noqa: ANN401 - MlflowClient
    from mlflow.tracking import MlflowClient

    if uri is None:
        store = Path("mlruns") / "mlflow.db"
        if not store.exists():
            raise ConfigError(f"no MLflow store at {store}; give tracking.uri=")
        uri = f"sqlite:///{store.resolve()}"
    elif uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise ConfigError(f"no MLflow store at {uri.removeprefix('sqlite:///')} (tracking.uri={uri})")
    return MlflowClient(tracking_uri=uri)


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
    return tuple(float(row[column]) for row in rows)


def measured_runs(client: Any, board: str) -> tuple[list[tuple[Any, MeasuredRun]], list[str]]:  # noqa: ANN401
    """(mlflow run, MeasuredRun) for every finished measured run of the board, and the ids of
    those left out because they lack a latency, a quant mode or the model artifact."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return [], []
    runs = client.search_runs(experiments, filter_string=(
        f"tags.{Tag.LATENCY_SOURCE} = 'measured' and params.`board.name` = '{board}' "
        "and attributes.status = 'FINISHED'"))
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
    client = _client(uri)
    found, skipped = measured_runs(client, board)
    if not found:
        raise ConfigError(f"no finished runs of board {board!r} with latency_source=measured and a model "
                          "artifact in the MLflow store; measure some configurations first")
    clocks = {run.data.params.get("board.clock_hz") for run, _ in found}
    if len(clocks) != 1 or None in clocks:
        raise ConfigError(f"the measured runs of board {board!r} disagree on board.clock_hz ({sorted(map(str, clocks))})")
    runs = [measured for _, measured in found]
    name = source or f"{board}-measured"
    write_calibration(out, name, board, int(clocks.pop()), f"MLflow store {client.tracking_uri}", runs)
    written = read_calibration(out)  # what a board will read back, checked now
    left_out = f"; left out {len(skipped)} runs without a latency or model artifact" if skipped else ""
    return f"wrote {out}: {written.provenance}{left_out}"


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
