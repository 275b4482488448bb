"""A model that cannot fit the board's flash is never flashed, so its C array is not written
(issue 17: a 144 MB .tflite wrote a 912 MB model_data.cc per run); the run says so and still
records every figure."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.unit.test_runner import _config
from tinyexp.core.names import Artifact, Metric, Tag
from tinyexp.pipeline.runner import run_job

pytestmark = pytest.mark.slow


def test_a_model_beyond_the_boards_flash_gets_no_c_array(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYEXP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    overrides = ["model.neurons=12", "board.flash_bytes=1000"]
    outcome = run_job(_config(tmp_path / "mlflow.db", *overrides), overrides)
    run = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(outcome.run_id)
    artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
    assert run.info.status == "FINISHED" and not outcome.deployed
    assert run.data.tags[Tag.FITS_FLASH] == "false" and run.data.metrics[Metric.MODEL_BYTES] > 1000
    assert not (artifacts / Artifact.C_ARRAY_DIR).exists() and (artifacts / Artifact.CONFIG).is_file()
    assert outcome.summary.endswith("; no C array written (the model cannot fit nano33ble's flash)")
    assert (artifacts / Artifact.SUMMARY).read_text().strip() == outcome.summary
