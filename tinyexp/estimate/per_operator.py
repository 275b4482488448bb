"""The latency estimate of a .tflite model on a board (the v2 per-operator model, the
project's one estimator): per operator, with an 80% interval, saying what was fitted,
transferred or extrapolated and which calibration it came from. An estimate, never a
measurement (latency_source "estimate").

    estimate_operators(tflite, board) -> Estimate

`tflite` is the model's graph (tinyexp.tflm.graph; a job reads it once and passes it on) or
the .tflite bytes, for callers that hold nothing else. `board` is a board description
(conf/board/*.yaml as a mapping, or its name). Its source:
a `calibration` file when the board config sets one (tinyexp calibrate writes it), else the
board's `latency_calibration` (calibration_rows.V1_SOURCE_NAMES). On a board calibrated on the 2020
study (latency_calibration dokic2020, the nano33ble) a net of the study's family
(FULLY_CONNECTED layers only, one input, one output) is priced on the study's source, whose
three float32 timings are fitted by the dense-net formula (price_fit.fit_formula; its leave-one-out
errors there, -7, +2, -4%, beat any other source's; another dtype is transferred, labelled);
every other model on the board's general source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tinyexp.core.config import BoardConfig
from tinyexp.core.errors import ConfigError, TinyexpError
from tinyexp.core.units import cycles_to_us
from tinyexp.estimate.calibration import Calibration, calibration_ops
from tinyexp.estimate.calibration_cache import keep_fitted, shipped_calibration
from tinyexp.estimate.calibration_file import CalibrationFile, read_calibration
from tinyexp.estimate.calibration_range import CalibrationRange, calibration_range
from tinyexp.estimate.predict import Priced, SourceModel, price_model
from tinyexp.estimate.calibration_rows import STUDY_CALIBRATION, STUDY_SOURCE, V1_SOURCE_NAMES, Row, published_rows
from tinyexp.tflm.graph import MAC_OPERATORS, ModelGraph, read_graph
from tinyexp.tflm.operators import Operator, graph_operators

INTERVAL_PCT = 80
METHOD = "v2 per-operator"


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
    method: str  # METHOD: the one estimator
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
def _user_calibration(path: str, mtime_ns: int, board_name: str | None) -> tuple[Calibration, CalibrationFile]:
    """The shipped rows plus a board's own file, priced together (cached per file version);
    refused when the file was written for another board (its prices are not this board's;
    board_name None: no board to check against, as in --validate)."""
    own = read_calibration(path)
    if board_name is not None and own.board != board_name:
        raise ConfigError(f"board.calibration={path} was written for board {own.board!r}, not {board_name!r}: "
                          f"give that board's own file (tinyexp calibrate board={board_name} out=PATH)")
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


def _user_calibration_at(path: Path, board_name: str | None = None) -> tuple[Calibration, CalibrationFile]:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"board.calibration={path}: {exc.strerror or exc}") from exc
    return _user_calibration(str(path), mtime, board_name)


def calibration_set(path: str | Path | None) -> Calibration:
    """The shipped rows' calibration, plus a board's own file's rows when given (what
    --validate and an estimate with that file price on)."""
    return shipped_calibration() if path is None else _user_calibration_at(Path(path))[0]


def _source(board: BoardConfig, calibration: str | Path | None) -> tuple[Calibration, str, str]:
    """The calibration to price with, the source name, and where its rows came from."""
    path = calibration if calibration is not None else board.calibration
    if path:
        cal, own = _user_calibration_at(Path(path), board.name)
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


def check_calibration(board: BoardConfig) -> None:
    """The preflight of a board's latency calibration: its file (readable, of this board, with
    usable runs) or its named published source, so a bad one fails before training."""
    _source(board, None)


def _cost(p: Priced, cycles_to_us: float) -> OperatorCost:
    return OperatorCost(p.op.index, f"{p.op.index}:{p.op.type}", p.op.type, p.op.dtype, p.op.macs,
                        p.cycles * cycles_to_us, p.cycles, p.basis, p.detail)


def _interval_basis(model: SourceModel, source_rows: int) -> str:
    return (f"{source_rows} rows' leave-one-out residuals, log bounds {model.bounds.lo:+.3f}/{model.bounds.hi:+.3f}"
            "; transferred parts widened, extrapolated parts at least x0.5-x2")


def _study_family(ops: tuple[Operator, ...]) -> bool:
    """A 1-...-1 net of FULLY_CONNECTED layers: the study's family (its dtype may be one the
    study did not time: then the study's source transfers it, labelled, as any source does)."""
    return (all(op.type == "FULLY_CONNECTED" for op in ops)
            and ops[0].input_elements == 1 and ops[-1].output_elements == 1)


