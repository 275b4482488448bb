"""Find the smallest tensor arena TFLM can allocate a model in, safely, in a child process.

TFLM's allocation report ("Arena allocation total") leaves out the temporary memory kernels
take while preparing, so a sketch given exactly that many bytes can still fail to start. The
real need is found by trying arenas upward from the reported figure. Some sizes just below
the need crash the tflite-micro binding (SIGSEGV) instead of failing cleanly, so the trying
happens in a child process: a crash only means "too small", and the search resumes above it.

Run as a child: python -m tinyexp.tflm.probe MODEL START_BYTES STEP_BYTES LIMIT_BYTES
It prints "TRY n" before each attempt and "OK n" on the first that allocates.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tinyexp.core.errors import TinyexpError

_STEP_BYTES = 16
_SEARCH_SPAN_BYTES = 256 * 1024
_CHILD_TIMEOUT_S = 120


def _child(model_path: str, start: int, step: int, limit: int) -> int:
    from tinyexp.tflm.loader import try_load

    model = Path(model_path).read_bytes()
    for arena in range(start, limit + 1, step):
        print(f"TRY {arena}", flush=True)
        interp, _ = try_load(model, arena)
        if interp is not None:
            print(f"OK {arena}", flush=True)
            return 0
    return 1


def required_arena_bytes(model: bytes, reported_bytes: int) -> int:
    """The smallest arena (16-byte steps) at or above TFLM's reported use that allocates."""
    start, limit = reported_bytes, reported_bytes + _SEARCH_SPAN_BYTES
    with tempfile.TemporaryDirectory(prefix="tinyexp-probe-") as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(model)
        while start <= limit:
            out = subprocess.run([sys.executable, "-m", "tinyexp.tflm.probe", str(path), str(start),
                                  str(_STEP_BYTES), str(limit)],
                                 capture_output=True, text=True, timeout=_CHILD_TIMEOUT_S).stdout.split()
            if "OK" in out:
                return int(out[out.index("OK") + 1])
            tried = [int(out[i + 1]) for i, word in enumerate(out) if word == "TRY"]
            if not tried:
                raise TinyexpError("the TFLM arena probe failed to start; is tflite-micro installed?")
            start = tried[-1] + _STEP_BYTES  # the last size tried crashed or failed: too small
    raise TinyexpError(f"TFLM could not allocate the model in up to {limit} bytes of arena")


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
