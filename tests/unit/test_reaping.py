"""Which RUNNING runs are ended as orphans, and which are left alone (a real SQLite store).

A run is reaped when its process on this host is gone, when the Ray node it ran on is dead
(whichever host asks), or, by its own command once all its jobs have returned; never a run
that may still be alive elsewhere. In a farm (the FarmDevice backend) the board's readiness is
checked on the board node, so a job that trains elsewhere checks only that some node offers
the board; the job's Ray node and the dead ones come from the backend too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import types
from dataclasses import replace
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tinyexp.core.errors import ConfigError, DeviceError, TinyexpError
from tinyexp.core.names import Tag
from tinyexp.core.config import BoardConfig, DeviceConfig
from tinyexp.device.base import load_backend
from tinyexp.device.farm import PLACEMENT, FarmDevice
from tinyexp.device.serial import SerialDevice
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


def _in_ray_worker(monkeypatch: pytest.MonkeyPatch, resources: dict[str, float],
                   nodes: list[dict] | None = None) -> None:
    """This process as a Ray worker of a cluster offering ``resources`` (Ray itself not needed)."""
    context = types.SimpleNamespace(get_node_id=lambda: "node-of-this-job")
    fake_ray = types.SimpleNamespace(is_initialized=lambda: True, cluster_resources=lambda: dict(resources),
                                     get_runtime_context=lambda: context, nodes=lambda: list(nodes or []))
    monkeypatch.setitem(sys.modules, "ray", fake_ray)


_SERIAL = DeviceConfig(kind="serial", backend="tinyexp.device.serial.SerialDevice", port=None,
                       ray_resource="board:nano33ble")
_NANO = BoardConfig(name="nano33ble", fqbn="arduino:mbed_nano:nano33ble")


def _serial(tmp_path: Path, placement: str | None = None):  # noqa: ANN202 - the backend the config picks
    missing_cli = str(tmp_path / "no-arduino-cli")  # check_ready on this node would fail
    return load_backend(replace(_SERIAL, arduino_cli=missing_cli, placement=placement), _NANO)


def test_in_a_farm_the_board_is_checked_on_its_node_not_where_the_job_trains(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TinyexpError, match="arduino-cli was not found"):
        _serial(tmp_path).check_ready()  # no placement: the toolchain is checked here

    farm = _serial(tmp_path, PLACEMENT)
    assert isinstance(farm, FarmDevice) and farm.placed is SerialDevice
    _in_ray_worker(monkeypatch, {"CPU": 2.0, "board:nano33ble": 1.0})
    assert farm.check_ready() == {}  # the board node checks it before deploying

    _in_ray_worker(monkeypatch, {"CPU": 2.0})
    with pytest.raises(DeviceError, match="no live node of the Ray cluster offers board:nano33ble"):
        farm.check_ready()


def test_a_farm_job_without_a_board_resource_checks_its_backend_where_it_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _in_ray_worker(monkeypatch, {"CPU": 2.0})
    device = replace(_SERIAL, ray_resource=None, arduino_cli=str(tmp_path / "none"), placement=PLACEMENT)
    with pytest.raises(TinyexpError, match="arduino-cli was not found"):
        load_backend(device, _NANO).check_ready()


def test_the_farm_backend_outside_a_ray_worker_is_one_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="run the job with hydra/launcher=farm"):
        _serial(tmp_path, PLACEMENT).check_ready()


def test_the_job_node_and_the_dead_nodes_come_from_the_backend(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local, farm = _serial(tmp_path), _serial(tmp_path, PLACEMENT)
    assert (farm.job_node(), farm.dead_nodes()) == (None, set())  # not in a Ray worker
    _in_ray_worker(monkeypatch, {"CPU": 2.0}, nodes=[{"NodeID": "gone", "Alive": False}, {"NodeID": "up", "Alive": True}])
    assert farm.job_node() == "node-of-this-job" and farm.dead_nodes() == {"gone"}
    assert (local.job_node(), local.dead_nodes()) == (None, set()), "a local backend asked the cluster"
