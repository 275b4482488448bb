"""Fit a source's per-operator prices to its measured rows.

A *full* fit (the reference source, or any source with enough rows and no reference)
prices every feature of tinyexp.estimate.opcost by non-negative least squares on the rows'
operator lists, each row weighted by 1/cycles so that relative error is minimised;
negative cycle prices are not physical.

Other sources have too few rows to price two dozen features, so they get a *scaled* fit,
a stated transfer rule: their cycles are the reference source's prices (as the reference
would price each operator, see tinyexp.estimate.predict) times non-negative factors fitted
the same way (plus, from COARSE_MIN_ROWS rows on, the source's own fixed cycles per
invoke). How many factors depends on the rows:
- "by type"  (>= FINE_MIN_ROWS rows): one for fixed costs (invoke, harness, per operator),
  and one per kernel dtype and weight-operator type (FC, conv, depthwise) plus one per
  dtype for all element-wise operators;
- "by dtype" (>= COARSE_MIN_ROWS rows): fixed costs, and one per dtype for all operator work;
- "two" (>= 2 rows): fixed costs and all operator work;
- "one": a single speed ratio.
A *formula* fit is the third kind, for a source whose rows are one family of dense nets in
one dtype (the 2020 study's three 1-n-n-1 timings, calibration_rows.FORMULA_SOURCES): NNLS on four
prices only, cycles per invoke, per operator, per FC output and per FC MAC (the study's
dense-net formula, docs/decisions/0001), because its few rows separate those and no more.
Either way a fit prices operator lists; what it has no data for is transferred or
extrapolated by tinyexp.estimate.predict, labelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from tinyexp.core.errors import TinyexpError
from tinyexp.core.units import us_to_cycles
from tinyexp.estimate.opcost import SHARED_TERMS, groups, model_features, operator_features
from tinyexp.estimate.calibration_rows import Row
from tinyexp.tflm.operators import MAC_OPERATORS, Operator

FINE_MIN_ROWS = 20
COARSE_MIN_ROWS = 6
OpsOf = Callable[[Row], Sequence[Operator]]
_FIXED = "fixed"
# Not a factor: the source's own cycles per invoke, added (harness and interpreter set-up
# the reference may not have), fitted when the rows allow a per-dtype granularity.
OWN_INVOKE = "own_invoke_cycles"


def nnls(design: np.ndarray, target: np.ndarray, maxiter: int | None = None) -> tuple[np.ndarray, float]:
    """SciPy's non-negative least squares, imported on first use: a job that reads a stored
    calibration (calibration_cache) fits nothing and need not import SciPy."""
    from scipy.optimize import nnls as scipy_nnls

    return scipy_nnls(design, target, maxiter=maxiter)


def _solve(design: np.ndarray, cycles: np.ndarray) -> np.ndarray:
    coef, _ = nnls(design / cycles[:, None], np.ones(len(cycles)), maxiter=50 * design.shape[1])
    return coef


def _covered(rows: Sequence[Row], ops_of: OpsOf) -> frozenset[tuple[str, str]]:
    return frozenset(g for r in rows for g in groups(ops_of(r)))


@dataclass(frozen=True)
class FullFit:
    """Cycle prices of every feature (name -> cycles) fitted on `rows` of one source;
    covered: the (operator type, dtype) groups those rows contained."""

    source: str
    rows: tuple[Row, ...]
    covered: frozenset[tuple[str, str]]
    prices: Mapping[str, float]
    kind: str = "full"

    def fixed_cycles(self, ops: Sequence[Operator]) -> float:
        """invoke + the harness's copies: the model-level cost."""
        features = model_features(ops)
        return sum(self.prices.get(name, 0.0) * value for name, value in features.items()
                   if name == "invoke" or name.startswith("io"))

    def per_operator_cycles(self, op: Operator) -> float:
        """The operator's fixed cost (dispatch, Eval set-up) for its dtype."""
        return self.prices.get("per_operator", 0.0) + self.prices.get(f"per_operator/{op.dtype}", 0.0)

    def operator_cycles(self, op: Operator) -> float:
        """One operator's cycles (per_operator included)."""
        return sum(self.prices.get(name, 0.0) * value for name, value in operator_features(op).items())

    def cycles(self, ops: Sequence[Operator]) -> float:
        return self.fixed_cycles(ops) + sum(self.operator_cycles(op) for op in ops)

    def describe(self) -> str:
        how = {"full": "full per-operator fit", "profiled": "per-operator fit on per-operator profiles",
               "shrunk": "per-operator fit pulled towards the reference's scaled prices",
               "formula": "dense-net formula (cycles per invoke, operator, FC output, FC MAC)"}[self.kind]
        return f"{how} on {len(self.rows)} {self.source} rows"


