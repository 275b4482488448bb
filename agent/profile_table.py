"""A board's per-operator profile (PROF) as table rows and as text for a terminal.

One definition of each figure, for `python -m agent` and for the runs tinyexp logs:
``time_us`` is the operator's time as the board reported it, ``share`` its fraction of the
operators' summed ticks, so the shares add up to 1; what the whole invoke took
beyond its operators (the interpreter's own work) is reported beside the table, not in it.
"""

from __future__ import annotations

from typing import Any

from agent import protocol as p


def profile_rows(profile: p.Profile) -> list[dict[str, Any]]:
    """One row per operator: operator (its index), type, time_us, cycles, share; time_us and
    share are None from a board without a tick source, cycles None without a cycle counter."""
    total = sum(o.ticks for o in profile.operators)
    return [{"operator": o.index, "type": o.op, "time_us": o.us, "cycles": o.cycles,
             "share": o.ticks / total if total and o.us is not None else None}
            for o in profile.operators]


def outside_operators_us(profile: p.Profile) -> float | None:
    """Microseconds of the invoke spent outside every operator, or None without a tick source."""
    return None if profile.us is None else profile.invoke_us - profile.us


def format_profile(profile: p.Profile, source: str) -> str:
    """The table as aligned text, with a title saying whether it is measured or estimated."""
    rows = profile_rows(profile)
    width = max([len("type")] + [len(r["type"]) for r in rows])
    lines = [f"per-operator profile ({source}), {len(rows)} operators:",
             f"{'operator':>8}  {'type':<{width}}  {'time_us':>10}  {'share':>6}"]
    for r in rows:
        time = "n/a" if r["time_us"] is None else f"{r['time_us']:.3f}"
        share = "n/a" if r["share"] is None else f"{100 * r['share']:.1f}%"
        lines.append(f"{r['operator']:>8}  {r['type']:<{width}}  {time:>10}  {share:>6}")
    outside = outside_operators_us(profile)
    if outside is not None:
        lines.append(f"operators {profile.us:.3f} us of a {profile.invoke_us:.3f} us invoke "
                     f"({outside:.3f} us outside them)")
    return "\n".join(lines)
