"""`tinyexp search` with device=serial on a board that MEASURES (tests/helpers/measuring_board.py:
the firmware's protocol on a real pty, the agent's real session, timings from the stand-in
board's cost model, labelled measured as the real firmware labels them). The front's
latencies are the measured ones, labelled so, and a trial whose estimate was safely under the
limit but whose measurement breaks it is infeasible, off the front."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, store_client
from tests.helpers.measuring_board import standin_latency_us
from tinyexp.core.names import Artifact, Metric, Tag

pytestmark = pytest.mark.slow

# Float32 1-n-1 nets on the nano33ble, estimated before training at 0.015-0.047 ms (n=4) and
# 0.028-0.055 ms (n=8): both wholly under the 0.0686 ms limit, so neither is pruned. The
# stand-in board measures them at about 0.0682 ms and 0.0691 ms: n=8 breaks the limit.
# Seed 0 of the random sampler asks n=8, then n=4.
LIMIT_MS = 0.0686
MEASURED_SPACE = f"""\
overrides: [dataset=sine, model=dense, train.epochs=3, model.hidden_layers=1, quant=float32]
objectives: [mse, latency_ms]
trials: 2
seed: 0
sampler: random
limits: {{latency_ms: {LIMIT_MS}}}
params:
  model.neurons: {{choices: [4, 8]}}
"""
BOARD = ["device=serial", "device.backend=tests.helpers.measuring_board.StandinMeasuringDevice",
         "device.warmup=1", "device.invokes=10"]


def _front_table(client, parent_id: str, home: Path) -> dict[str, list[str]]:  # noqa: ANN001
    """The logged front (mlflow.log_table's JSON) as column -> values."""
    data = json.loads(Path(client.download_artifacts(parent_id, Artifact.SEARCH_FRONT_TABLE, str(home))).read_text())
    return {c: [row[i] for row in data["data"]] for i, c in enumerate(data["columns"])}


def test_a_search_on_a_measuring_board_puts_measured_latencies_on_its_front(tmp_path: Path) -> None:
    import optuna

    (tmp_path / "measured.yaml").write_text(MEASURED_SPACE)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TINYEXP_CACHE_DIR=str(tmp_path / "cache"), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-m", "tinyexp", "search", "search=measured.yaml", *BOARD], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "latency (measured) [ms]" in done.stdout and "pruned before training" not in done.stdout

    client = store_client(tmp_path)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert runs and not [r for r in runs if r.info.status == "RUNNING"]
    parent = next(r for r in runs if r.data.tags.get(Tag.ROLE) == "sweep")
    trained = {r.data.params["model.neurons"]: r for r in runs if r is not parent}
    assert set(trained) == {"4", "8"}
    for run in trained.values():
        # The board measured it: the run's latency is the stand-in's figure for the very model
        # it was given (BENCH reports microseconds to 3 decimals), not tinyexp's estimate.
        assert run.data.tags[Tag.LATENCY_SOURCE] == "measured"
        assert Metric.LATENCY_ESTIMATE_US not in run.data.metrics
        model = Path(client.download_artifacts(run.info.run_id, Artifact.tflite("float32"), str(tmp_path))).read_bytes()
        assert run.data.metrics[Metric.LATENCY_US] == pytest.approx(standin_latency_us(model), abs=1e-3)

    search_id = re.search(r"search (search-measured-\w+):", done.stdout).group(1)
    study = optuna.load_study(study_name=search_id, storage=f"sqlite:///{tmp_path / 'mlruns' / 'optuna.db'}")
    trials = {t.params["model.neurons"]: t for t in study.trials}
    for neurons, trial in trials.items():
        assert trial.values[1] == pytest.approx(trained[neurons].data.metrics[Metric.LATENCY_US] / 1e3, rel=1e-12)
        assert trial.user_attrs["latency_source"] == "measured"
        assert trial.user_attrs["latency_high_ms"] < LIMIT_MS  # the estimate kept it without a flag
    # The measurement overrules the estimate: n=8 breaks the limit, a constraint violation.
    assert trials["8"].values[1] > LIMIT_MS and trials["8"].constraints["latency_ms_over"] > 0
    assert trials["4"].values[1] <= LIMIT_MS and trials["4"].constraints["latency_ms_over"] <= 0
    assert re.search(r"^trial 0 .*latency measured; measured latency over the 0.0686 ms limit: infeasible",
                     done.stdout, re.MULTILINE)

    front = _front_table(client, parent.info.run_id, tmp_path)
    assert front["config"] == ["model.neurons=4"]  # the infeasible trial is not on the front
    assert front["latency (measured) [ms]"] == [f"{trials['4'].values[1]:.4g}"]
    assert front["latency source"] == ["measured"]
    # The interval shown is the board's own spread, never the estimate's interval.
    spread = trained["4"].data.metrics
    assert front["latency interval [ms]"] == [
        f"{spread[Metric.LATENCY_MIN_US] / 1e3:.3g}-{spread[Metric.LATENCY_MAX_US] / 1e3:.3g} (measured min-max)"]
    assert trained["4"].data.tags[Tag.SEARCH_FRONT] == "true" and trained["8"].data.tags[Tag.SEARCH_FRONT] == "false"
