"""Is a process still there? Asked by reaping (a RUNNING run whose process is gone) and by a
stopping sweep (workers that have not ended yet)."""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended: a zombie (ended, not yet waited for)
    counts as ended; another user's process, which we may not signal, as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux) or it vanished meanwhile: the signal said it exists
