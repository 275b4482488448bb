"""Benchmark: the farm path (hydra/launcher=farm, Ray) on one machine, in two parts.

grid   The `experiment=paper` grid through Ray against joblib, same machine, same run, each
       in a fresh directory with an empty training cache: the ratio ray/joblib is the
       overhead of the farm path where no farm is needed. `--neurons` and `--epochs` cut it
       down for a quick check (then it is not the paper grid, and the output says so).
scale  A simulated farm: a Ray head that trains (2 CPUs) and B node processes with one
       realtime virtual nano33ble each (`device.realtime=true`: every invoke takes its
       estimated latency), for each B in `--boards`; J jobs whose model is trained once
       beforehand, so measuring, not training, dominates. Throughput in jobs per minute
       against B, and the speed-up over B=1. The boards are virtual; their time is the
       latency estimate's (labelled estimate in every run).

    .venv/bin/python benchmarks/bench_farm.py grid [--jobs 2] [--neurons 16,32] [--epochs 600]
    .venv/bin/python benchmarks/bench_farm.py scale [--boards 1,2,4] [--jobs-per-run 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
RAY = Path(sys.executable).with_name("ray")
sys.path.insert(0, str(BENCH_DIR))
from bench_paper_grid import INIT_STORE_CODE  # noqa: E402
from machine import load_average_1min, machine_info  # noqa: E402

RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}  # one machine, throwaway


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(home / "cache"), TF_CPP_MIN_LOG_LEVEL="3", **RAY_ENV,
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_DIR), os.environ.get("PYTHONPATH")])))
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    return env


def _finished(home: Path) -> int:
    """FINISHED child runs in the directory's own MLflow store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, filter_string="attributes.status = 'FINISHED'") if ids else []
    return sum(1 for r in runs if r.data.tags.get("tinyexp.role") != "sweep")


