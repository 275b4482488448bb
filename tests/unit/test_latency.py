"""The latency estimate: its calibration, its honesty about error, and the estimate CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers.models import convert_dense

from tinyexp.core.boards import load_board
from tinyexp.core.config import BoardConfig
from tinyexp.core.errors import ConfigError, TinyexpError
from tinyexp.estimate.latency import estimate_latency, load_calibration, validate_calibration
from tinyexp.tflm.inspect import LayerStats, ModelStats, inspect_model

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = REPO / "tinyexp" / "reference_data" / "published_latency.csv"
NANO, NUCLEO = load_board("nano33ble"), load_board("nucleo_l4r5zi")
EDGEMARK_LARGE = [3072, 64, 32, 16, 10]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """1-n-n-1 nets as .tflite files, keyed like "64_int8" (int8 ones have int8 I/O)."""
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for n, mode in [(16, "float32"), (64, "float32"), (16, "int8"), (64, "int8"), (64, "dynamic"),
                    (16, "float16")]:
        paths[f"{n}_{mode}"] = folder / f"dense_{n}_{mode}.tflite"
        paths[f"{n}_{mode}"].write_bytes(convert_dense([n, n], mode))
    return paths


def stats_of(path: Path) -> ModelStats:
    return inspect_model(path.read_bytes())


def dense_stats(widths: list[int], dtype: str) -> ModelStats:
    """Statistics of a dense net with I/O in its own dtype (no QUANTIZE/DEQUANTIZE), built
    directly: converting a 3072-input net would only slow the tests down."""
    layers = tuple(LayerStats("FULLY_CONNECTED", a * b, b, a * b + b, dtype, dtype)
                   for a, b in zip(widths, widths[1:]))
    return ModelStats(
        model_bytes=0, params=sum(layer.params for layer in layers),
        macs=sum(layer.macs for layer in layers), ops=("FULLY_CONNECTED",) * len(layers),
        op_counts={"FULLY_CONNECTED": len(layers)}, tensor_dtypes={dtype: 2 * len(layers) + 1},
        input_dtype=dtype, output_dtype=dtype, input_len=widths[0], output_len=widths[-1],
        layers=layers, kernel_kind=dtype)


def loo_errors(source: str, dtype: str) -> dict[str, float]:
    return {r.topology: r.error_pct for r in validate_calibration()
            if (r.source, r.dtype) == (source, dtype)}


def test_packaged_table_is_read_whole() -> None:
    rows = load_calibration()
    assert len(rows) == 9
    assert {(r.source, r.dtype) for r in rows} == {
        ("dokic2020", "float32"), ("edgemark2025", "float32"), ("edgemark2025", "int8")}
    assert rows[0].runtime == "TFLM (Arduino library, 2020)"  # the quoted comma survived
    # Dense layers, plus the QUANTIZE/DEQUANTIZE assumed around full-integer models.
    assert {(r.dtype, r.topology): r.operators for r in rows if r.source == "edgemark2025"} == {
        ("float32", "1-1"): 1, ("float32", "1-10-10-1"): 3, ("float32", "3072-64-32-16-10"): 4,
        ("int8", "1-1"): 3, ("int8", "1-10-10-1"): 5, ("int8", "3072-64-32-16-10"): 6}


def test_leave_one_out_refits_the_rest_of_the_source() -> None:
    results = validate_calibration()
    assert len(results) == 9
    for result in results:
        label = f"{result.dtype} {result.topology}"
        assert label not in result.fitted_on
        assert len(result.fitted_on) == {"dokic2020": 2, "edgemark2025": 5}[result.source]


def test_leave_one_out_errors_dokic_within_target() -> None:
    # Measured: -6.7% (1-16-16-1), +2.3% (1-64-64-1), -3.5% (1-256-256-1); target 15%.
    errors = loo_errors("dokic2020", "float32")
    assert errors == pytest.approx({"1-16-16-1": -6.7, "1-64-64-1": 2.3, "1-256-256-1": -3.5}, abs=0.1)
    assert max(abs(e) for e in errors.values()) < 15


def test_leave_one_out_errors_edgemark_measured_and_over_target() -> None:
    # Measured (the previous per-dtype outputs+macs model: -90/+792/-98% and -90/+861/-93%).
    # The small nets are now predicted within 47%; each large net is not: it is the only row
    # of its dtype that shows the cost per MAC, so without it that cost is extrapolated
    # 1600-fold from 1- and 120-MAC nets. The 15% target is not met for these rows.
    assert loo_errors("edgemark2025", "float32") == pytest.approx(
        {"1-1": -46.9, "1-10-10-1": 19.7, "3072-64-32-16-10": -98.8}, abs=0.1)
    assert loo_errors("edgemark2025", "int8") == pytest.approx(
        {"1-1": 34.9, "1-10-10-1": -15.9, "3072-64-32-16-10": 304.4}, abs=0.1)


@pytest.mark.parametrize("key, dtype", [("64_float32", "float32"), ("64_int8", "int8")])
def test_estimate_carries_its_sources_leave_one_out_error(models: dict[str, Path], key: str,
                                                          dtype: str) -> None:
    worst = max(abs(e) for e in loo_errors("edgemark2025", dtype).values())
    estimate = estimate_latency(stats_of(models[key]), NUCLEO)
    assert estimate.loo_max_abs_error_pct == pytest.approx(worst)
    assert f"leave-one-out max error {worst:.1f}%" in estimate.provenance


def test_held_out_paper_row_is_predicted_within_15_percent(models: dict[str, Path]) -> None:
    rows = [r for r in load_calibration() if r.topology != "1-64-64-1"]
    estimate = estimate_latency(stats_of(models["64_float32"]), NANO, rows=rows)
    assert estimate.latency_us == pytest.approx(1732.54, rel=0.15)  # measured: +2.3%
    assert "1-64-64-1" not in estimate.provenance


@pytest.mark.parametrize("board", [NANO, NUCLEO], ids=lambda b: b.name)
@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_estimates_are_positive_and_grow_with_macs(models: dict[str, Path], board: BoardConfig, mode: str) -> None:
    small = estimate_latency(stats_of(models[f"16_{mode}"]), board)
    large = estimate_latency(stats_of(models[f"64_{mode}"]), board)
    assert 0 < small.latency_us < large.latency_us
    assert small.cycles == pytest.approx(small.latency_us * board.clock_hz / 1e6)
    assert (large.source, large.board, large.calibration) == (
        "estimate", board.name, board.latency_calibration)
    assert large.provenance.startswith("estimate, not a measurement")


def test_int8_beats_float_on_nucleo_for_the_large_net() -> None:
    # Measured on the board: 7300 us (CMSIS-NN int8) vs 19460 us (reference float32); these
    # rows are in the fit, so this checks the shared fit keeps them apart (estimated: 7318 us
    # for the int8 net without QUANTIZE/DEQUANTIZE, 19244 us float32).
    int8 = estimate_latency(dense_stats(EDGEMARK_LARGE, "int8"), NUCLEO)
    float32 = estimate_latency(dense_stats(EDGEMARK_LARGE, "float32"), NUCLEO)
    assert int8.latency_us < 0.5 * float32.latency_us
    assert float32.latency_us == pytest.approx(19460, rel=0.05)
    assert int8.latency_us == pytest.approx(7300, rel=0.05)


def test_operator_count_outside_the_calibration_is_flagged() -> None:
    estimate = estimate_latency(dense_stats([1, 16, 16, 16, 16, 1], "float32"), NANO)
    assert "invokes 5 operators, the dokic2020 nets 3" in estimate.provenance
    three = estimate_latency(dense_stats([1, 16, 16, 1], "float32"), NANO)
    assert "operators, the" not in three.provenance


def test_int8_on_nano_is_transferred_and_says_so(models: dict[str, Path]) -> None:
    estimate = estimate_latency(stats_of(models["64_int8"]), NANO)
    assert "dokic2020 has no int8 rows" in estimate.provenance
    assert "edgemark2025" in estimate.provenance
    assert estimate.loo_max_abs_error_pct is None  # the transfer cannot be validated
    assert 0 < estimate.coefficients["int8_over_float32_ratio"] < 1


@pytest.mark.parametrize("key, kind", [("64_dynamic", "hybrid"), ("16_float16", "float16")])
def test_models_tflm_cannot_run_are_refused(models: dict[str, Path], key: str, kind: str) -> None:
    with pytest.raises(TinyexpError, match=f"{kind} model: TFLM cannot run it"):
        estimate_latency(stats_of(models[key]), NANO)


def test_malformed_table_is_refused(tmp_path: Path) -> None:
    lines = PUBLISHED.read_text().splitlines()
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


def own_table(tmp_path: Path, source: str, ops: bool = False) -> Path:
    """edgemark2025's rows filed under another source name, as a user's own table would be."""
    with PUBLISHED.open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["source"] == "edgemark2025"]
    path = tmp_path / f"{source}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, [*rows[0], *(["ops"] if ops else [])])
        writer.writeheader()
        for row in rows:
            layers = len(row["layers"].split("-")) - 1
            writer.writerow({**row, "source": source, **({"ops": layers} if ops else {})})
    return path


def test_user_table_may_state_operator_counts(tmp_path: Path) -> None:
    rows = load_calibration(own_table(tmp_path, "mylab", ops=True))
    assert [r.operators for r in rows] == [1, 3, 4, 1, 3, 4]  # int8 I/O: no QUANTIZE/DEQUANTIZE


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "tinyexp.estimate", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_prints_labelled_estimate(models: dict[str, Path]) -> None:
    done = run_cli(str(models["64_float32"]), "board=nano33ble", "--validate")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["source"] == "estimate" and report["calibration"] == "dokic2020"
    assert (report["macs"], report["kernel_dtype"], report["clock_hz"]) == (4224, "float32", 64_000_000)
    assert report["latency_us"] > 0 and report["cycles"] > 0 and report["provenance"]
    assert len(report["validation"]) == 9


def test_cli_fits_the_users_own_table(models: dict[str, Path], tmp_path: Path) -> None:
    assert "--calibration CSV" in run_cli("--help").stdout
    done = run_cli(str(models["64_int8"]), "board=nucleo_l4r5zi", "--validate",
                   "--calibration", str(own_table(tmp_path, "mylab")))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["calibration"] == "mylab" and "fitted by NNLS to mylab rows" in report["provenance"]
    published = estimate_latency(stats_of(models["64_int8"]), NUCLEO)
    assert report["latency_us"] == pytest.approx(published.latency_us)  # same rows, same fit
    assert len(report["validation"]) == 9 + 6


@pytest.mark.parametrize("case, message", [
    ("missing", "cannot read"),
    ("not_tflite", "not a TFLite model"),
    ("bad_board", "unknown board 'uno'"),
    ("hybrid", "TFLM cannot run it"),
    ("clash", "edgemark2025 is a published source"),
    ("other_board", "exactly one source measured on board nano33ble (found none)"),
])
def test_cli_errors_are_one_line_with_exit_2(models: dict[str, Path], tmp_path: Path,
                                             case: str, message: str) -> None:
    text_file = tmp_path / "notes.tflite"
    text_file.write_text("hello")
    model = str(models["16_float32"])
    args = {
        "missing": [str(tmp_path / "absent.tflite"), "board=nano33ble"],
        "not_tflite": [str(text_file), "board=nano33ble"],
        "bad_board": [model, "board=uno"],
        "hybrid": [str(models["64_dynamic"]), "board=nano33ble"],
        "clash": [model, "board=nucleo_l4r5zi",
                  "--calibration", str(own_table(tmp_path, "edgemark2025"))],
        "other_board": [model, "board=nano33ble", "--calibration", str(own_table(tmp_path, "mylab"))],
    }[case]
    done = run_cli(*args)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
