"""Where a search's declaration is kept on its parent run, written by the search and read by
`tinyexp report`: in a tag when it fits one (the UI shows it, and a report finds a search by
it), and always as an artifact, since MLflow keeps at most MAX_TAG_VAL_LENGTH characters of a
tag and cuts a longer one, leaving JSON that no longer parses.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tinyexp.core.names import Artifact, Tag

# The parent's spec tag when the declaration is longer than MLflow keeps in a tag (it would
# truncate it, silently but for a warning, into JSON that no longer parses).
SPEC_IN_ARTIFACT = f"in the parent run's artifact {Artifact.SEARCH_SPEC}"


def record_spec(client: Any, parent_run_id: str, spec_json: str) -> None:  # noqa: ANN401 - MlflowClient
    """Log a search's declaration on its parent run: always as an artifact, and as the tag
    the UI shows and a report finds a search by, whole when it fits, else a pointer."""
    from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

    client.log_text(parent_run_id, spec_json, Artifact.SEARCH_SPEC)
    fits = len(spec_json) <= MAX_TAG_VAL_LENGTH
    client.set_tag(parent_run_id, Tag.SEARCH_SPEC, spec_json if fits else SPEC_IN_ARTIFACT)


def read_spec(client: Any, parent_run_id: str, tag: str) -> str:  # noqa: ANN401 - MlflowClient
    """The declaration from the tag, or from the artifact when the tag points there (or was
    cut by MLflow)."""
    if tag.startswith("{") and tag.endswith("}"):
        return tag
    with tempfile.TemporaryDirectory(prefix="tinyexp-spec-") as folder:
        return Path(client.download_artifacts(parent_run_id, Artifact.SEARCH_SPEC, folder)).read_text()
