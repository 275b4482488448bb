"""Find the smallest tensor arena TFLM can allocate a model in, safely, in a child process.

TFLM's allocation report ("Arena allocation total") leaves out the temporary memory kernels
take while preparing, so a sketch given exactly that many bytes can still fail to start. The
real need is found by trying arenas above the reported figure, on a 16-byte grid. Some sizes
just below the need crash the tflite-micro binding (SIGSEGV) instead of failing cleanly, so
the trying happens in a child process: a crash only means "too small", and the search goes on
in a new child from what is known.

The search gallops, then bisects: tries at the reported figure, then 1, 3, 7, 15, ... steps
above it until one allocates, then halves the gap between the largest size that failed and
the smallest that allocated. Stepping up 16 bytes at a time took 1,200 tries (32 s) for a
141-layer net whose prepare-time scratch is 19 KB; this takes about 25. It assumes what
stepping up assumed too: a larger arena never fails where a smaller one allocated.

Run as a child: python -m tinyexp.tflm.probe MODEL START STEP LIMIT FAILED [ALLOCATED]
(FAILED: the largest size known to fail, START - STEP when none; ALLOCATED: the smallest
known to allocate). It prints "TRY n" before each attempt, "NO n" after a clean failure, and
"OK n" when it has found the smallest size that allocates.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tinyexp.core.errors import TinyexpError

_STEP_BYTES = 16
_SEARCH_SPAN_BYTES = 256 * 1024
_CHILD_TIMEOUT_S = 120


@dataclass(frozen=True)
class ArenaSearch:
    """What is known so far: the largest size that failed and the smallest that allocated
    (None: none yet), on the grid start + k * step, up to limit."""

    start: int
    step: int
    limit: int
    failed: int
    allocated: int | None = None

    def next_size(self) -> int | None:
        """The next size to try; None when the search is over (found, or nothing up to
        the limit allocates)."""
        if self.allocated is not None:
            steps_between = (self.allocated - self.failed) // self.step
            return None if steps_between <= 1 else self.failed + (steps_between // 2) * self.step
        if self.failed >= self.limit:
            return None
        gallop = max(self.step, self.failed - self.start + self.step)  # doubles the distance from start
        return min(self.limit, self.failed + gallop)

    def after(self, size: int, allocates: bool) -> "ArenaSearch":
        if allocates:
            return ArenaSearch(self.start, self.step, self.limit, self.failed, size)
        return ArenaSearch(self.start, self.step, self.limit, max(self.failed, size), self.allocated)


def _child(model_path: str, search: ArenaSearch) -> int:
    from tinyexp.tflm.loader import try_load

    model = Path(model_path).read_bytes()
    while (size := search.next_size()) is not None:
        print(f"TRY {size}", flush=True)
        interp, _ = try_load(model, size)
        allocates = interp is not None
        del interp  # this size's interpreter and arena freed before the next is made
        if not allocates:
            print(f"NO {size}", flush=True)
        search = search.after(size, allocates)
    if search.allocated is None:
        return 1
    print(f"OK {search.allocated}", flush=True)
    return 0


def _learnt(search: ArenaSearch, words: list[str]) -> ArenaSearch:
    """The search after a child's report: each size it tried allocated unless it said NO, or
    crashed on it (the last TRY without a NO, when the child printed no OK)."""
    tried = [int(words[i + 1]) for i, word in enumerate(words) if word == "TRY"]
    refused = {int(words[i + 1]) for i, word in enumerate(words) if word == "NO"}
    for size in tried[:-1]:
        search = search.after(size, size not in refused)
    if tried:
        search = search.after(tried[-1], False)  # refused, or the child crashed on it
    return search


def required_arena_bytes(model: bytes, reported_bytes: int) -> int:
    """The smallest arena (16-byte steps) at or above TFLM's reported use that allocates."""
    search = ArenaSearch(reported_bytes, _STEP_BYTES, reported_bytes + _SEARCH_SPAN_BYTES,
                         failed=reported_bytes - _STEP_BYTES)
    with tempfile.TemporaryDirectory(prefix="tinyexp-probe-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(model)
        while search.next_size() is not None:
            known = [str(search.failed)] + ([str(search.allocated)] if search.allocated is not None else [])
            words = subprocess.run([sys.executable, "-m", "tinyexp.tflm.probe", str(path), str(search.start),
                                    str(search.step), str(search.limit), *known],
                                   capture_output=True, text=True, timeout=_CHILD_TIMEOUT_S).stdout.split()
            if "OK" in words:
                return int(words[words.index("OK") + 1])
            if "TRY" not in words:
                raise TinyexpError("the TFLM arena probe failed to start; is tflite-micro installed?")
            search = _learnt(search, words)
        if search.allocated is not None:
            return search.allocated
    raise TinyexpError(f"TFLM could not allocate the model in up to {search.limit} bytes of arena")


if __name__ == "__main__":
    _args = sys.argv[1:]
    sys.exit(_child(_args[0], ArenaSearch(int(_args[1]), int(_args[2]), int(_args[3]), int(_args[4]),
                                          int(_args[5]) if len(_args) > 5 else None)))
