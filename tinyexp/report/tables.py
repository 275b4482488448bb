"""The 2020 study's tables rebuilt from a sweep's rows, beside the published numbers.

What a reader of the study wants is its comparison (latency by n, float vs quantised size)
plus what it missed (does it fit, how much accuracy quantisation costs), side by side with the
published numbers. Each table is a :class:`Table` that renders itself as CSV or Markdown.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from tinyexp.core.names import FLOAT32, Metric, Tag
from tinyexp.core.resources import reference_data
from tinyexp.report.units import MICROSECONDS, TimeUnit, time_unit
from tinyexp.tracking.report_runs import Row, is_missing, latency_us, model_order, optional_float, variant_order

PUBLISHED_CSV = reference_data("dokic2020_tables.csv")
_MODEL_COLUMNS = ("n", "model", "board")
_US = "_us"  # the suffix of a latency column (microseconds, as logged)


@dataclass(frozen=True)
class Table:
    """A report table: rows of dicts with a fixed column order, rendered as CSV or Markdown."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[Row]
    # Pinned where a table is read beside published figures in their own unit (the study's us).
    time_unit: TimeUnit | None = None

    def markdown(self) -> str:
        """The table for a reader: latencies in the unit their values call for, named in the header."""
        if not self.rows:
            return "_No runs for this table._"
        times = [c for c in self.columns if c.endswith(_US)]
        unit = self.time_unit or time_unit(float(r[c]) for r in self.rows for c in times
                                           if not is_missing(r.get(c)))
        headers = [c.removesuffix(_US) + f"_{unit.name}" if c in times else c for c in self.columns]
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(cell(c, _scaled(r.get(c), unit) if c in times else r.get(c))
                                    for c in self.columns) + " |" for r in self.rows]
        return "\n".join(lines)

    def without_empty_columns(self) -> Table:
        """The same table less the columns no row fills: a reader should not scan an empty column."""
        filled = tuple(c for c in self.columns if any(not is_missing(r.get(c)) and r.get(c) != "" for r in self.rows))
        return Table(self.name, self.title, filled, self.rows, self.time_unit)

    def write_csv(self, path: Path) -> Path:
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({c: _csv_value(r.get(c)) for c in self.columns} for r in self.rows)
        return path


def _scaled(value: Any, unit: TimeUnit) -> Any:
    return value if is_missing(value) else unit.scale(float(value))


def _csv_value(value: Any) -> Any:
    if is_missing(value):
        return ""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def cell(column: str, value: Any) -> str:
    """Markdown cell: integers plain, large numbers to 0.01 (as published), small ones to 4 digits."""
    if is_missing(value):
        return ""
    if column == "run_id":
        return str(value)[:8]
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.2f}" if abs(value) >= 100 else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator; None where either is missing (or the denominator is 0)."""
    return None if is_missing(numerator) or not denominator else numerator / denominator


def _pct_change(value: float | None, base: float | None) -> float | None:
    change = ratio(value, base)
    return None if change is None else (change - 1.0) * 100.0


def hidden_to_hidden_weights(layers: str) -> int:
    """Weights between hidden layers of a dense "1-n-n-1" model: the study's x axis (n*n)."""
    hidden = [int(w) for w in layers.split("-")[1:-1]]
    return sum(a * b for a, b in zip(hidden, hidden[1:]))


def load_published(path: Path = PUBLISHED_CSV) -> dict[str, Row]:
    """The study's numbers by model ("1-16-16-1"); empty cells (not published) become None."""
    with path.open(newline="") as f:
        return {r["layers"]: {k: (v if k in ("layers", "board", "source") else optional_float(v))
                              for k, v in r.items()} for r in csv.DictReader(f)}


def _by_model(rows: Iterable[Row], variants: set[str] | None = None) -> dict[tuple[str, str], dict[str, Row]]:
    """(model, board) -> variant -> its latest row, in report order, for the variants asked for."""
    groups: dict[tuple[str, str], dict[str, Row]] = {}
    for row in sorted(rows, key=lambda r: (model_order(r), r["start_time_ms"])):
        if variants is None or row["variant"] in variants:
            groups.setdefault((row["model"], row["board"]), {})[row["variant"]] = row
    return groups


def _model_cells(row: Row) -> Row:
    return {c: row[c] for c in _MODEL_COLUMNS}


