"""The preflight validates the jobs Hydra will run, no more and no fewer: a preset's sweeper
params apply when the preset itself is chosen (not swept), and the command line wins for a
key it sets, as in Hydra's basic sweeper."""

from __future__ import annotations

import pytest

from tinyexp.cli.main import preflight

pytestmark = pytest.mark.slow  # builds each preset's Keras model once per job


def _jobs(*overrides: str) -> list[tuple[str, str]]:
    return sorted((str(cfg.model.label), cfg.quant.mode.value) for cfg in preflight(list(overrides), True))


def test_a_chosen_preset_sweeps_its_own_params() -> None:
    assert _jobs("experiment=mlperf_tiny_ad") == [("MLPerf_AD_FC_AutoEncoder", "float32"),
                                                  ("MLPerf_AD_FC_AutoEncoder", "int8")]


def test_the_command_line_wins_over_a_presets_params() -> None:
    assert _jobs("experiment=mlperf_tiny_ad", "quant=int8") == [("MLPerf_AD_FC_AutoEncoder", "int8")]


def test_swept_presets_do_not_add_their_params() -> None:
    """Hydra composes a multirun's primary config without its swept groups: 2 jobs, not 4."""
    jobs = _jobs("experiment=mlperf_tiny_ad,mlperf_tiny_kws")
    assert len(jobs) == 2 and {quant for _, quant in jobs} == {"float32"}
