"""`tinyexp doctor`: store, cache, toolchain and board on one screen, one line each."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tinyexp.cli.doctor import main as doctor
from tinyexp.cli.main import preflight


def main(argv: list[str]) -> int:
    return doctor(argv, preflight)


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TINYEXP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_all_ok_on_a_fresh_directory_creates_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[:2] for ln in lines] == [["ok", "store"], ["ok", "cache"], ["ok", "toolchain"], ["ok", "board"]]
    assert "not created yet" in lines[0] and not (home / "mlruns" / "mlflow.db").exists()


def test_problems_are_one_line_each_and_exit_1(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entry = home / "cache" / "0123456789abcdef0123"  # a training key
    entry.mkdir(parents=True)
    (home / "cache" / "estimator").mkdir()  # the estimator's store is not a trained model
    (entry / "meta.json").write_text("{")  # a corrupted entry
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main([f"tracking.uri=http://127.0.0.1:{port}"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("PROBLEM  store") and "no tracking server answers" in lines[0]
    assert lines[1].startswith("PROBLEM  cache") and "1 of 1 entries fail their checksums" in lines[1]


def test_a_bad_configuration_is_exit_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train.seed=-1"]) == 2
    assert capsys.readouterr().err.startswith("tinyexp: error: train.seed=-1 is invalid")


def test_as_a_command(home: Path) -> None:
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "tinyexp", "doctor"], cwd=home, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 4, out.stdout + out.stderr
