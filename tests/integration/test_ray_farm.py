"""A board farm on 127.0.0.1 with real parts: PostgreSQL + the farm's tracking server, a Ray
head node (2 CPUs, one virtual nano33ble) and a second Ray node process (one virtual
nucleo_l4r5zi and one CPU, so that jobs die with it when it is killed), and a sweep
through hydra/launcher=farm (tinyexp's launcher on the hydra-ray-launcher plugin) whose jobs
need both boards. The boards are virtual (no hardware here); their placement is Ray's,
through the custom resources `board:<name>` the nodes offer and the measuring steps ask for.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.helpers import ROOT
from tests.helpers.farm import free_port, postgres, tracking_server

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[farm]'; .ci/run does it)")
pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason="hydra-ray-launcher is not installed (.[farm])")

RAY = Path(sys.executable).with_name("ray")
BOARDS = ("nano33ble", "nucleo_l4r5zi")
NEURONS = (3, 4)  # x 2 boards = 4 jobs: two on each node
NODE_TIMEOUT_S = 120
# A throwaway cluster of one machine: no usage reports, and no token authentication (a farm
# across hosts keeps Ray's token on; docs/farm.md says how).
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
# The head's checks of its nodes (Ray's RayConfig, read from RAY_<name>): a killed node is
# declared dead after 2 missed checks 0.5 s apart instead of 5 missed 3 s apart (on this
# machine the killed sweep then ends 15 s after the kill instead of 22 s).
HEALTH_CHECKS = {"RAY_health_check_initial_delay_ms": "1000", "RAY_health_check_period_ms": "500",
                 "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "2"}


def _env(home: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT), TINYEXP_CACHE_DIR=str(home / "cache"),
                TF_CPP_MIN_LOG_LEVEL="3", **RAY_ENV, **HEALTH_CHECKS)


@contextlib.contextmanager
def ray_node(env: dict[str, str], log: Path, *args: str) -> Iterator[subprocess.Popen]:
    """`ray start --block ARGS` in its own process group; the group is killed at the end."""
    with open(log, "wb") as sink:
        proc = subprocess.Popen([str(RAY), "start", "--block", "--disable-usage-stats", *args], env=env,
                                stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        yield proc
    finally:
        kill_node(proc)


def kill_node(proc: subprocess.Popen) -> None:
    """SIGKILL the node's whole process group (raylet, workers, boards): a node that dies."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _nodes(address: str) -> list[dict[str, Any]]:
    """The cluster's nodes as Ray reports them (asked in a separate driver process)."""
    code = ("import json, ray; ray.init(address=%r, logging_level='ERROR', log_to_driver=False); "
            "print(json.dumps([{'id': n['NodeID'], 'alive': n['Alive'], 'resources': n['Resources']} "
            "for n in ray.nodes()]))" % address)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **RAY_ENV))
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _node_ids(address: str) -> set[str]:
    return {n["id"] for n in _nodes(address)}


