"""`tinyexp report`: every run of a sweep compared, plus the 2020 study's tables for its grid.

The command line of the report: which store, experiment and sweep (key=value, as every tinyexp
command takes config values), where to write, and whether to log the report on the sweep's
parent run so it travels with the runs it summarises. The runs are read by
tinyexp.tracking.report_runs; the files are written by tinyexp.report.document, and for a
search (`tinyexp search`, whose id is its trials' sweep id) its section by
tinyexp.search.report_section.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any, Sequence

from tinyexp.core.cli_args import EXIT_USAGE, check_output_dir, print_error, split_config_args
from tinyexp.core.config import SWEEP_ID_PATTERN, SWEEP_ID_RULE
from tinyexp.core.errors import TinyexpError
from tinyexp.report.document import ReportContext, ReportError, write_report
from tinyexp.tracking.report_runs import collect_runs, latest_sweep_id, search_runs, sweep_parent_run_id

_CONFIG_KEYS = {
    "tracking.uri": "MLflow tracking URI; default sqlite:///<cwd>/mlruns/mlflow.db",
    "tracking.experiment": "MLflow experiment; default tinyexp",
    "sweep.id": "the sweep to report; default the latest sweep, else all finished runs",
}


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    """`tinyexp report [tracking.uri=URI] [tracking.experiment=NAME] [sweep.id=ID] [--out DIR] [--no-log]`."""
    values, rest = split_config_args(argv, _CONFIG_KEYS)
    parser = argparse.ArgumentParser(
        prog="tinyexp report", description=__doc__.splitlines()[0],
        epilog="config values: " + "; ".join(f"{k}=... {v}" for k, v in _CONFIG_KEYS.items()))
    parser.add_argument("--out", type=Path, help="output directory (default: reports/<sweep or experiment>)")
    parser.add_argument("--no-log", action="store_true", help="do not log the report on the sweep's parent run")
    args = parser.parse_args(rest)
    args.tracking_uri = values.get("tracking.uri") or None
    args.experiment = values.get("tracking.experiment") or "tinyexp"
    args.sweep = values.get("sweep.id") or None
    return args


def _search_section(client: Any, experiment_id: str, sweep: str | None, parent: str | None,
                    out: Path) -> tuple[list[str], list[Path]]:
    """A search's section (its front, chosen trials, pruned candidates) when the sweep is a
    search, composed here: tinyexp.report sits below tinyexp.search and cannot import it."""
    runs = search_runs(client, experiment_id, sweep, parent) if sweep and parent else None
    if runs is None:
        return [], []
    from tinyexp.search.report_section import search_section

    out.mkdir(parents=True, exist_ok=True)
    return search_section(runs, out)


def _report(args: argparse.Namespace) -> int:
    from tinyexp.tracking.store import default_tracking_uri, existing_store_client

    uri = args.tracking_uri or default_tracking_uri()
    client = existing_store_client(uri)
    if client is None:
        raise ReportError(f"no MLflow store at {uri}")
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        raise ReportError(f"no experiment '{args.experiment}' in {uri}")
    if args.sweep and SWEEP_ID_PATTERN.fullmatch(args.sweep) is None:
        raise ReportError(f"sweep.id={args.sweep!r} is invalid: {SWEEP_ID_RULE}")
    sweep = args.sweep or latest_sweep_id(client, experiment.experiment_id)
    rows = collect_runs(client, experiment.experiment_id, sweep)
    if not rows:
        raise ReportError(f"no finished runs in experiment '{args.experiment}'" + (f" (sweep '{sweep}')" if sweep
                                                                                    else ""))
    parent = sweep_parent_run_id(client, experiment.experiment_id, sweep) if sweep else None
    out = args.out or Path("reports") / re.sub(r"[^\w.-]+", "_", sweep or args.experiment)
    check_output_dir(out, "--out")
    section, figures = _search_section(client, experiment.experiment_id, sweep, parent, out)
    paths = [*figures, *write_report(rows, out, ReportContext(uri, args.experiment, sweep, parent), section)]
    print(f"tinyexp report: {len(rows)} runs -> {len(paths)} files in {out.resolve()}")
    if parent and not args.no_log:
        client.log_artifacts(parent, str(out), artifact_path="report")
        print(f"tinyexp report: logged as artifacts report/ of sweep parent run {parent}")
    return 0


def main(argv: Sequence[str]) -> int:
    """Entry point of `tinyexp report` (routed by tinyexp.cli.main); returns the exit code."""
    try:
        return _report(_parse(argv))
    except TinyexpError as exc:
        print_error(exc)
        return EXIT_USAGE
