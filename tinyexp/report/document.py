"""The report as files: every table as CSV and Markdown, the figures, and report.md that
puts them together under a header saying where the rows came from and how far any estimate
among them is trusted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tinyexp.core.errors import TinyexpError
from tinyexp.core.names import FLOAT32, Tag
from tinyexp.report import energy_figure, figures, tradeoffs
from tinyexp.report.comparison import comparison_table
from tinyexp.report.tables import PUBLISHED_CSV, Table, accuracy_table, load_published, runs_table, table1, table2
from tinyexp.tracking.report_runs import Row, is_missing

_ESTIMATE_NOTE = ("latency_source=estimate: fitted to published measurements and computed on the virtual board, "
                  "not measured on hardware. Where an estimate sits beside the very measurements it was fitted "
                  "to, agreement is by construction; the leave-one-out error says how far it is trusted")


class ReportError(TinyexpError):
    """Nothing (or nothing usable) to report on; shown as one line, exit code 2."""


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
         if study_grid(rows) else None),
        f"- Note: {_ESTIMATE_NOTE}." if "estimate" in sources else None,
        loo_fact(rows),
        range_fact(rows),
    ]
    return [f"# tinyexp report: {ctx.sweep_id or ctx.experiment or 'runs'}", "", *filter(None, facts), ""]


def loo_fact(rows: Sequence[Row]) -> str | None:
    """The worst leave-one-out error among the estimates shown, as the runs recorded it."""
    estimates = [r for r in rows if r.get("latency_source") == "estimate"]
    errors = [float(r["latency_estimate_loo_max_error_pct"]) for r in estimates
              if not is_missing(r.get("latency_estimate_loo_max_error_pct"))]
    unvalidated = len(estimates) - len(errors)
    parts = [f"worst {max(errors):.1f}% (as recorded on the runs)"] if errors else []
    parts += [f"{unvalidated} estimates have none (transferred from another source, unvalidated)"] if unvalidated else []
    return "- Latency estimates' leave-one-out error: " + "; ".join(parts) if parts else None


def range_fact(rows: Sequence[Row]) -> str | None:
    """Which estimates are for models far outside the sizes their source was calibrated on."""
    outside = [r for r in rows if r.get("latency_source") == "estimate"
               and not str(r.get(Tag.LATENCY_ESTIMATE_CALIBRATION_RANGE, "within")).startswith("within")]
    if not outside:
        return None
    shown = "; ".join(f"{r.get('model')} {r.get('variant')} on {r.get('board')}: "
                      f"{r[Tag.LATENCY_ESTIMATE_CALIBRATION_RANGE]}" for r in outside[:5])
    more = f"; and {len(outside) - 5} more" if len(outside) > 5 else ""
    return f"- Latency estimates outside their calibration's sizes ({len(outside)}): {shown}{more}"


def study_grid(rows: Sequence[Row]) -> set[str]:
    """The study's variants (float32, dynamic) the sweep holds, if it is the study's kind of grid:
    every model a dense 1-n-n-1. Table 1 and its figure need float32 runs, Table 2 and its
    figure dynamic-range runs; a sweep of other models gets none of the study's tables."""
    if not all(r.get("dense") and r.get("n") and r["model"] == f"1-{r['n']}-{r['n']}-1" for r in rows):
        return set()
    return {r["variant"] for r in rows} & {FLOAT32, "dynamic"}


def _section(table: Table, figure: str | None = None) -> list[str]:
    lines = [f"## {table.title}", "", table.markdown(), "", f"CSV: `{table.name}.csv`", ""]
    return lines + ([f"![{figure}]({figure})", ""] if figure else [])


def write_report(rows: Sequence[Row], out_dir: Path, context: ReportContext = ReportContext(),
                 extra: Sequence[str] = ()) -> list[Path]:
    """Write every table (CSV + Markdown, less its empty columns), the figures and report.md;
    return the files. The study's tables and figures only for the study's kind of grid.
    `extra`: Markdown lines composed above this layer (a search's section), after the header."""
    if not rows:
        raise ReportError("no runs to report")
    out_dir.mkdir(parents=True, exist_ok=True)
    published = load_published()
    grid = study_grid(rows)
    sections: list[tuple[Table, str | None]] = [(comparison_table(rows), "tradeoffs.png")]
    sections += [(table1(rows, published), "latency.png")] if FLOAT32 in grid else []
    sections += [(table2(rows, published), "sizes.png")] if "dynamic" in grid else []
    sections += [(accuracy_table(rows), None)] if grid else []
    sections += [(runs_table(rows), None)]
    paths = []
    for table, _ in sections:
        table = table.without_empty_columns()
        paths.append(table.write_csv(out_dir / f"{table.name}.csv"))
        md = out_dir / f"{table.name}.md"
        md.write_text(f"# {table.title}\n\n{table.markdown()}\n")
        paths.append(md)
    paths.append(tradeoffs.tradeoff_figure(rows, out_dir / "tradeoffs.png"))
    paths.append(tradeoffs.latency_per_mac_figure(rows, out_dir / "latency_per_mac.png"))
    paths.append(energy_figure.energy_figure(rows, out_dir / "energy.png"))
    if FLOAT32 in grid:
        paths.append(figures.latency_figure(rows, out_dir / "latency.png", published))
    if "dynamic" in grid:
        paths.append(figures.sizes_figure(rows, out_dir / "sizes.png", published))
    body = [*_header(rows, context), *extra]
    body += [line for t, f in sections for line in _section(t.without_empty_columns(), f)]
    body += ["## Latency per MAC by model", "", "![latency_per_mac.png](latency_per_mac.png)", ""]
    body += ["## Energy per inference", "", "How it was obtained: docs/energy.md (energy_source in the runs).", "",
             "![energy.png](energy.png)", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(body))
    return [*paths, report]
