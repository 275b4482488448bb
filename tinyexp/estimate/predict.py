"""Price an operator list on one source, operator by operator, saying how each price was
obtained, with an 80% prediction interval.

Each operator's cycles come from one of three bases, in this order:
1. fitted: the source's rows contained operators of its (type, dtype); when they all come
   from one network, its interval is at least EXTRAPOLATED_BOUNDS (one network cannot
   separate that operator's price from the rest of its cost);
2. transferred: a lender of the same board (calibration_rows.BOARD_LENDERS) or a reference source
   (calibration_rows.REFERENCE_SOURCES), in that order, has data for it. The rule: the lender's or
   reference's price for the operator times k. From a same-board lender k = 1 (same clock,
   flash, FPU and kernel library as far as known: the rows support no other factor). From
   a reference, k is the source's speed relative to the reference, the geometric mean over
   the source's own rows of measured cycles / cycles the reference predicts for the same
   operator list. The operator's interval is
   the two sources' intervals combined (root sum of squares in log space) and widened by
   TRANSFER_WIDEN;
3. extrapolated: no source has data for it. A weight operator (FC, conv, depthwise) is
   priced as the same source's conv (or depthwise, or FC) of that dtype would be, then as
   the same type in another dtype; any other operator as the same type in another dtype,
   then as the source's median-priced element-wise operator of that dtype. Its interval
   is at least EXTRAPOLATED_BOUNDS. A shape or data-movement operator (DATA_MOVEMENT:
   SHAPE, STRIDED_SLICE, PACK, CONCATENATION, GATHER, TRANSPOSE, PAD, ...; they compute
   nothing, they copy their input once or less) that no source has data for is priced as
   a copy: the source's cheapest element-wise operator on the same elements (its fixed cost
   per operator plus its price per element), interval at least DATA_MOVEMENT_BOUNDS.
4. unpriced: an element-wise operator with no like operator of any kind on its source is
   priced as the source's median element-wise operator of any dtype, interval at least
   GENERIC_BOUNDS. When such operators hold more than UNPRICED_MAX_SHARE of the model's
   estimated cycles the estimate is refused, naming them and their share: a figure mostly
   made of guesses would not be an estimate. A weight operator with no like operator is
   refused outright (it is the model's work).

Intervals: the 10% and 90% split-conformal order statistics of the source's leave-one-out
log residuals log(measured / predicted) when it has at least 9 of them; with fewer, +-1.5 x the largest
(at least +-10%). Parts with different bases add their bounds (their errors are taken as
fully correlated, the cautious choice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np

from tinyexp.core.errors import TinyexpError
from tinyexp.estimate.price_fit import FullFit, Reference, ScaledFit
from tinyexp.estimate.opcost import group
from tinyexp.tflm.operators import MAC_OPERATORS, Operator

TRANSFER_WIDEN = 1.5
EXTRAPOLATED_BOUNDS = (math.log(0.5), math.log(2.0))
DATA_MOVEMENT_BOUNDS = (math.log(1 / 3), math.log(3.0))
GENERIC_BOUNDS = (math.log(0.25), math.log(4.0))
UNPRICED_MAX_SHARE = 0.25
# An operator priced on a source is widened for its size (MACs, else input elements) beyond
# OPERATOR_FAR of the sizes its (type, dtype) had in the source's rows: a price fitted on a
# classifier head's 640-MAC FULLY_CONNECTED says little about a 200,000-MAC one.
OPERATOR_FAR = 2.0
OPERATOR_WIDEN_PER_DECADE = 0.5
# A transferred operator is at least this uncertain: another board or build's price.
TRANSFERRED_BOUNDS = (math.log(0.67), math.log(1.5))
# A weight operator priced on a source none of whose networks is of the model's family.
UNSEEN_FAMILY_BOUNDS = (math.log(0.25), math.log(4.0))
DATA_MOVEMENT = frozenset({
    "SHAPE", "STRIDED_SLICE", "SLICE", "PACK", "UNPACK", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "CONCATENATION",
    "GATHER", "GATHER_ND", "TRANSPOSE", "PAD", "PADV2", "MIRROR_PAD", "SPLIT", "SPLIT_V", "TILE", "FILL",
    "BROADCAST_TO", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND", "ZEROS_LIKE",
    "ONES_LIKE", "CAST"})
_MIN_QUANTILE_RESIDUALS = 9
_SMALL_SAMPLE_FLOOR = math.log(1.10)


@dataclass(frozen=True)
class Bounds:
    """Log-space interval around a prediction: low = pred*exp(lo), high = pred*exp(hi)."""

    lo: float
    hi: float

    @classmethod
    def from_residuals(cls, residuals: Sequence[float]) -> "Bounds":
        r = np.sort(np.asarray(list(residuals), dtype=float))
        n = len(r)
        if n >= _MIN_QUANTILE_RESIDUALS:
            # Split-conformal order statistics: the k-th smallest of n residuals bounds a new
            # one with probability k/(n+1), so these two leave at most 10% out on each side.
            lo, hi = r[max(math.floor(0.1 * (n + 1)) - 1, 0)], r[min(math.ceil(0.9 * (n + 1)) - 1, n - 1)]
            return cls(min(float(lo), -0.01), max(float(hi), 0.01))
        spread = max(1.5 * float(np.max(np.abs(r))) if len(r) else 0.0, _SMALL_SAMPLE_FLOOR)
        return cls(-spread, spread)

    def combined(self, other: "Bounds", widen: float) -> "Bounds":
        return Bounds(-widen * math.hypot(self.lo, other.lo), widen * math.hypot(self.hi, other.hi))

    def at_least(self, lo: float, hi: float) -> "Bounds":
        return Bounds(min(self.lo, lo), max(self.hi, hi))


@dataclass(frozen=True)
class Priced:
    """One operator's cycles and how they were obtained."""

    op: Operator
    cycles: float
    basis: str  # fitted | transferred | extrapolated
    detail: str
    bounds: Bounds
    thin: bool = False  # fitted, but on one network's rows only
    unpriced: bool = False  # no like operator: the generic element-wise rule (module docstring, 4)


