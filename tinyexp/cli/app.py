"""The Hydra application: one call of :func:`task` per job (one job, or each job of a sweep).

A job that fails with a TinyexpError prints one line and, in a single run, exits non-zero;
in a sweep the other jobs go on (the failed job's MLflow run is already marked FAILED).
"""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from tinyexp.core.cli_args import EXIT_FAILED, print_error
from tinyexp.core.config import register_schema
from tinyexp.core.errors import TinyexpError
from tinyexp.core.resources import conf_dir

register_schema()


@hydra.main(config_path=str(conf_dir()), config_name="config", version_base=None)
def task(cfg: DictConfig) -> str | None:
    """Run one job; return its MLflow run id (None if it failed)."""
    from tinyexp.pipeline.runner import run_job

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        outcome = run_job(cfg, list(hydra_cfg.overrides.task), hydra_cfg.sweep.dir if multirun else None)
    except TinyexpError as exc:
        print_error(exc)
        if not multirun:
            sys.exit(EXIT_FAILED)
        return None
    print(f"[{outcome.run_id[:8]}] {outcome.summary}")
    return outcome.run_id


def hydra_entry() -> None:
    task()
