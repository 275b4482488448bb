"""A Hydra callback drawing a bar over a sweep's jobs (see tinyexp.core.progress).

Only for Hydra's sequential launcher: with joblib, jobs end in worker processes, which
cannot move a bar in the launching one, and Hydra's own per-job log lines stand instead. Not
for a search (hydra/sweeper=search): it prints a line per trial itself.
"""

from __future__ import annotations

import contextlib
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from tinyexp.cli.main import expand_sweep
from tinyexp.cli.search_cmd import is_search_multirun
from tinyexp.core.progress import Advance, progress


class SweepProgress(Callback):
    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._advance: Advance | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if ("BasicLauncher" not in str(config.hydra.launcher.get("_target_", ""))
                or is_search_multirun(config.hydra)):  # a search's trials are not Hydra's jobs
            return
        jobs = expand_sweep(list(config.hydra.overrides.task), config.hydra.sweeper.get("params"))
        self._advance = self._stack.enter_context(progress("sweep", len(jobs)))

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if self._advance is not None:
            self._advance(1)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._advance = None
        self._stack.close()
