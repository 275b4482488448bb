"""Issue 8 added model and dataset options; the study's configs must hash as before, so
resumed sweeps and cached training still find their runs and models."""

from __future__ import annotations

import pytest

from tinyexp.model import train
from tinyexp.tracking import sweep
from tests.helpers import compose_config

# Computed with tinyexp at main 77cdb16 (before issue 8's options) for the same overrides; the
# training cache key with the library versions pinned to FIXED_VERSIONS.
FIXED_VERSIONS = {"tensorflow": "2.0", "keras": "3.0", "numpy": "1.0"}
BEFORE = {
    (): ("048af060dffb64eaeb735fa8", "3f186a7873051bb3115b"),
    ("model.neurons=256", "quant=int8"): ("abe15c67bb754a616fcc0670", "7340d695fb21374fb07a"),
    ("model.widths=[64,32]", "quant=dynamic"): ("62ebf5ab72d5329201d651b8", "5e75fe929a2d2d63d11a"),
}


@pytest.mark.parametrize("overrides", list(BEFORE), ids=lambda o: " ".join(o) or "defaults")
def test_study_config_hash_and_cache_key_unchanged(overrides: tuple[str, ...],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train, "training_library_versions", lambda: FIXED_VERSIONS)
    cfg = compose_config(list(overrides))
    assert (sweep.config_hash(cfg), train.cache_key(cfg.dataset, cfg.model, cfg.train)) == BEFORE[overrides]


def test_how_long_a_job_waits_for_its_tracking_server_is_not_hashed() -> None:
    assert sweep.config_hash(compose_config(["tracking.reconnect_s=5"])) == sweep.config_hash(compose_config([]))
