"""A board farm on Ray: the deploy-and-measure step runs on the node that holds the job's board.

Under ``hydra/launcher=ray`` (the hydra-ray-launcher plugin) every job runs in a Ray worker.
Training, conversion and evaluation stay where the job runs (the CPU nodes, with their own
training cache); only deploying and measuring is sent on, as one Ray task that asks for the
board's custom resource (``device.ray_resource``, e.g. ``board:nano33ble``) and no CPU. So it
runs only on a node that has that board, never two at once on one board, and the model
bytes travel with the task through Ray's object store: board hosts share no directory with
the trainers. Without a resource (the virtual board) the task asks for one CPU and may run
on any node.

A board host's ports come from its board-host file (tinyexp.device.board_host), named by
the environment variable TINYEXP_BOARD_HOST_FILE of its `ray start`. The board's readiness
(toolchain, port: DeviceBackend.check_ready) is checked there too, just before deploying:
the training node has neither. Before training, a job only checks that some live node of
the cluster offers its board.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from agent.errors import DeviceError as AgentDeviceError
from agent.session import Measurement, MeasurementError, measure_board
from tinyexp.core.errors import ConfigError, DeviceError, TinyexpError
from tinyexp.device.base import DeployRequest, load_backend
from tinyexp.device.board_host import BOARD_HOST_ENV, free_port_for

# How often a waiting job checks that some live node still offers its board.
_POLL_S = 2.0


def in_ray_worker() -> bool:
    """Whether this job runs inside a Ray worker (hydra/launcher=ray); never imports Ray."""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def check_tracking(uri: str | None) -> None:
    """Under Ray a job's directory is the node's, not the user's: the default store
    (mlruns/ under the working directory) would land on whichever node ran the job."""
    if uri is None and in_ray_worker():
        raise ConfigError("tracking.uri=None under a Ray launcher: give the farm's tracking server "
                          "(tracking.uri=http://HOST:5000) or an absolute store URI")


def ray_node_id() -> str | None:
    """The Ray node this job runs on (None outside a Ray worker)."""
    if not in_ray_worker():
        return None
    import ray

    return str(ray.get_runtime_context().get_node_id())


def dead_ray_nodes() -> set[str]:
    """Ids of the nodes the cluster reports dead (empty outside a Ray worker): their jobs'
    runs can be ended by any node (tinyexp.tracking.sweep.reap_orphans)."""
    if not in_ray_worker():
        return set()
    import ray

    return {str(n["NodeID"]) for n in ray.nodes() if not n.get("Alive", True)}


def remote_board(device: Mapping[str, Any]) -> str | None:
    """The board resource the job's measuring step asks for, when it runs in a Ray worker."""
    resource = device.get("ray_resource")
    return str(resource) if resource and in_ray_worker() else None


def _offered(resource: str) -> bool:
    """Whether a live node of the cluster offers ``resource`` (dead nodes' resources are gone)."""
    import ray

    return ray.cluster_resources().get(resource, 0) >= 1


def check_board_offered(resource: str) -> None:
    """Before training: DeviceError unless a live node of the cluster offers ``resource``."""
    if not _offered(resource):
        raise DeviceError(_nobody_offers(resource))


def _nobody_offers(resource: str) -> str:
    return (f"no live node of the Ray cluster offers {resource} (start a board host with "
            f"ray start --resources='{{\"{resource}\": 1}}')")


@dataclass(frozen=True)
class RemoteMeasurement:
    """What the board node sends back: the measurement or the failure, and where it ran."""

    node: str
    readiness: Mapping[str, str] = field(default_factory=dict)  # check_ready's tags, on the board node
    measurement: Measurement | None = None
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    error: str | None = None
    transcript: tuple[str, ...] = ()


def _node_name() -> str:
    import ray

    return f"{socket.gethostname()}/{ray.get_runtime_context().get_node_id()[:12]}"


def _measure_here(device: Mapping[str, Any], board: Mapping[str, Any], request: DeployRequest,
                  samples: Sequence[Sequence[float]], sample_dtype: str, options: Mapping[str, Any]) -> RemoteMeasurement:
    """On the board node: check the board is ready, deploy with the configured backend,
    measure, report (never raise)."""
    node = _node_name()
    device = dict(device)
    readiness: dict[str, str] = {}
    if not device.get("port") and os.environ.get(BOARD_HOST_ENV):
        device["port"] = free_port_for(Path(os.environ[BOARD_HOST_ENV]), str(board["name"]))
    try:
        with tempfile.TemporaryDirectory(prefix="tinyexp-farm-") as tmp:
            backend = load_backend(device, board)
            readiness = backend.check_ready()
            with backend.deploy(replace(request, workdir=Path(tmp))) as deployment:
                m = measure_board(deployment.port, request.model, samples, sample_dtype, **options)
    except MeasurementError as exc:
        return RemoteMeasurement(node, readiness, error=str(exc), transcript=tuple(exc.transcript))
    except (AgentDeviceError, TinyexpError, OSError) as exc:
        return RemoteMeasurement(node, readiness, error=str(exc))
    return RemoteMeasurement(node, readiness, m, deployment.flash_bytes, deployment.ram_bytes)


def task_options(device: Mapping[str, Any]) -> dict[str, Any]:
    """Ray options of the measuring task: the board's resource and no CPU, or one CPU.

    No retries: a task lost with its node is reported as this job's failure, and a re-run
    of the sweep measures it again (resume skips only FINISHED jobs)."""
    resource = device.get("ray_resource")
    if resource:
        return {"num_cpus": 0, "resources": {str(resource): 1}, "max_retries": 0}
    return {"num_cpus": 1, "max_retries": 0}


def _wait(ref: Any, resource: str | None) -> RemoteMeasurement:
    """The task's result; DeviceError at once if no live node offers ``resource`` any more."""
    import ray

    while True:
        done, _ = ray.wait([ref], timeout=_POLL_S)
        if done:
            try:
                return ray.get(done[0])
            except ray.exceptions.RayError as exc:
                raise DeviceError(f"the measuring task was lost on the Ray cluster: "
                                  f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
        if resource and not _offered(resource):
            ray.cancel(ref, force=True)
            raise DeviceError(_nobody_offers(resource))


def measure_on_board_node(device: Mapping[str, Any], board: Mapping[str, Any], request: DeployRequest,
                          samples: Sequence[Sequence[float]], sample_dtype: str,
                          **options: Any) -> RemoteMeasurement:
    """Run deploy-and-measure as a Ray task placed by the board's resource; wait for it.

    Raises DeviceError if the task or its node is lost; a failure on the board comes back
    in ``error`` (with the transcript up to it), as the local path would raise it."""
    import ray

    remote = ray.remote(**task_options(device))(_measure_here)
    ref = remote.remote(dict(device), dict(board), request, [list(s) for s in samples], sample_dtype, options)
    return _wait(ref, device.get("ray_resource"))
