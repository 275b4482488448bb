"""Whether an existing SQLite store file can be read: checked where every command opens a store
(jobs, report, doctor, calibrate), so a file that is not a database, or a damaged one, is one
line saying what to do rather than MLflow's DatabaseError traceback."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from tinyexp.core.errors import ConfigError

PREFIX = "sqlite:///"
_SQLITE_HEADER = b"SQLite format 3\x00"


def check_readable(uri: str) -> None:
    """An existing store file that is not an SQLite database (another file given as the store)
    or a damaged one, in one line before MLflow meets it with a DatabaseError traceback."""
    if not uri.startswith(PREFIX):
        return
    path = Path(uri.removeprefix(PREFIX))
    if not path.exists():
        return
    try:
        with path.open("rb") as f:
            header = f.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise ConfigError(f"tracking.uri={uri!r}: cannot read the store ({exc.strerror or exc})") from exc
    if header != _SQLITE_HEADER:
        raise ConfigError(f"tracking.uri={uri!r}: {path} is not an SQLite database; give the store's "
                           "mlflow.db, or move this file away and a new store is created")
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            db.execute("SELECT name FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"tracking.uri={uri!r}: the SQLite store {path} is damaged ({exc}); restore it "
                           "from a backup, or move it away and a new store is created") from exc
