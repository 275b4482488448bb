"""The latency estimate: its calibration, its honesty about error, and the estimate CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_tflite_inspect import convert_dense

from tinyexp.boards import load_board
from tinyexp.errors import ConfigError, TinyexpError
from tinyexp.latency import estimate_latency, load_calibration, validate_calibration
from tinyexp.tflite_inspect import ModelStats, inspect_model

REPO = Path(__file__).resolve().parents[1]
NANO, NUCLEO = load_board("nano33ble"), load_board("nucleo_l4r5zi")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """1-n-n-1 nets as .tflite files, keyed like "64_int8"."""
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for n, mode in [(16, "none"), (64, "none"), (16, "int8"), (64, "int8"), (64, "dynamic")]:
        paths[f"{n}_{mode}"] = folder / f"dense_{n}_{mode}.tflite"
        paths[f"{n}_{mode}"].write_bytes(convert_dense([n, n], mode))
    return paths


def stats_of(path: Path) -> ModelStats:
    return inspect_model(path.read_bytes())


def test_packaged_table_is_read_whole() -> None:
    rows = load_calibration()
    assert len(rows) == 9
    assert {(r.source, r.dtype) for r in rows} == {
        ("dokic2020", "float32"), ("edgemark2025", "float32"), ("edgemark2025", "int8")}
    assert rows[0].runtime == "TFLM (Arduino library, 2020)"  # the quoted comma survived


def test_leave_one_out_covers_every_row() -> None:
    results = validate_calibration()
    assert len(results) == 9
    for result in results:
        assert result.topology not in result.fitted_on
        assert len(result.fitted_on) == 2


def test_leave_one_out_errors_dokic_within_target() -> None:
    # Measured: -6.7% (1-16-16-1), +2.3% (1-64-64-1), -3.5% (1-256-256-1).
    errors = {r.topology: r.error_pct for r in validate_calibration() if r.source == "dokic2020"}
    assert max(abs(e) for e in errors.values()) < 15


def test_leave_one_out_errors_edgemark_are_reported_not_hidden(models: dict[str, Path]) -> None:
    # The edgemark2025 rows (1, 120 and 199328 MACs) cannot predict one another: measured
    # leave-one-out errors are -90/+792/-98% (float32) and -90/+861/-93% (int8). The estimate
    # must carry that figure, not a flattering one.
    worst = max(abs(r.error_pct) for r in validate_calibration()
                if r.source == "edgemark2025" and r.dtype == "int8")
    estimate = estimate_latency(stats_of(models["64_int8"]), NUCLEO)
    assert estimate.loo_max_abs_error_pct == pytest.approx(worst)
    assert f"leave-one-out max error {worst:.1f}%" in estimate.provenance


def test_held_out_paper_row_is_predicted_within_15_percent(models: dict[str, Path]) -> None:
    rows = [r for r in load_calibration() if r.topology != "1-64-64-1"]
    estimate = estimate_latency(stats_of(models["64_none"]), NANO, rows=rows)
    assert estimate.latency_us == pytest.approx(1732.54, rel=0.15)  # measured: +2.3%
    assert "1-64-64-1" not in estimate.provenance


@pytest.mark.parametrize("board", [NANO, NUCLEO], ids=lambda b: b["name"])
@pytest.mark.parametrize("mode", ["none", "int8"])
def test_estimates_are_positive_and_grow_with_macs(models: dict[str, Path], board: dict, mode: str) -> None:
    small = estimate_latency(stats_of(models[f"16_{mode}"]), board)
    large = estimate_latency(stats_of(models[f"64_{mode}"]), board)
    assert 0 < small.latency_us < large.latency_us
    assert small.cycles == pytest.approx(small.latency_us * board["clock_hz"] / 1e6)
    assert (large.source, large.board, large.calibration) == (
        "estimate", board["name"], board["latency_calibration"])
    assert large.provenance.startswith("estimate, not a measurement")


def test_int8_on_nucleo_lies_between_its_neighbouring_measurements(models: dict[str, Path]) -> None:
    # 288 and 4224 MACs lie between the measured int8 nets of 120 (83.2 us) and 199328 MACs.
    for key in ("16_int8", "64_int8"):
        estimate = estimate_latency(stats_of(models[key]), NUCLEO)
        assert estimate.kernel_dtype == "int8"
        assert 83.2 < estimate.latency_us < 7300


def test_int8_on_nano_is_transferred_and_says_so(models: dict[str, Path]) -> None:
    estimate = estimate_latency(stats_of(models["64_int8"]), NANO)
    assert "dokic2020 has no int8 rows" in estimate.provenance
    assert "edgemark2025" in estimate.provenance
    assert estimate.loo_max_abs_error_pct is None  # the transfer cannot be validated
    assert estimate.coefficients["int8_over_float32_ratio"] > 0


def test_hybrid_model_is_refused(models: dict[str, Path]) -> None:
    with pytest.raises(TinyexpError, match="hybrid model: TFLM cannot run it"):
        estimate_latency(stats_of(models["64_dynamic"]), NANO)


def test_malformed_table_is_refused(tmp_path: Path) -> None:
    lines = (REPO / "tinyexp" / "reference_data" / "published_latency.csv").read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1].replace('"', "")]) + "\n")
    with pytest.raises(TinyexpError, match="wrong number of fields"):
        load_calibration(bad)
    bad.write_text("\n".join([lines[0], lines[1].replace(",288,", ",289,")]) + "\n")
    with pytest.raises(TinyexpError, match="does not match topology"):
        load_calibration(bad)


def test_unknown_board_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match="available boards are nano33ble, nucleo_l4r5zi"):
        load_board("uno")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "tinyexp.estimate", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_prints_labelled_estimate(models: dict[str, Path]) -> None:
    done = run_cli(str(models["64_none"]), "--board", "nano33ble", "--validate")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["source"] == "estimate" and report["calibration"] == "dokic2020"
    assert (report["macs"], report["kernel_dtype"], report["clock_hz"]) == (4224, "float32", 64_000_000)
    assert report["latency_us"] > 0 and report["cycles"] > 0 and report["provenance"]
    assert len(report["validation"]) == 9


@pytest.mark.parametrize("case, message", [
    ("missing", "cannot read"),
    ("not_tflite", "not a TFLite model"),
    ("bad_board", "unknown board 'uno'"),
    ("hybrid", "TFLM cannot run it"),
])
def test_cli_errors_are_one_line_with_exit_2(models: dict[str, Path], tmp_path: Path,
                                             case: str, message: str) -> None:
    text_file = tmp_path / "notes.tflite"
    text_file.write_text("hello")
    args = {
        "missing": [str(tmp_path / "absent.tflite"), "--board", "nano33ble"],
        "not_tflite": [str(text_file), "--board", "nano33ble"],
        "bad_board": [str(models["16_none"]), "--board", "uno"],
        "hybrid": [str(models["64_dynamic"]), "--board", "nano33ble"],
    }[case]
    done = run_cli(*args)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
