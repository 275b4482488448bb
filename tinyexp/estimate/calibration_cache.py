"""The shipped calibration, fitted once per tinyexp version and kept in the cache folder.

Why: fitting every published source (and its leave-one-out residuals, which give its
interval) took about a second of every job's wall time, SciPy's import included, for a
result that only changes when tinyexp's code or reference data change. So the fitted
`Calibration` is stored in `<cache>/estimator/<fingerprint>.pickle`, where the fingerprint is
the SHA-256 of every module and reference file of the package, the board profiles (a
same-board lender reads its board's kernels) and the versions of Python, NumPy and SciPy:
any change to them makes a new file. Each file carries its SHA-256 beside it; a file that
fails it is refitted, never read.

A pickle runs code when loaded, so it is only read from the user's own cache folder (the
training cache's, $TINYEXP_CACHE_DIR), whose trust is that of the installed package and its
`__pycache__`: whoever can write one can write the other.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import pickle
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tinyexp.core.checked_file import read_checked, write_checked
from tinyexp.core.resources import conf_dir, package_dir
from tinyexp.estimate.calibration import Calibration, calibration_ops
from tinyexp.estimate.calibration_rows import published_rows
from tinyexp.model.train import cache_dir

FOLDER = "estimator"


def _fingerprint_files() -> list[Path]:
    package = package_dir()
    files = [p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts
             and (p.suffix == ".py" or p.parent.name == "reference_data")]
    return sorted(files) + sorted((conf_dir() / "board").glob("*.yaml"))


def fingerprint() -> str:
    """What the shipped calibration's fit depends on, as one digest."""
    digest = hashlib.sha256()
    versions = [platform.python_version(), np.__version__, importlib.metadata.version("scipy")]
    digest.update(" ".join(versions).encode())
    for path in _fingerprint_files():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def _path() -> Path:
    return cache_dir() / FOLDER / f"{fingerprint()}.pickle"


def _store(calibration: Calibration) -> None:
    """Write it for the next job; a cache folder that cannot be written costs that job the
    refit, never this one."""
    try:
        write_checked(_path(), pickle.dumps(calibration, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError:
        pass


def stored_calibration(build: Callable[[], Calibration]) -> Calibration:
    """The calibration stored for this tinyexp, else `build()`'s, stored for the next job."""
    data = read_checked(_path())
    found = pickle.loads(data) if data is not None else None  # noqa: S301 - the user's own cache (module docstring)
    if isinstance(found, Calibration):
        return found
    calibration = build()
    _store(calibration)
    return calibration


@dataclass
class _Shipped:
    """This process's shipped calibration, and the sources fitted in its stored file."""

    calibration: Calibration | None = None
    stored_sources: frozenset[str] = frozenset()


_SHIPPED = _Shipped()


def shipped_calibration() -> Calibration:
    """The published sources' calibration (tinyexp/reference_data), read from the cache
    folder when a job of this tinyexp stored it."""
    if _SHIPPED.calibration is None:
        _SHIPPED.calibration = stored_calibration(lambda: Calibration(published_rows(), calibration_ops))
        _SHIPPED.stored_sources = _SHIPPED.calibration.fitted_sources()
    return _SHIPPED.calibration


def keep_fitted(calibration: Calibration) -> None:
    """Store the shipped calibration again when this process fitted a source its file did
    not hold (each source is fitted on first use: fitting all forty took a second, and a job
    prices one). A user's calibration (tinyexp calibrate) is not stored."""
    if calibration is not _SHIPPED.calibration:
        return
    fitted = calibration.fitted_sources()
    if fitted - _SHIPPED.stored_sources:
        _store(calibration)
        _SHIPPED.stored_sources = fitted
