"""The Optuna study behind a search: where it is stored, its seeded sampler, and its resume.

Where: beside the tracking store. For a local SQLite store (the default `mlruns/mlflow.db`)
the study is `optuna.db` in the same folder, so the store and its searches move together.
A tracking server (http/https, or a database URL given as tracking.uri) has no folder we can
write beside: there the study's database must be named (`search.storage=<SQLAlchemy URL>`,
on the farm a database of the tracking server's own PostgreSQL), and saying nothing is a
one-line error before any work. The study is never put in MLflow's own database: both use an
`alembic_version` table, and their migrations would collide.

Resume: the study is loaded if it exists (`load_if_exists`). A trial left RUNNING by a process
of this host that no longer exists belongs to a search that was killed; it is marked FAIL and
its parameters are asked again first, so the search finishes the trials it promised. Finished
trials are never run again. A RUNNING trial of a live process (another command working on the
same search) is left alone and counts against the budget.
"""

from __future__ import annotations

import contextlib
import os
import socket
import warnings
from pathlib import Path
from typing import Any

from filelock import FileLock

from tinyexp.core.errors import ConfigError, TinyexpError, first_line
from tinyexp.core.processes import alive
from tinyexp.search.space import SearchSpec

KILLED_ATTR = "killed"  # user attr of a trial found RUNNING by a later start (its search died)
OWNER_ATTR = "owner"  # user attr: "host pid" of the process running the trial


def claim(trial: Any) -> None:
    """Mark a new trial as this process's, so a later start can tell whether it died."""
    trial.set_user_attr(OWNER_ATTR, f"{socket.gethostname()} {os.getpid()}")


def _orphaned(trial: Any) -> bool:
    host, _, pid = str(trial.user_attrs.get(OWNER_ATTR, "")).partition(" ")
    return host == socket.gethostname() and pid.isdigit() and not alive(int(pid))


def default_storage(tracking_uri: str) -> str:
    """The study's SQLAlchemy URL beside a local SQLite tracking store."""
    if tracking_uri.startswith("sqlite:///"):
        return f"sqlite:///{Path(tracking_uri.removeprefix('sqlite:///')).parent / 'optuna.db'}"
    raise ConfigError(f"tracking.uri={tracking_uri}: a search stores its Optuna study beside the tracking store, "
                      "and a server has no folder to write in; give the study's database with "
                      "search.storage=<SQLAlchemy URL> (e.g. a database of the same PostgreSQL server)")


def check_storage(storage: str) -> None:
    """ConfigError, before any work, for a study database URL SQLAlchemy cannot open (a typo'd
    scheme, a driver that is not installed), instead of its traceback after the store is made."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    try:
        make_url(storage).get_dialect().import_dbapi()
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"search.storage={storage!r} is invalid: not a database SQLAlchemy can open "
                          f"({' '.join(str(exc).split())[:160]}); give e.g. sqlite:////abs/path/optuna.db or "
                          "postgresql://user@host:5432/db") from exc


def _sampler(spec: SearchSpec, seed: int) -> Any:
    """The seeded sampler; limits reach it as each trial's constraints (Trial.set_constraint)."""
    import optuna

    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=spec.population)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, spec.trials // 3)))


def ask_lock(storage: str) -> contextlib.AbstractContextManager[object]:
    """Held from "is the budget taken?" to the new trial's claim, so workers sharing a SQLite
    study never ask more trials than the budget. A database server's study has no such lock:
    there each worker may ask one trial past it."""
    if not storage.startswith("sqlite:///"):
        return contextlib.nullcontext()
    return FileLock(storage.removeprefix("sqlite:///") + ".ask.lock")


def open_study(spec: SearchSpec, name: str, storage: str, worker: int = 0) -> Any:
    """The study (created, or loaded to resume), with killed trials re-asked. Parallel workers
    seed their samplers seed, seed+1, ... (one seed would have them all ask the same values)."""
    import optuna
    import sqlalchemy

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    try:
        # Parallel workers write one SQLite file: wait for its lock rather than fail at once.
        stored = (optuna.storages.RDBStorage(storage, engine_kwargs={"connect_args": {"timeout": 120}})
                  if storage.startswith("sqlite:") else storage)
        study = optuna.create_study(study_name=name, storage=stored, load_if_exists=True,
                                    directions=spec.directions, sampler=_sampler(spec, spec.seed + worker))
    except ValueError as exc:  # the same name with other directions
        raise ConfigError(f"search {name}: the stored study in {storage} does not match this search "
                          f"({' '.join(str(exc).split())[:200]}); give another search.id") from exc
    except sqlalchemy.exc.SQLAlchemyError as exc:  # a database server down or refusing us
        raise TinyexpError(f"search.storage={storage!r}: the study's database cannot be opened "
                           f"({first_line(str(exc))[:200]})") from exc
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if not _orphaned(trial):
            continue
        # Optuna has no public call to end another process's trial with a note: its storage does it.
        study._storage.set_trial_user_attr(trial._trial_id, KILLED_ATTR, True)
        study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        study.enqueue_trial(trial.params, skip_if_exists=False)
    return study


def trials_done(study: Any, running: bool = False) -> int:
    """Trials that count against the budget: complete, pruned, or failed on their own (not
    killed); with `running`, the trials under way too."""
    from optuna.trial import TrialState

    counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING) if running else (
        TrialState.COMPLETE, TrialState.PRUNED)
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state in counted or (t.state == TrialState.FAIL and not t.user_attrs.get(KILLED_ATTR)))
