"""`tinyexp report`: every run of a sweep compared, plus the 2020 study's tables for its grid.

A comparison table and trade-off figures for any sweep, and, for the study's dense grid,
the 2020 study's tables and figures, rebuilt from the runs in MLflow.

A sweep leaves one MLflow run per job; what a reader wants is the comparison the study made
(latency by n, float vs quantised size) plus what it missed (does it fit, how much accuracy
quantisation costs), side by side with the published numbers. This module reads the runs back,
keeps the latest finished run of every configuration (a rerun replaces, never doubles, a
point), and writes CSV + Markdown tables, PNG figures and a report.md, then logs them on the
sweep's parent run so the report travels with the runs it summarises.

Runs become plain dicts ("rows", see :func:`row_from_run`), so every table and figure can be
built, and tested, from synthetic rows without an MLflow store.
"""

from __future__ import annotations

import argparse
import ast
import csv
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from tinyexp.core.cli_args import EXIT_USAGE, print_error, split_config_args
from tinyexp.core.config import SWEEP_ID_PATTERN, SWEEP_ID_RULE
from tinyexp.core.errors import TinyexpError
from tinyexp.core.names import FLOAT32, Metric, Tag, canonical_metrics, canonical_quant_mode, canonical_tags
from tinyexp.core.resources import reference_data
from tinyexp.tracking import comparison

Row = dict[str, Any]

PUBLISHED_CSV = reference_data("dokic2020_tables.csv")
_MODE_ORDER = (FLOAT32, "float16", "dynamic", "int8")
_RUN_TAGS = (Tag.MODEL_LABEL, Tag.LATENCY_SOURCE, Tag.DEPLOYABLE, Tag.FITS_FLASH, Tag.FITS_RAM, Tag.NOT_DEPLOYED_REASON,
             Tag.KERNEL_DTYPE, Tag.KERNEL_KIND, Tag.TFLM_RUNS, Tag.LATENCY_ESTIMATE_CALIBRATION_RANGE)
# How a job was launched and where it was logged, not what it measured: not part of its configuration.
_LAUNCH_PARAMS = ("sweep.", "tracking.")
_PAGE_RUNS = 1000
_MODEL_COLUMNS = ("n", "model", "board")
_ESTIMATE_NOTE = ("latency_source=estimate: fitted to published measurements and computed on the virtual board, "
                  "not measured on hardware. Where an estimate sits beside the very measurements it was fitted "
                  "to, agreement is by construction; the leave-one-out error says how far it is trusted")


class ReportError(TinyexpError):
    """Nothing (or nothing usable) to report on; shown as one line, exit code 2."""


# ---------------------------------------------------------------------------------- rows


def variant_name(mode: str, per_channel: bool) -> str:
    """One label per distinct model format; per-channel scales are meaningless for float32."""
    if mode == FLOAT32:
        return FLOAT32
    return f"{mode}_per_channel" if per_channel else mode


def _variant_order(variant: str) -> tuple[int, bool]:
    mode = variant.removesuffix("_per_channel")
    rank = _MODE_ORDER.index(mode) if mode in _MODE_ORDER else len(_MODE_ORDER)
    return rank, variant.endswith("_per_channel")


def _hidden_widths(params: Mapping[str, str]) -> list[int]:
    """Hidden widths from the flattened config: `model.widths` if set, else layers x neurons."""
    widths = ast.literal_eval(params.get("model.widths", "None"))
    if widths is not None:
        return [int(w) for w in widths]
    return [int(params["model.neurons"])] * int(params.get("model.hidden_layers", "2"))


def _optional_float(text: str | None) -> float | None:
    return float(text) if text not in (None, "", "None") else None


