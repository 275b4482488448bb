"""Which runs count as done: the one rule that resume, the report, the local index and calibrate share.

A job's run counts once it FINISHED with all of its data written. Finalisation writes the
`tinyexp.complete` marker after the data and before the status (tinyexp.tracking.store), so
a run without the marker was never fully written and is not trusted. A sweep's parent run
also ends FINISHED, but it is a container, not a job, and never counts.

The rule is stated once, in `is_complete`, and written out from the same constants in the
two forms a store can be asked in: an MLflow search filter (`complete_runs`) and SQL on
MLflow's own tables (`complete_run_sql`, for the local index that reads SQLite without MLflow).
"""

from __future__ import annotations

from typing import Any, Iterator

from tinyexp.core.names import Tag

FINISHED = "FINISHED"
COMPLETE_VALUE = "true"
SWEEP_ROLE = "sweep"  # the value of Tag.ROLE on a sweep's parent run
_PAGE_RUNS = 1000  # MLflow's largest page


def is_complete(run: Any) -> bool:  # noqa: ANN401 - an MLflow Run
    """Whether ``run`` counts as done: FINISHED, marked complete, and a job, not a sweep's parent."""
    tags = run.data.tags
    return (run.info.status == FINISHED and tags.get(Tag.COMPLETE) == COMPLETE_VALUE
            and tags.get(Tag.ROLE) != SWEEP_ROLE)


def complete_filter(*conditions: str) -> str:
    """An MLflow search filter for FINISHED, marked runs that also meet ``conditions``. MLflow's
    filter cannot ask for a tag that is absent, so the role is checked by `is_complete` after."""
    return " and ".join([*conditions, f"attributes.status = '{FINISHED}'",
                         f"tags.`{Tag.COMPLETE}` = '{COMPLETE_VALUE}'"])


def complete_runs(client: Any, experiment_ids: list[str], *conditions: str) -> Iterator[Any]:  # noqa: ANN401
    """Every complete run of the experiments that meets ``conditions`` (MLflow filter clauses),
    newest first, across all of MLflow's pages."""
    token = None
    while True:
        page = client.search_runs(experiment_ids, complete_filter(*conditions), max_results=_PAGE_RUNS,
                                  order_by=["attributes.start_time DESC"], page_token=token)
        yield from (run for run in page if is_complete(run))
        token = page.token
        if not token:
            return


def complete_run_sql(run: str) -> str:
    """`is_complete` as a SQL condition on MLflow's `runs` table aliased ``run`` (and its `tags`)."""
    return (f"{run}.status = '{FINISHED}' "
            f"AND EXISTS (SELECT 1 FROM tags c WHERE c.run_uuid = {run}.run_uuid "
            f"AND c.key = '{Tag.COMPLETE}' AND c.value = '{COMPLETE_VALUE}') "
            f"AND NOT EXISTS (SELECT 1 FROM tags p WHERE p.run_uuid = {run}.run_uuid "
            f"AND p.key = '{Tag.ROLE}' AND p.value = '{SWEEP_ROLE}')")
