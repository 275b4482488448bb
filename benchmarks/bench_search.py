"""`tinyexp search` against a hand grid at the same training budget, in one run (issue 19).

    .venv/bin/python benchmarks/bench_search.py [--trials 24] [--epochs 10] [--latency-ms 5] [--seed 0]
                                               [--json PATH] [--keep-workdir]

Both sides search the cnn_digits space (conf/search/cnn_digits.yaml, its fixed overrides:
dataset=digits, model=layers, ...) on nano33ble (the default board) with `--epochs` epochs per
training, each in a fresh temporary directory (its own MLflow store and training cache):

- (a) the baseline, a hand grid: one `python -m tinyexp -m ...` Hydra multirun whose product
  has exactly `--trials` configs, spread evenly over the space's axes (quant, the second
  convolution's kind, both convolutions' filters at the middles of equal log-scale slices of
  their ranges; the kernels at their first choice, the learning rate at the geometric middle
  of its range).
  Every config trains: a grid knows no limits.
- (b) `tinyexp search search=cnn_digits` with the latency limit, run (and resumed) until its
  study holds `--trials` trained trials: its pruned candidates do not count against the
  training budget, as they never train.

Each side's front is the non-dominated set of its trained runs that meet every limit (the
latency limit; nano33ble's flash and RAM, the runs' own fit tags), read from its MLflow store.
Hypervolume is Optuna's (`optuna._hypervolume.compute_hypervolume`) over (1 - accuracy,
latency / limit, model bytes / board flash), so the reference point is (accuracy 0, the latency
limit, the board's flash) and the box it spans has volume 1. Latencies are the virtual board's
estimates, not measurements. Exit 1 when the search's hypervolume is below the grid's or a
trial on the search's Optuna front breaks a limit.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import load_average_1min, machine_info  # noqa: E402

PRESET = "cnn_digits"
GRID_AXES = ("quant", "model.layers.2.type", "model.layers.0.filters", "model.layers.2.filters")
MAX_RESUMES = 10  # search commands after the first, to make up trials that were pruned or failed


@dataclass(frozen=True)
class TrainedRun:
    """A trained config's objectives, read from its MLflow run."""

    run_id: str
    accuracy: float
    latency_ms: float
    model_bytes: float
    fits: bool  # flash and RAM, the run's own fit tags


@dataclass
class Side:
    name: str
    wall_s: float
    trained: int
    feasible: int
    front: int
    hypervolume: float
    pruned: int = 0
    failed: int = 0
    commands: int = 1


def _spec() -> Any:
    from tinyexp.cli.search_cmd import load_spec

    return load_spec([f"search={PRESET}"])[0]


def _board_flash() -> int:
    from omegaconf import OmegaConf

    from tinyexp.core.resources import conf_dir

    return int(OmegaConf.load(conf_dir() / "board" / "nano33ble.yaml").flash_bytes)


def _sizes(n: int, limits: Sequence[int]) -> tuple[int, ...]:
    """Values per grid axis whose product is n: the most axes varied, then the most even split,
    then the earlier axes of GRID_AXES varied first."""
    fits = [k for k in itertools.product(*(range(1, m + 1) for m in limits)) if math.prod(k) == n]
    if not fits:
        raise SystemExit(f"bench_search: error: --trials {n} is no product of a grid over {GRID_AXES} "
                         f"(at most {limits} values each); try 4, 8, 12, 16, 24 or 32")
    return max(fits, key=lambda k: (sum(v > 1 for v in k), min(k) - max(k), k))


def _spaced(param: Any, k: int) -> list[str]:
    """k values of a searched key: its first k choices, or the geometric middles of k equal
    log-scale slices of its range (k=2 in 4..64: 8, 32), as a hand grid keeps off the extremes."""
    if param.kind == "choices":
        return list(param.choices[:k])
    ratio = param.high / param.low
    return [str(round(param.low * ratio ** ((i + 0.5) / k))) for i in range(k)]


