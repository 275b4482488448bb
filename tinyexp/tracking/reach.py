"""Is the tracking server (or the store's database server) there? Asked once, briefly,
before any job starts.

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

from tinyexp.core.errors import ConfigError, first_line

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


# The database servers MLflow keeps a store in (its SQLAlchemy store's dialects besides SQLite).
_DATABASE_SCHEMES = ("postgresql", "mysql", "mssql")


def _is_database(uri: str | None) -> bool:
    """A database server's URL (postgresql://..., postgresql+psycopg://...) holding the store.
    Any other scheme is left to MLflow (its plugins, or its own one-line refusal)."""
    scheme, sep, _ = str(uri or "").partition("://")
    return bool(sep) and scheme.split("+")[0] in _DATABASE_SCHEMES


def _database_problem(uri: str) -> str | None:
    """None if the database accepts a connection, else what went wrong. One attempt, bounded by
    the driver's connect timeout where it has one (PostgreSQL, MySQL)."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    try:
        url = sqlalchemy.engine.make_url(uri)
        timeout = {"connect_timeout": int(TIMEOUT_S) + 1} if url.get_backend_name() in ("postgresql", "mysql") else {}
        engine = sqlalchemy.create_engine(url, connect_args=timeout, poolclass=NullPool)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError) as exc:
        return " ".join(str(exc).split())[:200]  # a URL or driver MLflow could not use either
    try:
        with engine.connect():
            return None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        return first_line(str(exc))[:200]
    finally:
        engine.dispose()


def check_server(uri: str | None) -> None:
    """Raise ConfigError within about TRIES x (TIMEOUT_S + PAUSE_S) seconds if an http(s)
    tracking server, or the database server holding the store, does not answer. (MLflow itself
    retries a database for about 100 s, a tracking server for minutes.) SQLite stores are
    checked when they are opened."""
    if not (_is_server(uri) or _is_database(uri)):
        return
    probe, what = (_problem, "no tracking server answers") if _is_server(uri) else (
        _database_problem, "the database does not answer")
    problem = ""
    for attempt in range(TRIES):
        problem = probe(str(uri))
        if problem is None:
            return
        if attempt + 1 < TRIES:
            time.sleep(PAUSE_S)
    hint = ("start it (mlflow server --host 127.0.0.1 --port ...) or fix the address" if _is_server(uri)
            else "start the database server, or fix the address and credentials")
    raise ConfigError(f"tracking.uri={uri!r}: {what} ({problem}, {TRIES} tries); {hint}")


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
