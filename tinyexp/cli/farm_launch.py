"""Launch a sweep's jobs on a Ray cluster and see every one of them end, even on a dead node.

`hydra/launcher=farm` (hydra_plugins/tinyexp_farm) uses the Ray plugin's job wrapper and
configuration (`ray.init`, `ray.remote`), but launches here, because the plugin's own launch
collects results in turn and stops at the first job lost with its node: the command ends with
a traceback, the jobs still running are ended with it (Ray ends a finished driver's tasks),
and their runs stay RUNNING. Here every job is waited for; a lost job is a failed job with
one line; once all have returned, the command ends KILLED any of its own runs still RUNNING
(tinyexp.tracking.sweep.reap_command): a job can only have left one so by being lost.

Every job is given `device.placement=tinyexp.device.farm.FarmDevice` (unless the command line
names another placement): its deploy-and-measure step becomes a Ray task on a node with its
board, and the job asks the cluster, not this host, which nodes are dead.

Outcomes (tinyexp.cli.outcomes) are recorded by this process from what the jobs return: a job
on another host cannot write into the command's folder. The jobs learn the command's id (their
runs' tag `tinyexp.command`) through Ray's runtime environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf, open_dict

from tinyexp.cli.outcomes import OUTCOMES_ENV, JobEnd, record_outcome
from tinyexp.core.cli_args import print_error
from tinyexp.core.errors import TinyexpError
from tinyexp.device.farm import PLACEMENT as FARM_PLACEMENT
from tinyexp.tracking.sweep import COMMAND_ID_ENV


def _start_ray(init: DictConfig) -> None:
    """ray.init as configured, passing the command's id to its jobs (and not its outcome
    folder: a job's outcome comes back to this process)."""
    import ray

    if ray.is_initialized():
        return
    options: dict[str, Any] = OmegaConf.to_container(init, resolve=True) if init else {}  # type: ignore[assignment]
    runtime_env = dict(options.get("runtime_env") or {})
    runtime_env["env_vars"] = {**(runtime_env.get("env_vars") or {}),
                               COMMAND_ID_ENV: os.environ.get(COMMAND_ID_ENV, ""), OUTCOMES_ENV: ""}
    ray.init(**{**options, "runtime_env": runtime_env})


def _job_end(job_return: Any) -> JobEnd:
    """How a job that returned ended (a task that raised is failed, its error its message)."""
    try:
        value = job_return.return_value
    except Exception as exc:  # noqa: BLE001 - Hydra re-raises the job's own exception here
        return JobEnd(True, f"the job raised {type(exc).__name__}: {exc}")
    return value if isinstance(value, JobEnd) else JobEnd(True, f"the job returned {value!r}")


def _wait(ref: Any, label: str) -> tuple[Any, bool]:
    """The job's JobReturn (a made-up one when the job was lost with its node or worker) and
    whether it was lost; how it ended is recorded as the command's outcome."""
    import ray
    from hydra.core.utils import JobReturn, JobStatus

    try:
        job_return = ray.get(ref)
    except ray.exceptions.RayError as exc:
        end = JobEnd(True, f"job {label} was lost on the Ray cluster ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200] if str(exc) else ''})")
        print_error(end.message)
        record_outcome(end)
        return JobReturn(status=JobStatus.COMPLETED, _return_value=end), True
    record_outcome(_job_end(job_return))
    return job_return, False


def open_sweeps(job_configs: Sequence[DictConfig], sweep_dir: str) -> None:
    """Create each tracking server's experiment and the sweep's parent run here, once, before
    any job starts. The farm's jobs start together on several hosts, and the lock that lets
    one job alone create the parent is a file on one machine: without this, each host could
    create a parent of its own. A store this fails on is left to the jobs, which say why."""
    from mlflow.tracking import MlflowClient

    from tinyexp.tracking.store import configure
    from tinyexp.tracking.sweep import ensure_parent, sweep_id

    # A job without tracking.uri logs to its own host's local store: nothing shared to open.
    # (sweep_id reads only `sweep.id` of the config it is given.)
    sweeps = {(str(c.tracking.uri), str(c.tracking.experiment), sweep_id(c, sweep_dir))  # type: ignore[arg-type]
              for c in job_configs if c.tracking.uri}
    for uri, experiment, sweep in sorted(sweeps):
        try:
            experiment_id = configure(uri, experiment)  # a store it cannot use: one TinyexpError
            ensure_parent(MlflowClient(tracking_uri=uri), experiment_id, sweep)
        except TinyexpError as exc:
            print_error(f"sweep {sweep} could not be opened in {uri} before its jobs start ({exc})")


def _reap_lost_runs(stores: set[tuple[str, str]]) -> None:
    """End KILLED this command's runs still RUNNING, in every store its jobs logged to. (A job
    that returned has ended its run, or left it to its local lost-run record when its
    tracking server dropped: tinyexp.tracking.lost_runs.)"""
    from tinyexp.tracking.store import existing_store_client
    from tinyexp.tracking.sweep import reap_command

    command = os.environ.get(COMMAND_ID_ENV)
    for uri, experiment in sorted(stores):
        try:
            client = existing_store_client(uri) if command else None
            found = client.get_experiment_by_name(experiment) if client is not None else None
            reaped = reap_command(client, found.experiment_id, command) if found is not None else []
        except Exception as exc:  # noqa: BLE001 - MLflow raises many types for a store it cannot reach
            print_error(f"the runs of lost jobs could not be ended in {uri} ({type(exc).__name__}); "
                        "a later job ends them KILLED")
            continue
        if reaped:
            print_error(f"{len(reaped)} run(s) of lost jobs ended KILLED in {uri}")


def launch(ray_cfg: DictConfig, config: DictConfig, hydra_context: Any, task_function: Any,
           job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> list[Any]:
    """Submit every job as a Ray task (the Ray plugin's wrapper), wait for all, account for each."""
    import ray
    from hydra.core.singleton import Singleton
    from hydra.core.utils import configure_log, filter_overrides, setup_globals
    from hydra_plugins.hydra_ray_launcher._launcher_util import launch_job_on_ray

    setup_globals()
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    Path(str(config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    _start_ray(ray_cfg.init)
    job_configs = []
    for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
        job_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
        with open_dict(job_config):
            job_config.hydra.job.id = f"ray-{idx}"
            job_config.hydra.job.num = idx
            job_config.device.placement = job_config.device.placement or FARM_PLACEMENT
        job_configs.append((idx, overrides, job_config))
    open_sweeps([c for _, _, c in job_configs], str(config.hydra.sweep.dir))
    jobs, stores = [], set()
    for idx, overrides, job_config in job_configs:
        stores.add((str(job_config.tracking.uri), str(job_config.tracking.experiment)))
        ref = launch_job_on_ray(hydra_context, ray_cfg.remote, job_config, task_function, Singleton.get_state())
        jobs.append((f"#{idx} ({' '.join(filter_overrides(overrides))})", ref))
    try:
        returns, lost = zip(*[_wait(ref, label) for label, ref in jobs])
    except KeyboardInterrupt:  # Ctrl-C: stop every job, then end the runs they leave
        for _, ref in jobs:
            ray.cancel(ref, force=True)
        ray.wait([ref for _, ref in jobs], num_returns=len(jobs), timeout=30)
        _reap_lost_runs(stores)
        raise
    if any(lost):
        _reap_lost_runs(stores)
    return list(returns)
