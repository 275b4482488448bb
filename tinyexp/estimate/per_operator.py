"""The v2 latency estimate of a .tflite model on a board: per operator, with an 80%
interval, saying what was fitted, transferred or extrapolated and which calibration it
came from. An estimate, never a measurement (latency_source "estimate").

    estimate_operators(tflite, board) -> Estimate

`tflite` is the model's graph (tinyexp.tflm.graph; a job reads it once and passes it on) or
the .tflite bytes, for callers that hold nothing else. `board` is a board description
(conf/board/*.yaml as a mapping, or its name). Its source: a `calibration` file when the board config sets one (tinyexp.estimate.calibrate writes it),
else the board's `latency_calibration` (sources.V1_SOURCE_NAMES). One exception keeps the
study's reproduced latency table: on a board calibrated on the study (latency_calibration
dokic2020, the nano33ble) a net of the study's family (FULLY_CONNECTED layers only, one
input, one output) gets v1's total on the study's timings (tinyexp.estimate.latency),
because there v1's leave-one-out errors (-7, +2, -4%) beat v2's (see the validation table);
its per-operator split is v2's, scaled to that total, and the estimate says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tinyexp.core.config import BoardConfig
from tinyexp.core.errors import ConfigError, TinyexpError
from tinyexp.core.units import cycles_to_us
from tinyexp.estimate.calibration import Calibration, calibration_ops, shipped_calibration
from tinyexp.estimate.calibration_file import CalibrationFile, read_calibration
from tinyexp.estimate.calibration_range import CalibrationRange, calibration_range
from tinyexp.estimate.predict import Bounds, Priced, SourceModel, price_model
from tinyexp.estimate.sources import STUDY_CALIBRATION, STUDY_SOURCE, V1_SOURCE_NAMES, Row, published_rows
from tinyexp.tflm.graph import MAC_OPERATORS, ModelGraph, read_graph
from tinyexp.tflm.inspect import model_stats
from tinyexp.tflm.operators import Operator, graph_operators

INTERVAL_PCT = 80


@dataclass(frozen=True)
class OperatorCost:
    """One operator's share of the estimate. basis: fitted | transferred | extrapolated."""

    index: int
    name: str
    type: str
    dtype: str
    macs: int
    us: float
    cycles: float
    basis: str
    detail: str


@dataclass(frozen=True)
class Estimate:
    """A modelled latency with its 80% prediction interval and per-operator breakdown."""

    latency_us: float
    low_us: float
    high_us: float
    cycles: float
    clock_hz: int
    board: str
    source: str  # the calibration source (board + runtime build) whose prices were used
    method: str  # "v2 per-operator" or "v1 (study's dense-net formula), v2 split"
    operators: tuple[OperatorCost, ...]
    overhead_us: float  # invoke and the harness's input/output copies
    transferred: tuple[str, ...]
    extrapolated: tuple[str, ...]
    extrapolated_macs_share: float  # share of the model's MACs in extrapolated operators
    transferred_macs_share: float  # share of the model's MACs in transferred operators
    thinly_fitted: tuple[str, ...]  # operator types whose prices rest on one network's rows
    calibration: str  # which rows or file the source was fitted on, and how many
    fit: str
    interval_basis: str
    loo_max_abs_error_pct: float | None
    size_range: CalibrationRange  # the model's MACs against its source's calibrated networks'
    interval_pct: int = INTERVAL_PCT
    latency_source: str = "estimate"

    @property
    def provenance(self) -> str:
        parts = [f"estimate, not a measurement: {self.method} on {self.source} ({self.fit})",
                 f"{self.interval_pct}% interval {self.low_us:.4g}-{self.high_us:.4g} us ({self.interval_basis})"]
        if self.transferred:
            parts.append(f"transferred ({100 * self.transferred_macs_share:.0f}% of MACs): "
                         f"{'; '.join(self.transferred)}")
        if self.extrapolated:
            parts.append(f"extrapolated ({100 * self.extrapolated_macs_share:.0f}% of MACs): "
                         f"{'; '.join(self.extrapolated)}")
        if self.thinly_fitted:
            parts.append(f"fitted on one network only (interval at least x0.5-x2): {'; '.join(self.thinly_fitted)}")
        parts.append(self.size_range.describe())
        parts.append(f"calibration: {self.calibration}")
        return "; ".join(parts)

    def qualifiers(self) -> str:
        """What must be said beside a figure of this estimate: its interval, its source, and
        what in it was transferred, extrapolated or outside its calibration's sizes."""
        flags = []
        if self.transferred:
            flags.append(f"{len(self.transferred)} operator type(s) transferred from another source "
                         f"({100 * self.transferred_macs_share:.0f}% of MACs)")
        if self.extrapolated:
            flags.append(f"{len(self.extrapolated)} extrapolated ({100 * self.extrapolated_macs_share:.0f}% of MACs)")
        if self.size_range.flag():
            flags.append(self.size_range.flag())
        return (f"{self.interval_pct}% interval {self.low_us:.1f}-{self.high_us:.1f} us on {self.source}"
                + (f"; {', '.join(flags)}" if flags else ""))

    def summary(self) -> str:
        """One line for a run summary."""
        return f"{self.latency_us:.1f} us estimated ({self.qualifiers()})"


