"""Helpers shared by the test levels (unit, integration, e2e): paths and the test store."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = ROOT / "tests"
DATA_DIR = TESTS_DIR / "data"
TRANSCRIPTS_DIR = TESTS_DIR / "transcripts"


def store_client(home: Path):  # noqa: ANN201 - MlflowClient
    """A client of the test home's default SQLite store."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")


def store_runs(home: Path):  # noqa: ANN201 - list of mlflow Run
    """Every run in the test home's default SQLite store (empty if there is no store)."""
    if not (home / "mlruns" / "mlflow.db").exists():
        return []
    client = store_client(home)
    experiments = client.search_experiments()
    return client.search_runs([e.experiment_id for e in experiments]) if experiments else []


def compose(overrides: list[str], with_hydra: bool = False):  # noqa: ANN201 - DictConfig
    """A job's config from the repository's conf/, as the command line's preflight composes it
    (Hydra's DictConfig, before the entry resolves it)."""
    from tinyexp.cli.main import _composer
    from tinyexp.cli.schema import register_schema

    register_schema()
    with _composer(()) as compose_job:
        return compose_job(overrides, with_hydra)


def compose_config(overrides: list[str]):  # noqa: ANN201 - tinyexp.core.config.Config
    """A job's typed config, resolved as the entry resolves it (tinyexp.cli.schema.resolve)."""
    from tinyexp.cli.schema import resolve

    return resolve(compose(overrides))
