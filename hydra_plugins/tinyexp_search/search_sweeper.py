"""`hydra/sweeper=search`: a search (`tinyexp search`) started as a Hydra multirun.

Hydra scans every module under hydra_plugins at start, so this one imports no tinyexp code
until a search is swept: tinyexp.cli.search_sweeper runs it.
"""

from __future__ import annotations

from typing import Sequence

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class SearchSweeper(Sweeper):
    """Configured with the search's arguments (`argv`, as `tinyexp search` takes them);
    sweeps by handing them, with Hydra's task overrides, to tinyexp.cli.search_sweeper."""

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = [str(arg) for arg in argv]
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher = None  # a search runs its trials itself (search.n_jobs at once)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context, self.config = hydra_context, config

    def sweep(self, arguments: list[str]) -> int:
        from tinyexp.cli.search_sweeper import sweep

        return sweep([*self.argv, *arguments])
