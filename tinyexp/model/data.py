"""The datasets an experiment trains and evaluates on.

Only the study's sine task for now: x uniform in [x_min, x_max], y = sin(x) + noise * N(0, 1),
split train/validation/test by the configured fractions. Generated from its own seed so a
split is identical across runs, machines and quantisation modes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyexp.core.errors import ConfigError


@dataclass(frozen=True)
class Split:
    """Inputs and targets of one split, float32, shape [samples, features]."""

    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Dataset:
    train: Split
    validation: Split
    test: Split


def _sine(samples: int, x_min: float, x_max: float, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(x_min, x_max, size=(samples, 1))
    y = np.sin(x) + noise * rng.standard_normal(size=(samples, 1))
    return x.astype(np.float32), y.astype(np.float32)


def make_dataset(cfg: Any) -> Dataset:
    """Generate and split the dataset a DatasetConfig node describes."""
    if cfg.name != "sine":
        raise ConfigError(f"dataset.name={cfg.name!r} is invalid: allowed values are sine")
    x, y = _sine(cfg.samples, cfg.x_min, cfg.x_max, cfg.noise, cfg.seed)
    n_train = int(round(cfg.split[0] * cfg.samples))
    n_val = int(round(cfg.split[1] * cfg.samples))
    cut = (n_train, n_train + n_val)
    return Dataset(
        train=Split(x[: cut[0]], y[: cut[0]]),
        validation=Split(x[cut[0] : cut[1]], y[cut[0] : cut[1]]),
        test=Split(x[cut[1] :], y[cut[1] :]),
    )
