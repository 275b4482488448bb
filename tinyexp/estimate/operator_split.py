"""Per-operator latency estimates: what the virtual board answers to PROF, labelled estimates.

The figures are the estimator's own operators (tinyexp.estimate.per_operator.estimate_operators):
its ``.operators`` list in execution order, each with ``cycles``, ``type`` and ``macs``; the
invoke's cost outside the operators is its ``overhead_us``, in no operator's row, as a
board's MicroProfiler sees it. The operators plus that overhead add up to the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyexp.core.config import BoardConfig
from tinyexp.estimate.per_operator import Estimate, estimate_operators


@dataclass(frozen=True)
class OperatorCost:
    """One operator's estimated share of an invoke."""

    index: int
    type: str
    macs: int
    cycles: float


@dataclass(frozen=True)
class OperatorLatency:
    """Every operator of a model, in execution order, estimated.

    ``method`` says where the figures come from (``per-operator model``);
    ``provenance`` says how, in a line a user can read."""

    operators: tuple[OperatorCost, ...]
    method: str
    provenance: str


def from_estimate(estimate: Estimate) -> OperatorLatency:
    """The per-operator model's estimate as the virtual board's PROF figures."""
    return OperatorLatency(
        operators=tuple(OperatorCost(op.index, op.type, op.macs, op.cycles) for op in estimate.operators),
        method="per-operator model", provenance=estimate.provenance)


def estimate_operator_latency(model: bytes, board: BoardConfig) -> OperatorLatency:
    """Per-operator estimates from the per-operator model (tinyexp.estimate.per_operator)."""
    return from_estimate(estimate_operators(model, board))
