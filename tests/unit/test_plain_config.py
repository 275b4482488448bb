"""The typed config's plain data (core.config.as_plain) is what OmegaConf's to_container of the
composed DictConfig was: MLflow params, config.yaml, the config hash (resume of existing
sweeps) and the training cache key must not change with the config's resolution at the entry."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
import yaml
from omegaconf import OmegaConf

from tests.helpers import compose
from tinyexp.cli.schema import resolve
from tinyexp.core.config import TRAIN_KEYED_UNLESS, Config, ModelConfig, QuantMode, as_plain
from tinyexp.model import train
from tinyexp.tracking import sweep
from tinyexp.tracking.store import flatten

CONFIGS = [
    [],
    ["experiment=paper"],
    ["model.widths=[64,32]", "quant=int8", "quant.per_channel=true"],
    ["quant=none"],
    ["model=layers", "dataset=synthetic", "dataset.input_shape=[8,8,1]", "model.label=net"],
    ["dataset=npz", "dataset.path=/data/x.npz", "dataset.task=classification"],
    ["dataset=csv", "dataset.path=/data/x.csv", "dataset.features=[a,b]", "dataset.target=y"],
    ["device=serial", "device.port=/dev/ttyACM0", "board=nucleo_l4r5zi"],
    ["model=tflite", "model.path=/m/x.tflite", "tracking.uri=sqlite:////tmp/x.db", "sweep.id=s1"],
]


def _old_hash(old: dict[str, Any]) -> str:
    """The config hash as tinyexp computed it from to_container before the typed entry (the
    same rules for what is left out: where and how a job runs, fields added since the study)."""
    data = {k: v for k, v in old.items() if k not in ("tracking", "sweep")}
    for group, keys in sweep._UNHASHED_KEYS.items():
        data[group] = {k: v for k, v in data[group].items() if k not in keys}
    for group, defaults in sweep._HASHED_UNLESS.items():
        data[group] = {k: v for k, v in data[group].items() if k not in defaults or v != defaults[k]}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:24]


@pytest.mark.parametrize("overrides", CONFIGS, ids=lambda o: " ".join(o) or "defaults")
def test_plain_data_params_hash_and_cache_key_are_as_before(overrides: list[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    composed = compose(overrides)
    old = OmegaConf.to_container(composed, resolve=True, enum_to_str=True)
    config = resolve(composed)
    new = as_plain(config)
    assert new == old and list(new) == list(old)  # the same data, groups in the same order
    assert json.dumps(new, sort_keys=True) == json.dumps(old, sort_keys=True)
    assert flatten(new) == flatten(old)  # MLflow params: names and values
    assert sweep.config_hash(config) == _old_hash(old)
    # config.yaml: the same text, but for OmegaConf quoting strings such as y that some YAML
    # 1.1 readers take for a bool (PyYAML does not: the file reads back as the config).
    written, before = yaml.safe_dump(new, sort_keys=False), OmegaConf.to_yaml(composed, resolve=True)
    assert yaml.safe_load(written) == old
    if "'y'" not in before:
        assert written == before
    monkeypatch.setattr(train, "training_library_versions", lambda: {"tensorflow": "2.0", "keras": "3.0", "numpy": "1.0"})
    # A dataset file's contents are keyed too (tests/unit/test_stages.py); here the config's part is compared.
    monkeypatch.setattr(train.sources, "data_identity", lambda dataset_cfg: {})
    if config.model.name != "tflite":  # a keras/tflite source's key reads the file
        # train keys added since the study are keyed only away from their default, as in the hash
        old_train = {k: v for k, v in old["train"].items() 
                     if k not in TRAIN_KEYED_UNLESS or v != TRAIN_KEYED_UNLESS[k]}
        old_key = hashlib.sha256(json.dumps({"dataset": old["dataset"], "model": old["model"], "train": old_train,
                                             "versions": train.training_library_versions(), "trainer": 1},
                                            sort_keys=True).encode()).hexdigest()[:20]
        assert train.cache_key(config.dataset, config.model, config.train) == old_key


def test_the_entry_types_every_group() -> None:
    config = resolve(compose(["model=layers", "dataset=csv", "dataset.path=x.csv", "quant=int8"]))
    assert isinstance(config, Config) and type(config.model).__name__ == "LayersModelConfig"
    assert type(config.dataset).__name__ == "CsvDatasetConfig" and config.quant.mode is QuantMode.int8
    assert type(config.board).__name__ == "BoardConfig" and config.device.placement is None
    assert isinstance(resolve(compose([])).model, ModelConfig)
