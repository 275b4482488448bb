"""Runs logged under older names read as today's (old stores still report)."""

from __future__ import annotations

from tinyexp.core.config import QuantMode
from tinyexp.core.names import Metric, Tag, canonical_metrics, canonical_quant_mode, canonical_tags


def test_old_arena_names_read_as_the_new_ones() -> None:
    old = {"arena_bytes": 4000.0, "arena_reported_bytes": 3500.0, "arena_used_bytes": 3490.0, "macs": 10.0}
    assert canonical_metrics(old) == {Metric.ARENA_REQUIRED_BYTES: 4000.0, Metric.ARENA_HOST_REPORTED_BYTES: 3500.0,
                                      Metric.ARENA_BOARD_USED_BYTES: 3490.0, Metric.MACS: 10.0}


def test_a_run_with_both_names_keeps_todays_figure() -> None:
    assert canonical_metrics({"arena_bytes": 1.0, Metric.ARENA_REQUIRED_BYTES: 2.0}) == {
        Metric.ARENA_REQUIRED_BYTES: 2.0}


def test_old_kernel_dtype_that_was_a_kind() -> None:
    assert canonical_tags({Tag.KERNEL_DTYPE: "hybrid"}) == {Tag.KERNEL_KIND: "hybrid", Tag.KERNEL_DTYPE: "int8"}
    assert canonical_tags({Tag.KERNEL_DTYPE: "mixed"}) == {Tag.KERNEL_KIND: "mixed"}
    assert canonical_tags({Tag.KERNEL_DTYPE: "int8"}) == {Tag.KERNEL_KIND: "int8", Tag.KERNEL_DTYPE: "int8"}
    new = {Tag.KERNEL_DTYPE: "int8", Tag.KERNEL_KIND: "hybrid"}
    assert canonical_tags(new) == new


def test_float32_has_one_name() -> None:
    assert canonical_quant_mode("none") == "float32" == canonical_quant_mode("float32")
    assert QuantMode("none") is QuantMode.float32 is QuantMode["none"]
    assert QuantMode.none.value == "float32"


def test_a_run_logged_before_latency_us_reads_its_mean_as_latency_us() -> None:
    assert canonical_metrics({Metric.LATENCY_MEAN_US: 5.0}) == {Metric.LATENCY_MEAN_US: 5.0, Metric.LATENCY_US: 5.0}
    assert canonical_metrics({Metric.LATENCY_MEAN_US: 5.0, Metric.LATENCY_US: 6.0})[Metric.LATENCY_US] == 6.0
