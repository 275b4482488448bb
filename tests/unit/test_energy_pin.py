"""The serial board's build drives the energy-meter pin (issue 20): `device.energy_pin` becomes the
sketch's TXP_ENERGY_PIN through arduino-cli's user build property, a meter without it is refused
before any work, and a build with the pin is never reused by a job without it.

The build runs the stand-in `arduino-cli` of test_deploy.py (recorded outputs, argv logged), so
what is asserted is the exact argument list a real arduino-cli would be given.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import compose_config
from tests.unit.test_deploy import FQBN, calls, fake_cli  # noqa: F401 - fake_cli is a fixture
from tinyexp.core.boards import load_board
from tinyexp.core.config import DeviceConfig
from tinyexp.core.errors import ConfigError, TinyexpError
from tinyexp.core.validation import validate
from tinyexp.device import arduino_cli as ac
from tinyexp.device.base import DeployRequest
from tinyexp.device.serial import SerialDevice, sketch_build_properties
from tinyexp.tflm.c_array import to_c_array
from tinyexp.tracking import sweep

PORT = "/dev/ttyACM0"


def _deploy(exe: Path, monkeypatch: pytest.MonkeyPatch, device: DeviceConfig, workdir: Path) -> list[str]:
    """Deploy one job's model with the serial backend through the stand-in arduino-cli ``exe``;
    the argv its compile was given."""
    monkeypatch.setattr(SerialDevice, "_port", lambda self: PORT)
    workdir.mkdir()
    request = DeployRequest(model=b"\x1c\x00", c_array=to_c_array(b"\x1c\x00", "test model"), arena_bytes=2048,
                            latency_estimate_us=None, workdir=workdir)
    with SerialDevice(device, load_board("nano33ble")).deploy(request) as deployment:
        assert deployment.port == "/dev/ttyACM1"  # the recorded upload's new port
    return [argv for argv in calls(exe) if argv[0] == "compile"][-1]


def _compile_argv(workdir: Path, *properties: str) -> list[str]:
    props = [arg for prop in properties for arg in ("--build-property", prop)]
    return ["compile", "--fqbn", FQBN, "--format", "json", "--build-path", str(workdir / "build"), *props,
            str(workdir / "sketch" / "tinyexp_firmware")]


def test_the_pin_is_compiled_in_through_the_user_build_property(fake_cli, tmp_path, monkeypatch) -> None:  # noqa: F811
    argv = _deploy(fake_cli, monkeypatch, DeviceConfig(kind="serial", energy_pin=2), tmp_path / "with_pin")
    assert argv == _compile_argv((tmp_path / "with_pin").resolve(), "compiler.cpp.extra_flags=-DTXP_ENERGY_PIN=2")


def test_without_a_pin_no_build_property_is_passed(fake_cli, tmp_path, monkeypatch) -> None:  # noqa: F811
    argv = _deploy(fake_cli, monkeypatch, DeviceConfig(kind="serial"), tmp_path / "no_pin")
    assert argv == _compile_argv((tmp_path / "no_pin").resolve())
    assert not any("TXP_ENERGY_PIN" in arg for arg in argv)


def test_a_build_with_the_pin_is_not_reused_without_it(fake_cli, tmp_path, monkeypatch) -> None:  # noqa: F811
    """No build is shared between jobs: each compiles into its own folder, so the folder a job
    with the pin built in is not the one a job without it flashes from."""
    with_pin = _deploy(fake_cli, monkeypatch, DeviceConfig(kind="serial", energy_pin=2), tmp_path / "job1")
    without = _deploy(fake_cli, monkeypatch, DeviceConfig(kind="serial"), tmp_path / "job2")
    path = with_pin.index("--build-path") + 1
    assert with_pin[path] != without[path]
    uploads = [argv for argv in calls(fake_cli) if argv[0] == "upload"]
    assert [u[u.index("--input-dir") + 1] for u in uploads] == [with_pin[path], without[path]]


def test_the_define_property_holds_only_macro_names_and_integers() -> None:
    assert ac.cpp_defines_property({"TXP_ENERGY_PIN": 13, "TXP_X": 0}) == \
        "compiler.cpp.extra_flags=-DTXP_ENERGY_PIN=13 -DTXP_X=0"
    for bad in ({"TXP PIN": 2}, {"txp_pin": 2}, {"TXP_ENERGY_PIN": "2 -DX=1"}, {"TXP_ENERGY_PIN": True}):
        with pytest.raises(TinyexpError, match="sketch define"):
            ac.cpp_defines_property(bad)
    assert sketch_build_properties(DeviceConfig(energy_pin=None)) == []


def test_a_meter_without_the_pin_is_refused_in_one_line() -> None:
    cfg = compose_config(["device=serial", "device.power_monitor=ppk2"])
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("device.power_monitor=ppk2 needs device.energy_pin")
    assert "device.power_trigger_channel=0" in message
    validate(compose_config(["device=serial", "device.power_monitor=ppk2", "device.energy_pin=2"]))


def test_a_pin_without_a_meter_is_accepted() -> None:
    validate(compose_config(["device=serial", "device.energy_pin=2"]))
    validate(compose_config(["device.energy_pin=2"]))  # the virtual board: nothing to build it into


@pytest.mark.parametrize("value", ["-1", "256", "2.5", "true", "D2"])
def test_a_pin_outside_the_8_bit_pin_numbers_is_refused(value: str) -> None:
    from tinyexp.cli.main import preflight

    with pytest.raises(ConfigError, match="device.energy_pin"):
        preflight([f"device.energy_pin={value}"], False)


def test_the_command_refuses_a_meter_without_the_pin_before_any_work(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "tinyexp", "device=serial", "device.power_monitor=ppk2"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, TINYEXP_CACHE_DIR=str(tmp_path / "c")))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("tinyexp: error: device.power_monitor=ppk2 needs device.energy_pin")
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "c").exists()


def test_the_pin_leaves_the_jobs_hash_alone() -> None:
    """Wiring, like the meter's input: the study's sweeps resume with the hashes they were written
    with, and the pin toggles outside the timed interval (txp_dispatch.cpp), so it changes no figure."""
    base = sweep.config_hash(compose_config(["device=serial"]))
    assert sweep.config_hash(compose_config(["device=serial", "device.energy_pin=2"])) == base
    assert sweep.is_unhashed_param("device.energy_pin")
