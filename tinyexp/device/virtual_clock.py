"""The virtual board's modelled clock: how long it says an invoke takes, and how that time
splits over the operators for PROF.

A virtual board runs the real kernels on the host, whose timing says nothing about the board,
so every figure it reports comes from here: a latency estimate (the per-operator model by
default, or a figure given by hand), the same for every invoke (no invented jitter). The board
labels these figures estimates (HELLO's ``timer=estimate``); nothing here measures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from tinyexp.core.config import BoardConfig
from tinyexp.core.units import us_to_cycles


class LatencyEstimate(Protocol):
    """What a latency model returns (tinyexp.estimate.per_operator.estimate_operators' result)."""

    latency_us: float
    cycles: float


LatencyFn = Callable[[bytes, BoardConfig], LatencyEstimate]
# Per-operator estimates for PROF: (operator name, cycles) in execution order.
OperatorsFn = Callable[[bytes, BoardConfig], Sequence[tuple[str, float]]]


@dataclass(frozen=True)
class FixedLatency:
    """A latency given by the user (for example measured once on hardware) instead of a model."""

    latency_us: float
    cycles: float


def estimate_from_model(model: bytes, board: BoardConfig) -> LatencyEstimate:
    """The default latency model: the per-operator estimate (tinyexp.estimate.per_operator)."""
    from tinyexp.estimate.per_operator import estimate_operators

    return estimate_operators(model, board)


def operators_from_model(model: bytes, board: BoardConfig) -> list[tuple[str, float]]:
    """The default per-operator figures: the estimate's own operators (estimates, labelled so); the
    invoke's cost outside them is the estimate's overhead, in no operator's row, as a board's
    MicroProfiler sees it."""
    from tinyexp.estimate.per_operator import estimate_operators

    return [(o.type, o.cycles) for o in estimate_operators(model, board).operators]


def fixed_latency(latency_us: float) -> LatencyFn:
    """A LatencyFn that always answers ``latency_us`` (cycles from the board's clock)."""
    return lambda _model, board: FixedLatency(latency_us, us_to_cycles(latency_us, board.clock_hz))


def whole_ticks(operators: Sequence[tuple[str, float]]) -> tuple[tuple[str, int], ...]:
    """Whole cycles per operator, each within one of its figure, from the running total cut
    down to a whole cycle: they add up to the whole part of the sum, so the operators never
    take more of the invoke than the estimate gives them, as on a board."""
    out, running, before = [], 0.0, 0
    for name, cycles in operators:
        running += cycles
        out.append((name, math.floor(running) - before))
        before = math.floor(running)
    return tuple(out)
