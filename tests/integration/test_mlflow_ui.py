"""The MLflow UI compares two runs of a sweep: rendered by headless Chromium, screenshot kept.

A two-job sweep in a fresh store, served by a real `mlflow server` (the session's, shared with
tests/integration/test_mlflow_server.py), and Debian's Chromium opens the UI's compare page for the two
child runs twice: once dumping the DOM (the page must name both runs and the metrics), once
taking a screenshot, kept as test-artifacts/mlflow-compare-runs.png (git-ignored). Skips when
Chromium is not installed (`apt-get install chromium`; .ci/run does it when root).
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.parse
from pathlib import Path

import pytest

from tests.helpers.mlflow_server import SWEEP_ID, Server, SweepRuns, sweep_runs

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOT = ARTIFACTS / "mlflow-compare-runs.png"
DOM_DUMP = ARTIFACTS / "mlflow-compare-runs.html"
WINDOW = (1400, 1000)
CHROMIUM_TIMEOUT_S = 90.0


def chromium_path() -> str | None:
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


CHROMIUM = chromium_path()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (/usr/bin/chromium); `apt-get install -y chromium` "
           "to render the MLflow UI in these tests")


def run_chromium(*args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with a fresh profile; its whole process group is killed on timeout."""
    with tempfile.TemporaryDirectory(prefix="tinyexp-chromium-") as profile:
        command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                   "--no-first-run", "--disable-background-networking", "--disable-component-update",
                   "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                   f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=15000", *args]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   stdin=subprocess.DEVNULL, text=True, start_new_session=True)
        try:
            out, err = process.communicate(timeout=CHROMIUM_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            pytest.fail(f"chromium did not finish within {CHROMIUM_TIMEOUT_S:.0f} s: {command}\n{err[-3000:]}")
        finally:
            # Renderer/zygote helpers left behind by a finished browser: end them too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        return subprocess.CompletedProcess(command, process.returncode, out, err)


def compare_url(server: Server, runs: SweepRuns) -> str:
    ids = [child["info"]["run_id"] for child in runs.children]
    query = urllib.parse.urlencode({"runs": json.dumps(ids), "experiments": json.dumps([runs.experiment_id])},
                                   quote_via=urllib.parse.quote)
    return f"{server.url}/#/compare-runs?{query}"


def visible_text(dom: str) -> str:
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)
    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def ui_sweep(served_sweep: tuple[Server, Path]) -> tuple[Server, SweepRuns]:
    server, _ = served_sweep  # tests/integration/conftest.py
    runs = sweep_runs(server.url, SWEEP_ID)
    assert len(runs.children) == 2, [c["info"]["run_name"] for c in runs.children]
    return server, runs


@pytest.mark.slow
def test_compare_page_names_both_runs_and_metrics(ui_sweep: tuple[Server, SweepRuns]) -> None:
    server, runs = ui_sweep
    done = run_chromium("--dump-dom", compare_url(server, runs))
    assert done.returncode == 0, done.stderr[-3000:]
    ARTIFACTS.mkdir(exist_ok=True)
    DOM_DUMP.write_text(done.stdout)
    text = visible_text(done.stdout)
    excerpt = text[:3000]
    assert "Comparing 2 Runs" in text, excerpt
    for child in runs.children:
        assert child["info"]["run_id"] in text, excerpt
        assert child["info"]["run_name"] in text, excerpt
    # The metrics table is virtualised (alphabetical, first rows only): these are always shown.
    for metric in ("model_bytes", "latency_us"):
        assert metric in text, excerpt
    assert "latency_source" in text and "estimate" in text, excerpt


@pytest.mark.slow
def test_compare_page_screenshot(ui_sweep: tuple[Server, SweepRuns]) -> None:
    from PIL import Image

    server, runs = ui_sweep
    ARTIFACTS.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    done = run_chromium(f"--screenshot={SCREENSHOT}", compare_url(server, runs))
    assert done.returncode == 0, done.stderr[-3000:]
    assert SCREENSHOT.is_file(), f"no screenshot written: {done.stderr[-3000:]}"
    assert SCREENSHOT.stat().st_size > 20_000, SCREENSHOT.stat().st_size

    with Image.open(SCREENSHOT) as image:
        assert image.format == "PNG"
        assert image.size == WINDOW
        rgb = image.convert("RGB")
        extrema = rgb.getextrema()
        assert any(low != high for low, high in extrema), f"uniform image: {extrema}"
        # A rendered page (text, plot, table) has many colours; a blank or error page very few.
        colours = rgb.getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 200, len(colours or [])
        # Not mostly one colour either: the most common colour covers under 90 % of the pixels.
        top = max(count for count, _ in colours)
        assert top < 0.9 * WINDOW[0] * WINDOW[1], top / (WINDOW[0] * WINDOW[1])


RUNS_SCREENSHOT = ARTIFACTS / "mlflow-runs-table.png"  # a copy is docs/mlflow-runs-table.png


def runs_url(server: Server, runs: SweepRuns) -> str:
    """The address a sweep prints and the experiment's description links to."""
    from tinyexp.tracking.experiment_view import runs_link

    return f"{server.url}/{runs_link(runs.experiment_id)}"


@pytest.mark.slow
def test_experiment_opens_on_the_runs_table_with_tinyexps_columns(ui_sweep: tuple[Server, SweepRuns]) -> None:
    from tests.helpers.mlflow_server import api, metrics_of
    from tinyexp.core.names import ExperimentTag

    server, runs = ui_sweep
    tags = {t["key"]: t["value"] for t in api(server.url, "experiments/get", query={
        "experiment_id": runs.experiment_id})["experiment"].get("tags", [])}
    assert tags[ExperimentTag.KIND] == "custom_model_development"
    assert "tinyexp report" in tags[ExperimentTag.NOTE]
    done = run_chromium("--dump-dom", runs_url(server, runs))
    assert done.returncode == 0, done.stderr[-3000:]
    text = visible_text(done.stdout)
    excerpt = text[:4000]
    assert "Runs - Experiment" in text and "You're viewing a shared view" in text, excerpt
    assert "0 traces" not in text.lower() and "Error loading shared view" not in text, excerpt
    assert f"Group: {SWEEP_ID}" in text, excerpt  # the jobs listed flat under their sweep
    for child in runs.children:
        assert child["info"]["run_name"] in text, excerpt
    # The table is virtualised: the first columns of the view are rendered, with the jobs' values.
    for column in ("latency_us", "latency_estimate_low_us", "arena_required_bytes"):
        assert column in text, excerpt
    for child in runs.children:  # each job's own latency, as the table shows it
        latency = metrics_of(child)["latency_us"]
        assert f"{latency:g}" in text or f"{latency}" in text, (latency, excerpt)


@pytest.mark.slow
def test_runs_table_screenshot(ui_sweep: tuple[Server, SweepRuns]) -> None:
    from PIL import Image

    server, runs = ui_sweep
    ARTIFACTS.mkdir(exist_ok=True)
    RUNS_SCREENSHOT.unlink(missing_ok=True)
    # Wide, so more of the view's columns show (Chromium takes the last --window-size).
    done = run_chromium("--window-size=2200,700", f"--screenshot={RUNS_SCREENSHOT}", runs_url(server, runs))
    assert done.returncode == 0 and RUNS_SCREENSHOT.is_file(), done.stderr[-3000:]
    with Image.open(RUNS_SCREENSHOT) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
        assert colours is not None and len(colours) > 200, len(colours or [])
