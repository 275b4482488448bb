"""Protocol v2's per-operator profile (PROF): the virtual board over a real pty, a v1 board
without it, the codec's checks, `python -m agent`'s table and the run's MLflow table and chart.

The virtual board's figures are estimates (tinyexp.estimate.per_operator); these tests check that
they are the estimate's own figures, carried intact through the protocol, not their accuracy.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from agent import protocol as p
from agent.board_process import board_process
from agent.client import BoardClient
from agent.errors import BoardLinkError
from agent.session import measure_board
from tinyexp.core.boards import load_board
from tinyexp.core.config import BoardConfig
from tinyexp.device.virtual import virtual_board_command
from tinyexp.device.virtual_clock import estimate_from_model, fixed_latency, operators_from_model
from tinyexp.device.virtual_commands import BoardState
from tinyexp.estimate.per_operator import estimate_operators
from tinyexp.tflm.inspect import inspect_model

TRANSCRIPTS = Path(__file__).parents[1] / "transcripts"


@pytest.fixture(scope="module")
def board() -> BoardConfig:
    return load_board("nano33ble")


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-16-16-1 net, full int8 with float input and output: QUANTIZE, 3 x FULLY_CONNECTED,
    DEQUANTIZE, so the profile has operators with and without MACs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    net = tf.keras.Sequential([tf.keras.Input((1,)), tf.keras.layers.Dense(16, activation="relu"),
                               tf.keras.layers.Dense(16, activation="relu"), tf.keras.layers.Dense(1)])
    rng = np.random.default_rng(0)
    conv = tf.lite.TFLiteConverter.from_keras_model(net)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([rng.random((1, 1), np.float32)] for _ in range(20))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    path = tmp_path_factory.mktemp("prof") / "int8.tflite"
    path.write_bytes(conv.convert())
    return path


def _prof(state: BoardState, seq: int = 1) -> p.Profile:
    decoded = [p.decode_line(f) for f in state.handle(f"{seq} PROF")]
    assert decoded[-1]["kind"] == "OK", decoded[-1]
    return p.decode_profile([d["fields"] for d in decoded[:-1]], decoded[-1]["fields"])


# ------------------------------------------------------------ the estimate behind PROF


def test_operator_figures_add_up_to_the_whole_estimate(int8_model: Path, board: BoardConfig) -> None:
    model = int8_model.read_bytes()
    stats = inspect_model(model)
    split = estimate_operators(model, board)
    assert [o.type for o in split.operators] == list(stats.ops)
    assert [o.macs for o in split.operators if o.type == "FULLY_CONNECTED"] == [l.macs for l in stats.layers]
    assert all(o.macs == 0 for o in split.operators if o.type != "FULLY_CONNECTED")
    overhead = split.overhead_us * board.clock_hz / 1e6
    assert sum(o.cycles for o in split.operators) + overhead == pytest.approx(split.cycles, rel=1e-12)
    # A bigger layer costs more: the split follows the MACs, not an even share.
    fc = [o for o in split.operators if o.type == "FULLY_CONNECTED"]
    assert max(fc, key=lambda o: o.cycles) is max(fc, key=lambda o: o.macs)
    assert split.method == "v2 per-operator" and split.provenance.startswith("estimate, not a measurement")


# ------------------------------------------------------------ over a real pty


def test_virtual_board_profiles_every_operator_over_a_pty(int8_model: Path, board: BoardConfig) -> None:
    model = int8_model.read_bytes()
    with board_process(virtual_board_command(str(int8_model), board)) as port:
        m = measure_board(port, model, 1, warmup=0, invokes=3, timeout_s=20)
    assert m.identity["proto"] == "2" and m.profile is not None and m.no_profile_reason is None
    assert "> 6 PROF" in m.transcript
    profile = m.profile
    assert [o.op for o in profile.operators] == list(inspect_model(model).ops)
    # The figures are the estimate's, in whole cycles of the board's clock (ticks = cycles).
    expected = operators_from_model(model, board)
    assert profile.ticks_per_s == board.clock_hz
    for timing, (_, cycles) in zip(profile.operators, expected):
        assert timing.cycles == timing.ticks and abs(timing.ticks - cycles) <= 1
        assert timing.us == pytest.approx(timing.ticks / board.clock_hz * 1e6, abs=5e-4 + 1e-9)  # 3 decimals
    assert profile.ticks == math.floor(sum(c for _, c in expected))
    assert profile.invoke_us == pytest.approx(m.stats["mean_us"], abs=5e-4)
    assert profile.us <= profile.invoke_us + 5e-4


def test_a_v1_board_is_measured_without_a_profile(int8_model: Path, board: BoardConfig) -> None:
    model = int8_model.read_bytes()
    with board_process(virtual_board_command(str(int8_model), board) + ["--proto", "1"]) as port:
        m = measure_board(port, model, 1, warmup=0, invokes=3, timeout_s=20)
        with BoardClient(port, timeout_s=20) as client:
            assert client.hello()["proto"] == "1" and not client.supports_profile
            with pytest.raises(BoardLinkError, match="speaks protocol 1, which has no per-operator"):
                client.profile()
    assert m.profile is None and "protocol 1" in (m.no_profile_reason or "")
    assert m.stats["n"] == 3 and not any("PROF" in line for line in m.transcript)


def test_a_v1_board_does_not_know_prof(int8_model: Path, board: BoardConfig) -> None:
    state = BoardState(int8_model.read_bytes(), board, estimate_from_model, operators_fn=operators_from_model,
                       proto=1)
    (frame,) = [p.decode_line(f) for f in state.handle("4 PROF")]
    assert frame == {"seq": 4, "kind": "ERR", "fields": {"code": "bad_command", "msg": "unknown verb PROF"}}
    assert p.decode_line(state.boot()[1])["fields"]["proto"] == "1"


def test_fixed_latency_board_has_no_profile_and_says_so(int8_model: Path, board: BoardConfig) -> None:
    state = BoardState(int8_model.read_bytes(), board, fixed_latency(100.0))
    (frame,) = [p.decode_line(f) for f in state.handle("2 PROF")]
    assert frame["kind"] == "ERR" and frame["fields"]["code"] == "no_profile"


def test_operator_names_given_by_hand_become_frame_tokens_in_whole_ticks(int8_model: Path, board: BoardConfig) -> None:
    """--operator-cycles is user data: a name with spaces is sent as one token, and the cycles
    are whole ticks that add up to the whole part of their sum."""
    state = BoardState(int8_model.read_bytes(), board, fixed_latency(100.0),
                       operators_fn=lambda *_: [("MY OP", 10.6), ("OTHER", 3.7)])
    profile = _prof(state)
    assert [(o.op, o.ticks) for o in profile.operators] == [("MY_OP", 10), ("OTHER", 4)]


def test_v1_transcript_handshake_is_still_read() -> None:
    """tests/transcripts/hello.txt, a v1 board's answer, replayed through the codec: accepted."""
    lines = (TRANSCRIPTS / "hello.txt").read_text(encoding="ascii").splitlines()
    ok = next(p.decode_line(line[2:]) for line in lines if line.startswith("< @1 OK"))
    assert ok["fields"]["proto"] == "1" and ok["fields"]["proto"] in map(str, p.SUPPORTED_PROTOS)


