"""`python -m tinyexp` end to end on the virtual board, read back from the MLflow store.

Trains for few epochs (the figures checked here are sizes, refusals and plumbing, not how
well the sine is learned).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import store_client, store_runs

FAST = "train.epochs=15"


def _run_by_name(home: Path, name: str):  # noqa: ANN202 - mlflow Run
    matches = [r for r in store_runs(home) if r.info.run_name == name]
    assert matches, f"no run named {name!r}"
    return max(matches, key=lambda r: r.info.start_time)


def _artifacts(home: Path, run) -> set[str]:  # noqa: ANN001
    client = store_client(home)
    names: set[str] = set()
    pending = [""]
    while pending:
        for item in client.list_artifacts(run.info.run_id, pending.pop() or None):
            (pending.append(item.path) if item.is_dir else names.add(item.path))
    return names


@pytest.fixture(scope="module")
def int8_job(run_tinyexp, tinyexp_home):
    result = run_tinyexp("model.neurons=32", "quant=int8", FAST)
    assert result.returncode == 0, result.stderr[-3000:]
    return result, _run_by_name(tinyexp_home, f"model.neurons=32 quant=int8 {FAST}")


@pytest.fixture(scope="module")
def int8_run(int8_job):
    return int8_job[1]


def test_a_single_job_says_where_its_run_is(int8_job, tinyexp_home):
    """After its summary, how to open the run: the command serving the local store and the
    run's own page in MLflow's classic training view."""
    result, run = int8_job
    lines = result.stdout.splitlines()
    summary = next(i for i, line in enumerate(lines) if line.startswith(f"[{run.info.run_id[:8]}] "))
    store = (tinyexp_home / "mlruns" / "mlflow.db").resolve()
    assert lines[summary + 1] == f"  browse: mlflow ui --backend-store-uri sqlite:///{store}"
    assert lines[summary + 2] == (f"  run:    http://127.0.0.1:5000/#/experiments/{run.info.experiment_id}"
                                  f"/runs/{run.info.run_id}?workflowType=machine_learning")


def test_int8_job_is_measured_on_the_virtual_board(int8_run):
    m, t = int8_run.data.metrics, int8_run.data.tags
    assert int8_run.info.status == "FINISHED"
    assert t["latency_source"] == "estimate" and t["deployable"] == "true"
    for name in ("latency_us", "latency_estimate_us", "latency_estimate_low_us", "latency_estimate_high_us",
                 "arena_required_bytes",
                 "arena_host_reported_bytes", "arena_board_used_bytes", "arena_configured_bytes",
                 "parity_max_abs_error", "model_bytes", "float_model_bytes", "size_ratio", "parameter_count", "macs",
                 "test_mse", "test_mae", "train_seconds"):
        assert name in m, name
    assert m["macs"] == 32 + 32 * 32 + 32
    assert m["model_bytes"] < m["float_model_bytes"]
    assert m["latency_estimate_low_us"] < m["latency_us"] < m["latency_estimate_high_us"]
    # A modelled clock measures no spread: no statistics over invokes, no per-MAC figures.
    assert not {"latency_mean_us", "latency_std_us", "latency_min_us", "latency_max_us", "macs_per_second"} & set(m)
    assert m["parity_max_abs_error"] == 0.0  # the board runs the same TFLM kernels as the host check
    assert t["kernel_dtype"] == "int8" and t["kernel_kind"] == "int8" and t["tflm_runs"] == "true"
    # The board reserves the arena the host found necessary, and its TFLM allocates what the host's did.
    assert m["arena_configured_bytes"] == m["arena_required_bytes"] >= m["arena_board_used_bytes"]
    assert m["arena_board_used_bytes"] == m["arena_host_reported_bytes"]
    for tag in ("version.tflite-micro", "version.mlflow", "python_version", "config_hash", "hydra_overrides"):
        assert t.get(tag), tag


def test_int8_job_logs_its_artifacts(int8_run, tinyexp_home):
    names = _artifacts(tinyexp_home, int8_run)
    for expected in ("model_int8.tflite", "model_float32_reference.tflite", "c_array/model_data.h",
                     "c_array/model_data.cc", "keras_model.keras", "config.yaml", "summary.txt",
                     "serial_transcript.txt", "latency_estimate_operators.json", "model_stats.json"):
        assert expected in names, (expected, sorted(names))
    assert "per_invoke_timings.csv" not in names  # the modelled clock's rows would all be the estimate


@pytest.mark.parametrize("args,reason", [
    (("quant=dynamic", "model.neurons=64"), "FULLY_CONNECTED"),
    (("quant=float16", "model.neurons=64"), "DEQUANTIZE"),
    (("quant=none", "model.neurons=512"), "does not fit: needs"),
])
def test_refused_models_are_logged_but_not_deployed(run_tinyexp, tinyexp_home, args, reason):
    result = run_tinyexp(*args, FAST)
    assert result.returncode == 0, result.stderr[-3000:]
    run = _run_by_name(tinyexp_home, " ".join([*args, FAST]))
    assert run.info.status == "FINISHED"
    assert run.data.tags["deployable"] == "false"
    assert reason in run.data.tags["not_deployed_reason"]
    assert run.data.tags["latency_source"] == "not_measured"
    assert "latency_us" not in run.data.metrics and "latency_mean_us" not in run.data.metrics
    assert {"model_bytes", "test_mse", "test_mae", "size_ratio"} <= set(run.data.metrics)
    assert "not measured" in result.stdout


def test_a_failing_job_ends_failed_with_its_error(run_tinyexp, tinyexp_home):
    # Training that diverges (a deadline too short for any board is now refused by validation,
    # and the agent's own link faults are tests/integration/test_link_faults.py): FAILED.
    args = ("model.neurons=8", FAST, "train.learning_rate=1000", "train.optimizer=sgd")
    result = run_tinyexp(*args)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("tinyexp: error: ")
    run = _run_by_name(tinyexp_home, " ".join(args))
    assert run.info.status == "FAILED"
    assert run.data.tags["error"]
    assert not [r for r in store_runs(tinyexp_home) if r.info.status == "RUNNING"]


def test_sweep_size_ratio_rises_with_width_and_resumes(run_tinyexp, tinyexp_home):
    args = ("-m", "model.neurons=16,64,256", "quant=none,dynamic", FAST, "sweep.id=ratio")
    result = run_tinyexp(*args)
    assert result.returncode == 0, result.stderr[-3000:]
    # It says its id, its store and its report command at its start and its end, quietly.
    for said in ("tinyexp: sweep ratio: runs in MLflow sqlite:///", "tinyexp: done: sweep ratio: runs in MLflow"):
        assert said in result.stdout, result.stdout[-3000:]
    assert result.stdout.count("  report: tinyexp report sweep.id=ratio\n") == 2, result.stdout[-3000:]
    assert "oneDNN" not in result.stderr and "absl" not in result.stderr, result.stderr[-3000:]
    runs = [r for r in store_runs(tinyexp_home) if r.data.tags.get("sweep_id") == "ratio"]
    parent = [r for r in runs if r.data.tags.get("tinyexp.role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("tinyexp.role") != "sweep"]
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    assert len(children) == 6
    assert all(r.data.tags["mlflow.parentRunId"] == parent[0].info.run_id for r in children)
    ratio = {int(r.data.params["model.neurons"]): r.data.metrics["size_ratio"]
             for r in children if r.data.params["quant.mode"] == "dynamic"}
    assert ratio[16] == pytest.approx(1.0, abs=0.05)
    assert ratio[16] < ratio[64] < ratio[256] < 4.0
    assert ratio[256] > 3.5
    for n in (16, 64, 256):  # one training per width, whatever the quantisation modes
        caches = [r.data.tags["train_cache"] for r in children if r.data.params["model.neurons"] == str(n)]
        assert sorted(caches) in (["hit", "miss"], ["hit", "hit"]), (n, caches)

    again = run_tinyexp(*args)
    assert again.returncode == 0
    assert "tinyexp: sweep ratio: all 6 jobs already finished; nothing to run" in again.stdout
    assert "report: tinyexp report sweep.id=ratio" in again.stdout
    assert len([r for r in store_runs(tinyexp_home) if r.data.tags.get("sweep_id") == "ratio"]) == 7
