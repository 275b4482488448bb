"""A warm job (its model trained and converted before) gives the cold job's figures without
importing TensorFlow: what makes it fast (benchmarks/bench_warm_job.py) must not change a number."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# Runs a job as `python -m tinyexp` does, then says whether TensorFlow was imported.
PROBE = ("import atexit, sys\n"
         "atexit.register(lambda: print('tensorflow imported:', 'tensorflow' in sys.modules))\n"
         "from tinyexp.cli.main import console_main\n"
         "console_main(sys.argv[1:])\n")


def _job(home: Path, *overrides: str) -> tuple[str, bool]:
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(home / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", PROBE, f"tracking.uri=sqlite:///{home / 'mlflow.db'}",
                           f"hydra.run.dir={home / 'outputs'}", *overrides],
                          cwd=home, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = next(line for line in done.stdout.splitlines() if line.startswith("["))
    imported = re.search(r"tensorflow imported: (True|False)", done.stdout)
    assert imported is not None, done.stdout
    return re.sub(r"^\[\w+\] ", "", summary), imported.group(1) == "True"


def test_a_warm_job_gives_the_cold_jobs_figures_without_importing_tensorflow(tmp_path: Path) -> None:
    overrides = ("quant=int8", "train.epochs=5", "model.neurons=8")
    cold, cold_imported = _job(tmp_path, *overrides)
    warm, warm_imported = _job(tmp_path, *overrides)
    assert cold_imported and not warm_imported
    assert warm == cold  # sizes, MACs, test mse, the estimate and its interval
    converted = list((tmp_path / "cache").glob("*/converted/*.tflite"))
    assert len(converted) == 2  # the int8 model and its float32 reference