def row_from_run(params: Mapping[str, str], metrics: Mapping[str, float], tags: Mapping[str, str], *,
                 run_id: str, run_name: str, start_time_ms: int) -> Row:
    """One run as a flat dict: identity, model, quantisation, all metrics and the tags tables use.

    A dense model is named by its widths ("1-16-16-1"), any other by its `model_label` tag."""
    dense = params.get("model.name", "dense") == "dense"
    widths = _hidden_widths(params) if dense else []
    layers = [int(params.get("model.inputs", "1")), *widths, int(params.get("model.outputs", "1"))]
    mode = canonical_quant_mode(params.get("quant.mode", FLOAT32))
    per_channel = params.get("quant.per_channel", "False").lower() == "true"
    row: Row = {
        "run_id": run_id,
        "run_name": run_name,
        "start_time_ms": start_time_ms,
        "sweep_id": tags.get(Tag.SWEEP_ID),
        "config": tuple(sorted((k, v) for k, v in params.items() if not k.startswith(_LAUNCH_PARAMS))),
        "model": "-".join(str(w) for w in layers) if dense else tags.get(Tag.MODEL_LABEL, params.get("model.name")),
        "dense": dense,
        "n": widths[0] if len(set(widths)) == 1 else None,
        "board": params.get("board.name", "unknown"),
        "flash_limit_bytes": _optional_float(params.get("board.flash_bytes")),
        "quant_mode": mode,
        "variant": variant_name(mode, per_channel),
    }
    row.update(canonical_metrics(metrics))
    tags = canonical_tags(tags)
    row.update({key: tags[key] for key in _RUN_TAGS if key in tags})
    return row


def latest_per_config(rows: Iterable[Row]) -> list[Row]:
    """The newest row of each configuration, so a rerun replaces its older twin."""
    latest: dict[Any, Row] = {}
    for row in sorted(rows, key=lambda r: r["start_time_ms"]):
        latest[row["config"]] = row
    return sorted(latest.values(), key=lambda r: (_model_key(r), _variant_order(r["variant"])))


def _model_key(row: Row) -> tuple[bool, int, str, str]:
    return row["n"] is None, row["n"] or 0, row["model"], row["board"]


# ------------------------------------------------------------------------------ MLflow


def _search(client: Any, experiment_id: str, filter_string: str, limit: int | None = None) -> list[Any]:
    """Runs matching the filter (all, or the newest `limit`), newest first, across MLflow's pages."""
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], filter_string, order_by=["attributes.start_time DESC"],
                                  max_results=min(limit or _PAGE_RUNS, _PAGE_RUNS), page_token=token)
        runs.extend(page)
        token = page.token
        if not token or (limit is not None and len(runs) >= limit):
            return runs[:limit]


def collect_runs(client: Any, experiment_id: str, sweep_id: str | None) -> list[Row]:
    """Finished job runs of the experiment (of one sweep if given), latest per configuration."""
    query = "attributes.status = 'FINISHED'" + (f" and tags.{Tag.SWEEP_ID} = '{sweep_id}'" if sweep_id else "")
    runs = [r for r in _search(client, experiment_id, query)
            if r.data.tags.get(Tag.ROLE) != "sweep" and Tag.SEARCH_PRUNED not in r.data.tags]  # never trained
    return latest_per_config(
        row_from_run(r.data.params, r.data.metrics, r.data.tags, run_id=r.info.run_id,
                     run_name=r.info.run_name or r.info.run_id, start_time_ms=r.info.start_time or 0)
        for r in runs)


def latest_sweep_id(client: Any, experiment_id: str) -> str | None:
    """The sweep of the most recently started run that belongs to a sweep, if any."""
    runs = _search(client, experiment_id, f"tags.{Tag.SWEEP_ID} LIKE '%'", limit=1)
    return runs[0].data.tags[Tag.SWEEP_ID] if runs else None


def sweep_parent_run_id(client: Any, experiment_id: str, sweep_id: str) -> str | None:
    """The sweep's parent run, where the report is logged; None for a sweep without one."""
    query = f"tags.`{Tag.ROLE}` = 'sweep' and tags.{Tag.SWEEP_ID} = '{sweep_id}'"
    runs = _search(client, experiment_id, query, limit=1)
    return runs[0].info.run_id if runs else None


# ------------------------------------------------------------------------------ tables


