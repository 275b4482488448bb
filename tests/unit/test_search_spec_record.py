"""A search's declaration reads back whole from its parent run, however large its space:
MLflow cuts a tag at MAX_TAG_VAL_LENGTH characters, so a long one is kept as an artifact."""

from __future__ import annotations

from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

from tinyexp.core.names import Tag
from tinyexp.search.space import parse_spec, spec_from_json, spec_json
from tinyexp.tracking.search_spec_record import SPEC_IN_ARTIFACT, read_spec, record_spec

ROOT = Path(__file__).resolve().parents[2]


def _spec(extra_params: int) -> str:
    raw = yaml.safe_load((ROOT / "conf" / "search" / "dense_sine.yaml").read_text())
    for i in range(extra_params):  # a user's wide space: many keys with many choices
        raw["params"][f"train.option_{i:03d}_with_a_long_name"] = {"choices": list(range(20))}
    return spec_json(parse_spec(raw, "wide"))


def _recorded(tmp_path: Path, text: str) -> tuple[str, str]:
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("e", artifact_location=(tmp_path / "a").as_uri()))
    record_spec(client, run.info.run_id, text)
    tag = client.get_run(run.info.run_id).data.tags[Tag.SEARCH_SPEC]
    return tag, read_spec(client, run.info.run_id, tag)


def test_a_declaration_that_fits_a_tag_is_the_tag(tmp_path: Path) -> None:
    text = _spec(0)
    tag, read = _recorded(tmp_path, text)
    assert tag == text and read == text


def test_a_declaration_longer_than_a_tag_reads_back_whole_from_its_artifact(tmp_path: Path) -> None:
    text = _spec(60)
    assert len(text) > MAX_TAG_VAL_LENGTH
    tag, read = _recorded(tmp_path, text)
    assert tag == SPEC_IN_ARTIFACT
    assert read == text and spec_from_json(read) == spec_from_json(text)
