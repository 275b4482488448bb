"""Energy per inference: the estimate (latency x declared power, its interval), the recorded meter
streams, and what a run records.

The PPK2 and Joulescope streams here are SYNTHETIC recordings (tests/helpers/power_recordings.py),
written in the formats the readers parse with a known energy; no meter exists on this machine and
none of them is a capture from a device.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tinyexp.core.config import BoardConfig, DeviceConfig

from tests.helpers.power_recordings import Scenario, write_joulescope_recording, write_ppk2_recording
from tinyexp.core.boards import load_board
from tinyexp.core.errors import ConfigError, DeviceError
from tinyexp.core.names import Metric, Tag
from tinyexp.device.power_joulescope import read_joulescope_recording
from tinyexp.device.power_monitor import PowerMonitor, load_power_monitor
from tinyexp.device.power_ppk2 import read_ppk2_recording
from tinyexp.device.power_trace import PowerTrace, energy_per_inference, pulses
from tinyexp.estimate.energy import board_power, estimate_energy
from tinyexp.pipeline import recorder
from tinyexp.tracking.store import RunRecord

PPK2 = Scenario(sampling_hz=100_000, voltage_v=3.3, active_a=6.3e-3, idle_a=0.4e-3, invoke_samples=237,
                gap_samples=50, invokes=100, channel=2, disturbed_window=3)
JOULESCOPE = Scenario(sampling_hz=2_000_000, voltage_v=3.3, active_a=13.2e-3, idle_a=1.0e-3, invoke_samples=1001,
                      gap_samples=300, invokes=50, channel=0, disturbed_window=0)


def test_a_recorded_ppk2_stream_gives_its_known_energy_within_one_percent(tmp_path: Path) -> None:
    trace = read_ppk2_recording(write_ppk2_recording(tmp_path / "ppk2.csv", PPK2), PPK2.channel)
    energy = energy_per_inference(trace, PPK2.invokes, PPK2.windows)
    assert energy.uj == pytest.approx(PPK2.expected_uj, rel=0.01)
    assert max(energy.window_uj) > 1.2 * PPK2.expected_uj  # the disturbed window is there, the median ignores it


def test_a_recorded_joulescope_stream_gives_its_known_energy_within_one_percent(tmp_path: Path) -> None:
    trace = read_joulescope_recording(write_joulescope_recording(tmp_path / "js.npz", JOULESCOPE), 0)
    energy = energy_per_inference(trace, JOULESCOPE.invokes, JOULESCOPE.windows)
    assert energy.uj == pytest.approx(JOULESCOPE.expected_uj, rel=0.01)


def test_the_idle_current_between_invokes_is_not_counted(tmp_path: Path) -> None:
    trace = read_ppk2_recording(write_ppk2_recording(tmp_path / "ppk2.csv", PPK2), PPK2.channel)
    whole_capture_uj = float(np.sum(trace.current_a) * trace.voltage_v / trace.sampling_hz * 1e6) / PPK2.invokes
    assert whole_capture_uj > 1.05 * PPK2.expected_uj  # what an ungated reading would claim


def test_pulses_cut_by_the_capture_are_left_out() -> None:
    assert pulses(np.array([1, 1, 0, 1, 1, 0, 0, 1, 0, 1], bool)) == [(3, 5), (7, 8)]


def test_a_pulse_count_other_than_the_timed_invokes_is_one_line_naming_the_input(tmp_path: Path) -> None:
    trace = read_ppk2_recording(write_ppk2_recording(tmp_path / "ppk2.csv", PPK2), channel=0)  # wrong input
    with pytest.raises(DeviceError, match=r"ppk2 D0: saw 0 inference pulses, expected 100") as caught:
        energy_per_inference(trace, PPK2.invokes, PPK2.windows)
    assert "\n" not in str(caught.value)


def test_a_file_that_is_not_a_recording_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("current_ua,digital\n1,0\n")
    with pytest.raises(DeviceError, match="not a recorded PPK2 stream"):
        read_ppk2_recording(bad, 0)
    with pytest.raises(DeviceError, match="not a recorded Joulescope stream"):
        read_joulescope_recording(bad, 0)


class _RecordedMonitor(PowerMonitor):
    """A reader that replays a recorded stream: the interface's start/measure/stop flow without a meter."""

    def __init__(self, path: Path) -> None:
        super().__init__(DeviceConfig(power_trigger_channel=PPK2.channel, power_windows=5), BoardConfig(supply_voltage_v=3.3))
        self.path, self.started = path, False

    def check_package(self) -> None:
        pass

    def start(self) -> None:
        self.started = True

    def stop(self) -> PowerTrace:
        return read_ppk2_recording(self.path, self.channel)


def test_a_monitor_reads_around_the_session_and_gives_the_session_result(tmp_path: Path) -> None:
    monitor = _RecordedMonitor(write_ppk2_recording(tmp_path / "ppk2.csv", PPK2))
    result, energy = monitor.measure(lambda: "session", PPK2.invokes)
    assert monitor.started and result == "session"
    assert energy.uj == pytest.approx(PPK2.expected_uj, rel=0.01)


@pytest.mark.parametrize("meter", ["ppk2", "joulescope"])
def test_a_missing_meter_package_is_one_line_naming_the_extra(meter: str) -> None:
    with pytest.raises(ConfigError, match=r"pip install 'tinyexp\[power\]'"):
        load_power_monitor(DeviceConfig(power_monitor=meter), load_board("nano33ble"), estimated_clock=False)


