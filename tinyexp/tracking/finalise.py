"""A run's end written as resumable steps, so a tracking server that drops mid-run costs a wait,
not the job's data.

The end of a run is a list of steps (tinyexp.tracking.store plans them), written once each and
in order: the params added since the start, the metrics, the tags, each artifact, each table,
the `tinyexp.complete` marker (FINISHED runs only) and the end of the run with its status, last.
When a step fails and the store is an http(s) tracking server that does not answer /health
now, the job waits for it
(``tracking.reconnect_s`` seconds in all) and goes on from the failed step; steps already
written are never sent again. A store that answers means a genuine error: the run ends FAILED
(KILLED on an interruption) as it always did. When the wait is spent, what was not written
goes into a local lost-run record (tinyexp.tracking.lost_runs) and the job fails saying where.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from tinyexp.core.errors import TinyexpError, first_line
from tinyexp.core.names import Tag
from tinyexp.tracking import lost_runs, reach


@dataclass(frozen=True)
class Step:
    """One write of a run's end; ``lost`` is its data, kept locally if it is never written."""

    name: str
    write: Callable[[], None]
    lost: Mapping[str, Any] = field(default_factory=dict)


class _ServerGone(Exception):
    """The wait for a dropped server is spent; the steps from index ``done`` on were not written."""

    def __init__(self, done: int, why: str) -> None:
        super().__init__(why)
        self.done = done
        self.why = why


def _write(steps: Sequence[Step], tracking_uri: str, reconnect_s: float) -> None:
    """Write the steps in order; wait for a dropped server (``reconnect_s`` in all) and go on
    from the step that failed. Raises _ServerGone when the wait is spent, else what failed."""
    deadline = None
    done = 0
    while done < len(steps):
        try:
            steps[done].write()
        except Exception as exc:  # MLflow raises many types for a store it cannot reach
            if not reach.dropped(tracking_uri):
                raise
            deadline = time.monotonic() + reconnect_s if deadline is None else deadline
            if not reach.wait_back(tracking_uri, deadline):
                raise _ServerGone(done, first_line(str(exc)) or type(exc).__name__) from exc
        else:
            done += 1


def _lost_data(steps: Sequence[Step]) -> dict[str, Any]:
    """The data of the steps not written, merged: {"metrics": {...}, "artifacts": [...], ...}."""
    lost: dict[str, Any] = {}
    for step in steps:
        for key, value in step.lost.items():
            if isinstance(value, list):
                lost.setdefault(key, []).extend(value)
            else:
                lost.setdefault(key, {}).update(value)
    return lost


def _keep_locally(steps: Sequence[Step], gone: _ServerGone, run: lost_runs.RunRef, reconnect_s: float) -> TinyexpError:
    """Write the lost-run record, let MLflow forget the run, and say so in one line."""
    import mlflow

    lost = _lost_data(steps[gone.done:])
    why = f"the tracking server stopped answering for more than tracking.reconnect_s={reconnect_s:g} s: {gone.why}"
    path = lost_runs.write_record(run, why[:1000], [s.name for s in steps[:gone.done]],
                                  [s.name for s in steps[gone.done:]], lost)
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run.run_id:
        with contextlib.suppress(Exception):  # the store is gone: this only drops MLflow's active run
            mlflow.end_run(status="FAILED")
    return TinyexpError(f"tracking server {run.tracking_uri} did not answer again within tracking.reconnect_s="
                        f"{reconnect_s:g} s: run {run.run_id} ends FAILED in the local record {path} "
                        f"(not logged: {lost_runs.counts(lost)}); the next job against this server ends it there")


def finalise(steps: Sequence[Step], status: str, run: lost_runs.RunRef, reconnect_s: float) -> None:
    """Write the steps (the data, the completeness marker if FINISHED, the status last) of a
    run that ends with ``status``.

    An interruption (or a genuine store error) while writing ends the run KILLED (FAILED)
    instead of the status it held, and propagates; a server that stays away ends the run in a
    local record (TinyexpError)."""
    try:
        _write(steps, run.tracking_uri, reconnect_s)
    except (KeyboardInterrupt, SystemExit):
        end_quietly("KILLED", "interrupted while its data was being written")
        raise
    except _ServerGone as gone:
        raise _keep_locally(steps, gone, run, reconnect_s) from gone
    except BaseException as exc:
        status = "FAILED" if status == "FINISHED" else status
        end_quietly(status, f"writing its data failed: {first_line(str(exc))[:300]}")
        raise


def end_quietly(status: str, why: str) -> None:
    """End the active run with ``status`` and an error tag, even if a second signal arrives."""
    import mlflow

    for _ in range(3):  # a repeated Ctrl-C must not leave the run RUNNING
        try:
            with contextlib.suppress(Exception):
                mlflow.set_tag(Tag.ERROR, why)
            mlflow.end_run(status=status)
            return
        except (KeyboardInterrupt, SystemExit):
            continue
