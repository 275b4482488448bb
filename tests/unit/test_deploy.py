"""Deploy stage against recorded arduino-cli outputs (tests/data/arduino_cli/, see README).

No board and no arduino-cli here: parsers are fed the recorded JSON, and the subprocess
path runs a stand-in `arduino-cli` script placed first on PATH that prints those files.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
from serial.tools.list_ports_common import ListPortInfo

from tinyexp.device.arduino_cli import Versions, build_and_upload, check_toolchain, load_versions
from tinyexp.device.sketch import prepare_sketch
from tinyexp.device.usb import find_port
from tinyexp.device import arduino_cli as ac
from tinyexp.device import usb
from tinyexp.core.errors import DeviceError, TinyexpError
from tests.helpers import DATA_DIR

DATA = DATA_DIR / "arduino_cli"
FQBN = "arduino:mbed_nano:nano33ble"
PINS_1X = Versions("arduino:mbed_nano", "4.1.5", "Harvard_TinyMLx", "1.2.3-Alpha")


def load(name: str):
    return json.loads((DATA / name).read_text())


# -- command construction -----------------------------------------------------------------

def test_compile_command_is_an_exact_argument_list():
    argv = ac.compile_command("/opt/arduino-cli", FQBN, "/b/tinyexp_firmware", "/b/build",
                              ["build.extra_flags=-DTINYEXP_ARENA=40000", "compiler.optimization_flags=-O2"])
    assert argv == ["/opt/arduino-cli", "compile", "--fqbn", FQBN, "--format", "json",
                    "--build-path", "/b/build",
                    "--build-property", "build.extra_flags=-DTINYEXP_ARENA=40000",
                    "--build-property", "compiler.optimization_flags=-O2",
                    "/b/tinyexp_firmware"]


def test_upload_and_query_commands():
    assert ac.upload_command(Path("/opt/arduino-cli"), FQBN, "/dev/ttyACM0", Path("/b/build"),
                             Path("/b/tinyexp_firmware")) == [
        "/opt/arduino-cli", "upload", "--fqbn", FQBN, "--port", "/dev/ttyACM0", "--format", "json",
        "--input-dir", "/b/build", "/b/tinyexp_firmware"]
    assert ac.version_command("arduino-cli") == ["arduino-cli", "version", "--format", "json"]
    assert ac.core_list_command("arduino-cli") == ["arduino-cli", "core", "list", "--format", "json"]
    assert ac.lib_list_command("arduino-cli") == ["arduino-cli", "lib", "list", "--format", "json"]


# -- parsing both shapes ------------------------------------------------------------------

@pytest.mark.parametrize("shape,core_version", [("1x", "4.1.5"), ("0x", "4.0.10")])
def test_parse_compile_ok(shape, core_version):
    r = ac.parse_compile(load(f"compile_ok_{shape}.json"), "/unused", FQBN)
    assert r.success
    assert (r.flash_bytes, r.flash_max_bytes) == (183776, 983040)
    assert (r.ram_bytes, r.ram_max_bytes) == (66344, 262144)
    assert r.used_libraries == [("Harvard_TinyMLx", "1.2.3-Alpha")]
    assert r.platform == ("arduino:mbed_nano", core_version)
    assert r.build_path == Path("/tmp/tinyexp-build/nano33ble")
    assert r.compiler_out.startswith("Sketch uses 183776 bytes")
    assert r.upload_port is None


def test_parse_compile_without_data_section_or_build_path():
    data = load("compile_ok_1x.json")
    data["builder_result"]["executable_sections_size"].pop()  # boards with no RAM limit
    del data["builder_result"]["build_path"]
    r = ac.parse_compile(data, "/mine", FQBN)
    assert (r.ram_bytes, r.ram_max_bytes) == (None, None)
    assert r.build_path == Path("/mine")


def test_parse_compile_failed_1x_shows_the_compiler_errors():
    with pytest.raises(TinyexpError) as e:
        ac.parse_compile(load("compile_failed_1x.json"), "/b", FQBN)
    msg = str(e.value)
    assert "Error during build: exit status 1" in msg
    assert "model_data.cc:12:1: error: expected ';'" in msg
    assert "'g_model_len' was not declared" in msg
    assert "\n" not in msg


def test_parse_compile_failed_0x_takes_the_summary_from_stderr():
    with pytest.raises(TinyexpError, match=r"Error during build: exit status 1.*g_model_len"):
        ac.parse_compile(load("compile_failed_0x.json"), "/b", FQBN,
                         stderr="Error during build: exit status 1\n")


def test_parse_compile_too_big_names_flash_and_limit():
    with pytest.raises(TinyexpError, match=r"flash 1052312 bytes of 983040"):
        ac.parse_compile(load("compile_too_big_1x.json"), "/b", FQBN)


def test_parse_compile_without_json():
    with pytest.raises(TinyexpError, match="Invalid FQBN"):
        ac.parse_compile(None, "/b", FQBN, stderr="Invalid FQBN: not an FQBN: nano\n")


@pytest.mark.parametrize("shape,version", [("1x", "4.1.5"), ("0x", "4.0.10")])
def test_parse_core_and_lib_list(shape, version):
    cores = ac.parse_core_list(load(f"core_list_{shape}.json"))
    assert cores["arduino:mbed_nano"][0] == version
    assert FQBN in cores["arduino:mbed_nano"][1]
    assert ac.parse_lib_list(load(f"lib_list_{shape}.json")) == {"Harvard_TinyMLx": "1.2.3-Alpha"}


def test_empty_lists_and_version():
    assert ac.parse_core_list({"platforms": []}) == {} == ac.parse_core_list([])
    assert ac.parse_lib_list({}) == {} == ac.parse_lib_list([])
    assert ac.parse_version(load("version_1x.json")) == "1.1.1"
    assert ac.parse_version(load("version_0x.json")) == "0.35.3"
    assert ac.parse_upload_port(load("upload_ok_1x.json")) == "/dev/ttyACM1"
    assert ac.parse_upload_port(None) is None


def test_load_versions(tmp_path):
    p = tmp_path / "versions.json"
    p.write_text(json.dumps({"core": "arduino:mbed_nano", "core_version": "4.1.5",
                             "library": "Harvard_TinyMLx", "library_version": "1.2.3-Alpha",
                             "fqbn": FQBN}))
    assert load_versions(p) == PINS_1X
    with pytest.raises(TinyexpError, match="not found"):
        load_versions(tmp_path / "missing.json")
    p.write_text("{}")
    with pytest.raises(TinyexpError, match="core_version"):
        load_versions(p)


# -- a stand-in arduino-cli on PATH -------------------------------------------------------

FAKE_CLI = r'''#!{python}
"""Stand-in for arduino-cli: prints a recorded output, logs its argv."""
import json, os, sys
from pathlib import Path
data = Path({data!r})
log = Path(__file__).with_name("calls.jsonl")
with log.open("a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\n")
verb = " ".join(a for a in sys.argv[1:3])
shape = os.environ.get("FAKE_SHAPE", "1x")
files = {{"version --format": "version", "core list": "core_list", "lib list": "lib_list",
         "compile --fqbn": os.environ.get("FAKE_COMPILE", "compile_ok"), "upload --fqbn": "upload_ok"}}
if verb == "upload --fqbn" and os.environ.get("FAKE_UPLOAD_FAIL"):
    sys.stderr.write((data / "upload_failed_1x.stderr.json").read_text())
    sys.exit(1)
name = files[verb] + "_" + (shape if files[verb] != "upload_ok" else "1x") + ".json"
doc = json.loads((data / name).read_text())
sys.stdout.write(json.dumps(doc, indent=2))
sys.exit(1 if isinstance(doc, dict) and doc.get("success") is False else 0)
'''


@pytest.fixture
def fake_cli(tmp_path, monkeypatch):
    """A bin/ directory first on PATH holding an executable `arduino-cli` script."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "arduino-cli"
    exe.write_text(FAKE_CLI.format(python=sys.executable, data=str(DATA)))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", str(bin_dir) + os.pathsep + os.environ.get("PATH", ""))
    return exe


