"""Build and flash the firmware with arduino-cli, and read what it reports as JSON.

arduino-cli is driven only through argument lists (never a shell string), always with
``--format json``, and every call has a timeout, so a wedged toolchain or board cannot
hang a sweep. Its JSON differs between releases; the parsers accept both shapes:

* ``compile``: ``{"compiler_out", "compiler_err", "builder_result", "success"}`` since
  0.14, plus ``"error"`` and ``"upload_result"`` since 0.35. ``builder_result`` holds
  ``build_path``, ``used_libraries``, ``executable_sections_size`` (``name``/``size``/
  ``max_size`` for ``text`` and ``data``) and ``board_platform``/``build_platform`` in both.
  Up to 0.35 it is the gRPC message itself (library ``location`` is an enum number);
  from 1.0 a mirror of it (``location`` is a word).
* ``core list``: a bare list of ``{"id", "installed", "boards"}`` up to 0.35; from 1.0
  ``{"platforms": [{"id", "installed_version", "releases": {...}}]}``.
* ``lib list``: a bare list of ``{"library", "release"}`` up to 0.35; from 1.0 the same
  items under ``"installed_libraries"``.
* A fatal error is ``{"error": ...}`` on stderr from 1.0, plain text on stderr before.

Sources: arduino/arduino-cli internal/cli/compile/compile.go (compileResult),
internal/cli/feedback/result/rpc.go (BuilderResult), docs/UPGRADING.md (1.0.0: "CLI
changed JSON output for some lib, core ... commands"), PR #1608 and issue #1698.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from tinyexp.core.errors import DeviceError, TinyexpError, first_line

INSTALL_URL = "https://arduino.github.io/arduino-cli/latest/installation/"
QUERY_TIMEOUT_S = 60.0
COMPILE_TIMEOUT_S = 900.0  # a first TFLM build of the mbed core takes minutes
UPLOAD_TIMEOUT_S = 180.0
ERROR_LINES = 5

# arduino-cli checks online for a newer release on `version`; a lab machine without
# internet would wait for that, so turn it off (config key updater.enable_notification).
_CLI_ENV = {"ARDUINO_UPDATER_ENABLE_NOTIFICATION": "false"}

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Versions:
    """The toolchain the firmware is pinned to (firmware/versions.json)."""

    core: str
    core_version: str
    library: Optional[str] = None
    library_version: Optional[str] = None


@dataclass(frozen=True)
class ToolchainInfo:
    """What builds the firmware, recorded as provenance on every serial run."""

    cli_path: Path
    cli_version: str
    core: str
    core_version: str
    library: Optional[str] = None
    library_version: Optional[str] = None

    def tags(self) -> dict[str, str]:
        """Flat string tags for the tracking sink."""
        tags = {
            "arduino_cli_version": self.cli_version,
            "arduino_core": f"{self.core}@{self.core_version}",
        }
        if self.library:
            tags["arduino_library"] = f"{self.library}@{self.library_version}"
        return tags


@dataclass(frozen=True)
class BuildResult:
    """What one compile produced: sizes against the board's limits, and what built it."""

    flash_bytes: int
    flash_max_bytes: int
    ram_bytes: Optional[int]
    ram_max_bytes: Optional[int]
    used_libraries: list[tuple[str, str]]
    platform: tuple[str, str]
    compiler_out: str
    build_path: Path
    success: bool
    upload_port: Optional[str] = None  # set by build_and_upload


