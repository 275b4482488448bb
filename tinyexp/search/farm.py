"""A search's trials measured on the farm's boards (docs/search.md, "On real boards and the farm").

The trials run where the search runs (its own process, or its joblib workers): training is the
search's, so the training cache and the study stay on this machine. Only each trial's
deploy-and-measure goes to the farm, by the placement every farm job uses:
`device.placement=tinyexp.device.farm.FarmDevice` sends it as a Ray task to a node offering the
board (`device.ray_resource`). That placement needs this process to be in the Ray cluster, which
a sweep's jobs are by hydra/launcher=farm; a search joins it here, once per process, before its
first trial: `ray.init()` finds the cluster as Ray does (`RAY_ADDRESS`, else the cluster `ray
start` began on this machine, else a local Ray).
"""

from __future__ import annotations

from typing import Any

from tinyexp.core.errors import ConfigError
from tinyexp.device.farm import PLACEMENT


def join_farm(cfg: Any) -> bool:
    """Join the Ray cluster when the trials' config (`cfg`, a typed Config) places their
    measurement on the farm; True if it does. ConfigError, before any work, when the runs could
    not be tracked for everyone or Ray is not installed."""
    if cfg.device.placement != PLACEMENT:
        return False
    if cfg.tracking.uri is None:
        raise ConfigError(f"tracking.uri=None with device.placement={PLACEMENT}: a search on the farm logs where "
                          "every farm job does; give the farm's tracking server (tracking.uri=http://HOST:5000) "
                          "or an absolute store URI")
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(f"device.placement={PLACEMENT} measures through a Ray cluster, and Ray is not "
                          "installed: pip install -e '.[farm]'") from exc
    if not ray.is_initialized():
        ray.init()
    return True
