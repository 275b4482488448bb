"""Benchmark: re-running a finished sweep, against the time of the sweep it skips.

Why this exists: a sweep is resumable (jobs whose config already FINISHED are skipped), and a
re-run of a finished sweep should cost about nothing. The issue's target: the 22-job paper
grid, all finished, skipped in under 5 s on this machine. Both figures come from this run:

(a) baseline: `python -m tinyexp -m experiment=paper hydra/launcher=joblib` in a fresh
    directory with an empty training cache: the full sweep;
(b) the same command again: every job is already FINISHED in the store.

    .venv/bin/python benchmarks/bench_sweep_skip.py [--jobs 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from machine import load_average_1min, machine_info  # noqa: E402

SKIP_TARGET_S = 5.0


def _sweep(home: Path, jobs: int) -> float:
    """Seconds of one `experiment=paper` sweep in ``home``; exits on failure."""
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(home / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    args = [sys.executable, "-m", "tinyexp", "-m", "experiment=paper", "hydra/launcher=joblib",
            f"hydra.launcher.n_jobs={jobs}"]
    start = time.perf_counter()
    done = subprocess.run(args, cwd=home, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"sweep failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="joblib workers for the full sweep")
    parser.add_argument("--repeats", type=int, default=3, help="re-runs timed (median reported)")
    args = parser.parse_args()
    print(machine_info())
    print(f"load average (1 min) at start: {load_average_1min()}")
    with tempfile.TemporaryDirectory(prefix="bench-skip-") as tmp:
        home = Path(tmp)
        full_s = _sweep(home, args.jobs)
        reruns = [_sweep(home, args.jobs) for _ in range(args.repeats)]
    rerun_s = statistics.median(reruns)
    print(f"full paper sweep (22 jobs, fresh cache): {full_s:.1f} s")
    print(f"re-run of the finished sweep: median {rerun_s:.2f} s of {', '.join(f'{s:.2f}' for s in reruns)}")
    print(f"ratio full / re-run: {full_s / rerun_s:.1f}x")
    verdict = "PASS" if rerun_s < SKIP_TARGET_S else "FAIL"
    print(f"{verdict}: re-run under {SKIP_TARGET_S:g} s")
    print(f"load average (1 min) at end: {load_average_1min()}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