def load_versions(path: PathLike) -> Versions:
    """Read the pinned core and library from firmware/versions.json."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Versions(core=str(data["core"]), core_version=str(data["core_version"]),
                        library=data.get("library"), library_version=data.get("library_version"))
    except FileNotFoundError:
        raise TinyexpError(f"{path} not found: the firmware's pinned toolchain versions are missing") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise TinyexpError(f"{path} is not valid: needs 'core' and 'core_version' ({exc})") from None


def find_cli(cli: Optional[PathLike] = None) -> Path:
    """The arduino-cli executable: an explicit path or name, else the one on PATH."""
    name = os.fspath(cli) if cli is not None else "arduino-cli"
    found = shutil.which(name)
    if found is None:
        where = f"at {name!r}" if cli is not None else "on PATH"
        raise TinyexpError(f"arduino-cli was not found {where}: install it ({INSTALL_URL}) "
                           "or pass the executable's path")
    return Path(found)


# The build property a sketch's own defines go in. `compile --build-property NAME=VALUE` sets
# NAME's whole value (arduino-cli compile's help: "Override a build property with a custom
# value"), so the property must be one the platform leaves to the user: by the Arduino convention
# (arduino/arduino-cli issue #846) platform.txt defines compiler.<pattern>.extra_flags empty
# ("These can be overridden in platform.local.txt") and puts compiler.cpp.extra_flags in
# recipe.cpp.o.pattern, which compiles the sketch's .ino.cpp: so do ArduinoCore-mbed's and
# stm32duino's platform.txt. build.extra_flags is not free: boards.txt sets it (stm32duino's
# boards put their USB and serial defines there), and overriding it would drop them.
CPP_EXTRA_FLAGS = "compiler.cpp.extra_flags"
_MACRO = re.compile(r"[A-Z_][A-Z0-9_]*")


def cpp_defines_property(defines: Mapping[str, int]) -> str:
    """``compiler.cpp.extra_flags=-DNAME=VALUE ...``: every define in the one value, since each
    --build-property overrides a property's whole value. Integer values and macro names only, so
    no flag holds a space or a quote for the recipe's expansion to split."""
    flags = []
    for name, value in defines.items():
        if not _MACRO.fullmatch(name) or isinstance(value, bool) or not isinstance(value, int):
            raise TinyexpError(f"the sketch define {name}={value!r} is invalid: an upper-case macro name "
                               "and an integer value")
        flags.append(f"-D{name}={value}")
    return f"{CPP_EXTRA_FLAGS}={' '.join(flags)}"


# -- commands (pure: the exact argument lists) --------------------------------------------

def version_command(cli: PathLike) -> list[str]:
    return [os.fspath(cli), "version", "--format", "json"]


def core_list_command(cli: PathLike) -> list[str]:
    return [os.fspath(cli), "core", "list", "--format", "json"]


def lib_list_command(cli: PathLike) -> list[str]:
    return [os.fspath(cli), "lib", "list", "--format", "json"]


def compile_command(cli: PathLike, fqbn: str, sketch_dir: PathLike, build_dir: PathLike,
                    build_properties: Sequence[str] = ()) -> list[str]:
    """``compile`` into a build directory we own, so upload can take the binary from it."""
    argv = [os.fspath(cli), "compile", "--fqbn", fqbn, "--format", "json",
            "--build-path", os.fspath(build_dir)]
    for prop in build_properties:
        argv += ["--build-property", prop]
    return argv + [os.fspath(sketch_dir)]


def upload_command(cli: PathLike, fqbn: str, port: str, build_dir: PathLike,
                   sketch_dir: PathLike) -> list[str]:
    """``upload`` the binary compile left in build_dir (``--input-dir``), without rebuilding."""
    return [os.fspath(cli), "upload", "--fqbn", fqbn, "--port", port, "--format", "json",
            "--input-dir", os.fspath(build_dir), os.fspath(sketch_dir)]


# -- running ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Output:
    returncode: int
    data: Any  # the JSON document on stdout, or None
    stderr: str

    def error(self) -> str:
        """arduino-cli's own error text: JSON "error" (1.x, on stderr) or plain stderr."""
        try:
            doc = json.loads(self.stderr)
        except ValueError:
            doc = None
        for source in (doc, self.data):
            if isinstance(source, dict) and source.get("error"):
                return str(source["error"]).strip()
        return self.stderr.strip()


def _verb(argv: list[str]) -> str:
    """The subcommand words of an argv ("core list", "compile"), for messages."""
    words = []
    for arg in argv[1:]:
        if arg.startswith("-"):
            break
        words.append(arg)
    return " ".join(words)


def _run(argv: list[str], timeout_s: float) -> _Output:
    """Run arduino-cli and decode its JSON; failures become TinyexpError, never a hang."""
    what = _verb(argv)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s,
                              env={**os.environ, **_CLI_ENV}, check=False)
    except subprocess.TimeoutExpired:
        raise TinyexpError(f"arduino-cli {what} did not finish within {timeout_s:g} s") from None
    except OSError as exc:
        raise TinyexpError(f"could not run {argv[0]}: {exc}") from None
    try:
        data = json.loads(proc.stdout) if proc.stdout.strip() else None
    except ValueError:
        data = None
    return _Output(proc.returncode, data, proc.stderr)


