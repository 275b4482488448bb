"""The Hydra application: one call of :func:`task` per job (one job, or each job of a sweep).

A job that fails prints one line and, in a single run, exits non-zero; in a sweep the other
jobs go on (the failed job's MLflow run is already marked FAILED), each job's end is noted
(tinyexp.cli.outcomes), and the command exits non-zero at the end if any job failed. An
unexpected error in a sweep's job is one line too, its traceback kept in the job's folder.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from tinyexp.cli.outcomes import JobEnd, record_outcome
from tinyexp.cli.schema import register_schema, resolve
from tinyexp.cli.sweep_banner import run_lines
from tinyexp.core.cli_args import EXIT_FAILED, print_error
from tinyexp.core.errors import TinyexpError
from tinyexp.core.resources import conf_dir

register_schema()


@hydra.main(config_path=str(conf_dir()), config_name="config", version_base=None)
def task(cfg: DictConfig) -> JobEnd:
    """Run one job; return how it ended (its MLflow run id if it did not fail). The composed
    config is resolved here, once, into the typed Config the job's layers are given."""
    from tinyexp.pipeline.runner import run_job

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        outcome = run_job(resolve(cfg), list(hydra_cfg.overrides.task), hydra_cfg.sweep.dir if multirun else None)
    except Exception as exc:  # noqa: BLE001 - every job's failure is counted, then re-raised or shown
        if not multirun and not isinstance(exc, TinyexpError):
            raise
        message = str(exc) if isinstance(exc, TinyexpError) else _crash(exc, hydra_cfg.runtime.output_dir)
        print_error(message)
        end = JobEnd(True, message)
        record_outcome(end)
        if not multirun:
            sys.exit(EXIT_FAILED)
        return end
    end = JobEnd(False, outcome.summary, outcome.run_id)
    record_outcome(end)
    print(f"[{outcome.run_id[:8]}] {outcome.summary}")
    if not multirun and outcome.experiment_id is not None:
        print("\n".join(run_lines(cfg.tracking.uri, outcome.experiment_id, outcome.run_id)))
    return end


def _crash(exc: Exception, job_dir: str) -> str:
    """One line for an unexpected error in a sweep's job; the traceback goes to its folder."""
    path = Path(job_dir) / "traceback.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(traceback.format_exception(exc)))
    first = " ".join(str(exc).split())[:200] or type(exc).__name__
    return f"the job crashed ({type(exc).__name__}: {first}); traceback in {path}"


def hydra_entry() -> None:
    task()
