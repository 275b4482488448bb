"""Store faults (issue 11, defect 2 and item 5): a kill during a new store's creation never
leaves a half-made store; a store broken by an older interrupted migration, or read-only, is
one line saying what to do; an explicit SQLite store keeps its artifacts beside it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinyexp.core.errors import TinyexpError
from tinyexp.tracking import sqlite_store
from tinyexp.tracking.store import configure

_CREATE = "import sys; from tinyexp.tracking.store import configure; configure(sys.argv[1], 'e')"


@pytest.mark.parametrize("delay_s", [0.0, 0.15, 0.4])
def test_sigkill_during_store_creation_leaves_no_half_made_store(tmp_path: Path, delay_s: float) -> None:
    db = tmp_path / "store" / "mlflow.db"
    uri = f"sqlite:///{db}"
    proc = subprocess.Popen([sys.executable, "-c", _CREATE, uri], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not list(db.parent.glob("mlflow.db.creating-*")):  # the migration has begun
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.01)
    time.sleep(delay_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert not db.exists() or proc.returncode == 0  # the store is absent or whole, never half-made
    start = time.monotonic()
    experiment = configure(uri, "e")  # a later start creates it and works
    assert experiment and db.exists() and not list(db.parent.glob("mlflow.db.creating-*"))
    assert time.monotonic() - start < 30


def test_a_store_left_half_made_by_an_old_migration_says_what_to_do() -> None:
    message = sqlite_store.explain_broken("sqlite:////data/mlflow.db",
                                          "(sqlite3.OperationalError) table _alembic_tmp_model_versions "
                                          "already exists")
    assert message is not None and "\n" not in message
    assert "delete /data/mlflow.db" in message
    assert "DROP TABLE _alembic_tmp_model_versions" in message and "mlflow db upgrade" in message


def test_a_read_only_store_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand-in: the tests run as root, whom file modes do not stop, and cannot mount a
    read-only filesystem; os.access answers as it does on one (EROFS)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    configure(uri, "e")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK else real_access(p, mode))
    with pytest.raises(TinyexpError, match=r"the store is read-only \(the database file .* is not writable\)") as info:
        configure(uri, "e")
    assert "\n" not in str(info.value)


def test_an_explicit_sqlite_store_keeps_its_artifacts_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow.tracking import MlflowClient

    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    uri = f"sqlite:///{tmp_path / 'store' / 'runs.db'}"
    experiment_id = configure(uri, "beside")
    location = MlflowClient(tracking_uri=uri).get_experiment(experiment_id).artifact_location
    assert location == (tmp_path / "store" / "artifacts").as_uri()
    assert not (work / "mlruns").exists()


def test_a_store_locked_by_another_writer_is_one_line_within_a_bound(tmp_path: Path,
                                                                    capfd: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    configure(uri, "first")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another writer, holding the store for as long as it likes
    try:
        start = time.monotonic()
        with pytest.raises(TinyexpError, match="the store stayed locked by another writer") as info:
            configure(uri, "second")
        assert time.monotonic() - start < 45
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "\n" not in str(info.value) and "SQLAlchemy" not in capfd.readouterr().err


def test_a_job_that_loses_the_race_to_create_the_experiment_joins_the_winners(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CI found it on the Ray farm: parallel first jobs on a fresh server store each saw no
    experiment and each created it; all but one failed with RESOURCE_ALREADY_EXISTS. Here the
    interleaving is made exact: another job creates the experiment between this job's lookup
    (answered "missing") and its create."""
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    winner = configure(uri, "race")
    real_lookup = mlflow.get_experiment_by_name
    answers = iter([None])
    monkeypatch.setattr(mlflow, "get_experiment_by_name", lambda name: next(answers, real_lookup(name)))
    assert configure(uri, "race") == winner


@pytest.mark.parametrize("uri, words", [
    ("postgresql://mlflow@127.0.0.1:1/mlflow", "the database does not answer ((psycopg.OperationalError)"),
    ("http://127.0.0.1:1", "no tracking server answers"),
])
def test_a_store_that_does_not_answer_is_one_line_for_every_reader(uri: str, words: str) -> None:
    """report, package, calibrate and doctor open a store through existing_store_client: nothing
    listens on port 1, so the database refuses at once and the server probe gives up within its
    bound (MLflow's own client would retry a server for minutes, and printed 150 lines of a
    database's traceback)."""
    from tinyexp.tracking.store import existing_store_client

    start = time.monotonic()
    with pytest.raises(TinyexpError, match=re.escape(words)) as info:
        existing_store_client(uri)
    assert "\n" not in str(info.value) and time.monotonic() - start < 30


def test_report_on_a_database_that_does_not_answer_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "tinyexp", "report", "tracking.uri=postgresql://u@127.0.0.1:1/db"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert done.stderr.startswith("tinyexp: error: tracking.uri='postgresql://u@127.0.0.1:1/db': the database does not answer")
