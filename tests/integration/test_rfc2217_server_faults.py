"""The RFC 2217 board server against untrusted clients (issue 17): clients that connect and
close at once (FIN or RST), malformed Telnet/RFC 2217 sequences, random bytes, and a second
client while one is served. After all of it the same server process must still measure the
board through a real pyserial rfc2217:// client, with the right outputs."""

from __future__ import annotations

import contextlib
import functools
import socket
import struct
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import numpy as np
import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.errors import BoardLinkError
from agent.rfc2217_server import BUSY_MESSAGE
from agent.session import measure_board
from tests.helpers.remote_board import LATENCY_US, rfc2217_server, virtual_board
from tinyexp.tflm.runtime import TflmModel

IAC, SB, SE, WILL, WONT, DO, DONT, COM_PORT = 255, 250, 240, 251, 252, 253, 254, 44
# the issue's three sequences that killed the server: a bare SE, a SET_BAUDRATE without its
# four bytes (struct.error), a SET_PARITY of 99 (KeyError)
ISSUE_SEQUENCES = [bytes([IAC, SE]), bytes([IAC, SB, COM_PORT, 1, IAC, SE]),
                   bytes([IAC, SB, COM_PORT, 3, 0x63, IAC, SE])]
ABRUPT_CLIENTS = 1000


@pytest.fixture(scope="module")
def served_board(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[tuple[str, int], subprocess.Popen, Path]]:
    """One server process for the whole module: every test attacks the same service."""
    log = tmp_path_factory.mktemp("rfc2217") / "server.stderr"
    with log.open("wb") as err, virtual_board(tiny_model) as pty, rfc2217_server(pty, stderr=err) as (url, proc):
        parsed = urlparse(url)
        yield (parsed.hostname, parsed.port), proc, log


def _connect(address: tuple[str, int], reset: bool) -> socket.socket:
    sock = socket.create_connection(address, timeout=10)
    if reset:  # close with RST rather than FIN
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return sock


def _send_and_drop(address: tuple[str, int], data: bytes, reset: bool, linger_s: float = 0.0) -> None:
    with _connect(address, reset) as sock:
        try:
            sock.sendall(data)
        except OSError:
            return  # the server dropped us first: what it should do with bad input
        if linger_s:
            time.sleep(linger_s)


def _measures(url: str, model: Path) -> None:
    """A real pyserial rfc2217:// client measures the board, with the outputs TFLM gives."""
    samples = [[0.5], [-1.25]]
    result = measure_board(url, model.read_bytes(), samples, "float32", warmup=0, invokes=3, timeout_s=10)
    host = TflmModel(model.read_bytes(), 1 << 20)
    assert [list(o) for o in result.outputs] == [host.invoke(np.array(s, np.float32)).reshape(-1).tolist()
                                                 for s in samples]
    assert result.stats["n"] == 3 and result.stats["mean_us"] == LATENCY_US


def _url(address: tuple[str, int]) -> str:
    return f"rfc2217://{address[0]}:{address[1]}"


def test_the_issues_malformed_sequences_drop_only_their_client(served_board, tiny_model: Path) -> None:
    address, proc, log = served_board
    for data in ISSUE_SEQUENCES:
        _send_and_drop(address, data, reset=False, linger_s=0.3)
        assert proc.poll() is None, log.read_text()
    _measures(_url(address), tiny_model)
    assert "malformed Telnet/RFC 2217 data" in log.read_text()


def test_an_endless_subnegotiation_is_cut_off(served_board) -> None:
    address, proc, log = served_board
    with _connect(address, reset=False) as sock:
        sock.sendall(bytes([IAC, SB, COM_PORT]))
        with pytest.raises(OSError):
            for _ in range(200):  # 800 kB: the server closes long before
                sock.sendall(b"x" * 4096)
            sock.settimeout(5)
            while sock.recv(4096):
                pass
            raise ConnectionResetError("closed")  # an orderly close after the cut-off counts too
    assert proc.poll() is None
    assert "subnegotiation longer than" in log.read_text()


def _abrupt_client(address: tuple[str, int], index: int) -> None:
    """Connect and close at once, with RST for every other client."""
    _connect(address, reset=index % 2 == 1).close()


def test_a_thousand_abrupt_connects_and_closes(served_board, tiny_model: Path) -> None:
    address, proc, _ = served_board
    start = time.monotonic()
    # 8 at a time: this machine's loopback drops an occasional SYN (a 1 s retransmit), overlapped
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(functools.partial(_abrupt_client, address), range(ABRUPT_CLIENTS)))
    assert proc.poll() is None
    time.sleep(0.5)  # let the last of them be accepted and dropped
    _measures(_url(address), tiny_model)
    assert time.monotonic() - start < 120


_telnet_fragment = st.one_of(
    st.binary(max_size=16),
    st.sampled_from([bytes([IAC]), bytes([IAC, SE]), bytes([IAC, SB]), bytes([IAC, SB, COM_PORT]),
                     bytes([IAC, IAC])]),
    st.builds(lambda verb, option: bytes([IAC, verb, option]),
              st.sampled_from([WILL, WONT, DO, DONT]), st.integers(0, 255)),
    st.builds(lambda command, payload: bytes([IAC, SB, COM_PORT, command]) + payload + bytes([IAC, SE]),
              st.integers(0, 255), st.binary(max_size=6)),
)


FUZZ_SEEN: dict[str, int] = {"bridged": 0, "busy": 0}


def _fuzz_client(address: tuple[str, int], data: bytes, reset: bool) -> None:
    """Send ``data`` and close: with RST at once, or with FIN and then read what the server
    says until it closes (its Telnet greeting if it bridged us, the busy line if not)."""
    with _connect(address, reset) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
        if reset:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
            answer = b"".join(iter(lambda: sock.recv(4096), b""))
            FUZZ_SEEN["busy" if answer.startswith(BUSY_MESSAGE) else "bridged"] += 1


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(fragments=st.lists(_telnet_fragment, max_size=12), reset=st.booleans())
def test_random_telnet_bytes_and_abrupt_closes_never_end_the_service(served_board, fragments: list[bytes],
                                                                     reset: bool) -> None:
    address, proc, log = served_board
    _fuzz_client(address, b"".join(fragments), reset)
    assert proc.poll() is None, log.read_text()[-2000:]


def test_after_the_fuzz_the_server_still_measures(served_board, tiny_model: Path) -> None:
    address, proc, _ = served_board
    # the fuzz reached the Telnet parser, not only the busy refusal
    assert FUZZ_SEEN["bridged"] > FUZZ_SEEN["busy"], FUZZ_SEEN
    time.sleep(0.5)
    _measures(_url(address), tiny_model)
    assert proc.poll() is None


def test_a_second_client_is_refused_in_a_line_and_the_first_goes_on(served_board, tiny_model: Path) -> None:
    address, proc, _ = served_board
    time.sleep(0.5)
    first = serial.serial_for_url(_url(address), timeout=1)  # holds the board, idle
    try:
        with _connect(address, reset=False) as second:
            second.settimeout(5)
            assert second.recv(len(BUSY_MESSAGE)) == BUSY_MESSAGE
        started = time.monotonic()
        with pytest.raises(BoardLinkError, match="cannot open serial port"):
            measure_board(_url(address), tiny_model.read_bytes(), 1, warmup=0, invokes=1, timeout_s=5)
        assert time.monotonic() - started < 15 and proc.poll() is None
        first.write(b"HELLO\n")  # the first client still talks to the board
        assert first.read_until(b"\n", 200)
    finally:
        first.close()
    time.sleep(0.5)
    _measures(_url(address), tiny_model)
