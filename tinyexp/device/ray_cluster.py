"""The Ray cluster as a job running in one of its workers sees it.

Only the farm's backend (tinyexp.device.farm) asks these questions; Ray is imported only when
this process already is a Ray worker (hydra/launcher=farm), so nothing else needs Ray installed.
"""

from __future__ import annotations

import socket
import sys

from tinyexp.core.errors import DeviceError


def in_ray_worker() -> bool:
    """Whether this process runs inside an initialised Ray (never imports Ray)."""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def node_id() -> str | None:
    """The Ray node this process runs on (None outside a Ray worker)."""
    if not in_ray_worker():
        return None
    import ray

    return str(ray.get_runtime_context().get_node_id())


def node_name() -> str:
    """This node as a person reads it: host/first 12 characters of the Ray node id."""
    return f"{socket.gethostname()}/{(node_id() or '')[:12]}"


def dead_nodes() -> set[str]:
    """Ids of the nodes the cluster reports dead (empty outside a Ray worker)."""
    if not in_ray_worker():
        return set()
    import ray

    return {str(n["NodeID"]) for n in ray.nodes() if not n.get("Alive", True)}


def offers(resource: str) -> bool:
    """Whether a live node of the cluster offers ``resource`` (dead nodes' resources are gone)."""
    import ray

    return ray.cluster_resources().get(resource, 0) >= 1


def nobody_offers(resource: str) -> DeviceError:
    """The one-line error for a board no live node offers, saying how to offer it."""
    return DeviceError(f"no live node of the Ray cluster offers {resource} (start a board host with "
                       f"ray start --resources='{{\"{resource}\": 1}}')")
