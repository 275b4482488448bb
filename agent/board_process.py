"""Start a board that runs as a local process on a pseudo-terminal, and stop it cleanly.

A board process (tinyexp's virtual board, or any emulator speaking the protocol) prints the
path of its pseudo-terminal as the first line of its stdout, then serves until its stdin
closes. The agent only needs that convention, not the board's code, so it starts such a board
from a command (an argument list, never a shell string) and reads the port it announces.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import tempfile
import time
from typing import IO, Iterator, Mapping, Sequence

from agent.errors import BoardLinkError

_MAX_PATH_LINE = 4096


class BoardStartError(BoardLinkError):
    """The board process ended before announcing its port; ``status`` is its exit status
    (negative: killed by that signal; None: still running but silent). Status 2 means it
    refused its arguments."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


@contextlib.contextmanager
def board_process(cmd: Sequence[str], *, env: Mapping[str, str] | None = None,
                  startup_timeout_s: float = 120.0, name: str = "the virtual board") -> Iterator[str]:
    """Spawn ``cmd``, yield the port it announces, stop it when the block ends."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(list(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=errors, env=dict(env) if env is not None else None)
        try:
            yield _read_port(process, errors, startup_timeout_s, name)
        finally:
            _stop(process)


def _read_port(process: subprocess.Popen, errors: IO[bytes], timeout_s: float, name: str) -> str:
    """The first stdout line of the board process, read within ``timeout_s``."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    data = b""
    while not data.endswith(b"\n") and len(data) < _MAX_PATH_LINE:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([process.stdout], [], [], remaining)[0]:
            raise _startup_failure(errors, name, f"gave no port within {timeout_s:g} s", None)
        chunk = os.read(process.stdout.fileno(), 256)
        if not chunk:
            process.wait(timeout=5)
            rc = process.returncode
            why = f"was killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}"
            raise _startup_failure(errors, name, why + " while loading the model", rc)
        data += chunk
    return data.decode("utf-8", "replace").strip()


def _startup_failure(errors: IO[bytes], name: str, why: str, status: int | None) -> BoardStartError:
    """A BoardStartError quoting the end of what the board process wrote to stderr."""
    errors.seek(0)
    tail = " ".join(errors.read()[-400:].decode("utf-8", "replace").split())
    return BoardStartError(f"{name} {why}: {tail or 'no message'}", status)


def _stop(process: subprocess.Popen) -> None:
    """Close stdin (the board's signal to stop); escalate to SIGTERM, then SIGKILL; reap."""
    with contextlib.suppress(OSError):
        if process.stdin:
            process.stdin.close()
    for escalate in (process.terminate, process.kill):
        try:
            process.wait(timeout=3)
            break
        except subprocess.TimeoutExpired:
            escalate()
    process.wait()
    if process.stdout:
        process.stdout.close()