def table1(rows: Sequence[Row], published: Mapping[str, Row] | None = None) -> Table:
    """Study's Table 1: float32 latency by n, against the published latency on the same board."""
    published = load_published() if published is None else published
    out = []
    for (model, board), variants in _by_model(rows, {FLOAT32}).items():
        run = variants[FLOAT32]
        study = published.get(model, {})
        theirs = study.get("latency_float32_us") if study.get("board") == board else None
        out.append({**_model_cells(run), "hidden_to_hidden_weights": run.get("hidden_to_hidden_weights"),
                    "latency_us": latency_us(run), "latency_source": run.get("latency_source"),
                    Metric.LATENCY_ESTIMATE_LOW_US: run.get(Metric.LATENCY_ESTIMATE_LOW_US),
                    Metric.LATENCY_ESTIMATE_HIGH_US: run.get(Metric.LATENCY_ESTIMATE_HIGH_US),
                    "published_latency_us": theirs,
                    "latency_ratio_ours_to_published": ratio(latency_us(run), theirs),
                    "run_id": run["run_id"]})
    columns = (*_MODEL_COLUMNS, "hidden_to_hidden_weights", "latency_us", "latency_source",
               Metric.LATENCY_ESTIMATE_LOW_US, Metric.LATENCY_ESTIMATE_HIGH_US,
               "published_latency_us", "latency_ratio_ours_to_published", "run_id")
    return Table("table1_latency", "Table 1: float32 latency by n", columns, out, MICROSECONDS)


def _flash_note(runs: Iterable[Row]) -> str | None:
    """"float32 does not fit nano33ble flash (N bytes > limit)" for each run whose model does not fit;
    "fits" where every run checked fits; None where no run recorded the check."""
    checked = [run for run in runs if run.get(Tag.FITS_FLASH) in ("true", "false")]
    notes = []
    for run in checked:
        if run[Tag.FITS_FLASH] == "true":
            continue
        limit = run.get("flash_limit_bytes")
        size = f"{cell('', run.get('model_bytes'))} bytes" + (f" > {cell('', limit)}" if limit else "")
        notes.append(f"{run['variant']} does not fit {run['board']} flash ({size})")
    if notes or not checked:
        return "; ".join(notes) or None
    return ("fits" if len(checked) == 1 else "both fit") + f" ({' and '.join(r['variant'] for r in checked)})"


def table2(rows: Sequence[Row], published: Mapping[str, Row] | None = None) -> Table:
    """Study's Table 2: float32 vs dynamic-range (per-tensor) size by n, and what does not fit."""
    published = load_published() if published is None else published
    out = []
    for (model, _board), variants in _by_model(rows, {FLOAT32, "dynamic"}).items():
        flt, dyn = variants.get(FLOAT32, {}), variants.get("dynamic", {})
        float_bytes = flt.get("model_bytes", dyn.get("float_model_bytes"))
        ours_ratio = dyn.get("size_ratio")
        study = published.get(model, {})
        study_ratio = ratio(study.get("float_model_bytes"), study.get("quantised_model_bytes"))
        out.append({**_model_cells(flt or dyn), "float_model_bytes": float_bytes,
                    "dynamic_model_bytes": dyn.get("model_bytes"), "size_ratio": ours_ratio,
                    "published_float_model_bytes": study.get("float_model_bytes"),
                    "published_dynamic_model_bytes": study.get("quantised_model_bytes"),
                    "published_size_ratio": study_ratio,
                    "size_ratio_difference_pct": _pct_change(ours_ratio, study_ratio),
                    "flash_fit": _flash_note([flt, dyn])})
    columns = (*_MODEL_COLUMNS, "float_model_bytes", "dynamic_model_bytes", "size_ratio",
               "published_float_model_bytes", "published_dynamic_model_bytes", "published_size_ratio",
               "size_ratio_difference_pct", "flash_fit")
    return Table("table2_size", "Table 2: float32 vs dynamic-range (per-tensor) model size by n", columns, out)


def accuracy_table(rows: Sequence[Row]) -> Table:
    """Test error of every quantisation variant by n, and its increase over float32 in %."""
    variants = sorted({r["variant"] for r in rows}, key=variant_order)
    columns: list[str] = list(_MODEL_COLUMNS)
    for v in variants:
        columns += [f"test_mse_{v}", f"test_mae_{v}"] + ([] if v == FLOAT32 else [f"test_mse_increase_pct_{v}"])
    out = []
    for runs in _by_model(rows).values():
        base = runs[FLOAT32].get("test_mse") if FLOAT32 in runs else None
        cells = _model_cells(next(iter(runs.values())))
        for v, run in runs.items():
            cells[f"test_mse_{v}"] = run.get("test_mse")
            cells[f"test_mae_{v}"] = run.get("test_mae")
            if v != FLOAT32:
                cells[f"test_mse_increase_pct_{v}"] = _pct_change(run.get("test_mse"), base)
        out.append(cells)
    return Table("accuracy", "Accuracy by quantisation (test set; increase vs float32)", tuple(columns), out)


def runs_table(rows: Sequence[Row]) -> Table:
    """Which runs the report is built from, and why a model was not deployed."""
    columns = ("run_id", "run_name", "variant", "model", "board", "latency_source", "deployable",
               "not_deployed_reason")
    return Table("runs", "Runs (latest finished run per configuration)", columns, list(rows))
