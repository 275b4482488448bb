"""The Pareto front of a search: which trials are on it, and the front as a table (each
trial's objectives with their units, where its latency comes from (measured on a board, or
estimated), its latency interval and flag, its MLflow run and its config).

The one implementation of the front: the search computes it from its Optuna trials and
`tinyexp report` from the trials' MLflow runs (`search/report_section.py`), both through
:func:`pareto_front` and :func:`front_table`, so the report and MLflow agree.

A trial's latency interval is what its own figure supports: the estimate's 80% interval for an
estimated latency, the board's spread over its timed invokes (min-max) for a measured one.
The pre-training estimate's interval is never shown around a measured latency: it would pass
for a spread the board measured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from tinyexp.pipeline.recorder import MEASURED  # the latency_source of a run measured on a board
from tinyexp.search.space import OBJECTIVES, SearchSpec, as_overrides

LATENCY_LOW_ATTR = "latency_low_ms"
LATENCY_HIGH_ATTR = "latency_high_ms"
LATENCY_SOURCE_ATTR = "latency_source"
RUN_ATTR = "run_id"
FLAG_ATTR = "latency_flag"
MEASURED_MIN_ATTR = "measured_min_ms"  # the board's fastest and slowest timed invoke
MEASURED_MAX_ATTR = "measured_max_ms"


@dataclass(frozen=True)
class LatencyInterval:
    """A trial's latency interval [ms] and what it is ("estimate's 80%" or "measured min-max")."""

    low: float
    high: float
    kind: str


def latency_interval(attrs: Mapping[str, Any]) -> LatencyInterval | None:
    """The interval a trial's latency figure supports (see the module), or None if it has none."""
    if attrs.get(LATENCY_SOURCE_ATTR, "estimate") == MEASURED:
        low, high, kind = attrs.get(MEASURED_MIN_ATTR), attrs.get(MEASURED_MAX_ATTR), "measured min-max"
    else:
        low, high, kind = attrs.get(LATENCY_LOW_ATTR), attrs.get(LATENCY_HIGH_ATTR), "estimate's 80%"
    return None if low is None or high is None else LatencyInterval(float(low), float(high), kind)


@dataclass(frozen=True)
class FrontTable:
    """Columns and rows of the front, best first by the first objective."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def text(self) -> str:
        """A fixed-width table for the terminal and the parent run."""
        widths = [max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
                  for i, c in enumerate(self.columns)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(self.columns, widths))]
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in self.rows]
        return "\n".join(line.rstrip() for line in lines)

    def markdown(self) -> str:
        """The table in Markdown, for report.md."""
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in self.rows]
        return "\n".join(lines)

    def as_log_table(self) -> dict[str, list[str]]:
        """Column -> values, as mlflow's log_table takes them."""
        return {c: [row[i] for row in self.rows] for i, c in enumerate(self.columns)}


def violations(latency_ms: float | None, spec: SearchSpec, size_over: float = 0.0,
               accuracy: float | None = None, mse: float | None = None) -> dict[str, float]:
    """Each limit's violation as Optuna's constraints (<= 0: met): latency (ms over), flash or
    RAM (fraction over), accuracy (under the floor), mse (over the ceiling)."""
    lim = spec.limits
    return {"latency_ms_over": latency_ms - lim.latency_ms
            if lim.latency_ms is not None and latency_ms is not None else 0.0,
            "size_over": size_over,
            "accuracy_under": lim.accuracy_min - accuracy
            if lim.accuracy_min is not None and accuracy is not None else 0.0,
            "mse_over": mse - lim.mse_max if lim.mse_max is not None and mse is not None else 0.0}


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether a is no worse than b in every objective and better in one (both minimised)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(spec: SearchSpec, trials: Sequence[Any]) -> list[Any]:
    """The completed trials (with `values` and `constraints`) that meet every limit and that no
    other such trial dominates, in the order given; trials with equal values are all kept
    (Optuna's rule for `Study.best_trials`)."""
    signs = [-1.0 if OBJECTIVES[o].direction == "maximize" else 1.0 for o in spec.objectives]
    feasible = [t for t in trials if all(v <= 0 for v in t.constraints.values())]
    costs = [[s * v for s, v in zip(signs, t.values)] for t in feasible]
    return [t for t, cost in zip(feasible, costs) if not any(_dominates(other, cost) for other in costs)]


def _heading(name: str, latency_source: str) -> str:
    unit = OBJECTIVES[name].unit
    label = f"{name.removesuffix('_' + unit) if unit else name}"
    if name == "latency_ms":
        label += f" ({latency_source})"
    return f"{label} [{unit}]" if unit else label


def format_value(name: str, value: float) -> str:
    """An objective's value as shown: bytes whole, the rest to four significant digits."""
    return f"{value:.0f}" if OBJECTIVES[name].unit == "B" else f"{value:.4g}"


def _flag(attrs: Mapping[str, Any]) -> str:
    """The pre-training latency flag in a word (the interval is in its own column); for a
    measured trial, that the measurement settled it."""
    flag = attrs.get(FLAG_ATTR)
    if not flag:
        return ""
    word = "straddles limit" if "straddles" in flag else "not estimated"
    return f"estimate {word}, then measured" if attrs.get(LATENCY_SOURCE_ATTR) == MEASURED else word


def _interval(attrs: Mapping[str, Any]) -> str:
    found = latency_interval(attrs)
    return "-" if found is None else f"{found.low:.3g}-{found.high:.3g} ({found.kind})"


def front_table(spec: SearchSpec, trials: Sequence[Any]) -> FrontTable:
    """The table of the front's trials (Optuna FrozenTrials), sorted by the first objective."""
    first = OBJECTIVES[spec.objectives[0]]
    ordered = sorted(trials, key=lambda t: t.values[0], reverse=first.direction == "maximize")
    sources = {str(t.user_attrs.get(LATENCY_SOURCE_ATTR, "estimate")) for t in ordered} or {"estimate"}
    columns = ("trial", *(_heading(o, "/".join(sorted(sources))) for o in spec.objectives),
               "latency source", "latency interval [ms]", "flag", "run", "config")
    rows = tuple((str(t.number), *(format_value(o, v) for o, v in zip(spec.objectives, t.values)),
                  str(t.user_attrs.get(LATENCY_SOURCE_ATTR, "estimate")), _interval(t.user_attrs),
                  _flag(t.user_attrs), str(t.user_attrs.get(RUN_ATTR, ""))[:8],
                  " ".join(as_overrides(t.params, spec))) for t in ordered)
    return FrontTable(columns, rows)


def best_per_objective(spec: SearchSpec, trials: Sequence[Any]) -> dict[str, Any]:
    """Objective name -> the front's trial that is best at it."""
    best = {}
    for i, name in enumerate(spec.objectives):
        pick = max if OBJECTIVES[name].direction == "maximize" else min
        best[name] = pick(trials, key=lambda t, i=i: t.values[i])
    return best
