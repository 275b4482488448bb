"""Capture what C++ libraries write straight to file descriptor 2.

TFLM explains a refused model only on the C-level stderr, and the TFLite converter prints
its quantisation settings there; neither goes through Python's sys.stderr. Redirecting the
descriptor itself lets tinyexp turn the first into an error message and keep the second off
the user's console.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from typing import Iterator

_FD2_LOCK = threading.Lock()


@contextlib.contextmanager
def capture_native_stderr() -> Iterator[list[str]]:
    """Redirect file descriptor 2 to a temporary file; yield a list that receives its text."""
    captured: list[str] = []
    with _FD2_LOCK, tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", errors="replace"))