Fit = FullFit | ScaledFit


@dataclass(frozen=True)
class SourceModel:
    """A fit plus what pricing on it needs: its interval and the transfer chain."""

    fit: Fit
    bounds: Bounds
    references: tuple["SourceModel", ...] = ()
    # A lender measured on the same board as the sources it lends to (calibration_rows.BOARD_LENDERS):
    # its prices transfer at x1 (transfer_rule), except in the kernel dtypes it withholds
    # (another kernel library than the board deploys: calibration_rows.withheld_dtypes).
    same_board: bool = False
    withheld: frozenset[str] = frozenset()

    ratios: dict = field(default_factory=dict, compare=False, repr=False)  # cache of speed_ratio
    supports: dict = field(default_factory=dict, compare=False, repr=False)  # cache of support

    def support(self, op_group: tuple[str, str], ops_of) -> int:  # noqa: ANN001 - OpsOf
        """How many distinct networks of this source's rows contain the (type, dtype) group."""
        if op_group not in self.supports:
            self.supports[op_group] = len({row.architecture for row in self.fit.rows
                                           if any(group(op) == op_group for op in ops_of(row))})
        return self.supports[op_group]

    def families(self, ops_of) -> frozenset[str]:  # noqa: ANN001 - OpsOf
        """The families (family_of) of this source's networks."""
        if "families" not in self.supports:
            self.supports["families"] = frozenset(family_of(ops_of(row)) for row in self.fit.rows)
        return self.supports["families"]

    def extent(self, op_group: tuple[str, str], ops_of) -> tuple[float, float]:  # noqa: ANN001 - OpsOf
        """The smallest and largest size (operator_size) of the group's operators in this
        source's rows: how far its prices were seen to hold."""
        key = ("extent", op_group)
        if key not in self.supports:
            sizes = [operator_size(op) for row in self.fit.rows for op in ops_of(row) if group(op) == op_group]
            self.supports[key] = (min(sizes), max(sizes)) if sizes else (1.0, 1.0)
        return self.supports[key]

    def widened_for(self, op: Operator, bounds: Bounds, ops_of) -> Bounds:  # noqa: ANN001 - OpsOf
        """bounds widened by OPERATOR_WIDEN_PER_DECADE per decade the operator's size lies
        beyond OPERATOR_FAR of the sizes its group had in this source's rows."""
        lo, hi = self.extent(group(op), ops_of)
        size = operator_size(op)
        ratio = size / (hi * OPERATOR_FAR) if size > hi else lo / (size * OPERATOR_FAR)
        extra = OPERATOR_WIDEN_PER_DECADE * max(math.log10(ratio), 0.0)
        return Bounds(bounds.lo - extra, bounds.hi + extra)

    def transfer_rule(self, reference: "SourceModel", dtype: str, ops_of) -> tuple[float, str] | None:  # noqa: ANN001
        """The factor on the reference's prices and the rule in words; None if there is none.
        Across boards: speed_ratio. Within a board (reference.same_board): x1, since clock,
        flash, FPU and (as far as the rows show) kernels are the same, and a ratio taken on
        the source's rows would measure their fixed overheads, not the kernels' speed."""
        if reference.same_board:
            return None if dtype in reference.withheld else (1.0, "x 1 (the same board and kernel library)")
        k = self.speed_ratio(reference, dtype, ops_of)
        return None if k is None else (k, f"x {k:.3f} (the sources' speed ratio on {self.fit.source}'s rows)")

    def speed_ratio(self, reference: "SourceModel", dtype: str, ops_of) -> float | None:  # noqa: ANN001 - OpsOf
        """k: geometric mean, over this source's rows the reference can price (those of
        the operator's dtype when there are any), of measured cycles / the reference's
        cycles for the same operator list; None if it can price none of them."""
        key = (reference.fit.source, dtype)
        if key not in self.ratios:
            logs: dict[bool, list[float]] = {True: [], False: []}
            for row in self.fit.rows:
                ops = ops_of(row)
                try:
                    predicted = model_cycles(reference, ops, ops_of)
                except TinyexpError:
                    continue
                logs[any(op.dtype == dtype for op in ops if op.type in MAC_OPERATORS)].append(
                    math.log(row.cycles / predicted))
            chosen = logs[True] or logs[False]
            self.ratios[key] = math.exp(sum(chosen) / len(chosen)) if chosen else None
        return self.ratios[key]