@dataclass(frozen=True)
class Table:
    """A report table: rows of dicts with a fixed column order, rendered as CSV or Markdown."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[Row]

    def markdown(self) -> str:
        if not self.rows:
            return "_No runs for this table._"
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(_cell(c, r.get(c)) for c in self.columns) + " |" for r in self.rows]
        return "\n".join(lines)

    def write_csv(self, path: Path) -> Path:
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows({c: _csv_value(r.get(c)) for c in self.columns} for r in self.rows)
        return path


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _csv_value(value: Any) -> Any:
    if _missing(value):
        return ""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _cell(column: str, value: Any) -> str:
    """Markdown cell: integers plain, large numbers to 0.01 (as published), small ones to 4 digits."""
    if _missing(value):
        return ""
    if column == "run_id":
        return str(value)[:8]
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.2f}" if abs(value) >= 100 else f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return None if _missing(numerator) or not denominator else numerator / denominator


def _pct_change(value: float | None, base: float | None) -> float | None:
    ratio = _ratio(value, base)
    return None if ratio is None else (ratio - 1.0) * 100.0


def hidden_to_hidden_weights(layers: str) -> int:
    """Weights between hidden layers of a dense "1-n-n-1" model: the study's x axis (n*n)."""
    hidden = [int(w) for w in layers.split("-")[1:-1]]
    return sum(a * b for a, b in zip(hidden, hidden[1:]))


def load_published(path: Path = PUBLISHED_CSV) -> dict[str, Row]:
    """The study's numbers by model ("1-16-16-1"); empty cells (not published) become None."""
    with path.open(newline="") as f:
        return {r["layers"]: {k: (v if k in ("layers", "board", "source") else _optional_float(v))
                              for k, v in r.items()} for r in csv.DictReader(f)}


def _by_model(rows: Iterable[Row], variants: set[str] | None = None) -> dict[tuple[str, str], dict[str, Row]]:
    """(model, board) -> variant -> its latest row, in report order, for the variants asked for."""
    groups: dict[tuple[str, str], dict[str, Row]] = {}
    for row in sorted(rows, key=lambda r: (_model_key(r), r["start_time_ms"])):
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
                    "latency_mean_us": run.get("latency_mean_us"), "latency_source": run.get("latency_source"),
                    Metric.LATENCY_ESTIMATE_LOW_US: run.get(Metric.LATENCY_ESTIMATE_LOW_US),
                    Metric.LATENCY_ESTIMATE_HIGH_US: run.get(Metric.LATENCY_ESTIMATE_HIGH_US),
                    "published_latency_us": theirs,
                    "latency_ratio_ours_to_published": _ratio(run.get("latency_mean_us"), theirs),
                    "run_id": run["run_id"]})
    columns = (*_MODEL_COLUMNS, "hidden_to_hidden_weights", "latency_mean_us", "latency_source",
               Metric.LATENCY_ESTIMATE_LOW_US, Metric.LATENCY_ESTIMATE_HIGH_US,
               "published_latency_us", "latency_ratio_ours_to_published", "run_id")
    return Table("table1_latency", "Table 1: float32 latency by n", columns, out)


def _flash_note(runs: Iterable[Row]) -> str:
    """"float32 does not fit nano33ble flash (N bytes > limit)" for each run whose model does not fit."""
    notes = []
    for run in runs:
        if run.get("fits_flash") != "false":
            continue
        limit = run.get("flash_limit_bytes")
        size = f"{_cell('', run.get('model_bytes'))} bytes" + (f" > {_cell('', limit)}" if limit else "")
        notes.append(f"{run['variant']} does not fit {run['board']} flash ({size})")
    return "; ".join(notes)


def table2(rows: Sequence[Row], published: Mapping[str, Row] | None = None) -> Table:
    """Study's Table 2: float32 vs dynamic-range (per-tensor) size by n, and what does not fit."""
    published = load_published() if published is None else published
    out = []
    for (model, _board), variants in _by_model(rows, {FLOAT32, "dynamic"}).items():
        flt, dyn = variants.get(FLOAT32, {}), variants.get("dynamic", {})
        float_bytes = flt.get("model_bytes", dyn.get("float_model_bytes"))
        ours_ratio = dyn.get("size_ratio")
        study = published.get(model, {})
        study_ratio = _ratio(study.get("float_model_bytes"), study.get("quantised_model_bytes"))
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
    variants = sorted({r["variant"] for r in rows}, key=_variant_order)
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


# ----------------------------------------------------------------------------- figures


def _series(rows: Iterable[Row], x: str, y: str, several_boards: bool) -> dict[str, list[tuple[float, float]]]:
    """(x, y) points per variant (and board, when the report spans several), sorted by x."""
    series: dict[str, list[tuple[float, float]]] = {}
    for row in sorted(rows, key=lambda r: _variant_order(r["variant"])):
        if _missing(row.get(x)) or _missing(row.get(y)) or not row[x] or not row[y]:
            continue
        label = row["variant"] + (f" @ {row['board']}" if several_boards else "")
        series.setdefault(label, []).append((float(row[x]), float(row[y])))
    return {label: sorted(points) for label, points in series.items()}


