"""Your own model and data end to end: a Conv1D .keras with an .npz, the same as .tflite,
and a small CNN declared in YAML on scikit-learn's digits, each to a FINISHED MLflow run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import store_client, store_runs


def _latest(home: Path, marker: str):  # noqa: ANN202 - mlflow Run
    runs = [r for r in store_runs(home) if marker in r.data.tags.get("hydra_overrides", "")]
    assert runs, f"no run with {marker!r}"
    return max(runs, key=lambda r: r.info.start_time)


@pytest.fixture(scope="module")
def user_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Conv1D Keras model, its int8 .tflite and an .npz dataset it can learn (the label says
    whether the first channel's mean is positive)."""
    import keras

    from tinyexp.core.config import QuantMode
    from tinyexp.model.convert import convert

    out = tmp_path_factory.mktemp("user")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 32, 2)).astype(np.float32)
    x[:, :, 0] += rng.choice([-0.5, 0.5], size=(400, 1))
    y = (x[:, :, 0].mean(axis=1) > 0).astype(np.int64)
    np.savez(out / "data.npz", x_train=x[:300], y_train=y[:300], x_test=x[300:], y_test=y[300:])
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((32, 2)), keras.layers.Conv1D(8, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
    model.save(out / "conv1d.keras")
    (out / "conv1d.tflite").write_bytes(convert(model, QuantMode.int8, False, x[:100]))
    return {"keras": out / "conv1d.keras", "tflite": out / "conv1d.tflite", "npz": out / "data.npz"}


def _check_finished(run) -> None:  # noqa: ANN001
    m, t = run.data.metrics, run.data.tags
    assert run.info.status == "FINISHED"
    for name in ("test_accuracy", "test_auc", "model_bytes", "arena_required_bytes", "macs", "latency_us",
                 "latency_estimate_us"):
        assert name in m, name
    assert t["latency_source"] == "estimate" and t["deployable"] == "true" and t["dataset_task"] == "classification"
    assert "latency_estimate_extrapolated" in t and "latency_estimate_transferred" in t  # never silent


def test_keras_conv1d_with_npz_int8(run_tinyexp, tinyexp_home, user_files):
    result = run_tinyexp("model=keras", f"model.path={user_files['keras']}", "dataset=npz",
                         f"dataset.path={user_files['npz']}", "quant=int8", "train.epochs=10",
                         "train.optimizer=adam", "train.batch_size=32")
    assert result.returncode == 0, result.stderr[-3000:]
    run = _latest(tinyexp_home, f"model.path={user_files['keras']}")
    _check_finished(run)
    assert run.data.tags["kernel_dtype"] == "int8" and run.data.tags["model_label"] == "conv1d.keras"
    assert run.data.metrics["test_accuracy"] > 0.8  # the label is learnable from the input
    assert "test_accuracy_change_vs_float32" in run.data.metrics
    artifacts = {a.path for a in store_client(tinyexp_home).list_artifacts(run.info.run_id)}
    assert {"operators.json", "model_int8.tflite", "keras_model.keras"} <= artifacts


def test_tflite_file_used_as_is(run_tinyexp, tinyexp_home, user_files):
    result = run_tinyexp("model=tflite", f"model.path={user_files['tflite']}", "dataset=npz",
                         f"dataset.path={user_files['npz']}")
    assert result.returncode == 0, result.stderr[-3000:]
    run = _latest(tinyexp_home, f"model.path={user_files['tflite']}")
    _check_finished(run)
    assert run.data.params["quant.mode"] == "as_is"
    assert run.data.metrics["model_bytes"] == user_files["tflite"].stat().st_size
    assert "train_seconds" not in run.data.metrics and "float_model_bytes" not in run.data.metrics
    assert run.data.tags["train_defaults"] == "none: not trained"


def test_keras_file_converted_as_is_with_zero_epochs(run_tinyexp, tinyexp_home, user_files):
    result = run_tinyexp("model=keras", f"model.path={user_files['keras']}", "dataset=npz",
                         f"dataset.path={user_files['npz']}", "quant=float32", "train.epochs=0")
    assert result.returncode == 0, result.stderr[-3000:]
    run = _latest(tinyexp_home, "train.epochs=0")
    assert run.info.status == "FINISHED" and "train_seconds" not in run.data.metrics


def test_digits_cnn_over_90_percent_in_float32_and_int8(run_tinyexp, tinyexp_home):
    result = run_tinyexp("-m", "model=layers", "dataset=digits", "quant=float32,int8", "train.epochs=20",
                         "train.batch_size=32", "train.optimizer=adam", "sweep.id=digits_cnn")
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [r for r in store_runs(tinyexp_home) if r.data.tags.get("sweep_id") == "digits_cnn"
            and r.data.tags.get("tinyexp.role") != "sweep"]
    by_mode = {r.data.params["quant.mode"]: r for r in runs}
    assert set(by_mode) == {"float32", "int8"}
    for run in by_mode.values():
        assert run.info.status == "FINISHED"
        assert run.data.metrics["test_accuracy"] > 0.9
        assert run.data.tags["accuracy_runtime"] == "tflm"
