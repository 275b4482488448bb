"""The front as a figure: the first objective against each other one, every trained trial in
grey (crossed when it broke a limit), the front's trials marked, the latency limit drawn; an
axis whose values span more than a decade on a log scale, so the front is not squeezed into a
corner by one slow candidate. A latency's bars are the interval its own figure supports
(front.latency_interval): the estimate's 80% interval around an estimate (circles), the
board's min-max over its timed invokes around a measurement (squares); never the estimate's
interval around a measurement. One legend for the figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from tinyexp.search.front import LATENCY_SOURCE_ATTR, MEASURED, latency_interval
from tinyexp.search.space import OBJECTIVES, SearchSpec

_MARKERS = {MEASURED: ("s", "measured"), "estimate": ("o", "estimated")}


def _label(name: str) -> str:
    unit = OBJECTIVES[name].unit
    return f"{name.removesuffix('_' + unit)} [{unit}]" if unit else name


def _xerr(trials: Sequence[Any], x: list[float]) -> list[list[float]]:
    """Asymmetric error bars from each trial's own latency interval (0 where it has none)."""
    found = [latency_interval(t.user_attrs) for t in trials]
    low = [max(0.0, xi - i.low) if i else 0.0 for i, xi in zip(found, x)]
    high = [max(0.0, i.high - xi) if i else 0.0 for i, xi in zip(found, x)]
    return [low, high]


def _by_source(trials: Sequence[Any]) -> dict[str, list[Any]]:
    """Trials with a measured latency, and the others (estimated: the virtual board's clock)."""
    found: dict[str, list[Any]] = {MEASURED: [], "estimate": []}
    for t in trials:
        found[MEASURED if t.user_attrs.get(LATENCY_SOURCE_ATTR) == MEASURED else "estimate"].append(t)
    return found


def _log_if_wide(ax: Any) -> None:
    """A log scale on each axis whose drawn data (error bars included) are positive and span
    more than a decade."""
    for (low, high), set_scale in ((ax.dataLim.intervalx, ax.set_xscale), (ax.dataLim.intervaly, ax.set_yscale)):
        if low > 0 and high > 10 * low:
            set_scale("log")


def _one_legend(fig: Any, axes: Sequence[Any]) -> None:
    """Each label once, from whichever panel has it, below the panels."""
    shown: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            shown.setdefault(label, handle)
    fig.legend(list(shown.values()), list(shown), loc="lower center", ncol=min(len(shown), 4), fontsize=8,
               frameon=False)


def front_figure(spec: SearchSpec, trained: Sequence[Any], front: Sequence[Any], path: Path) -> Path | None:
    """Write the figure to `path` (PNG); None when there is no second objective to plot."""
    if len(spec.objectives) < 2 or not trained:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = spec.objectives[1:]
    fig, axes = plt.subplots(1, len(others), figsize=(4.5 * len(others), 4.2), squeeze=False)
    broke = [any(v > 0 for v in t.constraints.values()) for t in trained]
    met = [t for t, b in zip(trained, broke) if not b]
    over = [t for t, b in zip(trained, broke) if b]
    for ax, name in zip(axes[0], others):
        index = spec.objectives.index(name)
        for group, color, role, crossed in ((met, "0.7", "trained", False), (over, "0.6", "trained, over a limit", True),
                                            (front, "C0", "front", False)):
            for source, trials in _by_source(group).items():
                if not trials:
                    continue
                marker, word = _MARKERS[source]
                x = [t.values[index] for t in trials]
                y = [t.values[0] for t in trials]
                err = _xerr(trials, x) if name == "latency_ms" else None
                ax.errorbar(x, y, xerr=err, fmt="x" if crossed else marker, capsize=3, color=color,
                            label=f"{role} ({word})")
        _log_if_wide(ax)
        if name == "latency_ms" and spec.limits.latency_ms is not None:
            ax.axvline(spec.limits.latency_ms, color="C3", linestyle="--", label="limit")
        bars = " (bars: estimate's 80% interval; measured min-max)" if name == "latency_ms" else ""
        ax.set_xlabel(_label(name) + bars, fontsize=8 if bars else None)
        ax.set_ylabel(_label(spec.objectives[0]))
    _one_legend(fig, axes[0])
    fig.suptitle(f"search {spec.name}: the front of {len(trained)} trained trials", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