# ------------------------------------------------------------ python -m agent


def test_agent_cli_prints_the_per_operator_table(int8_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from agent.cli import main

    assert main(["--virtual", "--model", str(int8_model), "--invokes", "2"]) == 0
    out = capsys.readouterr().out
    title = out.index("per-operator profile (estimate), 5 operators:")
    json.loads(out[:title])  # the JSON report comes first, whole
    rows = out[title:].splitlines()[2:7]
    assert [r.split()[1] for r in rows] == list(inspect_model(int8_model.read_bytes()).ops)
    shares = [float(r.split()[3].rstrip("%")) for r in rows]
    assert sum(shares) == pytest.approx(100.0, abs=0.3)
    assert max(shares) == shares[2]  # the 16x16 layer
    assert main(["--virtual", "--model", str(int8_model), "--invokes", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["type"] for r in report["profile"]] == [r.split()[1] for r in rows]


# ------------------------------------------------------------ MLflow


def test_profile_is_logged_as_a_table_and_a_chart(int8_model: Path, board: BoardConfig, tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    from tinyexp.core.names import Artifact, Metric, Tag
    from tinyexp.pipeline.measure import DeviceMeasurement
    from tinyexp.pipeline.recorder import record_profile
    from tinyexp.tracking.store import RunRecord, configure, tracked_run

    model = int8_model.read_bytes()
    stats = inspect_model(model)
    state = BoardState(model, board, estimate_from_model, operators_fn=operators_from_model)
    profile = _prof(state)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    record = RunRecord()
    m = DeviceMeasurement("estimate", {}, {}, {}, 0.0, None, None, tmp_path / "t.txt", tmp_path / "c.csv",
                          profile)
    with tracked_run(configure(uri, "prof"), "prof", record) as run_id:
        record_profile(record, m, stats, tmp_path)
    client = MlflowClient(tracking_uri=uri)
    table = json.loads(Path(client.download_artifacts(run_id, Artifact.PER_OPERATOR_TABLE,
                                                      str(tmp_path))).read_text())
    assert table["columns"] == ["operator", "type", "macs", "time_us", "cycles", "share"]
    rows = [dict(zip(table["columns"], row)) for row in table["data"]]
    assert [r["type"] for r in rows] == list(stats.ops)
    assert [r["macs"] for r in rows if r["type"] == "FULLY_CONNECTED"] == [l.macs for l in stats.layers]
    assert [r["time_us"] for r in rows] == [o.us for o in profile.operators]
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    png = Path(client.download_artifacts(run_id, Artifact.PER_OPERATOR_CHART, str(tmp_path / "chart")))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = client.get_run(run_id)
    assert run.data.tags[Tag.LATENCY_PROFILE_SOURCE] == "estimate"
    assert run.data.tags[Tag.LATENCY_PROFILE_MACS] == "matched"
    assert run.data.metrics[Metric.LATENCY_PROFILE_OPERATORS_US] == profile.us


def test_macs_are_left_out_when_the_board_ran_other_operators(int8_model: Path, board: BoardConfig) -> None:
    from tinyexp.pipeline.profile import profile_table

    model = int8_model.read_bytes()
    stats = inspect_model(model)
    profile = _prof(BoardState(model, board, estimate_from_model, operators_fn=operators_from_model))
    reordered = p.Profile(tuple(reversed(profile.operators)), profile.ticks, profile.ticks_per_s,
                          profile.us, profile.invoke_us, profile.invoke_cycles)
    table, matched = profile_table(reordered, stats)
    assert not matched and table["macs"] == [None] * len(stats.ops)
    assert profile_table(profile, stats)[1]
