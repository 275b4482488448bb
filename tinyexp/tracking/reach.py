"""Is the tracking server there? Asked once, briefly, before any job starts.

MLflow's own client retries an unreachable server for minutes per call (about 250 s per job
was measured), so a sweep against a server that is down would take hours to fail. Here an
http(s) tracking URI is probed (its /health endpoint) with a short bounded retry, and the jobs'
MLflow client gets a small retry budget of its own. A job whose server stops answering while
its data is written asks here whether it dropped (tinyexp.tracking.finalise) and waits for it.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

from tinyexp.core.errors import ConfigError

TRIES = 3
TIMEOUT_S = 2.0
PAUSE_S = 0.5
# What the jobs' MLflow client may spend on one call to a server that stops answering.
MLFLOW_HTTP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
                   "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


def limit_mlflow_retries() -> None:
    """Give MLflow's HTTP client a bounded retry budget, unless the user set one."""
    for key, value in MLFLOW_HTTP_ENV.items():
        os.environ.setdefault(key, value)


def _is_server(uri: str | None) -> bool:
    return bool(uri) and str(uri).startswith(("http://", "https://"))


def _problem(uri: str) -> str | None:
    """None if something answers HTTP at the server's /health, else what went wrong."""
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=TIMEOUT_S):  # noqa: S310 - http(s) only
            return None
    except urllib.error.HTTPError as exc:
        if exc.code < 500:
            return None  # something answers HTTP there; MLflow will say if it is not a tracking server
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return str(getattr(exc, "reason", exc))


def check_server(uri: str | None) -> None:
    """Raise ConfigError within about TRIES x (TIMEOUT_S + PAUSE_S) seconds if an http(s)
    tracking server does not answer; other stores are checked when they are opened."""
    if not _is_server(uri):
        return
    problem = ""
    for attempt in range(TRIES):
        problem = _problem(str(uri))
        if problem is None:
            return
        if attempt + 1 < TRIES:
            time.sleep(PAUSE_S)
    raise ConfigError(f"tracking.uri={uri!r}: no tracking server answers ({problem}, {TRIES} tries); "
                      "start it (mlflow server --host 127.0.0.1 --port ...) or fix the address")


def dropped(uri: str | None) -> bool:
    """Whether ``uri`` is an http(s) tracking server that does not answer now. A store error
    from a server that answers, or from a local store, is a genuine error, not a drop."""
    return _is_server(uri) and _problem(str(uri)) is not None


def wait_back(uri: str, deadline: float) -> bool:
    """Wait until the server answers again (True) or time.monotonic() passes ``deadline``."""
    while time.monotonic() < deadline:
        if _problem(uri) is None:
            return True
        time.sleep(min(PAUSE_S, max(0.0, deadline - time.monotonic())))
    return False