def _query(argv: list[str], timeout_s: float) -> Any:
    """A read-only query: it must succeed and print JSON."""
    out = _run(argv, timeout_s)
    if out.returncode != 0 or out.data is None:
        detail = out.error() or f"exit status {out.returncode}, no JSON output"
        raise TinyexpError(f"arduino-cli {_verb(argv)} failed: {first_line(detail)}")
    return out.data


# -- parsing ------------------------------------------------------------------------------

def parse_version(data: Any) -> str:
    """The release from ``version --format json`` (same shape in 0.x and 1.x)."""
    try:
        return str(data["VersionString"])
    except (KeyError, TypeError):
        raise TinyexpError("arduino-cli version printed no VersionString") from None


def parse_core_list(data: Any) -> dict[str, tuple[str, list[str]]]:
    """Installed platforms: id -> (installed version, FQBNs of its boards, if listed)."""
    items = (data.get("platforms") or []) if isinstance(data, dict) else (data or [])
    cores: dict[str, tuple[str, list[str]]] = {}
    for p in items:
        version = p.get("installed_version") or p.get("installed") or ""
        boards = p.get("boards") or (p.get("releases") or {}).get(version, {}).get("boards") or []
        cores[p["id"]] = (version, [b["fqbn"] for b in boards if b.get("fqbn")])
    return cores


def parse_lib_list(data: Any) -> dict[str, str]:
    """Installed libraries: name -> version."""
    items = (data.get("installed_libraries") or []) if isinstance(data, dict) else (data or [])
    return {i["library"]["name"]: i["library"].get("version", "") for i in items}


