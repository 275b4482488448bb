"""A run's status is written last (issue 11, defect 1): SIGTERM while a finished job's data is
being written ends the run KILLED without its completeness marker, and resume does not trust
it; a run whose writing completes carries the marker."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from tinyexp.core.names import Tag
from tinyexp.tracking.sweep import finished_runs

# One job's end as the runner has it: its real SIGTERM handler, and the real sink, whose
# artifact upload is slowed so the signal lands while the data is being written.
_JOB = r"""
import sys, time
from pathlib import Path
import mlflow
from tinyexp.pipeline.runner import _install_sigterm_handler
from tinyexp.tracking.store import RunRecord, configure, tracked_run

uri, folder, slow = sys.argv[1], Path(sys.argv[2]), sys.argv[3] == "slow"
experiment = configure(uri, "finalise")
files = []
for i in range(5):
    files.append(folder / f"a{i}.txt")
    files[-1].write_text(str(i))
record = RunRecord(params={"x": "1"}, metrics={"m": 1.0}, tags={"sweep_id": "s", "config_hash": "h"},
                   artifacts=files)
upload = mlflow.log_artifact

def slow_upload(*args, **kwargs):
    (folder / "writing").touch()
    if slow:
        time.sleep(10)
    upload(*args, **kwargs)

mlflow.log_artifact = slow_upload
_install_sigterm_handler()
with tracked_run(experiment, "job", record) as run_id:
    print(run_id, flush=True)
"""


def _job(tmp_path: Path, slow: bool) -> tuple[subprocess.Popen, str, Path]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    folder = tmp_path / "files"
    folder.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", _JOB, uri, str(folder), "slow" if slow else "fast"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, uri, folder


def _the_run(uri: str):  # noqa: ANN202 - mlflow Run
    client = MlflowClient(tracking_uri=uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "finalise"]
    (run,) = client.search_runs([experiment.experiment_id])
    return client, experiment.experiment_id, run


def test_sigterm_while_a_finished_run_is_written_ends_it_killed(tmp_path: Path) -> None:
    proc, uri, folder = _job(tmp_path, slow=True)
    deadline = time.monotonic() + 60
    while not (folder / "writing").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    assert proc.returncode != 0
    client, experiment_id, run = _the_run(uri)
    assert run.info.status == "KILLED", run.info.status
    assert Tag.COMPLETE not in run.data.tags
    assert "interrupted while its data was being written" in run.data.tags[Tag.ERROR]
    assert finished_runs(client, experiment_id, "s") == {}  # resume runs it again


def test_a_run_written_to_the_end_is_complete_and_trusted(tmp_path: Path) -> None:
    proc, uri, _ = _job(tmp_path, slow=False)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    client, experiment_id, run = _the_run(uri)
    assert run.info.status == "FINISHED" and run.data.tags[Tag.COMPLETE] == "true"
    assert len(client.list_artifacts(run.info.run_id)) == 5
    assert finished_runs(client, experiment_id, "s") == {"h": run.info.run_id}


def test_an_interruption_while_the_config_is_logged_ends_the_run_killed(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A signal as soon as the run exists (the window in which `test_sigterm_ends_the_open_run_as_killed`
    once saw FAILED): the params are being logged, and the run must still end KILLED."""
    import mlflow
    import pytest

    from tinyexp.tracking.store import RunRecord, configure, tracked_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)
    experiment = configure(uri, "interrupt")

    def interrupted(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
        raise KeyboardInterrupt("signal 15")

    monkeypatch.setattr(mlflow, "log_params", interrupted)
    with pytest.raises(KeyboardInterrupt), tracked_run(experiment, "job", RunRecord(params={"x": "1"})):
        pass
    [run] = MlflowClient(tracking_uri=uri).search_runs([experiment])
    assert run.info.status == "KILLED" and run.data.tags[Tag.ERROR] == "interrupted"
