"""A scripted board for tests: a thread on the master side of a real pty that answers each
command line the agent sends with whatever the test's ``answer`` writes to the Link.

Shared by the agent's protocol tests (well-behaved and faulty peers) and the link-fault tests
(floods, hang-ups, endless streams), which need the same pty, line assembly and shutdown.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
import tty
from typing import Callable, Iterator

from agent import protocol as p


class Link:
    """The board's end of the pty. ``closed`` is set when the board hangs up or the test ends;
    answers that run on (a flood, an endless stream) must stop writing then."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.closed = threading.Event()
        self.hung_up = False

    def write(self, data: bytes) -> None:
        """All of ``data``, waiting while the pty is full, unless the link closes first."""
        view = memoryview(data)
        while view and not self.closed.is_set():
            try:
                view = view[os.write(self.master, view):]
            except BlockingIOError:
                time.sleep(0.005)

    def hang_up(self) -> None:
        self.closed.set()
        self.hung_up = True
        os.close(self.master)


@contextlib.contextmanager
def scripted_board(answer: Callable[[p.Command, Link], None]) -> Iterator[str]:
    """Serve ``answer`` on a fresh pty; yields the port the agent opens."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)  # a board's thread stuck on a full pty can still stop
    link = Link(master)

    def loop() -> None:
        lines = p.LineAssembler()
        while not link.closed.is_set():
            if select.select([master], [], [], 0.02)[0]:
                for line in lines.feed(os.read(master, 4096)):
                    answer(p.decode_command(line), link)  # type: ignore[arg-type]
                    if link.closed.is_set():
                        return

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield os.ttyname(slave)
    finally:
        link.closed.set()
        thread.join(10)
        assert not thread.is_alive(), "the scripted board did not stop"
        if not link.hung_up:
            os.close(master)  # only now: a thread still writing would hit a reused fd number
        os.close(slave)