def test_a_meter_on_the_virtual_board_is_refused() -> None:
    with pytest.raises(ConfigError, match="virtual board draws no current"):
        load_power_monitor(DeviceConfig(power_monitor="ppk2"), load_board("nano33ble"), estimated_clock=True)
    assert load_power_monitor(DeviceConfig(power_monitor="none"), load_board("nano33ble"), estimated_clock=True) is None


@pytest.mark.parametrize("name", ["nano33ble", "nucleo_l4r5zi"])
def test_every_shipped_board_declares_its_power_and_source(name: str) -> None:
    power = board_power(load_board(name))
    assert power is not None
    assert "datasheet" in power.source.lower() or "specification" in power.source.lower()
    assert power.current_low_ma <= power.active_current_ma <= power.current_high_ma


def test_the_estimate_is_latency_times_declared_power_with_the_bounds_multiplied() -> None:
    power = board_power(load_board("nano33ble"))
    energy = estimate_energy(power, 1000.0, 800.0, 1500.0)
    assert energy.source == "estimate"
    assert energy.uj == pytest.approx(3.3 * 6.3 * 1000.0 / 1000)  # V x mA x us / 1000 = uJ
    assert energy.low_uj == pytest.approx(3.3 * 3.3 * 800.0 / 1000)
    assert energy.high_uj == pytest.approx(3.3 * 6.3 * 1500.0 / 1000)


def _measurement(latency_source: str, mean_us: float | None) -> SimpleNamespace:
    return SimpleNamespace(latency_source=latency_source, stats={"mean_us": mean_us} if mean_us else {})


def test_a_measured_latency_without_a_meter_is_an_estimate_that_says_so() -> None:
    record = RunRecord()
    recorder.record_energy(record, load_board("nano33ble"), _measurement("measured", 2000.0), None, None)
    assert record.tags[Tag.ENERGY_SOURCE] == "estimate"
    assert record.tags[Tag.ENERGY_BASIS].startswith("measured latency x declared power")
    assert record.metrics[Metric.ENERGY_PER_INFERENCE_UJ] == pytest.approx(3.3 * 6.3 * 2.0)
    assert record.metrics[Metric.ENERGY_PER_INFERENCE_LOW_UJ] < record.metrics[Metric.ENERGY_PER_INFERENCE_UJ]


def test_a_run_without_energy_says_why() -> None:
    undeclared, not_deployed = RunRecord(), RunRecord()
    board = replace(load_board("nano33ble"), supply_voltage_v=None, active_current_ma=None,
                    active_current_low_ma=None, active_current_high_ma=None)
    recorder.record_energy(undeclared, board, _measurement("measured", 2000.0), None, None)
    recorder.record_energy(not_deployed, load_board("nano33ble"), None, None, None)
    assert undeclared.tags[Tag.ENERGY_SOURCE].startswith("none: board nano33ble declares no")
    assert not_deployed.tags[Tag.ENERGY_SOURCE] == "none: not deployed: no inference ran"
    assert Metric.ENERGY_PER_INFERENCE_UJ not in undeclared.metrics | not_deployed.metrics


def _row(model: str, variant: str, latency: float, energy: float, source: str, accuracy: float) -> dict:
    row = {"model": model, "variant": variant, "run_id": model + variant, "latency_us": latency,
           "latency_source": source, "test_accuracy": accuracy, "energy_per_inference_uj": energy,
           "energy_source": "estimate" if source == "estimate" else "measured"}
    if source == "estimate":
        row.update(latency_estimate_low_us=0.8 * latency, latency_estimate_high_us=1.3 * latency,
                   energy_per_inference_low_uj=0.4 * energy, energy_per_inference_high_uj=1.3 * energy)
    return row


ENERGY_ROWS = [_row("cnn", "float32", 9000.0, 190.0, "estimate", 0.97), _row("cnn", "int8", 3000.0, 60.0, "estimate", 0.96),
               _row("dense", "float32", 800.0, 17.0, "measured", 0.90), _row("dense", "int8", 500.0, 10.0, "estimate", 0.89)]


def test_the_energy_figure_draws_both_panels_with_units_and_estimate_intervals(tmp_path: Path) -> None:
    from tinyexp.report import figure_parts
    from tinyexp.report.energy_figure import build_energy_figure, energy_figure

    fig = build_energy_figure(ENERGY_ROWS)
    accuracy_ax, latency_ax = fig.axes[:2]
    assert figure_parts.panel_notes(fig) == []
    assert accuracy_ax.get_xlabel() == "energy per inference (uJ, some estimated)"
    assert latency_ax.get_xlabel() == "latency (ms)" and latency_ax.get_ylabel().startswith("energy per inference (uJ")
    assert len(accuracy_ax.containers) == 3  # an error bar on each of the three estimates, none on the measurement
    assert energy_figure(ENERGY_ROWS, tmp_path / "energy.png").read_bytes().startswith(b"\x89PNG")


def test_the_energy_figure_without_energy_says_why_instead_of_empty_axes() -> None:
    from tinyexp.report import figure_parts
    from tinyexp.report.energy_figure import build_energy_figure

    rows = [{**r, "energy_per_inference_uj": None} for r in ENERGY_ROWS]
    assert all(note.startswith("no run has an energy figure") for note in figure_parts.panel_notes(build_energy_figure(rows)))


def test_a_meter_changes_the_jobs_hash_and_the_declared_power_does_not() -> None:
    from tests.helpers import compose_config as compose
    from tinyexp.tracking import sweep

    base = sweep.config_hash(compose([]))
    assert sweep.config_hash(compose(["board.active_current_ma=5.0"])) == base  # how energy is derived, not the job
    assert sweep.config_hash(compose(["device.power_monitor=ppk2"])) != base
