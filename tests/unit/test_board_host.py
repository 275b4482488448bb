"""The board-host file (ports -> boards -> Ray resources), the farm's measuring task's Ray
options, and the farm backend's refusal of the default store."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tinyexp.core.config import BoardConfig, DeviceConfig
from tinyexp.core.errors import ConfigError
from tinyexp.device import board_host
from tinyexp.device.base import load_backend
from tinyexp.device.serial import port_lock
from tinyexp.device.farm import PLACEMENT, task_options


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "board_host.yaml"
    path.write_text(text)
    return path


def test_resources_count_boards_per_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _file(tmp_path, "boards:\n  - {board: nano33ble, port: /dev/ttyACM0}\n"
                           "  - {board: nano33ble, port: /dev/ttyACM1}\n  - {board: nucleo_l4r5zi, port: null}\n")
    assert board_host.resources(path) == {"board:nano33ble": 2, "board:nucleo_l4r5zi": 1}
    assert board_host.main([str(path)]) == 0
    assert capsys.readouterr().out.strip() == '{"board:nano33ble": 2, "board:nucleo_l4r5zi": 1}'


def test_a_held_port_is_passed_over(tmp_path: Path) -> None:
    ports = [str(tmp_path / "ttyA"), str(tmp_path / "ttyB")]
    path = _file(tmp_path, "boards:\n" + "".join(f"  - {{board: nano33ble, port: {p}}}\n" for p in ports))
    assert board_host.free_port_for(path, "nano33ble") == ports[0]
    with port_lock(ports[0]):
        assert board_host.free_port_for(path, "nano33ble") == ports[1]
    with pytest.raises(ConfigError, match="lists no nucleo_l4r5zi"):
        board_host.free_port_for(path, "nucleo_l4r5zi")


@pytest.mark.parametrize("text", ["boards: []\n", "boards:\n  - {port: /dev/ttyACM0}\n", "nothing: 1\n"])
def test_bad_files_are_one_config_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="board-host file"):
        board_host.resources(_file(tmp_path, text))


def test_real_boards_ask_for_their_resource_and_no_cpu_virtual_ones_a_cpu() -> None:
    assert task_options(DeviceConfig(ray_resource="board:nano33ble")) == {
        "num_cpus": 0, "resources": {"board:nano33ble": 1}, "max_retries": 0}
    assert task_options(DeviceConfig(ray_resource=None)) == {"num_cpus": 1, "max_retries": 0}


def test_a_farm_job_needs_an_explicit_tracking_uri() -> None:
    """The farm backend refuses the default store (it would land on the node's directory)."""
    device = DeviceConfig(backend="tinyexp.device.virtual.VirtualDevice", ray_resource=None)
    load_backend(device, BoardConfig()).check_tracking(None)  # here: the default store is fine
    farm = load_backend(replace(device, placement=PLACEMENT), BoardConfig())
    with pytest.raises(ConfigError, match="tracking.uri=None under a Ray launcher"):
        farm.check_tracking(None)
    farm.check_tracking("http://127.0.0.1:5000")
