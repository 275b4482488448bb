"""Build every source's model from the calibration rows and validate it out of sample.

    python -m tinyexp.estimate --validate      (prints validation_table())

Validation refits a source without the held-out rows and predicts them:
- leave-one-out (LOO): one row at a time;
- leave-one-architecture-out (LOAO): every row of the same network at once (EdgeMark
  measured each network in up to five quantisation modes, and a row's twin in another
  mode makes LOO kind to it);
- leave-one-family-out (LOFO): all dense, conv or depthwise networks of the source at once;
  what the remaining rows have no data for is transferred or extrapolated, as for a user's
  model.
Interval coverage is jackknifed: row i's interval comes from the other rows' LOO
residuals, then counts if it holds the measurement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Mapping, Sequence

import os

from tinyexp.estimate.fit import check_one_source, fit_full, fit_scaled, fit_shrunk, scaled_prices
from tinyexp.estimate.predict import Bounds, Fit, SourceModel, as_reference, price_model
from tinyexp.estimate.sources import REFERENCE_SOURCES, Row, cached_operators, family, published_rows
from tinyexp.tflm.operators import Operator

WITHIN_PCT = 15.0
SHRINK_MIN_ROWS = int(os.environ.get("TX_SHRINK_MIN", 10))
SHRINK_STRENGTH = float(os.environ.get("TX_SHRINK", 0.1))
_MHZ = 1_000_000


def calibration_ops(row: Row) -> tuple[Operator, ...]:
    """The cached operator list of a shipped row's rebuilt network."""
    return cached_operators()[row.key]


@dataclass(frozen=True)
class Prediction:
    """A row predicted by a model fitted without it (or with it, for in-sample)."""

    row: Row
    predicted_us: float
    low_us: float
    high_us: float
    bases: tuple[str, ...]  # the distinct bases of its operators' prices

    @property
    def error_pct(self) -> float:
        return 100.0 * (self.predicted_us - self.row.latency_us) / self.row.latency_us

    @property
    def log_residual(self) -> float:
        return math.log(self.row.latency_us / self.predicted_us)

    @property
    def covered(self) -> bool:
        return self.low_us <= self.row.latency_us <= self.high_us


def by_source(rows: Sequence[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = {}
    for row in rows:
        grouped.setdefault(row.source, []).append(row)
    return grouped


class Calibration:
    """All sources' models built from one set of rows (the shipped ones by default)."""

    def __init__(self, rows: Sequence[Row], ops_of: Callable[[Row], Sequence[Operator]]) -> None:
        self.rows = tuple(rows)
        self.ops_of = ops_of
        self.groups = by_source(rows)
        # The first reference source is fitted in full and alone; every other source is
        # scaled on it. Reference sources lend their prices (and bounds) for transfers.
        self.base = SourceModel(fit_full(self.groups[REFERENCE_SOURCES[0]], ops_of), Bounds(0.0, 0.0))
        self.references: dict[str, SourceModel] = {}
        for source in REFERENCE_SOURCES:
            if source in self.groups:
                plain = SourceModel(self._fit(self.groups[source]), Bounds(0.0, 0.0))
                residuals = [p.log_residual for p in self._held_out(source, id, ())]
                self.references[source] = SourceModel(plain.fit, Bounds.from_residuals(residuals))
        self._models: dict[str, SourceModel] = {}

    def _fit(self, rows: Sequence[Row]) -> Fit:
        check_one_source(rows)
        if rows[0].source == REFERENCE_SOURCES[0]:
            return fit_full(rows, self.ops_of)
        scaled = fit_scaled(rows, self.ops_of, as_reference(self.base, self.ops_of))
        if len(rows) < SHRINK_MIN_ROWS:
            return scaled
        return fit_shrunk(rows, self.ops_of, scaled_prices(scaled, self.base.fit), SHRINK_STRENGTH)

    def chain(self, source: str) -> tuple[SourceModel, ...]:
        return tuple(model for name, model in self.references.items() if name != source)

    def _predict(self, model: SourceModel, row: Row) -> Prediction:
        total, bounds, priced = price_model(model, self.ops_of(row), self.ops_of)
        us = total / row.clock_hz * _MHZ
        return Prediction(row, us, us * math.exp(bounds.lo), us * math.exp(bounds.hi),
                          tuple(sorted({p.basis for p in priced})))

    def _held_out(self, source: str, key: Callable[[Row], object],
                  chain: tuple[SourceModel, ...]) -> list[Prediction]:
        rows = self.groups[source]
        predictions = []
        for value in dict.fromkeys(key(r) for r in rows):
            train = [r for r in rows if key(r) != value]
            if not train:
                continue
            model = SourceModel(self._fit(train), Bounds(0.0, 0.0), chain)
            predictions += [self._predict(model, r) for r in rows if key(r) == value]
        return predictions

    def loo(self, source: str) -> list[Prediction]:
        return self._held_out(source, id, self.chain(source))

    def loao(self, source: str) -> list[Prediction]:
        return self._held_out(source, lambda r: r.architecture, self.chain(source))

    def lofo(self, source: str) -> list[Prediction]:
        return self._held_out(source, lambda r: family(r.architecture), self.chain(source))

    def model(self, source: str) -> SourceModel:
        """The source fitted on all its rows, its interval from its LOO residuals."""
        if source not in self._models:
            residuals = [p.log_residual for p in self.loo(source)]
            self._models[source] = SourceModel(self._fit(self.groups[source]),
                                               Bounds.from_residuals(residuals), self.chain(source))
        return self._models[source]

    def in_sample(self, source: str) -> list[Prediction]:
        model = SourceModel(self.model(source).fit, Bounds(0.0, 0.0), self.chain(source))
        return [self._predict(model, r) for r in self.groups[source]]

    def jackknife_coverage(self, source: str) -> list[bool]:
        """For each row: does the interval built from the other rows' LOO residuals hold it?"""
        loo = self.loo(source)
        covered = []
        for i, held in enumerate(loo):
            bounds = Bounds.from_residuals([p.log_residual for j, p in enumerate(loo) if j != i])
            covered.append(held.predicted_us * math.exp(bounds.lo) <= held.row.latency_us
                           <= held.predicted_us * math.exp(bounds.hi))
        return covered


@lru_cache(maxsize=1)
def shipped_calibration() -> Calibration:
    return Calibration(published_rows(), calibration_ops)


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
             "architecture-out), LOO median/max |error| %, jackknifed coverage of the 80% interval",
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
