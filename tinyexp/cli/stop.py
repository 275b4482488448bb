"""SIGTERM to a parallel sweep stops its workers, so they end their runs KILLED.

With `hydra/launcher=joblib` the jobs run in worker processes (loky); a SIGTERM to the
command's process used to kill it alone, while the workers finished the sweep and lingered
for minutes. The command's process now passes SIGTERM on to every process it started (found
through /proc, Linux), whose runner turns it into an interruption that ends the open run
KILLED; it waits a bounded time, kills what is left, and exits 143.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from tinyexp.cli.outcomes import OUTCOMES_ENV
from tinyexp.core.processes import alive

GRACE_S = 15.0  # for workers to end their runs; then SIGKILL (a later start reaps those runs)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, queue = [], list(children.get(pid, []))
    while queue:
        child = queue.pop(0)
        found.append(child)
        queue.extend(children.get(child, []))
    return found


def stop_workers(signum: int, frame: Any) -> None:  # noqa: ARG001 - signal handler signature
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    workers = descendants(os.getpid())
    for pid in workers:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline and any(alive(pid) for pid in workers):
        time.sleep(0.1)
    for pid in workers:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if os.environ.get(OUTCOMES_ENV):  # the command's own temporary folder
        shutil.rmtree(os.environ[OUTCOMES_ENV], ignore_errors=True)
    os._exit(128 + signum)  # not SystemExit: joblib would wait for the workers it just lost


def pass_sigterm_to_workers() -> None:
    """Install the handler (main thread of the command's process only)."""
    signal.signal(signal.SIGTERM, stop_workers)
