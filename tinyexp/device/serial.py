"""A real board on a serial port: build the sketch with the model, flash it with arduino-cli.

The sketch is built from the very C array the pipeline logged, so the artifact in MLflow is
the file that was flashed. One lock file per port keeps parallel jobs off one board.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from pathlib import Path
from typing import Iterator

from filelock import FileLock

from tinyexp.core.config import DeviceConfig
from tinyexp.core.resources import firmware_dir
from tinyexp.device.arduino_cli import build_and_upload, check_toolchain, cpp_defines_property
from tinyexp.device.base import DeployRequest, Deployment, PortBackend
from tinyexp.device.sketch import prepare_sketch
from tinyexp.device.usb import find_port

LOCK_DIR = Path(tempfile.gettempdir()) / "tinyexp-port-locks"


def port_lock(port: str) -> FileLock:
    """A lock file per serial port, so parallel jobs never talk to one board at once."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", port).strip("_") or "port"
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    return FileLock(str(LOCK_DIR / f"{name}.lock"))


def sketch_build_properties(device: DeviceConfig) -> list[str]:
    """The compile's --build-property values: the energy pin (device.energy_pin) as the define the
    sketch raises during each timed invoke (TXP_ENERGY_PIN, docs/energy.md), none without it.

    Every job builds into its own folder (the request's workdir), so a build with the pin is never
    reused by a job without it, nor the reverse."""
    if device.energy_pin is None:
        return []
    return [cpp_defines_property({"TXP_ENERGY_PIN": int(device.energy_pin)})]


class SerialDevice(PortBackend):
    """device=serial: arduino-cli with the pinned core and library, the board found by USB id."""

    def _port(self) -> str:
        return find_port(self.board.usb_vid, self.board.usb_pid, self.device.port)

    def check_ready(self) -> dict[str, str]:
        """arduino-cli, the pinned core and library, and a port: checked before training."""
        toolchain = check_toolchain(self.board.fqbn, firmware_dir() / "versions.json",
                                    cli=self.device.arduino_cli)
        return {**toolchain.tags(), "device.port": self._port()}

    @contextlib.contextmanager
    def deploy(self, request: DeployRequest) -> Iterator[Deployment]:
        port = self._port()
        model_files = {**request.c_array.files(), **request.sketch_files}
        sketch = prepare_sketch(firmware_dir() / "tinyexp_firmware", model_files,
                                request.workdir / "sketch")
        with port_lock(port):
            build = build_and_upload(sketch, self.board.fqbn, port, request.workdir / "build",
                                     cli=self.device.arduino_cli,
                                     build_properties=sketch_build_properties(self.device))
            yield Deployment(build.upload_port or port, build.flash_bytes, build.ram_bytes)