def _plot(ax: Any, series: Mapping[str, list[tuple[float, float]]]) -> None:
    for label, points in series.items():
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", label=label)


def interval_points(rows: Iterable[Row], x: str) -> list[tuple[float, float, float, float]]:
    """(x, mean, low, high) of every row whose latency estimate carries its 80% interval."""
    points = []
    for row in rows:
        values = [row.get(k) for k in (x, Metric.LATENCY_MEAN_US, Metric.LATENCY_ESTIMATE_LOW_US,
                                       Metric.LATENCY_ESTIMATE_HIGH_US)]
        if not any(_missing(v) for v in values) and values[0]:
            points.append(tuple(float(v) for v in values))
    return sorted(points)


def _interval_bars(ax: Any, rows: Sequence[Row], x: str) -> None:
    """The estimates' 80% prediction intervals as error bars around their points."""
    points = interval_points(rows, x)
    if points:
        xs, means, lows, highs = zip(*points)
        ax.errorbar(xs, means, yerr=[[m - lo for m, lo in zip(means, lows)], [h - m for m, h in zip(means, highs)]],
                    fmt="none", ecolor="grey", elinewidth=1, capsize=3, label="80% interval of the estimate")


def _plot_study(ax: Any, points: list[tuple[float, float | None]], label: str, marker: str = "x") -> None:
    shown = [(x, y) for x, y in points if y]
    if shown:
        xs, ys = zip(*shown)
        ax.plot(xs, ys, linestyle="none", marker=marker, markersize=9, color="black", label=label)


def _latency_title(rows: Sequence[Row]) -> str:
    sources = {r.get("latency_source") for r in rows if not _missing(r.get("latency_mean_us"))}
    title = "Inference latency vs hidden-to-hidden weights"
    if sources == {"estimate"}:
        return title + "\n(ours: estimates on the virtual board, not measured)"
    return title + ("\n(some of ours are estimates, not measured)" if "estimate" in sources else "")


def latency_figure(rows: Sequence[Row], path: Path, published: Mapping[str, Row]) -> Path:
    """Latency against n*n on log-log axes: the study's linear law is a straight line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 5.0), layout="constrained")
    ax = fig.add_subplot()
    _plot(ax, _series(rows, "hidden_to_hidden_weights", "latency_mean_us", _several_boards(rows)))
    _interval_bars(ax, rows, "hidden_to_hidden_weights")
    _plot_study(ax, [(hidden_to_hidden_weights(m), p["latency_float32_us"]) for m, p in published.items()],
                "Dokic et al. 2020 (float32, measured)")
    ax.set(xscale="log", yscale="log", xlabel="hidden-to-hidden weights (n*n)", ylabel="mean latency (us)",
           title=_latency_title(rows))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=120)
    return path


def sizes_figure(rows: Sequence[Row], path: Path, published: Mapping[str, Row]) -> Path:
    """Model size per variant and the float/quantised ratio against n, with the flash limit."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12.0, 5.0), layout="constrained")
    size_ax, ratio_ax = fig.subplots(1, 2)
    several = _several_boards(rows)
    _plot(size_ax, _series(rows, "n", "model_bytes", several))
    _plot_study(size_ax, [(p["n"], p["float_model_bytes"]) for p in published.values()], "study float32")
    _plot_study(size_ax, [(p["n"], p["quantised_model_bytes"]) for p in published.values()], "study dynamic", "+")
    for board, limit in sorted({(r["board"], r["flash_limit_bytes"]) for r in rows if r["flash_limit_bytes"]}):
        size_ax.axhline(limit, color="red", linestyle="--", linewidth=1, label=f"{board} flash limit")
    size_ax.set(yscale="log", ylabel="model size (bytes)", title="TFLite model size")
    _plot(ratio_ax, _series([r for r in rows if r["variant"] != FLOAT32], "n", "size_ratio", several))
    _plot_study(ratio_ax, [(p["n"], _ratio(p["float_model_bytes"], p["quantised_model_bytes"]))
                           for p in published.values()], "study float32/dynamic")
    ratio_ax.set(ylabel="size ratio (float32 bytes / bytes)", title="Size ratio float32 / quantised")
    for ax in (size_ax, ratio_ax):
        _n_axis(ax)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    fig.savefig(path, dpi=120)
    return path


