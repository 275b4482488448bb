"""Sweeps under faults: a killed sweep resumes without losing or duplicating runs, and two
jobs never use one serial port at once."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.helpers import store_client, store_runs
from tinyexp.device.serial import port_lock

SWEEP = ["-m", "model.neurons=8,12,16", "quant=none", "train.epochs=3000", "sweep.id=killed"]


def _start(home: Path) -> subprocess.Popen:
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(home / "cache"))
    return subprocess.Popen([sys.executable, "-m", "tinyexp", *SWEEP], cwd=home, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _jobs(home: Path) -> list:
    return [r for r in store_runs(home) if r.data.tags.get("sweep_id") == "killed"
            and r.data.tags.get("tinyexp.role") != "sweep"]


def test_killed_sweep_resumes_without_loss_or_duplicates(tmp_path):
    # The test reads the store while the sweep writes it: create the store first, so the two
    # processes never both run MLflow's schema migrations on a new database.
    (tmp_path / "mlruns").mkdir()
    store_client(tmp_path).search_experiments()
    proc = _start(tmp_path)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:  # wait until one job finished and the next just started
            jobs = _jobs(tmp_path)
            fresh = [r for r in jobs if r.info.status == "RUNNING" and time.time() * 1000 - r.info.start_time < 1500]
            if fresh and any(r.info.status == "FINISHED" for r in jobs):
                break  # a run a second old has seconds of training ahead: the kill lands inside it
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        else:
            raise AssertionError("the sweep never had a finished and a running job at once")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no chance to clean up, as after a power cut
        proc.wait(timeout=30)
    assert any(r.info.status == "RUNNING" for r in _jobs(tmp_path))  # left behind by the kill

    resumed = _start(tmp_path)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out[-3000:]
    jobs = _jobs(tmp_path)
    assert not [r for r in jobs if r.info.status == "RUNNING"]
    killed = [r for r in jobs if r.info.status == "KILLED"]
    assert len(killed) == 1 and "process died" in killed[0].data.tags["error"]
    finished = Counter(r.data.params["model.neurons"] for r in jobs if r.info.status == "FINISHED")
    assert finished == Counter({"8": 1, "12": 1, "16": 1})  # none lost, none duplicated
    assert "skipped: an identical config already finished" in out


def _hold(port: str, log: str, hold_s: float) -> None:
    with port_lock(port):
        with open(log, "a") as f:
            f.write(f"enter {time.monotonic()}\n")
        time.sleep(hold_s)
        with open(log, "a") as f:
            f.write(f"exit {time.monotonic()}\n")


def test_two_jobs_never_overlap_on_one_port(tmp_path):
    log = tmp_path / "port.log"
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_hold, args=("/dev/ttyACM-test", str(log), 0.5)) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    events = [line.split() for line in log.read_text().splitlines()]
    assert [e[0] for e in events] == ["enter", "exit", "enter", "exit"]  # strictly one at a time
    assert float(events[2][1]) >= float(events[1][1])


def test_different_ports_do_not_block_each_other(tmp_path):
    with port_lock("/dev/ttyACM-a"):
        other = port_lock("/dev/ttyACM-b")
        other.acquire(timeout=1)
        other.release()


def test_parallel_sweep_loses_no_run_in_a_fresh_sqlite_store(tmp_path):
    # Two joblib workers start on an empty store at once: table creation and every write
    # must survive the concurrency, with one FINISHED run per job.
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-m", "tinyexp", "-m", "model.neurons=8,10,12,14", "quant=none",
                             "train.epochs=10", "sweep.id=parallel", "hydra/launcher=joblib",
                             "hydra.launcher.n_jobs=2"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [r for r in store_runs(tmp_path) if r.data.tags.get("sweep_id") == "parallel"]
    jobs = Counter(r.data.params["model.neurons"] for r in runs if r.data.tags.get("tinyexp.role") != "sweep")
    assert jobs == Counter({"8": 1, "10": 1, "12": 1, "14": 1})
    assert all(r.info.status == "FINISHED" for r in runs)
    assert sum(r.data.tags.get("tinyexp.role") == "sweep" for r in runs) == 1


def test_sigterm_ends_the_open_run_as_killed(tmp_path):
    (tmp_path / "mlruns").mkdir()
    store_client(tmp_path).search_experiments()
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(tmp_path / "cache"))
    # 1-64-64-1: training lasts minutes, so the SIGTERM always lands inside the run, even on a loaded machine
    proc = subprocess.Popen([sys.executable, "-m", "tinyexp", "model.neurons=64", "train.epochs=40000"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not [r for r in store_runs(tmp_path) if r.info.status == "RUNNING"]:
            assert time.monotonic() < deadline and proc.poll() is None, "the job never started its run"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    [run] = store_runs(tmp_path)
    assert run.info.status == "KILLED"
    assert run.data.tags["error"] == "interrupted"
