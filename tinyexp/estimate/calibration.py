"""Every source's model built from calibration rows, and its out-of-sample predictions.

The first reference source (calibration_rows.REFERENCE_SOURCES) gets a full per-operator fit, the
study's source (calibration_rows.FORMULA_SOURCES) the dense-net formula's four prices. Every other source is scaled on it (price_fit.fit_scaled) and, with at least SHRINK_MIN_ROWS
rows, refitted in full with its prices pulled towards that scaled fit (price_fit.fit_shrunk).
Each source's 80% interval comes from its leave-one-out residuals (predict.Bounds).

Held-out predictions refit a source without the held-out rows and predict them:
- leave-one-out (LOO): one row at a time;
- leave-one-architecture-out (LOAO): every row of the same network at once (EdgeMark
  measured each network in up to five quantisation modes, and a row's twin in another
  mode makes LOO kind to it);
- leave-one-family-out (LOFO, lofo_intervals): all dense, conv or depthwise networks of the
  source at once, with the interval an estimate from the remaining rows would carry; what
  they have no data for is transferred or extrapolated, as for a user's model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from tinyexp.core.units import cycles_to_us
from tinyexp.estimate.calibration_range import calibration_range
from tinyexp.estimate.price_fit import (check_one_source, fit_formula, fit_full, fit_profiled, fit_scaled, fit_shrunk,
                                  scaled_prices)
from tinyexp.estimate.predict import Bounds, Fit, SourceModel, as_reference, price_model
from tinyexp.estimate.calibration_rows import (BOARD_LENDERS, FORMULA_SOURCES, REFERENCE_SOURCES, Row, cached_operators, family,
                                      withheld_dtypes)
from tinyexp.tflm.operators import Operator

# Sources with at least SHRINK_MIN_ROWS rows get a full fit pulled towards their scaled
# fit (price_fit.fit_shrunk) with this strength; fewer rows, the scaled fit alone. 0.01 was chosen
# from 0.003, 0.01, 0.03, 0.1, 0.3 and 1, and 5 rows from 5, 6 and 10, with the validation
# table in view (LOO of the shrunk EdgeMark sources and Sudharsan's), so their LOO figures
# are not a fully independent test.
SHRINK_MIN_ROWS = 5
SHRINK_STRENGTH = 0.01


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

    def __init__(self, rows: Sequence[Row], ops_of: Callable[[Row], Sequence[Operator]],
                 profiles: Mapping[str, Callable[[Row], Sequence[float]]] | None = None) -> None:
        """profiles: source -> a row's per-operator times (us), for sources whose rows all
        have them; those sources get a profiled fit (price_fit.fit_profiled)."""
        self.rows = tuple(rows)
        self.ops_of = ops_of
        self.profiles = dict(profiles or {})
        self.groups = by_source(rows)
        # Reference sources lend their prices (and bounds) for transfers.
        self.base = SourceModel(fit_full(self.groups[REFERENCE_SOURCES[0]], ops_of), Bounds(0.0, 0.0))
        self.references: dict[str, SourceModel] = {}
        for source in REFERENCE_SOURCES:
            if source in self.groups:
                plain = SourceModel(self._fit(self.groups[source]), Bounds(0.0, 0.0))
                residuals = [p.log_residual for p in self._held_out(source, id, ())]
                self.references[source] = SourceModel(plain.fit, Bounds.from_residuals(residuals))
        # Same-board sources (calibration_rows.BOARD_LENDERS) lend before the references; what they
        # lack themselves they price as any source does, on the references.
        self.lenders: dict[str, SourceModel] = {}
        for source in dict.fromkeys(name for names in BOARD_LENDERS.values() for name in names):
            if source in self.groups:
                chain = tuple(self.references.values())
                residuals = [p.log_residual for p in self._held_out(source, id, chain)]
                self.lenders[source] = SourceModel(self._fit(self.groups[source]), Bounds.from_residuals(residuals),
                                                   chain, same_board=True, withheld=withheld_dtypes(source))
        self._models: dict[str, SourceModel] = {}
        self._loo: dict[str, list[Prediction]] = {}

    def _fit(self, rows: Sequence[Row]) -> Fit:
        check_one_source(rows)
        if rows[0].source in self.profiles:
            return fit_profiled(rows, self.ops_of, self.profiles[rows[0].source])
        if rows[0].source == REFERENCE_SOURCES[0]:
            return fit_full(rows, self.ops_of)
        if rows[0].source in FORMULA_SOURCES:
            return fit_formula(rows, self.ops_of)
        scaled = fit_scaled(rows, self.ops_of, as_reference(self.base, self.ops_of))
        if len(rows) < SHRINK_MIN_ROWS:
            return scaled
        return fit_shrunk(rows, self.ops_of, scaled_prices(scaled, self.base.fit), SHRINK_STRENGTH)

    def chain(self, source: str) -> tuple[SourceModel, ...]:
        """Whom `source` borrows prices from, in order: its board's lenders, then the references."""
        lenders = tuple(self.lenders[name] for name in BOARD_LENDERS.get(source, ()) if name in self.lenders)
        return lenders + tuple(model for name, model in self.references.items() if name != source)

    def _predict(self, model: SourceModel, row: Row, train: Sequence[Row] = ()) -> Prediction:
        """`row` priced on `model`; with `train` (the rows it was fitted on), its interval
        widened for its size against theirs, as an estimate's is."""
        ops = self.ops_of(row)
        total, bounds, priced = price_model(model, ops, self.ops_of)
        if train:
            bounds = calibration_range(train, self.ops_of, ops).widened(bounds)
        us = cycles_to_us(total, row.clock_hz)
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

    def _interval_model(self, source: str, train: Sequence[Row]) -> SourceModel:
        """Fitted on `train`, with the interval an estimate from it would carry: bounds from
        the leave-one-out residuals of `train` alone."""
        residuals = []
        for held in train:
            rest = [r for r in train if r is not held]
            if rest:
                model = SourceModel(self._fit(rest), Bounds(0.0, 0.0), self.chain(source))
                residuals.append(self._predict(model, held).log_residual)
        return SourceModel(self._fit(train), Bounds.from_residuals(residuals), self.chain(source))

    def lofo_intervals(self, source: str) -> list[Prediction]:
        """Leave-one-family-out with the intervals a user's estimate would get: each family's
        rows priced on a model of the other families' rows, its bounds from their LOO
        residuals, widened for what is transferred, extrapolated or outside their sizes."""
        rows, predictions = self.groups[source], []
        for held in dict.fromkeys(family(r.architecture) for r in rows):
            train = [r for r in rows if family(r.architecture) != held]
            if train:
                model = self._interval_model(source, train)
                predictions += [self._predict(model, r, train) for r in rows if family(r.architecture) == held]
        return predictions

    def checked_on(self, source: str, board_source: str) -> list[Prediction]:
        """Every row of `source` priced on `board_source`'s model, with the interval an
        estimate from it would carry (calibration_rows.CHECKS: rows that check a board's estimate)."""
        model, train = self.model(board_source), self.groups[board_source]
        return [self._predict(model, row, train) for row in self.groups[source]]

    def loo(self, source: str) -> list[Prediction]:
        if source not in self._loo:
            self._loo[source] = self._held_out(source, id, self.chain(source))
        return self._loo[source]

    def loao(self, source: str) -> list[Prediction]:
        return self._held_out(source, lambda r: r.architecture, self.chain(source))

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
        """For each row: does the interval of a fit without it hold it, the interval built
        as an estimate's is (predict.price_model), from the other rows' LOO residuals?"""
        rows, loo = self.groups[source], self.loo(source)
        covered = []
        for i, held in enumerate(loo):
            bounds = Bounds.from_residuals([p.log_residual for j, p in enumerate(loo) if j != i])
            train = [r for r in rows if r is not held.row]
            model = SourceModel(self._fit(train), bounds, self.chain(source))
            covered.append(self._predict(model, held.row, train).covered)
        return covered

    def fitted_sources(self) -> frozenset[str]:
        """The sources whose model and leave-one-out predictions are fitted (what a stored
        calibration spares a later job: calibration_cache)."""
        return frozenset(self._models) & frozenset(self._loo)
