"""Latency estimates for a board with no hardware attached, fitted to published measurements.

A microcontroller's inference time is a cycle count: a fixed part per invoke and per layer,
a part per output (each output of a dense layer is one dot product with its own setup, bias
and activation) and a part per multiply-accumulate. The rows in reference_data/published_latency.csv
are converted to cycles with the clock they were measured at, and for each (calibration
source, kernel dtype) the model

    cycles = cycles_per_output * outputs + cycles_per_mac * macs

is fitted by non-negative least squares (negative costs are not physical). Each source has
three rows per dtype, so a model with three or more coefficients would fit them exactly and
leave-one-out validation would say nothing. Of the two-coefficient models, the leave-one-out
errors (percent, per row, in table order) were, measured before choosing:

    features                 dokic2020 f32        edgemark2025 f32       edgemark2025 int8
    macs                     -47  -14  +17        -100  -83  +478        -100  -95  +1800
    invoke + macs            +87   -9  +11         +98  -41  +238        +108  -49  +938
    layers + macs            +87   -9  +11         -34  +43  -100         -31  +42  -98
    outputs + macs            -7   +2   -4         -90 +792  -98          -90 +861  -93

outputs + macs is the only one that predicts held-out dokic2020 rows within 15%, and none
predicts held-out edgemark2025 rows: those rows span a 1-MAC net (fixed overhead only) to a
199k-MAC net, so any two of them extrapolate by orders of magnitude to the third. The errors
are reported with every estimate (loo_max_abs_error_pct) rather than hidden.

A board whose source has no rows for a dtype borrows the int8/float32 cycle ratio, for the
model at hand, from a source that measured both, and its provenance says so.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from scipy.optimize import nnls

from tinyexp.errors import TinyexpError
from tinyexp.tflite_inspect import ModelStats

PUBLISHED_LATENCY_CSV = Path(__file__).with_name("reference_data") / "published_latency.csv"
FEATURES = ("outputs", "macs")
COEFFICIENT_NAMES = {"outputs": "cycles_per_output", "macs": "cycles_per_mac"}
SUPPORTED_DTYPES = ("float32", "int8")
_COLUMNS = ("source", "board", "mcu", "clock_hz", "runtime", "kernels", "dtype", "layers",
            "macs", "latency_us", "note")
_MHZ = 1_000_000


@dataclass(frozen=True)
class Workload:
    """What the cycle model needs to know about a network, per inference (batch 1)."""

    outputs: int
    macs: int

    @classmethod
    def of_dense(cls, widths: Sequence[int]) -> "Workload":
        """A fully connected net given as its layer widths, input first (1-16-16-1)."""
        pairs = list(zip(widths, widths[1:]))
        return cls(outputs=sum(out for _, out in pairs), macs=sum(a * b for a, b in pairs))

    @classmethod
    def of_model(cls, stats: ModelStats) -> "Workload":
        return cls(outputs=sum(layer.outputs for layer in stats.layers), macs=stats.macs)

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in FEATURES], dtype=float)


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

    @property
    def cycles(self) -> float:
        return self.latency_us * self.clock_hz / _MHZ

    @property
    def workload(self) -> Workload:
        return Workload.of_dense([int(w) for w in self.topology.split("-")])


def _row(fields: dict[str, str], line: int, path: Path) -> CalibrationRow:
    """A checked row: the MACs column must agree with the topology it is computed from."""
    try:
        row = CalibrationRow(
            source=fields["source"], board=fields["board"], mcu=fields["mcu"],
            clock_hz=int(fields["clock_hz"]), runtime=fields["runtime"],
            kernels=fields["kernels"], dtype=fields["dtype"], topology=fields["layers"],
            latency_us=float(fields["latency_us"]), note=fields["note"])
        consistent = row.workload.macs == int(fields["macs"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TinyexpError(f"{path}:{line}: unreadable calibration row ({exc})") from exc
    if not consistent:
        raise TinyexpError(f"{path}:{line}: macs={fields['macs']} does not match "
                           f"topology {row.topology} ({row.workload.macs} MACs)")
    return row


def load_calibration(path: Path = PUBLISHED_LATENCY_CSV) -> tuple[CalibrationRow, ...]:
    """Read a calibration table with the columns of published_latency.csv."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != _COLUMNS:
            raise TinyexpError(f"{path}: expected columns {','.join(_COLUMNS)}")
        rows = []
        for fields in reader:
            if None in fields or None in fields.values():
                raise TinyexpError(f"{path}:{reader.line_num}: wrong number of fields"
                                   " (quote values that contain commas)")
            rows.append(_row(fields, reader.line_num, path))
    return tuple(rows)


@dataclass(frozen=True)
class CycleFit:
    """Cycle-model coefficients fitted to some rows of one source and dtype."""

    source: str
    dtype: str
    rows: tuple[CalibrationRow, ...]
    coefficients: dict[str, float]

    def cycles(self, workload: Workload) -> float:
        return float(np.dot([self.coefficients[COEFFICIENT_NAMES[n]] for n in FEATURES],
                            workload.vector()))

    def describe(self) -> str:
        terms = " + ".join(f"{self.coefficients[COEFFICIENT_NAMES[n]]:.4g}*{n}" for n in FEATURES)
        first = self.rows[0]
        return (f"cycles = {terms}, fitted by NNLS to {self.source} {self.dtype} rows "
                f"{', '.join(r.topology for r in self.rows)} ({first.board}, {first.mcu} at "
                f"{first.clock_hz} Hz, {first.runtime}, {first.kernels})")