def _n_axis(ax: Any) -> None:
    """n doubles along the study's range, so a base-2 log axis with plain numbers reads best."""
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("n (neurons per hidden layer)")


def _several_boards(rows: Sequence[Row]) -> bool:
    return len({r["board"] for r in rows}) > 1


# ------------------------------------------------------------------------------ report


@dataclass(frozen=True)
class ReportContext:
    """Where the rows came from, stated in report.md so a reader can find the runs again."""

    tracking_uri: str | None = None
    experiment: str | None = None
    sweep_id: str | None = None
    parent_run_id: str | None = None


def _header(rows: Sequence[Row], ctx: ReportContext) -> list[str]:
    sources = Counter(str(r.get("latency_source", "unknown")) for r in rows)
    sweep = f"`{ctx.sweep_id}`" + (f" (parent run `{ctx.parent_run_id}`)" if ctx.parent_run_id else "")
    facts = [
        f"- Tracking URI: `{ctx.tracking_uri}`" if ctx.tracking_uri else None,
        f"- Experiment: `{ctx.experiment}`" if ctx.experiment else None,
        f"- Sweep: {sweep}" if ctx.sweep_id else "- Sweep: none (all finished runs of the experiment)",
        f"- Runs: {len(rows)} finished (the latest run of each configuration; listed at the end)",
        "- Latency source: " + ", ".join(f"{k}: {v}" for k, v in sorted(sources.items())),
        (f"- Published numbers: `tinyexp/reference_data/{PUBLISHED_CSV.name}` (Dokic, Martinovic, Mandusic 2020)"
         if all(r.get("dense", True) for r in rows) else None),
        f"- Note: {_ESTIMATE_NOTE}." if "estimate" in sources else None,
        _loo_fact(rows),
        _range_fact(rows),
    ]
    return [f"# tinyexp report: {ctx.sweep_id or ctx.experiment or 'runs'}", "", *filter(None, facts), ""]


def _loo_fact(rows: Sequence[Row]) -> str | None:
    """The worst leave-one-out error among the estimates shown, as the runs recorded it."""
    estimates = [r for r in rows if r.get("latency_source") == "estimate"]
    errors = [float(r["latency_estimate_loo_max_error_pct"]) for r in estimates
              if not _missing(r.get("latency_estimate_loo_max_error_pct"))]
    unvalidated = len(estimates) - len(errors)
    parts = [f"worst {max(errors):.1f}% (as recorded on the runs)"] if errors else []
    parts += [f"{unvalidated} estimates have none (transferred from another source, unvalidated)"] if unvalidated else []
    return "- Latency estimates' leave-one-out error: " + "; ".join(parts) if parts else None


def _range_fact(rows: Sequence[Row]) -> str | None:
    """Which estimates are for models far outside the sizes their source was calibrated on."""
    outside = [r for r in rows if r.get("latency_source") == "estimate"
               and not str(r.get(Tag.LATENCY_ESTIMATE_CALIBRATION_RANGE, "within")).startswith("within")]
    if not outside:
        return None
    shown = "; ".join(f"{r.get('model')} {r.get('variant')} on {r.get('board')}: "
                      f"{r[Tag.LATENCY_ESTIMATE_CALIBRATION_RANGE]}" for r in outside[:5])
    more = f"; and {len(outside) - 5} more" if len(outside) > 5 else ""
    return f"- Latency estimates outside their calibration's sizes ({len(outside)}): {shown}{more}"


def _section(table: Table, figure: str | None = None) -> list[str]:
    lines = [f"## {table.title}", "", table.markdown(), "", f"CSV: `{table.name}.csv`", ""]
    return lines + ([f"![{figure}]({figure})", ""] if figure else [])


