"""The validation tables of the estimator (python -m tinyexp.estimate --validate).

1. Leave-one-row-out, per source: the share of rows within 15% in-sample, leave-one-out and
   leave-one-architecture-out (see tinyexp.estimate.calibration), LOO median and max error,
   and the coverage of the 80% interval, jackknifed: row i's interval comes from the other
   rows' LOO residuals.
2. Leave-one-family-out, per source and family: every dense, conv or depthwise network of
   the source held out at once and priced on the rest, with the interval a user's estimate
   would get (Calibration.lofo_intervals): the share within 15%, the median error and the
   interval's coverage; then the coverage pooled over every source, against TARGET_COVERAGE.
3. Checks, per row: the rows of a source that lends nothing (calibration_rows.CHECKS) priced on the
   source of the board they were measured on, as a user's model is: an out-of-sample test
   of that board's estimate.
"""

from __future__ import annotations

import math
from typing import Sequence

from tinyexp.estimate.calibration import Calibration, Prediction
from tinyexp.estimate.calibration_cache import shipped_calibration
from tinyexp.estimate.predict import family_of
from tinyexp.estimate.calibration_rows import CHECKS

WITHIN_PCT = 15.0
TARGET_COVERAGE = 80.0
_SOURCE_WIDTH = 58


def share_within(predictions: Sequence[Prediction], pct: float = WITHIN_PCT) -> float:
    return 100.0 * sum(abs(p.error_pct) <= pct for p in predictions) / len(predictions) if predictions else math.nan


def coverage(predictions: Sequence[Prediction]) -> float:
    return 100.0 * sum(p.covered for p in predictions) / len(predictions) if predictions else math.nan


def _median_abs(predictions: Sequence[Prediction]) -> float:
    values = sorted(abs(p.error_pct) for p in predictions)
    return values[len(values) // 2] if values else math.nan


def _pct(value: float) -> str:
    return "   -" if math.isnan(value) else f"{value:4.0f}"


def _sources(calibration: Calibration) -> list[str]:
    return sorted(calibration.groups, key=lambda s: (-len(calibration.groups[s]), s))


def row_out_table(calibration: Calibration) -> list[str]:
    """Table 1 (module docstring), and the LOO target per source with >= 10 rows."""
    lines = ["leave-one-row-out: % of rows within 15% (in-sample, leave-one-out, leave-one-architecture-out), "
             "LOO median/max |error| %, jackknifed coverage of the 80% interval",
             f"{'source':{_SOURCE_WIDTH}} {'rows':>4} {'fit':7} {'in%':>4} {'LOO%':>4} {'med':>5} {'max':>6} "
             f"{'LOAO%':>5} {'cov80':>5}"]
    met = []
    for source in _sources(calibration):
        loo = calibration.loo(source)
        covered = calibration.jackknife_coverage(source)
        jackknifed = 100.0 * sum(covered) / len(covered) if covered else math.nan
        lines.append(f"{source:{_SOURCE_WIDTH}} {len(calibration.groups[source]):4d} "
                     f"{calibration.model(source).fit.kind:7} {_pct(share_within(calibration.in_sample(source)))} "
                     f"{_pct(share_within(loo))} {_median_abs(loo):5.1f} "
                     f"{max((abs(p.error_pct) for p in loo), default=math.nan):6.1f} "
                     f"{_pct(share_within(calibration.loao(source))):>5} {_pct(jackknifed):>5}")
        if len(calibration.groups[source]) >= 10:
            met.append((source, share_within(loo) >= 90.0))
    lines.append("target (LOO >= 90% of rows within 15% in every source with >= 10 rows): "
                 + ", ".join(f"{name} {'met' if ok else 'NOT met'}" for name, ok in met))
    return lines


def family_out_table(calibration: Calibration) -> tuple[list[str], float]:
    """Table 2 (module docstring) and the pooled coverage of the 80% interval."""
    lines = ["leave-one-family-out: each family's rows priced on the source's other families, with the interval "
             "a user's estimate gets: rows, % within 15%, median |error| %, coverage of the 80% interval",
             f"{'source':{_SOURCE_WIDTH}} {'family':9} {'rows':>4} {'in15%':>5} {'med':>6} {'cov80':>5}"]
    pooled: list[Prediction] = []
    for source in _sources(calibration):
        predictions = calibration.lofo_intervals(source)
        pooled += predictions
        by_family: dict[str, list[Prediction]] = {}
        for p in predictions:
            by_family.setdefault(family_of(calibration.ops_of(p.row)), []).append(p)
        for name, members in sorted(by_family.items()):
            lines.append(f"{source:{_SOURCE_WIDTH}} {name:9} {len(members):4d} {_pct(share_within(members)):>5} "
                         f"{_median_abs(members):6.1f} {_pct(coverage(members)):>5}")
    pooled_coverage = coverage(pooled)
    lines.append(f"pooled: {len(pooled)} rows, {_pct(share_within(pooled)).strip()}% within 15%, 80% interval covers "
                 f"{pooled_coverage:.1f}% (target >= {TARGET_COVERAGE:.0f}%: "
                 f"{'met' if pooled_coverage >= TARGET_COVERAGE else 'NOT met'})")
    return lines, pooled_coverage


def check_table(calibration: Calibration) -> list[str]:
    """Table 3 (module docstring)."""
    lines = ["checks: rows no estimate is fitted on, priced on their board's source as a user's model is: "
             "measured and estimated us, error %, and whether the 80% interval holds the row",
             f"{'row':42} {'priced on':22} {'measured':>10} {'estimate':>10} {'error':>6} {'in80':>4}"]
    for checked, board_source in CHECKS.items():
        if checked in calibration.groups and board_source in calibration.groups:
            for p in calibration.checked_on(checked, board_source):
                lines.append(f"{checked + ' ' + p.row.label:42} {board_source:22} {p.row.latency_us:10.0f} "
                             f"{p.predicted_us:10.0f} {p.error_pct:+6.0f} {'yes' if p.covered else 'no':>4}")
    return lines


def validation_table(calibration: Calibration | None = None) -> str:
    """The three tables (module docstring), one after the other."""
    calibration = calibration or shipped_calibration()
    family_lines, _ = family_out_table(calibration)
    return "\n".join([*row_out_table(calibration), "", *family_lines, "", *check_table(calibration)])