def fit_full(rows: Sequence[Row], ops_of: OpsOf) -> FullFit:
    """Price every feature that appears in the rows (see module docstring)."""
    features = [model_features(ops_of(r)) for r in rows]
    names = list(SHARED_TERMS) + sorted({n for f in features for n in f} - set(SHARED_TERMS))
    design = np.array([[f.get(n, 0.0) for n in names] for f in features])
    coef = _solve(design, np.array([r.cycles for r in rows]))
    return FullFit(rows[0].source, tuple(rows), _covered(rows, ops_of), dict(zip(names, map(float, coef))))


def _formula_terms(dtype: str) -> list[str]:
    return ["invoke", "per_operator", f"FULLY_CONNECTED/{dtype}:outputs", f"FULLY_CONNECTED/{dtype}:macs"]


def fit_formula(rows: Sequence[Row], ops_of: OpsOf) -> FullFit:
    """The dense-net formula's four prices (module docstring) on rows of FC-only nets of
    one dtype; TinyexpError for rows it does not describe."""
    dtypes = {op.dtype for r in rows for op in ops_of(r)}
    kinds = {op.type for r in rows for op in ops_of(r)}
    if len(dtypes) != 1 or kinds != {"FULLY_CONNECTED"}:
        raise TinyexpError(f"{rows[0].source}: the dense-net formula fits FC-only nets of one dtype "
                           f"(rows have {', '.join(sorted(kinds))} in {', '.join(sorted(dtypes))})")
    names = _formula_terms(dtypes.pop())
    features = [model_features(ops_of(r)) for r in rows]
    coef = _solve(np.array([[f.get(n, 0.0) for n in names] for f in features]), np.array([r.cycles for r in rows]))
    return FullFit(rows[0].source, tuple(rows), _covered(rows, ops_of), dict(zip(names, map(float, coef))),
                   kind="formula")


@dataclass(frozen=True)
class Reference:
    """How the reference source prices things, as the scaled fit sees it."""

    source: str
    fixed_cycles: Callable[[Sequence[Operator]], float]
    per_operator_cycles: Callable[[Operator], float]
    operator_cycles: Callable[[Operator], float]


def granularity(rows: int) -> str:
    if rows >= FINE_MIN_ROWS:
        return "by type"
    if rows >= COARSE_MIN_ROWS:
        return "by dtype"
    return "two" if rows >= 2 else "one"


def factor_key(kind: str, dtype: str, level: str) -> str:
    """The factor an operator of this type and dtype is scaled by, at a granularity."""
    if level == "by type":
        return f"{dtype}:{kind if kind in MAC_OPERATORS else 'elementwise'}"
    if level == "by dtype":
        return f"{dtype}:work"
    return "work" if level == "two" else _FIXED


@dataclass(frozen=True)
class ScaledFit:
    """The reference's prices times fitted factors (factor name -> multiplier)."""

    source: str
    rows: tuple[Row, ...]
    covered: frozenset[tuple[str, str]]
    reference: Reference
    level: str
    factors: Mapping[str, float]
    kind: str = "scaled"

    def _factor(self, key: str) -> float:
        if key in self.factors:
            return self.factors[key]
        work = ([v for k, v in self.factors.items() if k not in (_FIXED, OWN_INVOKE)]
                or [self.factors[_FIXED]])
        return math.exp(sum(math.log(max(v, 1e-12)) for v in work) / len(work))

    def fixed_cycles(self, ops: Sequence[Operator]) -> float:
        return self.factors.get(OWN_INVOKE, 0.0) + self._factor(_FIXED) * self.reference.fixed_cycles(ops)

    def per_operator_cycles(self, op: Operator) -> float:
        return self._factor(_FIXED) * self.reference.per_operator_cycles(op)

    def operator_cycles(self, op: Operator) -> float:
        own = self.reference.operator_cycles(op) - self.reference.per_operator_cycles(op)
        return self.per_operator_cycles(op) + self._factor(factor_key(op.type, op.dtype, self.level)) * own

    def cycles(self, ops: Sequence[Operator]) -> float:
        return self.fixed_cycles(ops) + sum(self.operator_cycles(op) for op in ops)

    def describe(self) -> str:
        factors = ", ".join(f"{k} {v:.4g}" if k == OWN_INVOKE else f"{k} x{v:.3g}"
                            for k, v in sorted(self.factors.items()))
        return f"{self.reference.source}'s prices scaled ({factors}) on {len(self.rows)} {self.source} rows"


