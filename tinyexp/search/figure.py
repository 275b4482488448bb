"""The front as a figure: the first objective against each other one, every trained trial in
grey (crossed when it broke a limit), the front's trials marked, the latency estimate's 80%
interval as error bars and the latency limit drawn; an axis whose values span more than a
decade on a log scale, so the front is not squeezed into a corner by one slow candidate."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from tinyexp.search.front import LATENCY_HIGH_ATTR, LATENCY_LOW_ATTR
from tinyexp.search.space import OBJECTIVES, SearchSpec


def _label(name: str) -> str:
    unit = OBJECTIVES[name].unit
    return f"{name.removesuffix('_' + unit)} [{unit}]" if unit else name


def _xerr(trials: Sequence[Any], x: list[float]) -> list[list[float]] | None:
    """Asymmetric error bars from the interval attrs (0 where a trial has none)."""
    low = [max(0.0, xi - (t.user_attrs.get(LATENCY_LOW_ATTR) or xi)) for t, xi in zip(trials, x)]
    high = [max(0.0, (t.user_attrs.get(LATENCY_HIGH_ATTR) or xi) - xi) for t, xi in zip(trials, x)]
    return [low, high]


def _log_if_wide(ax: Any) -> None:
    """A log scale on each axis whose drawn data (error bars included) are positive and span
    more than a decade."""
    for (low, high), set_scale in ((ax.dataLim.intervalx, ax.set_xscale), (ax.dataLim.intervaly, ax.set_yscale)):
        if low > 0 and high > 10 * low:
            set_scale("log")


def front_figure(spec: SearchSpec, trained: Sequence[Any], front: Sequence[Any], path: Path) -> Path | None:
    """Write the figure to `path` (PNG); None when there is no second objective to plot."""
    if len(spec.objectives) < 2 or not trained:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = spec.objectives[1:]
    fig, axes = plt.subplots(1, len(others), figsize=(4.5 * len(others), 3.8), squeeze=False)
    broke = [any(v > 0 for v in t.constraints.values()) for t in trained]
    met = [t for t, b in zip(trained, broke) if not b]
    over = [t for t, b in zip(trained, broke) if b]
    for ax, name in zip(axes[0], others):
        index = spec.objectives.index(name)
        for group, style in ((met, {"color": "0.7", "fmt": "o", "label": "trained"}),
                             (over, {"color": "0.6", "fmt": "x", "label": "trained, over a limit"}),
                             (front, {"color": "C0", "fmt": "o", "label": "front"})):
            if not group:
                continue
            x = [t.values[index] for t in group]
            y = [t.values[0] for t in group]
            err = _xerr(group, x) if name == "latency_ms" else None
            ax.errorbar(x, y, xerr=err, capsize=3, **style)
        _log_if_wide(ax)
        if name == "latency_ms" and spec.limits.latency_ms is not None:
            ax.axvline(spec.limits.latency_ms, color="C3", linestyle="--", label="limit")
        ax.set_xlabel(_label(name) + (" (bars: the estimate's 80% interval)" if name == "latency_ms" else ""))
        ax.set_ylabel(_label(spec.objectives[0]))
    shown: dict[str, Any] = {}  # one legend for the figure: each label once, from whichever panel has it
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            shown.setdefault(label, handle)
    fig.suptitle(f"search {spec.name}: the front of {len(trained)} trained trials", fontsize=10)
    fig.legend(list(shown.values()), list(shown), loc="lower center", ncol=len(shown), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