def _timed_sweep(home: Path, env: dict[str, str], args: list[str]) -> float:
    """Create the store, run `python -m tinyexp -m ARGS` in ``home``; its wall seconds."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "sweep.log", "w") as log:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", INIT_STORE_CODE], cwd=home, env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=True)
        store = f"tracking.uri=sqlite:///{home / 'mlruns' / 'mlflow.db'}"  # Ray workers run elsewhere
        done = subprocess.run([sys.executable, "-m", "tinyexp", "-m", *args, store], cwd=home, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"sweep failed ({done.returncode}); see {home / 'sweep.log'}")
    return seconds


def grid(args: argparse.Namespace, work: Path) -> dict:
    cut = [f"model.neurons={args.neurons}"] if args.neurons else []
    cut += [f"train.epochs={args.epochs}"] if args.epochs else []
    common = ["experiment=paper", *cut]
    sides = {
        "joblib": [*common, "hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.jobs}"],
        "ray": [*common, "hydra/launcher=farm", "hydra.launcher.ray.init.address=local",  # a new local Ray
                f"+hydra.launcher.ray.init.num_cpus={args.jobs}",
                "+hydra.launcher.ray.init.include_dashboard=false"],
    }
    result: dict = {"overrides_cut": cut, "paper_grid": not cut}
    for name, sweep_args in sides.items():
        home = work / name
        seconds = _timed_sweep(home, _env(home), sweep_args)
        result[f"{name}_seconds"] = round(seconds, 2)
        result[f"{name}_finished_runs"] = _finished(home)
        print(f"{name}: {seconds:.1f} s, {result[f'{name}_finished_runs']} runs FINISHED", flush=True)
    result["ray_over_joblib_ratio"] = round(result["ray_seconds"] / result["joblib_seconds"], 3)
    print(f"ray / joblib wall clock: {result['ray_over_joblib_ratio']:.2f}"
          + ("" if not cut else f"  (cut-down grid: {' '.join(cut)}; not the paper grid)"))
    return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _node(env: dict[str, str], log: Path, *ray_args: str) -> Iterator[None]:
    """`ray start --block` in its own process group, killed (whole group) at the end."""
    with open(log, "wb") as sink:
        proc = subprocess.Popen([str(RAY), "start", "--block", "--disable-usage-stats", *ray_args], env=env,
                                stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_boards(env: dict[str, str], address: str, boards: int, timeout_s: float = 180) -> None:
    code = ("import ray, sys; ray.init(address=%r, logging_level='ERROR', log_to_driver=False); "
            "print(int(ray.cluster_resources().get('board:nano33ble', 0)))" % address)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip().splitlines()[-1:] == [str(boards)]:
            return
        time.sleep(2)
    raise SystemExit(f"the cluster never showed {boards} boards within {timeout_s:g} s")


def scale(args: argparse.Namespace, work: Path) -> dict:
    model = [f"model.neurons={args.neurons_scale}", "train.epochs=1", "quant=none"]
    env = _env(work)
    warm = subprocess.run([sys.executable, "-m", "tinyexp", *model, "device.invokes=1"], cwd=work, env=env,
                          capture_output=True, text=True)  # trains the one model every job uses
    if warm.returncode != 0:
        raise SystemExit(f"training the model failed: {warm.stderr[-2000:]}")
    jobs = ",".join(str(i) for i in range(args.jobs_per_run))  # J jobs differing only in warmup
    rows = []
    for boards in args.boards:
        port = _free_port()
        address = f"127.0.0.1:{port}"
        with contextlib.ExitStack() as stack:
            stack.enter_context(_node(env, work / f"head-{boards}.log", "--head", "--port", str(port),
                                      "--num-cpus", "2", "--include-dashboard", "false"))
            for i in range(boards):  # one after another: nodes starting at once on one machine hang
                stack.enter_context(_node(env, work / f"board-{boards}-{i}.log", "--address", address,
                                          "--num-cpus", "0", "--resources", json.dumps({"board:nano33ble": 1})))
                _wait_boards(env, address, i + 1)
            home = work / f"scale-{boards}"
            seconds = _timed_sweep(home, dict(env, RAY_ADDRESS=address), [
                *model, "hydra/launcher=farm", f"device.warmup={jobs}", "device.realtime=true",
                f"device.invokes={args.invokes}", "device.ray_resource=board:nano33ble",
                f"hydra.launcher.ray.remote.num_cpus={args.job_cpus}"])
        finished = _finished(home)
        rows.append({"boards": boards, "seconds": round(seconds, 2), "finished_runs": finished,
                     "jobs_per_minute": round(60 * finished / seconds, 2)})
        print(f"{boards} board(s): {seconds:.1f} s for {finished} jobs = {rows[-1]['jobs_per_minute']:.2f} jobs/min",
              flush=True)
    base = rows[0]["jobs_per_minute"]
    for row in rows:
        row["speedup_vs_first"] = round(row["jobs_per_minute"] / base, 2)
    print("boards  jobs/min  speed-up vs " + f"{rows[0]['boards']} board(s)")
    for row in rows:
        print(f"{row['boards']:>6}  {row['jobs_per_minute']:>8.2f}  {row['speedup_vs_first']:>6.2f}")
    return {"rows": rows, "jobs_per_run": args.jobs_per_run, "invokes": args.invokes,
            "model": model, "job_cpus": args.job_cpus}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="part", required=True)
    g = sub.add_parser("grid", help="the paper grid through Ray against joblib")
    g.add_argument("--jobs", type=int, default=2, help="parallel jobs on both sides (CPUs)")
    g.add_argument("--neurons", help="cut the grid down to these n (e.g. 16,32)")
    g.add_argument("--epochs", type=int, help="cut training down to this many epochs")
    s = sub.add_parser("scale", help="simulated farm throughput against the number of boards")
    s.add_argument("--boards", type=lambda v: [int(x) for x in v.split(",")], default=[1, 2, 4])
    s.add_argument("--jobs-per-run", type=int, default=8)
    s.add_argument("--invokes", type=int, default=1000, help="BENCH invokes per job (realtime)")
    s.add_argument("--neurons-scale", type=int, default=256, help="n of the 1-n-n-1 model measured")
    s.add_argument("--job-cpus", type=float, default=0.5,
                   help="CPUs a job holds on the head (jobs mostly wait for their board)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    print(json.dumps(machine_info()), flush=True)
    load_start = load_average_1min()
    with tempfile.TemporaryDirectory(prefix="tinyexp-bench-farm-") as tmp:
        result = (grid if args.part == "grid" else scale)(args, Path(tmp))
    result |= {"part": args.part, "load_average_1min_start": load_start, "load_average_1min_end": load_average_1min()}
    print(f"1-minute load average: {load_start:.2f} at start, {result['load_average_1min_end']:.2f} at end")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
