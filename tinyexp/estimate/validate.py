"""The validation table of the v2 model (python -m tinyexp.estimate --validate).

Per source: the share of rows within 15% in-sample, leave-one-out, leave-one-architecture-
out and leave-one-family-out (see tinyexp.estimate.calibration), and the coverage of the
80% interval, jackknifed: row i's interval comes from the other rows' LOO residuals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

from tinyexp.estimate.calibration import Calibration, Prediction, shipped_calibration
from tinyexp.estimate.sources import family

WITHIN_PCT = 15.0


def share_within(predictions: Sequence[Prediction], pct: float = WITHIN_PCT) -> float:
    return 100.0 * sum(abs(p.error_pct) <= pct for p in predictions) / len(predictions) if predictions else math.nan


@dataclass(frozen=True)
class SourceSummary:
    source: str
    rows: int
    kind: str
    in_sample_within_pct: float
    loo_within_pct: float
    loo_median_abs_pct: float
    loo_max_abs_pct: float
    loao_within_pct: float
    coverage_pct: float
    per_family_loo_within_pct: Mapping[str, float]
    lofo_within_pct: Mapping[str, float]


def _median_abs(predictions: Sequence[Prediction]) -> float:
    values = sorted(abs(p.error_pct) for p in predictions)
    return values[len(values) // 2] if values else math.nan


def summarise(calibration: Calibration, source: str) -> SourceSummary:
    loo = calibration.loo(source)
    lofo = calibration.lofo(source)
    coverage = calibration.jackknife_coverage(source)
    families = sorted({family(p.row.architecture) for p in loo})
    return SourceSummary(
        source=source, rows=len(calibration.groups[source]), kind=calibration.model(source).fit.kind,
        in_sample_within_pct=share_within(calibration.in_sample(source)),
        loo_within_pct=share_within(loo), loo_median_abs_pct=_median_abs(loo),
        loo_max_abs_pct=max((abs(p.error_pct) for p in loo), default=math.nan),
        loao_within_pct=share_within(calibration.loao(source)),
        coverage_pct=100.0 * sum(coverage) / len(coverage) if coverage else math.nan,
        per_family_loo_within_pct={f: share_within([p for p in loo if family(p.row.architecture) == f])
                                   for f in families},
        lofo_within_pct={f: share_within([p for p in lofo if family(p.row.architecture) == f])
                         for f in families})


def _pct(value: float) -> str:
    return "   -" if math.isnan(value) else f"{value:4.0f}"


def validation_table(calibration: Calibration | None = None) -> str:
    """One line per source: rows, fit kind, % of rows within 15% in-sample / LOO / LOAO,
    LOO median and max |error|, 80%-interval coverage, LOO and LOFO per family."""
    calibration = calibration or shipped_calibration()
    head = (f"{'source':58} {'rows':>4} {'fit':6} {'in%':>4} {'LOO%':>4} {'med':>5} {'max':>6} "
            f"{'LOAO%':>5} {'cov80':>5}  LOO% per family | LOFO% per family")
    lines = ["v2 per-operator latency model: % of rows within 15% (in-sample, leave-one-out, leave-one-"
             "architecture-out), LOO median/max |error| %, jackknifed coverage of the 80% interval; "
             "LOO and leave-one-family-out (LOFO) per family",
             head]
    met = []
    for source in sorted(calibration.groups, key=lambda s: (-len(calibration.groups[s]), s)):
        s = summarise(calibration, source)
        fam = " ".join(f"{f}={_pct(v).strip()}" for f, v in s.per_family_loo_within_pct.items())
        lofo = " ".join(f"{f}={_pct(v).strip()}" for f, v in s.lofo_within_pct.items())
        lines.append(f"{source:58} {s.rows:4d} {s.kind:6} {_pct(s.in_sample_within_pct)} {_pct(s.loo_within_pct)} "
                     f"{s.loo_median_abs_pct:5.1f} {s.loo_max_abs_pct:6.1f} {_pct(s.loao_within_pct):>5} "
                     f"{_pct(s.coverage_pct):>5}  {fam} | {lofo}")
        if s.rows >= 10:
            met.append((source, s.loo_within_pct >= 90.0))
    lines.append("target (LOO >= 90% of rows within 15% in every source with >= 10 rows): "
                 + ", ".join(f"{name} {'met' if ok else 'NOT met'}" for name, ok in met))
    return "\n".join(lines)
