"""Where the Hydra config becomes typed: the schema Hydra merges conf/ onto, and the one
conversion of a composed DictConfig into tinyexp.core.config's dataclasses.

Only the entry (this package) knows Hydra and OmegaConf: the preflight and the Hydra task
resolve each job's config here, once, and hand the typed `Config` down; no layer below
imports either (an import-linter contract).
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from tinyexp.core.config import DATASET_SCHEMAS, MODEL_SCHEMAS, Config, as_plain
from tinyexp.core.errors import ConfigError
from tinyexp.core.limits import check_known_keys


def register_schema() -> None:
    """Register the schema under the name conf/config.yaml lists first in its defaults, and
    each model and dataset option's schema as `<option>_schema` in its group."""
    store = ConfigStore.instance()
    store.store(name="tinyexp_schema", node=Config)
    for group, schemas in (("model", MODEL_SCHEMAS), ("dataset", DATASET_SCHEMAS)):
        for option, node in schemas.items():
            store.store(group=group, name=f"{option}_schema", node=node)


def resolve(cfg: DictConfig) -> Config:
    """The composed config as the typed Config: keys outside the schema refused first (Hydra's
    `+model.extra=1` gets past OmegaConf's own check), interpolations resolved, the model and
    dataset as the dataclass of the option their `name` chooses (a user's option file that
    names no schema is typed here too), quant.mode as a QuantMode."""
    check_known_keys(cfg, Config)
    config = OmegaConf.to_object(cfg)
    assert isinstance(config, Config)
    for group, schemas in (("model", MODEL_SCHEMAS), ("dataset", DATASET_SCHEMAS)):
        name = str(cfg[group].name)
        if name not in schemas:
            raise ConfigError(f"{group}.name={name!r} is invalid: allowed values are " + ", ".join(schemas))
        check_known_keys(cfg[group], schemas[name], group + ".")
        part = getattr(config, group)
        if not isinstance(part, schemas[name]):
            typed = OmegaConf.merge(OmegaConf.structured(schemas[name]), as_plain(part))
            setattr(config, group, OmegaConf.to_object(typed))
    return config
