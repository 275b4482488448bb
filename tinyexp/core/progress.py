"""Progress for long work (sweeps, training) on a terminal, and silence everywhere else.

Bars are drawn on stderr only when stderr is a terminal, so logs, CI output and captured
subprocess output stay free of control characters. Nested work (a job's training inside a
sweep) becomes a second line of the same display, since a terminal has one live display.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator

Advance = Callable[[int], None]
_live: list[Any] = []  # the rich Progress currently on screen, if any


def _new_display() -> Any:  # noqa: ANN401 - rich.progress.Progress
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, console=Console(stderr=True), transient=True)


@contextlib.contextmanager
def progress(description: str, total: int) -> Iterator[Advance]:
    """Yield `advance(n)`; show a bar for `total` steps when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    if _live:
        display = _live[-1]
        task = display.add_task(description, total=total)
        try:
            yield lambda n: display.advance(task, n)
        finally:
            display.remove_task(task)
        return
    with _new_display() as display:
        _live.append(display)
        task = display.add_task(description, total=total)
        try:
            yield lambda n: display.advance(task, n)
        finally:
            _live.pop()
