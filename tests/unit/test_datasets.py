"""Datasets: each knows its task, input shape and output size; splits are deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tinyexp.core.config import (CsvDatasetConfig, DatasetConfig, DigitsDatasetConfig, NpzDatasetConfig,
                            SyntheticDatasetConfig)
from tinyexp.model.data import CLASSIFICATION, REGRESSION, make_dataset
from tinyexp.core.errors import ConfigError


def _cfg(schema: type, **values: object):  # noqa: ANN202 - a dataset's typed config
    return schema(**values)


def test_sine_is_the_studys_regression_task() -> None:
    data = make_dataset(_cfg(DatasetConfig))
    assert (data.task, data.input_shape, data.output_size) == (REGRESSION, (1,), 1)
    assert (len(data.train.x), len(data.validation.x), len(data.test.x)) == (600, 200, 200)
    # the first draws of the study's generator (seed 1): x uniform in [0, 2 pi)
    rng = np.random.default_rng(1)
    assert np.allclose(data.train.x[:5, 0], rng.uniform(0, 2 * np.pi, size=(1000, 1))[:5, 0].astype(np.float32))


def test_digits_are_8x8x1_images_of_10_classes() -> None:
    data = make_dataset(_cfg(DigitsDatasetConfig))
    assert (data.task, data.input_shape, data.output_size, data.classes) == (CLASSIFICATION, (8, 8, 1), 10, 10)
    assert len(data.train.x) + len(data.validation.x) + len(data.test.x) == 1797
    assert 0.0 <= data.train.x.min() and data.train.x.max() <= 1.0
    assert data.train.y.dtype == np.int32 and set(np.unique(data.train.y)) == set(range(10))


@pytest.mark.parametrize("shape,classes", [([49, 10, 1], 12), ([7], 2), ([4, 4, 3], 5)])
def test_synthetic_any_shape_deterministic_and_learnable(shape: list[int], classes: int) -> None:
    cfg = _cfg(SyntheticDatasetConfig, input_shape=shape, classes=classes, samples=400)
    a, b = make_dataset(cfg), make_dataset(cfg)
    assert a.input_shape == tuple(shape) and a.output_size == classes
    assert np.array_equal(a.train.x, b.train.x) and np.array_equal(a.test.y, b.test.y)
    assert not np.array_equal(a.train.x, make_dataset(_cfg(SyntheticDatasetConfig, input_shape=shape,
                                                           classes=classes, samples=400, seed=2)).train.x)
    # learnable: nearest class mean (from the training split) beats chance by far on the test split
    flat = a.train.x.reshape(len(a.train.x), -1)
    means = np.stack([flat[a.train.y == c].mean(axis=0) for c in range(classes)])
    test = a.test.x.reshape(len(a.test.x), -1)
    guess = np.argmin(((test[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(guess == a.test.y) > 1.0 / classes + 0.3


def test_synthetic_reconstruction_targets_are_the_inputs() -> None:
    data = make_dataset(_cfg(SyntheticDatasetConfig, input_shape=[640], task="reconstruction", samples=100))
    assert data.task == REGRESSION and data.output_size == 640
    assert np.array_equal(data.train.x, data.train.y)


def test_npz_with_splits_and_with_x_y(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 6, 2)).astype(np.float32), rng.integers(0, 3, 50)
    np.savez(tmp_path / "split.npz", x_train=x[:40], y_train=y[:40], x_test=x[40:], y_test=y[40:])
    data = make_dataset(_cfg(NpzDatasetConfig, path=str(tmp_path / "split.npz")))
    assert (data.task, data.input_shape, data.classes) == (CLASSIFICATION, (6, 2), 3)
    assert len(data.test.x) == 10 and len(data.train.x) + len(data.validation.x) == 40
    np.savez(tmp_path / "xy.npz", x=x, y=y.astype(np.float32) + 0.5)
    data = make_dataset(_cfg(NpzDatasetConfig, path=str(tmp_path / "xy.npz")))
    assert data.task == REGRESSION and data.output_size == 1 and len(data.train.x) == 30


def test_csv_features_and_target(tmp_path: Path) -> None:
    rows = ["a,b,label"] + [f"{i},{i * 0.5},{i % 2}" for i in range(20)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    data = make_dataset(_cfg(CsvDatasetConfig, path=str(tmp_path / "d.csv")))
    assert (data.task, data.input_shape, data.classes) == (CLASSIFICATION, (2,), 2)
    data = make_dataset(_cfg(CsvDatasetConfig, path=str(tmp_path / "d.csv"), target="b", features=["a"]))
    assert data.task == REGRESSION and data.input_shape == (1,)


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    (b"not a zip at all", "not a readable .npz file"),
])
def test_bad_npz_is_a_config_error(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "d.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        make_dataset(_cfg(NpzDatasetConfig, path=str(path)))


def test_npz_without_the_arrays_says_which_it_has(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", inputs=np.zeros((4, 2)))
    with pytest.raises(ConfigError, match="it has inputs"):
        make_dataset(_cfg(NpzDatasetConfig, path=str(tmp_path / "d.npz")))


def test_csv_missing_column(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    with pytest.raises(ConfigError, match="no column 'y'"):
        make_dataset(_cfg(CsvDatasetConfig, path=str(tmp_path / "d.csv"), target="y"))
