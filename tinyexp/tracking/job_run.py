"""The life of one job's MLflow run, as one context the job's stages run inside.

Before a job starts, the store is put in order: runs whose tracking server dropped for good
are ended FAILED from their local records (tinyexp.tracking.lost_runs), THEN the RUNNING runs
of dead processes and dead Ray nodes are ended KILLED (tinyexp.tracking.sweep.reap_orphans).
Settling comes first because reaping would end a lost run KILLED, hiding why it ended.

In a sweep the job is then claimed: under one lock per (store, sweep, config) it is checked
against the sweep's complete runs and its RUNNING runs (another command's claim), and the lock
is held until the job's own RUNNING run exists, which is the claim from then on. A job found
done or running is skipped: `JobRun.skipped` says so, and no run is opened.

The caller (tinyexp.pipeline.runner) hands over what only it can know as plain values: the
config's hash, the sweep's id, the Ray node it runs on and the cluster's dead nodes.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

from filelock import FileLock

from tinyexp.core.config import TrackingConfig
from tinyexp.core.names import Tag
from tinyexp.tracking import lost_runs, sweep
from tinyexp.tracking.store import RunRecord, configure, tracked_run


@dataclass(frozen=True)
class JobPlace:
    """Where a job's run is recorded, which job it is, and who runs it."""

    tracking: TrackingConfig
    config_hash: str
    sweep_id: str | None = None  # None outside a sweep
    input_files: str | None = None  # the digest of the model and data files it reads, if any
    resume: bool = True  # in a sweep, skip a job that is complete or running elsewhere
    ray_node: str | None = None  # the Ray node this job runs on, in a farm
    dead_ray_nodes: frozenset[str] = frozenset()  # the cluster's dead nodes, whose runs are reaped


@dataclass(frozen=True)
class Skipped:
    """A job not run again: the run that already holds it, and why, in words."""

    run_id: str
    reason: str


@dataclass(frozen=True)
class JobRun:
    """Yielded by `job_run`: whether the job is skipped, and the opening of its MLflow run."""

    experiment_id: str
    record: RunRecord
    place: JobPlace
    parent_run_id: str | None = None
    claim: FileLock | None = None  # held, in a sweep, until the job's run exists
    skipped: Skipped | None = None

    @contextlib.contextmanager
    def tracked(self, run_name: str) -> Iterator[str]:
        """The job's MLflow run (tinyexp.tracking.store.tracked_run), logging the record when the
        body ends however it ends; the sweep's claim is released once the run exists."""
        with tracked_run(self.experiment_id, run_name, self.record, self.parent_run_id,
                         self.place.tracking.reconnect_s) as run_id:
            if self.claim is not None:
                self.claim.release()  # the RUNNING run is the claim from here on
            yield run_id


@contextlib.contextmanager
def job_run(place: JobPlace, record: RunRecord) -> Iterator[JobRun]:
    """Put the store in order, tag ``record`` with who owns the job, and (in a sweep) hold the
    job's claim while the caller prepares and opens its run with `JobRun.tracked`."""
    from mlflow.tracking import MlflowClient

    experiment_id = configure(place.tracking.uri, place.tracking.experiment)
    client = MlflowClient()
    lost_runs.settle(client)  # before reaping, which would end a lost run KILLED, not FAILED
    sweep.reap_orphans(client, experiment_id, place.dead_ray_nodes)
    record.tags.update(sweep.owner_tags(place.ray_node))
    record.tags[Tag.CONFIG_HASH] = place.config_hash
    if place.input_files is not None:
        record.tags[Tag.INPUT_FILES_DIGEST] = place.input_files
    if place.sweep_id is None:
        yield JobRun(experiment_id, record, place)
        return
    parent_run_id = sweep.ensure_parent(client, experiment_id, place.sweep_id)
    record.tags[Tag.SWEEP_ID] = place.sweep_id
    with sweep.claim_lock(str(client.tracking_uri), experiment_id, place.sweep_id, place.config_hash) as claim:
        skipped = _already_done(client, experiment_id, place) if place.resume else None
        yield JobRun(experiment_id, record, place, parent_run_id, claim, skipped)


def _already_done(client: Any, experiment_id: str, place: JobPlace) -> Skipped | None:  # noqa: ANN401
    """Why this job is not run again: it is complete in the sweep (on the same file contents,
    when it reads files), or running in another command."""
    sweep_id, digest = str(place.sweep_id), place.config_hash
    finished = sweep.finished_duplicate(client, experiment_id, sweep_id, digest, place.input_files)
    if finished is not None:
        return Skipped(finished, f"an identical config already finished (run {finished})")
    running = sweep.running_duplicate(client, experiment_id, sweep_id, digest)
    if running is not None:
        return Skipped(running, f"an identical config is running in another command (run {running})")
    return None
