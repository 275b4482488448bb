"""Progress for long work (training, sweeps) on a terminal, and silence everywhere else.

A bar is drawn on stderr only when stderr is a terminal, so logs, CI output and captured
subprocess output stay free of control characters.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

Advance = Callable[[int], None]


@contextlib.contextmanager
def progress(description: str, total: int) -> Iterator[Advance]:
    """Yield `advance(n)`; draw a rich progress bar when stderr is a terminal."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