def fit_cycles(rows: Sequence[CalibrationRow]) -> CycleFit:
    """Fit the cycle model to rows of one source and dtype."""
    if not rows or len({(r.source, r.dtype) for r in rows}) != 1:
        raise TinyexpError("a cycle fit needs rows of exactly one source and dtype")
    design = np.array([r.workload.vector() for r in rows])
    coef, _ = nnls(design, np.array([r.cycles for r in rows]))
    return CycleFit(rows[0].source, rows[0].dtype, tuple(rows),
                    {COEFFICIENT_NAMES[n]: float(c) for n, c in zip(FEATURES, coef)})


def _select(rows: Sequence[CalibrationRow], source: str, dtype: str) -> list[CalibrationRow]:
    return [r for r in rows if r.source == source and r.dtype == dtype]


@dataclass(frozen=True)
class LooResult:
    """A row predicted by a fit to the other rows of its source and dtype."""

    source: str
    dtype: str
    topology: str
    measured_us: float
    predicted_us: float
    error_pct: float
    fitted_on: tuple[str, ...]
    coefficients: dict[str, float]


def validate_calibration(rows: Sequence[CalibrationRow] | None = None) -> list[LooResult]:
    """Leave-one-out: predict each row from a fit to the others of its source and dtype.

    Groups with fewer than two rows cannot be validated and are skipped.
    """
    rows = load_calibration() if rows is None else rows
    results = []
    for source, dtype in dict.fromkeys((r.source, r.dtype) for r in rows):
        group = _select(rows, source, dtype)
        for held_out in group if len(group) > 1 else ():
            fit = fit_cycles([r for r in group if r is not held_out])
            predicted_us = fit.cycles(held_out.workload) / held_out.clock_hz * _MHZ
            results.append(LooResult(
                source, dtype, held_out.topology, held_out.latency_us, predicted_us,
                100.0 * (predicted_us - held_out.latency_us) / held_out.latency_us,
                tuple(r.topology for r in fit.rows), fit.coefficients))
    return results


def _loo_max_abs_error_pct(rows: Sequence[CalibrationRow], source: str, dtype: str) -> float | None:
    errors = [abs(r.error_pct) for r in validate_calibration(_select(rows, source, dtype))]
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


def _board_field(board: Mapping[str, Any], key: str) -> Any:  # noqa: ANN401
    try:
        return board[key]
    except KeyError:
        raise TinyexpError(f"board description lacks {key!r}") from None


def _transfer_ratio(rows: Sequence[CalibrationRow], dtype: str, workload: Workload) -> tuple[float, str]:
    """The dtype/float32 cycle ratio for this workload, from the first source with both."""
    for donor in dict.fromkeys(r.source for r in rows):
        donor_dtype, donor_float = _select(rows, donor, dtype), _select(rows, donor, "float32")
        if donor_dtype and donor_float:
            ratio = fit_cycles(donor_dtype).cycles(workload) / fit_cycles(donor_float).cycles(workload)
            return ratio, donor
    raise TinyexpError(f"no calibration source measured both {dtype} and float32")


def estimate_latency(stats: ModelStats, board: Mapping[str, Any],
                     rows: Sequence[CalibrationRow] | None = None) -> LatencyEstimate:
    """Estimate one inference's latency of the model on the board from its calibration source.

    Refuses models TFLM cannot run (hybrid, float16, mixed kernels): a figure for them
    would describe a run that cannot happen.
    """
    dtype = stats.kernel_dtype
    if dtype not in SUPPORTED_DTYPES:
        raise TinyexpError(
            f"no latency estimate for a {dtype} model: TFLM cannot run it (it runs float32"
            " and full-integer int8 kernels only; dynamic-range and float16 models are refused)")
    if not stats.layers:
        raise TinyexpError("no latency estimate: the model has no FULLY_CONNECTED or"
                           " convolution layer for the cycle model to scale with")
    rows = load_calibration() if rows is None else rows
    name, clock_hz = str(_board_field(board, "name")), int(_board_field(board, "clock_hz"))
    calibration = str(_board_field(board, "latency_calibration"))
    workload = Workload.of_model(stats)
    own = _select(rows, calibration, dtype)
    base_rows = own or _select(rows, calibration, "float32")
    if not base_rows:
        known = ", ".join(dict.fromkeys(r.source for r in rows))
        raise TinyexpError(f"calibration source {calibration!r} of board {name} has no "
                           f"{dtype} or float32 rows to fit (sources: {known})")
    base = fit_cycles(base_rows)
    cycles = base.cycles(workload)
    coefficients = dict(base.coefficients)
    loo = _loo_max_abs_error_pct(rows, calibration, base.dtype)
    provenance = f"estimate, not a measurement: {base.describe()}"
    if loo is not None:
        provenance += f"; leave-one-out max error {loo:.1f}%"
    if not own:
        ratio, donor = _transfer_ratio(rows, dtype, workload)
        cycles *= ratio
        coefficients[f"{dtype}_over_float32_ratio"] = ratio
        provenance += (f"; {calibration} has no {dtype} rows, so this is its float32 estimate"
                       f" x {ratio:.3f}, the {dtype}/float32 cycle ratio that the {donor}"
                       " fits predict for this model (the transfer itself is unvalidated)")
        loo = None
    if any(layer.op != "FULLY_CONNECTED" for layer in stats.layers):
        provenance += "; the calibration nets are dense only, convolutions are extrapolated"
    provenance += f"; cycles converted to time at the board's {clock_hz} Hz"
    return LatencyEstimate(
        latency_us=cycles / clock_hz * _MHZ, cycles=cycles, clock_hz=clock_hz, board=name,
        kernel_dtype=dtype, calibration=calibration, provenance=provenance,
        coefficients=coefficients, loo_max_abs_error_pct=loo)
