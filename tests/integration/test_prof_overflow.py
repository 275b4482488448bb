"""A model of more operators than PROF records (128) on the virtual board: the measurement
stands, without a profile, and says why (issue 17: the whole run used to fail)."""

from __future__ import annotations

import os
from pathlib import Path

from agent.board_process import board_process
from agent.session import measure_board
from tests.helpers.models import convert_dense
from tinyexp.core.boards import load_board
from tinyexp.device.virtual import virtual_board_command


def test_a_model_beyond_prof_is_measured_without_a_profile(tmp_path: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    model = tmp_path / "deep.tflite"
    model.write_bytes(convert_dense([4] * 140, "float32"))  # 141 FULLY_CONNECTED operators
    with board_process(virtual_board_command(str(model), load_board("nano33ble"))) as port:
        m = measure_board(port, model.read_bytes(), 1, "float32", warmup=0, invokes=3, timeout_s=20)
    assert m.stats["n"] == 3 and m.stats["mean_us"] > 0 and len(m.outputs) == 1
    assert m.profile is None
    assert "too_big" in (m.no_profile_reason or "") and "128" in (m.no_profile_reason or "")
