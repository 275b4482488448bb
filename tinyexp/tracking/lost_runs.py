"""Runs whose tracking server dropped for good: their data kept on this machine, their end settled later.

A job cannot end its run on a server that is gone, and its artifacts live in a temporary
directory deleted when the job ends. So when the wait for a dropped server is spent
(tinyexp.tracking.finalise), what was not logged goes into a record on local disk: one
directory per run under :func:`records_dir`, holding ``record.json`` (which run, which server,
why, which steps were logged and which were not, the unlogged params, metrics and tags) and
copies of the unlogged artifacts and tables. It is written to a temporary directory and renamed,
so a record is whole or absent.

The run itself stays RUNNING on the server. The next job against the same tracking URI
settles it (:func:`settle`, called before orphans are reaped, which would mark it KILLED):
the run ends FAILED there with tags saying where the record is, and the record is marked
settled so it is not done twice. The record and its files stay for the user.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from filelock import FileLock

from tinyexp.core.names import Tag

STATE_ENV = "TINYEXP_STATE_DIR"
RECORD = "record.json"
LOST_DATA = ("params", "metrics", "tags", "artifacts", "tables")


@dataclass(frozen=True)
class RunRef:
    """Which run, of which experiment, in which store."""

    run_id: str
    experiment_id: str
    tracking_uri: str
    run_name: str


def records_dir() -> Path:
    """Where lost-run records are kept: ``$TINYEXP_STATE_DIR/lost-runs``, else
    ``~/.local/state/tinyexp/lost-runs`` (outside any job's directory, so a later job started
    anywhere on this machine finds them)."""
    base = os.environ.get(STATE_ENV)
    return (Path(base) if base else Path.home() / ".local" / "state" / "tinyexp") / "lost-runs"


def counts(lost: Mapping[str, Any]) -> str:
    """What was not logged, counted: "2 params, 3 metrics, 1 artifacts" (or "nothing but its end")."""
    shown = [f"{len(lost[key])} {key}" for key in LOST_DATA if lost.get(key)]
    return ", ".join(shown) or "nothing but its end"


def _json_value(value: Any) -> Any:  # noqa: ANN401 - a table cell of any type
    """numpy scalars as Python numbers, anything else JSON lacks as text."""
    return value.item() if hasattr(value, "item") else str(value)


def write_record(run: RunRef, why: str, logged: list[str], not_logged: list[str],
                 lost: Mapping[str, Any]) -> Path:
    """Keep a run's unlogged data (``lost``: params, metrics, tags dicts, artifact paths, tables
    by file name) in a new record directory; return its path."""
    root = records_dir()
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run.run_id}.", dir=root))
    try:
        for path in lost.get("artifacts", []):
            target = staging / "artifacts" / path.name
            target.parent.mkdir(exist_ok=True)
            (shutil.copytree if path.is_dir() else shutil.copy2)(path, target)
        for name, columns in lost.get("tables", {}).items():
            target = staging / "tables" / name
            target.parent.mkdir(exist_ok=True)
            target.write_text(json.dumps(columns, default=_json_value))
        data = {"run_id": run.run_id, "experiment_id": run.experiment_id, "tracking_uri": run.tracking_uri,
                "run_name": run.run_name, "status": "FAILED", "why": why,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "logged": logged, "not_logged": not_logged,
                "params": dict(lost.get("params", {})), "metrics": dict(lost.get("metrics", {})),
                "tags": dict(lost.get("tags", {})), "artifacts": [p.name for p in lost.get("artifacts", [])],
                "tables": sorted(lost.get("tables", {})), "settled": None}
        (staging / RECORD).write_text(json.dumps(data, indent=1, sort_keys=True))
        final = root / run.run_id
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def unsettled(tracking_uri: str | None = None) -> list[tuple[Path, dict[str, Any]]]:
    """The records not settled yet (of one tracking URI if given), with their contents."""
    found = []
    for path in sorted(records_dir().glob(f"*/{RECORD}")):
        data = json.loads(path.read_text())
        if data["settled"] is None and (tracking_uri is None or data["tracking_uri"] == tracking_uri):
            found.append((path.parent, data))
    return found


def _status(client: Any, run_id: str) -> str:  # noqa: ANN401 - MlflowClient
    """The run's status on the server, or "missing" if it was deleted for good."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_run(run_id).info.status)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return "missing"


def settle(client: Any) -> list[str]:  # noqa: ANN401 - MlflowClient
    """End FAILED on ``client``'s server every run recorded lost there that is still RUNNING,
    with tags pointing at its record; mark each record settled. Returns the run ids ended."""
    ended = []
    root = records_dir()
    if not root.is_dir():
        return ended
    with FileLock(str(root / ".settle.lock")):  # two jobs starting together settle a record once
        for folder, data in unsettled(str(client.tracking_uri)):
            status = _status(client, data["run_id"])
            if status == "RUNNING":
                client.set_tag(data["run_id"], Tag.ERROR, "the tracking server dropped mid-run; what was not "
                               f"logged is in the local record {folder}")
                client.set_tag(data["run_id"], Tag.LOST_RECORD, str(folder))
                client.set_terminated(data["run_id"], status="FAILED")
                ended.append(data["run_id"])
            data["settled"] = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                               "status_found": status, "ended_failed": status == "RUNNING"}
            staged = folder / (RECORD + ".tmp")
            staged.write_text(json.dumps(data, indent=1, sort_keys=True))
            os.replace(staged, folder / RECORD)
    return ended
