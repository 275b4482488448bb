"""Cheap before expensive: what a candidate needs on the board, known before it trains.

A network's size, its arena, whether TFLM runs it and its estimated latency do not depend on
its trained weights, so each candidate is built with untrained weights, converted, loaded in
TFLM, checked for fit and estimated (the job's own stages) in well under a second. A candidate
that cannot meet a limit is pruned here and never trains (:func:`prune_reason`); one whose
latency estimate's 80% interval straddles the limit trains, flagged (:func:`latency_flag`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tinyexp.core.errors import TinyexpError
from tinyexp.estimate.per_operator import estimate_operators
from tinyexp.model import sources
from tinyexp.model.data import make_dataset
from tinyexp.pipeline.stages import convert_and_analyse
from tinyexp.search.space import Limits
from tinyexp.tflm.board_fit import check_fit


@dataclass(frozen=True)
class Screen:
    """A candidate's needs against its budget, before training. Latencies are the v2
    estimator's (an estimate, never a measurement); None where it could not price the model."""

    model_bytes: int
    arena_bytes: int | None
    tflm_refusal: str | None
    flash_needed: int
    flash_limit: int
    ram_needed: int | None
    ram_limit: int
    fit_basis: str
    latency_ms: float | None = None
    latency_low_ms: float | None = None
    latency_high_ms: float | None = None
    estimate_problem: str | None = None


def screen(cfg: Any, limits: Limits) -> Screen:
    """Build the candidate untrained, convert it, check TFLM, fit and latency (no training)."""
    data = make_dataset(cfg.dataset)
    keras_model = sources.build(cfg.model, data.input_shape)
    model = convert_and_analyse(keras_model, cfg.quant, data, batch_one=cfg.model.name != "dense")
    fit = check_fit(model.stats.model_bytes, model.support.arena_bytes, cfg.board)
    reserve = fit.basis == "model_only"  # the board config does not know its sketch's footprint
    ram_needed = fit.ram_needed_bytes
    found = Screen(
        model_bytes=model.stats.model_bytes, arena_bytes=model.support.arena_bytes,
        tflm_refusal=None if model.support.runs else str(model.support.reason),
        flash_needed=fit.flash_needed_bytes + (limits.reserve_flash_bytes if reserve else 0),
        flash_limit=min(fit.flash_limit_bytes, limits.flash_bytes or fit.flash_limit_bytes),
        ram_needed=None if ram_needed is None else ram_needed + (limits.reserve_ram_bytes if reserve else 0),
        ram_limit=min(fit.ram_limit_bytes, limits.ram_bytes or fit.ram_limit_bytes),
        fit_basis=fit.basis + ("+reserve" if reserve and (limits.reserve_flash_bytes or limits.reserve_ram_bytes)
                               else ""))
    if not model.support.runs:
        return found
    try:
        estimate = estimate_operators(model.graph, cfg.board)
    except TinyexpError as exc:
        return _with_latency(found, None, None, None, str(exc))
    return _with_latency(found, estimate.latency_us / 1e3, estimate.low_us / 1e3, estimate.high_us / 1e3, None)


def _with_latency(found: Screen, mid: float | None, low: float | None, high: float | None,
                  problem: str | None) -> Screen:
    return dataclasses.replace(found, latency_ms=mid, latency_low_ms=low, latency_high_ms=high,
                               estimate_problem=problem)


def excesses(s: Screen, limits: Limits) -> dict[str, float]:
    """Each broken limit and by how much, as a fraction over it (0.25: 25% over), for the
    reason a candidate is pruned and for naming the closest candidate when none fits."""
    over = {}
    if s.flash_needed > s.flash_limit:
        over["flash"] = s.flash_needed / s.flash_limit - 1
    if s.ram_needed is not None and s.ram_needed > s.ram_limit:
        over["RAM"] = s.ram_needed / s.ram_limit - 1
    if limits.latency_ms is not None and s.latency_low_ms is not None and s.latency_low_ms > limits.latency_ms:
        over["latency"] = s.latency_low_ms / limits.latency_ms - 1
    return over


def prune_reason(s: Screen, limits: Limits) -> str | None:
    """Why this candidate can never meet the limits (so it is not trained), or None.

    TFLM refusing it, flash or RAM over the budget (exact: sizes do not depend on training),
    or the whole 80% interval of its latency estimate above the latency limit."""
    if s.tflm_refusal is not None:
        return f"TFLM cannot run it: {s.tflm_refusal}"
    problems = []
    if s.flash_needed > s.flash_limit:
        problems.append(f"needs {s.flash_needed} B of flash, the limit is {s.flash_limit} B ({s.fit_basis})")
    if s.ram_needed is not None and s.ram_needed > s.ram_limit:
        problems.append(f"needs {s.ram_needed} B of RAM, the limit is {s.ram_limit} B ({s.fit_basis})")
    if "latency" in excesses(s, limits):
        problems.append(f"estimated latency {s.latency_ms:.3g} ms, 80% interval {s.latency_low_ms:.3g}-"
                        f"{s.latency_high_ms:.3g} ms, wholly above the {limits.latency_ms:g} ms limit")
    return "; ".join(problems) or None


def latency_flag(s: Screen, limits: Limits) -> str | None:
    """Why a kept candidate's latency is uncertain against the limit: its interval straddles it,
    or the estimator could not price it. None when the interval is wholly within the limit."""
    if limits.latency_ms is None:
        return None
    if s.latency_low_ms is None or s.latency_high_ms is None:
        return f"latency not estimated before training ({s.estimate_problem})"
    if s.latency_low_ms <= limits.latency_ms < s.latency_high_ms:
        return (f"80% interval {s.latency_low_ms:.3g}-{s.latency_high_ms:.3g} ms straddles the "
                f"{limits.latency_ms:g} ms limit")
    return None
