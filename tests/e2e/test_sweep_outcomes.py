"""How a sweep ends and what it owns (issue 11, defects 6 and 7): a sweep with failed jobs
exits non-zero saying how many; two sweeps started at once get their own folders and ids;
the same sweep run twice at once runs each job once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import store_client, store_runs

# Jobs that fail fast, after their run's sweep parent exists: no arduino-cli here.
FAILING = ["device=serial", "device.arduino_cli=/nonexistent/arduino-cli"]


def _tinyexp(home: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(home / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-m", "tinyexp", *args], cwd=home, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _create_store(home: Path) -> None:
    (home / "mlruns").mkdir()
    store_client(home).search_experiments()  # one process migrates the new store, not several


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]],
                         ids=["sequential", "joblib"])
def test_a_sweep_whose_jobs_failed_exits_non_zero_saying_how_many(tmp_path: Path, launcher: list[str]) -> None:
    proc = _tinyexp(tmp_path, "-m", *FAILING, "device.port=/dev/a,/dev/b", *launcher)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-2000:]
    assert "tinyexp: error: 2 of 2 jobs failed (first: " in err.splitlines()[-1]


def test_two_sweeps_started_together_get_their_own_folders_and_ids(tmp_path: Path) -> None:
    _create_store(tmp_path)
    procs = [_tinyexp(tmp_path, "-m", *FAILING, f"device.port=/dev/{a},/dev/{b}") for a, b in ("ab", "cd")]
    for proc in procs:
        proc.communicate(timeout=300)
    assert len(list((tmp_path / "multirun").glob("*/*"))) == 2
    parents = [r for r in store_runs(tmp_path) if r.data.tags.get("tinyexp.role") == "sweep"]
    assert len(parents) == 2 and len({r.data.tags["sweep_id"] for r in parents}) == 2


def test_the_same_sweep_twice_at_once_runs_each_job_once(tmp_path: Path) -> None:
    _create_store(tmp_path)
    sweep = ["-m", "model.neurons=4,6", "train.epochs=3", "device.invokes=3", "device.parity_samples=2",
             "sweep.id=twice"]
    procs = [_tinyexp(tmp_path, *sweep) for _ in range(2)]
    outputs = [proc.communicate(timeout=600) for proc in procs]
    assert [p.returncode for p in procs] == [0, 0], [e[-1500:] for _, e in outputs]
    jobs = [r for r in store_runs(tmp_path) if r.data.tags.get("tinyexp.role") != "sweep"]
    assert len(jobs) == 2 and {r.info.status for r in jobs} == {"FINISHED"}
    assert len({r.data.tags["config_hash"] for r in jobs}) == 2
    assert "skipped: an identical config" in "".join(o for o, _ in outputs)
