"""A real `mlflow server` for tests: a sweep to serve, the server on 127.0.0.1, its REST API.

Shared by tests/integration/test_mlflow_server.py and test_mlflow_ui.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import pytest

from tinyexp.tracking.server import healthy

MLFLOW = Path(sys.executable).with_name("mlflow")  # the venv's own mlflow executable
EXPERIMENT = "tinyexp"
SWEEP_ID = "srvtest"
SWEEP_NEURONS = (8, 12)
HEALTH_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
REQUIRED_METRICS = ("model_bytes", "test_mse", "latency_us")


# --- the sweep -------------------------------------------------------------------------------

def run_sweep(home: Path, sweep_id: str = SWEEP_ID, neurons: tuple[int, ...] = SWEEP_NEURONS) -> None:
    """`python -m tinyexp -m ...` in `home` (its own store and training cache); fail loudly."""
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(home / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("MLFLOW_TRACKING_URI", None)
    args = [sys.executable, "-m", "tinyexp", "-m", "model.neurons=" + ",".join(map(str, neurons)),
            "quant=none", "train.epochs=5", f"sweep.id={sweep_id}"]
    done = subprocess.run(args, cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"sweep failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    assert (home / "mlruns" / "mlflow.db").is_file(), f"no store in {home}/mlruns:\n{done.stdout}"


# --- the server ------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@lru_cache(maxsize=1)
def _server_help() -> str:
    done = subprocess.run([str(MLFLOW), "server", "--help"], capture_output=True, text=True, timeout=120)
    return done.stdout


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no server output)"


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server's whole process group, SIGKILL what is left after a timeout."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pass
    # uvicorn's workers (and anything else MLflow spawned) share the group: kill stragglers.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def mlflow_server(home: Path, attempts: int = 3) -> Iterator[Server]:
    """A real `mlflow server` on `home`'s default store; stopped however the body ends."""
    store = home / "mlruns"
    extra = ["--workers", "1"] if "--workers" in _server_help() else []
    # No background job runner (huey consumers): the UI and REST API do not need it.
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    for attempt in range(1, attempts + 1):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = home / f"mlflow-server-{port}.log"
        args = [str(MLFLOW), "server",
                "--backend-store-uri", f"sqlite:///{(store / 'mlflow.db').resolve()}",
                "--default-artifact-root", (store / "artifacts").resolve().as_uri(),
                "--host", "127.0.0.1", "--port", str(port), *extra]
        with open(log, "wb") as sink:
            process = subprocess.Popen(args, cwd=home, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        server = Server(url, process, log)
        try:
            deadline = time.monotonic() + HEALTH_TIMEOUT_S
            while not healthy(url):
                if process.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"mlflow server gave no /health answer within {HEALTH_TIMEOUT_S:.0f} s "
                                f"(args {args}); its output:\n{server.output()}")
                time.sleep(0.25)
            if process.poll() is not None:
                output = server.output()
                # Another process may have taken the free port between our probe and the bind.
                if "address already in use" in output.lower() and attempt < attempts:
                    continue
                pytest.fail(f"mlflow server exited with {process.returncode} before answering "
                            f"/health (args {args}); its output:\n{output}")
            yield server
            return
        finally:
            _stop(process)


# --- the REST API ----------------------------------------------------------------------------

def api(url: str, endpoint: str, query: dict[str, str] | None = None,
        body: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET (query) or POST (JSON body) /api/2.0/mlflow/<endpoint>; the decoded JSON answer."""
    address = f"{url}/api/2.0/mlflow/{endpoint}"
    if query:
        address += "?" + urllib.parse.urlencode(query)
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(address, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read().decode())
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{address} -> HTTP {exc.code}: {exc.read().decode(errors='replace')}") from exc


def tags_of(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in run["data"].get("tags", [])}


def metrics_of(run: dict[str, Any]) -> dict[str, float]:
    return {m["key"]: m["value"] for m in run["data"].get("metrics", [])}


def params_of(run: dict[str, Any]) -> dict[str, str]:
    return {p["key"]: p["value"] for p in run["data"].get("params", [])}


@dataclass
class SweepRuns:
    experiment_id: str
    parent: dict[str, Any]
    children: list[dict[str, Any]]  # ordered by model.neurons


def sweep_runs(url: str, sweep_id: str = SWEEP_ID) -> SweepRuns:
    """The sweep's parent and child runs as the server returns them from runs/search."""
    experiment = api(url, "experiments/get-by-name", query={"experiment_name": EXPERIMENT})["experiment"]
    found = api(url, "runs/search", body={"experiment_ids": [experiment["experiment_id"]],
                                          "filter": f"tags.sweep_id = '{sweep_id}'",
                                          "max_results": 100})
    runs = found.get("runs", [])
    parents = [r for r in runs if tags_of(r).get("tinyexp.role") == "sweep"]
    children = [r for r in runs if tags_of(r).get("tinyexp.role") != "sweep"]
    assert len(parents) == 1, f"expected one parent run for sweep {sweep_id}, got {len(parents)}: {runs}"
    children.sort(key=lambda r: int(params_of(r).get("model.neurons", "-1")))
    return SweepRuns(experiment["experiment_id"], parents[0], children)


# --- the test --------------------------------------------------------------------------------
