"""Issue 8 added model and dataset options; the study's configs must hash as before, so
resumed sweeps and cached training still find their runs and models."""

from __future__ import annotations

import pytest

from tinyexp.model import train
from tinyexp.tracking import sweep
from tests.helpers import compose

# Computed with tinyexp at tag arch-2 (before issue 8's options) for the same overrides; the
# training cache key with the library versions pinned to FIXED_VERSIONS.
FIXED_VERSIONS = {"tensorflow": "2.0", "keras": "3.0", "numpy": "1.0"}
BEFORE = {
    (): ("707cd67beb22a2deda8732ad", "3f186a7873051bb3115b"),
    ("model.neurons=256", "quant=int8"): ("52f90c7107bbff37c3ef1c11", "7340d695fb21374fb07a"),
    ("model.widths=[64,32]", "quant=dynamic"): ("8274286e47372c0bca3c625e", "5e75fe929a2d2d63d11a"),
}


@pytest.mark.parametrize("overrides", list(BEFORE), ids=lambda o: " ".join(o) or "defaults")
def test_study_config_hash_and_cache_key_unchanged(overrides: tuple[str, ...],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train, "_library_versions", lambda: FIXED_VERSIONS)
    cfg = compose(list(overrides))
    assert (sweep.config_hash(cfg), train.cache_key(cfg.dataset, cfg.model, cfg.train)) == BEFORE[overrides]
