"""Which RUNNING runs are ended as orphans, and which are left alone (a real SQLite store).

A run is reaped when its process on this host is gone, when the Ray node it ran on is dead
(whichever host asks), or, by its own command once all its jobs have returned; never a run
that may still be alive elsewhere. In a farm the board's readiness is checked on the board
node, so a job that trains elsewhere checks only that some node offers the board.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tinyexp.core.errors import DeviceError, TinyexpError
from tinyexp.core.names import Tag
from tinyexp.device.serial import SerialDevice
from tinyexp.pipeline import farm, runner
from tinyexp.tracking.store import RunRecord
from tinyexp.tracking.sweep import COMMAND_ID_ENV, owner_tags, reap_command, reap_orphans


def _store(tmp_path: Path) -> tuple[MlflowClient, str]:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    return client, client.create_experiment("tinyexp", artifact_location=(tmp_path / "a").as_uri())


def _running(client: MlflowClient, experiment: str, **tags: str) -> str:
    return client.create_run(experiment, tags=tags).info.run_id


def _dead_pid() -> str:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return str(proc.pid)


def _status(client: MlflowClient, run_id: str) -> str:
    return client.get_run(run_id).info.status


def test_runs_of_a_dead_ray_node_are_reaped_from_any_host(tmp_path: Path) -> None:
    client, exp = _store(tmp_path)
    alive_pid = str(os.getpid())
    on_dead_node = _running(client, exp, **{Tag.HOST: "trainer-2", Tag.PID: alive_pid, Tag.RAY_NODE: "dead0"})
    on_live_node = _running(client, exp, **{Tag.HOST: "trainer-3", Tag.PID: _dead_pid(), Tag.RAY_NODE: "live1"})
    dead_here = _running(client, exp, **{Tag.HOST: socket.gethostname(), Tag.PID: _dead_pid()})
    alive_here = _running(client, exp, **{Tag.HOST: socket.gethostname(), Tag.PID: alive_pid})

    reaped = reap_orphans(client, exp, dead_nodes={"dead0"})

    assert sorted(reaped) == sorted([on_dead_node, dead_here])
    assert _status(client, on_dead_node) == "KILLED" and _status(client, dead_here) == "KILLED"
    assert "Ray node died" in client.get_run(on_dead_node).data.tags[Tag.ERROR]
    assert _status(client, on_live_node) == "RUNNING", "another host's run on a live node was reaped"
    assert _status(client, alive_here) == "RUNNING"


def test_a_command_reaps_only_its_own_runs_still_running(tmp_path: Path) -> None:
    client, exp = _store(tmp_path)
    lost = _running(client, exp, **{Tag.COMMAND: "100-abc"})
    other_command = _running(client, exp, **{Tag.COMMAND: "200-def"})
    ended = _running(client, exp, **{Tag.COMMAND: "100-abc"})
    client.set_terminated(ended, status="FINISHED")

    assert reap_command(client, exp, "100-abc") == [lost]
    assert _status(client, lost) == "KILLED" and _status(client, ended) == "FINISHED"
    assert _status(client, other_command) == "RUNNING"


def test_owner_tags_name_the_command_and_the_ray_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COMMAND_ID_ENV, "42-cafe01")
    tags = owner_tags("node-7")
    assert tags[Tag.COMMAND] == "42-cafe01" and tags[Tag.RAY_NODE] == "node-7"
    monkeypatch.delenv(COMMAND_ID_ENV)
    assert set(owner_tags()) == {Tag.HOST, Tag.PID}


def _in_ray_worker(monkeypatch: pytest.MonkeyPatch, resources: dict[str, float]) -> None:
    """This process as a Ray worker of a cluster offering ``resources`` (Ray itself not needed)."""
    fake_ray = types.SimpleNamespace(is_initialized=lambda: True, cluster_resources=lambda: dict(resources))
    monkeypatch.setitem(sys.modules, "ray", fake_ray)


def _serial(tmp_path: Path) -> SerialDevice:
    missing_cli = str(tmp_path / "no-arduino-cli")  # check_ready on this node would fail
    return SerialDevice({"kind": "serial", "port": None, "arduino_cli": missing_cli,
                         "ray_resource": "board:nano33ble"}, {"name": "nano33ble", "fqbn": "arduino:mbed_nano:nano33ble"})


def test_in_a_farm_the_board_is_checked_on_its_node_not_where_the_job_trains(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = _serial(tmp_path)
    with pytest.raises(TinyexpError, match="arduino-cli was not found"):
        runner._check_ready(backend, RunRecord())  # outside Ray: the toolchain is checked here

    _in_ray_worker(monkeypatch, {"CPU": 2.0, "board:nano33ble": 1.0})
    record = RunRecord()
    runner._check_ready(backend, record)  # the board node checks it before deploying
    assert record.tags == {}

    _in_ray_worker(monkeypatch, {"CPU": 2.0})
    with pytest.raises(DeviceError, match="no live node of the Ray cluster offers board:nano33ble"):
        runner._check_ready(backend, RunRecord())
    assert farm.remote_board({"ray_resource": None}) is None
