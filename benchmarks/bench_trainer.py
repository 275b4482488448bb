"""Benchmark: tinyexp's XLA-compiled trainer against the study's plain `model.fit`.

Why this exists: tinyexp replaces Keras `fit` with `tinyexp.model.train.fit_compiled` because, for
the study's tiny 1-16-16-1 network, `fit` spends nearly all its time in per-step Python
overhead. Our issue sets two targets for that replacement, and this script checks both on
the machine it runs on, against a baseline measured in the same process with the same data:

- speed: fit_compiled at least 5x faster than `model.fit` (seconds include XLA compilation,
  because a user pays it on every fresh training run);
- accuracy: test mse within 10% of the plain fit's test mse.

Both sides run the same Keras model, loss and optimiser; fed the same batch order they end
with the same weights to float rounding (checked: max |difference| about 6e-8 after 3
epochs). They draw their per-epoch shuffles from different generators, though, so one seed
compares two random draws; each repeat therefore uses the next seed (seed, seed+1, ...),
and medians over repeats are what the targets are judged on.

It is a benchmark, not a test: it is run by hand, takes minutes, and prints a ratio.

    .venv/bin/python benchmarks/bench_trainer.py [--epochs 600] [--repeats 1] [--json [PATH]]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's start-up chatter out of the table

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import load_average_1min, machine_info  # noqa: E402

SPEED_TARGET_RATIO = 5.0  # baseline seconds / tinyexp seconds must be at least this
MSE_TOLERANCE_FRACTION = 0.10  # |tinyexp mse / baseline mse - 1| must be at most this


@dataclass
class TrainerResult:
    """One timed training run and the test error of the model it produced."""

    trainer: str
    train_seconds: float
    test_mse: float


def test_mse(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error on the test split via model.predict, the way a user would check it."""
    pred = model.predict(x, verbose=0, batch_size=1024)
    return float(np.mean((pred - y) ** 2))


def fresh_model(model_cfg: Any, seed: int) -> Any:
    """The study's network, built by tinyexp's own builder after seeding Keras.

    Both trainers start from this, so their initial weights are identical and the only
    difference is the training loop.
    """
    import keras

    from tinyexp.model.sources import dense_model as build_model

    keras.utils.set_random_seed(seed)
    return build_model(model_cfg)


def run_tinyexp(model_cfg: Any, train_cfg: Any, data: Any) -> TrainerResult:
    """Time fit_compiled from a fresh model; the seconds include tracing and XLA compilation."""
    from tinyexp.model.train import fit_compiled

    model = fresh_model(model_cfg, int(train_cfg.seed))
    start = time.perf_counter()
    fit_compiled(model, data, train_cfg)
    seconds = time.perf_counter() - start
    return TrainerResult("tinyexp fit_compiled (incl. XLA compile)", seconds,
                         test_mse(model, data.test.x, data.test.y))


def run_plain_fit(model_cfg: Any, train_cfg: Any, data: Any) -> TrainerResult:
    """Time the study notebook's way: compile, then fit with validation data every epoch."""
    model = fresh_model(model_cfg, int(train_cfg.seed))
    start = time.perf_counter()
    model.compile(optimizer=str(train_cfg.optimizer), loss=str(train_cfg.loss))
    model.fit(data.train.x, data.train.y, epochs=int(train_cfg.epochs), batch_size=int(train_cfg.batch_size),
              validation_data=(data.validation.x, data.validation.y), verbose=0)
    seconds = time.perf_counter() - start
    return TrainerResult("plain Keras model.fit (baseline)", seconds, test_mse(model, data.test.x, data.test.y))


def warm_up_tensorflow() -> None:
    """Pay TF's one-time runtime start-up outside the timings, so neither side is charged for it."""
    import tensorflow as tf

    float(tf.reduce_sum(tf.matmul(tf.ones((4, 4)), tf.ones((4, 4)))))


def summarise(tinyexp_runs: list[TrainerResult], plain_runs: list[TrainerResult]) -> dict[str, Any]:
    """Medians over repeats, the two ratios, and PASS/FAIL against the issue's targets."""
    tinyexp_seconds = statistics.median(r.train_seconds for r in tinyexp_runs)
    plain_seconds = statistics.median(r.train_seconds for r in plain_runs)
    tinyexp_mse = statistics.median(r.test_mse for r in tinyexp_runs)
    plain_mse = statistics.median(r.test_mse for r in plain_runs)
    speed_ratio = plain_seconds / tinyexp_seconds
    mse_ratio = tinyexp_mse / plain_mse
    return {
        "tinyexp_seconds": tinyexp_seconds,
        "plain_fit_seconds": plain_seconds,
        "speed_ratio": speed_ratio,
        "tinyexp_test_mse": tinyexp_mse,
        "plain_fit_test_mse": plain_mse,
        "mse_ratio": mse_ratio,
        "speed_target_ratio": SPEED_TARGET_RATIO,
        "speed_pass": speed_ratio >= SPEED_TARGET_RATIO,
        "mse_tolerance_fraction": MSE_TOLERANCE_FRACTION,
        # The issue says "within 10%": read literally, both ways. A lower mse outside the band
        # is still a FAIL of that wording, so the one-sided reading is reported beside it.
        "mse_pass": abs(mse_ratio - 1.0) <= MSE_TOLERANCE_FRACTION,
        "mse_not_worse_pass": mse_ratio <= 1.0 + MSE_TOLERANCE_FRACTION,
    }