@lru_cache(maxsize=8)
def _user_calibration(path: str, mtime_ns: int) -> tuple[Calibration, CalibrationFile]:
    """The shipped rows plus a board's own file, priced together (cached per file version)."""
    own = read_calibration(path)
    clash = {row.source for row in published_rows()} & {own.source}
    if clash:
        raise TinyexpError(f"calibration file {path}: source {own.source!r} is a published source; name it differently")
    own_ops = own.operators()
    runs = {row.key: run for row, run in zip(own.rows(), own.runs)}

    def ops_of(row: Row):  # noqa: ANN202
        return own_ops[row.key] if row.source == own.source else calibration_ops(row)

    profiles = {}
    if all(run.profile_us is not None for run in own.runs):
        profiles[own.source] = lambda row: runs[row.key].profile_us
    return Calibration((*published_rows(), *own.rows()), ops_of, profiles), own


def _source(board: BoardConfig, calibration: str | Path | None) -> tuple[Calibration, str, str]:
    """The calibration to price with, the source name, and where its rows came from."""
    path = calibration if calibration is not None else board.calibration
    if path:
        path = Path(path)
        try:
            mtime = path.stat().st_mtime_ns
        except OSError as exc:
            raise ConfigError(f"board.calibration={path}: {exc.strerror or exc}") from exc
        cal, own = _user_calibration(str(path), mtime)
        return cal, own.source, own.provenance
    cal = shipped_calibration()
    name, wanted = board.name, board.latency_calibration
    source = V1_SOURCE_NAMES.get(wanted, wanted)
    if source not in cal.groups:
        raise ConfigError(f"no latency calibration {wanted!r} for board {name!r}: board.latency_calibration "
                          f"takes {', '.join([*V1_SOURCE_NAMES, *sorted(cal.groups)][:8])}, ... (sources of "
                          "latency_rows_v2.csv), or give board.calibration=PATH (tinyexp calibrate)")
    rows = cal.groups[source]
    return cal, source, (f"{len(rows)} published rows of {source} "
                         f"(tinyexp/reference_data/latency_rows_v2.csv: {rows[0].build[:80]})")


def _cost(p: Priced, cycles_to_us: float, scale: float = 1.0) -> OperatorCost:
    return OperatorCost(p.op.index, f"{p.op.index}:{p.op.type}", p.op.type, p.op.dtype, p.op.macs,
                        p.cycles * scale * cycles_to_us, p.cycles * scale, p.basis, p.detail)


def _interval_basis(model: SourceModel, source_rows: int) -> str:
    return (f"{source_rows} rows' leave-one-out residuals, log bounds {model.bounds.lo:+.3f}/{model.bounds.hi:+.3f}"
            "; transferred parts widened, extrapolated parts at least x0.5-x2")


