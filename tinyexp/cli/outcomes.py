"""How the jobs of one command ended, counted across processes (sequential, joblib or Ray).

The command line gives every command a fresh directory (TINYEXP_OUTCOMES) and a command id
(TINYEXP_COMMAND_ID, also in Hydra's sweep directory, so two commands started in the same
second never share one). Each job, in whichever process runs it, writes one small file there
saying whether it failed; after the sweep the command counts them and exits non-zero if any
job failed, saying how many.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from tinyexp.tracking.sweep import COMMAND_ID_ENV

OUTCOMES_ENV = "TINYEXP_OUTCOMES"


def begin_command(folder: Path) -> None:
    """Set this command's outcome folder and id for every job process it starts."""
    folder.mkdir(parents=True, exist_ok=True)
    os.environ[OUTCOMES_ENV] = str(folder)
    os.environ[COMMAND_ID_ENV] = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class JobEnd:
    """How one job ended: what its task returns to the launcher. A Ray job runs on another
    host, where the command's folder does not exist; the farm launcher records it instead."""

    failed: bool
    message: str
    run_id: str | None = None


def record_outcome(end: JobEnd) -> None:
    """Note one job's end (nothing outside a command that asked for it)."""
    folder = os.environ.get(OUTCOMES_ENV)
    if folder:
        path = Path(folder) / f"{os.getpid()}-{uuid.uuid4().hex}.json"
        path.write_text(json.dumps({"failed": end.failed, "message": end.message[:300]}))


@dataclass(frozen=True)
class Tally:
    jobs: int
    failed: int
    first_error: str


def tally(folder: Path) -> Tally:
    """How many jobs ended, and how many of them failed."""
    ends = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    failures = [e["message"] for e in ends if e["failed"]]
    return Tally(len(ends), len(failures), failures[0] if failures else "")
