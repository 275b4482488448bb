"""Bad configuration is refused before any work: one line, exit code 2, no MLflow run."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import store_runs
from tinyexp.model.train import trained_entries

BAD = [
    (["model.foo=1"], "model.foo: unknown key; allowed keys in model are"),
    (["model.neurons=0"], "model.neurons=0 is invalid: must be an integer >= 1"),
    (["model.neurons=-16"], "model.neurons=-16 is invalid: must be an integer >= 1"),
    (["model.widths=[16,0]"], "model.widths[1]=0 is invalid"),
    (["model.neurons=abc"], "model.neurons=abc is invalid"),
    (["quant=int4"], "quant=int4 is invalid: allowed values are as_is, dynamic, float16, float32, int16x8, int8, none"),
    (["quant.mode=int4"], "quant.mode=int4 is invalid: Invalid value 'int4', expected one of"),
    (["board=esp32"], "board=esp32 is invalid: allowed values are nano33ble, nucleo_l4r5zi"),
    (["device=usb"], "device=usb is invalid: allowed values are serial, virtual"),
    (["train.epochs=0"], "train.epochs=0 is invalid: must be an integer >= 1"),
    (["dataset.split=[0.5,0.5,0.5]"], "dataset.split"),
    (["-m", "model.neurons=16,0", "quant=none"], "model.neurons=0 is invalid"),
    # tinyexp's typed schemas are not options (and are not offered as ones)
    (["dataset=digits_schema"], "dataset=digits_schema is invalid: allowed values are csv, digits, npz, sine, synthetic"),
    (["model=dense_schema"], "model=dense_schema is invalid: allowed values are dense, keras, layers, tflite"),
    (["dataset=digitz"], "dataset=digitz is invalid: allowed values are csv, digits, npz, sine, synthetic"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_config_fails_fast_with_one_line(run_tinyexp, tinyexp_home, args, message):
    result = run_tinyexp(*args, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("tinyexp: error: ")
    assert message in lines[0]
    assert not [r for r in store_runs(tinyexp_home) if r.info.status == "RUNNING"]


def test_bad_config_leaves_no_run_at_all(tmp_path):
    result = subprocess.run([sys.executable, "-m", "tinyexp", "model.neurons=0"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert result.returncode == 2
    assert not (tmp_path / "mlruns").exists()


def test_unusable_tracking_store_fails_before_training(tmp_path):
    env = dict(os.environ, TINYEXP_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-m", "tinyexp", "tracking.uri=bogus://nowhere"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tinyexp: error: tracking.uri='bogus://nowhere': MLflow cannot use this store")
    assert not trained_entries(tmp_path / "cache")  # nothing was trained
