"""The farm's launcher opens each sweep before its jobs start (tinyexp.cli.farm_launch.open_sweeps):
the experiment and the sweep's parent run exist once, made on the launching machine, so jobs
starting together on several hosts (whose parent lock is a file on each host) all find it."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from tinyexp.cli.farm_launch import open_sweeps
from tinyexp.core.names import Tag
from tinyexp.tracking.sweep import SWEEP_ROLE, ensure_parent


def _job(uri: str | None, neurons: int) -> object:
    return OmegaConf.create({"tracking": {"uri": uri, "experiment": "farm"}, "sweep": {"id": "s1"},
                             "model": {"neurons": neurons}})


def _parents(client: MlflowClient) -> list[object]:
    experiment = client.get_experiment_by_name("farm")
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.{Tag.ROLE} = '{SWEEP_ROLE}'")


def test_the_parent_is_made_once_before_any_job_and_the_jobs_find_it(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    open_sweeps([_job(uri, 3), _job(uri, 4)], str(tmp_path / "sweep"))
    client = MlflowClient(tracking_uri=uri)
    (parent,) = _parents(client)
    assert parent.data.tags[Tag.SWEEP_ID] == "s1" and parent.info.status == "FINISHED"
    experiment = client.get_experiment_by_name("farm").experiment_id
    assert ensure_parent(client, experiment, "s1") == parent.info.run_id  # what each job does first


def test_jobs_logging_to_their_own_hosts_store_open_nothing_here(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    open_sweeps([_job(None, 3)], str(tmp_path / "sweep"))
    assert not (tmp_path / "mlruns").exists()


def test_a_store_that_cannot_be_opened_is_one_line_and_left_to_the_jobs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mlflow.db").write_bytes(b"not a database, " * 64)
    open_sweeps([_job(f"sqlite:///{tmp_path / 'mlflow.db'}", 3)], str(tmp_path / "sweep"))
    err = capsys.readouterr().err
    assert err.startswith("tinyexp: error: sweep s1 could not be opened in sqlite:///") and err.count("\n") == 1
