"""A sweep's runs as a real `mlflow server` serves them over its REST API.

A two-job sweep runs into a fresh directory's default store (mlruns/mlflow.db, artifacts in
mlruns/artifacts); then the venv's `mlflow server` is started on that store, bound to
127.0.0.1 on a free port, and the sweep is read back through /api/2.0/mlflow/...: the parent
run, both children, their status, metrics, tags and nesting."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from tests.helpers.mlflow_server import (EXPERIMENT, REQUIRED_METRICS, SWEEP_ID, SWEEP_NEURONS, Server, healthy,
                                         api, metrics_of, mlflow_server, params_of, sweep_runs, tags_of)


@pytest.mark.slow
def test_server_serves_sweep_parent_and_children(served_sweep: tuple[Server, Path]) -> None:
    server, home = served_sweep
    runs = sweep_runs(server.url)

    experiment = api(server.url, "experiments/get-by-name", query={"experiment_name": EXPERIMENT})["experiment"]
    assert experiment["lifecycle_stage"] == "active"
    assert experiment["artifact_location"] == (home / "mlruns" / "artifacts").resolve().as_uri()

    parent = runs.parent
    parent_id = parent["info"]["run_id"]
    assert parent["info"]["status"] == "FINISHED"
    assert tags_of(parent)["sweep_id"] == SWEEP_ID
    assert "mlflow.parentRunId" not in tags_of(parent)

    assert len(runs.children) == len(SWEEP_NEURONS), [c["info"]["run_name"] for c in runs.children]
    assert [params_of(c)["model.neurons"] for c in runs.children] == [str(n) for n in SWEEP_NEURONS]
    for child in runs.children:
        child_id = child["info"]["run_id"]
        # runs/get returns the same run, complete, by id.
        got = api(server.url, "runs/get", query={"run_id": child_id})["run"]
        assert got["info"]["run_id"] == child_id
        assert got["info"]["experiment_id"] == runs.experiment_id
        assert got["info"]["status"] == "FINISHED", got["info"]
        assert got["info"]["end_time"] >= got["info"]["start_time"]
        tags, metrics = tags_of(got), metrics_of(got)
        assert tags["sweep_id"] == SWEEP_ID
        assert tags["mlflow.parentRunId"] == parent_id
        assert tags["latency_source"] == "estimate"
        assert "error" not in tags, tags.get("error")
        for name in REQUIRED_METRICS:
            assert name in metrics, f"{name} missing from {child['info']['run_name']}: {sorted(metrics)}"
            assert math.isfinite(metrics[name]) and metrics[name] > 0, (name, metrics[name])

    # A wider network is a bigger model: the values are the sweep's, not placeholders.
    small, large = (metrics_of(c) for c in runs.children)
    assert large["model_bytes"] > small["model_bytes"]

    # The nesting as the UI queries it: children found through their parent's id.
    nested = api(server.url, "runs/search", body={
        "experiment_ids": [runs.experiment_id],
        "filter": f"tags.`mlflow.parentRunId` = '{parent_id}'"})["runs"]
    assert sorted(r["info"]["run_id"] for r in nested) == sorted(c["info"]["run_id"] for c in runs.children)

    got_parent = api(server.url, "runs/get", query={"run_id": parent_id})["run"]
    assert got_parent["info"]["status"] == "FINISHED"
    assert tags_of(got_parent)["tinyexp.role"] == "sweep"


def test_server_stops_with_its_workers(tmp_path: Path) -> None:
    """The teardown leaves nothing behind: the server's process group is gone after stopping."""
    run_home = tmp_path
    (run_home / "mlruns").mkdir()
    with mlflow_server(run_home) as server:
        assert healthy(server.url)
        pgid = server.process.pid
    assert server.process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert not healthy(server.url)
