"""A diverged training run ends FAILED with a one-line reason and no latency (issue 11,
defect 5: `train.learning_rate=1e30` used to end FINISHED, deployable, with mse nan). Such a
rate is now refused by validation (finite, at most 1e4); plain SGD at 1000, within the range,
still diverges in the first epoch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import store_runs


def test_diverged_training_fails_with_the_epoch_and_value(tmp_path: Path) -> None:
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    args = ["train.learning_rate=1000", "train.optimizer=sgd", "train.epochs=4"]
    out = subprocess.run([sys.executable, "-m", "tinyexp", *args],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("tinyexp: error: training diverged: the loss became inf in epoch 1 of 4"), last
    (run,) = store_runs(tmp_path)
    assert run.info.status == "FAILED" and "diverged" in run.data.tags["error"]
    assert not [m for m in run.data.metrics if "latency" in m or "mse" in m]
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").glob("*/meta.json"))
