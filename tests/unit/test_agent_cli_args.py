"""`python -m agent` refuses bad arguments in one line with exit status 2, before any port is
opened or virtual board started (issue 11, defect 11: these gave tracebacks)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import main


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    path = tmp_path / "m.tflite"
    path.write_bytes(b"not checked before the arguments")
    return path


@pytest.mark.parametrize("args, words", [
    (["--samples", "-1"], "--samples: '-1' is not a whole number in 1..1000"),
    (["--samples", "0"], "--samples: '0' is not a whole number"),
    (["--timeout", "inf"], "--timeout: 'inf' is not a finite number of seconds >= 0.1"),
    (["--timeout", "nan"], "--timeout: 'nan' is not a finite number of seconds"),
    (["--timeout", "1e-9"], "--timeout: '1e-9' is not a finite number of seconds"),
    (["--invokes", "1001"], "--invokes: '1001' is not a whole number in 1..1000"),
    (["--warmup", "-1"], "--warmup: '-1' is not a whole number in 0..1000"),
    (["--retries", "0"], "--retries: '0' is not a whole number"),
    (["--latency-us", "-5"], "--latency-us: '-5' is not a finite number of microseconds above 0"),
    (["--latency-us", "nan"], "--latency-us: 'nan' is not a finite number"),
    (["--board", "{bad"], "--board: neither a board name nor a JSON object"),
    (["--board", '{"a": 1'], "--board: neither a board name nor a JSON object"),
    (["--transcript", "/proc/no/such/t.txt"], "--transcript: cannot write /proc/no/such/t.txt"),
])
def test_bad_argument_is_one_line_and_exit_2(model: Path, args: list[str], words: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--virtual", "--model", str(model), *args])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.startswith("python -m agent: error: argument ") and err.count("\n") == 1, err
    assert words in err


def test_missing_model_and_directory_transcript(tmp_path: Path, model: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["--model", str(tmp_path / "none.tflite")],
                 ["--model", str(model), "--transcript", str(tmp_path)]):
        with pytest.raises(SystemExit) as info:
            main(["--virtual", *args])
        assert info.value.code == 2 and capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("board, words", [
    ("nosuch", "unknown board 'nosuch': available boards are"),
    ('{"name": "x"}', "--board JSON lacks clock_hz"),
])
def test_a_board_the_virtual_board_refuses_is_a_bad_argument(
        model: Path, board: str, words: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Only the virtual board (tinyexp) knows the board names; it refuses them at start with
    status 2, which the agent reports as a bad argument."""
    with pytest.raises(SystemExit) as info:
        main(["--virtual", "--model", str(model), "--board", board])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and words in err, err


def test_as_a_command_no_traceback(model: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "agent", "--virtual", "--model", str(model),
                          "--timeout", "inf"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_json_gives_a_boards_numbers_as_numbers() -> None:
    from agent.cli import _typed

    typed = _typed({"clock_hz": "64000000", "proto": "2", "fw": "1.2.0", "board": "nano33ble",
                    "arena_used": "-1", "ratio": "0.25", "crc": "0x1f2e", "model_crc32": "06812345"})
    assert typed == {"clock_hz": 64000000, "proto": 2, "fw": "1.2.0", "board": "nano33ble", "arena_used": -1,
                     "ratio": 0.25, "crc": "0x1f2e", "model_crc32": "06812345"}