def calls(exe: Path) -> list[list[str]]:
    return [json.loads(line) for line in (exe.parent / "calls.jsonl").read_text().splitlines()]


def test_missing_arduino_cli_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TinyexpError, match=r"arduino-cli was not found on PATH: install it"):
        check_toolchain(FQBN, PINS_1X)
    with pytest.raises(TinyexpError, match=r"not found at '/nowhere/arduino-cli'"):
        ac.find_cli("/nowhere/arduino-cli")


@pytest.mark.parametrize("shape,pins", [
    ("1x", PINS_1X),
    ("0x", Versions("arduino:mbed_nano", "4.0.10", "Harvard_TinyMLx", "1.2.3-Alpha")),
])
def test_check_toolchain_end_to_end(fake_cli, monkeypatch, shape, pins):
    monkeypatch.setenv("FAKE_SHAPE", shape)
    info = check_toolchain(FQBN, pins)
    assert info.cli_path == fake_cli
    assert info.core_version == pins.core_version
    assert info.tags() == {"arduino_cli_version": "1.1.1" if shape == "1x" else "0.35.3",
                           "arduino_core": f"arduino:mbed_nano@{pins.core_version}",
                           "arduino_library": "Harvard_TinyMLx@1.2.3-Alpha"}
    assert [c[:2] for c in calls(fake_cli)] == [["version", "--format"], ["core", "list"], ["lib", "list"]]


