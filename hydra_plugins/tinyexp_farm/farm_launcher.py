"""`hydra/launcher=farm`: the hydra-ray-launcher plugin, made to finish a sweep a node dies in.

Hydra scans every module under hydra_plugins at start, so this one imports neither Ray nor
the Ray plugin: both are loaded when a sweep is launched (installed with tinyexp's [farm]).
"""

from __future__ import annotations

from typing import Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class FarmLauncher(Launcher):
    """Configured as the Ray plugin is (`ray.init`, `ray.remote`); launches through
    tinyexp.cli.farm_launch."""

    def __init__(self, ray: DictConfig) -> None:
        self.ray_cfg = ray
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None
        self.config: DictConfig | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.task_function, self.config = hydra_context, task_function, config

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from tinyexp.cli.farm_launch import launch

        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        return launch(self.ray_cfg, self.config, self.hydra_context, self.task_function,
                      job_overrides, initial_job_idx)


