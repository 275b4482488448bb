"""Every tinyexp command takes config values as key=value and fails the same way."""

from __future__ import annotations

import pytest

from tinyexp.core.cli_args import ERROR_PREFIX, EXIT_USAGE
from tinyexp.estimate import cli as estimate_cli
from tinyexp.cli import report as report_cli


@pytest.mark.parametrize("main, argv, key", [
    (report_cli.main, ["tracking.url=sqlite:///x.db"], "tracking.url"),
    (estimate_cli.main, ["model.tflite", "boards=nano33ble"], "boards"),
])
def test_unknown_key_is_one_line_naming_the_keys(main, argv: list[str], key: str,  # noqa: ANN001
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(ERROR_PREFIX + f"{key}: unknown key; this command takes ") and err.count("\n") == 1


def test_main_command_uses_the_same_prefix(run_tinyexp) -> None:  # noqa: ANN001
    done = run_tinyexp("model.neuronz=3", timeout=120)
    assert done.returncode == EXIT_USAGE and done.stderr.startswith(ERROR_PREFIX)


@pytest.mark.parametrize("flags", [["-m", "--cfg", "job"], ["--multirun", "--info"]])
def test_a_flag_hydra_runs_alone_with_multirun_is_one_line(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    from tinyexp.cli.main import console_main

    with pytest.raises(SystemExit) as stop:
        console_main([*flags, "model.neurons=4,8"])
    err = capsys.readouterr().err
    assert stop.value.code == EXIT_USAGE and err.startswith(ERROR_PREFIX) and err.count("\n") == 1, err
    assert "cannot be combined with -m/--multirun" in err