def _wait_for_board(address: str, board: str, known: set[str] = frozenset()) -> str:
    """The id of a live node offering ``board`` that is not one of ``known`` (a node killed
    earlier may still be listed alive until Ray notices it is gone)."""
    deadline = time.monotonic() + NODE_TIMEOUT_S
    while time.monotonic() < deadline:
        found = [n["id"] for n in _nodes(address) if n["alive"] and f"board:{board}" in n["resources"]
                 and n["id"] not in known]
        if found:
            return found[0]
        time.sleep(2)
    pytest.fail(f"no new node with board:{board} appeared within {NODE_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def farm() -> Iterator[dict[str, Any]]:
    home = Path(tempfile.mkdtemp(prefix="tinyexp-farm-"))
    env, port = _env(home), free_port()
    address = f"127.0.0.1:{port}"
    second = ["--address", address, "--resources", json.dumps({"board:nucleo_l4r5zi": 1}), "--num-cpus"]
    with postgres() as db, tracking_server(db, home / "artifacts") as url, \
            ray_node(env, home / "head.log", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
                     "--num-cpus", "2", "--include-dashboard", "false", "--temp-dir", str(home / "ray"),
                     "--resources", json.dumps({"board:nano33ble": 1})):
        _wait_for_board(address, "nano33ble")
        yield {"home": home, "env": env, "address": address, "url": url, "second": second}
    shutil.rmtree(home, ignore_errors=True)


def _sweep(farm: dict[str, Any], sweep: str, background: bool = False) -> Any:
    args = [sys.executable, "-m", "tinyexp", "-m", "hydra/launcher=farm",
            f"hydra.launcher.ray.init.address={farm['address']}",
            f"board={','.join(BOARDS)}", f"model.neurons={','.join(map(str, NEURONS))}", "train.epochs=2",
            "device.ray_resource='board:${board.name}'", f"sweep.id={sweep}", f"tracking.uri={farm['url']}"]
    log = open(farm["home"] / f"sweep-{sweep}-{time.monotonic_ns()}.log", "w+")
    proc = subprocess.Popen(args, cwd=farm["home"], env=farm["env"], stdout=log, stderr=subprocess.STDOUT)
    if background:
        return proc, log
    proc.wait(timeout=900)
    log.seek(0)
    output = log.read()
    assert proc.returncode == 0, output[-4000:]
    return output


def _children(url: str, sweep: str) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name("tinyexp")
    if experiment is None:
        return []
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.sweep_id = '{sweep}'")
    return [r for r in runs if r.data.tags.get("tinyexp.role") != "sweep"]


def _job(run: Any) -> tuple[str, str]:
    return run.data.params["board.name"], run.data.params["model.neurons"]


def _assert_placed(farm: dict[str, Any], runs: list[Any]) -> None:
    """Each run was measured on a node offering its board, and says which node."""
    resources = {n["id"][:12]: n["resources"] for n in _nodes(farm["address"])}
    for run in runs:
        node = run.data.tags["tinyexp.measure_node"].rsplit("/", 1)[-1]
        assert f"board:{run.data.params['board.name']}" in resources[node], (node, resources[node])


@pytest.mark.slow
def test_second_node_killed_mid_sweep_then_rerun_completes(farm: dict[str, Any]) -> None:
    """A sweep whose jobs need both nodes' boards; the second node trains too (one CPU).
    Killed while a job runs on it, that job is lost with its node as well as the measuring
    steps waiting for its board. Run again with a new second node, the sweep completes: every
    job FINISHED once, each measured on a node offering its board (so on two nodes)."""
    known = _node_ids(farm["address"])
    with ray_node(farm["env"], farm["home"] / "second-a.log", *farm["second"], "1") as second:
        doomed = _wait_for_board(farm["address"], "nucleo_l4r5zi", known)
        proc, log = _sweep(farm, "raykill", background=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any(
                r.data.tags.get("tinyexp.ray_node") == doomed for r in _children(farm["url"], "raykill")):
            time.sleep(0.5)
        kill_node(second)  # a job is under way on it
        proc.wait(timeout=900)
    log.seek(0)
    output = log.read()
    assert proc.returncode == 1 and "jobs failed" in output, output[-4000:]
    runs = _children(farm["url"], "raykill")
    assert not [r for r in runs if r.info.status == "RUNNING"], "a run was left RUNNING"
    on_doomed = [r for r in runs if r.data.tags.get("tinyexp.ray_node") == doomed]
    assert on_doomed and all(r.info.status in ("KILLED", "FAILED") for r in on_doomed), \
        [(_job(r), r.info.status) for r in on_doomed]

    known = _node_ids(farm["address"])
    with ray_node(farm["env"], farm["home"] / "second-b.log", *farm["second"], "1"):
        _wait_for_board(farm["address"], "nucleo_l4r5zi", known)
        _sweep(farm, "raykill")
        runs = _children(farm["url"], "raykill")
        finished = [r for r in runs if r.info.status == "FINISHED"]
        assert sorted(_job(r) for r in finished) == sorted((b, str(n)) for b in BOARDS for n in NEURONS), \
            "the re-run did not complete the sweep, or measured a job twice"
        assert not [r for r in runs if r.info.status == "RUNNING"]
        _assert_placed(farm, finished)
        assert len({r.data.tags["tinyexp.measure_node"] for r in finished}) >= 2


@pytest.mark.slow
def test_ctrl_c_on_the_laptop_ends_the_sweep_and_its_runs(farm: dict[str, Any]) -> None:
    proc, log = _sweep(farm, "rayint", background=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not [r for r in _children(farm["url"], "rayint") if r.info.status == "RUNNING"]:
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    log.seek(0)
    output = log.read()
    assert proc.returncode == 130 and "tinyexp: error: interrupted" in output, output[-3000:]
    runs = _children(farm["url"], "rayint")
    assert runs and not [r for r in runs if r.info.status == "RUNNING"], [(_job(r), r.info.status) for r in runs]
    assert any(r.info.status == "KILLED" for r in runs)


# Two small dense nets on sine: trained where the search runs, measured on the farm.
FARM_SEARCH = """\
overrides: [dataset=sine, model=dense, train.epochs=2, model.hidden_layers=1]
objectives: [mse, latency_ms]
trials: 2
seed: 0
sampler: random
params:
  model.neurons: {choices: [3, 4]}
"""


@pytest.mark.slow
def test_a_search_measures_its_trials_on_the_farms_board(farm: dict[str, Any]) -> None:
    """`tinyexp search` with the farm's placement on a real Ray cluster: the search joins the
    cluster (RAY_ADDRESS), each trained trial's measuring step runs as a Ray task on the node
    offering the board, and the front is published to the farm's tracking server."""
    from mlflow.tracking import MlflowClient

    home = farm["home"]
    (home / "farm_search.yaml").write_text(FARM_SEARCH)
    done = subprocess.run([sys.executable, "-m", "tinyexp", "search", "search=farm_search.yaml", "board=nano33ble",
                           "device.placement=tinyexp.device.farm.FarmDevice", "device.ray_resource='board:nano33ble'",
                           f"tracking.uri={farm['url']}", f"search.storage=sqlite:///{home / 'optuna.db'}"],
                          cwd=home, env=dict(farm["env"], RAY_ADDRESS=farm["address"]),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert "Pareto front of search-farm_search-" in done.stdout, done.stdout[-2000:]

    client = MlflowClient(tracking_uri=farm["url"])
    experiment = client.get_experiment_by_name("tinyexp")
    runs = client.search_runs([experiment.experiment_id], filter_string="tags.sweep_id LIKE 'search-farm_search-%'")
    parent = [r for r in runs if r.data.tags.get("tinyexp.role") == "sweep"]
    trained = [r for r in runs if "tinyexp.search.trial" in r.data.tags and "tinyexp.search.pruned" not in r.data.tags]
    assert len(parent) == 1 and "tinyexp.search.spec" in parent[0].data.tags
    assert trained and all(r.info.status == "FINISHED" for r in trained)
    _assert_placed(farm, trained)  # measured on the node offering board:nano33ble
    assert all(r.data.tags["latency_source"] == "estimate" for r in trained)  # a virtual board: still an estimate
    assert any(r.data.tags.get("tinyexp.search.front") == "true" for r in trained)