def grid_overrides(spec: Any, n: int) -> list[str]:
    """The hand grid's sweep: n configs of the preset's space, each axis spread over its range."""
    params = {p.key: p for p in spec.params}
    limits = [len(params[a].choices) if params[a].kind == "choices" else 5 for a in GRID_AXES]
    sweeps = [f"{a}={','.join(_spaced(params[a], k))}" for a, k in zip(GRID_AXES, _sizes(n, limits))]
    rate = params["train.learning_rate"]
    fixed = [f"{p.key}={p.choices[0]}" for p in spec.params if p.kind == "choices" and p.key not in GRID_AXES
             and not p.when]
    return [*sweeps, *fixed, f"train.learning_rate={math.sqrt(rate.low * rate.high):.4g}"]


def _run(home: Path, args: list[str], log: Path) -> int:
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(home / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    with log.open("a") as sink:
        return subprocess.run([sys.executable, "-m", "tinyexp", *args], cwd=home, env=env, stdout=sink,
                              stderr=subprocess.STDOUT).returncode


def trained_runs(home: Path) -> list[TrainedRun]:
    """Every FINISHED trained run of the store under `home` (not sweep parents, not pruned)."""
    from mlflow.tracking import MlflowClient

    from tinyexp.core.names import Metric, Tag

    client = MlflowClient(f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tinyexp")
    if experiment is None:
        return []
    runs = []
    for run in client.search_runs([experiment.experiment_id], max_results=10000):
        m, tags = run.data.metrics, run.data.tags
        if run.info.status != "FINISHED" or Tag.SEARCH_PRUNED in tags or Metric.TEST_ACCURACY not in m:
            continue
        runs.append(TrainedRun(run.info.run_id, m[Metric.TEST_ACCURACY], m.get(Metric.LATENCY_US, math.inf) / 1e3,
                               m[Metric.MODEL_BYTES], tags.get(Tag.FITS_FLASH) == "true"
                               and tags.get(Tag.FITS_RAM) == "true"))
    return runs


def meets_limits(run: TrainedRun, latency_ms: float) -> bool:
    return run.fits and run.latency_ms <= latency_ms


def front_and_hypervolume(runs: Sequence[TrainedRun], latency_ms: float, flash: int) -> tuple[int, float]:
    """The feasible runs' non-dominated count and hypervolume, normalised to the reference box."""
    import numpy as np
    from optuna._hypervolume import compute_hypervolume

    points = np.array([(1 - r.accuracy, r.latency_ms / latency_ms, r.model_bytes / flash) for r in runs
                       if meets_limits(r, latency_ms)]).reshape(-1, 3)
    points = points[(points < 1).all(axis=1)]  # on the reference point's boundary: no volume
    if not len(points):
        return 0, 0.0
    dominated = [any((q <= p).all() and (q < p).any() for q in points) for p in points]
    front = points[~np.array(dominated)]
    return len(front), float(compute_hypervolume(front, np.ones(3)))


def run_grid(home: Path, spec: Any, args: argparse.Namespace) -> Side:
    from tinyexp.cli.search_cmd import job_overrides

    sweep = [*job_overrides(spec.overrides, [f"train.epochs={args.epochs}"]), *grid_overrides(spec, args.trials)]
    print("(a) grid: python -m tinyexp -m " + " ".join(sweep), flush=True)
    started = time.perf_counter()
    code = _run(home, ["-m", *sweep], home / "grid.log")
    wall = time.perf_counter() - started
    if code:
        raise SystemExit(f"bench_search: error: the grid failed (exit {code}); see {home / 'grid.log'}")
    runs = trained_runs(home)
    front, volume = front_and_hypervolume(runs, args.latency_ms, args.flash)
    return Side("grid", wall, len(runs), sum(meets_limits(r, args.latency_ms) for r in runs), front, volume)


def _study(home: Path) -> Any:
    import optuna

    storage = f"sqlite:///{home / 'mlruns' / 'optuna.db'}"
    (name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def run_search(home: Path, args: argparse.Namespace) -> tuple[Side, list[str]]:
    """The search, resumed with a larger `search.trials` until `--trials` trials trained.
    Returns the side and the run ids of the trials on Optuna's front that break a limit."""
    from optuna.trial import TrialState

    trials, commands, started = args.trials, 0, time.perf_counter()
    while True:
        command = ["search", f"search={PRESET}", f"search.trials={trials}", f"search.seed={args.seed}",
                   f"search.limits.latency_ms={args.latency_ms:g}", f"train.epochs={args.epochs}"]
        if not commands:
            print("(b) search: python -m tinyexp " + " ".join(command), flush=True)
        code = _run(home, command, home / "search.log")
        commands += 1
        if code:
            raise SystemExit(f"bench_search: error: the search failed (exit {code}); see {home / 'search.log'}")
        study = _study(home)
        states = [t.state for t in study.get_trials(deepcopy=False)]
        short = args.trials - states.count(TrialState.COMPLETE)
        if short <= 0 or commands > MAX_RESUMES:
            break
        trials += short
    wall = time.perf_counter() - started
    runs = trained_runs(home)
    by_id = {r.run_id: r for r in runs}
    breaking = [t.user_attrs["run_id"] for t in study.best_trials
                if not meets_limits(by_id[t.user_attrs["run_id"]], args.latency_ms)]
    front, volume = front_and_hypervolume(runs, args.latency_ms, args.flash)
    side = Side("search", wall, states.count(TrialState.COMPLETE), sum(meets_limits(r, args.latency_ms) for r in runs),
                front, volume, states.count(TrialState.PRUNED), states.count(TrialState.FAIL), commands)
    return side, breaking


def report(grid: Side, search: Side, breaking: list[str], args: argparse.Namespace) -> bool:
    """Print the comparison; True when the search meets the issue's targets."""
    print(f"\nreference point: accuracy 0, latency {args.latency_ms:g} ms (the limit), model {args.flash} B "
          "(nano33ble's flash); hypervolume as a share of that box; latencies are estimates")
    for s in (grid, search):
        print(f"  {s.name:6s}: {s.trained} trained ({s.feasible} meet every limit, {s.front} on the front), "
              f"hypervolume {s.hypervolume:.4f}, {s.wall_s / 60:.2f} min, "
              f"{s.trained / (s.wall_s / 60):.2f} trained trials/min")
    candidates = search.trained + search.pruned + search.failed
    print(f"  search: {search.pruned} of {candidates} candidates pruned before training "
          f"({search.pruned / candidates:.0%}), {search.failed} failed, {candidates / (search.wall_s / 60):.2f} "
          f"candidates/min, {search.commands} command(s)")
    if grid.hypervolume:
        ratio = search.hypervolume / grid.hypervolume
    else:  # the grid found nothing within the limits
        ratio = math.inf if search.hypervolume else math.nan
    enough = search.trained >= args.trials
    print(f"hypervolume search/grid: {ratio:.3f}. Target >= 1: {'PASS' if ratio >= 1 else 'FAIL'}"
          + ("" if enough else f" (the search trained only {search.trained} of {args.trials})"))
    verdict = "yes" if not breaking else "NO: " + ", ".join(breaking)
    print(f"every trial on the search's front meets every limit: {verdict}")
    return ratio >= 1 and not breaking and enough


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    """A fresh temporary directory for both sides' stores, caches and logs; removed unless kept."""
    work = Path(tempfile.mkdtemp(prefix="bench_search_"))
    try:
        yield work
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=24, help="trained trials a side (the training budget)")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per training (the preset says 40)")
    parser.add_argument("--latency-ms", type=float, default=5.0, help="the latency limit (ms, estimated)")
    parser.add_argument("--seed", type=int, default=0, help="the search's sampler seed")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temporary stores and logs")
    args = parser.parse_args()
    if args.trials < 1 or args.epochs < 1 or args.latency_ms <= 0:
        parser.error("--trials and --epochs must be >= 1 and --latency-ms > 0")
    spec, args.flash = _spec(), _board_flash()
    grid_overrides(spec, args.trials)  # a --trials no grid can have: one line before any work
    info = machine_info()
    print(f"machine: {info}")
    with _workdir(args.keep_workdir) as work:
        (work / "grid").mkdir()
        (work / "search").mkdir()
        grid = run_grid(work / "grid", spec, args)
        search, breaking = run_search(work / "search", args)
        ok = report(grid, search, breaking, args)
        print(f"load average (1 min): {info['load_average_1min']:.2f} at start, {load_average_1min():.2f} at end")
        if args.json:
            args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "machine": info,
                                             "grid": asdict(grid), "search": asdict(search),
                                             "front_breaking_limits": breaking}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
