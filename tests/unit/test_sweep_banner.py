"""A sweep says its id, where its runs are and how to report it; the experiment it logs to
opens in MLflow's UI on its runs, described, with tinyexp's columns."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tinyexp.cli.main import _composer
from tinyexp.cli.sweep_banner import run_lines, sweep_lines
from tinyexp.cli.schema import register_schema
from tinyexp.core.names import ExperimentTag
from tinyexp.tracking.experiment_view import VIEW_KEY, experiment_tags, runs_link, set_view
from tinyexp.tracking.sweep import sweep_id_from_overrides


def _hydra_config(overrides: list[str], fixed: list[str]) -> Any:  # noqa: ANN401
    """A sweep's primary config as Hydra hands it to callbacks: composed from the overrides
    that are not swept, the command line's overrides in hydra.overrides.task."""
    register_schema()
    with _composer(()) as compose:
        cfg = compose(fixed, with_hydra=True)
    cfg.hydra.overrides.task = overrides
    return cfg


def test_a_derived_sweep_id_and_its_report_command() -> None:
    overrides = ["model.neurons=4,8", "quant=int8"]
    lines = sweep_lines(_hydra_config(overrides, ["quant=int8"]))
    sweep = sweep_id_from_overrides(overrides)
    assert lines[0].startswith(f"sweep {sweep}: runs in MLflow sqlite:///") and f"parent run 'sweep {sweep}'" in lines[0]
    assert lines[1] == f"  report: tinyexp report sweep.id={sweep}"
    assert lines[2].startswith("  browse: mlflow ui --backend-store-uri sqlite:///")


def test_a_named_sweep_on_a_server_with_its_runs_address() -> None:
    uri = "http://127.0.0.1:5999"
    named = ["sweep.id=demo", f"tracking.uri={uri}", "tracking.experiment=lab"]
    lines = sweep_lines(_hydra_config(named, named), "7")
    assert lines[1] == f"  report: tinyexp report sweep.id=demo tracking.uri={uri} tracking.experiment=lab"
    assert lines[2] == f"  runs:   {uri}/#/experiments/7/runs?viewStateShareKey={VIEW_KEY}&workflowType=machine_learning"


def test_a_single_jobs_lines_name_its_runs_page_on_the_server_or_the_local_ui() -> None:
    assert run_lines("http://10.0.0.5:5000/", "4", "abc") == [
        "  run:    http://10.0.0.5:5000/#/experiments/4/runs/abc?workflowType=machine_learning"]
    local = run_lines("sqlite:////data/runs.db", "2", "def")
    assert local == ["  browse: mlflow ui --backend-store-uri sqlite:////data/runs.db",
                     "  run:    http://127.0.0.1:5000/#/experiments/2/runs/def?workflowType=machine_learning"]


class _Client:
    def __init__(self) -> None:
        self.tags: dict[str, str] = {}

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self.tags[key] = value


def test_the_experiment_opens_on_its_runs_with_a_description_and_columns() -> None:
    client = _Client()
    set_view(client, "3", {})
    assert client.tags[ExperimentTag.KIND] == "custom_model_development"
    assert runs_link("3") in client.tags[ExperimentTag.NOTE]
    view = json.loads(client.tags[ExperimentTag.SHARED_VIEW_PREFIX + VIEW_KEY])
    assert {"metrics.`latency_us`", "tags.`latency_source`", "metrics.`model_bytes`", "metrics.`arena_required_bytes`",
            "metrics.`test_accuracy`", "metrics.`test_mse`", "params.`quant.mode`", "params.`board.name`"} <= set(
        view["selectedColumns"])


def test_a_users_description_is_kept_and_a_current_view_not_rewritten() -> None:
    client = _Client()
    current = experiment_tags("3")
    set_view(client, "3", {**current, ExperimentTag.NOTE: "my lab's notes"})
    assert client.tags == {}


class _RacingClient(_Client):
    """A parallel first job writes each tag just before this one, so this one's insert fails on
    the table's key, as MLflow's read-then-insert does (IntegrityError -> MlflowException)."""

    def __init__(self, winner_writes: bool) -> None:
        super().__init__()
        self.winner_writes = winner_writes

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        from mlflow.exceptions import MlflowException

        if self.winner_writes:
            self.tags[key] = value
        raise MlflowException("UNIQUE constraint failed: experiment_tags.key, experiment_tags.experiment_id")

    def get_experiment(self, experiment_id: str) -> Any:
        return SimpleNamespace(tags=dict(self.tags))


def test_a_tag_written_by_a_parallel_first_job_is_not_an_error() -> None:
    client = _RacingClient(winner_writes=True)
    set_view(client, "3", {})
    assert client.tags == experiment_tags("3")


def test_a_tag_write_that_fails_for_another_reason_is_raised() -> None:
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        set_view(_RacingClient(winner_writes=False), "3", {})


def test_the_kind_is_a_value_mlflows_ui_knows() -> None:
    """The value is the one the installed MLflow's UI defines for classic model training."""
    import mlflow

    bundle = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    if not bundle.is_dir():
        pytest.skip("this MLflow has no UI bundle")
    assert any('"custom_model_development"' in p.read_text(errors="replace") for p in bundle.glob("main.*.js"))
