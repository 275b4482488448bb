"""A tracking server that refuses connections is refused before any work, in under 10 s
(issue 11, defect 8: MLflow's own retries cost about 250 s per job)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from tinyexp.model.train import trained_entries


def _refusing_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refusing_server_is_refused_before_work_in_under_10_s(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{_refusing_port()}"
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "tinyexp", "-m", f"tracking.uri={uri}", "model.neurons=4,8"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, TINYEXP_CACHE_DIR=str(tmp_path / "cache")))
    elapsed = time.monotonic() - start
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert f"tracking.uri='{uri}': no tracking server answers" in out.stderr
    assert elapsed < 10, elapsed
    assert not (tmp_path / "multirun").exists() and not trained_entries(tmp_path / "cache")
