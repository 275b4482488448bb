"""The Search section of `tinyexp report` on a search: its objectives and limits, its trials
by outcome, the Pareto front as a table and a figure, the chosen trial per objective and
the pruned candidates with their reasons.

Built from the search's MLflow runs alone (`tracking.report_runs.SearchRuns`), not from the
Optuna study, so a report works wherever the runs are. Each trained trial's run is read back
into the shape front.py and figure.py read Optuna's trials in (:class:`RunTrial`), so the
front, its table and its figure come from the very functions the search logged them with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from tinyexp.core.names import Artifact, Metric, Tag
from tinyexp.search import front as front_mod
from tinyexp.search.figure import front_figure
from tinyexp.search.space import OBJECTIVES, Limits, SearchSpec, as_overrides, spec_from_json
from tinyexp.tracking.report_runs import SearchRuns, TrialRun


@dataclass(frozen=True)
class RunTrial:
    """A trained trial as its run recorded it, with the attributes front.py reads on an Optuna
    FrozenTrial: number, objective values, chosen params, user attrs and constraints."""

    number: int
    values: tuple[float, ...]
    params: Mapping[str, Any]
    user_attrs: Mapping[str, Any]
    constraints: Mapping[str, float]


def _ms(us: float | None) -> float | None:
    return None if us is None else us / 1e3


def run_trial(spec: SearchSpec, run: TrialRun) -> RunTrial | None:
    """The trial a trained run records, or None when the run lacks an objective (the search
    counted that trial failed)."""
    metrics, tags = run.metrics, run.tags
    if any(OBJECTIVES[o].metric not in metrics for o in spec.objectives):
        return None
    latency = metrics.get(Metric.LATENCY_US)
    constraints = front_mod.violations(_ms(latency), spec, accuracy=metrics.get(Metric.TEST_ACCURACY),
                                       mse=metrics.get(Metric.TEST_MSE))
    attrs = {front_mod.LATENCY_LOW_ATTR: _ms(metrics.get(Metric.LATENCY_ESTIMATE_LOW_US)),
             front_mod.LATENCY_HIGH_ATTR: _ms(metrics.get(Metric.LATENCY_ESTIMATE_HIGH_US)),
             front_mod.MEASURED_MIN_ATTR: _ms(metrics.get(Metric.LATENCY_MIN_US)),
             front_mod.MEASURED_MAX_ATTR: _ms(metrics.get(Metric.LATENCY_MAX_US)),
             front_mod.FLAG_ATTR: tags.get(Tag.SEARCH_LATENCY_FLAG),
             front_mod.RUN_ATTR: run.run_id,
             front_mod.LATENCY_SOURCE_ATTR: tags.get(Tag.LATENCY_SOURCE, "estimate")}
    values = tuple(metrics[OBJECTIVES[o].metric] * OBJECTIVES[o].scale for o in spec.objectives)
    return RunTrial(int(tags[Tag.SEARCH_TRIAL]), values, json.loads(tags.get(Tag.SEARCH_PARAMS, "{}")), attrs,
                    constraints)


def _objective(name: str) -> str:
    kind = OBJECTIVES[name]
    better = "higher" if kind.direction == "maximize" else "lower"
    return f"`{name}` ({better} is better{', in ' + kind.unit if kind.unit else ''})"


def limits_text(limits: Limits) -> str:
    """The declared limits in words; flash and RAM undeclared are the board's."""
    parts = [f"latency <= {limits.latency_ms:g} ms (estimate's whole 80% interval above: pruned)"
             if limits.latency_ms is not None else "latency: none",
             f"flash <= {limits.flash_bytes} B" if limits.flash_bytes is not None else "flash: the board's",
             f"RAM <= {limits.ram_bytes} B" if limits.ram_bytes is not None else "RAM: the board's"]
    parts += [f"reserved for the firmware: {limits.reserve_flash_bytes} B flash, {limits.reserve_ram_bytes} B RAM"
              ] if limits.reserve_flash_bytes or limits.reserve_ram_bytes else []
    parts += [f"accuracy >= {limits.accuracy_min:g}"] if limits.accuracy_min is not None else []
    parts += [f"mse <= {limits.mse_max:g}"] if limits.mse_max is not None else []
    return "; ".join(parts)


def _counts(parent_tags: Mapping[str, str], runs: SearchRuns) -> str:
    logged = json.loads(parent_tags.get(Tag.SEARCH_COUNTS, "{}"))
    study = (f"{logged.get('completed', 0)} completed, {logged.get('pruned', 0)} pruned before training, "
             f"{logged.get('failed', 0)} failed (the Optuna study when the search last ended); "
             if logged else "")
    return (f"- Trials: {study}{len(runs.trained)} configurations trained (a configuration asked again is "
            f"not retrained), {len(runs.pruned)} pruned runs")


def _pruned(spec: SearchSpec, runs: SearchRuns) -> list[str]:
    if not runs.pruned:
        return []
    ordered = sorted(runs.pruned, key=lambda r: int(r.tags.get(Tag.SEARCH_TRIAL, "0")))
    lines = ["### Pruned before training", "", "| trial | reason | run | config |", "|---|---|---|---|"]
    lines += [f"| {r.tags.get(Tag.SEARCH_TRIAL, '?')} | {r.tags[Tag.SEARCH_PRUNED]} | {r.run_id[:8]} | "
              f"{' '.join(as_overrides(json.loads(r.tags.get(Tag.SEARCH_PARAMS, '{}')), spec))} |" for r in ordered]
    return [*lines, ""]


def search_section(runs: SearchRuns, out_dir: Path) -> tuple[list[str], list[Path]]:
    """The section's Markdown lines and the files it wrote (the front's figure) in `out_dir`."""
    spec = spec_from_json(runs.spec_json)
    trained = sorted(filter(None, (run_trial(spec, r) for r in runs.trained)), key=lambda t: t.number)
    front = front_mod.pareto_front(spec, trained)
    table = front_mod.front_table(spec, front)
    best = front_mod.best_per_objective(spec, front) if front else {}
    figure = front_figure(spec, trained, front, out_dir / Artifact.SEARCH_FRONT_FIGURE)
    lines = ["## Search", "",
             f"- Search: `{spec.name}`, sampler {spec.sampler} (seed {spec.seed}), {spec.trials} trials asked",
             "- Objectives: " + ", ".join(_objective(o) for o in spec.objectives),
             f"- Limits: {limits_text(spec.limits)}",
             _counts(runs.parent_tags, runs), "",
             "### Pareto front", "",
             "The trained trials that meet every limit and that no other such trial beats in every objective "
             "(latency as the run recorded it: `latency_source`; the interval is the one that latency "
             "supports: the estimate's 80% interval, or the board's min-max for a measurement; the flag "
             "marks an estimate straddling the latency limit).", "",
             table.markdown() if table.rows else "_No trained trial meets every limit._", ""]
    if best:
        lines += ["Chosen trial per objective (tag `tinyexp.search.best` on its run):", ""]
        lines += [f"- {o}: trial {t.number}, {front_mod.format_value(o, t.values[spec.objectives.index(o)])}"
                  f"{' ' + OBJECTIVES[o].unit if OBJECTIVES[o].unit else ''} (run `{t.user_attrs[front_mod.RUN_ATTR]}`)"
                  for o, t in best.items()]
        lines += [""]
    if figure is not None:
        lines += [f"![the search's front]({figure.name})", ""]
    return [*lines, *_pruned(spec, runs)], [figure] if figure is not None else []
