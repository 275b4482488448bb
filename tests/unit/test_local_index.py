"""The SQLite fast path answers exactly what MLflow's own search answers."""

from __future__ import annotations

from pathlib import Path

from mlflow.tracking import MlflowClient

from tinyexp.core.names import Tag
from tinyexp.tracking.local_index import finished_config_hashes
from tinyexp.tracking.sweep import finished_runs


def _run(client: MlflowClient, experiment_id: str, status: str, **tags: str) -> str:
    run = client.create_run(experiment_id, tags=tags)
    client.set_terminated(run.info.run_id, status=status)
    return run.info.run_id


def test_sqlite_index_agrees_with_mlflow(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("tinyexp", artifact_location=(tmp_path / "a").as_uri())
    other = client.create_experiment("other", artifact_location=(tmp_path / "b").as_uri())
    tags = {Tag.SWEEP_ID: "s1", Tag.COMPLETE: "true"}
    _run(client, exp, "FINISHED", **tags, **{Tag.CONFIG_HASH: "done"})
    _run(client, exp, "FINISHED", **{Tag.SWEEP_ID: "s1", Tag.CONFIG_HASH: "half-written"})  # no completeness marker
    _run(client, exp, "FAILED", **tags, **{Tag.CONFIG_HASH: "failed"})
    _run(client, exp, "KILLED", **tags, **{Tag.CONFIG_HASH: "killed"})
    _run(client, exp, "FINISHED", **{Tag.SWEEP_ID: "s2", Tag.COMPLETE: "true", Tag.CONFIG_HASH: "other-sweep"})
    _run(client, other, "FINISHED", **tags, **{Tag.CONFIG_HASH: "other-experiment"})
    _run(client, exp, "FINISHED", **tags, **{Tag.ROLE: "sweep", Tag.CONFIG_HASH: "parent"})
    client.delete_run(_run(client, exp, "FINISHED", **tags, **{Tag.CONFIG_HASH: "deleted"}))
    expected = set(finished_runs(client, exp, "s1"))
    assert expected == {"done"}
    assert finished_config_hashes(uri, "tinyexp", "s1") == expected
    assert finished_config_hashes(uri, "absent", "s1") == set()


def test_what_it_cannot_answer_goes_to_mlflow(tmp_path: Path) -> None:
    assert finished_config_hashes("http://127.0.0.1:5000", "tinyexp", "s1") is None
    not_a_store = tmp_path / "x.db"
    not_a_store.write_text("not sqlite")
    assert finished_config_hashes(f"sqlite:///{not_a_store}", "tinyexp", "s1") is None
    assert finished_config_hashes(f"sqlite:///{tmp_path / 'missing.db'}", "tinyexp", "s1") == set()
