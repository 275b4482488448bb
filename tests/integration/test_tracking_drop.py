"""A tracking server that drops mid-run (issue 10, item 4b): waited for within
`tracking.reconnect_s`, the run's end resumed where it stopped; when it stays away, the run
ends FAILED in a local lost-run record that a later job settles on the server (and `tinyexp
doctor` lists until then).

A real `mlflow server` (SQLite backend, proxied artifacts, 127.0.0.1) is killed inside the
run's body, with SIGKILL, and started again on the same port and files. `tracked_run` runs
in this process, without TensorFlow.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers.mlflow_server import free_port
from tinyexp.cli.doctor import check_store
from tinyexp.cli.main import preflight
from tinyexp.core.errors import TinyexpError
from tinyexp.core.names import Tag
from tinyexp.tracking import lost_runs
from tinyexp.tracking.server import server_command, stop, wait_healthy
from tinyexp.tracking.store import RunRecord, configure, tracked_run

START_TIMEOUT_S = 90.0
# What MLflow's capped retries (set low below) and the probes may add to the wait's bound.
SLACK_S = 10.0
METRICS = {"test_mse": 0.5, "model_bytes": 1234.0, "latency_mean_us": 42.0}


@dataclass
class Server:
    """One `mlflow server` on fixed files and port that the test kills and starts again."""

    home: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = server_command(f"sqlite:///{self.home / 'mlflow.db'}", str(self.home / "artifacts"),
                              "127.0.0.1", self.port, 1)
        with open(self.home / "server.log", "ab") as log:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True,
                                            env=dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"))
        wait_healthy(self.url, self.process, START_TIMEOUT_S)

    def kill(self) -> None:
        """The server dies at once (SIGKILL to its process group: no graceful shutdown)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process = None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("drop_server"), free_port())
    running.start()
    try:
        yield running
    finally:
        if running.process is not None:
            stop(running.process)


@pytest.fixture
def live(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Server:
    """The shared server, answering; MLflow's client fails fast; records under tmp_path."""
    if server.process is None:
        server.start()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    monkeypatch.setenv(lost_runs.STATE_ENV, str(tmp_path / "state"))
    return server


def _record(folder: Path) -> RunRecord:
    """A job's record: params at the start, then metrics, tags, a file, a folder and a table."""
    model = folder / "model.tflite"
    model.write_bytes(b"TFL3" + bytes(range(200)))
    c_array = folder / "c_array"
    c_array.mkdir()
    (c_array / "model_data.cc").write_text("const unsigned char model[] = {0};\n")
    return RunRecord(params={"model.neurons": "8"}, tags={Tag.CONFIG_HASH: "abc"}, artifacts=[model, c_array],
                     tables={"operators.json": {"operator": ["FULLY_CONNECTED"], "macs": [64]}})


def _fill(record: RunRecord) -> None:
    """What the stages add while the job runs."""
    record.params["late"] = "1"
    record.metrics.update(METRICS)
    record.tags[Tag.DEPLOYABLE] = "true"


def test_a_server_back_within_the_bound_gets_every_datum_once(live: Server, tmp_path: Path) -> None:
    experiment = configure(live.url, "drop")
    record = _record(tmp_path)
    restart = threading.Thread(target=lambda: (time.sleep(2), live.start()))
    with tracked_run(experiment, "back", record, reconnect_s=60) as run_id:
        _fill(record)
        live.kill()
        restart.start()
    restart.join()
    client = MlflowClient(tracking_uri=live.url)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags[Tag.COMPLETE] == "true"
    assert run.data.metrics == METRICS and run.data.params == {"model.neurons": "8", "late": "1"}
    assert run.data.tags[Tag.DEPLOYABLE] == "true"
    for name in METRICS:
        assert len(client.get_metric_history(run_id, name)) == 1, name
    assert {a.path for a in client.list_artifacts(run_id)} == {"model.tflite", "c_array", "operators.json"}
    assert [a.path for a in client.list_artifacts(run_id, "c_array")] == ["c_array/model_data.cc"]
    assert not lost_runs.records_dir().exists()


def test_a_server_that_stays_away_ends_the_run_in_a_local_record_settled_later(live: Server, tmp_path: Path) -> None:
    experiment = configure(live.url, "drop")
    record = _record(tmp_path)
    with pytest.raises(TinyexpError) as info, tracked_run(experiment, "gone", record, reconnect_s=3) as run_id:
        _fill(record)
        live.kill()
        dropped_at = time.monotonic()
    elapsed = time.monotonic() - dropped_at
    assert 3 <= elapsed < 3 + SLACK_S, elapsed
    folder = lost_runs.records_dir() / run_id
    message = str(info.value)
    assert "\n" not in message and live.url in message and run_id in message, message
    assert f"ends FAILED in the local record {folder}" in message and "3 metrics" in message, message
    assert mlflow.active_run() is None

    saved = json.loads((folder / "record.json").read_text())
    assert saved["status"] == "FAILED" and saved["run_id"] == run_id and saved["tracking_uri"] == live.url
    assert saved["experiment_id"] == experiment and saved["run_name"] == "gone" and saved["settled"] is None
    assert saved["logged"] == [] and saved["not_logged"][0] == "params" and saved["not_logged"][-1] == "end"
    assert saved["metrics"] == METRICS and saved["params"] == {"late": "1"}
    assert saved["tags"][Tag.DEPLOYABLE] == "true"
    assert (folder / "artifacts" / "model.tflite").read_bytes() == (tmp_path / "model.tflite").read_bytes()
    assert (folder / "artifacts" / "c_array" / "model_data.cc").is_file()
    assert json.loads((folder / "tables" / "operators.json").read_text())["macs"] == [64]
    assert [p.name for p in lost_runs.records_dir().iterdir()] == [run_id]  # no staging left

    live.start()
    client = MlflowClient(tracking_uri=live.url)
    assert client.get_run(run_id).info.status == "RUNNING"
    assert "1 lost runs not ended there yet" in check_store(preflight([f"tracking.uri={live.url}"], False)[0])
    assert lost_runs.settle(client) == [run_id]
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags[Tag.LOST_RECORD] == str(folder)
    assert "tracking server dropped mid-run" in run.data.tags[Tag.ERROR]
    assert json.loads((folder / "record.json").read_text())["settled"]["ended_failed"] is True
    assert lost_runs.settle(client) == [] and lost_runs.unsettled() == []
    assert "lost runs" not in check_store(preflight([f"tracking.uri={live.url}"], False)[0])


def test_a_genuine_store_error_with_the_server_up_fails_at_once_without_a_record(live: Server,
                                                                                 tmp_path: Path) -> None:
    experiment = configure(live.url, "drop")
    record = _record(tmp_path)
    started = time.monotonic()
    with pytest.raises(Exception) as info, tracked_run(experiment, "bad", record, reconnect_s=60) as run_id:
        mlflow.log_param("late", "a")
        record.params["late"] = "b"  # the server refuses to change a logged param
    assert time.monotonic() - started < SLACK_S
    assert not isinstance(info.value, TinyexpError), info.value
    run = MlflowClient(tracking_uri=live.url).get_run(run_id)
    assert run.info.status == "FAILED" and "writing its data failed" in run.data.tags[Tag.ERROR]
    assert not lost_runs.records_dir().exists()
