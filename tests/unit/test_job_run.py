"""The run's life around a job (tinyexp.tracking.job_run) on a real SQLite store: lost runs are
settled before orphans are reaped, and a sweep's job is claimed, then skipped when it is
complete or running elsewhere."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tinyexp.core.config import TrackingConfig
from tinyexp.core.names import Tag
from tinyexp.tracking import lost_runs
from tinyexp.tracking.job_run import JobPlace, job_run
from tinyexp.tracking.store import RunRecord, configure


def _place(tmp_path: Path, digest: str = "h1", sweep_id: str | None = None, resume: bool = True) -> JobPlace:
    tracking = TrackingConfig(uri=f"sqlite:///{tmp_path / 'mlflow.db'}", experiment="tinyexp", reconnect_s=0)
    return JobPlace(tracking, digest, sweep_id=sweep_id, resume=resume)


def _dead_pid() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return str(proc.pid)


def test_a_lost_run_is_settled_failed_before_its_dead_process_is_reaped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(lost_runs.STATE_ENV, str(tmp_path / "state"))
    place = _place(tmp_path)
    experiment = configure(place.tracking.uri, place.tracking.experiment)
    client = MlflowClient(tracking_uri=place.tracking.uri)
    owner = {Tag.HOST: socket.gethostname(), Tag.PID: _dead_pid()}
    lost = client.create_run(experiment, tags=owner).info.run_id
    orphan = client.create_run(experiment, tags=owner).info.run_id
    lost_runs.write_record(lost_runs.RunRef(lost, experiment, place.tracking.uri, "lost"), "server dropped",
                           [], ["end"], {})

    with job_run(place, RunRecord()) as job:
        assert job.skipped is None

    assert client.get_run(lost).info.status == "FAILED"  # reaping first would have said KILLED
    assert Tag.LOST_RECORD in client.get_run(lost).data.tags
    assert client.get_run(orphan).info.status == "KILLED"


def test_a_sweep_job_is_claimed_then_skipped_once_complete(tmp_path: Path) -> None:
    place = _place(tmp_path, sweep_id="s1")
    record = RunRecord()
    with job_run(place, record) as job:
        assert job.skipped is None and job.claim is not None and job.claim.is_locked
        with job.tracked("first") as run_id:
            assert not job.claim.is_locked  # the RUNNING run is the claim now
    assert record.tags[Tag.SWEEP_ID] == "s1" and record.tags[Tag.CONFIG_HASH] == "h1"
    assert record.tags[Tag.PID] == str(os.getpid())

    with job_run(place, RunRecord()) as again:
        assert again.skipped is not None and again.skipped.run_id == run_id
        assert again.skipped.reason == f"an identical config already finished (run {run_id})"
    with job_run(_place(tmp_path, sweep_id="s1", resume=False), RunRecord()) as rerun:
        assert rerun.skipped is None


def test_a_sweep_job_running_in_another_command_is_skipped(tmp_path: Path) -> None:
    place = _place(tmp_path, digest="h2", sweep_id="s1")
    experiment = configure(place.tracking.uri, place.tracking.experiment)
    client = MlflowClient(tracking_uri=place.tracking.uri)
    running = client.create_run(experiment, tags={Tag.SWEEP_ID: "s1", Tag.CONFIG_HASH: "h2",
                                                  Tag.HOST: socket.gethostname(), Tag.PID: str(os.getpid())})
    with job_run(place, RunRecord()) as job:
        assert job.skipped is not None
        assert job.skipped.reason == f"an identical config is running in another command (run {running.info.run_id})"
    assert client.get_run(running.info.run_id).info.status == "RUNNING"


def test_a_finished_run_on_other_file_contents_is_not_this_job(tmp_path: Path) -> None:
    """A job reading a model or dataset file is skipped only by a finished run that read the
    same contents: the config names the file by its path, and a file rewritten there is other
    input (a red-team finding: the sweep skipped the job and reported the old data's figures)."""
    place = JobPlace(_place(tmp_path).tracking, "h3", sweep_id="s1", input_files="contents-a")
    record = RunRecord()
    with job_run(place, record) as job, job.tracked("on a"):
        pass
    assert record.tags[Tag.INPUT_FILES_DIGEST] == "contents-a"

    with job_run(place, RunRecord()) as same:
        assert same.skipped is not None
    rewritten = JobPlace(place.tracking, "h3", sweep_id="s1", input_files="contents-b")
    with job_run(rewritten, RunRecord()) as other:
        assert other.skipped is None


def test_a_run_that_recorded_no_file_contents_does_not_stand_for_a_job_that_reads_files(tmp_path: Path) -> None:
    """A run of a version before the digest was recorded: which contents it read is unknown."""
    with job_run(_place(tmp_path, digest="h4", sweep_id="s1"), RunRecord()) as job, job.tracked("old"):
        pass
    reads = JobPlace(_place(tmp_path).tracking, "h4", sweep_id="s1", input_files="contents-a")
    with job_run(reads, RunRecord()) as now:
        assert now.skipped is None