@pytest.mark.parametrize("pins,fqbn,message", [
    (Versions("arduino:mbed_nano", "4.2.0"), FQBN,
     r"at 4.1.5, the firmware is pinned to 4.2.0: run `arduino-cli core install arduino:mbed_nano@4.2.0`"),
    (Versions("arduino:avr", "1.8.6"), "arduino:avr:uno",
     r"core arduino:avr is not installed: run `arduino-cli core install arduino:avr@1.8.6`"),
    (Versions("arduino:mbed_nano", "4.1.5", "Chirale_TensorFLowLite", "2.0.0"), FQBN,
     r"Chirale_TensorFLowLite is not installed: run `arduino-cli lib install \"Chirale_TensorFLowLite@2.0.0\"`"),
    (Versions("arduino:mbed_nano", "4.1.5", "Harvard_TinyMLx", "1.2.4-Alpha"), FQBN,
     r"at 1.2.3-Alpha, the firmware is pinned to 1.2.4-Alpha"),
    (Versions("arduino:mbed_nano", "4.1.5"), "arduino:mbed_nano:nano33iot",
     r"board arduino:mbed_nano:nano33iot is not in core arduino:mbed_nano@4.1.5"),
    (Versions("arduino:mbed_nano", "4.1.5"), "nano33ble", r"board.fqbn='nano33ble' is invalid"),
])
def test_check_toolchain_says_what_to_install(fake_cli, pins, fqbn, message):
    with pytest.raises(TinyexpError, match=message):
        check_toolchain(fqbn, pins)


def test_check_toolchain_reads_versions_json(fake_cli, tmp_path):
    p = tmp_path / "versions.json"
    p.write_text(json.dumps({"core": "arduino:mbed_nano", "core_version": "4.1.5", "fqbn": FQBN}))
    assert check_toolchain(FQBN, p).library is None
    assert [c[:2] for c in calls(fake_cli)] == [["version", "--format"], ["core", "list"]]


def test_build_and_upload_end_to_end(fake_cli, tmp_path):
    sketch, build = tmp_path / "tinyexp_firmware", tmp_path / "build"
    r = build_and_upload(sketch, FQBN, "/dev/ttyACM0", build)
    assert (r.flash_bytes, r.ram_bytes, r.upload_port) == (183776, 66344, "/dev/ttyACM1")
    assert build.is_dir()
    assert calls(fake_cli) == [
        ["compile", "--fqbn", FQBN, "--format", "json", "--build-path", str(build), str(sketch)],
        ["upload", "--fqbn", FQBN, "--port", "/dev/ttyACM0", "--format", "json",
         "--input-dir", str(build), str(sketch)],
    ]