def write_report(rows: Sequence[Row], out_dir: Path, context: ReportContext = ReportContext()) -> list[Path]:
    """Write every table (CSV + Markdown), both figures and report.md; return the files."""
    if not rows:
        raise ReportError("no runs to report")
    out_dir.mkdir(parents=True, exist_ok=True)
    published = load_published()
    compare = Table("comparison", "Every run: size, memory, work, latency and accuracy",
                    (*comparison.COMPARISON_COLUMNS[:-1], "latency_per_mac_ns", "run_id"),
                    comparison.comparison_rows(rows))
    study = all(r.get("dense", True) for r in rows)  # the study's tables describe dense grids only
    tables = [compare] + ([table1(rows, published), table2(rows, published), accuracy_table(rows)] if study
                          else []) + [runs_table(rows)]
    paths = []
    for table in tables:
        paths.append(table.write_csv(out_dir / f"{table.name}.csv"))
        md = out_dir / f"{table.name}.md"
        md.write_text(f"# {table.title}\n\n{table.markdown()}\n")
        paths.append(md)
    paths.append(comparison.tradeoff_figure(rows, out_dir / "tradeoffs.png"))
    paths.append(comparison.latency_per_mac_figure(rows, out_dir / "latency_per_mac.png"))
    figures: list[str | None] = ["tradeoffs.png"]
    if study:
        paths.append(latency_figure(rows, out_dir / "latency.png", published))
        paths.append(sizes_figure(rows, out_dir / "sizes.png", published))
        figures += ["latency.png", "sizes.png", None]
    figures += [None]
    body = _header(rows, context) + [line for t, f in zip(tables, figures) for line in _section(t, f)]
    body += ["## Latency per MAC by model", "", "![latency_per_mac.png](latency_per_mac.png)", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(body))
    return [*paths, report]


# -------------------------------------------------------------------------------- CLI


_CONFIG_KEYS = {
    "tracking.uri": "MLflow tracking URI; default sqlite:///<cwd>/mlruns/mlflow.db",
    "tracking.experiment": "MLflow experiment; default tinyexp",
    "sweep.id": "the sweep to report; default the latest sweep, else all finished runs",
}


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    """`tinyexp report [tracking.uri=URI] [tracking.experiment=NAME] [sweep.id=ID] [--out DIR] [--no-log]`."""
    values, rest = split_config_args(argv, _CONFIG_KEYS)
    parser = argparse.ArgumentParser(
        prog="tinyexp report", description=__doc__.splitlines()[0],
        epilog="config values: " + "; ".join(f"{k}=... {v}" for k, v in _CONFIG_KEYS.items()))
    parser.add_argument("--out", type=Path, help="output directory (default: reports/<sweep or experiment>)")
    parser.add_argument("--no-log", action="store_true", help="do not log the report on the sweep's parent run")
    args = parser.parse_args(rest)
    args.tracking_uri = values.get("tracking.uri") or None
    args.experiment = values.get("tracking.experiment") or "tinyexp"
    args.sweep = values.get("sweep.id") or None
    return args


def _report(args: argparse.Namespace) -> int:
    from tinyexp.tracking.store import default_tracking_uri, existing_store_client

    uri = args.tracking_uri or default_tracking_uri()
    client = existing_store_client(uri)
    if client is None:
        raise ReportError(f"no MLflow store at {uri}")
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        raise ReportError(f"no experiment '{args.experiment}' in {uri}")
    if args.sweep and SWEEP_ID_PATTERN.fullmatch(args.sweep) is None:
        raise ReportError(f"sweep.id={args.sweep!r} is invalid: {SWEEP_ID_RULE}")
    sweep = args.sweep or latest_sweep_id(client, experiment.experiment_id)
    rows = collect_runs(client, experiment.experiment_id, sweep)
    if not rows:
        raise ReportError(f"no finished runs in experiment '{args.experiment}'" + (f" (sweep '{sweep}')" if sweep
                                                                                    else ""))
    parent = sweep_parent_run_id(client, experiment.experiment_id, sweep) if sweep else None
    out = args.out or Path("reports") / re.sub(r"[^\w.-]+", "_", sweep or args.experiment)
    paths = write_report(rows, out, ReportContext(uri, args.experiment, sweep, parent))
    print(f"tinyexp report: {len(rows)} runs -> {len(paths)} files in {out.resolve()}")
    if parent and not args.no_log:
        client.log_artifacts(parent, str(out), artifact_path="report")
        print(f"tinyexp report: logged as artifacts report/ of sweep parent run {parent}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `tinyexp report` and `python -m tinyexp.tracking.report`; returns the exit code."""
    try:
        return _report(_parse(argv))
    except TinyexpError as exc:
        print_error(exc)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
