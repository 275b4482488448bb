"""Converted flatbuffers kept beside the trained model they came from.

Why: a warm job (its model already trained) spent most of its wall time importing TensorFlow
to load the Keras model and run the TFLite converter again, for a flatbuffer it had made
before. The converter is deterministic for a given model, calibration data and TF version,
and all three are fixed by the training cache entry (its key holds the dataset config, which
makes the calibration split, and the library versions). So each conversion is stored in
`<entry>/converted/`, named by the conversion's own settings, with its SHA-256: a warm job
reads it back without importing TensorFlow, and a file that fails its checksum is converted
again, never used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

from tinyexp.core.checked_file import read_checked, write_checked
from tinyexp.model import convert as convert_module

FOLDER = "converted"


@dataclass(frozen=True)
class Conversion:
    """Everything besides the trained model that decides the converted bytes."""

    mode: str
    per_channel: bool
    strip_strings: bool
    batch_one: bool

    def file_stem(self) -> str:
        """The settings and the converting module's own source: a change to how tinyexp
        converts makes new files instead of reading the old ones."""
        blob = json.dumps(asdict(self), sort_keys=True).encode() + _converter_source()
        return hashlib.sha256(blob).hexdigest()[:20]


@lru_cache(maxsize=1)
def _converter_source() -> bytes:
    return Path(convert_module.__file__).read_bytes()


def _path(entry: Path, conversion: Conversion) -> Path:
    return entry / FOLDER / f"{conversion.file_stem()}.tflite"


def converted(entry: Path | None, conversion: Conversion, convert: Callable[[], bytes]) -> bytes:
    """The flatbuffer from the cache entry's store, else `convert()`'s, then stored there.
    With no entry (a model that was not trained here) it always converts."""
    if entry is None:
        return convert()
    path = _path(entry, conversion)
    data = read_checked(path)
    if data is None:
        data = convert()
        write_checked(path, data)
    return data