def _refuse_unrunnable(ops: tuple[Operator, ...]) -> None:
    """TFLM runs float32 and full-integer kernels only: a figure for dynamic-range (int8
    weights, float activations) or float16-weight layers would describe a run that cannot happen."""
    for op in ops:
        if op.type in MAC_OPERATORS and op.filter is not None and op.dtype in ("float32", "float16") \
                and op.filter.dtype != "float32":
            raise TinyexpError(
                f"no latency estimate: operator {op.index} {op.type} computes {op.dtype} with "
                f"{op.filter.dtype} weights, which TFLM cannot run (it runs float32 and full-integer "
                "kernels; dynamic-range and float16 models are refused)")


def estimate_operators(tflite: ModelGraph | bytes, board: BoardConfig,
                       calibration: str | Path | None = None) -> Estimate:
    """The v2 estimate of one inference (see module docstring). TinyexpError when the model
    is unreadable or an operator cannot be priced at all (the message names it)."""
    cal, source, provenance = _source(board, calibration)  # a bad config fails before any work
    graph = tflite if isinstance(tflite, ModelGraph) else read_graph(tflite)
    ops = graph_operators(graph)
    if not ops:
        raise TinyexpError("no latency estimate: the model has no operators")
    _refuse_unrunnable(ops)
    if calibration is None and not board.calibration and \
            board.latency_calibration == STUDY_CALIBRATION and _study_family(ops):
        source = STUDY_SOURCE
        provenance = f"the study's {len(cal.groups[source])} timings (tinyexp/reference_data/latency_rows_v2.csv)"
    model = cal.model(source)
    cycles, bounds, priced = price_model(model, ops, cal.ops_of)
    clock_hz = board.clock_hz
    to_us = cycles_to_us(1.0, clock_hz)
    loo = [abs(p.error_pct) for p in cal.loo(source)]
    keep_fitted(cal)
    size_range = calibration_range(cal.groups[source], cal.ops_of, ops)
    bounds = size_range.widened(bounds)
    total_macs = sum(op.macs for op in ops)

    def macs_share(basis: str) -> float:
        return sum(p.op.macs for p in priced if p.basis == basis) / total_macs if total_macs else 0.0

    return Estimate(
        latency_us=cycles * to_us, low_us=cycles * to_us * math.exp(bounds.lo),
        high_us=cycles * to_us * math.exp(bounds.hi), cycles=cycles, clock_hz=clock_hz,
        board=board.name, source=source, method=METHOD,
        operators=tuple(_cost(p, to_us) for p in priced), overhead_us=model.fit.fixed_cycles(ops) * to_us,
        transferred=tuple(dict.fromkeys(p.detail for p in priced if p.basis == "transferred")),
        extrapolated=tuple(dict.fromkeys(p.detail for p in priced if p.basis == "extrapolated")),
        extrapolated_macs_share=macs_share("extrapolated"), transferred_macs_share=macs_share("transferred"),
        thinly_fitted=tuple(dict.fromkeys(f"{p.op.type} {p.op.dtype}" for p in priced if p.thin)),
        calibration=provenance, fit=model.fit.describe(), loo_max_abs_error_pct=max(loo) if loo else None,
        interval_basis=_interval_basis(model, len(cal.groups[source])),
        size_range=size_range)
