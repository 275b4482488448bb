"""A Hydra callback saying, at a sweep's start and end, its id, where its runs are and the
report command for it: `tinyexp report` needs the id, and nothing else prints it. A single
job says where its run is (:func:`run_lines`)."""

from __future__ import annotations

from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from tinyexp.cli.search_cmd import is_search_multirun
from tinyexp.tracking.experiment_view import run_link, runs_link
from tinyexp.tracking.store import default_tracking_uri, existing_store_client
from tinyexp.tracking.sweep import sweep_id_from_overrides

_MLFLOW_UI = "http://127.0.0.1:5000"  # where `mlflow ui` serves by default


def sweep_lines(config: DictConfig, experiment_id: str | None = None) -> list[str]:
    """The sweep's id, its store, experiment and parent run, and the commands that show it;
    with the experiment's id, the address of its runs in MLflow's UI."""
    overrides = list(config.hydra.overrides.task)
    sweep = str(config.sweep.id) if config.sweep.id else sweep_id_from_overrides(overrides)
    uri = str(config.tracking.uri or default_tracking_uri())
    experiment = str(config.tracking.experiment)
    store_args = (f" tracking.uri={uri}" if config.tracking.uri else "") + (
        f" tracking.experiment={experiment}" if experiment != "tinyexp" else "")
    lines = [f"sweep {sweep}: runs in MLflow {uri}, experiment {experiment!r}, under parent run 'sweep {sweep}'",
             f"  report: tinyexp report sweep.id={sweep}{store_args}", *_browse(uri)]
    if experiment_id is not None:
        lines.append(f"  runs:   {_server(uri)}/{runs_link(experiment_id)}")
    return lines


def run_lines(tracking_uri: str | None, experiment_id: str, run_id: str) -> list[str]:
    """Where a single job's run is: how to serve a local store, and the run's page in MLflow's UI."""
    uri = tracking_uri or default_tracking_uri()
    return [*_browse(uri), f"  run:    {_server(uri)}/{run_link(experiment_id, run_id)}"]


def _server(uri: str) -> str:
    """The UI's address: the tracking server itself, or where `mlflow ui` serves a local store."""
    return uri.rstrip("/") if uri.startswith("http") else _MLFLOW_UI


def _browse(uri: str) -> list[str]:
    """The command serving a local store's UI (a tracking server serves its own)."""
    return [] if uri.startswith("http") else [f"  browse: mlflow ui --backend-store-uri {uri}"]


def _experiment_id(config: DictConfig) -> str | None:
    client = existing_store_client(config.tracking.uri)
    found = client.get_experiment_by_name(str(config.tracking.experiment)) if client else None
    return found.experiment_id if found is not None else None


class SweepBanner(Callback):
    """Silent for a search (hydra/sweeper=search): it prints its own id, study and front."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if is_search_multirun(config.hydra):
            return
        print("tinyexp: " + "\n".join(sweep_lines(config)), flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if is_search_multirun(config.hydra):
            return
        print("tinyexp: done: " + "\n".join(sweep_lines(config, _experiment_id(config))), flush=True)
