"""Serve a local serial port over TCP with RFC 2217, so a board on another host can be measured.

The board host runs

    python -m agent.rfc2217_server --serial /dev/ttyACM0 [--tcp-port 7000]

which prints the URL to give as ``device.port`` (``rfc2217://127.0.0.1:7000``) as its first
line of stdout, then bridges bytes both ways until stdin closes or it gets SIGTERM. The
Telnet/RFC 2217 negotiation (baud rate, control lines) is pyserial's own
``serial.rfc2217.PortManager``; this module only owns the sockets and the threads.

RFC 2217 has no authentication, so the server binds 127.0.0.1 unless ``--host`` says
otherwise; to reach it from another machine, forward the port over SSH
(``ssh -L 7000:127.0.0.1:7000 boardhost``) rather than binding a public address.
One client at a time: a board answers one conversation, so a second connection while one is
served is told so in a line and closed. The clients are untrusted: a client that drops at once,
sends malformed Telnet/RFC 2217 bytes (which pyserial's parser meets with TypeError, KeyError or
struct.error) or an endless subnegotiation loses its own connection, is named in one line on
stderr, and the port's settings it changed are put back; the service goes on.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import select
import signal
import socket
import sys
import threading
from typing import Any, Callable, Sequence

import serial
import serial.rfc2217

_CHUNK_BYTES = 4096
_POLL_S = 0.2
_BACKLOG = 16  # connections the kernel queues while the loop refuses or hands over: a burst is not dropped
_MAX_SUBOPTION_BYTES = 1024  # RFC 2217 subnegotiations are a few bytes; a longer one is an attack
BUSY_MESSAGE = b"rfc2217 server: busy: another client is using this board; try again when it disconnects\r\n"


class ClientFault(Exception):
    """A client sent what the server will not process; its connection is closed."""


def _without_lines(read: Callable[[], Any]) -> Any:
    """``read()``, or False where the port has no modem lines (ENOTTY/EINVAL from the ioctl)."""
    try:
        return read()
    except OSError as exc:
        if exc.errno in (errno.ENOTTY, errno.EINVAL):
            return False
        raise


class LocalPort(serial.Serial):
    """A local serial port whose modem lines may be missing, as on a pseudo-terminal (the
    virtual board): setting them does nothing and reading them gives "not asserted", so the
    client's RFC 2217 control requests are answered instead of failing the connection."""

    def _update_dtr_state(self) -> None:
        _without_lines(super()._update_dtr_state)

    def _update_rts_state(self) -> None:
        _without_lines(super()._update_rts_state)

    def _update_break_state(self) -> None:
        _without_lines(super()._update_break_state)

    cts = property(lambda self: _without_lines(lambda: serial.Serial.cts.fget(self)))
    dsr = property(lambda self: _without_lines(lambda: serial.Serial.dsr.fget(self)))
    ri = property(lambda self: _without_lines(lambda: serial.Serial.ri.fget(self)))
    cd = property(lambda self: _without_lines(lambda: serial.Serial.cd.fget(self)))


class _Connection:
    """The client socket, with the thread-safe ``write`` PortManager expects."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self.sock.sendall(data)


def _serial_to_socket(port: serial.Serial, manager: serial.rfc2217.PortManager, conn: _Connection,
                      stop: threading.Event) -> None:
    """Copy what the board sends to the client, Telnet-escaped, until ``stop`` or an error."""
    while not stop.is_set():
        try:
            data = port.read(port.in_waiting or 1)
            if data:
                conn.write(b"".join(manager.escape(data)))
            manager.check_modem_lines()
        except (OSError, serial.SerialException):
            break
    stop.set()


def bridge(port: serial.Serial, sock: socket.socket, server_stop: threading.Event | None = None) -> None:
    """Serve one client on ``sock`` until it disconnects, the serial port fails or
    ``server_stop`` is set. A disconnect at any moment (even before the Telnet greeting is
    sent) ends quietly; malformed input raises from pyserial's parser or as ``ClientFault``."""
    stop = threading.Event()
    conn = _Connection(sock)
    try:
        manager = serial.rfc2217.PortManager(port, conn)  # sends the greeting: may meet a closed socket
    except OSError:
        return
    reader = threading.Thread(target=_serial_to_socket, args=(port, manager, conn, stop), daemon=True)
    reader.start()
    try:
        while not stop.is_set() and not (server_stop and server_stop.is_set()):
            if not select.select([sock], [], [], _POLL_S)[0]:
                continue
            data = sock.recv(_CHUNK_BYTES)
            if not data:
                break
            port.write(b"".join(manager.filter(data)))
            if manager.suboption is not None and len(manager.suboption) > _MAX_SUBOPTION_BYTES:
                raise ClientFault(f"a Telnet subnegotiation longer than {_MAX_SUBOPTION_BYTES} bytes")
    except (OSError, serial.SerialException):
        pass
    finally:
        stop.set()
        with contextlib.suppress(OSError, AttributeError):
            port.cancel_read()  # wake the reader now rather than at its read timeout (POSIX ports)
        reader.join()


