"""Deploy a model to the configured device and measure it through the host agent.

device.kind=virtual starts the virtual board (a separate process on a pseudo-terminal,
real TFLM kernels, estimated clock); device.kind=serial builds and flashes the firmware with
arduino-cli and talks to the real board. Both are then measured by the same agent code, so
the figures differ only in where their timings come from: `latency_source` says which.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import numpy as np
from omegaconf import DictConfig

from agent.session import Measurement, measure_board
from tinyexp.config import DeviceKind, to_container
from tinyexp.data import Dataset
from tinyexp.evaluate import HostModel
from tinyexp.tflite_inspect import ModelStats
from tinyexp.tracking import RunRecord

FIRMWARE_DIR = Path(__file__).resolve().parents[1] / "firmware" / "tinyexp_firmware"


@contextlib.contextmanager
def _virtual_port(cfg: DictConfig, model_path: Path) -> Iterator[str]:
    from agent.virtual_board import VirtualBoard

    with VirtualBoard.start(model_path, to_container(cfg.board)) as board:
        yield board.port


@contextlib.contextmanager
def _serial_port(cfg: DictConfig, model: bytes, workdir: Path, record: RunRecord) -> Iterator[str]:
    from tinyexp.deploy.arduino_cli import build_and_upload
    from tinyexp.deploy.sketch import prepare_sketch
    from tinyexp.deploy.usb import find_port
    from tinyexp.package import to_c_array

    port = cfg.device.port or find_port(cfg.board.usb_vid, cfg.board.usb_pid)
    files = to_c_array(model, f"board {cfg.board.name}").files()
    sketch = prepare_sketch(FIRMWARE_DIR, files, workdir / "sketch")
    build = build_and_upload(sketch, cfg.board.fqbn, port, workdir / "build")
    record.metric("flash_bytes", build.flash_bytes)
    record.metric("ram_bytes", build.ram_bytes)
    yield port


def _record_measurement(record: RunRecord, m: Measurement, stats: ModelStats, clock_hz: int) -> None:
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
    with port_cm as port:
        m = measure_board(port, model, raw_inputs, warmup=dev.warmup, invokes=dev.invokes, baud=dev.baud,
                          timeout_s=dev.timeout_s, retries=dev.retries)
    transcript = workdir / "serial_transcript.txt"
    transcript.write_text("\n".join(m.transcript) + "\n")
    record.artifacts.append(transcript)
    _record_measurement(record, m, stats, int(cfg.board.clock_hz))
    device_out = np.stack([host.output_codec.decode(row).reshape(-1) for row in m.outputs])
    host_out = host.predict(samples)
    record.metric("parity_max_abs_error", float(np.max(np.abs(device_out - host_out))))
    source = record.tags["latency_source"]
    return f"{m.stats.get('mean_us', float('nan')):.1f} us mean ({source})"

