"""The runs a report is built from: a sweep's finished job runs read back from MLflow as rows.

A sweep leaves one MLflow run per job; a report wants one point per configuration, so this
module pages through the runs, keeps the latest finished run of every configuration (a rerun
replaces, never doubles, a point) and turns each into a plain dict, a "row" (see
:func:`row_from_run`), with old MLflow names mapped through `core/names.py`. Everything a
report does after this works on rows, so it can be built, and tested, without an MLflow store.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from tinyexp.core.names import FLOAT32, Metric, Tag, canonical_metrics, canonical_quant_mode, canonical_tags
from tinyexp.tracking.completeness import FINISHED, complete_runs
from tinyexp.tracking.search_spec_record import read_spec
from tinyexp.tracking.sweep import is_unhashed_param

Row = dict[str, Any]

_MODE_ORDER = (FLOAT32, "float16", "dynamic", "int16x8", "int8")
_RUN_TAGS = (Tag.MODEL_LABEL, Tag.LATENCY_SOURCE, Tag.DEPLOYABLE, Tag.FITS_FLASH, Tag.FITS_RAM, Tag.NOT_DEPLOYED_REASON,
             Tag.KERNEL_DTYPE, Tag.KERNEL_KIND, Tag.TFLM_RUNS, Tag.LATENCY_ESTIMATE_CALIBRATION_RANGE,
             Tag.ENERGY_SOURCE)
# How a logged param reads when the option was unset: the same as a run of an older version
# that did not have the option yet.
_UNSET = "None"
_PAGE_RUNS = 1000
# The estimate's own metric, logged by virtual boards instead of a mean (older runs logged the mean).


def variant_name(mode: str, per_channel: bool) -> str:
    """One label per distinct model format; per-channel scales are meaningless for float32."""
    if mode == FLOAT32:
        return FLOAT32
    return f"{mode}_per_channel" if per_channel else mode


def variant_order(variant: str) -> tuple[int, bool]:
    """Where a variant stands in a report: float32 first, then by shrinking format."""
    mode = variant.removesuffix("_per_channel")
    rank = _MODE_ORDER.index(mode) if mode in _MODE_ORDER else len(_MODE_ORDER)
    return rank, variant.endswith("_per_channel")


def model_order(row: Row) -> tuple[bool, int, str, str]:
    """Where a row's model stands in a report: the study's n ascending, then other models by name."""
    return row["n"] is None, row["n"] or 0, row["model"], row["board"]


def is_missing(value: Any) -> bool:
    """A value the run did not record: absent, or NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def latency_us(row: Row) -> float | None:
    """A run's latency in us: `latency_us` (measured or estimated, as `latency_source` says; older
    runs' `latency_mean_us` reads as it through core/names.py), else the estimate alone.

    The one place a report reads latency, so runs logged before and after estimates got their own
    metrics read alike."""
    for key in (Metric.LATENCY_US, Metric.LATENCY_ESTIMATE_US):
        if not is_missing(row.get(key)):
            return float(row[key])
    return None


def latency_interval_us(row: Row) -> tuple[float, float] | None:
    """The estimate's 80% prediction interval (low, high) in us, where the run logged one."""
    low, high = row.get(Metric.LATENCY_ESTIMATE_LOW_US), row.get(Metric.LATENCY_ESTIMATE_HIGH_US)
    return None if is_missing(low) or is_missing(high) else (float(low), float(high))


def is_estimate(row: Row) -> bool:
    """Whether the run's latency is an estimate (virtual board) rather than measured on hardware."""
    return row.get(Tag.LATENCY_SOURCE) == "estimate"


def energy_uj(row: Row) -> float | None:
    """A run's energy per inference in uJ (measured or estimated, as `energy_source` says)."""
    return None if is_missing(row.get(Metric.ENERGY_PER_INFERENCE_UJ)) else float(row[Metric.ENERGY_PER_INFERENCE_UJ])


def energy_interval_uj(row: Row) -> tuple[float, float] | None:
    """An energy estimate's interval (low, high) in uJ, where the run logged one."""
    low, high = row.get(Metric.ENERGY_PER_INFERENCE_LOW_UJ), row.get(Metric.ENERGY_PER_INFERENCE_HIGH_UJ)
    return None if is_missing(low) or is_missing(high) else (float(low), float(high))


def is_energy_estimate(row: Row) -> bool:
    """Whether the run's energy is an estimate (latency x declared power) rather than a meter's reading."""
    return row.get(Tag.ENERGY_SOURCE) == "estimate"


def optional_float(text: str | None) -> float | None:
    """A float from a logged string; None where nothing was logged."""
    return float(text) if text not in (None, "", "None") else None


def _hidden_widths(params: Mapping[str, str]) -> list[int]:
    """Hidden widths from the flattened config: `model.widths` if set, else layers x neurons."""
    widths = ast.literal_eval(params.get("model.widths", "None"))
    if widths is not None:
        return [int(w) for w in widths]
    return [int(params["model.neurons"])] * int(params.get("model.hidden_layers", "2"))


def config_identity(params: Mapping[str, str], tags: Mapping[str, str]) -> tuple[Any, ...]:
    """What makes two runs the same configuration: the config hash resume uses (tag
    `config_hash`, kept stable across versions: options added later are left out of it), else,
    for a run without the tag, its params minus those outside the hash and minus unset options.

    A version that adds an option logs it in every run; runs of an older version lack it, and
    by their params alone read as another configuration (a rerun of an old sweep listed each
    configuration twice, issue 17)."""
    if tags.get(Tag.CONFIG_HASH):
        return (Tag.CONFIG_HASH, tags[Tag.CONFIG_HASH])
    return tuple(sorted((k, v) for k, v in params.items() if v != _UNSET and not is_unhashed_param(k)))


