"""The farm as a device backend: another backend's deploy-and-measure, placed by Ray on the
node that has the board (docs/farm.md).

`device.placement=tinyexp.device.farm.FarmDevice` (set by hydra/launcher=farm for every job
it launches) wraps the backend named by `device.backend`. The job trains where Ray put it;
its deploy-and-measure step is a separate Ray task that asks for the board's custom resource
(`device.ray_resource`, e.g. "board:nano33ble") and no CPU, so it runs on a node with that
board, one task per board at a time. The model goes with the task through Ray's object store:
board hosts need no shared cache or directory. Without a resource (the virtual board) the
task asks for one CPU and may run on any node.

A board host's ports come from its board-host file (tinyexp.device.board_host), named by
the environment variable TINYEXP_BOARD_HOST_FILE of its `ray start`. The board's readiness
(toolchain, port: check_ready) is checked there too, just before deploying: the training node
has neither. Before training, a job only checks that some live node of the cluster offers its
board.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from agent.errors import BoardLinkError
from agent.session import MeasurementError
from tinyexp.core.config import BoardConfig, DeviceConfig
from tinyexp.core.errors import ConfigError, DeviceError, TinyexpError
from tinyexp.device import ray_cluster
from tinyexp.device.base import BoardMeasurement, DeployRequest, DeviceBackend, SessionSettings, backend_class
from tinyexp.device.board_host import BOARD_HOST_ENV, free_port_for

PLACEMENT = f"{__name__}.FarmDevice"  # the device.placement value that selects this backend
# How often a waiting job checks that some live node still offers its board.
_POLL_S = 2.0


@dataclass(frozen=True)
class NodeOutcome:
    """What the board node sends back: the measurement or the failure, and where it ran."""

    node: str
    readiness: Mapping[str, str] = field(default_factory=dict)  # check_ready's tags, on the board node
    result: BoardMeasurement | None = None
    error: str | None = None
    transcript: tuple[str, ...] = ()


def task_options(device: DeviceConfig) -> dict[str, Any]:
    """Ray options of the measuring task: the board's resource and no CPU, or one CPU.

    No retries: a task lost with its node is reported as this job's failure, and a re-run
    of the sweep measures it again (resume skips only FINISHED jobs)."""
    if device.ray_resource:
        return {"num_cpus": 0, "resources": {device.ray_resource: 1}, "max_retries": 0}
    return {"num_cpus": 1, "max_retries": 0}


def measure_on_this_node(device: DeviceConfig, board: BoardConfig, request: DeployRequest,
                         inputs: Sequence[Sequence[float]], input_dtype: str,
                         settings: SessionSettings) -> NodeOutcome:
    """The Ray task, on the board node: check the board is ready, deploy and measure with the
    backend ``device.backend`` names, report (never raise: the job says what failed)."""
    node = ray_cluster.node_name()
    readiness: dict[str, str] = {}
    try:
        if not device.port and os.environ.get(BOARD_HOST_ENV):
            device = replace(device, port=free_port_for(Path(os.environ[BOARD_HOST_ENV]), board.name))
        backend = backend_class(device.backend)(device, board)
        readiness = backend.check_ready()
        with tempfile.TemporaryDirectory(prefix="tinyexp-farm-") as tmp:
            result = backend.measure(replace(request, workdir=Path(tmp)), inputs, input_dtype, settings)
    except MeasurementError as exc:
        return NodeOutcome(node, readiness, error=str(exc), transcript=tuple(exc.transcript))
    except (BoardLinkError, TinyexpError, OSError) as exc:
        return NodeOutcome(node, readiness, error=str(exc))
    return NodeOutcome(node, readiness, result)


def _wait(ref: Any, resource: str | None) -> NodeOutcome:
    """The task's outcome; DeviceError at once if no live node offers ``resource`` any more."""
    import ray

    while True:
        done, _ = ray.wait([ref], timeout=_POLL_S)
        if done:
            try:
                return ray.get(done[0])
            except ray.exceptions.RayError as exc:
                raise DeviceError(f"the measuring task was lost on the Ray cluster: "
                                  f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
        if resource and not ray_cluster.offers(resource):
            ray.cancel(ref, force=True)
            raise ray_cluster.nobody_offers(resource)


class FarmDevice(DeviceBackend):
    """device.placement=tinyexp.device.farm.FarmDevice: ``device.backend``'s deploy-and-measure
    as a Ray task on a node offering ``device.ray_resource``."""

    def __init__(self, device: DeviceConfig, board: BoardConfig) -> None:
        super().__init__(device, board)
        self.placed = backend_class(device.backend)  # constructed on the board node
        self.estimated_clock = self.placed.estimated_clock
        self.resource = device.ray_resource or None

    def check_tracking(self, uri: str | None) -> None:
        """A Ray job's directory is the node's, not the user's: the default store (mlruns/
        under the working directory) would land on whichever node ran the job."""
        if uri is None:
            raise ConfigError("tracking.uri=None under a Ray launcher: give the farm's tracking server "
                              "(tracking.uri=http://HOST:5000) or an absolute store URI")

    def job_node(self) -> str | None:
        return ray_cluster.node_id()

    def dead_nodes(self) -> set[str]:
        return ray_cluster.dead_nodes()

    def check_ready(self) -> dict[str, str]:
        """The board node checks the board before deploying; here, only that some live node
        offers it (without a resource, the task may run anywhere: checked here as it would be)."""
        if not ray_cluster.in_ray_worker():
            raise ConfigError(f"device.placement={PLACEMENT} measures through a Ray cluster: "
                              "run the job with hydra/launcher=farm")
        if self.resource is None:
            return self.placed(self.device, self.board).check_ready()
        if not ray_cluster.offers(self.resource):
            raise ray_cluster.nobody_offers(self.resource)
        return {}

    def measure(self, request: DeployRequest, inputs: Sequence[Sequence[float]], input_dtype: str,
                settings: SessionSettings) -> BoardMeasurement:
        """Run the task and wait; a failure on the board node is raised as it would be here,
        naming the node. DeviceError if the task or its node is lost."""
        import ray

        task = ray.remote(**task_options(self.device))(measure_on_this_node)
        ref = task.remote(self.device, self.board, request, [list(s) for s in inputs],
                          input_dtype, settings)
        outcome = _wait(ref, self.resource)
        if outcome.result is None:
            where = f"{outcome.error} (on farm node {outcome.node})"
            if outcome.transcript:
                raise MeasurementError(where, list(outcome.transcript))
            raise DeviceError(where)
        return replace(outcome.result, node=outcome.node, readiness=dict(outcome.readiness))
