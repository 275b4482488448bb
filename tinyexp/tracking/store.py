"""MLflow as the sink at the edge of a run: one MLflow run per job, never left RUNNING.

The runner builds a :class:`RunRecord` (params, metrics, tags, artifact files) and hands it
over here; :func:`tracked_run` owns the MLflow run's life, so a job that raises ends FAILED
with its error recorded, and an interrupted one ends KILLED.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Iterator, Mapping

from filelock import FileLock

from tinyexp.core.config import TrackingConfig
from tinyexp.core.errors import TinyexpError, first_line
from tinyexp.core.names import Tag
from tinyexp.core.sqlite_file import check_readable
from tinyexp.tracking import finalise, sqlite_store
from tinyexp.tracking.experiment_view import set_view
from tinyexp.tracking.finalise import Step
from tinyexp.tracking.lost_runs import RunRef
from tinyexp.tracking.reach import check_server, limit_mlflow_retries

DEFAULT_STORE_DIR = "mlruns"
_MAX_PARAM_CHARS = 6000


def default_store_path(base: Path | None = None) -> Path:
    """The default store's SQLite file: mlruns/mlflow.db of the directory tinyexp runs from."""
    return ((base or Path.cwd()) / DEFAULT_STORE_DIR / "mlflow.db").resolve()


def default_tracking_uri(base: Path | None = None) -> str:
    """The default store's URI, its folder created for a job to write in."""
    path = default_store_path(base)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def default_artifact_root(base: Path | None = None) -> str:
    """file: URI of mlruns/artifacts beside the default store, for experiments tinyexp creates."""
    return ((base or Path.cwd()) / DEFAULT_STORE_DIR / "artifacts").resolve().as_uri()


def quiet_mlflow() -> None:
    """Alembic and MLflow announce every migration and run; tinyexp prints its own summary."""
    for name in ("alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # It logs each database error with its SQL over many lines, then raises it; tinyexp reports
    # the raised error in one line.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _store_init_lock(uri: str) -> contextlib.AbstractContextManager[object]:
    """A lock beside a SQLite store: parallel jobs must not create its tables at once."""
    if not uri.startswith("sqlite:///"):
        return contextlib.nullcontext()
    return FileLock(uri.removeprefix("sqlite:///") + ".lock")


def existing_store_client(uri: str | None) -> Any:  # noqa: ANN401 - MlflowClient
    """A client of the store if it already exists, else None: reading never creates a store
    (a missing SQLite file would silently become a new, empty one). A store that cannot be
    read is one line here, before the command's work: a tracking server that does not answer
    within seconds (MLflow's client would retry it for minutes), a database that refuses us."""
    store = uri or f"sqlite:///{default_store_path()}"
    if store.startswith("sqlite:///") and not Path(store.removeprefix("sqlite:///")).exists():
        return None
    check_readable(store)
    check_server(store)
    limit_mlflow_retries()
    quiet_mlflow()
    from mlflow.tracking import MlflowClient

    try:  # a database URL: MLflow connects and checks its schema as the client's store is made
        return MlflowClient(tracking_uri=store)
    except Exception as exc:  # noqa: BLE001 - MLflow raises many types for a store it cannot open
        raise _unusable(store, exc) from exc


def _unusable(store: str, exc: Exception) -> TinyexpError:
    """One line for a store MLflow cannot open or read: what is wrong, and what to do if known."""
    first = first_line(str(exc)) or type(exc).__name__
    return TinyexpError(sqlite_store.explain_broken(store, str(exc)) or
                        f"tracking.uri={store!r}: MLflow cannot use this store: {first[:300]}")


def configure(uri: str | None, experiment: str) -> str:
    """Point MLflow at the store and the experiment (creating either if new, and giving it the
    view tinyexp's runs are read in: tracking.experiment_view); return its id."""
    import mlflow

    quiet_mlflow()
    store = uri or default_tracking_uri()
    mlflow.set_tracking_uri(store)
    try:
        with _store_init_lock(store):
            sqlite_store.prepare(store)
            artifact_root = sqlite_store.artifact_root(store) if uri else default_artifact_root()
            experiment_id, tags = _experiment_made_once(experiment, artifact_root)
            set_view(mlflow.MlflowClient(), experiment_id, tags)
            return experiment_id
    except TinyexpError:
        raise
    except Exception as exc:  # MLflow raises many types for a store it cannot open
        raise _unusable(store, exc) from exc


def _experiment_made_once(experiment: str, artifact_root: str | None) -> tuple[str, Mapping[str, str]]:
    """The experiment's id and tags, creating it if new. Parallel jobs on a server store (a
    farm's first sweep) can all see it missing and race to create it: the store keeps the one
    that won and refuses the others with RESOURCE_ALREADY_EXISTS, so a loser reads the winner's.
    (A SQLite store is serialised by its lock file instead.)"""
    import mlflow
    from mlflow.exceptions import MlflowException

    existing = mlflow.get_experiment_by_name(experiment)
    if existing is None:
        try:
            return mlflow.create_experiment(experiment, artifact_location=artifact_root), {}
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            existing = mlflow.get_experiment_by_name(experiment)
            if existing is None:
                raise
    return existing.experiment_id, existing.tags


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> {"model.neurons": "256", ...} as MLflow params."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = str(value)[:_MAX_PARAM_CHARS]
    return flat


@dataclass
class RunRecord:
    """Everything a job wants recorded; filled stage by stage, logged at the end.
    ``tables`` maps an artifact file name to columns for mlflow.log_table."""

    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)
    tables: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def metric(self, name: str, value: float | int | None) -> None:
        if value is not None and math.isfinite(float(value)):
            self.metrics[name] = float(value)


