"""Benchmark: a warm default job (its model already trained and cached), today's code against a baseline revision.

Why this exists: a search lives or dies by seconds per trial, and issue 19 asks for a warm
default job (`python -m tinyexp` with its model cached) in at most half the wall time it took
before the work on it. Both sides run here, in one run, on one machine:

(a) baseline: the tinyexp of a git revision (default 418aee4, the last commit before the warm
    path: it imported TensorFlow in every job and converted the cached Keras model again),
    exported with `git archive` into a temporary folder and run from there;
(b) this checkout.

Each side gets its own empty training cache and MLflow store. One untimed job per side
trains the model and fills its caches; then the timed jobs alternate a, b, a, b, ... so that
a change in the machine's load falls on both. Both run with Python's bytecode cache on (as on
a user's machine; PYTHONDONTWRITEBYTECODE is removed) and MLflow's telemetry off (a network
call whose time depends on the network, not on tinyexp).

    .venv/bin/python benchmarks/bench_warm_job.py [--baseline REV] [--repeats 5]
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
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))
from machine import load_average_1min, machine_info  # noqa: E402

BASELINE_REVISION = "418aee4"
TARGET_RATIO = 0.5


def _export(revision: str, into: Path) -> Path:
    """The baseline revision's files (tracked files only) in `into`; exits if git cannot."""
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", revision], capture_output=True)
    if archive.returncode != 0:
        sys.exit(f"git archive {revision} failed: {archive.stderr.decode()[-500:]}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _job_env(code: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(code), TINYEXP_CACHE_DIR=str(home / "cache"), TF_CPP_MIN_LOG_LEVEL="3",
               MLFLOW_DISABLE_TELEMETRY="true")
    return env


def _job(code: Path, home: Path) -> float:
    """Wall seconds of one default job of the tinyexp in `code`, its store in `home`."""
    args = [sys.executable, "-m", "tinyexp", f"tracking.uri=sqlite:///{home / 'mlflow.db'}",
            f"hydra.run.dir={home / 'outputs'}"]
    start = time.perf_counter()
    done = subprocess.run(args, cwd=code, env=_job_env(code, home), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"job in {code} failed ({done.returncode}):\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE_REVISION, help="git revision to compare against")
    parser.add_argument("--repeats", type=int, default=5, help="timed warm jobs per side (median reported)")
    args = parser.parse_args()
    print(machine_info())
    print(f"load average (1 min) at start: {load_average_1min()}")
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as tmp:
        sides = {"baseline": _export(args.baseline, Path(tmp) / "baseline"), "now": REPO}
        homes = {name: Path(tmp) / f"home-{name}" for name in sides}
        for name, code in sides.items():
            homes[name].mkdir()
            print(f"{name}: first job (trains, fills the caches): {_job(code, homes[name]):.1f} s")
        times: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.repeats):
            for name, code in sides.items():
                times[name].append(_job(code, homes[name]))
    medians = {name: statistics.median(found) for name, found in times.items()}
    for name, found in times.items():
        print(f"{name}: warm default job, median {medians[name]:.2f} s of "
              f"{', '.join(f'{s:.2f}' for s in found)}")
    ratio = medians["now"] / medians["baseline"]
    print(f"ratio now / baseline ({args.baseline}): {ratio:.2f} (target <= {TARGET_RATIO})")
    print(f"load average (1 min) at end: {load_average_1min()}")
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(verdict)
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
