"""The host agent against the virtual board over real pseudo-terminals, and against scripted
faulty peers: every fault must end in one clear BoardLinkError within a bounded time."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pytest

from agent import protocol as p
from agent.board_process import board_process
from agent.client import BoardClient
from agent.errors import BoardLinkError
from agent.session import MeasurementError, measure_board
from tinyexp.core.config import BoardConfig
from tinyexp.device.virtual import virtual_board_command
from tinyexp.device.virtual_commands import BoardState
from tests.helpers.devices import served
from tests.helpers.scripted_board import Link, scripted_board
from tinyexp.tflm.runtime import TflmModel

BOARD = BoardConfig(name="testboard", mcu="virtual", clock_hz=64_000_000, flash_bytes=983_040, ram_bytes=262_144)
LATENCY_US = 250.0


@dataclass(frozen=True)
class _StubEstimate:
    latency_us: float
    cycles: float


def _stub_latency(model: bytes, board: BoardConfig) -> _StubEstimate:
    """Stands in for tinyexp.estimate.latency: a fixed figure, so the tests check the plumbing."""
    return _StubEstimate(LATENCY_US, LATENCY_US * board.clock_hz / 1e6)


@pytest.fixture(scope="module")
def agent_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny 3 -> 64 -> 20 models (64 x 20 weights: enough for the converter to quantise them): float32, full int8, and dynamic-range (which TFLM refuses)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    tf.keras.utils.set_random_seed(0)
    net = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(64, activation="relu"),
                               tf.keras.layers.Dense(20)])
    rng = np.random.default_rng(0)
    modes = {
        "float32": {},
        "int8": {"optimizations": [tf.lite.Optimize.DEFAULT],
                 "representative_dataset": lambda: ([rng.random((1, 3), np.float32)]
                                                    for _ in range(20)),
                 "inference_input_type": tf.int8, "inference_output_type": tf.int8},
        "dynamic": {"optimizations": [tf.lite.Optimize.DEFAULT]},
    }
    folder = tmp_path_factory.mktemp("agent_models")
    paths = {}
    for name, options in modes.items():
        conv = tf.lite.TFLiteConverter.from_keras_model(net)
        for key, value in options.items():
            setattr(conv, key, value)
        if name == "int8":
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(conv.convert())
    return paths


def _started(model_path: Path, board: BoardConfig, latency_us: float | None = None, realtime: bool = False):  # noqa: ANN202
    """A virtual board process serving the model; the context yields its port."""
    return board_process(virtual_board_command(str(model_path), board, latency_us=latency_us,
                                               realtime=realtime))


def _samples(dtype: str) -> np.ndarray:
    if dtype == "int8":
        return np.array([[-128, 0, 127], [5, -6, 7]], dtype=np.int8)
    return np.array([[0.0, 1.0, -2.5], [3.0, 0.25, 1e-3]], dtype=np.float32)


# ------------------------------------------------------------ the virtual board, end to end


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_measure_virtual_board_process_end_to_end(agent_models: dict[str, Path], dtype: str) -> None:
    model = agent_models[dtype].read_bytes()
    with _started(agent_models[dtype], BOARD, latency_us=LATENCY_US) as port:
        m = measure_board(port, model, _samples(dtype).tolist(), dtype, warmup=2, invokes=7, timeout_s=10)
    host = TflmModel(model, 1 << 20)
    expected = np.stack([host.invoke(s).reshape(-1) for s in _samples(dtype)])
    assert np.array_equal(np.asarray(m.outputs, dtype=dtype), expected)
    assert m.identity["latency_source"] == "estimate" and m.identity["timer"] == "estimate"
    assert m.info["model_crc32"] == f"{p.crc32(model):08x}" and m.info["out_len"] == "20"
    assert m.stats["n"] == 7 and m.stats["mean_us"] == LATENCY_US and m.stats["std_us"] == 0
    assert m.per_invoke_us == [LATENCY_US] * 7 and len(m.per_invoke_cycles) == 7
    assert all("corrupt" not in p.decode_line(x[2:]) for x in m.transcript if x.startswith("< "))


def test_virtual_board_process_uses_the_latency_model_by_default(agent_models: dict[str, Path]) -> None:
    from tinyexp.core.boards import load_board

    model = agent_models["float32"].read_bytes()
    with _started(agent_models["float32"], load_board("nano33ble")) as port:
        m = measure_board(port, model, 2, warmup=0, invokes=2, timeout_s=10)
    assert m.stats["mean_us"] > 0 and m.per_invoke_us == [m.stats["mean_us"]] * 2
    assert m.identity["latency_source"] == "estimate"


@pytest.mark.parametrize("realtime", [False, True])
def test_realtime_invokes_take_their_estimated_latency(agent_models: dict[str, Path], realtime: bool) -> None:
    latency_us, invokes = 40_000.0, 8
    model = agent_models["float32"].read_bytes()
    with _started(agent_models["float32"], BOARD, latency_us=latency_us, realtime=realtime) as port:
        with BoardClient(port, timeout_s=10) as client:
            client.hello()
            client.verify_model(model)
            start = time.monotonic()
            bench = client.bench(0, invokes, raw=True)
            elapsed_s = time.monotonic() - start
    assert bench.per_invoke_us == [latency_us] * invokes  # the figures do not depend on the mode
    if realtime:
        assert elapsed_s >= invokes * latency_us * 1e-6
    else:
        assert elapsed_s < invokes * latency_us * 1e-6, "an invoke of a tiny model slept without realtime"


def test_virtual_board_reports_a_start_failure_quickly(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(BoardLinkError, match="exited with status 2 .*No such file"):
        with _started(tmp_path / "missing.tflite", BOARD, latency_us=1.0):
            pass
    assert time.monotonic() - start < 30


def test_serve_loop_with_injected_latency_model(agent_models: dict[str, Path]) -> None:
    model = agent_models["float32"].read_bytes()
    state = BoardState(model, BOARD, _stub_latency)
    with served(state) as port, BoardClient(port, timeout_s=5) as client:
        client.hello()
        client.verify_model(model)
        client.set_input(np.arange(3, dtype=np.float32).tolist(), "float32")
        outputs, us, cycles = client.run()
        bench = client.bench(0, 3, raw=False)
        with pytest.raises(BoardLinkError, match="refused IN: bad_args"):
            client._request("IN", ("2", "3f800000", "3f800000"))
    assert us == LATENCY_US and cycles == 16000 and len(outputs) == 20
    assert bench.stats["mean_cycles"] == 16000 and bench.per_invoke_us == []


def _answer(state: BoardState, line: str) -> dict:
    (frame,) = [p.decode_line(f) for f in state.handle(line) if "OK" in f or "ERR" in f]
    return frame


@pytest.mark.parametrize("model_name, board_change, code, words", [
    ("float32", {"flash_bytes": 1000}, "too_big", "flash: model"),
    ("float32", {"ram_bytes": 1000}, "too_big", "RAM: arena"),
    ("float32", {"sketch_ram_bytes": 262_000}, "too_big", "+ sketch 262000"),
    ("dynamic", {}, "model_refused", "FULLY_CONNECTED"),
])
def test_board_refuses_what_the_firmware_refuses(agent_models: dict[str, Path], model_name: str,
                                                 board_change: dict, code: str, words: str) -> None:
    state = BoardState(agent_models[model_name].read_bytes(), replace(BOARD, **board_change), _stub_latency)
    assert _answer(state, "1 HELLO")["kind"] == "OK"  # a refused model still says hello
    for line in ("2 INFO", "3 RUN", "4 BENCH 0 1"):
        frame = _answer(state, line)
        assert frame["kind"] == "ERR" and frame["fields"]["code"] == code
        assert words in frame["fields"]["msg"]


def test_board_without_model_and_bad_lines(agent_models: dict[str, Path]) -> None:
    state = BoardState(None, BOARD, _stub_latency)
    assert p.decode_line(state.boot()[1])["fields"]["model"] == "no_model"
    assert _answer(state, "5 INFO")["fields"]["code"] == "no_model"
    assert _answer(state, "6 NOPE")["fields"] == {"code": "bad_command", "msg": "unknown verb NOPE"}
    frames = [p.decode_line(f) for f in state.handle(p.TooLong("x" * 200))]
    assert frames[0]["fields"]["code"] == "line_too_long" and frames[0]["seq"] == 0
    state = BoardState(agent_models["float32"].read_bytes(), BOARD, _stub_latency)
    assert _answer(state, "7 IN 0 3f80000g")["fields"]["code"] == "bad_args"
    assert _answer(state, "8 IN 3 3f800000")["fields"]["code"] == "bad_args"


# ------------------------------------------------------------ faulty peers


Responder = Callable[[p.Command], list[str]]


@contextlib.contextmanager
def _peer(respond: Responder) -> Iterator[str]:
    """A scripted board on a pty: each command line gets whatever ``respond`` returns."""
    def answer(cmd: p.Command, link: Link) -> None:
        link.write("".join(r + "\n" for r in respond(cmd)).encode("latin-1"))

    with scripted_board(answer) as port:
        yield port


IDENTITY = {"proto": "1", "fw": "fake", "board": "fake", "mcu": "x", "clock_hz": "1",
            "tflm": "x", "compiler": "x", "timer": "micros", "latency_source": "measured"}
MODEL = b"model bytes"


def _info(crc: int = p.crc32(MODEL), size: int = len(MODEL)) -> dict[str, str]:
    return {"model_bytes": str(size), "model_crc32": f"{crc:08x}", "arena_bytes": "4096",
            "arena_used_bytes": "100", "in_dtype": "float32", "in_len": "1",
            "out_dtype": "float32", "out_len": "1"}


def _script(**answers: Callable[[int], list[str]]) -> Responder:
    """A responder from per-verb functions of the seq; HELLO answers a proto-1 identity."""
    defaults = {"HELLO": lambda s: [p.encode_frame(s, "OK", IDENTITY)],
                "INFO": lambda s: [p.encode_frame(s, "OK", _info())]}
    table = defaults | answers
    return lambda cmd: table[cmd.verb](cmd.seq) if cmd.verb in table else []


def _fails_quickly(respond: Responder, match: str, action: Callable[[BoardClient], object],
                   timeout_s: float = 1.0) -> BoardLinkError:
    start = time.monotonic()
    with _peer(respond) as port, BoardClient(port, timeout_s=timeout_s, retries=2) as client:
        with pytest.raises(BoardLinkError, match=match) as info:
            action(client)
    assert time.monotonic() - start < timeout_s + 2
    return info.value


def _hello_and_verify(client: BoardClient) -> None:
    client.hello()
    client.verify_model(MODEL)


def test_junk_before_the_banner_is_skipped_and_kept() -> None:
    respond = _script(HELLO=lambda s: ["Mbed OS booting", "", "garbage *1234",
                                       p.encode_frame(0, "BOOT", {"proto": "1"}),
                                       p.encode_frame(s + 40, "OK", {"n": "1"}),
                                       p.encode_frame(s, "OK", IDENTITY)])
    with _peer(respond) as port, BoardClient(port, timeout_s=2) as client:
        assert client.hello()["fw"] == "fake"
        client.verify_model(MODEL)
    assert "< Mbed OS booting" in client.transcript and "< " in client.transcript
    assert client.transcript[0] == "> 1 HELLO" and client.transcript[-1].startswith("< @2 OK")


def test_a_board_that_never_answers_fails_within_the_timeout() -> None:
    error = _fails_quickly(lambda cmd: [], "no answer to HELLO", BoardClient.hello)
    assert "within 1 s (2 tries)" in str(error) and "wrong baud" in str(error)


def test_a_board_that_only_prints_junk_says_so() -> None:
    error = _fails_quickly(lambda cmd: ["\x00\xff noise"], "no answer", BoardClient.hello)
    assert "2 non-frame lines" in str(error)


def test_wrong_protocol_version_names_both() -> None:
    respond = _script(HELLO=lambda s: [p.encode_frame(s, "OK", IDENTITY | {"proto": "3"})])
    _fails_quickly(respond, r"protocol version 3, this host speaks version 2 \(and reads 1, 2\)",
                   BoardClient.hello)


def test_truncated_frame_is_corrupt_not_trusted() -> None:
    respond = _script(INFO=lambda s: [p.encode_frame(s, "OK", _info())[:30]])
    _fails_quickly(respond, r"INFO: corrupted line from the board \(bad_grammar\)", _hello_and_verify)


def test_crc_mismatch_in_a_frame() -> None:
    respond = _script(INFO=lambda s: [p.encode_frame(s, "OK", _info()).replace("in_len=1", "in_len=7")])
    _fails_quickly(respond, r"corrupted line from the board \(bad_crc\)", _hello_and_verify)


def test_too_long_line_is_discarded_and_reported() -> None:
    respond = _script(INFO=lambda s: ["@" + "x" * 5000])
    _fails_quickly(respond, r"\(too_long\)", _hello_and_verify)


def test_model_crc_mismatch_names_both_crcs() -> None:
    respond = _script(INFO=lambda s: [p.encode_frame(s, "OK", _info(crc=0xDEADBEEF))])
    error = _fails_quickly(respond, "runs a different model", _hello_and_verify)
    assert "deadbeef" in str(error) and f"{p.crc32(MODEL):08x}" in str(error)


def test_error_answer_and_reset_mid_session() -> None:
    respond = _script(INFO=lambda s: [p.encode_frame(s, "ERR", {"code": "model_refused"}, "no op X")])
    _fails_quickly(respond, "refused INFO: model_refused: no op X", _hello_and_verify)
    respond = _script(INFO=lambda s: ["boot text", p.encode_frame(0, "BOOT", {"proto": "1"})])
    _fails_quickly(respond, "the board reset", _hello_and_verify)


def test_silence_mid_session_and_session_keeps_the_transcript() -> None:
    samples = np.zeros((1, 1), dtype=np.float32)
    with _peer(_script()) as port:
        start = time.monotonic()
        with pytest.raises(MeasurementError, match=f"{port}: IN: no answer within 1 s") as info:
            measure_board(port, MODEL, samples.tolist(), "float32", timeout_s=1.0, retries=1)
    assert time.monotonic() - start < 3
    assert info.value.transcript[-1] == "> 3 IN 0 00000000"


def test_cli_prints_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import main

    model = tmp_path / "m.tflite"
    model.write_bytes(MODEL)
    assert main(["--port", str(tmp_path / "no-port"), "--model", str(model)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_save_transcript_round_trips(tmp_path: Path) -> None:
    with _peer(_script()) as port, BoardClient(port, timeout_s=2) as client:
        client.hello()
        client.save_transcript(tmp_path / "t.txt")
    lines = (tmp_path / "t.txt").read_text().splitlines()
    assert lines == client.transcript and lines[0] == "> 1 HELLO"


def test_virtual_board_refuses_a_file_that_is_no_model() -> None:
    state = BoardState(b"model bytes", BOARD, _stub_latency)
    frame = _answer(state, "1 INFO")
    assert frame["fields"]["code"] == "model_refused" and "flatbuffer" in frame["fields"]["msg"]


@pytest.fixture(scope="module")
def several_tensor_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A model with two inputs (a + b concatenated) and one with two outputs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf

    a, b = keras.Input((1,), name="a"), keras.Input((1,), name="b")
    x = keras.Input((1,))
    nets = {"2 input and 1 output": keras.Model([a, b], keras.layers.Dense(1)(keras.layers.Concatenate()([a, b]))),
            "1 input and 2 output": keras.Model(x, [keras.layers.Dense(1)(x), keras.layers.Dense(1)(x)])}
    folder = tmp_path_factory.mktemp("several_tensors")
    paths = {}
    for counts, net in nets.items():
        paths[counts] = folder / f"{counts.split()[0]}in{counts.split()[3]}out.tflite"
        paths[counts].write_bytes(tf.lite.TFLiteConverter.from_keras_model(net).convert())
    return paths


@pytest.mark.parametrize("counts", ["2 input and 1 output", "1 input and 2 output"])
def test_a_model_with_several_inputs_or_outputs_is_refused_with_the_counts(
        several_tensor_models: dict[str, Path], counts: str) -> None:
    """Issue 17: `python -m agent --virtual` fed a two-input model its first input and measured it."""
    state = BoardState(several_tensor_models[counts].read_bytes(), BOARD, _stub_latency)
    for line in ("1 INFO", "2 RUN"):
        frame = _answer(state, line)
        assert frame["kind"] == "ERR" and frame["fields"]["code"] == "model_refused"
        assert f"the model has {counts} tensors; the protocol carries exactly one of each" in frame["fields"]["msg"]


def test_the_agent_command_refuses_a_two_input_model_in_one_line(several_tensor_models: dict[str, Path]) -> None:
    done = subprocess.run([sys.executable, "-m", "agent", "--virtual", "--model",
                           str(several_tensor_models["2 input and 1 output"])],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "model_refused: the model has 2 input and 1 output tensors" in done.stderr