def _log_artifact(path: Path) -> None:
    import mlflow

    if path.is_dir():
        mlflow.log_artifacts(str(path), artifact_path=path.name)
    else:
        mlflow.log_artifact(str(path))


def _end(run_id: str, status: str) -> None:
    """End the run through MLflow's active run while it holds it (that forgets the run first,
    then tells the store), else through the client: an earlier attempt forgot it, the store
    did not hear."""
    import mlflow
    from mlflow.tracking import MlflowClient

    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(status=status)
    else:
        MlflowClient().set_terminated(run_id, status=status)


def _plan(record: RunRecord, logged_params: set[str], status: str, run_id: str) -> list[Step]:
    """The steps that write ``record`` (but the params logged at the start) and end the run."""
    import mlflow

    steps = []
    params = {k: v for k, v in record.params.items() if k not in logged_params}
    if params:
        steps.append(Step("params", partial(mlflow.log_params, params), {"params": params}))
    if record.metrics:
        metrics = dict(record.metrics)
        # One timestamp: a batch sent again after a lost answer is the same points, not new ones.
        stamp = int(time.time() * 1000)
        steps.append(Step("metrics", partial(mlflow.log_metrics, metrics, timestamp=stamp), {"metrics": metrics}))
    if record.tags:
        tags = dict(record.tags)
        steps.append(Step("tags", partial(mlflow.set_tags, tags), {"tags": tags}))
    for path in record.artifacts:
        if path.exists():
            steps.append(Step(f"artifact {path.name}", partial(_log_artifact, path), {"artifacts": [path]}))
    for name, columns in record.tables.items():
        steps.append(Step(f"table {name}", partial(mlflow.log_table, data=columns, artifact_file=name),
                          {"tables": {name: columns}}))
    if status == "FINISHED":
        steps.append(Step("complete", partial(mlflow.set_tag, Tag.COMPLETE, "true")))
    steps.append(Step("end", partial(_end, run_id, status)))
    return steps


@contextlib.contextmanager
def tracked_run(experiment_id: str, run_name: str, record: RunRecord, parent_run_id: str | None = None,
                reconnect_s: float = TrackingConfig.reconnect_s) -> Iterator[str]:
    """Open an MLflow run; log `record` when the body ends, however it ends.

    The params and tags known at the start (config, sweep, owner process) are logged at
    once, so a running job is identifiable and, if its process dies, can be reaped.

    On an exception the error goes into tags (`error`, `error_type`) and the run ends
    FAILED; on Ctrl-C or SIGTERM (KeyboardInterrupt/SystemExit) it ends KILLED. What the
    stages recorded before failing is still logged, so a failed run shows how far it got.

    Finalisation writes the status last: the data, then (for a FINISHED run) the
    `tinyexp.complete` marker, then the end of the run. An interruption while the data is
    being written ends the run KILLED without the marker, so resume never trusts it.

    Those writes are resumable steps (tinyexp.tracking.finalise): an http(s) tracking server
    that stops answering is waited for, ``reconnect_s`` seconds in all, and the writing goes on
    where it stopped; after that the run ends FAILED in a local lost-run record.
    """
    import mlflow

    tags = dict(record.tags, **({Tag.PARENT_RUN_ID: parent_run_id} if parent_run_id else {}))
    run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags)
    status = "FINISHED"
    logged_params = set(record.params)
    try:
        mlflow.log_params(record.params)
    except (KeyboardInterrupt, SystemExit):  # a signal as soon as the run exists is an interruption too
        finalise.end_quietly("KILLED", "interrupted")
        raise
    except BaseException as exc:
        finalise.end_quietly("FAILED", f"logging its config failed: {first_line(str(exc))[:300]}")
        raise
    try:
        yield run.info.run_id
    except (KeyboardInterrupt, SystemExit):
        status = "KILLED"
        record.tags[Tag.ERROR] = "interrupted"
        raise
    except BaseException as exc:
        status = "FAILED"
        record.tags[Tag.ERROR] = (first_line(str(exc)) or type(exc).__name__)[:500]
        record.tags[Tag.ERROR_TYPE] = type(exc).__name__
        raise
    finally:
        finalise.finalise(_plan(record, logged_params, status, run.info.run_id), status,
                          RunRef(run.info.run_id, experiment_id, mlflow.get_tracking_uri(), run_name), reconnect_s)
