"""Deploy stage for real boards: find the port, prepare the sketch, build and flash with arduino-cli."""

from tinyexp.deploy.arduino_cli import (
    BuildResult,
    ToolchainInfo,
    Versions,
    build_and_upload,
    check_toolchain,
    compile_sketch,
    load_versions,
    upload_sketch,
)
from tinyexp.deploy.sketch import prepare_sketch
from tinyexp.deploy.usb import find_port

__all__ = [
    "BuildResult",
    "ToolchainInfo",
    "Versions",
    "build_and_upload",
    "check_toolchain",
    "compile_sketch",
    "find_port",
    "load_versions",
    "prepare_sketch",
    "upload_sketch",
]
