"""The datasets an experiment trains and evaluates on, and what task each poses.

- sine: the study's task, x uniform in [x_min, x_max], y = sin(x) + noise * N(0, 1).
- npz: a user's arrays (x_train/y_train/x_test/y_test, or x/y split by the fractions).
- csv: a user's table (a header row, numeric feature columns, one target column).
- digits: scikit-learn's bundled 8x8 handwritten digits, as 8x8x1 images in [0, 1].
- synthetic: random data of any shape with learnable structure, for sizing and timing an
  architecture without its real data (its accuracy says nothing about the real task).

Every dataset knows its task (regression or classification), input shape and output size,
and is split the same way on every run (its own seed). Class labels are integers 0..K-1.
Nothing is downloaded.
"""

from __future__ import annotations

import csv
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyexp.core.config import (CsvDatasetConfig, DatasetConfig, DatasetSpec, DigitsDatasetConfig, NpzDatasetConfig,
                                 SyntheticDatasetConfig)
from tinyexp.core.errors import ConfigError

REGRESSION = "regression"
CLASSIFICATION = "classification"
_NPZ_SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")
# The largest target whose error a float32 loss can square (mse, and the test mse recorded).
MAX_SQUARABLE_TARGET = math.sqrt(float(np.finfo(np.float32).max))


@dataclass(frozen=True)
class Split:
    """Inputs (float32, [samples, *input_shape]) and targets of one split: float32
    [samples, outputs] for regression, int32 labels [samples] for classification."""

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Dataset:
    train: Split
    validation: Split
    test: Split
    task: str = REGRESSION
    classes: int = 0  # number of classes (classification only)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.train.x.shape[1:])

    @property
    def output_size(self) -> int:
        """Values the model must output per sample: the classes, or the target's width."""
        if self.task == CLASSIFICATION:
            return self.classes
        return int(math.prod(self.train.y.shape[1:]))


def _split_by_fractions(x: np.ndarray, y: np.ndarray, split: Any) -> tuple[Split, Split, Split]:
    n = len(x)
    n_train = int(round(split[0] * n))
    n_val = int(round(split[1] * n))
    cut = (n_train, n_train + n_val)
    return (Split(x[: cut[0]], y[: cut[0]]), Split(x[cut[0] : cut[1]], y[cut[0] : cut[1]]),
            Split(x[cut[1] :], y[cut[1] :]))


