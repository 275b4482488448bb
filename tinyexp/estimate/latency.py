"""Latency estimates v1 for a board with no hardware attached, fitted to published measurements.

For each calibration source (one board, one runtime build) the rows of
reference_data/published_latency.csv, converted to cycles at their clock, fit

    cycles = c_invoke + c_operator * operators + c_output * outputs + c_mac[dtype] * macs

by non-negative least squares weighted for relative error; interpreter costs are shared
across a source's dtypes, the cost per MAC is per dtype. Every estimate carries its source's
leave-one-out error, and says what it transfers or extrapolates. Why this shape and not the
others tried: docs/decisions/0001-latency-model-v1.md.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.optimize import nnls

from tinyexp.core.config import BoardConfig
from tinyexp.core.errors import TinyexpError
from tinyexp.core.resources import reference_data
from tinyexp.core.units import cycles_to_us, us_to_cycles
from tinyexp.tflm.inspect import ModelStats

PUBLISHED_LATENCY_CSV = reference_data("published_latency.csv")
SUPPORTED_DTYPES = ("float32", "int8")
# Cost terms shared by all dtypes of a source, then the per-dtype one.
SHARED_TERMS = ("cycles_per_invoke", "cycles_per_operator", "cycles_per_output")
MAC_TERM = "cycles_per_mac"
_COLUMNS = ("source", "board", "mcu", "clock_hz", "runtime", "kernels", "dtype", "layers",
            "macs", "latency_us", "note")
_OPTIONAL_COLUMNS = ("ops",)
# QUANTIZE + DEQUANTIZE around a full-integer calibration net (float I/O, see above).
_INT8_IO_OPERATORS = 2


@dataclass(frozen=True)
class Workload:
    """What the cycle model needs to know about a network, per inference (batch 1)."""

    operators: int
    outputs: int
    macs: int

    @classmethod
    def of_dense(cls, widths: Sequence[int], operators: int) -> "Workload":
        """A fully connected net given as its layer widths, input first (1-16-16-1)."""
        pairs = list(zip(widths, widths[1:]))
        return cls(operators=operators, outputs=sum(out for _, out in pairs),
                   macs=sum(a * b for a, b in pairs))

    @classmethod
    def of_model(cls, stats: ModelStats) -> "Workload":
        """Every operator TFLM will invoke counts, not only the layers."""
        return cls(operators=len(stats.ops), outputs=sum(layer.outputs for layer in stats.layers),
                   macs=stats.macs)

    def shared_features(self) -> list[float]:
        """Multipliers of SHARED_TERMS, in order."""
        return [1.0, float(self.operators), float(self.outputs)]


@dataclass(frozen=True)
class CalibrationRow:
    """One published measurement; topology is the CSV's "layers" column (1-16-16-1)."""

    source: str
    board: str
    mcu: str
    clock_hz: int
    runtime: str
    kernels: str
    dtype: str
    topology: str
    latency_us: float
    note: str
    operators: int

    @property
    def cycles(self) -> float:
        return us_to_cycles(self.latency_us, self.clock_hz)

    @property
    def widths(self) -> list[int]:
        return [int(w) for w in self.topology.split("-")]

    @property
    def workload(self) -> Workload:
        return Workload.of_dense(self.widths, self.operators)

    @property
    def label(self) -> str:
        return f"{self.dtype} {self.topology}"