def row_from_run(params: Mapping[str, str], metrics: Mapping[str, float], tags: Mapping[str, str], *,
                 run_id: str, run_name: str, start_time_ms: int) -> Row:
    """One run as a flat dict: identity, model, quantisation, all metrics and the tags tables use.

    A dense model is named by its widths ("1-16-16-1"), any other by its `model_label` tag."""
    dense = params.get("model.name", "dense") == "dense"
    widths = _hidden_widths(params) if dense else []
    layers = [int(params.get("model.inputs", "1")), *widths, int(params.get("model.outputs", "1"))]
    mode = canonical_quant_mode(params.get("quant.mode", FLOAT32))
    per_channel = params.get("quant.per_channel", "False").lower() == "true"
    row: Row = {
        "run_id": run_id,
        "run_name": run_name,
        "start_time_ms": start_time_ms,
        "sweep_id": tags.get(Tag.SWEEP_ID),
        "config": config_identity(params, canonical_tags(tags)),
        "model": "-".join(str(w) for w in layers) if dense else tags.get(Tag.MODEL_LABEL, params.get("model.name")),
        "dense": dense,
        "n": widths[0] if len(set(widths)) == 1 else None,
        "board": params.get("board.name", "unknown"),
        "flash_limit_bytes": optional_float(params.get("board.flash_bytes")),
        "quant_mode": mode,
        "variant": variant_name(mode, per_channel),
    }
    row.update(canonical_metrics(metrics))
    tags = canonical_tags(tags)
    row.update({key: tags[key] for key in _RUN_TAGS if key in tags})
    return row


def latest_per_config(rows: Iterable[Row]) -> list[Row]:
    """The newest row of each configuration, so a rerun replaces its older twin."""
    latest: dict[Any, Row] = {}
    for row in sorted(rows, key=lambda r: r["start_time_ms"]):
        latest[row["config"]] = row
    return sorted(latest.values(), key=lambda r: (model_order(r), variant_order(r["variant"])))


def _search(client: Any, experiment_id: str, filter_string: str, limit: int | None = None) -> list[Any]:
    """Runs matching the filter (all, or the newest `limit`), newest first, across MLflow's pages."""
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], filter_string, order_by=["attributes.start_time DESC"],
                                  max_results=min(limit or _PAGE_RUNS, _PAGE_RUNS), page_token=token)
        runs.extend(page)
        token = page.token
        if not token or (limit is not None and len(runs) >= limit):
            return runs[:limit]


def collect_runs(client: Any, experiment_id: str, sweep_id: str | None) -> list[Row]:
    """Complete job runs of the experiment (of one sweep if given), latest per configuration."""
    runs = [r for r in complete_runs(client, [experiment_id],
                                     *([f"tags.{Tag.SWEEP_ID} = '{sweep_id}'"] if sweep_id else []))
            if Tag.SEARCH_PRUNED not in r.data.tags]  # a search's pruned candidate never trained
    return latest_per_config(
        row_from_run(r.data.params, r.data.metrics, r.data.tags, run_id=r.info.run_id,
                     run_name=r.info.run_name or r.info.run_id, start_time_ms=r.info.start_time or 0)
        for r in runs)


def latest_sweep_id(client: Any, experiment_id: str) -> str | None:
    """The sweep of the most recently started run that belongs to a sweep, if any."""
    runs = _search(client, experiment_id, f"tags.{Tag.SWEEP_ID} LIKE '%'", limit=1)
    return runs[0].data.tags[Tag.SWEEP_ID] if runs else None


def sweep_parent_run_id(client: Any, experiment_id: str, sweep_id: str) -> str | None:
    """The sweep's parent run, where the report is logged; None for a sweep without one."""
    query = f"tags.`{Tag.ROLE}` = 'sweep' and tags.{Tag.SWEEP_ID} = '{sweep_id}'"
    runs = _search(client, experiment_id, query, limit=1)
    return runs[0].info.run_id if runs else None


@dataclass(frozen=True)
class TrialRun:
    """One trial's MLflow run as plain data: its id, tags and metrics (old names mapped)."""

    run_id: str
    tags: Mapping[str, str]
    metrics: Mapping[str, float]


@dataclass(frozen=True)
class SearchRuns:
    """A search's runs (`tinyexp search`): the parent's tags (its declaration, trials by state,
    chosen trials), the trained trials' complete runs and the pruned candidates' short runs."""

    parent_tags: Mapping[str, str]
    spec_json: str
    trained: list[TrialRun]
    pruned: list[TrialRun]


def _trial_run(run: Any) -> TrialRun:
    return TrialRun(run.info.run_id, canonical_tags(run.data.tags), canonical_metrics(run.data.metrics))


def search_runs(client: Any, experiment_id: str, sweep_id: str, parent_run_id: str) -> SearchRuns | None:
    """The runs of a sweep that is a search (its parent holds the search's declaration), else None."""
    parent_tags = client.get_run(parent_run_id).data.tags
    if Tag.SEARCH_SPEC not in parent_tags:
        return None
    in_sweep = f"tags.{Tag.SWEEP_ID} = '{sweep_id}'"
    trained = [_trial_run(r) for r in complete_runs(client, [experiment_id], in_sweep)
               if Tag.SEARCH_TRIAL in r.data.tags and Tag.SEARCH_PRUNED not in r.data.tags]
    pruned_filter = f"{in_sweep} and tags.`{Tag.SEARCH_PRUNED}` LIKE '%' and attributes.status = '{FINISHED}'"
    pruned = [_trial_run(r) for r in _search(client, experiment_id, pruned_filter)]
    return SearchRuns(dict(parent_tags), read_spec(client, parent_run_id, parent_tags[Tag.SEARCH_SPEC]), trained, pruned)
