"""Training, conversion, TFLM support and accuracy on a small network, in process."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.helpers import compose_config
from tinyexp.core.config import QuantMode, default_config
from tinyexp.model.convert import convert
from tinyexp.model.data import make_dataset
from tinyexp.tflm.evaluate import accuracy, host_model
from tinyexp.tflm.board_fit import check_fit
from tinyexp.tflm.inspect import inspect_model
from tinyexp.tflm.runtime import check_support
from tinyexp.model.train import cache_key, train


@pytest.fixture(scope="module")
def cfg():
    c = compose_config([])  # the model and dataset typed by their config group's option
    c.train.epochs = 40
    return c


@pytest.fixture(scope="module")
def trained(cfg, tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("TINYEXP_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    data = make_dataset(cfg.dataset)
    return data, train(cfg.model, cfg.train, cfg.dataset, data)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def keras_model(trained):
    import keras

    return keras.models.load_model(trained[1].keras_path, compile=False)


def test_dataset_split_is_seeded_and_sized(cfg):
    a, b = make_dataset(cfg.dataset), make_dataset(cfg.dataset)
    assert (len(a.train.x), len(a.validation.x), len(a.test.x)) == (600, 200, 200)
    np.testing.assert_array_equal(a.test.y, b.test.y)
    assert 0.0 <= a.train.x.min() and a.train.x.max() <= 2 * np.pi


def test_training_learns_and_is_cached(cfg, trained):
    data, model = trained
    assert not model.from_cache
    assert model.val_metrics["val_mse"] < 0.2  # sin has variance 0.5: a model that learned nothing scores ~0.5
    again = train(cfg.model, cfg.train, cfg.dataset, data)
    assert again.from_cache and again.cache_key == model.cache_key


def test_training_is_deterministic_for_a_seed(cfg, trained, tmp_path, monkeypatch):
    import keras

    data, first = trained
    monkeypatch.setenv("TINYEXP_CACHE_DIR", str(tmp_path))
    second = train(cfg.model, cfg.train, cfg.dataset, data)
    assert not second.from_cache
    w1 = keras.models.load_model(first.keras_path, compile=False).get_weights()
    w2 = keras.models.load_model(second.keras_path, compile=False).get_weights()
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)


def test_cache_key_changes_with_what_shapes_the_weights(cfg):
    other = replace(cfg, train=replace(cfg.train, seed=7))
    assert cache_key(cfg.dataset, cfg.model, cfg.train) != cache_key(other.dataset, other.model, other.train)
    other = replace(cfg, quant=replace(cfg.quant, mode=QuantMode.int8))  # quantisation happens after training
    assert cache_key(cfg.dataset, cfg.model, cfg.train) == cache_key(other.dataset, other.model, other.train)


@pytest.mark.parametrize("mode,runs,reason", [
    ("float32", True, None),
    ("int8", True, None),
    ("float16", False, "DEQUANTIZE"),
])
def test_tflm_support_is_decided_by_tflm(keras_model, trained, mode, runs, reason):
    data, _ = trained
    support = check_support(convert(keras_model, mode, False, data.train.x))
    assert support.runs is runs
    if runs:
        assert 0 < support.arena_bytes < 64 * 1024
    else:
        assert reason in support.reason


def test_accuracy_of_converted_models(keras_model, trained):
    data, _ = trained
    results = {}
    for mode in ("float32", "int8", "float16"):
        tflite = convert(keras_model, mode, False, data.train.x)
        support = check_support(tflite)
        results[mode] = accuracy(host_model(tflite, support.arena_bytes), data.test.x, data.test.y)
    keras_mse = float(np.mean((keras_model.predict(data.test.x, verbose=0) - data.test.y) ** 2))
    assert results["float32"].runtime == "tflm" and results["float16"].runtime == "tflite"
    assert results["float32"].metrics["test_mse"] == pytest.approx(keras_mse, rel=1e-4)
    assert results["float16"].metrics["test_mse"] == pytest.approx(keras_mse, rel=0.05)
    assert results["int8"].metrics["test_mse"] != results["float32"].metrics["test_mse"]  # quantisation changes the outputs
    assert results["int8"].metrics["test_mse"] < 0.3


def test_fit_check_refuses_what_exceeds_flash(cfg):
    assert check_fit(500_000, 4_000, cfg.board).fits
    big = check_fit(1_060_000, 4_000, cfg.board)
    assert not big.fits_flash
    assert "needs 1060000 bytes of flash, nano33ble allows 983040" in big.reason("nano33ble")
    assert big.basis == "model_only"


def test_per_tensor_dynamic_is_smaller_than_per_channel(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)])
    x = np.zeros((4, 1), np.float32)
    per_tensor = inspect_model(convert(model, "dynamic", False, x))
    per_channel = inspect_model(convert(model, "dynamic", True, x))
    assert (per_tensor.kernel_kind, per_tensor.kernel_dtype) == ("hybrid", "int8")
    assert per_tensor.model_bytes < per_channel.model_bytes


def test_cache_key_changes_with_a_dataset_files_contents(tmp_path):
    """A dataset file rewritten in place (same path, new data) must not find the model trained
    on its old contents; the built-in datasets' keys stay what they were (no file to read)."""
    from tinyexp.core.config import NpzDatasetConfig

    path = tmp_path / "d.npz"
    arrays = {name: np.zeros((8, 1), np.float32) for name in ("x_train", "y_train", "x_test", "y_test")}
    np.savez(path, **arrays)
    npz = NpzDatasetConfig(path=str(path))
    model, train_cfg = default_config().model, default_config().train
    before = cache_key(npz, model, train_cfg)
    np.savez(path, **{**arrays, "y_train": np.ones((8, 1), np.float32)})
    assert cache_key(npz, model, train_cfg) != before


def test_input_files_digest_follows_a_files_contents_and_is_none_without_files(tmp_path):
    """What resume compares besides the config hash (tinyexp.tracking.job_run): the contents
    of the model and dataset files a job reads; a job that reads none has no digest."""
    from tinyexp.core.config import NpzDatasetConfig, TfliteModelConfig
    from tinyexp.model.sources import input_files_digest

    defaults = default_config()
    assert input_files_digest(defaults.model, defaults.dataset) is None
    data = tmp_path / "d.npz"
    arrays = {name: np.zeros((8, 1), np.float32) for name in ("x_train", "y_train", "x_test", "y_test")}
    np.savez(data, **arrays)
    model = tmp_path / "m.tflite"
    model.write_bytes(b"model one")
    tflite, npz = TfliteModelConfig(path=str(model)), NpzDatasetConfig(path=str(data))
    first = input_files_digest(tflite, npz)
    assert first is not None and input_files_digest(tflite, npz) == first
    model.write_bytes(b"model two")
    second = input_files_digest(tflite, npz)
    np.savez(data, **{**arrays, "y_test": np.ones((8, 1), np.float32)})
    assert len({first, second, input_files_digest(tflite, npz)}) == 3
    assert input_files_digest(defaults.model, npz) is not None