def fit_scaled(rows: Sequence[Row], ops_of: OpsOf, reference: Reference) -> ScaledFit:
    """Factors on the reference's prices, as many as the rows support (module docstring)."""
    level = granularity(len(rows))
    columns: list[dict[str, float]] = []
    for row in rows:
        ops = ops_of(row)
        column = {_FIXED: reference.fixed_cycles(ops) + sum(reference.per_operator_cycles(op) for op in ops)}
        if level in ("by type", "by dtype"):
            column[OWN_INVOKE] = 1.0
        for op in ops:
            key = factor_key(op.type, op.dtype, level)
            column[key] = column.get(key, 0.0) + reference.operator_cycles(op) - reference.per_operator_cycles(op)
        columns.append(column)
    cycles = np.array([r.cycles for r in rows])
    if level == "one":
        factors = {_FIXED: float(cycles[0] / columns[0][_FIXED])}
    else:
        names = sorted({k for c in columns for k in c})
        coef = _solve(np.array([[c.get(n, 0.0) for n in names] for c in columns]), cycles)
        factors = dict(zip(names, map(float, coef)))
    return ScaledFit(rows[0].source, tuple(rows), _covered(rows, ops_of), reference, level, factors)


def check_one_source(rows: Sequence[Row]) -> None:
    if not rows:
        raise TinyexpError("a fit needs at least one row")
    if len({r.source for r in rows}) != 1:
        raise TinyexpError("a fit needs rows of exactly one source")


def fit_shrunk(rows: Sequence[Row], ops_of: OpsOf, prior: Mapping[str, float], strength: float) -> FullFit:
    """A full fit whose prices are pulled towards `prior` (feature -> cycles): each price
    p with a positive prior adds the residual sqrt(strength) * (p / prior - 1) to the rows'
    relative residuals. With few rows per price this keeps the fit near the prior where
    the rows say little, and lets them move it where they say much."""
    features = [model_features(ops_of(r)) for r in rows]
    names = list(SHARED_TERMS) + sorted({n for f in features for n in f} - set(SHARED_TERMS))
    cycles = np.array([r.cycles for r in rows])
    design = np.array([[f.get(n, 0.0) for n in names] for f in features]) / cycles[:, None]
    target = np.ones(len(rows))
    weight = math.sqrt(strength)
    penalties = [(i, prior[n]) for i, n in enumerate(names) if prior.get(n, 0.0) > 0]
    if penalties:
        extra = np.zeros((len(penalties), len(names)))
        for row_index, (i, value) in enumerate(penalties):
            extra[row_index, i] = weight / value
        design = np.vstack([design, extra])
        target = np.concatenate([target, np.full(len(penalties), weight)])
    coef, _ = nnls(design, target, maxiter=50 * len(names))
    return FullFit(rows[0].source, tuple(rows), _covered(rows, ops_of), dict(zip(names, map(float, coef))),
                   kind="shrunk")


def scaled_prices(scaled: ScaledFit, reference: FullFit) -> dict[str, float]:
    """The full-fit prices a scaled fit implies (the prior of fit_shrunk)."""
    prices = {}
    for name, value in reference.prices.items():
        if name in SHARED_TERMS or name.startswith(("io/", "per_operator/")):
            prices[name] = scaled._factor(_FIXED) * value
        else:
            kind, rest = name.split("/", 1)
            dtype = rest.split(":", 1)[0]
            prices[name] = scaled._factor(factor_key(kind, dtype, scaled.level)) * value
    return prices


def fit_profiled(rows: Sequence[Row], ops_of: OpsOf, profile_of: Callable[[Row], Sequence[float]]) -> FullFit:
    """A full fit from per-operator profiles (a board's own runs with a per-operator timing):
    every operator's measured cycles is a row of the per-operator prices, and what the
    whole invoke took beyond its operators prices invoke and the harness's copies. Many
    more equations than runs, so a few runs price a board completely."""
    op_features, op_cycles, fixed_features, fixed_cycles = [], [], [], []
    for row in rows:
        ops, profile = ops_of(row), profile_of(row)
        to_cycles = us_to_cycles(1.0, row.clock_hz)
        op_features += [operator_features(op) for op in ops]
        op_cycles += [us * to_cycles for us in profile]
        model = model_features(ops)
        fixed_features.append({n: v for n, v in model.items() if n == "invoke" or n.startswith("io/")})
        fixed_cycles.append(max(row.cycles - sum(profile) * to_cycles, 0.0))
    names = sorted({n for f in op_features for n in f})
    weights = np.array([max(c, 1.0) for c in op_cycles])
    coef, _ = nnls(np.array([[f.get(n, 0.0) for n in names] for f in op_features]) / weights[:, None],
                   np.array(op_cycles) / weights, maxiter=50 * len(names))
    prices = dict(zip(names, map(float, coef)))
    fixed_names = sorted({n for f in fixed_features for n in f})
    scale = np.array([max(r.cycles, 1.0) for r in rows])
    fixed, _ = nnls(np.array([[f.get(n, 0.0) for n in fixed_names] for f in fixed_features]) / scale[:, None],
                    np.array(fixed_cycles) / scale)
    prices.update(zip(fixed_names, map(float, fixed)))
    return FullFit(rows[0].source, tuple(rows), _covered(rows, ops_of), prices, kind="profiled")
