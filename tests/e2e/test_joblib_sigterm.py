"""SIGTERM to the command's process of a joblib sweep stops its workers, whose runs end KILLED
(issue 11, defect 9: the workers finished the sweep and lingered for about 7 minutes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import store_client, store_runs


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_sigterm_to_a_joblib_sweep_stops_workers_and_marks_runs_killed(tmp_path: Path) -> None:
    (tmp_path / "mlruns").mkdir()
    store_client(tmp_path).search_experiments()
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, "-m", "tinyexp", "-m", "model.neurons=8,12", "train.epochs=20000",
                             "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 240
    while True:  # both jobs training
        running = [r for r in store_runs(tmp_path) if r.info.status == "RUNNING"]
        if len(running) == 2:
            break
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.3)
    workers = [int(r.data.tags["tinyexp.pid"]) for r in running]
    assert proc.pid not in workers
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert time.monotonic() - start < 20 and proc.returncode == 143
    time.sleep(0.5)
    assert not [pid for pid in workers if _alive(pid)]
    jobs = [r for r in store_runs(tmp_path) if r.data.tags.get("tinyexp.role") != "sweep"]
    assert len(jobs) == 2 and {r.info.status for r in jobs} == {"KILLED"}, [r.info.status for r in jobs]
