"""What produced a run: library versions, Python, the project's git commit.

Recorded as MLflow tags on every run so a figure can always be traced to the software that
made it (the study recorded none of this).
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from tinyexp.core.resources import checkout_root

_PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "tflite-micro", "mlflow", "hydra-core", "numpy", "pyserial")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def git_commit(root: Path | None = None) -> str | None:
    """The commit of the checkout tinyexp runs from, "-dirty" if files changed; None if unknown
    (an installed wheel has no commit of its own)."""
    root = root or checkout_root()
    if root is None:
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def provenance_tags() -> dict[str, str]:
    """Tags naming the versions of everything that shaped the numbers."""
    tags = {"python_version": platform.python_version(), "platform": platform.platform()}
    for package in _PACKAGES:
        version = _version(package)
        if version is not None:
            tags[f"version.{package}"] = version
    commit = git_commit()
    if commit is not None:
        tags["git_commit"] = commit
    return tags