def _shuffled(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(len(x))
    return x[order], y[order]


def _sine(cfg: DatasetConfig) -> Dataset:
    rng = np.random.default_rng(cfg.seed)
    x = rng.uniform(cfg.x_min, cfg.x_max, size=(cfg.samples, 1))
    y = np.sin(x) + cfg.noise * rng.standard_normal(size=(cfg.samples, 1))
    return Dataset(*_split_by_fractions(x.astype(np.float32), y.astype(np.float32), cfg.split))


def _targets(y: np.ndarray, task: str, where: str) -> tuple[np.ndarray, str]:
    """Targets in the form their task trains on; `auto` reads integer 1-D targets as labels."""
    if task == "auto":
        integral = np.issubdtype(y.dtype, np.integer) or (y.size > 0 and np.all(np.mod(y, 1) == 0))
        task = CLASSIFICATION if integral and y.squeeze().ndim <= 1 else REGRESSION
    if task == CLASSIFICATION:
        labels = y.reshape(len(y), -1)
        if labels.shape[1] != 1 or np.any(np.mod(labels, 1) != 0) or np.any(labels < 0):
            raise ConfigError(f"{where}: classification targets must be one non-negative integer label per sample")
        return labels.reshape(-1).astype(np.int32), task
    return y.reshape(len(y), -1).astype(np.float32), task


def _labelled(train: Split, val: Split, test: Split, task: str) -> Dataset:
    classes = int(max(int(s.y.max()) for s in (train, val, test) if len(s.y)) + 1) if task == CLASSIFICATION else 0
    if task == CLASSIFICATION and classes < 2:
        raise ConfigError("the dataset's labels hold fewer than 2 classes: nothing to classify")
    return Dataset(train, val, test, task, classes)


def _open_npz(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"dataset.path={str(path)!r}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"dataset.path={str(path)!r}: not a readable .npz file ({exc})") from exc


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a dataset .npz file, checked for the keys tinyexp reads."""
    with _open_npz(path) as archive:
        keys = set(archive.files)
        wanted = _NPZ_SPLIT_KEYS if set(_NPZ_SPLIT_KEYS) <= keys else ("x", "y")
        if not set(wanted) <= keys:
            raise ConfigError(f"dataset.path={str(path)!r}: needs arrays x_train, y_train, x_test, y_test "
                              f"or x, y; it has {', '.join(sorted(keys)) or 'none'}")
        try:
            arrays = {k: np.asarray(archive[k]) for k in wanted}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"dataset.path={str(path)!r}: cannot read its arrays ({exc})") from exc
    where = f"dataset.path={str(path)!r}"
    for key, array in arrays.items():
        _check_numeric_rows(array, f"{where}: {key}")
    for x_key, y_key in zip(wanted[0::2], wanted[1::2]):
        if len(arrays[x_key]) != len(arrays[y_key]) or len(arrays[x_key]) < 2:
            raise ConfigError(f"{where}: {x_key} and {y_key} must hold the same number (at least 2) of samples")
    for train_key, test_key in (("x_train", "x_test"), ("y_train", "y_test")):
        if train_key in arrays and arrays[train_key].shape[1:] != arrays[test_key].shape[1:]:
            raise ConfigError(f"{where}: each sample of {train_key} has shape {list(arrays[train_key].shape[1:])} "
                              f"but each of {test_key} has {list(arrays[test_key].shape[1:])}; both splits "
                              "need the same features")
    return arrays


def _check_numeric_rows(array: np.ndarray, where: str) -> None:
    """Refuse an array that is not one row of real numbers per sample: a single value, text,
    complex numbers, or inf/NaN (which would train to a non-finite loss or score as inf)."""
    if array.ndim == 0:
        raise ConfigError(f"{where} is a single value; it needs one row per sample")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
            or array.dtype == np.bool_):
        raise ConfigError(f"{where} holds {array.dtype} values; it needs real numbers")
    _refuse_non_finite(array, where)


def _refuse_non_finite(values: np.ndarray, where: str, columns: list[str] | None = None) -> None:
    """One line naming the first inf/NaN: its sample (and its column where ``columns`` names them)."""
    if not np.issubdtype(values.dtype, np.floating):
        return
    bad = ~np.isfinite(values)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        column = f", column {columns[first[1]]!r}" if columns is not None else ""
        raise ConfigError(f"{where} holds {int(bad.sum())} non-finite value(s), the first {values[first]} "
                          f"in sample {first[0]}{column}; remove or replace them before training")


def _npz(cfg: NpzDatasetConfig) -> Dataset:
    path = Path(cfg.path)
    arrays = npz_arrays(path)
    where = f"dataset.path={str(path)!r}"
    if "x" in arrays:
        x, y = _shuffled(arrays["x"], arrays["y"], cfg.seed)
        y, task = _targets(y, cfg.task, where)
        train, val, test = _split_by_fractions(x.astype(np.float32), y, cfg.split)
        return _labelled(train, val, test, task)
    y_all, task = _targets(np.concatenate([arrays["y_train"], arrays["y_test"]]), cfg.task, where)
    n_fit = len(arrays["x_train"])
    x_fit, y_fit = arrays["x_train"].astype(np.float32), y_all[:n_fit]
    n_val = max(1, int(round(len(x_fit) * cfg.split[1] / (cfg.split[0] + cfg.split[1]))))
    train, val = Split(x_fit[:-n_val], y_fit[:-n_val]), Split(x_fit[-n_val:], y_fit[-n_val:])
    return _labelled(train, val, Split(arrays["x_test"].astype(np.float32), y_all[n_fit:]), task)


def csv_columns(cfg: CsvDatasetConfig) -> tuple[list[str], str, list[list[str]]]:
    """The feature columns, the target column and the data rows of a dataset CSV file."""
    path = Path(cfg.path)
    if not path.is_file():
        raise ConfigError(f"dataset.path={str(path)!r}: no such file")
    try:
        with path.open(newline="") as f:
            rows = [row for row in csv.reader(f, delimiter=cfg.delimiter) if row]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"dataset.path={str(path)!r}: not a readable CSV file ({exc})") from exc
    if len(rows) < 3:
        raise ConfigError(f"dataset.path={str(path)!r}: needs a header row and at least 2 data rows")
    header = [h.strip() for h in rows[0]]
    if all(_is_number(h) for h in header):
        raise ConfigError(f"dataset.path={str(path)!r}: the first row ({', '.join(header)}) is all numbers, "
                          "but it is read as the header naming the columns; add a header row")
    for number, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise ConfigError(f"dataset.path={str(path)!r}: data row {number} has {len(row)} fields, the header "
                              f"has {len(header)}; every row needs one field per column")
    target = cfg.target if cfg.target is not None else header[-1]
    features = list(cfg.features) if cfg.features is not None else [h for h in header if h != target]
    for column in [target, *features]:
        if column not in header:
            raise ConfigError(f"dataset.path={str(path)!r}: no column {column!r}; columns: {', '.join(header)}")
    return features, target, rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv(cfg: CsvDatasetConfig) -> Dataset:
    features, target, rows = csv_columns(cfg)
    header = [h.strip() for h in rows[0]]
    index = {h: i for i, h in enumerate(header)}
    try:
        x = np.array([[float(r[index[c]]) for c in features] for r in rows[1:]], dtype=np.float32)
        y = np.array([float(r[index[target]]) for r in rows[1:]], dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"dataset.path={cfg.path!r}: every row needs a number in each used column ({exc})") from exc
    _refuse_non_finite(x, f"dataset.path={cfg.path!r}", features)
    _refuse_non_finite(y[:, np.newaxis], f"dataset.path={cfg.path!r}", [target])
    x, y = _shuffled(x, y, cfg.seed)
    y, task = _targets(y, cfg.task, f"dataset.path={cfg.path!r}")
    return _labelled(*_split_by_fractions(x, y, cfg.split), task)


def _digits(cfg: DigitsDatasetConfig) -> Dataset:
    from sklearn.datasets import load_digits  # ships with scikit-learn: no download

    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., np.newaxis]
    x, y = _shuffled(x, bunch.target.astype(np.int32), cfg.seed)
    return _labelled(*_split_by_fractions(x, y, cfg.split), CLASSIFICATION)


def _synthetic(cfg: SyntheticDatasetConfig) -> Dataset:
    """Classification: each class a fixed random prototype, each sample its class's prototype
    plus noise * N(0, 1), so the label is learnable from the input. A prototype is a random
    pattern plus a random level per channel: the pattern suits dense nets, the channel levels
    survive the global pooling of convolutional nets. Reconstruction: samples tanh(z W) on an
    8-dimensional manifold plus small noise, the target the input itself, so an autoencoder
    with an 8-wide bottleneck can learn it."""
    rng = np.random.default_rng(cfg.seed)
    shape = tuple(int(d) for d in cfg.input_shape)
    size = math.prod(shape)
    if cfg.task == "reconstruction":
        basis = rng.standard_normal((8, size)) / math.sqrt(8)
        x = np.tanh(rng.standard_normal((cfg.samples, 8)) @ basis)
        x = (x + 0.1 * cfg.noise * rng.standard_normal(x.shape)).astype(np.float32)
        return Dataset(*_split_by_fractions(x.reshape(-1, *shape), x, cfg.split))
    channels = shape[-1]
    levels = rng.standard_normal((cfg.classes, 1, channels))
    prototypes = (rng.standard_normal((cfg.classes, size // channels, channels)) + levels).reshape(cfg.classes, size)
    y = rng.integers(0, cfg.classes, size=cfg.samples).astype(np.int32)
    x = prototypes[y] + cfg.noise * rng.standard_normal((cfg.samples, size))
    return Dataset(*_split_by_fractions(x.reshape(-1, *shape).astype(np.float32), y, cfg.split),
                   CLASSIFICATION, int(cfg.classes))


_MAKERS = {"sine": _sine, "npz": _npz, "csv": _csv, "digits": _digits, "synthetic": _synthetic}


def largest_target(data: Dataset) -> float:
    """The largest |y| of a regression dataset (0 for class labels): what a loss's scale follows."""
    if data.task == CLASSIFICATION:
        return 0.0
    return max((float(np.abs(s.y).max()) for s in (data.train, data.validation, data.test) if s.y.size), default=0.0)


def _refuse_beyond_float32(data: Dataset, where: str) -> None:
    """Refuse values finite in the file but not in training: inputs float32 cannot hold (a cast
    to inf), and targets whose squared error overflows it (the loss would be inf from the
    first step, reported as divergence, and the test mse recorded as inf)."""
    splits = (data.train, data.validation, data.test)
    if not all(np.isfinite(s.x).all() for s in splits):
        raise ConfigError(f"{where}: some inputs exceed float32's range (about 3.4e38) and become inf in training; "
                          "scale the inputs before training")
    top = largest_target(data)
    if not top <= MAX_SQUARABLE_TARGET:
        raise ConfigError(f"{where}: the targets reach |y| = {top:.3g}; a float32 loss cannot square errors beyond "
                          f"{MAX_SQUARABLE_TARGET:.3g}, so training would end in an inf loss; scale the targets "
                          "(e.g. divide by their standard deviation) before training")


def make_dataset(cfg: DatasetSpec) -> Dataset:
    """Load or generate, and split, the dataset a dataset config node describes."""
    maker = _MAKERS.get(cfg.name)
    if maker is None:
        raise ConfigError(f"dataset.name={cfg.name!r} is invalid: allowed values are {', '.join(_MAKERS)}")
    with np.errstate(over="ignore"):  # a cast to float32 that overflows is refused just below, in one line
        data = maker(cfg)
    path = getattr(cfg, "path", None)
    _refuse_beyond_float32(data, f"dataset.path={path!r}" if path else f"dataset={cfg.name}")
    for name, split in (("train", data.train), ("validation", data.validation), ("test", data.test)):
        if len(split.x) == 0:
            raise ConfigError(f"dataset={cfg.name}: the {name} split is empty; use more samples or other fractions")
    return data
