"""Deploy a model to the configured device and measure it through the host agent.

device.kind=virtual starts the virtual board (a separate process on a pseudo-terminal,
real TFLM kernels, estimated clock); device.kind=serial builds and flashes the firmware with
arduino-cli and talks to the real board. Both are then measured by the same agent code, so
the figures differ only in where their timings come from: `latency_source` says which.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np
from filelock import FileLock
from omegaconf import DictConfig

from agent.client import write_transcript
from agent.session import Measurement, MeasurementError, measure_board
from tinyexp.config import DeviceKind, to_container
from tinyexp.data import Dataset
from tinyexp.evaluate import HostModel
from tinyexp.tflite_inspect import ModelStats
from tinyexp.tracking import RunRecord

FIRMWARE_DIR = Path(__file__).resolve().parents[1] / "firmware" / "tinyexp_firmware"
VERSIONS_FILE = FIRMWARE_DIR.parent / "versions.json"
LOCK_DIR = Path(tempfile.gettempdir()) / "tinyexp-port-locks"


@contextlib.contextmanager
def _virtual_port(cfg: DictConfig, model_path: Path) -> Iterator[str]:
    from agent.virtual_board import VirtualBoard

    with VirtualBoard.start(model_path, to_container(cfg.board)) as board:
        yield board.port


def port_lock(port: str) -> FileLock:
    """A lock file per serial port, so parallel jobs never talk to one board at once."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", port).strip("_") or "port"
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    return FileLock(str(LOCK_DIR / f"{name}.lock"))


def check_device_ready(cfg: DictConfig) -> dict[str, str]:
    """Before training: for a real board, arduino-cli, the pinned core and library, and a port.

    Returns provenance tags (toolchain versions, port). The virtual board needs nothing.
    """
    if DeviceKind(cfg.device.kind) is DeviceKind.virtual:
        return {}
    from tinyexp.deploy import check_toolchain, find_port

    toolchain = check_toolchain(cfg.board.fqbn, VERSIONS_FILE, cli=cfg.device.arduino_cli)
    port = find_port(int(cfg.board.usb_vid), int(cfg.board.usb_pid), cfg.device.port)
    return {**toolchain.tags(), "device.port": port}


@contextlib.contextmanager
def _serial_port(cfg: DictConfig, model: bytes, workdir: Path, record: RunRecord) -> Iterator[str]:
    from tinyexp.deploy import build_and_upload, find_port, prepare_sketch
    from tinyexp.package import to_c_array

    port = find_port(int(cfg.board.usb_vid), int(cfg.board.usb_pid), cfg.device.port)
    files = to_c_array(model, f"board {cfg.board.name}").files()
    sketch = prepare_sketch(FIRMWARE_DIR, files, workdir / "sketch")
    with port_lock(port):
        build = build_and_upload(sketch, cfg.board.fqbn, port, workdir / "build", cli=cfg.device.arduino_cli)
        record.metric("flash_bytes", build.flash_bytes)
        record.metric("ram_bytes", build.ram_bytes)
        yield build.upload_port or port


def _record_estimate_provenance(record: RunRecord, stats: ModelStats, board: dict) -> None:
    """Say where the virtual board's latency figure comes from and how good it is known to be."""
    from tinyexp.latency import estimate_latency

    estimate = estimate_latency(stats, board)
    record.tags["latency_estimate_calibration"] = estimate.calibration
    record.tags["latency_estimate_provenance"] = estimate.provenance[:5000]
    record.metric("latency_estimate_loo_max_error_pct", estimate.loo_max_abs_error_pct)


def _record_measurement(record: RunRecord, m: Measurement, stats: ModelStats, board: dict) -> None:
    clock_hz = int(board["clock_hz"])
    s = m.stats
    for key in ("mean", "std", "min", "median", "p95", "max"):
        record.metric(f"latency_{key}_us", s.get(f"{key}_us"))
    mean_us = s.get("mean_us")
    cycles = s.get("mean_cycles")
    if cycles is not None and cycles < 0:
        cycles = None
    record.metric("latency_mean_cycles", cycles)
    if mean_us and stats.macs:
        record.metric("macs_per_second", stats.macs / (mean_us * 1e-6))
        record.metric("cycles_per_mac", (cycles if cycles is not None else mean_us * clock_hz / 1e6) / stats.macs)
    record.metric("arena_used_bytes", float(m.info.get("arena_used_bytes", "nan")))
    record.tags["latency_source"] = m.identity.get("latency_source", "unknown")
    if record.tags["latency_source"] == "estimate":
        _record_estimate_provenance(record, stats, board)
    record.tags["device_timer"] = m.identity.get("timer", "unknown")
    for key in ("fw", "tflm", "compiler", "board", "clock_hz"):
        if key in m.identity:
            record.tags[f"device.{key}"] = m.identity[key]


def measure(cfg: DictConfig, model: bytes, stats: ModelStats, host: HostModel, data: Dataset,
            record: RunRecord, workdir: Path) -> str:
    """Deploy, measure, compare outputs with the host's; return a one-line latency summary."""
    model_path = workdir / "deployed.tflite"
    model_path.write_bytes(model)
    samples = data.test.x[: cfg.device.parity_samples]
    raw_inputs = np.stack([host.input_codec.encode(s) for s in samples])
    dev = cfg.device
    if DeviceKind(dev.kind) is DeviceKind.virtual:
        port_cm: contextlib.AbstractContextManager[str] = _virtual_port(cfg, model_path)
    else:
        port_cm = _serial_port(cfg, model, workdir, record)
    transcript = workdir / "serial_transcript.txt"
    try:
        with port_cm as port:
            m = measure_board(port, model, raw_inputs, warmup=dev.warmup, invokes=dev.invokes, baud=dev.baud,
                              timeout_s=dev.timeout_s, retries=dev.retries)
    except MeasurementError as exc:  # keep what the board said up to the failure
        write_transcript(transcript, exc.transcript)
        record.artifacts.append(transcript)
        raise
    write_transcript(transcript, m.transcript)
    timings = workdir / "per_invoke_timings.csv"
    timings.write_text("invoke,latency_us,cycles\n" + "".join(
        f"{i},{us},{cyc}\n" for i, (us, cyc) in enumerate(zip(m.per_invoke_us, m.per_invoke_cycles))))
    record.artifacts.extend([transcript, timings])
    _record_measurement(record, m, stats, to_container(cfg.board))
    device_out = np.stack([host.output_codec.decode(row).reshape(-1) for row in m.outputs])
    host_out = host.predict(samples)
    record.metric("parity_max_abs_error", float(np.max(np.abs(device_out - host_out))))
    source = record.tags["latency_source"]
    return f"{m.stats.get('mean_us', float('nan')):.1f} us mean ({source})"

