"""Which jobs of a sweep already finished, read straight from a local SQLite store.

Importing MLflow costs seconds; a re-run of a finished sweep should cost about nothing. For
the default store (a SQLite file) this answers the one question the command line asks before
launching, with the standard library, read-only (the file is opened with mode=ro, so nothing
can be written or locked for writing). It reads MLflow's tables (experiments, runs, tags) as
MLflow's own search does by default: active runs of an active experiment, complete by the
rule of tinyexp.tracking.completeness (the same rule resume applies through MLflow). Any other
store, or any surprise in the file, answers None and the caller asks MLflow instead.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from tinyexp.core.names import Tag
from tinyexp.tracking.completeness import complete_run_sql

_FINISHED_JOBS_SQL = f"""
SELECT h.value FROM runs r
JOIN experiments e ON e.experiment_id = r.experiment_id AND e.name = ? AND e.lifecycle_stage = 'active'
JOIN tags s ON s.run_uuid = r.run_uuid AND s.key = '{Tag.SWEEP_ID}' AND s.value = ?
JOIN tags h ON h.run_uuid = r.run_uuid AND h.key = '{Tag.CONFIG_HASH}'
WHERE r.lifecycle_stage = 'active' AND {complete_run_sql("r")}
"""
_BUSY_TIMEOUT_S = 5.0


def finished_config_hashes(store_uri: str, experiment: str, sweep: str) -> set[str] | None:
    """Config hashes of the sweep's FINISHED, complete job runs; None when this cannot answer (not a
    SQLite store, or not one this query understands)."""
    if not store_uri.startswith("sqlite:///"):
        return None
    path = Path(store_uri.removeprefix("sqlite:///"))
    if not path.is_file():
        return set()
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                                                timeout=_BUSY_TIMEOUT_S)) as db:
            return {row[0] for row in db.execute(_FINISHED_JOBS_SQL, (experiment, sweep))}
    except sqlite3.Error:
        return None
