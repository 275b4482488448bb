"""The estimate CLI (python -m tinyexp.estimate): one estimator's figure, documented JSON,
the study's timings kept, one-line errors."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers.models import convert_dense

from tinyexp.core.boards import load_board
from tinyexp.core.errors import ConfigError, TinyexpError
from tinyexp.estimate.calibration_cache import shipped_calibration
from tinyexp.estimate.cli import SCHEMA_VERSION, main
from tinyexp.estimate.per_operator import estimate_operators
from tinyexp.estimate.calibration_rows import STUDY_SOURCE

REPO = Path(__file__).resolve().parents[2]
ESTIMATE_DOC = REPO / "docs" / "estimate.md"
STUDY_POINTS = {"dense_1-16-16-1": 192.34, "dense_1-64-64-1": 1732.54, "dense_1-256-256-1": 23285.50}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """1-n-n-1 nets as .tflite files, keyed like "64_int8" (int8 ones have int8 I/O)."""
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for n, mode in [(16, "float32"), (64, "float32"), (256, "float32"), (64, "int8"), (64, "dynamic"),
                    (16, "float16")]:
        paths[f"{n}_{mode}"] = folder / f"dense_{n}_{mode}.tflite"
        paths[f"{n}_{mode}"].write_bytes(convert_dense([n, n], mode))
    return paths


def cli_json(capsys: pytest.CaptureFixture, *args: str) -> dict:
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("n", [16, 64, 256])
def test_the_studys_given_points_are_what_the_nano_estimates(models: dict[str, Path], n: int) -> None:
    """The study's three timings fit the dense-net formula's four prices exactly, so its
    table (every 1-n-n-1 float32 net on the nano33ble) keeps the figures v1 gave it."""
    e = estimate_operators(models[f"{n}_float32"].read_bytes(), load_board("nano33ble"))
    assert e.source == STUDY_SOURCE
    assert e.latency_us == pytest.approx(STUDY_POINTS[f"dense_1-{n}-{n}-1"], rel=1e-6)


def test_the_studys_leave_one_out_errors_are_v1s() -> None:
    """v1's validation on the study's rows (-6.7, +2.3, -3.5%) is the study source's LOO now."""
    errors = {p.row.architecture: p.error_pct for p in shipped_calibration().loo(STUDY_SOURCE)}
    assert errors == pytest.approx({"dense_1-16-16-1": -6.7, "dense_1-64-64-1": 2.3, "dense_1-256-256-1": -3.5},
                                   abs=0.1)


def test_cli_prints_the_estimate_a_run_logs(models: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    report = cli_json(capsys, str(models["64_float32"]), "board=nucleo_l4r5zi")
    e = estimate_operators(models["64_float32"].read_bytes(), load_board("nucleo_l4r5zi"))
    assert report["schema_version"] == SCHEMA_VERSION and "v2" not in report
    assert report["latency_us"] == pytest.approx(e.latency_us) and report["low_us"] < report["latency_us"]
    assert report["latency_source"] == "estimate" and report["source"] == e.source
    assert (report["macs"], report["clock_hz"]) == (4224, 120_000_000)
    assert report["provenance"].startswith("estimate, not a measurement")
    assert sum(op["us"] for op in report["operators"]) + report["overhead_us"] == pytest.approx(report["latency_us"])


def _documented_fields() -> set[str]:
    return set(re.findall(r"^\| `([a-z_.]+)`", ESTIMATE_DOC.read_text(), flags=re.MULTILINE))


def test_every_field_of_the_json_is_documented(models: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    report = cli_json(capsys, str(models["64_int8"]), "board=nano33ble")
    fields = set(report) | {f"operators.{k}" for k in report["operators"][0]} | \
        {f"size_range.{k}" for k in report["size_range"]}
    documented = _documented_fields()
    assert fields - documented == set(), "undocumented in docs/estimate.md"
    assert documented - fields == set(), "documented but not printed"
    assert f"Schema version {SCHEMA_VERSION}." in ESTIMATE_DOC.read_text()


def test_validate_prints_both_held_out_tables(capsys: pytest.CaptureFixture) -> None:
    assert main(["--validate"]) == 0
    out = capsys.readouterr().out
    assert "leave-one-out" in out and "leave-one-family-out" in out


@pytest.mark.parametrize("key, kind", [("64_dynamic", "int8 weights"), ("16_float16", "float16 weights")])
def test_models_tflm_cannot_run_are_refused(models: dict[str, Path], key: str, kind: str) -> None:
    with pytest.raises(TinyexpError, match=f"{kind}, which TFLM cannot run"):
        estimate_operators(models[key].read_bytes(), load_board("nano33ble"))


def test_unknown_board_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match="available boards are nano33ble, nucleo_l4r5zi"):
        load_board("uno")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "tinyexp.estimate", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case, message", [
    ("missing", "cannot read"),
    ("not_tflite", "not a TFLite model"),
    ("bad_board", "unknown board 'uno'"),
    ("hybrid", "TFLM cannot run"),
    ("csv_calibration", "is not JSON"),
])
def test_cli_errors_are_one_line_with_exit_2(models: dict[str, Path], tmp_path: Path,
                                             case: str, message: str) -> None:
    text_file = tmp_path / "notes.tflite"
    text_file.write_text("hello")
    old_format = tmp_path / "mine.csv"
    old_format.write_text("source,board,mcu,clock_hz,runtime,kernels,dtype,layers,macs,latency_us,note\n")
    model = str(models["16_float32"])
    args = {
        "missing": [str(tmp_path / "absent.tflite"), "board=nano33ble"],
        "not_tflite": [str(text_file), "board=nano33ble"],
        "bad_board": [model, "board=uno"],
        "hybrid": [str(models["64_dynamic"]), "board=nano33ble"],
        "csv_calibration": [model, "board=nano33ble", "--calibration", str(old_format)],
    }[case]
    done = run_cli(*args)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
