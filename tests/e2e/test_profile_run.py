"""A whole job on the virtual board logs its per-operator table and chart to MLflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import store_client, store_runs
from tinyexp.core.names import Artifact, Tag


@pytest.mark.slow
def test_an_estimated_run_has_its_per_operator_table(run_tinyexp, tinyexp_home: Path) -> None:
    result = run_tinyexp("train.epochs=3", "quant=int8", "tracking.experiment=prof_e2e")
    assert result.returncode == 0, result.stderr[-2000:]
    run = next(r for r in store_runs(tinyexp_home)
               if r.info.run_name and r.data.tags.get(Tag.LATENCY_PROFILE_SOURCE) == "estimate")
    assert run.data.tags[Tag.LATENCY_PROFILE_METHOD] == "v2 per-operator"
    assert "estimate, not a measurement" in run.data.tags[Tag.LATENCY_PROFILE_PROVENANCE]
    names = {a.path for a in store_client(tinyexp_home).list_artifacts(run.info.run_id)}
    assert {Artifact.PER_OPERATOR_TABLE, Artifact.PER_OPERATOR_CHART} <= names
