"""Benchmark: the whole `experiment=paper` grid with tinyexp against a naive per-job loop.

Why this exists: our issue's end-to-end target is that running the 2020 study's grid
(22 jobs: n in 16..768 x quant none/dynamic) with tinyexp takes at least 10x less wall clock
than doing it the notebook way. Both sides are measured in the same run of this script:

(a) tinyexp: `python -m tinyexp -m experiment=paper hydra/launcher=joblib
    hydra.launcher.n_jobs=JOBS` in a fresh temporary working directory with a fresh, empty
    TINYEXP_CACHE_DIR, so nothing trained earlier is reused. This does strictly more work
    than (b): it also evaluates, deploys to the virtual board, measures and logs to MLflow.
(b) naive: for each job, in order, a fresh Python process running
    benchmarks/naive_paper_job.py (plain `model.fit`, TFLiteConverter, size). No cache,
    one job at a time.

The sizes both sides got for the same job are printed side by side; they should agree in
order of magnitude (tinyexp strips strings TFLM never reads, so its files are a little
smaller). `--subset N` runs the first N jobs of the grid on both sides for a quick check.

    .venv/bin/python benchmarks/bench_paper_grid.py [--subset N] [--jobs 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
PAPER_YAML = REPO_DIR / "conf" / "experiment" / "paper.yaml"
NAIVE_JOB = BENCH_DIR / "naive_paper_job.py"
SPEED_TARGET_RATIO = 10.0  # naive minutes / tinyexp minutes must be at least this

sys.path.insert(0, str(BENCH_DIR))
from machine import load_average_1min, machine_info  # noqa: E402


@dataclass(frozen=True)
class Job:
    """One point of the grid, in the order Hydra's basic sweeper launches them."""

    neurons: int
    quant: str


@dataclass
class JobSizes:
    """What each side reported for one job; None where a side produced nothing."""

    job: Job
    tinyexp_model_bytes: int | None = None
    naive_model_bytes: int | None = None
    tinyexp_test_mse: float | None = None
    naive_keras_test_mse: float | None = None
    tinyexp_status: str | None = None
    naive_job_seconds: float | None = None

    @property
    def same_order_of_magnitude(self) -> bool | None:
        if not self.tinyexp_model_bytes or not self.naive_model_bytes:
            return None
        return abs(math.log10(self.tinyexp_model_bytes / self.naive_model_bytes)) < 1.0


@dataclass
class SideResult:
    """Wall clock of one side and whether every job it ran produced a result."""

    wall_seconds: float
    jobs_ok: int
    jobs_total: int
    log_path: str
    errors: list[str] = field(default_factory=list)

    @property
    def wall_minutes(self) -> float:
        return self.wall_seconds / 60.0


def paper_grid() -> list[Job]:
    """The 22 jobs, read from conf/experiment/paper.yaml so the benchmark follows the preset.

    Order: the cartesian product of the sweeper params in the order they are listed
    (model.neurons outer, quant inner), as Hydra's basic sweeper launches them.
    """
    from omegaconf import OmegaConf

    params = OmegaConf.load(PAPER_YAML).hydra.sweeper.params
    neurons = [int(v) for v in str(params["model.neurons"]).split(",")]
    quants = [v.strip() for v in str(params["quant"]).split(",")]
    return [Job(n, q) for n, q in itertools.product(neurons, quants)]