def family_of(ops: Sequence[Operator]) -> str:
    """depthwise (any DEPTHWISE_CONV_2D), conv (any CONV_2D) or dense: the families of
    calibration_architectures.yaml, read off an operator list."""
    kinds = {op.type for op in ops}
    return "depthwise" if "DEPTHWISE_CONV_2D" in kinds else "conv" if "CONV_2D" in kinds else "dense"


def operator_size(op: Operator) -> float:
    """What an operator's price scales with, for the distance rule: its MACs, else its input elements."""
    return float(max(op.macs if op.type in MAC_OPERATORS else op.input_elements, 1))


def _stand_ins(fit: Fit, op: Operator) -> list[Operator]:
    """Covered operators to price an uncovered one as, best first (module docstring, 3)."""
    other_dtype = [replace(op, dtype=dtype) for kind, dtype in sorted(fit.covered) if kind == op.type]
    if op.type in MAC_OPERATORS:
        same_dtype = [replace(op, type=kind) for kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
                      if (kind, op.dtype) in fit.covered]
        return same_dtype + other_dtype
    elementwise = sorted((fit.operator_cycles(replace(op, type=kind)), kind) for kind, dtype in fit.covered
                         if dtype == op.dtype and kind not in MAC_OPERATORS)
    median = [replace(op, type=elementwise[len(elementwise) // 2][1])] if elementwise else []
    return other_dtype + median


def model_cycles(model: "SourceModel", ops: Sequence[Operator], ops_of) -> float:  # noqa: ANN001
    return price_model(model, ops, ops_of)[0]


def price_operator(model: SourceModel, op: Operator, ops_of, family: str | None = None) -> Priced:  # noqa: ANN001
    """One operator's price (module docstring); `family` is the priced model's (family_of)."""
    fit = model.fit
    if op.type == "RESHAPE":
        return Priced(op, fit.operator_cycles(op), "fitted", f"fitted on {fit.source}", model.bounds)
    unseen = family is not None and op.type in MAC_OPERATORS and family not in model.families(ops_of)
    if unseen:
        borrowed = _from_family(model, op, ops_of, family)
        if borrowed is not None:
            return borrowed
    if group(op) in fit.covered and unseen:
        return Priced(op, fit.operator_cycles(op), "fitted",
                      f"{op.type} {op.dtype}: fitted on {fit.source}, which has no {family} networks",
                      model.widened_for(op, model.bounds.at_least(*UNSEEN_FAMILY_BOUNDS), ops_of), thin=True)
    if group(op) in fit.covered:
        networks = model.support(group(op), ops_of)
        if networks >= 2:
            return Priced(op, fit.operator_cycles(op), "fitted", f"fitted on {fit.source}",
                          model.widened_for(op, model.bounds, ops_of))
        return Priced(op, fit.operator_cycles(op), "fitted",
                      f"{op.type} {op.dtype}: fitted on one {fit.source} network only",
                      model.widened_for(op, model.bounds.at_least(*EXTRAPOLATED_BOUNDS), ops_of), thin=True)
    widened = {ref.fit.source: model.bounds.combined(ref.bounds, TRANSFER_WIDEN) for ref in model.references}
    for ref in model.references:
        rule = model.transfer_rule(ref, op.dtype, ops_of) if group(op) in ref.fit.covered else None
        if rule is not None:
            return Priced(op, rule[0] * ref.fit.operator_cycles(op), "transferred",
                          f"{op.type} {op.dtype}: {fit.source} has no data; {ref.fit.source}'s price {rule[1]}",
                          ref.widened_for(op, widened[ref.fit.source].at_least(*TRANSFERRED_BOUNDS), ops_of))
    candidates = [(model, 1.0, model.bounds)]
    for ref in model.references:
        rule = model.transfer_rule(ref, op.dtype, ops_of)
        if rule is not None:
            candidates.append((ref, rule[0], widened[ref.fit.source]))
    for candidate, scale, bounds in candidates:
        stand_ins = _stand_ins(candidate.fit, op)
        if op.type in DATA_MOVEMENT:
            stand_ins = [s for s in stand_ins if s.type == op.type] or _cheapest_elementwise(candidate.fit, op)
        if stand_ins:
            as_copy = stand_ins[0].type != op.type
            return Priced(op, scale * candidate.fit.operator_cycles(stand_ins[0]), "extrapolated",
                          f"{op.type} {op.dtype}: no source has data; priced as {stand_ins[0].type}"
                          f" {stand_ins[0].dtype} on {candidate.fit.source}" + (" (a copy of its input)" if as_copy
                                                                                 and op.type in DATA_MOVEMENT else ""),
                          bounds.at_least(*(DATA_MOVEMENT_BOUNDS if as_copy and op.type in DATA_MOVEMENT
                                            else EXTRAPOLATED_BOUNDS)))
    generic = None if op.type in MAC_OPERATORS else _median_elementwise(fit, op)
    if generic is None:
        raise TinyexpError(f"no latency estimate: operator {op.index} {op.type} ({op.dtype}) has no "
                           f"calibration on {fit.source} or its reference sources, nor a like operator")
    return Priced(op, fit.operator_cycles(generic), "extrapolated",
                  f"{op.type} {op.dtype}: no like operator; priced as generic element-wise work ({generic.type}"
                  f" {generic.dtype} on {fit.source})", model.bounds.at_least(*GENERIC_BOUNDS), unpriced=True)


def _from_family(model: SourceModel, op: Operator, ops_of, family: str) -> Priced | None:  # noqa: ANN001
    """A weight operator of a family the source has no networks of, priced by the first
    reference source that has networks of that family and data for the operator, x the
    sources' speed ratio (its price on another family's networks does not carry over: a
    classifier head's FULLY_CONNECTED prices a dense net's badly)."""
    for ref in model.references:
        if family in ref.families(ops_of) and group(op) in ref.fit.covered:
            rule = model.transfer_rule(ref, op.dtype, ops_of)
            if rule is not None:
                bounds = model.bounds.combined(ref.bounds, TRANSFER_WIDEN).at_least(*EXTRAPOLATED_BOUNDS)
                return Priced(op, rule[0] * ref.fit.operator_cycles(op), "transferred",
                              f"{op.type} {op.dtype}: {model.fit.source} has no {family} networks; "
                              f"{ref.fit.source}'s price {rule[1]}", ref.widened_for(op, bounds, ops_of))
    return None


def _elementwise(fit: Fit, op: Operator) -> list[Operator]:
    """The operator as each element-wise (type, dtype) the fit covers, its own dtype first."""
    kinds = sorted(((dtype != op.dtype, kind, dtype) for kind, dtype in fit.covered
                    if kind not in MAC_OPERATORS and kind not in DATA_MOVEMENT))
    return [replace(op, type=kind, dtype=dtype) for _, kind, dtype in kinds]


def _cheapest_elementwise(fit: Fit, op: Operator) -> list[Operator]:
    """A data-movement operator as a copy: the cheapest element-wise stand-in on its elements."""
    options = _elementwise(fit, op)
    return [min(options, key=fit.operator_cycles)] if options else []


def _median_elementwise(fit: Fit, op: Operator) -> Operator | None:
    options = sorted(_elementwise(fit, op), key=fit.operator_cycles)
    return options[len(options) // 2] if options else None


def _refuse_mostly_unpriced(priced: Sequence[Priced], total: float) -> None:
    unpriced = [p for p in priced if p.unpriced]
    share = sum(p.cycles for p in unpriced) / total if total > 0 else 0.0
    if share > UNPRICED_MAX_SHARE:
        names = ", ".join(dict.fromkeys(f"{p.op.type} ({p.op.dtype})" for p in unpriced))
        raise TinyexpError(f"no latency estimate: {100 * share:.0f}% of the estimate would be operators with no "
                           f"calibration nor a like operator ({names}); at most {100 * UNPRICED_MAX_SHARE:.0f}% "
                           "is priced by the generic rule")


def price_model(model: SourceModel, ops: Sequence[Operator], ops_of) -> tuple[float, Bounds, list[Priced]]:  # noqa: ANN001
    """Total cycles, the total's bounds, and each operator priced.

    The model-level cost (invoke and the harness's copies) takes the source's bounds.
    """
    priced = [price_operator(model, op, ops_of, family_of(ops)) for op in ops]
    fixed = model.fit.fixed_cycles(ops)
    total = fixed + sum(p.cycles for p in priced)
    _refuse_mostly_unpriced(priced, total)
    if total <= 0:
        raise TinyexpError(f"no latency estimate: {model.fit.source} prices this model at 0 cycles")
    low = fixed * math.exp(model.bounds.lo) + sum(p.cycles * math.exp(p.bounds.lo) for p in priced)
    high = fixed * math.exp(model.bounds.hi) + sum(p.cycles * math.exp(p.bounds.hi) for p in priced)
    return total, Bounds(math.log(low / total), math.log(high / total)), priced


@dataclass(frozen=True)
class _OperatorPrice:
    """An operator's cycles on a source model (a class, not a closure, so that a fitted
    calibration can be stored: calibration_cache)."""

    model: SourceModel
    ops_of: Callable[[Any], Sequence[Operator]]

    def __call__(self, op: Operator) -> float:
        return price_operator(self.model, op, self.ops_of).cycles


def as_reference(model: SourceModel, ops_of) -> Reference:  # noqa: ANN001
    """The reference's pricing as a scaled fit uses it (with its own extrapolations)."""
    return Reference(model.fit.source, model.fit.fixed_cycles, model.fit.per_operator_cycles,
                     _OperatorPrice(model, ops_of))
