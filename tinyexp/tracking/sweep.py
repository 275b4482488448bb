"""Sweeps as one thing in MLflow: a parent run, resumable children, no run left RUNNING.

- Every child carries the tag `sweep_id`; the sweep's parent run has the same tag and
  `tinyexp.role=sweep`, and children are nested under it (`mlflow.parentRunId`), so the UI
  shows a sweep together.
- Resume: running a sweep again (same `sweep.id`, or the same command line) skips the jobs
  whose resolved config (by hash, ignoring where it is tracked) already FINISHED in that
  sweep with all its data (the `tinyexp.complete` marker); failed, killed, half-written or
  missing jobs run again. A job is claimed before it runs: the check and the creation of
  its RUNNING run happen under one lock, so a second command running the same sweep skips it.
- A process killed outright (SIGKILL, power loss) cannot end its own run, so every job start
  first marks as KILLED the RUNNING runs whose process, on this host, no longer exists, or
  (in a Ray farm) whose Ray node the cluster reports dead; and a command whose jobs have all
  returned marks as KILLED any run of its own still RUNNING (its job was lost with its node).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Any, Collection, Iterable

import yaml
from filelock import FileLock

from tinyexp.core.config import TRAIN_KEYED_UNLESS, Config, as_plain
from tinyexp.core.names import Tag
from tinyexp.core.processes import alive
from tinyexp.tracking.completeness import SWEEP_ROLE, complete_runs

_UNHASHED_GROUPS = ("tracking", "sweep")
# How a job is placed and paced, not what it measures: a farm run and a local run of one
# config are the same job (device.realtime changes wall-clock time only, not the figures).
# The board's declared power and the meter's wiring (its port, its input, the sketch's energy pin,
# which toggles outside the timed interval) describe how energy is derived, not the job:
# a sweep run before energy existed still resumes (its runs simply carry no energy figure). The
# board's transfer facts (fpu, flash wait states, kernel library) describe the board, as its
# shipped calibration data does, which is not hashed either; hashing any of these would change
# the hash of every config written before they existed (the study's among them).
_UNHASHED_KEYS = {"device": ("realtime", "ray_resource", "placement", "power_monitor_port", "power_trigger_channel",
                             "energy_pin"),
                  "board": ("supply_voltage_v", "active_current_ma", "active_current_low_ma",
                            "active_current_high_ma", "power_source", "fpu", "flash_wait_states", "kernels")}
# Keys hashed only away from their default: a meter changes what a job measures, no meter nothing;
# early stopping changes the weights, its default (off) nothing.
_HASHED_UNLESS = {"device": {"power_monitor": "none", "power_windows": 5}, "train": TRAIN_KEYED_UNLESS}
_PARENT_LOCK_DIR = Path(tempfile.gettempdir()) / "tinyexp-sweep-locks"
_UNHASHED_OVERRIDES = ("tracking", "sweep", "hydra")
# Set by the command line for every job it launches (tinyexp.cli.outcomes.begin_command).
COMMAND_ID_ENV = "TINYEXP_COMMAND_ID"


def config_hash(cfg: Config) -> str:
    """SHA-256 of the resolved config minus where it is tracked, which sweep ran it, and where
    and at what pace it ran."""
    data = {k: v for k, v in as_plain(cfg).items() if k not in _UNHASHED_GROUPS}
    for group, keys in _UNHASHED_KEYS.items():
        data[group] = {k: v for k, v in data.get(group, {}).items() if k not in keys}
    for group, defaults in _HASHED_UNLESS.items():
        data[group] = {k: v for k, v in data.get(group, {}).items() if k not in defaults or v != defaults[k]}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:24]


def is_unhashed_param(key: str) -> bool:
    """Whether a logged param (`device.placement`) lies outside the config hash, so readers of
    runs (the report) tell configurations apart by the same rule as resume."""
    group, _, name = key.partition(".")
    return group in _UNHASHED_GROUPS or name in _UNHASHED_KEYS.get(group, ())


def sweep_id(cfg: Config, sweep_dir: str) -> str:
    """The configured sweep id, or one derived from the sweep's command line.

    The same command line gives the same id, so running a sweep again resumes it. Hydra
    writes the command line's overrides to multirun.yaml in the sweep directory before any
    job starts; where it cannot be read, the directory (a timestamp) names the sweep. A
    derived id follows the rule validate() applies to `sweep.id` (SWEEP_ID_PATTERN), since
    it is quoted into MLflow filter strings the same way.
    """
    if cfg.sweep.id:
        return str(cfg.sweep.id)
    saved = Path(sweep_dir) / "multirun.yaml"
    if not saved.exists():
        return re.sub(r"[^A-Za-z0-9_.-]", "_", "sweep-" + "_".join(Path(sweep_dir).parts[-2:]))[:64]
    return sweep_id_from_overrides(yaml.safe_load(saved.read_text())["hydra"]["overrides"]["task"])


def sweep_id_from_overrides(overrides: Iterable[Any]) -> str:
    """The id a sweep's command line gives it: where it is tracked and launched does not count."""
    kept = sorted(str(o) for o in overrides if not str(o).lstrip("+~").startswith(_UNHASHED_OVERRIDES))
    return "sweep-" + hashlib.sha256("\n".join(kept).encode()).hexdigest()[:12]


