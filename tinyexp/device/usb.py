"""Find a real board's serial port by its USB vendor and product ids.

The board is named in config by USB ids (board.usb_vid/usb_pid), not by a port name,
because /dev/ttyACM0 or COM5 changes with every machine and replug. When the ids match
no port, or several, the error lists what is connected so the user can choose with
``device.port=...``. Boards often re-enumerate with another product id of the same
vendor in another mode (ArduinoCore-mbed's boards.txt lists 0x005a, 0x805a, 0x015a and
0x025a for nano33ble), so a same-vendor device is pointed out in the error.
"""

from __future__ import annotations

from typing import Any, Optional

from serial.tools import list_ports

from tinyexp.core.errors import DeviceError


def _ids(p: Any) -> str:
    return f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None and p.pid is not None else "no USB ids"


def _describe(ports: list[Any]) -> str:
    return ", ".join(f"{p.device} ({_ids(p)}, {p.description})" for p in ports)


def find_port(vid: int, pid: int, port: Optional[str] = None) -> str:
    """The one serial port with these USB ids, or the explicit port if one is given."""
    if port:
        return port
    ports = list(list_ports.comports())
    matches = [p for p in ports if p.vid == vid and p.pid == pid]
    if len(matches) == 1:
        return matches[0].device
    want = f"{vid:04x}:{pid:04x}"
    if matches:
        raise DeviceError(f"{len(matches)} serial ports have USB ids {want}: {_describe(matches)}; "
                          "choose one with device.port=...")
    connected = _describe(ports) if ports else "no serial ports at all"
    hint = ""
    if any(p.vid == vid for p in ports):
        hint = ("; a device of the same vendor is connected with another product id: the board "
                "may be in another mode (for example its bootloader); press reset once, or set "
                "device.port=... to use that port")
    raise DeviceError(f"no serial port with USB ids {want} (check the cable and that the board "
                      f"is powered); connected: {connected}{hint}")