def _sections(builder: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {s.get("name", ""): (int(s.get("size", 0)), int(s.get("max_size", 0)))
            for s in builder.get("executable_sections_size") or []}


def _compile_error(data: dict[str, Any], stderr: str, fqbn: str) -> TinyexpError:
    """The message for a failed compile: too big for the board, or the compiler's errors."""
    builder = data.get("builder_result") or {}
    for name, what in (("text", "flash"), ("data", "RAM")):
        size, max_size = _sections(builder).get(name, (0, 0))
        if max_size and size > max_size:
            return TinyexpError(f"the firmware does not fit {fqbn}: {what} {size} bytes of "
                                f"{max_size} available; use a smaller model or int8 quantisation")
    log = data.get("compiler_err") or ""
    errors = [ln.strip() for ln in log.splitlines() if re.search(r":\s*(fatal )?error:", ln)]
    detail = errors[:ERROR_LINES] or [ln for ln in log.splitlines() if ln.strip()][-ERROR_LINES:]
    summary = data.get("error") or first_line(stderr) or "compile failed"
    return TinyexpError(f"arduino-cli compile failed for {fqbn}: {summary.strip()}"
                        + ("; " + " | ".join(detail) if detail else ""))


def parse_compile(data: Any, build_dir: PathLike, fqbn: str, stderr: str = "") -> BuildResult:
    """A BuildResult from ``compile --format json``; a failed build raises TinyexpError."""
    if not isinstance(data, dict) or "success" not in data:
        raise TinyexpError(f"arduino-cli compile for {fqbn} printed no result: "
                           f"{first_line(stderr) or 'no JSON output'}")
    if not data["success"]:
        raise _compile_error(data, stderr, fqbn)
    builder = data.get("builder_result") or {}
    sections = _sections(builder)
    if "text" not in sections:
        raise TinyexpError(f"arduino-cli compile for {fqbn} reported no program size")
    ram = sections.get("data")
    platform = builder.get("board_platform") or {}
    return BuildResult(
        flash_bytes=sections["text"][0],
        flash_max_bytes=sections["text"][1],
        ram_bytes=ram[0] if ram else None,
        ram_max_bytes=ram[1] if ram else None,
        used_libraries=[(lib.get("name", ""), lib.get("version", ""))
                        for lib in builder.get("used_libraries") or []],
        platform=(platform.get("id", ""), platform.get("version", "")),
        compiler_out=data.get("compiler_out", ""),
        build_path=Path(builder.get("build_path") or build_dir),
        success=True,
    )


def parse_upload_port(data: Any) -> Optional[str]:
    """The port the board re-appeared on after upload, if arduino-cli saw it move."""
    if isinstance(data, dict):
        return (data.get("updated_upload_port") or {}).get("address")
    return None


# -- the stages ---------------------------------------------------------------------------

def _platform_of(fqbn: str) -> str:
    parts = fqbn.split(":")
    if len(parts) < 3 or not all(parts[:3]):
        raise TinyexpError(f"board.fqbn={fqbn!r} is invalid: expected vendor:architecture:board")
    return ":".join(parts[:2])


def check_toolchain(fqbn: str, versions: Union[Versions, PathLike], cli: Optional[PathLike] = None,
                    timeout_s: float = QUERY_TIMEOUT_S) -> ToolchainInfo:
    """Check arduino-cli, the pinned core and library, and the board, before any build.

    Each missing piece is reported with the exact command that installs it, so a user
    fixes the machine once instead of reading a compiler log.
    """
    pins = versions if isinstance(versions, Versions) else load_versions(versions)
    exe = find_cli(cli)
    cli_version = parse_version(_query(version_command(exe), timeout_s))

    core = _platform_of(fqbn)
    if pins.core != core:
        raise TinyexpError(f"board.fqbn={fqbn!r} needs core {core}, but the firmware is pinned "
                           f"to {pins.core}")
    install_core = f"`arduino-cli core install {core}@{pins.core_version}`"
    installed = parse_core_list(_query(core_list_command(exe), timeout_s))
    if core not in installed:
        raise TinyexpError(f"Arduino core {core} is not installed: run {install_core}")
    core_version, boards = installed[core]
    if core_version != pins.core_version:
        raise TinyexpError(f"Arduino core {core} is at {core_version}, the firmware is pinned to "
                           f"{pins.core_version}: run {install_core}")
    board = ":".join(fqbn.split(":")[:3])
    if boards and board not in boards:
        raise TinyexpError(f"board {board} is not in core {core}@{core_version}; "
                           f"`arduino-cli board listall` lists the boards it has")

    if pins.library:
        install_lib = f"`arduino-cli lib install \"{pins.library}@{pins.library_version}\"`"
        libs = parse_lib_list(_query(lib_list_command(exe), timeout_s))
        if pins.library not in libs:
            raise TinyexpError(f"Arduino library {pins.library} is not installed: run {install_lib}")
        if pins.library_version and libs[pins.library] != pins.library_version:
            raise TinyexpError(f"Arduino library {pins.library} is at {libs[pins.library]}, the "
                               f"firmware is pinned to {pins.library_version}: run {install_lib}")
    return ToolchainInfo(exe, cli_version, core, core_version, pins.library, pins.library_version)


def compile_sketch(sketch_dir: PathLike, fqbn: str, build_dir: PathLike, cli: Optional[PathLike] = None,
                   build_properties: Sequence[str] = (),
                   timeout_s: float = COMPILE_TIMEOUT_S) -> BuildResult:
    """Compile the sketch into build_dir and report its flash and RAM use."""
    Path(build_dir).mkdir(parents=True, exist_ok=True)
    argv = compile_command(find_cli(cli), fqbn, sketch_dir, build_dir, build_properties)
    out = _run(argv, timeout_s)
    return parse_compile(out.data, build_dir, fqbn, out.error())


def upload_sketch(sketch_dir: PathLike, fqbn: str, port: str, build_dir: PathLike,
                  cli: Optional[PathLike] = None, timeout_s: float = UPLOAD_TIMEOUT_S) -> str:
    """Flash the binary in build_dir; returns the port the board is on afterwards."""
    out = _run(upload_command(find_cli(cli), fqbn, port, build_dir, sketch_dir), timeout_s)
    if out.returncode != 0:
        raise DeviceError(f"arduino-cli upload to {port} failed: "
                          f"{first_line(out.error()) or f'exit status {out.returncode}'}; "
                          "check the port, close any serial monitor, or double-tap the "
                          "board's reset button and retry")
    return parse_upload_port(out.data) or port


def build_and_upload(sketch_dir: PathLike, fqbn: str, port: str, build_dir: PathLike,
                     cli: Optional[PathLike] = None, timeout_s: float = COMPILE_TIMEOUT_S,
                     build_properties: Sequence[str] = ()) -> BuildResult:
    """Compile, then flash; the result carries the sizes and the port to measure on.

    timeout_s bounds each arduino-cli call; the upload is never given more than
    UPLOAD_TIMEOUT_S, since a flash that takes longer means the board is not answering.
    """
    result = compile_sketch(sketch_dir, fqbn, build_dir, cli, build_properties, timeout_s)
    new_port = upload_sketch(sketch_dir, fqbn, port, build_dir, cli, min(timeout_s, UPLOAD_TIMEOUT_S))
    return replace(result, upload_port=new_port)
