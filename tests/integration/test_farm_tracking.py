"""The farm's tracking server with real parts on 127.0.0.1: PostgreSQL from Debian's packages
(a private cluster in a temp directory, run as a non-root user), `python -m
tinyexp.tracking.server` on it (MLflow's server, artifacts proxied), and a sweep logging to
it over HTTP. The sweep parent, resume by config hash and orphan reaping work as on SQLite;
reaping leaves alone a RUNNING run owned by another host.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers.farm import free_port, postgres, tracking_server, tracking_server_command
from tinyexp.model.train import trained_entries

SWEEP = "farmpg"
NEURONS = ("4", "6")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("farm_tracking")
    with postgres() as db, tracking_server(db, home / "artifacts") as url:
        yield url, home


def _tinyexp(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = dict(os.environ, TINYEXP_CACHE_DIR=str(home / "cache"), TF_CPP_MIN_LOG_LEVEL="3", **env)
    return subprocess.run([sys.executable, "-m", "tinyexp", *args], cwd=home, env=environ,
                          capture_output=True, text=True, timeout=600)


def _sweep(url: str, home: Path, neurons: tuple[str, ...] = NEURONS) -> subprocess.CompletedProcess[str]:
    done = _tinyexp(home, "-m", f"model.neurons={','.join(neurons)}", "train.epochs=3",
                    f"sweep.id={SWEEP}", f"tracking.uri={url}")
    assert done.returncode == 0, f"sweep failed:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.slow
def test_sweep_resume_and_reaping_over_the_server(server: tuple[str, Path]) -> None:
    from mlflow.tracking import MlflowClient

    url, home = server
    _sweep(url, home)
    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name("tinyexp")
    assert experiment.artifact_location.startswith("mlflow-artifacts:"), experiment.artifact_location
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.sweep_id = '{SWEEP}'")
    parents = [r for r in runs if r.data.tags.get("tinyexp.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("tinyexp.role") != "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(r.data.params["model.neurons"] for r in children) == sorted(NEURONS)
    for run in children:
        assert run.info.status == "FINISHED", run.data.tags.get("error")
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.data.metrics["model_bytes"] > 0
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "serial_transcript.txt" in names, names  # uploaded through the server's proxy
    assert any((home / "artifacts").rglob("serial_transcript.txt")), "no artifact reached --artifacts-destination"

    # Two RUNNING runs whose processes are gone: one owned by this host, one by another host;
    # the job the next sweep starts reaps the first only.
    dead_pid = str(_dead_pid())
    mine = client.create_run(experiment.experiment_id, tags={"tinyexp.host": socket.gethostname(),
                                                             "tinyexp.pid": dead_pid}).info.run_id
    theirs = client.create_run(experiment.experiment_id, tags={"tinyexp.host": "another-farm-node",
                                                               "tinyexp.pid": dead_pid}).info.run_id
    try:
        _sweep(url, home, (*NEURONS, "8"))  # resume: the finished jobs are skipped by config hash
        rerun = client.search_runs([experiment.experiment_id], filter_string=f"tags.sweep_id = '{SWEEP}'")
        new = [r for r in rerun if r.info.run_id not in {old.info.run_id for old in runs}]
        assert [r.data.params["model.neurons"] for r in new] == ["8"] and new[0].info.status == "FINISHED"
        assert client.get_run(mine).info.status == "KILLED"
        assert client.get_run(theirs).info.status == "RUNNING", "reaped a run owned by another host"
    finally:
        client.set_terminated(theirs, status="KILLED")


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_server_down_at_start_is_one_line_before_training(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    # MLflow's own retry budget for HTTP, kept small here; the failure is the same with the default.
    done = _tinyexp(tmp_path, "train.epochs=3", f"tracking.uri={url}", MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and len(lines) == 1 and lines[0].startswith("tinyexp: error:"), done.stderr
    assert url in lines[0]
    assert not trained_entries(tmp_path / "cache"), "trained anyway"


def test_tracking_server_refuses_a_database_that_does_not_answer(tmp_path: Path) -> None:
    db = f"postgresql://mlflow@127.0.0.1:{free_port()}/mlflow"
    start = time.monotonic()
    done = subprocess.run(tracking_server_command(db, tmp_path / "artifacts", free_port()),
                          capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1 and lines[0].startswith("tinyexp: error: backend store"), done.stderr
    assert "refused" in lines[0].lower(), lines[0]  # the database, not a missing driver
    assert time.monotonic() - start < 60