def print_report(config: dict[str, Any], machine: dict[str, Any], runs: list[TrainerResult],
                 summary: dict[str, Any]) -> None:
    """A human-readable table; the JSON option carries the same numbers."""
    print(f"bench_trainer  {config['date']}")
    print(f"machine: nproc={machine['nproc']}  cpu={machine['cpu_model']}  "
          f"load(1min) start={machine['load_average_1min']:.2f} end={config['load_average_1min_end']:.2f}")
    print(f"versions: python {machine['python']}  tensorflow {machine['tensorflow']}  keras {machine['keras']}")
    print(f"network {config['network']}  sine data train/val/test={config['split_sizes']}  "
          f"epochs={config['epochs']} batch={config['batch_size']} {config['optimizer']} {config['loss']}  "
          f"seed={config['seed']}  repeats={config['repeats']}")
    print()
    if len(runs) > 2:
        print("individual runs:")
        for r in runs:
            print(f"  {r.trainer:<44} {r.train_seconds:9.2f} s  test mse {r.test_mse:.5f}")
        print("medians over repeats below")
        print()
    s = summary
    print(f"{'trainer':<44} {'seconds':>9} {'test mse':>10}")
    print(f"{'plain Keras model.fit (baseline)':<44} {s['plain_fit_seconds']:9.2f} {s['plain_fit_test_mse']:10.5f}")
    print(f"{'tinyexp fit_compiled (incl. XLA compile)':<44} {s['tinyexp_seconds']:9.2f} {s['tinyexp_test_mse']:10.5f}")
    print()
    print(f"speed ratio (baseline s / tinyexp s): {s['speed_ratio']:.2f}x   "
          f"target >= {SPEED_TARGET_RATIO:g}x: {'PASS' if s['speed_pass'] else 'FAIL'}")
    print(f"mse ratio (tinyexp / baseline):       {s['mse_ratio']:.3f}    "
          f"target within {MSE_TOLERANCE_FRACTION:.0%}: {'PASS' if s['mse_pass'] else 'FAIL'}")
    print(f"  (one-sided reading, tinyexp at most {MSE_TOLERANCE_FRACTION:.0%} worse: "
          f"{'PASS' if s['mse_not_worse_pass'] else 'FAIL'}; tinyexp mse is "
          f"{abs(s['mse_ratio'] - 1):.0%} {'lower' if s['mse_ratio'] < 1 else 'higher'}. One seed: the two "
          "trainers shuffle differently, so this ratio varies with --seed)")
    print("note: tinyexp seconds include tf.function tracing and XLA compilation; the baseline's include "
          "model.compile and fit's own tracing. Timings are wall clock on a possibly shared machine.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=600, help="epochs for both trainers (study: 600)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of each trainer, repeat k with seed+k; medians are reported")
    parser.add_argument("--seed", type=int, default=None,
                        help="Keras seed for both trainers (default: tinyexp's train.seed, 0)")
    parser.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH",
                        help="also emit the results as JSON: to PATH, or to stdout when no PATH is given")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.repeats < 1:
        parser.error("--epochs and --repeats must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tinyexp.core.config import default_config, hidden_widths
    from tinyexp.model.data import make_dataset

    cfg = default_config()
    cfg.train.epochs = args.epochs
    if args.seed is not None:
        cfg.train.seed = args.seed
    data = make_dataset(cfg.dataset)
    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    machine = machine_info()
    warm_up_tensorflow()

    runs: list[TrainerResult] = []
    tinyexp_runs: list[TrainerResult] = []
    plain_runs: list[TrainerResult] = []
    base_seed = int(cfg.train.seed)
    for repeat in range(args.repeats):
        cfg.train.seed = base_seed + repeat
        # Alternate which side goes first, so any warm-up effect is shared between them.
        order = (run_tinyexp, run_plain_fit) if repeat % 2 == 0 else (run_plain_fit, run_tinyexp)
        for runner in order:
            result = runner(cfg.model, cfg.train, data)
            runs.append(result)
            (tinyexp_runs if runner is run_tinyexp else plain_runs).append(result)
            print(f"[{repeat + 1}/{args.repeats}] {result.trainer}: {result.train_seconds:.2f} s, "
                  f"test mse {result.test_mse:.5f}", file=sys.stderr, flush=True)

    widths = hidden_widths(cfg.model)
    config = {
        "date": started,
        "network": "-".join(str(w) for w in [cfg.model.inputs, *widths, cfg.model.outputs]),
        "split_sizes": f"{len(data.train.x)}/{len(data.validation.x)}/{len(data.test.x)}",
        "epochs": args.epochs,
        "batch_size": int(cfg.train.batch_size),
        "optimizer": str(cfg.train.optimizer),
        "loss": str(cfg.train.loss),
        "seed": base_seed if args.repeats == 1 else f"{base_seed}..{base_seed + args.repeats - 1}",
        "repeats": args.repeats,
        "load_average_1min_end": load_average_1min(),
    }
    summary = summarise(tinyexp_runs, plain_runs)
    print_report(config, machine, runs, summary)

    if args.json is not None:
        payload = {"config": config, "machine": machine, "runs": [asdict(r) for r in runs], "summary": summary}
        text = json.dumps(payload, indent=2)
        if args.json == "-":
            print(text)
        else:
            with open(args.json, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
            print(f"JSON written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
