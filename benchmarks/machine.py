"""What a benchmark's timings depend on, printed with every result.

Why: a ratio measured on a shared 2-core VM and one measured on a quiet workstation are not
the same claim; the README's numbers are only meaningful next to the machine and the load.
Versions come from package metadata, so reading them does not import TensorFlow.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any


def _version(*distributions: str) -> str:
    """The installed version of the first distribution found (TF ships under several names)."""
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform reports."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def nproc() -> int:
    """CPUs this process may run on (what `nproc` prints), not the host's total."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average_1min() -> float:
    """The 1-minute load average: a busy shared machine shows up here, and in the timings."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def machine_info() -> dict[str, Any]:
    return {
        "nproc": nproc(),
        "cpu_model": cpu_model(),
        "load_average_1min": load_average_1min(),
        "python": platform.python_version(),
        "tensorflow": _version("tensorflow", "tensorflow-cpu", "tensorflow_cpu"),
        "keras": _version("keras"),
    }