def _v1_total_us(graph: ModelGraph, board: BoardConfig) -> tuple[float, float | None, Bounds]:
    """v1's estimate for the study's board and its bounds from v1's own LOO errors there."""
    from tinyexp.estimate.latency import estimate_latency, validate_calibration

    v1 = estimate_latency(model_stats(graph), board)
    residuals = [math.log(r.measured_us / r.predicted_us) for r in validate_calibration()
                 if r.source == v1.calibration and r.dtype == v1.kernel_dtype]
    bounds = Bounds.from_residuals(residuals)
    if not residuals:  # v1 transferred the dtype from another source: unvalidated, widen
        bounds = bounds.at_least(math.log(0.5), math.log(2.0))
    return v1.latency_us, v1.loo_max_abs_error_pct, bounds


def _study_family(ops: tuple[Operator, ...]) -> bool:
    """A 1-...-1 net of FULLY_CONNECTED layers (plus QUANTIZE/DEQUANTIZE): the study's family."""
    weights = [op for op in ops if op.type in MAC_OPERATORS]
    return (bool(weights) and all(op.type == "FULLY_CONNECTED" for op in weights)
            and weights[0].input_elements == 1 and weights[-1].output_elements == 1)


def estimate_operators(tflite: ModelGraph | bytes, board: BoardConfig,
                       calibration: str | Path | None = None) -> Estimate:
    """The v2 estimate of one inference (see module docstring). TinyexpError when the model
    is unreadable or an operator cannot be priced at all (the message names it)."""
    cal, source, provenance = _source(board, calibration)  # a bad config fails before any work
    graph = tflite if isinstance(tflite, ModelGraph) else read_graph(tflite)
    ops = graph_operators(graph)
    if not ops:
        raise TinyexpError("no latency estimate: the model has no operators")
    model = cal.model(source)
    cycles, bounds, priced = price_model(model, ops, cal.ops_of)
    clock_hz = board.clock_hz
    to_us = cycles_to_us(1.0, clock_hz)
    fixed = model.fit.fixed_cycles(ops)
    loo = [abs(p.error_pct) for p in cal.loo(source)]
    method, scale, basis = "v2 per-operator", 1.0, _interval_basis(model, len(cal.groups[source]))
    loo_max = max(loo) if loo else None
    study = calibration is None and not board.calibration and \
        board.latency_calibration == STUDY_CALIBRATION and _study_family(ops)
    if study:
        total_us, loo_max, bounds = _v1_total_us(graph, board)
        scale = total_us / (cycles * to_us)
        cycles *= scale
        method = (f"v1 (the study's dense-net formula on {STUDY_SOURCE}) total, per-operator split"
                  f" from v2 on {source}")
        basis = f"v1's leave-one-out residuals on {STUDY_SOURCE}, log bounds {bounds.lo:+.3f}/{bounds.hi:+.3f}"
        source, provenance = STUDY_SOURCE, f"the study's 3 timings (v1); split: {provenance}"
    size_range = calibration_range(cal.groups[source], cal.ops_of, ops)
    total_macs = sum(op.macs for op in ops)

    def macs_share(basis: str) -> float:
        return sum(p.op.macs for p in priced if p.basis == basis) / total_macs if total_macs else 0.0

    return Estimate(
        latency_us=cycles * to_us, low_us=cycles * to_us * math.exp(bounds.lo),
        high_us=cycles * to_us * math.exp(bounds.hi), cycles=cycles, clock_hz=clock_hz,
        board=board.name, source=source, method=method,
        operators=tuple(_cost(p, to_us, scale) for p in priced), overhead_us=fixed * scale * to_us,
        transferred=tuple(dict.fromkeys(p.detail for p in priced if p.basis == "transferred")),
        extrapolated=tuple(dict.fromkeys(p.detail for p in priced if p.basis == "extrapolated")),
        extrapolated_macs_share=macs_share("extrapolated"), transferred_macs_share=macs_share("transferred"),
        thinly_fitted=tuple(dict.fromkeys(f"{p.op.type} {p.op.dtype}" for p in priced if p.thin)),
        calibration=provenance, fit=model.fit.describe(), interval_basis=basis, loo_max_abs_error_pct=loo_max,
        size_range=size_range)
