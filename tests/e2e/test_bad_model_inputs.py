"""A bad model path, a corrupt file, an unsupported layer or a model that does not match its
dataset: one line, exit code 2, before any work, and no MLflow run at all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers import store_runs


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bad")
    (out / "corrupt.keras").write_bytes(b"this is not a zip archive")
    (out / "corrupt.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\xff" * 64)
    (out / "text.tflite").write_text("hello")
    np.savez(out / "digits_like.npz", x=np.zeros((20, 5), np.float32), y=np.arange(20) % 2)
    return out


CASES = [
    (["model=keras", "model.path={d}/missing.keras"], "model.path='{d}/missing.keras': no such file or directory"),
    (["model=keras", "model.path={d}/corrupt.keras"], "model.path='{d}/corrupt.keras': truncated or damaged .keras file"),
    (["model=tflite", "model.path={d}/text.tflite"], "not a TFLite model"),
    (["model=tflite", "model.path={d}/corrupt.tflite"], "damaged TFLite model"),
    (["model=keras"], "model.path=None is invalid: model=keras needs the path of the model file"),
    (["model=layers", "dataset=digits", "model.layers=[{type: LSTM, units: 4}]"],
     "layers[0] (LSTM): unknown layer type; supported: Dense"),
    (["model=layers", "dataset=digits", "model.layers=[{type: Dense, units: 3}]"],
     "model=layers has 192 outputs, but dataset=digits has 10 classes per sample"),
    (["dataset=npz", "dataset.path={d}/nothing.npz"], "dataset.path='{d}/nothing.npz': no such file"),
    (["dataset=npz", "dataset.path={d}/digits_like.npz"], "model=dense takes inputs of shape [1], but dataset=npz gives [5]"),
    (["model=tflite", "model.path={d}/x.tflite", "quant=int8"], "model=tflite is used as it is: use quant=as_is"),
]


@pytest.mark.parametrize("args,message", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_model_or_data_is_one_line_exit_2(run_tinyexp, tinyexp_home, bad_files, args, message):
    before = len(store_runs(tinyexp_home))
    result = run_tinyexp(*[a.replace("{d}", str(bad_files)) for a in args], timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("tinyexp: error: ")
    assert message.replace("{d}", str(bad_files)) in lines[0]
    assert len(store_runs(tinyexp_home)) == before
