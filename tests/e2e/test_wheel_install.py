"""tinyexp as a user installs it: a wheel (not editable) in a fresh virtual environment, run from
an empty directory, with a board of the user's own added through --config-dir.

The fresh environment gets tinyexp only from the wheel built here. Its dependencies
(TensorFlow, MLflow, ...) are the test environment's, reached through a .pth file listing a
folder of links to them that leaves out every trace of the checkout's editable install, so
the test costs seconds instead of a TensorFlow download; nothing of tinyexp can leak in
(the test checks where tinyexp was imported from).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.slow

USER_BOARD = """\
# A board of the user's own, outside the package (the README's example).
name: feather52840
mcu: nRF52840
cpu: cortex-m4f
clock_hz: 64000000
flash_bytes: 815104
ram_bytes: 237568
fqbn: adafruit:nrf52:feather52840
usb_vid: 0x239a
usb_pid: 0x8029
latency_calibration: dokic2020
"""


def _dependencies_without_tinyexp(folder: Path) -> Path:
    """A folder of links to the test environment's packages, minus tinyexp's editable install."""
    folder.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if entry.name.startswith(("tinyexp", "__editable__", "agent")) or entry.suffix == ".pth":
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


@pytest.fixture(scope="module")
def fresh_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A venv holding the wheel of this checkout, and an empty directory to run it from."""
    base = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(base / "dist")], check=True, timeout=300, capture_output=True)
    (wheel,) = (base / "dist").glob("tinyexp-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    fresh_site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                     check=True, capture_output=True, text=True, cwd=venv).stdout.strip())
    deps = _dependencies_without_tinyexp(base / "deps")
    (fresh_site / "zz_test_dependencies.pth").write_text(f"{deps}\n")
    # From the new venv's own folder, with no PYTHONPATH: pip must not mistake the checkout (or
    # the egg-info a wheel build leaves in it) for an installed tinyexp.
    no_path = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True, timeout=300,
                   capture_output=True, cwd=venv, env=no_path)
    work = base / "empty"
    work.mkdir()
    return {"python": python, "bin": venv / "bin", "work": work, "site": fresh_site}


def _run(env: dict[str, Path], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    clean.update(TF_CPP_MIN_LOG_LEVEL="3", TINYEXP_CACHE_DIR=str(env["work"] / "cache"))
    return subprocess.run(list(args), cwd=env["work"], env=clean, capture_output=True, text=True, timeout=timeout)


def _finished_runs(store: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(store) as db:
        return db.execute("select name, status from runs where status = 'FINISHED'").fetchall()


def test_installed_from_the_wheel_not_the_checkout(fresh_env: dict[str, Path]) -> None:
    done = _run(fresh_env, str(fresh_env["python"]), "-c", "import tinyexp, agent; print(tinyexp.__file__); "
                "print(agent.__file__)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(line.startswith(str(fresh_env["site"])) for line in done.stdout.split()), done.stdout


def test_main_job_runs_from_an_empty_directory(fresh_env: dict[str, Path]) -> None:
    done = _run(fresh_env, str(fresh_env["python"]), "-m", "tinyexp", "train.epochs=5")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "us estimated (80% interval" in done.stdout
    assert ("train.epochs=5", "FINISHED") in _finished_runs(fresh_env["work"] / "mlruns" / "mlflow.db")


def test_a_users_board_from_config_dir(fresh_env: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "board").mkdir()
    (tmp_path / "board" / "feather52840.yaml").write_text(USER_BOARD)
    done = _run(fresh_env, str(fresh_env["python"]), "-m", "tinyexp", "--config-dir", str(tmp_path), "board=feather52840",
                "train.epochs=5")
    assert done.returncode == 0, done.stderr[-3000:]
    assert ("board=feather52840 train.epochs=5", "FINISHED") in _finished_runs(fresh_env["work"] / "mlruns" / "mlflow.db")
    unknown = _run(fresh_env, str(fresh_env["python"]), "-m", "tinyexp", "board=feather52840", "train.epochs=5")
    assert unknown.returncode == 2 and "board=feather52840 is invalid" in unknown.stderr


def test_report_and_agent_commands_work_from_the_install(fresh_env: dict[str, Path]) -> None:
    report = _run(fresh_env, str(fresh_env["bin"] / "tinyexp"), "report", "--no-log")
    assert report.returncode == 0, report.stderr[-2000:]
    agent = _run(fresh_env, str(fresh_env["python"]), "-m", "agent", "--help")
    assert agent.returncode == 0 and "--virtual" in agent.stdout
