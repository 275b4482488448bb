"""How MLflow's UI shows a tinyexp experiment: on its runs, described, with the columns a
user compares.

MLflow 3 treats an experiment as GenAI unless told otherwise: its pages open on traces ("0
traces") and tinyexp's runs only appear under "Evaluation runs". Two things tell it:
- the experiment tag `mlflow.experimentKind=custom_model_development` (MLflow's value for
  classic model training; MLflow 3.x builds that choose the view by experiment read it);
- the UI's own workflow choice, `?workflowType=machine_learning` in the address (MLflow 3.17
  chooses the view by this, remembered per browser, whatever the tag says).
The runs table shows no metric until a user picks columns, so the experiment also holds a
saved view of the table (MLflow's shared view state, `?viewStateShareKey=tinyexp`): the
figures tinyexp's runs are compared by, grouped by sweep. Its description links to it, and a
sweep prints the link.
"""

from __future__ import annotations

import json
from typing import Any

from tinyexp.core.names import ExperimentTag, Metric, Tag

VIEW_KEY = "tinyexp"
# The runs table's columns, in MLflow's column keys (`<kind>.\`<name>\``): what a user compares.
VIEW_COLUMNS = (
    *(f"tags.`{name}`" for name in (Tag.MODEL_LABEL,)),
    *(f"params.`{name}`" for name in ("quant.mode", "board.name")),
    *(f"metrics.`{name}`" for name in (Metric.LATENCY_US, Metric.LATENCY_ESTIMATE_LOW_US,
                                       Metric.LATENCY_ESTIMATE_HIGH_US)),
    f"tags.`{Tag.LATENCY_SOURCE}`",
    *(f"metrics.`{name}`" for name in (Metric.MODEL_BYTES, Metric.ARENA_REQUIRED_BYTES, Metric.MACS,
                                       Metric.TEST_ACCURACY, Metric.TEST_MSE)),
    *(f"tags.`{name}`" for name in (Tag.FITS_FLASH, Tag.FITS_RAM)),
)
# MLflow's UI opens an experiment on its runs with this (3.x defaults to its GenAI pages).
RUNS_PAGE_QUERY = "workflowType=machine_learning"


def _view_state() -> str:
    """The runs table's saved state: tinyexp's columns, the runs grouped by sweep (MLflow's
    shared views cannot unfold a parent run, and a group lists its runs flat)."""
    return json.dumps({"selectedColumns": list(VIEW_COLUMNS), "groupBy": {
        "aggregateFunction": "average", "groupByKeys": [{"mode": "tag", "groupByData": Tag.SWEEP_ID}]}})


def runs_link(experiment_id: str) -> str:
    """The UI's address (after the server's) of the experiment's runs in tinyexp's view."""
    return f"#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_KEY}&{RUNS_PAGE_QUERY}"


def run_link(experiment_id: str, run_id: str) -> str:
    """The UI's address (after the server's) of one run's page, in the classic training view."""
    return f"#/experiments/{experiment_id}/runs/{run_id}?{RUNS_PAGE_QUERY}"


def description(experiment_id: str) -> str:
    """The experiment's description (markdown), shown above its runs."""
    return (
        "**tinyexp**: each run trains, converts and measures one network on one board and quantisation "
        "(a sweep is a parent run with its jobs nested under it, tag `sweep_id`).\n\n"
        f"[Open the runs with tinyexp's columns]({runs_link(experiment_id)}): "
        "model, quantisation, board, latency (`latency_us`, measured or estimated, its 80% interval where it is an estimate, "
        "and `latency_source`: measured | estimate | not_measured), model bytes, arena, MACs, "
        "accuracy (classification) or mse (regression), and whether it fits the board's flash and RAM.\n\n"
        "A sweep's tables and figures: `tinyexp report sweep.id=<sweep>`.")


def experiment_tags(experiment_id: str) -> dict[str, str]:
    """Every tag of the experiment's view: kind, description, saved runs-table view."""
    return {ExperimentTag.KIND: ExperimentTag.KIND_RUNS,
            ExperimentTag.NOTE: description(experiment_id),
            ExperimentTag.SHARED_VIEW_PREFIX + VIEW_KEY: _view_state()}


def set_view(client: Any, experiment_id: str, tags: dict[str, str]) -> None:  # noqa: ANN401 - MlflowClient
    """Write the view's tags the experiment lacks or holds in another form (an experiment made
    before, or by plain MLflow); a user's own description is kept."""
    wanted = experiment_tags(experiment_id)
    for key, value in wanted.items():
        keep_users_note = key == ExperimentTag.NOTE and key in tags
        if tags.get(key) != value and not keep_users_note:
            _set_tag_once(client, experiment_id, key, value)


def _set_tag_once(client: Any, experiment_id: str, key: str, value: str) -> None:  # noqa: ANN401
    """Set one tag; parallel first jobs write the same tag at once, and MLflow's write (read,
    then insert) lets all but one fail on the table's key. A loser whose tag the winner wrote
    goes on; any other failure is raised."""
    from mlflow.exceptions import MlflowException

    try:
        client.set_experiment_tag(experiment_id, key, value)
    except MlflowException:
        if key not in client.get_experiment(experiment_id).tags:
            raise