def _row(fields: dict[str, str], line: int, path: Path) -> CalibrationRow:
    """A checked row: the MACs column must agree with the topology it is computed from."""
    try:
        dtype, widths = fields["dtype"], [int(w) for w in fields["layers"].split("-")]
        stated_ops = (fields.get("ops") or "").strip()
        operators = (int(stated_ops) if stated_ops else
                     len(widths) - 1 + (_INT8_IO_OPERATORS if dtype == "int8" else 0))
        row = CalibrationRow(
            source=fields["source"], board=fields["board"], mcu=fields["mcu"],
            clock_hz=int(fields["clock_hz"]), runtime=fields["runtime"],
            kernels=fields["kernels"], dtype=dtype, topology=fields["layers"],
            latency_us=float(fields["latency_us"]), note=fields["note"], operators=operators)
        consistent = row.workload.macs == int(fields["macs"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TinyexpError(f"{path}:{line}: unreadable calibration row ({exc})") from exc
    if not consistent:
        raise TinyexpError(f"{path}:{line}: macs={fields['macs']} does not match "
                           f"topology {row.topology} ({row.workload.macs} MACs)")
    if dtype not in SUPPORTED_DTYPES:
        raise TinyexpError(f"{path}:{line}: dtype {dtype!r} is not one of {', '.join(SUPPORTED_DTYPES)}")
    return row


def load_calibration(path: Path = PUBLISHED_LATENCY_CSV) -> tuple[CalibrationRow, ...]:
    """Read a calibration table with the columns of published_latency.csv (and optionally
    "ops", the number of operators the measured model invoked)."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        names = tuple(reader.fieldnames or ())
        if names[:len(_COLUMNS)] != _COLUMNS or not set(names[len(_COLUMNS):]) <= set(_OPTIONAL_COLUMNS):
            raise TinyexpError(f"{path}: expected columns {','.join(_COLUMNS)} (then optionally ops)")
        rows = []
        for fields in reader:
            if None in fields or None in fields.values():
                raise TinyexpError(f"{path}:{reader.line_num}: wrong number of fields"
                                   " (quote values that contain commas)")
            rows.append(_row(fields, reader.line_num, path))
    return tuple(rows)


@dataclass(frozen=True)
class CycleFit:
    """Cycle-model coefficients fitted to rows of one source (all its dtypes at once)."""

    source: str
    rows: tuple[CalibrationRow, ...]
    shared: dict[str, float]
    cycles_per_mac: dict[str, float]

    def cycles(self, workload: Workload, dtype: str) -> float:
        fixed = np.dot([self.shared[t] for t in SHARED_TERMS], workload.shared_features())
        return float(fixed + self.cycles_per_mac[dtype] * workload.macs)

    def coefficients(self, dtype: str) -> dict[str, float]:
        return {**self.shared, MAC_TERM: self.cycles_per_mac[dtype]}

    def describe(self, dtype: str) -> str:
        c = self.coefficients(dtype)
        first = self.rows[0]
        return (f"cycles = {c['cycles_per_invoke']:.4g} + {c['cycles_per_operator']:.4g}*operators"
                f" + {c['cycles_per_output']:.4g}*outputs + {c[MAC_TERM]:.4g}*macs ({dtype}),"
                f" fitted by NNLS to {self.source} rows {', '.join(r.label for r in self.rows)}"
                f" ({first.board}, {first.mcu} at {first.clock_hz} Hz, {first.runtime},"
                f" {first.kernels})")


def fit_cycles(rows: Sequence[CalibrationRow]) -> CycleFit:
    """Fit the cycle model to the rows of one source, weighting each by 1/cycles."""
    if not rows or len({r.source for r in rows}) != 1:
        raise TinyexpError("a cycle fit needs rows of exactly one source")
    dtypes = list(dict.fromkeys(r.dtype for r in rows))
    design = np.array([r.workload.shared_features()
                       + [float(r.workload.macs) if r.dtype == d else 0.0 for d in dtypes]
                       for r in rows])
    cycles = np.array([r.cycles for r in rows])
    coef, _ = nnls(design / cycles[:, None], np.ones(len(rows)))
    shared = {term: float(c) for term, c in zip(SHARED_TERMS, coef)}
    per_mac = {d: float(c) for d, c in zip(dtypes, coef[len(SHARED_TERMS):])}
    return CycleFit(rows[0].source, tuple(rows), shared, per_mac)


@dataclass(frozen=True)
class LooResult:
    """A row predicted by a fit to the other rows of its source."""

    source: str
    dtype: str
    topology: str
    measured_us: float
    predicted_us: float
    error_pct: float
    fitted_on: tuple[str, ...]
    coefficients: dict[str, float]


def validate_calibration(rows: Sequence[CalibrationRow] | None = None) -> list[LooResult]:
    """Leave-one-out: predict each row from a fit to the other rows of its source.

    A row is skipped when no other row of its source has its dtype: its cost per MAC
    would then be unknown, not estimated.
    """
    rows = load_calibration() if rows is None else rows
    results = []
    for source in dict.fromkeys(r.source for r in rows):
        group = [r for r in rows if r.source == source]
        for held_out in group:
            rest = [r for r in group if r is not held_out]
            if not any(r.dtype == held_out.dtype for r in rest):
                continue
            fit = fit_cycles(rest)
            predicted_us = cycles_to_us(fit.cycles(held_out.workload, held_out.dtype), held_out.clock_hz)
            results.append(LooResult(
                source, held_out.dtype, held_out.topology, held_out.latency_us, predicted_us,
                100.0 * (predicted_us - held_out.latency_us) / held_out.latency_us,
                tuple(r.label for r in rest), fit.coefficients(held_out.dtype)))
    return results


def _loo_max_abs_error_pct(rows: Sequence[CalibrationRow], source: str, dtype: str) -> float | None:
    errors = [abs(r.error_pct) for r in validate_calibration([r for r in rows if r.source == source])
              if r.dtype == dtype]
    return max(errors) if errors else None


@dataclass(frozen=True)
class LatencyEstimate:
    """A modelled latency, never a measurement: source is always "estimate"."""

    latency_us: float
    cycles: float
    clock_hz: int
    board: str
    kernel_dtype: str
    calibration: str
    provenance: str
    coefficients: dict[str, float]
    loo_max_abs_error_pct: float | None
    source: str = "estimate"


def _transfer_ratio(rows: Sequence[CalibrationRow], dtype: str, workload: Workload) -> tuple[float, str]:
    """The dtype/float32 cycle ratio for this workload, from the first source with both."""
    for donor in dict.fromkeys(r.source for r in rows):
        fit = fit_cycles([r for r in rows if r.source == donor])
        if dtype in fit.cycles_per_mac and "float32" in fit.cycles_per_mac:
            return fit.cycles(workload, dtype) / fit.cycles(workload, "float32"), donor
    raise TinyexpError(f"no calibration source measured both {dtype} and float32")


def estimate_latency(stats: ModelStats, board: BoardConfig,
                     rows: Sequence[CalibrationRow] | None = None) -> LatencyEstimate:
    """Estimate one inference's latency of the model on the board from its calibration source.

    Refuses models TFLM cannot run (hybrid, float16, mixed kernels): a figure for them
    would describe a run that cannot happen.
    """
    dtype = stats.kernel_kind
    if dtype not in SUPPORTED_DTYPES:
        raise TinyexpError(
            f"no latency estimate for a {dtype} model: TFLM cannot run it (it runs float32"
            " and full-integer int8 kernels only; dynamic-range and float16 models are refused)")
    if not stats.layers:
        raise TinyexpError("no latency estimate: the model has no FULLY_CONNECTED or"
                           " convolution layer for the cycle model to scale with")
    rows = load_calibration() if rows is None else rows
    name, clock_hz, calibration = board.name, board.clock_hz, board.latency_calibration
    workload = Workload.of_model(stats)
    own = [r for r in rows if r.source == calibration]
    fit = fit_cycles(own) if own else None
    base_dtype = dtype if fit and dtype in fit.cycles_per_mac else "float32"
    if fit is None or base_dtype not in fit.cycles_per_mac:
        known = ", ".join(dict.fromkeys(r.source for r in rows))
        wanted = dtype if dtype == "float32" else f"{dtype} or float32"
        raise TinyexpError(f"calibration source {calibration!r} of board {name} has no "
                           f"{wanted} rows to fit (sources: {known})")
    cycles = fit.cycles(workload, base_dtype)
    coefficients = fit.coefficients(base_dtype)
    loo = _loo_max_abs_error_pct(rows, calibration, base_dtype)
    provenance = f"estimate, not a measurement: {fit.describe(base_dtype)}"
    provenance += (f"; leave-one-out max error {loo:.1f}%" if loo is not None
                   else f"; {calibration} {base_dtype} rows too few for leave-one-out validation")
    if base_dtype != dtype:
        ratio, donor = _transfer_ratio(rows, dtype, workload)
        cycles *= ratio
        coefficients[f"{dtype}_over_float32_ratio"] = ratio
        provenance += (f"; {calibration} has no {dtype} rows, so this is its float32 estimate"
                       f" x {ratio:.3f}, the {dtype}/float32 cycle ratio that the {donor}"
                       " fit predicts for this model (the transfer itself is unvalidated)")
        loo = None
    fewest, most = min(r.operators for r in own), max(r.operators for r in own)
    if not fewest <= workload.operators <= most:
        span = str(fewest) if fewest == most else f"{fewest} to {most}"
        provenance += (f"; the model invokes {workload.operators} operators, the {calibration}"
                       f" nets {span}, so its fixed cost per operator is extrapolated")
    if any(layer.op != "FULLY_CONNECTED" for layer in stats.layers):
        provenance += "; the calibration nets are dense only, convolutions are extrapolated"
    provenance += f"; cycles converted to time at the board's {clock_hz} Hz"
    return LatencyEstimate(
        latency_us=cycles_to_us(cycles, clock_hz), cycles=cycles, clock_hz=clock_hz, board=name,
        kernel_dtype=dtype, calibration=calibration, provenance=provenance,
        coefficients=coefficients, loo_max_abs_error_pct=loo)
