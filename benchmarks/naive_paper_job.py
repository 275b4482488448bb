"""One job of the study's grid done the naive way: the baseline for bench_paper_grid.py.

Why this exists: to measure what tinyexp saves, the baseline must be what a user does without
it, i.e. what the 2020 study's notebook did: build the 1-n-n-1 network, train it with plain
Keras `model.fit` (600 epochs, batch 16, rmsprop, mse, validation data every epoch), convert
it with `tf.lite.TFLiteConverter` (float32, or Optimize.DEFAULT for dynamic-range) and note
the size. No cache, no XLA, no deployment. bench_paper_grid.py starts a fresh Python process
for every job, so each one also pays TensorFlow's import, as a script per job would.

The data are tinyexp's sine split (same seed), only so both sides train on identical data;
the model, training and conversion are plain Keras/TF, not tinyexp's code.

    .venv/bin/python benchmarks/naive_paper_job.py --neurons 16 --quant none [--epochs 600] [--out FILE]

Prints one JSON line: neurons, quant, model_bytes, keras_test_mse, train_seconds, job_seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

JOB_START_SECONDS = time.perf_counter()  # before TF's import: the job's cost includes it

import numpy as np  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="One naive job of the study's grid (train with fit, convert).")
    parser.add_argument("--neurons", type=int, required=True, help="width n of both hidden layers")
    parser.add_argument("--quant", choices=("none", "dynamic"), required=True,
                        help="none = float32; dynamic = Optimize.DEFAULT (weight-only int8)")
    parser.add_argument("--epochs", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0, help="Keras seed (tinyexp's default train.seed)")
    parser.add_argument("--out", default=None, help="also write the JSON line to this file")
    return parser.parse_args(argv)


def sine_data() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Train, validation and test splits: the study's sine task as tinyexp generates it by default."""
    from omegaconf import OmegaConf

    from tinyexp.core.config import DatasetConfig
    from tinyexp.model.data import make_dataset

    data = make_dataset(OmegaConf.structured(DatasetConfig))
    return ((data.train.x, data.train.y), (data.validation.x, data.validation.y), (data.test.x, data.test.y))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import keras
    import tensorflow as tf

    (x, y), (xv, yv), (xt, yt) = sine_data()
    keras.utils.set_random_seed(args.seed)
    model = keras.Sequential([
        keras.Input((1,)),
        keras.layers.Dense(args.neurons, activation="relu"),
        keras.layers.Dense(args.neurons, activation="relu"),
        keras.layers.Dense(1),
    ])
    train_start = time.perf_counter()
    model.compile(optimizer="rmsprop", loss="mse")
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, validation_data=(xv, yv), verbose=0)
    train_seconds = time.perf_counter() - train_start
    keras_test_mse = float(np.mean((model.predict(xt, verbose=0) - yt) ** 2))

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if args.quant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    tflite = converter.convert()

    result = {
        "neurons": args.neurons,
        "quant": args.quant,
        "model_bytes": len(tflite),
        "keras_test_mse": keras_test_mse,
        "train_seconds": train_seconds,
        "job_seconds": time.perf_counter() - JOB_START_SECONDS,
    }
    line = json.dumps(result)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(line + "\n")
    # The converter and Keras print to stdout too; the caller takes the last line.
    sys.stdout.flush()
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
