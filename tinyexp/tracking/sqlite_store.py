"""A local SQLite tracking store: created atomically, checked writable, diagnosed when broken.

MLflow creates a new SQLite store by running its schema migrations in place; a kill during
them (about a second on first use) left a store every later run refused ("table
_alembic_tmp_model_versions already exists"). Here a new store is created and migrated under
a temporary name beside it and moved into place only when complete, so the store is either
absent or whole. A store broken by an older interrupted migration, or one that cannot be
written, is named with what to do, in one line. Artifacts of an explicit SQLite store go in
an `artifacts` folder beside it, not in the working directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from tinyexp.core.errors import TinyexpError

PREFIX = "sqlite:///"
_CREATING = ".creating-"


def db_path(uri: str) -> Path | None:
    """The database file of a sqlite:/// URI, else None."""
    return Path(uri.removeprefix(PREFIX)) if uri.startswith(PREFIX) else None


def artifact_root(uri: str) -> str | None:
    """file: URI of the `artifacts` folder beside a SQLite store (None for other stores)."""
    path = db_path(uri)
    return (path.parent / "artifacts").resolve().as_uri() if path is not None else None


def prepare(uri: str) -> None:
    """Create the store atomically if it is new, and check it can be written. Call under the
    store's initialisation lock (no other process creates it meanwhile)."""
    path = db_path(uri)
    if path is None:
        return
    for stale in path.parent.glob(path.name + _CREATING + "*"):  # left by a killed creation
        stale.unlink(missing_ok=True)
    if not path.exists():
        _create(path)
    for target, what in ((path, "the database file"), (path.parent, "its folder (SQLite writes a journal there)")):
        if not os.access(target, os.W_OK):
            raise TinyexpError(f"tracking.uri={uri!r}: the store is read-only ({what} {target} is not "
                               "writable); make it writable or choose another tracking.uri")


def _create(path: Path) -> None:
    from mlflow.tracking import MlflowClient

    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f"{path.name}{_CREATING}{os.getpid()}")
    MlflowClient(tracking_uri=f"{PREFIX}{staging}").search_experiments()  # creates and migrates
    os.replace(staging, path)


def explain_broken(uri: str, error: str) -> str | None:
    """What to do about a store an interrupted schema migration left behind, or one another
    writer keeps locked, else None."""
    path = db_path(uri)
    if path is not None and "database is locked" in error:
        return (f"tracking.uri={uri!r}: the store stayed locked by another writer (SQLite's wait ran "
                "out); stop the other process writing it, or use a tracking server for many writers")
    if path is None or "_alembic_tmp_" not in error:
        return None
    table = error.split("_alembic_tmp_", 1)[1].split()[0].strip("\"'")
    return (f"tracking.uri={uri!r}: an interrupted schema migration left this store half-made; "
            f"if it holds no runs, delete {path}; else back it up, then run "
            f"`sqlite3 {path} 'DROP TABLE _alembic_tmp_{table}'` and `mlflow db upgrade {uri}`")
