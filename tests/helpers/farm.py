"""Real parts of a board farm for tests, all on 127.0.0.1: a private PostgreSQL cluster and the
farm's tracking server (tinyexp.tracking.server) on it.

PostgreSQL comes from Debian's packages (`apt-get install postgresql`); its binaries live in
/usr/lib/postgresql/<version>/bin, not on PATH. The cluster is created by initdb in a fresh
temporary directory and run by pg_ctl as a non-root user (PostgreSQL refuses root: as root,
the `postgres` user the package creates, else `nobody`, runs it through runuser).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers import ROOT as REPO
from tests.helpers.mlflow_server import free_port

__all__ = ["free_port", "postgres", "tracking_server", "tracking_server_command"]
PG_USER = "mlflow"


def pg_bin() -> Path | None:
    """The directory of Debian's initdb/pg_ctl (newest version), or of those on PATH."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                      key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0)
    return versions[-1].parent if versions else None


def _as_owner() -> tuple[list[str], str | None]:
    """The command prefix that runs PostgreSQL as a non-root user, and that user (None: us)."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            return ["runuser", "-u", user, "--"], user
    pytest.skip("running as root and neither the postgres nor the nobody user exists to run PostgreSQL")


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A fresh PostgreSQL cluster on 127.0.0.1; yields the SQLAlchemy URI of database `mlflow`."""
    bindir = pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; .ci/run does it)")
    prefix, owner = _as_owner()
    root = Path(tempfile.mkdtemp(prefix="tinyexp-pg-"))
    if owner:
        shutil.chown(root, user=owner)
    data, port = root / "data", free_port()
    run = lambda *args: subprocess.run([*prefix, *map(str, args)], capture_output=True, text=True, timeout=120)  # noqa: E731
    try:
        done = run(bindir / "initdb", "-D", data, "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        assert done.returncode == 0, f"initdb failed:\n{done.stdout}\n{done.stderr}"
        options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} -c fsync=off"
        done = run(bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-o", options, "-w", "start")
        assert done.returncode == 0, f"pg_ctl start failed:\n{done.stdout}\n{done.stderr}"
        try:
            done = run(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", PG_USER, "mlflow")
            assert done.returncode == 0, f"createdb failed:\n{done.stderr}"
            yield f"postgresql://{PG_USER}@127.0.0.1:{port}/mlflow"
        finally:
            run(bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def tracking_server_command(backend_uri: str, artifacts: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "tinyexp.tracking.server", "--backend-store-uri", backend_uri,
            "--artifacts-destination", str(artifacts), "--port", str(port), "--workers", "2"]


@contextlib.contextmanager
def tracking_server(backend_uri: str, artifacts: Path, timeout_s: float = 180) -> Iterator[str]:
    """`python -m tinyexp.tracking.server` on the database; yields its tracking URI."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    log = artifacts.parent / "tracking-server.log"
    with open(log, "wb") as sink:
        proc = subprocess.Popen(tracking_server_command(backend_uri, artifacts, free_port()),
                                stdout=subprocess.PIPE, stderr=sink, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
    try:
        ready = select.select([proc.stdout], [], [], timeout_s)[0]
        line = proc.stdout.readline().decode().strip() if ready else ""
        assert line.startswith("tracking server ready: tracking.uri="), \
            f"no ready line within {timeout_s} s ({line!r}); server log:\n{log.read_text(errors='replace')[-3000:]}"
        yield line.split("tracking.uri=", 1)[1]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)  # the script stops the server's process group
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
