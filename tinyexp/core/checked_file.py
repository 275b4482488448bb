"""A cache file written whole or not at all, read back only if it is what was written.

Why: tinyexp's caches (converted models, the fitted estimator) are read by later jobs that
trust them instead of recomputing; a file cut short by a kill or a full disk, or damaged
later, must be recomputed, never used. Each file is written to a temporary name and renamed
into place, then its SHA-256 is written the same way beside it (`NAME.sha256`); a reader
takes the file only when the two agree.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def _checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_atomically(path: Path, data: bytes) -> None:
    """`data` at `path`, replacing any file there in one rename (never half-written)."""
    fd, staging = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def write_checked(path: Path, data: bytes) -> None:
    """`data` at `path` and its SHA-256 beside it, creating the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data)
    write_atomically(_checksum_path(path), hashlib.sha256(data).hexdigest().encode())


def read_checked(path: Path) -> bytes | None:
    """The file's bytes when they match the SHA-256 written beside them; None when either
    is missing or unreadable or they disagree."""
    try:
        data, recorded = path.read_bytes(), _checksum_path(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return data if hashlib.sha256(data).hexdigest() == recorded else None
