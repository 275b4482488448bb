"""`--help` on every command exits 0 and says what the command does; the main command's help
names the subcommands and the config groups a user chooses from, never tinyexp's internal
schemas; Hydra's --cfg still works."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from tinyexp.cli.main import SUBCOMMAND_MODULES, console_main
from tinyexp.cli.usage import COMMANDS, config_groups

TOOLS = ["tinyexp.estimate.cli", "agent.cli", "tinyexp.tracking.server", "tinyexp.device.board_host",
         "tinyexp.device.virtual_board", "tinyexp.estimate.rebuild", "agent.rfc2217_server",
         *SUBCOMMAND_MODULES.values()]


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_main_help_names_commands_and_groups(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    console_main([flag])
    out = capsys.readouterr().out
    for name, _, example in COMMANDS:
        assert name in out and example in out
    for group, options in config_groups().items():
        assert group in out and ", ".join(options) in out
    assert "dataset         csv, digits, npz, sine, synthetic" in out
    assert "_schema" not in out and "powered by Hydra" not in out
    assert "--cfg" in out and "--info" in out


@pytest.mark.parametrize("subcommand", ["report", "calibrate", "doctor"])
def test_every_subcommand_help_exits_0(subcommand: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        console_main([subcommand, "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and out.startswith(f"usage: tinyexp {subcommand}"), out


@pytest.mark.parametrize("module", TOOLS)
def test_every_tool_help_exits_0(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        importlib.import_module(module).main(["--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and out.startswith("usage: ") and len(out.splitlines()) > 3, out


def test_calibrate_without_its_keys_names_them(capsys: pytest.CaptureFixture[str]) -> None:
    from tinyexp.estimate.calibrate import main

    assert main(["board=nano33ble"]) == 2
    assert capsys.readouterr().err.startswith("tinyexp: error: out=... missing; usage: tinyexp calibrate")


def test_hydra_cfg_and_help_from_the_command_line(tmp_path) -> None:  # noqa: ANN001
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tinyexp", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)

    shown = run("--cfg", "job", "model.neurons=7")
    assert shown.returncode == 0 and "neurons: 7" in shown.stdout, shown.stderr
    helped = run("--help")
    assert helped.returncode == 0 and "calibrate" in helped.stdout and not helped.stderr.strip(), helped.stderr