def finished_runs(client: Any, experiment_id: str, sweep: str) -> dict[str, str]:
    """Config hash -> run id of every complete job run of the sweep (tinyexp.tracking.completeness)."""
    found: dict[str, str] = {}
    for run in complete_runs(client, [experiment_id], f"tags.{Tag.SWEEP_ID} = '{sweep}'"):
        digest = run.data.tags.get(Tag.CONFIG_HASH)
        if digest:
            found.setdefault(digest, run.info.run_id)
    return found


def owner_tags(ray_node: str | None = None) -> dict[str, str]:
    """Who runs this job, so a later start (or its own command) can tell whether it is gone:
    host and process, the command that launched it, and its Ray node in a farm."""
    tags = {Tag.HOST: socket.gethostname(), Tag.PID: str(os.getpid())}
    if os.environ.get(COMMAND_ID_ENV):
        tags[Tag.COMMAND] = os.environ[COMMAND_ID_ENV]
    if ray_node:
        tags[Tag.RAY_NODE] = ray_node
    return tags


def _orphaned(tags: dict[str, str], host: str, dead_nodes: Collection[str]) -> str | None:
    """Why a RUNNING run's owner is known to be gone, or None if it may be alive."""
    if tags.get(Tag.RAY_NODE) in dead_nodes:
        return "its Ray node died"
    if tags.get(Tag.HOST) == host and tags.get(Tag.PID, "").isdigit() and not alive(int(tags[Tag.PID])):
        return "process died without ending its run"
    return None


def reap_orphans(client: Any, experiment_id: str, dead_nodes: Collection[str] = ()) -> list[str]:
    """End as KILLED the RUNNING runs started on this host by a process that has died, and
    those of a Ray node in ``dead_nodes`` (whichever host asks)."""
    host = socket.gethostname()
    reaped = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'"):
        why = _orphaned(run.data.tags, host, dead_nodes)
        if why is not None:
            _kill(client, run.info.run_id, f"{why} (marked on a later start)")
            reaped.append(run.info.run_id)
    return reaped


def reap_command(client: Any, experiment_id: str, command_id: str) -> list[str]:
    """End as KILLED the runs of ``command_id`` still RUNNING once all of its jobs have returned:
    their jobs were lost (a Ray node or worker died under them) before they could end them."""
    runs = client.search_runs([experiment_id], filter_string=f"attributes.status = 'RUNNING' and "
                                                             f"tags.`{Tag.COMMAND}` = '{command_id}'")
    for run in runs:
        _kill(client, run.info.run_id, "its job was lost with its Ray node or worker (marked by its sweep command)")
    return [run.info.run_id for run in runs]


def _kill(client: Any, run_id: str, why: str) -> None:
    client.set_tag(run_id, Tag.ERROR, why)
    client.set_terminated(run_id, status="KILLED")


def finished_duplicate(client: Any, experiment_id: str, sweep: str, digest: str,
                       input_files: str | None = None) -> str | None:
    """The id of a complete run of this sweep with this config hash, if any; for a job that
    reads files, one that read the same contents (a run of a version before the digest was
    recorded does not count: the job runs once more)."""
    same_files = [f"tags.{Tag.INPUT_FILES_DIGEST} = '{input_files}'"] if input_files is not None else []
    runs = complete_runs(client, [experiment_id], f"tags.{Tag.CONFIG_HASH} = '{digest}'",
                         f"tags.{Tag.SWEEP_ID} = '{sweep}'", *same_files)
    return next((run.info.run_id for run in runs), None)


def running_duplicate(client: Any, experiment_id: str, sweep: str, digest: str) -> str | None:
    """The id of a RUNNING run of this sweep with this config hash: a claim by another command
    (runs of dead processes on this host were reaped just before)."""
    runs = client.search_runs([experiment_id], max_results=1,
                              filter_string=f"tags.{Tag.CONFIG_HASH} = '{digest}' and tags.{Tag.SWEEP_ID} = '{sweep}' "
                                            "and attributes.status = 'RUNNING'")
    return runs[0].info.run_id if runs else None


def claim_lock(tracking_uri: str, experiment_id: str, sweep: str, digest: str) -> FileLock:
    """Held from "is this job done or running?" until its run exists in the store, so two
    commands running one sweep at once on this machine never both start the same job."""
    return _parent_lock(tracking_uri, experiment_id, f"{sweep}\n{digest}")


def _parent_lock(tracking_uri: str, experiment_id: str, sweep: str) -> FileLock:
    """One lock per (store, experiment, sweep) on this machine, whichever command holds it."""
    key = hashlib.sha256(f"{tracking_uri}\n{experiment_id}\n{sweep}".encode()).hexdigest()[:16]
    _PARENT_LOCK_DIR.mkdir(parents=True, exist_ok=True)
    return FileLock(str(_PARENT_LOCK_DIR / f"{key}.lock"))


def ensure_parent(client: Any, experiment_id: str, sweep: str) -> str:
    """The sweep's parent run id, created once even when jobs, or whole commands with the
    same sweep id, start in parallel on this machine."""
    with _parent_lock(str(client.tracking_uri), experiment_id, sweep):
        found = client.search_runs([experiment_id], max_results=1,
                                   filter_string=f"tags.{Tag.ROLE} = '{SWEEP_ROLE}' and tags.{Tag.SWEEP_ID} = '{sweep}'")
        if found:
            return found[0].info.run_id
        run = client.create_run(experiment_id, run_name=f"sweep {sweep}",
                                tags={Tag.ROLE: SWEEP_ROLE, Tag.SWEEP_ID: sweep})
        client.set_terminated(run.info.run_id, status="FINISHED")  # a container, never RUNNING
        return run.info.run_id