def serve_client(port: serial.Serial, sock: socket.socket, server_stop: threading.Event) -> None:
    """Bridge one accepted client, then put back the port settings it may have changed.
    Whatever this client's bytes make pyserial raise ends this client only, in one line."""
    settings = port.get_settings()
    with sock:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            bridge(port, sock, server_stop)
        except Exception as exc:  # noqa: BLE001 - any fault of one client's input must not end the service
            reason = " ".join(str(exc).split()) or "no detail"
            print(f"rfc2217 server: dropped a client that sent malformed Telnet/RFC 2217 data "
                  f"({type(exc).__name__}: {reason})", file=sys.stderr, flush=True)
        finally:
            with contextlib.suppress(OSError, ValueError, serial.SerialException):
                port.apply_settings(settings)
                port.break_condition = False


def refuse(sock: socket.socket) -> None:
    """Tell a client that arrived while another is served that the board is busy, and close."""
    with sock, contextlib.suppress(OSError):
        sock.setblocking(False)
        sock.send(BUSY_MESSAGE)
        sock.shutdown(socket.SHUT_RDWR)


def serve(port: serial.Serial, listener: socket.socket, stop_fd: int | None = None) -> None:
    """Accept clients on ``listener``, bridge one at a time to ``port`` (a thread) and refuse
    the others while it is served, until ``stop_fd`` reaches end of file."""
    watched = [listener] + ([stop_fd] if stop_fd is not None else [])
    server_stop = threading.Event()
    active: threading.Thread | None = None
    try:
        while True:
            ready = select.select(watched, [], [])[0]
            if stop_fd in ready and not os.read(stop_fd, 4096):
                return
            if listener not in ready:
                continue
            try:
                sock, _ = listener.accept()
            except OSError:  # the client reset before accept() took it
                continue
            if active is not None and active.is_alive():
                refuse(sock)
                continue
            active = threading.Thread(target=serve_client, args=(port, sock, server_stop), daemon=True)
            active.start()
    finally:
        server_stop.set()
        if active is not None:
            active.join()


def listen(host: str, tcp_port: int) -> socket.socket:
    """A listening TCP socket (port 0 = any free port)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, tcp_port))
    listener.listen(_BACKLOG)
    return listener


def main(argv: Sequence[str] | None = None) -> int:
    """Listen, print the URL, serve until stdin closes or SIGTERM."""
    ap = argparse.ArgumentParser(prog="python -m agent.rfc2217_server",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--serial", required=True, help="local serial port of the board (e.g. /dev/ttyACM0)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--tcp-port", type=int, default=0, help="TCP port (default: a free one)")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        port = LocalPort(args.serial, timeout=_POLL_S)
    except (OSError, ValueError, serial.SerialException) as exc:
        print(f"rfc2217 server: cannot open {args.serial}: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    try:
        listener = listen(args.host, args.tcp_port)
    except OSError as exc:
        port.close()
        print(f"rfc2217 server: cannot listen on {args.host}:{args.tcp_port}: {exc}", file=sys.stderr)
        return 2
    with port, listener:
        host, tcp_port = listener.getsockname()[:2]
        print(f"rfc2217://{host}:{tcp_port}", flush=True)
        serve(port, listener, stop_fd=sys.stdin.fileno())
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
