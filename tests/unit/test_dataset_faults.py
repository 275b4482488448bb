"""A user's dataset files that would train to a wrong figure with exit 0 (issue 17) are refused
where they are loaded, naming the file, the array or column, and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from tinyexp.core.config import CsvDatasetConfig, NpzDatasetConfig
from tinyexp.core.errors import ConfigError
from tinyexp.model.data import make_dataset


def _load(schema: type, path: Path):  # noqa: ANN202 - Dataset
    cfg = OmegaConf.structured(schema)
    cfg.path = str(path)
    return make_dataset(cfg)


def _arrays(n: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"x_train": rng.normal(size=(n, 3)), "y_train": rng.normal(size=(n, 1)),
            "x_test": rng.normal(size=(5, 3)), "y_test": rng.normal(size=(5, 1))}


@pytest.mark.parametrize("key,value,message", [
    ("y_train", np.inf, r"y_train holds 1 non-finite value\(s\), the first inf in sample 3.*remove or replace"),
    ("x_test", np.nan, r"x_test holds 1 non-finite value\(s\), the first nan in sample 3.*remove or replace"),
    # Finite in the file, not in training (issue 17: an inf loss reported as "lower the learning rate").
    ("y_train", 1e30, r": the targets reach \|y\| = 1e\+30; a float32 loss cannot square errors beyond "
                      r"1.84e\+19.*scale the targets"),
    ("y_test", 1e300, r": the targets reach \|y\| = inf"),  # inf once cast to float32
    ("x_train", 1e300, r": some inputs exceed float32's range.*scale the inputs"),
])
def test_npz_values_not_finite_in_training_are_refused_naming_the_array(tmp_path: Path, key: str, value: float,
                                                                        message: str) -> None:
    arrays = _arrays()
    arrays[key][3, 0] = value
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(ConfigError, match=f"d.npz'.*{message}"):
        _load(NpzDatasetConfig, tmp_path / "d.npz")


def test_npz_test_features_must_match_training_features(tmp_path: Path) -> None:
    arrays = _arrays()
    arrays["x_test"] = np.zeros((5, 4))
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(ConfigError, match=r"x_train has shape \[3\] but each of x_test has \[4\]"):
        _load(NpzDatasetConfig, tmp_path / "d.npz")


@pytest.mark.parametrize("value,message", [(np.float64(2.0), "y is a single value; it needs one row per sample"),
                                           (np.array(["a"] * 20), "y holds <U1 values; it needs real numbers")])
def test_npz_scalar_or_text_arrays_are_refused(tmp_path: Path, value: np.ndarray, message: str) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((20, 2)), y=value)
    with pytest.raises(ConfigError, match=message):
        _load(NpzDatasetConfig, tmp_path / "d.npz")


@pytest.mark.parametrize("header,bad_row,message", [
    ("a,y", "1,inf", r"the first inf in sample \d+, column 'y'"),
    ("a,y", "1,nan", r"the first nan in sample \d+, column 'y'"),
    ("a,b,y", "1,-inf,2", r"the first -inf in sample \d+, column 'b'"),
])
def test_csv_non_finite_values_are_refused_naming_the_column(tmp_path: Path, header: str, bad_row: str,
                                                             message: str) -> None:
    width = header.count(",") + 1
    rows = [header] + [",".join([str(i)] * width) for i in range(10)] + [bad_row]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(ConfigError, match=message):
        _load(CsvDatasetConfig, tmp_path / "d.csv")


def test_csv_without_a_header_is_refused(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("\n".join(f"{i},{i * 0.5}" for i in range(10)) + "\n")
    with pytest.raises(ConfigError, match=r"the first row \(0, 0.0\) is all numbers.*add a header row"):
        _load(CsvDatasetConfig, tmp_path / "d.csv")


def test_csv_ragged_row_is_refused(tmp_path: Path) -> None:
    rows = ["a,y"] + [f"{i},{i * 0.5}" for i in range(10)] + ["1,2,3"]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(ConfigError, match="data row 11 has 3 fields, the header has 2"):
        _load(CsvDatasetConfig, tmp_path / "d.csv")


def test_large_but_squarable_targets_load(tmp_path: Path) -> None:
    arrays = _arrays()
    arrays["y_train"][2, 0] = 1e6
    np.savez(tmp_path / "d.npz", **arrays)
    assert np.abs(_load(NpzDatasetConfig, tmp_path / "d.npz").train.y).max() == pytest.approx(1e6)
