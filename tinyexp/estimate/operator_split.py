"""Per-operator latency estimates: what the virtual board answers to PROF, labelled estimates.

Two sources, in this order:

1. The per-operator cost model, ``tinyexp.estimate.per_operator.estimate_operators(model_bytes,
   board)`` (issue 9, item 1): the result's ``.operators`` list, in execution order, each
   with ``cycles``, ``type`` and ``macs``; the invoke's cost outside the operators is its
   ``overhead_us``.
2. The whole-model v1 estimate (tinyexp.estimate.latency), split by its own terms. v1
   prices one invoke as

       cycles = c_invoke + c_operator * operators + c_output * outputs + c_mac[dtype] * macs

   and the split gives each operator c_operator, plus, for a layer (FULLY_CONNECTED,
   CONV_2D, DEPTHWISE_CONV_2D), c_output times its outputs and c_mac times its MACs; where
   the dtype was transferred from another source, its ratio scales every term as it
   scales the whole. c_invoke is the interpreter's cost outside any operator, so it is in
   the invoke's time and in no operator's row, as a board's MicroProfiler sees it. The
   operators plus c_invoke add up to the whole estimate exactly. This split is only as
   good as v1's terms: it puts every non-layer operator (QUANTIZE, RESHAPE, ...) at the
   same fixed cost, whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyexp.core.config import BoardConfig
from tinyexp.estimate.latency import estimate_latency
from tinyexp.estimate.per_operator import Estimate, estimate_operators
from tinyexp.tflm.graph import MAC_OPERATORS
from tinyexp.tflm.inspect import ModelStats, inspect_model


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

    ``method`` says where the figures come from (``per-operator model`` or ``v1 split``);
    ``provenance`` says how, in a line a user can read."""

    operators: tuple[OperatorCost, ...]
    method: str
    provenance: str


def operator_work(stats: ModelStats) -> list[tuple[str, int, int]]:
    """(type, MACs, outputs) per operator in execution order; only layers do MACs."""
    layers = iter(stats.layers)
    rows = []
    for op in stats.ops:
        layer = next(layers) if op in MAC_OPERATORS else None
        rows.append((op, layer.macs if layer else 0, layer.outputs if layer else 0))
    return rows


def split_v1(model: bytes, board: BoardConfig) -> OperatorLatency:
    """The v1 whole-model estimate split over the operators by its own terms (see above)."""
    stats = inspect_model(model)
    estimate = estimate_latency(stats, board)
    c = estimate.coefficients
    ratio = c.get(f"{estimate.kernel_dtype}_over_float32_ratio", 1.0)
    operators = tuple(
        OperatorCost(i, op, macs, ratio * (c["cycles_per_operator"] + c["cycles_per_output"] * outputs
                                           + c["cycles_per_mac"] * macs))
        for i, (op, macs, outputs) in enumerate(operator_work(stats)))
    return OperatorLatency(
        operators=operators, method="v1 split",
        provenance=(estimate.provenance + "; split over the operators by the same terms (each:"
                    " c_operator, plus c_output*outputs + c_mac*MACs for a layer; c_invoke in"
                    " none)"))


def from_estimate(estimate: Estimate) -> OperatorLatency:
    """The per-operator model's estimate as the virtual board's PROF figures."""
    return OperatorLatency(
        operators=tuple(OperatorCost(op.index, op.type, op.macs, op.cycles) for op in estimate.operators),
        method="per-operator model", provenance=estimate.provenance)


def estimate_operator_latency(model: bytes, board: BoardConfig) -> OperatorLatency:
    """Per-operator estimates from the per-operator model (tinyexp.estimate.per_operator)."""
    return from_estimate(estimate_operators(model, board))
