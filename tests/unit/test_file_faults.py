"""Users' files that gave a traceback or a silently wrong run (issue 17), each refused in one
line before any work: stores that are not SQLite databases (doctor, report, calibrate), report
and calibration outputs that cannot be written, a board name that would reach MLflow's filter
parser, board files that would run as the default board, and calibration files of another board,
binary or with unusable latencies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinyexp.cli.doctor import main as doctor
from tinyexp.cli.main import preflight
from tinyexp.core.errors import ConfigError, TinyexpError
from tinyexp.estimate.calibrate import _with_usable_latency
from tinyexp.estimate.calibrate import main as calibrate_main
from tinyexp.estimate.calibration_file import FORMAT, MeasuredRun, read_calibration, write_calibration
from tinyexp.cli.report import main as report_main


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYEXP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _one_error_line(err: str, *fragments: str) -> None:
    assert err.startswith("tinyexp: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.mark.parametrize("content,fragment", [(b"this is a text file, not a store\n", "is not an SQLite database"),
                                              (b"SQLite format 3\x00" + b"\xff" * 2000, "is damaged")])
def test_a_store_that_is_not_sqlite_is_one_line_in_every_command(home: Path, capsys: pytest.CaptureFixture[str],
                                                                content: bytes, fragment: str) -> None:
    store = home / "bad.db"
    store.write_bytes(content)
    uri = f"sqlite:///{store}"
    assert report_main([f"tracking.uri={uri}"]) == 2
    _one_error_line(capsys.readouterr().err, fragment)
    assert calibrate_main(["board=nano33ble", f"out={home / 'c.json'}", f"tracking.uri={uri}"]) == 2
    _one_error_line(capsys.readouterr().err, fragment)
    assert doctor([f"tracking.uri={uri}"], preflight) == 1
    assert fragment in capsys.readouterr().out.splitlines()[0]
    assert store.read_bytes() == content  # nothing written into it


def test_report_out_under_a_file_is_refused(home: Path) -> None:
    from tinyexp.core.cli_args import check_output_dir

    (home / "afile").write_text("x")
    for out in (home / "afile", home / "afile" / "sub"):
        with pytest.raises(ConfigError, match="afile is a file, not a folder"):
            check_output_dir(out, "--out")
    check_output_dir(home / "new" / "deeper", "--out")  # creatable: fine
    assert not (home / "new").exists()


@pytest.mark.parametrize("args,message", [
    (["board=x' or '1'='1"], "board=\"x' or '1'='1\" is invalid: use 1-64 ASCII letters"),
    (["board=nano33ble", "out=NODIR/c.json"], "no such directory NODIR; create it first"),
    (["board=nano33ble", "out=."], "out=. is a directory"),
])
def test_calibrate_arguments_are_checked_before_the_store(home: Path, capsys: pytest.CaptureFixture[str],
                                                          args: list[str], message: str) -> None:
    out = [] if any(a.startswith("out=") for a in args) else [f"out={home / 'c.json'}"]
    assert calibrate_main([*args, *out, f"tracking.uri=sqlite:///{home / 'none.db'}"]) == 2
    _one_error_line(capsys.readouterr().err, message)


def _run(run_id: str, latency: float) -> MeasuredRun:
    return MeasuredRun(run_id, "int8", latency, (), None)


def test_calibrate_leaves_out_nan_zero_and_negative_latencies() -> None:
    found = [(None, _run("good", 120.0)), (None, _run("nan", float("nan"))), (None, _run("neg", -5.0)),
             (None, _run("zero", 0.0)), (None, _run("inf", float("inf")))]
    usable, left_out = _with_usable_latency(found)
    assert [m.run_id for _, m in usable] == ["good"] and left_out == ["nan", "neg", "zero", "inf"]


def test_a_nan_latency_is_never_written_as_invalid_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_calibration(tmp_path / "c.json", "s", "nano33ble", 64_000_000, "test", [_run("r", float("nan"))])


def _calibration(path: Path, board: str = "nucleo_l4r5zi", latency: object = 100.0) -> Path:
    path.write_text(json.dumps({"format": FORMAT, "source": f"{board}-measured", "board": board,
                                "clock_hz": 120_000_000, "created_from": "test",
                                "runs": [{"run_id": "r1", "mode": "int8", "latency_us": latency,
                                          "operators": [], "profile_us": None}]}))
    return path


@pytest.mark.parametrize("latency", [-5.0, 0, "NaN"])
def test_a_calibration_file_with_an_unusable_latency_is_damaged(tmp_path: Path, latency: object) -> None:
    path = _calibration(tmp_path / "c.json", latency=latency)
    if latency == "NaN":
        path.write_text(path.read_text().replace('"NaN"', "NaN"))
    with pytest.raises(TinyexpError, match="latency_us is .*a measured time must be a finite number > 0"):
        read_calibration(path)


def test_a_binary_calibration_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(TinyexpError, match="is not a text file"):
        read_calibration(tmp_path / "c.json")


def test_the_preflight_refuses_a_calibration_file_of_another_board(home: Path) -> None:
    path = _calibration(home / "nucleo.json")
    with pytest.raises(TinyexpError, match="was written for board 'nucleo_l4r5zi', not 'nano33ble'"):
        preflight([f"board.calibration={path}", "train.epochs=1"], False)


@pytest.mark.parametrize("content,message", [
    ("", "is empty or not a mapping; it needs name, clock_hz, flash_bytes, ram_bytes"),
    ("name: myboard\nflash_bytes: 100000\nram_bytes: 50000\n", "has no clock_hz"),
])
def test_the_preflight_refuses_a_board_file_that_would_run_as_the_default(home: Path, content: str,
                                                                          message: str) -> None:
    (home / "cfg" / "board").mkdir(parents=True)
    (home / "cfg" / "board" / "myboard.yaml").write_text(content)
    with pytest.raises(ConfigError, match=message):
        preflight(["board=myboard"], False, [str(home / "cfg")])


class _TableStore:
    """An MLflow client stand-in holding one per-operator table artifact."""

    def __init__(self, rows: list[list[object]]) -> None:
        self.rows = rows

    def download_artifacts(self, run_id: str, name: str, folder: str) -> str:
        path = Path(folder) / name
        path.write_text(json.dumps({"columns": ["operator", "time_us"], "data": self.rows}))
        return str(path)


@pytest.mark.parametrize("cell", ["abc", None, -3.0, "NaN"])
def test_a_profile_cell_that_is_not_a_time_makes_the_profile_unusable_not_a_traceback(tmp_path: Path,
                                                                                    cell: object) -> None:
    from tinyexp.core.names import Artifact
    from tinyexp.estimate.calibrate import _profile

    client = _TableStore([["0:FULLY_CONNECTED", 12.5], ["1:SOFTMAX", cell]])
    assert _profile(client, "r1", tmp_path, 2, {Artifact.PER_OPERATOR_TABLE}) is None
    assert _profile(_TableStore([["0", 12.5], ["1", 3.0]]), "r2", tmp_path, 2,
                    {Artifact.PER_OPERATOR_TABLE}) == (12.5, 3.0)


def test_a_comma_value_without_multirun_is_not_run_as_its_first_value(home: Path) -> None:
    with pytest.raises(ConfigError, match=r"model.path=a,b.tflite: a comma-separated value is a sweep; add -m .*"
                                          r"model.path='a,b.tflite'"):
        preflight(["model=tflite", "model.path=a,b.tflite"], False)
