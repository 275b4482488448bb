"""The farm's tracking server: `mlflow server` on PostgreSQL with proxied artifacts.

    python -m tinyexp.tracking.server \\
        --backend-store-uri postgresql://mlflow@127.0.0.1:5432/mlflow \\
        --artifacts-destination /srv/tinyexp/artifacts [--host 127.0.0.1] [--port 5000]

checks that the database answers (one line and exit 1 if not, before anything starts),
starts MLflow's own server with ``--serve-artifacts`` so jobs on every node upload artifacts
over HTTP (no shared filesystem), waits for ``/health``, prints the ``tracking.uri`` to give
jobs as its only line of stdout (the server's own output goes to stderr), and runs until SIGTERM or Ctrl-C, which it passes on to the server's process group.
It binds 127.0.0.1 unless ``--host`` says otherwise: MLflow's server has no authentication,
so reach it from other hosts through an SSH tunnel or a private network.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Sequence

from tinyexp.core.errors import TinyexpError, first_line

HEALTH_TIMEOUT_S = 120.0
DB_CONNECT_TIMEOUT_S = 5


def check_backend(uri: str) -> None:
    """Connect to the backend store once; a TinyexpError naming it if that fails."""
    import sqlalchemy

    args = {"connect_timeout": DB_CONNECT_TIMEOUT_S} if uri.startswith("postgresql") else {}
    try:
        engine = sqlalchemy.create_engine(uri, connect_args=args)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:  # SQLAlchemy and its drivers raise many types
        raise TinyexpError(f"backend store {uri!r} does not answer: {first_line(str(exc))[:300]}") from exc


def server_command(backend_uri: str, artifacts: str, host: str, port: int, workers: int) -> list[str]:
    """The `mlflow server` argument list (the venv's MLflow; artifacts proxied by the server)."""
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri,
            "--artifacts-destination", artifacts, "--serve-artifacts",
            "--host", host, "--port", str(port), "--workers", str(workers)]


def healthy(url: str) -> bool:
    """Whether the server at ``url`` answers /health."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = HEALTH_TIMEOUT_S) -> None:
    """Return once /health answers; TinyexpError if the server exits or stays silent."""
    deadline = time.monotonic() + timeout_s
    while not healthy(url):
        if process.poll() is not None:
            raise TinyexpError(f"mlflow server exited with status {process.returncode} before answering "
                               f"{url}/health (see its output above)")
        if time.monotonic() > deadline:
            raise TinyexpError(f"mlflow server gave no answer at {url}/health within {timeout_s:g} s")
        time.sleep(0.25)


def stop(process: subprocess.Popen, timeout_s: float = 15.0) -> None:
    """SIGTERM the server's process group (its workers too), SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout_s)


def main(argv: Sequence[str] | None = None) -> int:
    """Check the database, start the server, print the tracking URI, serve until stopped."""
    ap = argparse.ArgumentParser(prog="python -m tinyexp.tracking.server", description=__doc__.split("\n")[0])
    ap.add_argument("--backend-store-uri", required=True, help="postgresql://USER@HOST:PORT/DB")
    ap.add_argument("--artifacts-destination", required=True, help="directory or URI the server stores artifacts in")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--workers", type=int, default=4, help="server worker processes (MLflow's default 4)")
    args = ap.parse_args(argv)
    try:
        check_backend(args.backend_store_uri)
    except TinyexpError as exc:
        print(f"tinyexp: error: {exc}", file=sys.stderr)
        return 1
    url = f"http://{args.host}:{args.port}"
    # No background job runner (MLflow's huey consumers): tinyexp submits no server-side jobs.
    process = subprocess.Popen(server_command(args.backend_store_uri, args.artifacts_destination,
                                              args.host, args.port, args.workers),
                               stdin=subprocess.DEVNULL, stdout=sys.stderr, start_new_session=True,
                               env=dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        wait_healthy(url, process)
        print(f"tracking server ready: tracking.uri={url}", flush=True)
        return process.wait()
    except TinyexpError as exc:
        print(f"tinyexp: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop(process)


if __name__ == "__main__":
    sys.exit(main())