def select_jobs(grid: list[Job], subset: int | None) -> tuple[list[Job], list[str], str | None]:
    """The jobs to run and the extra tinyexp overrides that make its sweep run exactly those.

    A Hydra sweep is a product, so a subset must be whole rows of n x (every quant): the first
    N jobs when N is a multiple of the number of quant modes (or N=1), else N rounded up to
    the next such multiple, with a note saying so.
    """
    if subset is None or subset >= len(grid):
        return grid, [], None
    quants = list(dict.fromkeys(j.quant for j in grid))
    neurons = list(dict.fromkeys(j.neurons for j in grid))
    if subset == 1:
        return grid[:1], [f"model.neurons={grid[0].neurons}", f"quant={grid[0].quant}"], None
    rows = -(-subset // len(quants))
    note = None
    if rows * len(quants) != subset:
        note = (f"--subset {subset} rounded up to {rows * len(quants)} jobs: a Hydra sweep is a product "
                f"of n x quant, so a subset takes whole rows of {len(quants)} quant modes")
    chosen = neurons[:rows]
    jobs = [j for j in grid if j.neurons in chosen]
    overrides = [f"model.neurons={','.join(str(n) for n in chosen)}", f"quant={','.join(quants)}"]
    return jobs, overrides, note


# Creates tinyexp's default MLflow store (mlruns/mlflow.db under the cwd) with tinyexp's own code.
INIT_STORE_CODE = "from tinyexp.tracking.store import configure; configure(None, 'tinyexp')"


def run_tinyexp(jobs_parallel: int, overrides: list[str], workdir: Path, init_store: bool) -> SideResult:
    """Time the whole tinyexp multirun from a fresh directory with an empty model cache.

    With `init_store`, tinyexp's MLflow store is created first by one process, and that time
    is counted in (a). Why: in a directory with no mlruns/mlflow.db, the parallel joblib
    workers each run MLflow's SQLite schema migration at the same moment, and one of them
    fails ("table _alembic_tmp_... already exists"), which aborts the multirun (found by this
    benchmark; a tinyexp bug, not ours to fix here). `--no-init-store` reproduces it.
    """
    run_dir = workdir / "tinyexp"
    cache = workdir / "tinyexp_cache"
    run_dir.mkdir()
    cache.mkdir()
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(cache))
    env.pop("MLFLOW_TRACKING_URI", None)  # tinyexp's own default store under run_dir
    cmd = [sys.executable, "-m", "tinyexp", "-m", "experiment=paper", "hydra/launcher=joblib",
           f"hydra.launcher.n_jobs={jobs_parallel}", *overrides]
    log_path = workdir / "tinyexp.log"
    errors: list[str] = []
    print(f"(a) tinyexp: {' '.join(cmd[1:])}   (cwd {run_dir}, TINYEXP_CACHE_DIR={cache}"
          f"{', MLflow store created first (timed)' if init_store else ', no store created first'})", flush=True)
    with open(log_path, "w", encoding="utf-8") as log:
        start = time.perf_counter()
        if init_store:
            init = subprocess.run([sys.executable, "-c", INIT_STORE_CODE], cwd=run_dir, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, check=False)
            if init.returncode != 0:
                errors.append(f"creating the MLflow store failed (code {init.returncode}); see {log_path}")
        proc = subprocess.run(cmd, cwd=run_dir, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        errors.append(f"tinyexp exited with code {proc.returncode}; see {log_path}")
    return SideResult(seconds, 0, 0, str(log_path), errors)


def tinyexp_sizes(workdir: Path) -> dict[Job, dict[str, Any]]:
    """model_bytes, test_mse and status of every job run, read back from tinyexp's MLflow store."""
    db = workdir / "tinyexp" / "mlruns" / "mlflow.db"
    if not db.exists():
        return {}
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    found: dict[Job, dict[str, Any]] = {}
    try:
        client = MlflowClient(tracking_uri=f"sqlite:///{db}")
        runs = [run for experiment in client.search_experiments()
                for run in client.search_runs([experiment.experiment_id], max_results=1000)]
    except Exception as exc:  # a store left half-migrated by a failed run: report, do not crash
        print(f"    could not read tinyexp's MLflow store {db}: {type(exc).__name__}: "
              f"{str(exc).splitlines()[0] if str(exc) else ''}", flush=True)
        return found
    for run in runs:
        params, metrics = run.data.params, run.data.metrics
        if "model.neurons" not in params or "quant.mode" not in params:
            continue  # the sweep's parent run
        job = Job(int(params["model.neurons"]), params["quant.mode"])
        found[job] = {"model_bytes": metrics.get("model_bytes"), "test_mse": metrics.get("test_mse"),
                      "status": run.info.status}
    return found


def run_naive(jobs: list[Job], workdir: Path, timeout_seconds: float) -> tuple[SideResult, dict[Job, dict[str, Any]]]:
    """Time the sequential loop: one fresh Python process per job, nothing shared between them."""
    run_dir = workdir / "naive"
    run_dir.mkdir()
    log_path = workdir / "naive.log"
    results: dict[Job, dict[str, Any]] = {}
    errors: list[str] = []
    print(f"(b) naive: {len(jobs)} sequential processes of {NAIVE_JOB.name}   (cwd {run_dir})", flush=True)
    with open(log_path, "w", encoding="utf-8") as log:
        start = time.perf_counter()
        for i, job in enumerate(jobs):
            out = run_dir / f"job{i:02d}_n{job.neurons}_{job.quant}.json"
            cmd = [sys.executable, str(NAIVE_JOB), "--neurons", str(job.neurons), "--quant", job.quant,
                   "--out", str(out)]
            log.write(f"=== job {i}: {' '.join(cmd)}\n")
            log.flush()
            job_start = time.perf_counter()
            try:
                proc = subprocess.run(cmd, cwd=run_dir, stdout=log, stderr=subprocess.STDOUT,
                                      timeout=timeout_seconds, check=False)
                code: int | str = proc.returncode
            except subprocess.TimeoutExpired:
                code = f"timeout after {timeout_seconds:.0f} s"
            job_seconds = time.perf_counter() - job_start
            if code == 0 and out.exists():
                results[job] = json.loads(out.read_text())
            else:
                errors.append(f"naive job n={job.neurons} quant={job.quant} failed ({code}); see {log_path}")
            print(f"    naive job {i + 1}/{len(jobs)} n={job.neurons} {job.quant}: {job_seconds:.1f} s"
                  + ("" if job in results else "  FAILED"), flush=True)
        seconds = time.perf_counter() - start
    return SideResult(seconds, len(results), len(jobs), str(log_path), errors), results


def combine(jobs: list[Job], tinyexp_found: dict[Job, dict[str, Any]],
            naive_found: dict[Job, dict[str, Any]]) -> list[JobSizes]:
    rows = []
    for job in jobs:
        t, n = tinyexp_found.get(job, {}), naive_found.get(job, {})
        rows.append(JobSizes(
            job=job,
            tinyexp_model_bytes=int(t["model_bytes"]) if t.get("model_bytes") is not None else None,
            naive_model_bytes=n.get("model_bytes"),
            tinyexp_test_mse=t.get("test_mse"),
            naive_keras_test_mse=n.get("keras_test_mse"),
            tinyexp_status=t.get("status"),
            naive_job_seconds=n.get("job_seconds"),
        ))
    return rows


def _fmt(value: float | int | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_report(header: dict[str, Any], tinyexp: SideResult, naive: SideResult, rows: list[JobSizes],
                 summary: dict[str, Any]) -> None:
    m = header["machine"]
    print()
    print(f"bench_paper_grid  {header['date']}")
    if header["subset_note"]:
        print(f"*** SUBSET: {header['jobs_run']} of {header['jobs_in_grid']} jobs of the paper grid "
              f"({header['subset_note']}). The >= {SPEED_TARGET_RATIO:g}x target is for the full grid; "
              "this ratio is a quick check only. ***")
    print(f"machine: nproc={m['nproc']}  cpu={m['cpu_model']}  load(1min) start={m['load_average_1min']:.2f} "
          f"end={header['load_average_1min_end']:.2f}")
    print(f"versions: python {m['python']}  tensorflow {m['tensorflow']}  keras {m['keras']}")
    print(f"jobs: {header['jobs_run']} ({'subset' if header['subset_note'] else 'full grid'}); "
          f"tinyexp joblib n_jobs={header['tinyexp_parallel_jobs']}; naive sequential")
    print()
    print(f"{'n':>5} {'quant':<8} {'tinyexp bytes':>14} {'naive bytes':>12} {'ratio':>6} {'same 10^k':>9} "
          f"{'tinyexp test mse':>17} {'naive keras mse':>16} {'naive job s':>11}")
    for r in rows:
        ratio = (r.tinyexp_model_bytes / r.naive_model_bytes
                 if r.tinyexp_model_bytes and r.naive_model_bytes else None)
        same = {True: "yes", False: "NO", None: "-"}[r.same_order_of_magnitude]
        print(f"{r.job.neurons:>5} {r.job.quant:<8} {_fmt(r.tinyexp_model_bytes, 'd'):>14} "
              f"{_fmt(r.naive_model_bytes, 'd'):>12} {_fmt(ratio, '.2f'):>6} {same:>9} "
              f"{_fmt(r.tinyexp_test_mse, '.5f'):>17} {_fmt(r.naive_keras_test_mse, '.5f'):>16} "
              f"{_fmt(r.naive_job_seconds, '.1f'):>11}")
    print("(tinyexp bytes: strings TFLM never reads are stripped; tinyexp test mse is of the converted "
          "model, the naive one of the Keras model)")
    print()
    print(f"(a) tinyexp wall clock: {tinyexp.wall_minutes:8.2f} minutes  ({tinyexp.jobs_ok}/{tinyexp.jobs_total} "
          "jobs logged FINISHED; includes evaluate, virtual-board deploy and MLflow)")
    print(f"(b) naive   wall clock: {naive.wall_minutes:8.2f} minutes  ({naive.jobs_ok}/{naive.jobs_total} jobs ok)")
    ratio_text = f"{summary['speed_ratio']:.2f}x" if summary["speed_ratio"] is not None else "n/a"
    verdict = "PASS" if summary["speed_pass"] else "FAIL"
    if header["subset_note"]:
        verdict += " (subset only, not the target's full grid)"
    print(f"speed ratio (naive / tinyexp): {ratio_text}   target >= {SPEED_TARGET_RATIO:g}x: {verdict}")
    print(f"sizes agree in order of magnitude for every job: {'yes' if summary['sizes_agree'] else 'NO'}")
    for err in tinyexp.core.errors + naive.errors:
        print(f"problem: {err}")
    print("note: wall clock on a shared machine; other work on the same cores makes these numbers noisy.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subset", type=int, default=None, metavar="N",
                        help="run only the first N jobs of the grid on both sides (a quick check)")
    parser.add_argument("--jobs", type=int, default=2, help="tinyexp's hydra.launcher.n_jobs (default 2)")
    parser.add_argument("--naive-timeout-seconds", type=float, default=3600.0,
                        help="give up on one naive job after this long")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--no-init-store", action="store_true",
                        help="do not create tinyexp's MLflow store before the multirun (reproduces the "
                             "parallel schema-migration failure in a fresh directory)")
    parser.add_argument("--keep-workdir", action="store_true",
                        help="keep the temporary directory (logs, MLflow store, naive outputs)")
    args = parser.parse_args(argv)
    if args.subset is not None and args.subset < 1:
        parser.error("--subset must be a positive number of jobs")
    if args.jobs < 1:
        parser.error("--jobs must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    grid = paper_grid()
    jobs, overrides, note = select_jobs(grid, args.subset)
    if args.subset is not None and args.subset < len(grid) and note is None:
        note = f"first {len(jobs)} jobs"
    header: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "jobs_in_grid": len(grid),
        "jobs_run": len(jobs),
        "subset_note": note,
        "tinyexp_parallel_jobs": args.jobs,
        "tinyexp_store_created_first": not args.no_init_store,
    }
    if note:
        print(f"SUBSET run: {len(jobs)} of {len(grid)} jobs ({note})", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench_paper_grid_"))
    print(f"working directory: {workdir}", flush=True)

    tinyexp = run_tinyexp(args.jobs, overrides, workdir, init_store=not args.no_init_store)
    print(f"    tinyexp done: {tinyexp.wall_minutes:.2f} minutes", flush=True)
    tinyexp_found = tinyexp_sizes(workdir)
    tinyexp.jobs_total = len(jobs)
    tinyexp.jobs_ok = sum(1 for j in jobs if tinyexp_found.get(j, {}).get("status") == "FINISHED")
    if tinyexp.jobs_ok < len(jobs):
        tinyexp.core.errors.append(f"only {tinyexp.jobs_ok} of {len(jobs)} tinyexp jobs FINISHED; see {tinyexp.log_path}")

    naive, naive_found = run_naive(jobs, workdir, args.naive_timeout_seconds)
    header["load_average_1min_end"] = load_average_1min()

    rows = combine(jobs, tinyexp_found, naive_found)
    complete = tinyexp.jobs_ok == len(jobs) and naive.jobs_ok == len(jobs)
    ratio = naive.wall_seconds / tinyexp.wall_seconds if complete else None
    summary = {
        "tinyexp_minutes": tinyexp.wall_minutes,
        "naive_minutes": naive.wall_minutes,
        "speed_ratio": ratio,
        "speed_target_ratio": SPEED_TARGET_RATIO,
        # A ratio from a run where a side failed jobs would flatter or punish it: no PASS then.
        "speed_pass": ratio is not None and ratio >= SPEED_TARGET_RATIO,
        "sizes_agree": all(r.same_order_of_magnitude for r in rows),
        "complete": complete,
    }
    print_report(header, tinyexp, naive, rows, summary)

    if args.json:
        payload = {
            "header": header,
            "tinyexp": asdict(tinyexp) | {"wall_minutes": tinyexp.wall_minutes},
            "naive": asdict(naive) | {"wall_minutes": naive.wall_minutes},
            "jobs": [asdict(r) | {"same_order_of_magnitude": r.same_order_of_magnitude} for r in rows],
            "summary": summary,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"JSON written to {args.json}")
    if args.keep_workdir:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