def test_failed_compile_is_not_uploaded(fake_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_COMPILE", "compile_failed")
    with pytest.raises(TinyexpError, match="g_model_len"):
        build_and_upload(tmp_path / "s", FQBN, "/dev/ttyACM0", tmp_path / "b")
    assert [c[0] for c in calls(fake_cli)] == ["compile"]


def test_failed_upload_reports_the_cli_error(fake_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_UPLOAD_FAIL", "1")
    with pytest.raises(DeviceError, match=r"upload to /dev/ttyACM0 failed: Failed uploading: uploading error"):
        build_and_upload(tmp_path / "s", FQBN, "/dev/ttyACM0", tmp_path / "b", cli=fake_cli)


def test_a_hung_cli_times_out(tmp_path):
    exe = tmp_path / "arduino-cli"
    exe.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(30)\n")
    exe.chmod(0o755)
    with pytest.raises(TinyexpError, match=r"did not finish within 0.5 s"):
        ac.compile_sketch(tmp_path / "s", FQBN, tmp_path / "b", cli=exe, timeout_s=0.5)


# -- USB port detection -------------------------------------------------------------------

def port(device: str, vid=None, pid=None, description="n/a") -> ListPortInfo:
    info = ListPortInfo(device, skip_link_detection=True)
    info.vid, info.pid, info.description = vid, pid, description
    return info


NANO = dict(vid=0x2341, pid=0x805A)


@pytest.fixture
def ports(monkeypatch):
    connected: list[ListPortInfo] = []
    monkeypatch.setattr(usb.list_ports, "comports", lambda *a, **k: list(connected))
    return connected


def test_one_matching_port(ports):
    ports += [port("/dev/ttyS0"), port("/dev/ttyACM0", **NANO, description="Nano 33 BLE"),
              port("/dev/ttyUSB0", vid=0x0403, pid=0x6001)]
    assert find_port(0x2341, 0x805A) == "/dev/ttyACM0"


def test_explicit_port_wins(ports):
    assert find_port(0x2341, 0x805A, port="/dev/ttyACM7") == "/dev/ttyACM7"


def test_no_matching_port_lists_what_is_connected(ports):
    ports += [port("/dev/ttyUSB0", vid=0x0403, pid=0x6001, description="FT232R")]
    with pytest.raises(DeviceError) as e:
        find_port(0x2341, 0x805A)
    assert "no serial port with USB ids 2341:805a" in str(e.value)
    assert "/dev/ttyUSB0 (0403:6001, FT232R)" in str(e.value)
    assert "another mode" not in str(e.value)


def test_same_vendor_other_product_is_pointed_out(ports):
    ports += [port("/dev/ttyACM0", vid=0x2341, pid=0x005A)]
    with pytest.raises(DeviceError, match=r"2341:005a.*another product id"):
        find_port(0x2341, 0x805A)


def test_nothing_connected(ports):
    with pytest.raises(DeviceError, match="no serial ports at all"):
        find_port(0x2341, 0x805A)


def test_two_matching_ports_ask_for_device_port(ports):
    ports += [port("/dev/ttyACM0", **NANO), port("/dev/ttyACM1", **NANO)]
    with pytest.raises(DeviceError, match=r"2 serial ports .*/dev/ttyACM0.*/dev/ttyACM1.*device.port="):
        find_port(0x2341, 0x805A)


# -- sketch preparation -------------------------------------------------------------------

@pytest.fixture
def firmware(tmp_path) -> Path:
    src = tmp_path / "repo" / "firmware" / "tinyexp_firmware"
    src.mkdir(parents=True)
    (src / "tinyexp_firmware.ino").write_text("void setup() {}\nvoid loop() {}\n")
    (src / "protocol.cpp").write_text("// protocol\n")
    (src / "model_data.cc").write_text("// placeholder model\n")
    (src / ".DS_Store").write_text("junk")
    return src


def test_prepare_sketch_copies_and_writes_model(firmware, tmp_path):
    out = tmp_path / "run1"
    dest = prepare_sketch(firmware, {"model_data.h": "extern const unsigned char g_model[];\n",
                                     "model_data.cc": b"const unsigned char g_model[] = {0x1c};\n"}, out)
    assert dest == (out / "tinyexp_firmware").resolve()
    assert sorted(p.name for p in dest.iterdir()) == [
        "model_data.cc", "model_data.h", "protocol.cpp", "tinyexp_firmware.ino"]
    assert (dest / "model_data.cc").read_bytes() == b"const unsigned char g_model[] = {0x1c};\n"
    assert (firmware / "model_data.cc").read_text() == "// placeholder model\n"
    assert not (firmware / "model_data.h").exists()


def test_prepare_sketch_replaces_an_earlier_copy(firmware, tmp_path):
    dest = prepare_sketch(firmware, {"model_data.h": "a"}, tmp_path / "out")
    (dest / "stale.o").write_text("old")
    dest = prepare_sketch(firmware, {"model_data.h": "b"}, tmp_path / "out")
    assert not (dest / "stale.o").exists()
    assert (dest / "model_data.h").read_text() == "b"


def test_prepare_sketch_refuses_bad_input(firmware, tmp_path):
    (firmware.parent / "not_a_sketch").mkdir()
    with pytest.raises(TinyexpError, match="needs not_a_sketch.ino"):
        prepare_sketch(firmware.parent / "not_a_sketch", {}, tmp_path / "out")
    with pytest.raises(TinyexpError, match="plain file name"):
        prepare_sketch(firmware, {"../evil.h": "x"}, tmp_path / "out")
    with pytest.raises(TinyexpError, match="outside the firmware folder"):
        prepare_sketch(firmware, {"model_data.h": "x"}, firmware)
    assert not (firmware / "tinyexp_firmware").exists()
